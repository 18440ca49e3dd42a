//! The server on the Bolt backend while its database goes away and comes back.
//!
//! Each test starts an ArcadeDB of its own with `scripts/start-arcadedb.sh` (fixed free ports and
//! a data directory the test owns, so that a restart finds the same database) and the server
//! state on it (`database.db_type = neo4j`, settings read from `INFRAHUB_DB_*` variables as the
//! binary reads them), writes tags through GraphQL and remembers which writes were
//! acknowledged. Then ArcadeDB is stopped (`SIGTERM`), killed (`SIGKILL`, in the middle of a
//! stream of writes) or frozen (`SIGSTOP`: its sockets stay open and nothing answers). Meanwhile
//! a request must fail within the query timeout, with HTTP 503 or a GraphQL error saying that
//! the database is unavailable, never hang. ArcadeDB is then restarted on the same ports and
//! data (or resumed), and the same server, not restarted, must answer again with every
//! acknowledged write there.
//!
//! The `SIGTERM` test also checks the TLS settings end to end: its ArcadeDB serves Bolt only
//! over TLS (`ARCADEDB_BOLT_TLS=REQUIRED`, with a CA and server certificate the test makes with
//! `openssl`) and the server connects with `INFRAHUB_DB_TLS_ENABLED` and
//! `INFRAHUB_DB_TLS_CA_FILE`, before and after the restart.
//!
//! Like the other Bolt tests these run when `INFRAHUB_TEST_BOLT_URL` is set (an ArcadeDB set-up
//! is there, as `.ci/run` makes it); unset, they say that they skip, unless
//! `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they fail.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use infrahub_server::app::router;
use infrahub_server::config::{Secret, Settings};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";
/// `database.query_timeout` of the server under test, in seconds.
const QUERY_TIMEOUT: u64 = 5;

/// Whether the Bolt tests run here; `false` (after saying so) to skip.
fn bolt_tests_enabled(test: &str) -> bool {
    match std::env::var("INFRAHUB_TEST_BOLT_URL") {
        Ok(url) if !url.is_empty() => true,
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "INFRAHUB_TEST_BOLT_URL is not set (start a server with scripts/start-arcadedb.sh)"
            )
        }
        _ => {
            eprintln!("skipping {test}: INFRAHUB_TEST_BOLT_URL is not set");
            false
        }
    }
}

/// A directory of the test, deleted when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "infrahub-bolt-fault-{what}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl` with the whitespace-separated `arguments` in `dir`, failing the test with its
/// output when it fails.
fn openssl(dir: &Path, arguments: &str) {
    let output = Command::new("openssl")
        .args(arguments.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the `openssl` command runs (it makes the test's certificates)");
    assert!(
        output.status.success(),
        "openssl {arguments}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// TLS material the test made in a directory: `ca.pem`, and the PKCS12 key store `server.p12`
/// (a certificate for 127.0.0.1 signed by that CA, its key and the CA) that ArcadeDB reads.
struct Certificates {
    ca: PathBuf,
    keystore: PathBuf,
    password: &'static str,
}

fn make_certificates(dir: &Path) -> Certificates {
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let password = "keystore-secret";
    for step in [
        format!(
            "req -x509 {key} -days 2 -subj /CN=infrahub-test-ca \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.pem"
        ),
        format!("req {key} -subj /CN=localhost -keyout server.key -out server.csr"),
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile server.ext -out server.pem"
            .to_owned(),
        format!(
            "pkcs12 -export -name server -in server.pem -inkey server.key -certfile ca.pem \
             -passout pass:{password} -out server.p12"
        ),
    ] {
        openssl(dir, &step);
    }
    Certificates {
        ca: dir.join("ca.pem"),
        keystore: dir.join("server.p12"),
        password,
    }
}

/// `scripts/start-arcadedb.sh` of this repository.
fn start_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-arcadedb.sh")
}

/// Two distinct ports free at the time of the call.
fn free_ports() -> (u16, u16) {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        first.local_addr().unwrap().port(),
        second.local_addr().unwrap().port(),
    )
}

/// Where and how the test's ArcadeDB runs: the same on every (re)start.
struct ArcadeDbSetup<'a> {
    data: PathBuf,
    bolt_port: u16,
    http_port: u16,
    password: String,
    tls: Option<&'a Certificates>,
}

/// A running ArcadeDB of the test, stopped when dropped.
struct ArcadeDb {
    data: PathBuf,
    pid: u32,
}

impl<'a> ArcadeDbSetup<'a> {
    fn new(data: &Path, tls: Option<&'a Certificates>) -> Self {
        let (bolt_port, http_port) = free_ports();
        ArcadeDbSetup {
            data: data.to_owned(),
            bolt_port,
            http_port,
            password: uuid::Uuid::new_v4().simple().to_string(),
            tls,
        }
    }

    /// Starts the server (creating the database `infrahub` on the first start) and waits until
    /// it answers.
    fn start(&self) -> ArcadeDb {
        let mut command = Command::new("bash");
        command
            .arg(start_script())
            .env("ARCADEDB_DATA", &self.data)
            .env("ARCADEDB_BOLT_PORT", self.bolt_port.to_string())
            .env("ARCADEDB_HTTP_PORT", self.http_port.to_string())
            .env("ARCADEDB_ROOT_PASSWORD", &self.password)
            .env("ARCADEDB_DATABASE", "infrahub")
            .env("ARCADEDB_HEAP", "512m");
        match self.tls {
            Some(certificates) => command
                .env("ARCADEDB_BOLT_TLS", "REQUIRED")
                .env("ARCADEDB_TLS_KEYSTORE", &certificates.keystore)
                .env("ARCADEDB_TLS_KEYSTORE_PASSWORD", certificates.password),
            None => command.env_remove("ARCADEDB_BOLT_TLS"),
        };
        let output = command.output().expect("scripts/start-arcadedb.sh runs");
        assert!(
            output.status.success(),
            "scripts/start-arcadedb.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let settings: HashMap<String, String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        ArcadeDb {
            data: self.data.clone(),
            pid: settings["ARCADEDB_PID"].parse().unwrap(),
        }
    }

    /// The server state on this ArcadeDB, its settings read from `INFRAHUB_DB_*` variables.
    async fn start_server(&self, dir: &Path) -> axum::Router {
        let mut env = BTreeMap::from(
            [
                ("INFRAHUB_DB_TYPE", "neo4j".to_owned()),
                ("INFRAHUB_DB_ADDRESS", "127.0.0.1".to_owned()),
                ("INFRAHUB_DB_PORT", self.bolt_port.to_string()),
                ("INFRAHUB_DB_USERNAME", "root".to_owned()),
                ("INFRAHUB_DB_PASSWORD", self.password.clone()),
                ("INFRAHUB_DB_DATABASE", "infrahub".to_owned()),
                ("INFRAHUB_DB_POOL_SIZE", "4".to_owned()),
                ("INFRAHUB_DB_QUERY_TIMEOUT", QUERY_TIMEOUT.to_string()),
                ("INFRAHUB_DB_STARTUP_TIMEOUT", "30".to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        if let Some(certificates) = self.tls {
            env.insert("INFRAHUB_DB_TLS_ENABLED".to_owned(), "true".to_owned());
            env.insert(
                "INFRAHUB_DB_TLS_CA_FILE".to_owned(),
                certificates.ca.display().to_string(),
            );
        }
        let mut settings = Settings::load(None, &env).unwrap();
        settings.main.data_dir = dir.to_owned();
        settings.initial.admin_token = Some(Secret::new(ADMIN_TOKEN));
        let deployment = infrahub_server::deployment_id(dir).unwrap();
        let state = infrahub_server::build_state(settings, deployment)
            .await
            .unwrap();
        router(state)
    }
}

impl ArcadeDb {
    /// Stops the server with `SIGTERM` and waits until it has exited (the script's `--stop`).
    fn stop(self) {
        let output = Command::new("bash")
            .arg(start_script())
            .arg("--stop")
            .arg(&self.data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::mem::forget(self);
    }

    /// Kills the server with `SIGKILL` and waits until it is gone.
    fn kill(self) {
        assert!(self.signal("KILL"), "kill -KILL {}", self.pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{}", self.pid)).exists() {
            assert!(Instant::now() < deadline, "pid {} still there", self.pid);
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.data.join("arcadedb.pid"));
        std::mem::forget(self);
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the server; whether it was delivered.
    fn signal(&self, signal: &str) -> bool {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if sent && signal == "STOP" {
            // A stop is delivered asynchronously: wait until every thread of the server is
            // stopped (`T` in /proc/<pid>/task/*/stat), so that nothing it answers afterwards
            // comes from before the freeze.
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid))
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .map(|e| {
                                std::fs::read_to_string(e.path().join("stat")).unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let stopped = !tasks.is_empty()
                    && tasks.iter().all(|stat| {
                        stat.rsplit_once(')')
                            .and_then(|(_, rest)| rest.split_whitespace().next())
                            .is_some_and(|state| state == "T" || state == "t")
                    });
                if stopped {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        sent
    }
}

impl Drop for ArcadeDb {
    fn drop(&mut self) {
        // A failed test may have left it frozen, and a frozen server cannot shut down.
        self.signal("CONT");
        let _ = Command::new("bash")
            .arg(start_script())
            .arg("--stop")
            .arg(&self.data)
            .output();
    }
}

/// Status and JSON body (or `{"text": body}` when it is not JSON) of a GraphQL request.
async fn graphql(app: &axum::Router, query: &str) -> (StatusCode, Value) {
    let request = Request::post("/graphql")
        .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "text": String::from_utf8_lossy(&bytes) }));
    (status, body)
}

fn create_tag_mutation(name: &str) -> String {
    format!(r#"mutation {{ BuiltinTagCreate(data: {{name: {{value: "{name}"}}}}) {{ ok }} }}"#)
}

/// Creates tag `name`; `Ok` when the server acknowledged the write.
async fn create_tag(app: &axum::Router, name: &str) -> Result<(), String> {
    let (status, body) = graphql(app, &create_tag_mutation(name)).await;
    if status == StatusCode::OK && body["data"]["BuiltinTagCreate"]["ok"] == json!(true) {
        Ok(())
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// The names of every tag, or the failed answer.
async fn tag_names(app: &axum::Router) -> Result<BTreeSet<String>, String> {
    let (status, body) = graphql(app, "{ BuiltinTag { edges { node { name { value } } } } }").await;
    match body["data"]["BuiltinTag"]["edges"].as_array() {
        Some(edges) if status == StatusCode::OK && body.get("errors").is_none() => Ok(edges
            .iter()
            .filter_map(|edge| edge["node"]["name"]["value"].as_str())
            .map(str::to_owned)
            .collect()),
        _ => Err(format!("{status}: {body}")),
    }
}

/// Asserts that a query and a write, made while the database does not answer, fail within
/// `bound` with an answer saying that the database is unavailable: HTTP 503 (when the API token
/// had to be read), or a GraphQL error flagged `extensions.http_status = 503`.
async fn assert_unavailable(app: &axum::Router, refused_tag: &str, bound: Duration) {
    for (what, query) in [
        ("a query", "{ BuiltinTag { count } }".to_owned()),
        ("a write", create_tag_mutation(refused_tag)),
    ] {
        let started = Instant::now();
        let (status, body) = graphql(app, &query).await;
        let elapsed = started.elapsed();
        assert!(elapsed < bound, "{what}: answered after {elapsed:?}");
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => body.to_string(),
            StatusCode::OK => {
                // Flagged transient, so that the SDK's `retry_on_failure` retries it.
                assert_eq!(
                    body["errors"][0]["extensions"]["http_status"], 503,
                    "{what}: {body}"
                );
                body["errors"][0]["message"].to_string()
            }
            other => panic!("{what}: expected 503 or a GraphQL error, got {other}: {body}"),
        };
        assert!(
            message.contains("unavailable") && message.contains("bolt database at 127.0.0.1:"),
            "{what}: {status} {body}"
        );
    }
}

/// After the database is back: the first query succeeds and holds every acknowledged write and
/// not `refused_tag`, whose write failed before it reached the database; writes work again.
async fn assert_recovered(app: &axum::Router, acknowledged: &BTreeSet<String>, refused_tag: &str) {
    let names = tag_names(app)
        .await
        .expect("the first query after the database is back succeeds");
    let missing: Vec<_> = acknowledged.difference(&names).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(!names.contains(refused_tag), "{refused_tag} was refused");
    create_tag(app, "written-after")
        .await
        .expect("a write after the database is back succeeds");
    assert!(tag_names(app).await.unwrap().contains("written-after"));
}

/// Acknowledged creates of `count` tags `<prefix>-<index>`.
async fn write_tags(app: &axum::Router, prefix: &str, count: usize) -> BTreeSet<String> {
    let mut acknowledged = BTreeSet::new();
    for index in 0..count {
        let name = format!("{prefix}-{index}");
        create_tag(app, &name).await.unwrap();
        acknowledged.insert(name);
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_survives_a_stopped_database_over_tls() {
    if !bolt_tests_enabled("the_server_survives_a_stopped_database_over_tls") {
        return;
    }
    let certs = TempDir::new("certs");
    let certificates = make_certificates(&certs.0);
    let data = TempDir::new("data");
    let dir = TempDir::new("server");
    let setup = ArcadeDbSetup::new(&data.0, Some(&certificates));
    let arcadedb = setup.start();
    let app = setup.start_server(&dir.0).await;
    let acknowledged = write_tags(&app, "before", 5).await;

    arcadedb.stop();
    assert_unavailable(&app, "while-down", Duration::from_secs(QUERY_TIMEOUT)).await;

    let _arcadedb = setup.start();
    assert_recovered(&app, &acknowledged, "while-down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_survives_a_database_killed_during_writes() {
    if !bolt_tests_enabled("the_server_survives_a_database_killed_during_writes") {
        return;
    }
    let data = TempDir::new("data");
    let dir = TempDir::new("server");
    let setup = ArcadeDbSetup::new(&data.0, None);
    let arcadedb = setup.start();
    let app = setup.start_server(&dir.0).await;
    let mut acknowledged = write_tags(&app, "before", 5).await;

    // A writer keeps creating tags while the database is killed under it: what it was told
    // succeeded must survive; what failed may or may not have been applied.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let app = app.clone();
        let stop = stop.clone();
        async move {
            let mut acknowledged = Vec::new();
            let mut failures = Vec::new();
            for index in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("during-{index}");
                let started = Instant::now();
                match create_tag(&app, &name).await {
                    Ok(()) => acknowledged.push(name),
                    Err(error) => failures.push((name, started.elapsed(), error)),
                }
            }
            (acknowledged, failures)
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    arcadedb.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let (written, failures) = writer.await.unwrap();
    assert!(!written.is_empty(), "the writer wrote before the kill");
    assert!(!failures.is_empty(), "the writer saw the kill");
    for (name, elapsed, error) in &failures {
        assert!(
            *elapsed < Duration::from_secs(QUERY_TIMEOUT),
            "{name} failed after {elapsed:?}: {error}"
        );
    }
    acknowledged.extend(written);
    assert_unavailable(&app, "while-down", Duration::from_secs(QUERY_TIMEOUT)).await;

    let _arcadedb = setup.start();
    assert_recovered(&app, &acknowledged, "while-down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_within_the_query_timeout_while_the_database_is_frozen() {
    if !bolt_tests_enabled(
        "the_server_answers_within_the_query_timeout_while_the_database_is_frozen",
    ) {
        return;
    }
    let data = TempDir::new("data");
    let dir = TempDir::new("server");
    let setup = ArcadeDbSetup::new(&data.0, None);
    let arcadedb = setup.start();
    let app = setup.start_server(&dir.0).await;
    let acknowledged = write_tags(&app, "before", 3).await;

    // Connections stay open and nothing answers: only the query timeout ends a request.
    assert!(arcadedb.signal("STOP"));
    assert_unavailable(&app, "while-frozen", Duration::from_secs(QUERY_TIMEOUT + 3)).await;

    assert!(arcadedb.signal("CONT"));
    assert_recovered(&app, &acknowledged, "while-frozen").await;
}
