//! The pooled Bolt client the store runs on: startup wait, explicit transactions with bounded
//! retries of transient failures, per-statement timeouts, and error mapping.
// Public for other crates' own records (the task store) and the integration tests.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use neo4rs::{ConfigBuilder, Graph, Row, Txn};
use serde_json::{Map, Value};
use tokio::time::{Instant, sleep, timeout};

use super::config::BoltConfig;
use super::value::to_bolt;
use crate::error::{Error, ErrorKind, Result};

/// The future a [`BoltClient::transaction`] closure returns.
pub type BoltFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 't>>;

/// A row of a result: column name to value.
type JsonRow = Map<String, Value>;

/// Longest pause between two connection attempts during the startup wait.
const MAX_STARTUP_PAUSE: Duration = Duration::from_secs(2);
/// Longest one connection attempt may take during the startup wait.
const MAX_PROBE_TIME: Duration = Duration::from_secs(10);
/// Rows pulled per PULL request.
const FETCH_SIZE: usize = 10_000;
/// Longest a rollback after a failure may take before the connection is given up.
const ROLLBACK_TIME: Duration = Duration::from_secs(5);

/// A pooled connection to one Bolt server and database.
///
/// Every statement runs inside an explicit transaction; [`BoltClient::transaction`] retries
/// the whole transaction when it fails with a transient error (`Neo.TransientError.*`, such as
/// ArcadeDB's `DeadlockDetected` for concurrent writers, or a connection lost before the
/// commit), at most `retry_limit` times with jittered exponential backoff.
pub struct BoltClient {
    graph: Graph,
    endpoint: String,
    username: String,
    database: Option<String>,
    tls: bool,
    query_timeout: Duration,
    retry_limit: u32,
    /// Set when a transaction got no answer at its start (a frozen server, or a network that
    /// drops packets without closing connections), cleared by the next start that is answered.
    /// While set, starts wait [`PROBE_TIME`] instead of the query timeout, so a request making
    /// several store calls fails within about one timeout rather than one per call.
    silent: AtomicBool,
    /// Statements sent since connect (the startup checks aside).
    statements: Arc<AtomicU64>,
}

/// How long a transaction start waits for an answer while the server is known not to answer.
const PROBE_TIME: Duration = Duration::from_millis(500);

/// An open transaction, handed to the closure of [`BoltClient::transaction`].
pub struct BoltTransaction {
    txn: Txn,
    endpoint: String,
    query_timeout: Duration,
    statements: Arc<AtomicU64>,
}

/// The retries of one transaction or read so far.
struct Retries {
    started: Instant,
    conflicts: u32,
    transient: u32,
}

impl Retries {
    fn new() -> Self {
        Retries {
            started: Instant::now(),
            conflicts: 0,
            transient: 0,
        }
    }
}

/// How a driver error is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// The server cannot be reached or dropped the connection.
    Unavailable,
    /// The server did not answer within the query timeout before any work began; unavailable
    /// too, but not retried.
    NoAnswer,
    /// `Neo.TransientError.*`: the same transaction may succeed when run again.
    Transient,
    /// `Neo.TransientError.Transaction.DeadlockDetected`: the transaction collided with a
    /// concurrent one (another server writing the same records); retried until the query
    /// timeout rather than `retry_limit` times, since contention is not failure.
    Conflict,
    /// Wrong credentials or missing rights.
    Auth,
    /// The TLS handshake failed: the server certificate was refused, or client and server do
    /// not agree on TLS. Retrying cannot help.
    Tls,
    /// The named database does not exist (also while a server is still creating it).
    NoDatabase,
    /// A uniqueness or other schema constraint was violated.
    Constraint,
    /// The statement or its parameters were refused.
    Statement,
    /// Anything else.
    Other,
}

/// The source of this crate's [`Error`]s raised here, telling the retry loop what may be retried.
#[derive(Debug)]
struct BoltFailure {
    failure: Failure,
    message: String,
}

impl fmt::Display for BoltFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BoltFailure {}

impl BoltClient {
    /// Connects to the server of `config`, retrying with backoff for `config.startup_wait`
    /// while it is unreachable or still starting; then fails with an error naming the address.
    /// Wrong credentials, a refused TLS handshake (such as a server certificate that does not
    /// verify) and invalid settings fail at once.
    ///
    /// With TLS on, installs rustls's `ring` provider as the process-wide default when the
    /// process has not chosen one: the driver needs one, and rustls has none by itself in a
    /// process that links both of its providers.
    pub async fn connect(config: &BoltConfig) -> Result<Self> {
        let endpoint = config.endpoint();
        let driver_config = driver_config(config)?;
        if config.tls.enabled {
            ensure_crypto_provider();
        }
        let graph = Graph::connect(driver_config).map_err(|err| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot connect to the bolt database at {endpoint}: {err}"),
            )
        })?;
        let client = BoltClient {
            graph,
            endpoint,
            username: config.username.clone(),
            database: config.database.clone(),
            tls: config.tls.enabled,
            query_timeout: config.query_timeout,
            retry_limit: config.retry_limit,
            silent: AtomicBool::new(false),
            statements: Arc::default(),
        };
        client.wait_until_ready(config.startup_wait).await?;
        Ok(client)
    }

    /// `address:port` of the server.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many statements this client has sent since it connected (each `RUN`, retries
    /// included; the connection checks of the startup wait aside): what a store call costs in
    /// statements, for tests and monitoring.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Runs one statement in its own transaction (retried like [`BoltClient::transaction`])
    /// and returns its rows.
    pub async fn run(&self, statement: &str, params: Map<String, Value>) -> Result<Vec<JsonRow>> {
        let statement = statement.to_owned();
        self.transaction(move |tx| {
            let statement = statement.clone();
            let params = params.clone();
            Box::pin(async move { tx.run(&statement, params).await })
        })
        .await
    }

    /// Runs one statement that only reads in an auto-commit transaction and returns its rows.
    /// Its RUN and first PULL go out together: one round trip when the rows fit one fetch
    /// (10,000), against the four of [`BoltClient::run`] (BEGIN, RUN, PULL, COMMIT). Retried
    /// on transient failures and lost connections like [`BoltClient::transaction`], which is
    /// why the statement must not write.
    ///
    /// While the server is known not to answer (an earlier call got no answer), the statement
    /// runs through [`BoltClient::run`] instead, whose transaction start gives up after a short
    /// probe; a read that gets no answer within the query timeout fails as unavailable and
    /// marks the server so.
    pub async fn read(&self, statement: &str, params: Map<String, Value>) -> Result<Vec<JsonRow>> {
        if self.silent.load(Ordering::Relaxed) {
            return self.run(statement, params).await;
        }
        let mut retries = Retries::new();
        loop {
            match self.read_once(statement, params.clone()).await {
                Ok(rows) => return Ok(rows),
                Err(err) => match self.pause_before_retry(&mut retries, &err, "read") {
                    Some(pause) => sleep(pause).await,
                    None => return Err(err),
                },
            }
        }
    }

    /// One attempt of [`BoltClient::read`].
    async fn read_once(&self, statement: &str, params: Map<String, Value>) -> Result<Vec<JsonRow>> {
        let query = bolt_query(statement, params)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let rows = timeout(self.query_timeout, async {
            let mut stream = self.graph.execute(query).await?;
            let mut rows = Vec::new();
            while let Some(row) = stream.next().await? {
                rows.push(row);
            }
            Ok::<_, neo4rs::Error>(rows)
        })
        .await
        .map_err(|_| {
            self.silent.store(true, Ordering::Relaxed);
            self.no_answer("reading", self.query_timeout)
        })?
        .map_err(|err| self.error("reading", &err))?;
        trace_statement(started, rows.len(), statement);
        rows.into_iter().map(row_to_json).collect()
    }

    /// Runs `work` inside an explicit transaction and commits it when `work` succeeds; rolls it
    /// back when `work` fails.
    ///
    /// When `work` or the commit fails with a transient error, the transaction is rolled back
    /// and `work` runs again in a new one, at most `retry_limit` more times; `work` must
    /// therefore only act through the transaction. A connection lost during the commit is not
    /// retried (whether the server committed is unknown) and fails with an error saying so.
    pub async fn transaction<T, F>(&self, mut work: F) -> Result<T>
    where
        T: Send,
        F: for<'t> FnMut(&'t mut BoltTransaction) -> BoltFuture<'t, T> + Send,
    {
        let mut retries = Retries::new();
        loop {
            match self.attempt(&mut work).await {
                Ok(value) => return Ok(value),
                Err(err) => match self.pause_before_retry(&mut retries, &err, "transaction") {
                    Some(pause) => sleep(pause).await,
                    None => return Err(err),
                },
            }
        }
    }

    /// How long to wait before running again a `what` (a transaction or a read) that failed
    /// with `err`, or `None` when it is not to be retried: a conflict with a concurrent
    /// transaction is retried until the query timeout has passed since the first attempt, other
    /// transient failures at most `retry_limit` times.
    fn pause_before_retry(
        &self,
        retries: &mut Retries,
        err: &Error,
        what: &str,
    ) -> Option<Duration> {
        if failure_of(err) == Some(Failure::Conflict)
            && retries.started.elapsed() < self.query_timeout
        {
            retries.conflicts += 1;
            let pause = conflict_backoff(retries.conflicts);
            tracing::debug!(
                endpoint = %self.endpoint,
                conflicts = retries.conflicts,
                pause_ms = pause.as_millis() as u64,
                "retrying a bolt {what} that collided with a concurrent one: {err}"
            );
            return Some(pause);
        }
        if retries.transient < self.retry_limit && is_transient(err) {
            retries.transient += 1;
            let pause = backoff(retries.transient);
            tracing::debug!(
                endpoint = %self.endpoint,
                retry = retries.transient,
                pause_ms = pause.as_millis() as u64,
                "retrying a bolt {what} after a transient error: {err}"
            );
            return Some(pause);
        }
        None
    }

    /// One attempt: begin, run `work`, commit or roll back.
    async fn attempt<T, F>(&self, work: &mut F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut BoltTransaction) -> BoltFuture<'t, T>,
    {
        let wait = if self.silent.load(Ordering::Relaxed) {
            PROBE_TIME.min(self.query_timeout)
        } else {
            self.query_timeout
        };
        let txn = match timeout(wait, self.graph.start_txn()).await {
            Ok(Ok(txn)) => {
                self.silent.store(false, Ordering::Relaxed);
                txn
            }
            Ok(Err(err)) => return Err(self.error("starting a transaction", &err)),
            Err(_) => {
                self.silent.store(true, Ordering::Relaxed);
                return Err(self.no_answer("starting a transaction", wait));
            }
        };
        let mut tx = BoltTransaction {
            txn,
            endpoint: self.endpoint.clone(),
            query_timeout: self.query_timeout,
            statements: Arc::clone(&self.statements),
        };
        match work(&mut tx).await {
            Ok(value) => match timeout(self.query_timeout, tx.txn.commit()).await {
                Ok(Ok(())) => Ok(value),
                Ok(Err(err)) => match classify(&err) {
                    // The server answered the commit with a failure: nothing was written.
                    Failure::Transient
                    | Failure::Conflict
                    | Failure::Constraint
                    | Failure::Statement => Err(self.error("committing", &err)),
                    _ => Err(failure(
                        &self.endpoint,
                        Failure::Other,
                        format!(
                            "committing failed and it is unknown whether the transaction was applied: {err}"
                        ),
                    )),
                },
                Err(_) => Err(failure(
                    &self.endpoint,
                    Failure::Other,
                    format!(
                        "committing took longer than {:?}; it is unknown whether the transaction was applied",
                        self.query_timeout
                    ),
                )),
            },
            Err(err) => {
                // A failed statement already aborted the transaction on the server; the
                // rollback only returns the connection to a clean state.
                let _ = timeout(ROLLBACK_TIME, tx.txn.rollback()).await;
                Err(err)
            }
        }
    }

    /// Runs `RETURN 1` until it succeeds, the failure is not one of a starting server, or
    /// `startup_wait` has passed.
    async fn wait_until_ready(&self, startup_wait: Duration) -> Result<()> {
        let started = Instant::now();
        let deadline = started + startup_wait;
        let mut pause = Duration::from_millis(100);
        loop {
            let probe_time = deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(500), MAX_PROBE_TIME);
            let (failure_kind, detail) = match timeout(probe_time, self.probe()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(err)) => match classify(&err) {
                    Failure::Tls => return Err(self.error("connecting", &err)),
                    failure_kind => match closed_connection_hint(&err, self.tls) {
                        Some(hint) => (failure_kind, format!("{err} ({hint})")),
                        None => (failure_kind, err.to_string()),
                    },
                },
                Err(_) => (
                    Failure::Unavailable,
                    format!("no answer within {probe_time:?}"),
                ),
            };
            match failure_kind {
                Failure::Unavailable
                | Failure::Transient
                | Failure::Conflict
                | Failure::NoDatabase => {}
                Failure::Auth => return Err(self.auth_error(&detail)),
                _ => {
                    return Err(failure(
                        &self.endpoint,
                        failure_kind,
                        format!("the connection check failed: {detail}"),
                    ));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let what = if failure_kind == Failure::NoDatabase {
                    format!(
                        "database `{}` does not exist",
                        self.database.as_deref().unwrap_or("(default)")
                    )
                } else {
                    "it is unreachable".to_owned()
                };
                return Err(failure(
                    &self.endpoint,
                    Failure::Unavailable,
                    format!(
                        "did not become ready within {:?} ({what}): {detail}",
                        started.elapsed()
                    ),
                ));
            }
            tracing::debug!(endpoint = %self.endpoint, "waiting for the bolt database: {detail}");
            sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_STARTUP_PAUSE);
        }
    }

    async fn probe(&self) -> neo4rs::Result<()> {
        let mut txn = self.graph.start_txn().await?;
        txn.run(neo4rs::query("RETURN 1")).await?;
        txn.commit().await
    }

    fn error(&self, context: &str, err: &neo4rs::Error) -> Error {
        driver_error(&self.endpoint, &self.username, context, err)
    }

    /// The server gave no connection or no answer within the query timeout before any work
    /// began: unavailable (it hangs, or every pooled connection is busy), but not retried here,
    /// since each attempt would wait as long again.
    fn no_answer(&self, context: &str, waited: Duration) -> Error {
        failure(
            &self.endpoint,
            Failure::NoAnswer,
            format!("unavailable ({context}): no answer within {waited:?}"),
        )
    }

    fn auth_error(&self, detail: &str) -> Error {
        auth_error(&self.endpoint, &self.username, detail)
    }
}

impl fmt::Debug for BoltClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoltClient")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("database", &self.database)
            .field("tls", &self.tls)
            .field("query_timeout", &self.query_timeout)
            .field("retry_limit", &self.retry_limit)
            .finish_non_exhaustive()
    }
}

impl BoltTransaction {
    /// Runs a Cypher statement with parameters (`$name` in the text) and returns its rows,
    /// failing when it (rows included) takes longer than the query timeout.
    pub async fn run(
        &mut self,
        statement: &str,
        params: Map<String, Value>,
    ) -> Result<Vec<JsonRow>> {
        let query = bolt_query(statement, params)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let txn = &mut self.txn;
        let started = std::time::Instant::now();
        let rows = timeout(self.query_timeout, async move {
            let mut stream = txn.execute(query).await?;
            let mut rows = Vec::new();
            while let Some(row) = stream.next(txn.handle()).await? {
                rows.push(row);
            }
            Ok::<_, neo4rs::Error>(rows)
        })
        .await
        .map_err(|_| self.too_long())?
        .map_err(|err| driver_error(&self.endpoint, "", "running a statement", &err))?;
        trace_statement(started, rows.len(), statement);
        rows.into_iter().map(row_to_json).collect()
    }

    /// Runs a statement whose rows are not wanted (writes): its RUN and DISCARD are sent
    /// together, one round trip instead of the two of [`BoltTransaction::run`]. Failures
    /// (constraints, timeouts) are reported as there.
    pub async fn run_discarding(
        &mut self,
        statement: &str,
        params: Map<String, Value>,
    ) -> Result<()> {
        let query = bolt_query(statement, params)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        timeout(self.query_timeout, self.txn.run(query))
            .await
            .map_err(|_| self.too_long())?
            .map_err(|err| driver_error(&self.endpoint, "", "running a statement", &err))?;
        trace_statement(started, 0, statement);
        Ok(())
    }

    /// The error of a statement that outlasted the query timeout.
    fn too_long(&self) -> Error {
        failure(
            &self.endpoint,
            Failure::Other,
            format!("a statement took longer than {:?}", self.query_timeout),
        )
    }
}

/// A driver query of `statement` with `params`, refusing parameters Bolt cannot carry.
fn bolt_query(statement: &str, params: Map<String, Value>) -> Result<neo4rs::Query> {
    let mut query = neo4rs::query(statement);
    for (name, value) in params {
        let value = to_bolt(&name, value)?;
        query = query.param(&name, value);
    }
    Ok(query)
}

/// What a slow request spent its time on: each statement with its time and rows.
fn trace_statement(started: std::time::Instant, rows: usize, statement: &str) {
    tracing::trace!(
        elapsed_us = started.elapsed().as_micros() as u64,
        rows,
        statement = %statement.chars().take(120).collect::<String>(),
        "bolt statement"
    );
}

impl fmt::Debug for BoltTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoltTransaction")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// The driver's configuration, refusing TLS settings that cannot be honoured.
fn driver_config(config: &BoltConfig) -> Result<neo4rs::Config> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidInput, message);
    let tls = &config.tls;
    if !tls.enabled && (tls.ca_file.is_some() || tls.insecure) {
        return Err(invalid(
            "a TLS CA file or TLS without verification is configured but TLS is not enabled: enable TLS or remove them".to_owned(),
        ));
    }
    if tls.insecure && tls.ca_file.is_some() {
        return Err(invalid(
            "TLS without verification and a TLS CA file are both configured: choose one".to_owned(),
        ));
    }
    if config.pool_size == 0 {
        return Err(invalid("the bolt pool size must be at least 1".to_owned()));
    }
    if config.query_timeout.is_zero() {
        return Err(invalid(
            "the bolt query timeout must be positive".to_owned(),
        ));
    }
    // The scheme selects encryption; `+ssc` makes the driver skip verification.
    let scheme = match (tls.enabled, tls.insecure) {
        (false, _) => "bolt",
        (true, false) => "bolt+s",
        (true, true) => "bolt+ssc",
    };
    let mut builder = ConfigBuilder::default()
        .uri(format!("{scheme}://{}", config.endpoint()))
        .user(config.username.as_str())
        .password(config.password.as_str())
        .max_connections(config.pool_size)
        // Every statement's rows are read to the end at once: pulling them in the driver's
        // default batches of 200 cost a round trip per batch (five for a page of 1,000).
        .fetch_size(FETCH_SIZE)
        // Bounds connection set-up and every read from the socket; statements are bounded by
        // `query_timeout` above it.
        .connection_timeout(config.query_timeout);
    if let Some(database) = &config.database {
        builder = builder.db(database.as_str());
    }
    if let Some(ca_file) = &tls.ca_file {
        check_ca_file(ca_file)?;
        builder = builder.with_client_certificate(ca_file);
    }
    builder.build().map_err(|err| {
        invalid(format!(
            "invalid bolt settings for {}: {err}",
            config.endpoint()
        ))
    })
}

/// Makes sure rustls has a process-wide crypto provider, which the driver builds its TLS
/// configuration with. rustls picks one by itself only when exactly one of its providers is
/// linked in; a process that links both (`ring` through the driver, `aws-lc-rs` through an
/// HTTP client, as infrahub-server does with object_store) has none, and the driver panics on
/// its first TLS connection. Installs `ring`, the driver's own, unless the process chose one.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one meanwhile, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Refuses a CA file that cannot be read or holds no PEM certificate (the driver would ignore
/// what it cannot parse and then trust nothing).
fn check_ca_file(path: &Path) -> Result<()> {
    let text = std::fs::read(path).map_err(|err| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("cannot read the TLS CA file `{}`: {err}", path.display()),
        )
    })?;
    let marker = b"-----BEGIN CERTIFICATE-----";
    if !text.windows(marker.len()).any(|window| window == marker) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the TLS CA file `{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn classify(err: &neo4rs::Error) -> Failure {
    use neo4rs::Error as E;
    match err {
        E::IOError { detail } if is_tls_failure(detail) => Failure::Tls,
        E::IOError { .. }
        | E::ConnectionError
        | E::ConnectionTimedOut
        | E::ServerUnavailableError(_)
        | E::IncompleteBoltExchange => Failure::Unavailable,
        E::AuthenticationError(_) => Failure::Auth,
        E::Neo4j(error) => classify_code(error.code()),
        _ => Failure::Other,
    }
}

/// Whether an I/O error is rustls refusing the handshake or the peer's TLS messages: the TLS
/// stream reports those as `InvalidData` carrying the rustls error (the driver itself never
/// raises `InvalidData`).
fn is_tls_failure(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::InvalidData && error.get_ref().is_some()
}

/// What a failed TLS handshake during `context` means, after its `detail`.
fn tls_message(context: &str, detail: &str) -> String {
    let advice = if detail.contains("certificate") {
        "the server certificate must chain to the CA of the TLS CA file (to the system's roots \
         when none is given) and name the address connected to"
    } else {
        "check that the server serves TLS on this port"
    };
    format!("TLS handshake failed ({context}): {detail}: {advice}")
}

/// For a connection the server closed before answering, what a TLS mismatch would look like:
/// ArcadeDB and Neo4j close a plain connection to a port that requires TLS, and a TLS one to a
/// plain port. Only a hint: a server that is shutting down or over its connection limit closes
/// connections too.
fn closed_connection_hint(err: &neo4rs::Error, tls: bool) -> Option<&'static str> {
    let neo4rs::Error::IOError { detail } = err else {
        return None;
    };
    if detail.kind() != std::io::ErrorKind::UnexpectedEof {
        return None;
    }
    Some(if tls {
        "the server closed the connection: if it does not serve TLS on this port, disable TLS"
    } else {
        "the server closed the connection: if it requires TLS, enable TLS"
    })
}

fn classify_code(code: &str) -> Failure {
    if code.starts_with("Neo.TransientError.") {
        // Neo4j marks these two transient although retrying cannot help.
        return if code.ends_with(".Transaction.Terminated")
            || code.ends_with(".Transaction.LockClientStopped")
        {
            Failure::Other
        } else if code.ends_with(".Transaction.DeadlockDetected") {
            Failure::Conflict
        } else {
            Failure::Transient
        };
    }
    if code.starts_with("Neo.ClientError.Security.") {
        Failure::Auth
    } else if code == "Neo.ClientError.Database.DatabaseNotFound" {
        Failure::NoDatabase
    } else if code == "Neo.ClientError.Schema.ConstraintValidationFailed" {
        Failure::Constraint
    } else if code.starts_with("Neo.ClientError.Statement.") {
        Failure::Statement
    } else if code == "Neo.ClientError.Cluster.NotALeader"
        || code == "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"
    {
        // A cluster member changed role: another attempt reaches the new leader.
        Failure::Transient
    } else {
        Failure::Other
    }
}

/// This crate's error for a driver error.
fn driver_error(endpoint: &str, username: &str, context: &str, err: &neo4rs::Error) -> Error {
    let kind = classify(err);
    let detail = match err {
        neo4rs::Error::Neo4j(error) => format!("{}: {}", error.code(), error.message()),
        other => other.to_string(),
    };
    match kind {
        Failure::Unavailable | Failure::NoAnswer => {
            failure(endpoint, kind, format!("unavailable ({context}): {detail}"))
        }
        Failure::Transient => failure(
            endpoint,
            kind,
            format!("transient failure ({context}): {detail}"),
        ),
        Failure::Conflict => failure(
            endpoint,
            kind,
            format!("write conflict ({context}): {detail}"),
        ),
        Failure::Auth => auth_error(endpoint, username, &detail),
        Failure::Tls => {
            let detail = match err {
                neo4rs::Error::IOError { detail } => detail.to_string(),
                other => other.to_string(),
            };
            failure(endpoint, kind, tls_message(context, &detail))
        }
        Failure::NoDatabase => failure(endpoint, kind, format!("no such database: {detail}")),
        Failure::Constraint => Error::new(
            ErrorKind::AlreadyExists,
            format!("constraint violated on the bolt database at {endpoint}: {detail}"),
        ),
        Failure::Statement => Error::new(
            ErrorKind::InvalidInput,
            format!("the bolt database at {endpoint} refused a statement: {detail}"),
        ),
        Failure::Other => failure(endpoint, kind, format!("{context} failed: {detail}")),
    }
}

fn auth_error(endpoint: &str, username: &str, detail: &str) -> Error {
    let who = if username.is_empty() {
        String::new()
    } else {
        format!(" as `{username}`")
    };
    failure(
        endpoint,
        Failure::Auth,
        format!("authentication{who} failed: check the user name and password ({detail})"),
    )
}

/// A storage error, "bolt database at <endpoint>: <message>", carrying its [`Failure`] for the
/// retry loop.
fn failure(endpoint: &str, failure: Failure, message: String) -> Error {
    let unavailable = matches!(failure, Failure::Unavailable | Failure::NoAnswer);
    let error = Error::storage(
        format!("bolt database at {endpoint}"),
        BoltFailure { failure, message },
    );
    if unavailable {
        error.with_kind(ErrorKind::Unavailable)
    } else {
        error
    }
}

fn is_transient(err: &Error) -> bool {
    matches!(
        failure_of(err),
        Some(Failure::Transient | Failure::Conflict | Failure::Unavailable)
    )
}

/// The [`Failure`] an error raised here carries.
fn failure_of(err: &Error) -> Option<Failure> {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<BoltFailure>())
        .map(|source| source.failure)
}

/// Pause before conflict retry `conflict` (1-based): 2 ms doubling up to 200 ms, plus up to
/// as much again at random, so that colliding writers spread out.
fn conflict_backoff(conflict: u32) -> Duration {
    let base = Duration::from_millis(2)
        .saturating_mul(1 << conflict.saturating_sub(1).min(7))
        .min(Duration::from_millis(200));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base * jitter / 1000
}

/// Pause before retry `retry` (1-based): 20 ms doubling up to 1 s, plus up to as much again
/// at random so that writers that collided do not collide again.
fn backoff(retry: u32) -> Duration {
    let base = Duration::from_millis(20)
        .saturating_mul(1 << retry.saturating_sub(1).min(6))
        .min(Duration::from_secs(1));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base * jitter / 1000
}

/// Reads every column of a row straight into JSON, one pass over the driver's values (going
/// through an owned `BoltType` first copied each value once more: a fifth of the CPU time of a
/// 1,000-row page). Scalars, lists and maps come back as themselves, nodes and relationships
/// as the map of their properties, temporal values as text; the store's statements return
/// scalars, lists and maps only.
fn row_to_json(row: Row) -> Result<JsonRow> {
    row.keys()
        .into_iter()
        .map(|key| {
            let column = key.value.as_str();
            let value = row.get::<Value>(column).map_err(|err| {
                Error::new(
                    ErrorKind::Storage,
                    format!("column `{column}` of a bolt result cannot be read: {err}"),
                )
            })?;
            Ok((column.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt::BoltTlsConfig;

    #[test]
    fn rows_read_back_as_the_json_sent() {
        let value = serde_json::json!({
            "null": null, "bool": true, "int": i64::MAX, "min": i64::MIN, "float": 1.5,
            "text": "grüße 🚀", "list": [1, "two", [3.0], {"four": 4}], "map": {"nested": {"deep": []}},
        });
        let columns = ["a", "b"];
        let row = Row::new(
            neo4rs::BoltList::from(
                columns
                    .iter()
                    .map(|c| neo4rs::BoltType::from(*c))
                    .collect::<Vec<_>>(),
            ),
            neo4rs::BoltList::from(vec![
                to_bolt("a", value.clone()).unwrap(),
                to_bolt("b", serde_json::json!([])).unwrap(),
            ]),
        );
        let row = row_to_json(row).unwrap();
        assert_eq!(row["a"], value);
        assert_eq!(row["b"], serde_json::json!([]));
    }

    #[test]
    fn transient_codes_are_retried_and_others_not() {
        assert_eq!(
            classify_code("Neo.TransientError.Transaction.DeadlockDetected"),
            Failure::Conflict
        );
        assert_eq!(
            classify_code("Neo.TransientError.General.DatabaseUnavailable"),
            Failure::Transient
        );
        assert!(conflict_backoff(1) < Duration::from_millis(5));
        assert!(conflict_backoff(30) <= Duration::from_millis(400));
        assert_eq!(
            classify_code("Neo.TransientError.Transaction.Terminated"),
            Failure::Other
        );
        assert_eq!(
            classify_code("Neo.ClientError.Schema.ConstraintValidationFailed"),
            Failure::Constraint
        );
        assert_eq!(
            classify_code("Neo.ClientError.Security.Unauthorized"),
            Failure::Auth
        );
        assert_eq!(
            classify_code("Neo.ClientError.Statement.SyntaxError"),
            Failure::Statement
        );
        assert_eq!(
            classify_code("Neo.DatabaseError.General.UnknownError"),
            Failure::Other
        );
        assert!(is_transient(&failure(
            "h:1",
            Failure::Transient,
            "x".into()
        )));
        assert!(is_transient(&failure(
            "h:1",
            Failure::Unavailable,
            "x".into()
        )));
        assert!(!is_transient(&failure("h:1", Failure::Auth, "x".into())));
        assert_eq!(
            failure("h:1", Failure::Auth, "no".into()).to_string(),
            "bolt database at h:1: no"
        );
        assert!(!is_transient(&Error::new(ErrorKind::Storage, "x")));
    }

    #[test]
    fn no_answer_is_unavailable_but_not_retried() {
        let error = failure("h:1", Failure::NoAnswer, "x".into());
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(!is_transient(&error));
    }

    #[test]
    fn tls_failures_fail_at_once_and_closed_connections_hint_at_tls() {
        let refused = neo4rs::Error::from(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        ));
        assert_eq!(classify(&refused), Failure::Tls);
        let error = driver_error("h:1", "", "connecting", &refused);
        assert!(!is_transient(&error));
        let message = error.to_string();
        assert!(
            message.starts_with(
                "bolt database at h:1: TLS handshake failed (connecting): invalid peer certificate: UnknownIssuer: the server certificate must chain"
            ),
            "{message}"
        );

        let closed = neo4rs::Error::from(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert_eq!(classify(&closed), Failure::Unavailable);
        assert!(closed_connection_hint(&closed, false).is_some_and(|h| h.contains("enable TLS")));
        assert!(closed_connection_hint(&closed, true).is_some_and(|h| h.contains("disable TLS")));
        let refused =
            neo4rs::Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(closed_connection_hint(&refused, false), None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(1) >= Duration::from_millis(20) && backoff(1) < Duration::from_millis(40));
        assert!(backoff(30) <= Duration::from_secs(2));
    }

    #[test]
    fn tls_settings_that_cannot_be_honoured_are_refused() {
        let mut config = BoltConfig::new("db.example.net", 7687);
        config.tls = BoltTlsConfig {
            enabled: false,
            ca_file: None,
            insecure: true,
        };
        assert_eq!(
            driver_config(&config).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        config.tls = BoltTlsConfig {
            enabled: true,
            ca_file: Some("/dev/null".into()),
            insecure: true,
        };
        assert!(
            driver_config(&config)
                .unwrap_err()
                .to_string()
                .contains("choose one")
        );
        config.tls = BoltTlsConfig::with_ca_file("/dev/null");
        let err = driver_config(&config).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        config.tls = BoltTlsConfig::with_ca_file("/nonexistent/ca.pem");
        let err = driver_config(&config).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        for tls in [BoltTlsConfig::system_roots(), BoltTlsConfig::insecure()] {
            config.tls = tls;
            assert!(driver_config(&config).is_ok());
        }
    }
}
