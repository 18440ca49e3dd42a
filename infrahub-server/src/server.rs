//! Starting the server: data directory, deployment identity, listener and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::config::Settings;

/// Errors that stop the server from starting or running. Messages say what failed; the
/// cause, when there is one, is the error's source (printed by `{:#}` or anyhow's chain), not
/// repeated in the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The data directory could not be created or read.
    #[error("data directory `{path}`")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A setting names a backend this build cannot run, or a backend setting is incomplete.
    #[error("{0}")]
    Refused(String),
    /// A backend could not be opened or initialised.
    #[error("{what}")]
    Backend {
        /// Which backend: `graph store`, `engine`, `object store at ...`.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The listening socket could not be bound or served.
    #[error("listening on {address}")]
    Listen {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A [`ServeError::Backend`] for `what`, caused by `source`.
pub(crate) fn backend(
    what: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ServeError {
    ServeError::Backend {
        what: what.to_string(),
        source: Box::new(source),
    }
}

/// Creates directory `path` if needed and makes it readable by its owner only.
fn private_dir(path: &Path) -> Result<(), ServeError> {
    let io = |source| ServeError::DataDir {
        path: path.display().to_string(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Writes `contents` to a new file `path` readable by its owner only (through a temporary
/// file renamed over it, so that a crash leaves the old or the new contents).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Reads the deployment identifier kept in the data directory, creating both on first start.
/// The data directory is made readable by its owner only.
pub fn deployment_id(data_dir: &Path) -> Result<String, ServeError> {
    let io = |source| ServeError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    private_dir(data_dir)?;
    let file = data_dir.join("deployment_id");
    match std::fs::read_to_string(&file) {
        Ok(text) if uuid::Uuid::parse_str(text.trim()).is_ok() => Ok(text.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::now_v7().to_string();
            write_private(&file, &id).map_err(io)?;
            Ok(id)
        }
    }
}

/// What a process of the deployment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An API server (`infrahub server start`): runs tasks itself with `workflow.driver =
    /// local`, leaves them to workers with `worker`.
    Server,
    /// A task worker (`infrahub worker start`): runs the tasks API servers submit, on the
    /// shared database and message broker.
    Worker,
}

/// Opens the graph store, the engine and the object store the configuration names.
pub async fn build_state(
    settings: Settings,
    deployment_id: String,
) -> Result<Arc<AppState>, ServeError> {
    build_state_as(settings, deployment_id, Role::Server).await
}

/// [`build_state`] for a process of `role`.
pub async fn build_state_as(
    settings: Settings,
    deployment_id: String,
    role: Role,
) -> Result<Arc<AppState>, ServeError> {
    use crate::config::StorageDriver;
    let data_dir = settings.main.data_dir.clone();
    refuse_unsupported_backends(&settings)?;
    refuse_unshared_workers(&settings, role)?;
    let cluster = crate::cluster::Cluster::connect(&settings).await?;
    if !settings.database.is_embedded() && !cluster.is_shared() {
        tracing::warn!(
            "the graph database is shared but the cache is in-process (cache.driver = memory): \
             run a single server on this database, or configure Redis or NATS as the cache"
        );
    }
    let graph_config = if settings.database.is_embedded() {
        infrahub_graph::GraphConfig::Embedded {
            path: data_dir.join("graph"),
        }
    } else {
        let bolt = settings
            .database
            .bolt_config()
            .map_err(ServeError::Refused)?;
        tracing::info!(
            endpoint = %bolt.endpoint(),
            database = bolt.database.as_deref().unwrap_or_default(),
            "connecting to the graph database over Bolt"
        );
        infrahub_graph::GraphConfig::Bolt(bolt)
    };
    let mut store = infrahub_graph::connect(&graph_config)
        .await
        .map_err(|e| backend("graph store", e))?;
    if settings.database.max_concurrent_queries > 0 {
        store = Arc::new(infrahub_graph::ConcurrencyLimit::new(
            store,
            usize::try_from(settings.database.max_concurrent_queries).unwrap_or(usize::MAX),
            std::time::Duration::try_from_secs_f64(settings.database.max_concurrent_queries_delay)
                .unwrap_or(std::time::Duration::MAX),
        ));
    }
    let options = infrahub_core::engine::EngineOptions {
        default_branch: settings.initial.default_branch.clone(),
        admin_password: Some(settings.initial.admin_password.expose().to_string()),
        admin_token: settings
            .initial
            .admin_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        agent_token: settings
            .initial
            .agent_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        agent_password: settings
            .initial
            .agent_password
            .as_ref()
            .map(|t| t.expose().to_string()),
        strict_mode: settings.main.schema_strict_mode,
        query_size_limit: settings.database.query_size_limit as usize,
        locks: cluster
            .is_shared()
            .then(|| std::sync::Arc::clone(&cluster.cache().locks)),
        ..Default::default()
    };
    let engine = infrahub_core::engine::Engine::open(store, options)
        .await
        .map_err(|e| backend("engine", e))?;
    let objects: Arc<dyn object_store::ObjectStore> = match settings.storage.driver {
        StorageDriver::Local => {
            let path = settings.storage_local_path();
            private_dir(&path)?;
            Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&path)
                    .map_err(|e| backend(&format!("object store at {}", path.display()), e))?,
            )
        }
        StorageDriver::S3 => s3_store(&settings.storage.s3)?,
    };
    let jwt_secret = match &settings.security.secret_key {
        Some(key) => key.expose().as_bytes().to_vec(),
        None => secret_from_data_dir(&data_dir)?,
    };
    let engine = Arc::new(engine);
    // A first start hashes the initial admin password after the server is ready.
    engine.settle_in_background();
    let tasks = task_setup(&settings, &cluster, role).await?;
    let state = AppState::with_cluster(
        settings,
        deployment_id,
        engine,
        jwt_secret,
        objects,
        cluster,
        Some(tasks),
    );
    // Listed by `InfrahubStatus` from the first request on.
    if let Err(error) = state.cluster.publish_status(&state.engine).await {
        tracing::warn!(%error, "publishing the first heartbeat failed");
    }
    Ok(state)
}

/// Refuses settings naming backends this build does not have yet, rather than ignoring them:
/// a deployment configured for RabbitMQ must not silently run on the in-process bus.
fn refuse_unsupported_backends(settings: &Settings) -> Result<(), ServeError> {
    use crate::config::DatabaseType;
    let unsupported = [(
        settings.database.db_type == DatabaseType::Memgraph,
        "database.db_type",
        settings.database.db_type.as_str(),
        "the Memgraph dialect of the Bolt graph backend",
        "neo4j` (Neo4j 5, ArcadeDB) or `embedded",
    )];
    match unsupported.iter().find(|(refused, ..)| *refused) {
        Some((_, key, value, needs, instead)) => Err(ServeError::Refused(format!(
            "{key} = {value} needs {needs}, which this build does not include yet; use `{instead}`"
        ))),
        None => Ok(()),
    }
}

/// Refuses a deployment whose tasks could not reach workers: workers need the shared graph
/// database and a message broker.
fn refuse_unshared_workers(settings: &Settings, role: Role) -> Result<(), ServeError> {
    use crate::config::WorkflowDriver;
    if !settings.workflow.enable {
        return Err(ServeError::Refused(
            "workflow.enable = false: branch operations and other work run as tasks, so the \
             task runtime cannot be turned off; use workflow.driver = worker to leave tasks to \
             `infrahub worker start` processes"
                .into(),
        ));
    }
    let needs_workers = role == Role::Worker || settings.workflow.driver == WorkflowDriver::Worker;
    if !needs_workers {
        return Ok(());
    }
    let what = if role == Role::Worker {
        "a task worker (`infrahub worker start`)"
    } else {
        "workflow.driver = worker"
    };
    if settings.database.is_embedded() {
        return Err(ServeError::Refused(format!(
            "{what} needs the deployment's shared graph database (database.db_type = neo4j): \
             the embedded store belongs to one process"
        )));
    }
    if crate::cluster::bus_config(settings).is_none() {
        return Err(ServeError::Refused(format!(
            "{what} needs a message broker (broker.driver = rabbitmq or nats) to carry tasks"
        )));
    }
    Ok(())
}

/// Where this process records tasks and how they travel: on the embedded store, records in
/// `<data_dir>/tasks.redb` and tasks on a private in-process bus; on a shared database,
/// records in that database (every server and worker sees them) and tasks on the broker when
/// there is one.
async fn task_setup(
    settings: &Settings,
    cluster: &crate::cluster::Cluster,
    role: Role,
) -> Result<crate::state::TaskSetup, ServeError> {
    use crate::config::WorkflowDriver;
    warn_unused_workflow_keys(&settings.workflow);
    let concurrency = usize::try_from(settings.broker.maximum_concurrent_messages)
        .unwrap_or(usize::MAX)
        .max(1);
    if settings.database.is_embedded() {
        let path = settings.main.data_dir.join("tasks.redb");
        let store = infrahub_worker::EmbeddedTaskStore::open(&path)
            .map_err(|e| backend(&format!("task store at {}", path.display()), e))?;
        return Ok(crate::state::TaskSetup {
            store: Arc::new(store),
            bus: None,
            run_worker: true,
            concurrency: 8,
        });
    }
    let bolt = settings
        .database
        .bolt_config()
        .map_err(ServeError::Refused)?;
    let store = infrahub_worker::BoltTaskStore::connect(&bolt, TASK_LABEL_PREFIX)
        .await
        .map_err(|e| backend("task store in the graph database", e))?;
    Ok(crate::state::TaskSetup {
        store: Arc::new(store),
        bus: cluster.bus().cloned(),
        run_worker: role == Role::Worker || settings.workflow.driver == WorkflowDriver::Local,
        concurrency,
    })
}

/// Says which `[workflow]` keys, set to other than their defaults, change nothing here:
/// upstream's workers report to a separate task API (Prefect) and poll it, ours share the
/// database and take tasks as the broker delivers them. Accepted, so that upstream's
/// configurations start unchanged, but never silently.
fn warn_unused_workflow_keys(workflow: &crate::config::WorkflowSettings) {
    let defaults = crate::config::WorkflowSettings::default();
    let unused = [
        ("workflow.address", workflow.address != defaults.address),
        ("workflow.port", workflow.port != defaults.port),
        (
            "workflow.tls_enabled",
            workflow.tls_enabled != defaults.tls_enabled,
        ),
        (
            "workflow.default_worker_type",
            workflow.default_worker_type != defaults.default_worker_type,
        ),
        (
            "workflow.worker_polling_interval",
            workflow.worker_polling_interval != defaults.worker_polling_interval,
        ),
    ];
    let user_loggers = [
        ("workflow.extra_loggers", !workflow.extra_loggers.is_empty()),
        (
            "workflow.extra_log_level",
            workflow.extra_log_level != defaults.extra_log_level,
        ),
    ];
    for (key, set) in unused {
        if set {
            tracing::warn!(
                "{key} has no effect: there is no separate task API; workers share the \
                 database and take tasks from the broker as it delivers them"
            );
        }
    }
    for (key, set) in user_loggers {
        if set {
            tracing::warn!(
                "{key} has no effect yet: it concerns Python loggers of user code \
                 (transforms, checks, generators), which this build does not run yet"
            );
        }
    }
}

/// Labels of task records in a shared graph database (`InfrahubTask`, `InfrahubTaskLog`).
const TASK_LABEL_PREFIX: &str = "Infrahub";

/// The S3-compatible bucket store of `[storage.s3]`. Settings not given there come from the
/// usual `AWS_*` environment variables (region, session token, ...).
fn s3_store(
    settings: &crate::config::S3StorageSettings,
) -> Result<Arc<dyn object_store::ObjectStore>, ServeError> {
    use object_store::aws::AmazonS3Builder;
    if settings.bucket_name.is_empty() {
        return Err(ServeError::Refused(
            "storage.driver = s3 needs storage.s3.bucket_name (INFRAHUB_STORAGE_BUCKET_NAME)"
                .into(),
        ));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&settings.bucket_name);
    let key_id = settings.access_key_id.expose();
    if !key_id.is_empty() {
        builder = builder
            .with_access_key_id(key_id)
            .with_secret_access_key(settings.secret_access_key.expose());
    }
    if !settings.endpoint_url.is_empty() {
        let endpoint = if settings.endpoint_url.contains("://") {
            settings.endpoint_url.clone()
        } else {
            let scheme = if settings.use_ssl { "https" } else { "http" };
            format!("{scheme}://{}", settings.endpoint_url)
        };
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    let store = builder.build().map_err(|e| backend("S3 object store", e))?;
    Ok(Arc::new(store))
}

/// The signing key kept in the data directory, created on first start, for deployments that
/// set no `security.secret_key`.
fn secret_from_data_dir(data_dir: &Path) -> Result<Vec<u8>, ServeError> {
    let io = |source| ServeError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    let file = data_dir.join("secret_key");
    if let Ok(text) = std::fs::read_to_string(&file)
        && text.trim().len() >= 32
    {
        // A key written by an earlier version may be readable by others.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        return Ok(text.trim().as_bytes().to_vec());
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&file, &key).map_err(io)?;
    Ok(key.into_bytes())
}

/// Binds `address`.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_string(),
            source,
        })
}

/// Serves the application on `listener` until `shutdown` completes, then drains in-flight
/// requests and returns.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let deployment_id = deployment_id(&settings.main.data_dir)?;
    let state = build_state(settings, deployment_id).await?;
    serve_state(state, listener, shutdown).await
}

/// Serves `state` on `listener` (HTTP/1.1) until `shutdown` completes: at most
/// `api.max_connections` connections at once (capped below the open-file limit), each given
/// `api.request_header_timeout` seconds for the headers of every request (which also closes
/// idle kept-alive connections) and `api.request_body_timeout` seconds for a body. At
/// shutdown, no new connection is accepted and requests in flight get `api.shutdown_timeout`
/// seconds to finish.
pub async fn serve_state(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(Arc::clone(&state));
    serve_app(state, app, listener, shutdown).await
}

/// Like [`serve_state`], serving `app`: the server's [`router`] with routes or layers of your
/// own (an extra endpoint, an authentication gateway in front of everything, ...), under the
/// same connection limits and shutdown.
///
/// # Examples
///
/// ```no_run
/// # async fn example(state: std::sync::Arc<infrahub_server::AppState>) -> Result<(), infrahub_server::ServeError> {
/// use axum::routing::get;
///
/// let app = infrahub_server::app::router(state.clone()).route("/hello", get(|| async { "hello" }));
/// let listener = infrahub_server::bind(([127, 0, 0, 1], 8000).into()).await?;
/// infrahub_server::serve_app(state, app, listener, std::future::pending()).await
/// # }
/// ```
pub async fn serve_app(
    state: Arc<AppState>,
    app: axum::Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let local = listener.local_addr().ok();
    let address = local.map(|a| a.to_string()).unwrap_or_default();
    if let Some(mut local) = local {
        // Python code the tasks run talks to this server, over loopback when it listens on
        // every interface.
        if local.ip().is_unspecified() {
            local.set_ip(if local.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        state
            .repositories
            .set_sdk_client(Some(format!("http://{local}")), None);
    }
    let api = state.settings.api.clone();
    let limit = connection_limit(api.max_connections);
    let permits = Arc::new(tokio::sync::Semaphore::new(limit));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(api.request_header_timeout));
    let graceful = GracefulShutdown::new();
    state.mark_ready();
    tracing::info!(%address, max_connections = limit, "infrahub server ready");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little instead of spinning on the error.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written at once: do not hold them back waiting for ACKs.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_secs(api.shutdown_timeout);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = api.shutdown_timeout,
            "requests still in flight at the end of the shutdown timeout were dropped"
        );
    }
    Ok(())
}

/// Open files kept for the store, logs and the listener when capping connections.
const RESERVED_FILES: u64 = 128;

/// `configured`, lowered so that connections cannot use up the process's open-file limit
/// (read from `/proc/self/limits` where there is one).
fn connection_limit(configured: u64) -> usize {
    let open_files = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| open_file_limit(&text));
    let limit = match open_files {
        Some(files) if files.saturating_sub(RESERVED_FILES) < configured => {
            let capped = files.saturating_sub(RESERVED_FILES).max(1);
            tracing::warn!(
                configured,
                open_file_limit = files,
                capped,
                "api.max_connections is above what the open-file limit allows; using {capped}"
            );
            capped
        }
        _ => configured,
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// The soft `Max open files` limit of a `/proc/<pid>/limits` text.
fn open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backends_this_build_lacks_are_refused_not_ignored() {
        let dir = std::env::temp_dir().join(format!("infrahub-refuse-{}", uuid::Uuid::new_v4()));
        let base = || {
            let mut settings = Settings::default();
            settings.main.data_dir = dir.clone();
            settings
        };
        let mut cases = Vec::new();
        let mut database = base();
        database.database.db_type = crate::config::DatabaseType::Memgraph;
        cases.push((database, "database.db_type = memgraph"));
        for (settings, key) in cases {
            let error = build_state(settings, "test".into())
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.starts_with(key), "{key}: {error}");
            assert!(error.contains("does not include yet"), "{error}");
        }
        assert!(
            !dir.join("graph").exists(),
            "a refused start must not create the store"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn workers_without_a_shared_database_or_broker_are_refused() {
        use crate::config::{DatabaseType, WorkflowDriver};
        let dir = std::env::temp_dir().join(format!("infrahub-workers-{}", uuid::Uuid::new_v4()));
        let base = || {
            let mut settings = Settings::default();
            settings.main.data_dir = dir.clone();
            settings
        };
        let mut driver = base();
        driver.workflow.driver = WorkflowDriver::Worker;
        let mut bolt_without_broker = base();
        bolt_without_broker.workflow.driver = WorkflowDriver::Worker;
        bolt_without_broker.database.db_type = DatabaseType::Neo4j;
        let mut disabled = base();
        disabled.workflow.enable = false;
        let cases = [
            (
                disabled,
                Role::Server,
                "workflow.enable = false: branch operations",
            ),
            (
                driver,
                Role::Server,
                "workflow.driver = worker needs the deployment's shared graph database",
            ),
            (
                base(),
                Role::Worker,
                "a task worker (`infrahub worker start`) needs the deployment's shared graph database",
            ),
            (
                bolt_without_broker,
                Role::Server,
                "workflow.driver = worker needs a message broker",
            ),
        ];
        for (settings, role, message) in cases {
            let error = build_state_as(settings, "test".into(), role)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.starts_with(message), "{message}: {error}");
        }
        assert!(
            !dir.join("graph").exists(),
            "a refused start must not create the store"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_unreachable_broker_or_cache_fails_the_start_naming_it() {
        use crate::config::{BrokerDriver, CacheDriver};
        let dir = std::env::temp_dir().join(format!("infrahub-unreach-{}", uuid::Uuid::new_v4()));
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let base = || {
            let mut settings = Settings::default();
            settings.main.data_dir = dir.clone();
            settings
        };
        let mut broker = base();
        broker.broker.driver = BrokerDriver::RabbitMq;
        broker.broker.address = "127.0.0.1".into();
        broker.broker.port = Some(port);
        let mut cache = base();
        cache.cache.driver = CacheDriver::Redis;
        cache.cache.address = "127.0.0.1".into();
        cache.cache.port = Some(port);
        for (settings, what) in [(broker, "message broker"), (cache, "cache")] {
            let error = build_state(settings, "test".into())
                .await
                .err()
                .map(|e| {
                    let mut text = e.to_string();
                    let mut cause = std::error::Error::source(&e);
                    while let Some(inner) = cause {
                        text.push_str(&format!(": {inner}"));
                        cause = inner.source();
                    }
                    text
                })
                .unwrap_or_default();
            assert!(error.starts_with(what), "{what}: {error}");
            assert!(error.contains(&port.to_string()), "{what}: {error}");
        }
        assert!(
            !dir.join("graph").exists(),
            "a failed start must not create the store"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            1024                 524288               files\n";
        assert_eq!(open_file_limit(text), Some(1024));
        assert_eq!(
            open_file_limit("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(open_file_limit(""), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_its_secrets_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("infrahub-private-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap_or_default();
        // A key left world-readable by an earlier version is restricted too.
        std::fs::write(dir.join("secret_key"), "k".repeat(40)).unwrap_or_default();
        std::fs::set_permissions(
            dir.join("secret_key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap_or_default();
        deployment_id(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            secret_from_data_dir(&dir).ok(),
            Some("k".repeat(40).into_bytes())
        );
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o777)
        };
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("secret_key")), 0o600);
        assert_eq!(mode(&dir.join("deployment_id")), 0o600);
        std::fs::remove_file(dir.join("secret_key")).unwrap_or_default();
        let key = secret_from_data_dir(&dir).unwrap_or_default();
        assert_eq!(key.len(), 64);
        assert_eq!(mode(&dir.join("secret_key")), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deployment_id_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("infrahub-deploy-{}", uuid::Uuid::new_v4()));
        let first = deployment_id(&dir).unwrap_or_default();
        let second = deployment_id(&dir).unwrap_or_default();
        assert!(uuid::Uuid::parse_str(&first).is_ok());
        assert_eq!(first, second);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
