//! State shared by every request handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use infrahub_core::engine::Engine;
use infrahub_worker::repositories::Repositories;
use infrahub_worker::{EmbeddedTaskStore, RuntimeConfig, TaskRuntime, TaskStore};
use object_store::ObjectStore;

use crate::auth::AuthCache;
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::graphql::{QueryCache, SchemaCache};
use crate::rest::SchemaDocCache;

/// The registry safety net as scheduled work: once per period across the deployment.
fn registry_refresh_schedule(state: &Arc<AppState>) -> infrahub_worker::Schedule {
    let weak = Arc::downgrade(state);
    infrahub_worker::Schedule {
        name: "registry-refresh".into(),
        period: crate::cluster::SAFETY_NET,
        work: infrahub_worker::ScheduledWork::Action(Arc::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(state) = weak.upgrade() {
                    crate::cluster::refresh_everywhere(&state).await;
                }
            })
        })),
    }
}

/// Stored queries run for tasks (artifact generation), as the server itself.
struct StateQueries(std::sync::Weak<AppState>);

#[async_trait::async_trait]
impl infrahub_worker::repositories::QueryRunner for StateQueries {
    async fn run(
        &self,
        branch: &str,
        query: &str,
        variables: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let state = self
            .0
            .upgrade()
            .ok_or_else(|| "the server is shutting down".to_owned())?;
        crate::rest::query::run_for_task(&state, branch, query, variables, false)
            .await
            .map(|(data, _)| data)
    }

    async fn run_tracked(
        &self,
        branch: &str,
        query: &str,
        variables: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(serde_json::Value, std::collections::BTreeSet<String>), String> {
        let state = self
            .0
            .upgrade()
            .ok_or_else(|| "the server is shutting down".to_owned())?;
        crate::rest::query::run_for_task(&state, branch, query, variables, true).await
    }

    async fn record_group(
        &self,
        branch: &str,
        query: &str,
        variables: &serde_json::Map<String, serde_json::Value>,
        nodes: &std::collections::BTreeSet<String>,
        subscriber: &str,
    ) -> Result<(), String> {
        let state = self
            .0
            .upgrade()
            .ok_or_else(|| "the server is shutting down".to_owned())?;
        crate::rest::record_query_group(
            &state,
            branch,
            query,
            variables,
            nodes,
            &[subscriber.to_owned()],
        )
        .await
    }
}

/// Where a server's task records go, how its tasks travel, and whether it runs them.
#[derive(Debug)]
pub struct TaskSetup {
    /// The task store (embedded, or the shared database's).
    pub store: Arc<dyn TaskStore>,
    /// The bus tasks travel on; `None` for a private in-process one.
    pub bus: Option<Arc<dyn infrahub_bus::MessageBus>>,
    /// Whether this process runs tasks (a worker), or only submits them.
    pub run_worker: bool,
    /// How many tasks the worker runs at once.
    pub concurrency: usize,
}

/// What request handlers share. Its `Debug` form leaves the signing key out.
pub struct AppState {
    /// The loaded configuration.
    pub settings: Settings,
    /// Identifier of this deployment, stable across restarts of the same data directory.
    pub deployment_id: String,
    /// The node engine.
    pub engine: Arc<Engine>,
    /// Key signing access and refresh tokens (HS256).
    pub jwt_secret: Vec<u8>,
    /// Object store for artifacts and uploaded files.
    pub objects: Arc<dyn ObjectStore>,
    /// Generated GraphQL schemas by branch schema hash.
    pub graphql: SchemaCache,
    /// Parsed GraphQL documents by query text.
    pub queries: QueryCache,
    /// Credentials checked recently (API tokens and accounts), see [`AuthCache`].
    pub auth_cache: AuthCache,
    /// Rendered `/api/schema` documents by branch, see [`SchemaDocCache`].
    pub schema_docs: SchemaDocCache,
    /// The cache, locks and bus shared with the deployment's other servers.
    pub cluster: Cluster,
    /// The task runtime: workflows run as tasks with durable records (`InfrahubTask`).
    pub tasks: TaskRuntime,
    /// The deployment's Git repositories, mirrored by this process.
    pub repositories: Arc<Repositories>,
    /// This process's task worker and scheduled work (stopped when the state is dropped).
    worker: std::sync::Mutex<Vec<infrahub_worker::WorkerHandle>>,
    ready: AtomicBool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("deployment_id", &self.deployment_id)
            .field("settings", &self.settings)
            .field("engine", &self.engine)
            .field("jwt_secret", &"***")
            .field("objects", &self.objects)
            .field("graphql", &self.graphql)
            .field("queries", &self.queries)
            .field("auth_cache", &self.auth_cache)
            .field("schema_docs", &self.schema_docs)
            .field("cluster", &self.cluster)
            .field("tasks", &self.tasks)
            .field("ready", &self.ready)
            .finish()
    }
}

impl AppState {
    /// State for a server that is not ready yet; call [`AppState::mark_ready`] once every
    /// dependency is up. From now on, a schema load whose result cannot be served as a
    /// GraphQL API is refused.
    pub fn new(
        settings: Settings,
        deployment_id: String,
        engine: Arc<Engine>,
        jwt_secret: Vec<u8>,
        objects: Arc<dyn ObjectStore>,
    ) -> Arc<Self> {
        Self::with_cluster(
            settings,
            deployment_id,
            engine,
            jwt_secret,
            objects,
            Cluster::local(),
            None,
        )
    }

    /// [`AppState::new`] for a server of a deployment sharing `cluster`: the engine should
    /// have been opened with the cluster's locks when its cache is shared. `tasks` says where
    /// task records go and how tasks travel (`None`: in memory, run in this process). Starts
    /// the cluster's background work (heartbeat, broadcasts) and the task worker, if this
    /// process runs one, when called inside a Tokio runtime.
    pub fn with_cluster(
        settings: Settings,
        deployment_id: String,
        engine: Arc<Engine>,
        jwt_secret: Vec<u8>,
        objects: Arc<dyn ObjectStore>,
        cluster: Cluster,
        tasks: Option<TaskSetup>,
    ) -> Arc<Self> {
        let setup = tasks.unwrap_or_else(|| TaskSetup {
            store: Arc::new(EmbeddedTaskStore::in_memory().expect("an in-memory task store")),
            bus: None,
            run_worker: true,
            concurrency: RuntimeConfig::default().concurrency,
        });
        let repositories = Arc::new(Repositories::new(
            Arc::clone(&engine),
            settings.git_options(),
        ));
        let catalogue = infrahub_worker::workflows::catalogue(&engine, &repositories);
        let config = RuntimeConfig {
            concurrency: setup.concurrency.max(1),
            ..RuntimeConfig::default()
        };
        let tasks = match setup.bus {
            Some(bus) => TaskRuntime::new(setup.store, bus, catalogue, config),
            None => TaskRuntime::in_process(setup.store, catalogue, config)
                .expect("the in-process task bus accepts its default configuration"),
        };
        let run_worker = setup.run_worker;
        let state = Arc::new(AppState {
            settings,
            deployment_id,
            engine,
            jwt_secret,
            objects,
            graphql: SchemaCache::default(),
            queries: QueryCache::default(),
            auth_cache: AuthCache::default(),
            schema_docs: SchemaDocCache::default(),
            cluster,
            tasks,
            repositories,
            worker: std::sync::Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
        });
        // Weak: the engine must not keep the state alive.
        let weak = Arc::downgrade(&state);
        state
            .engine
            .add_schema_check(Arc::new(move |candidate| match weak.upgrade() {
                Some(state) => state.graphql.prepare(candidate).map_err(Into::into),
                None => Ok(()),
            }));
        // Credentials and permissions read before a change to them are not used after it.
        let weak = Arc::downgrade(&state);
        state.engine.observe_commits(Arc::new(move |branch, kinds| {
            let Some(state) = weak.upgrade() else {
                return;
            };
            let schema = state.engine.schema(branch).ok();
            let concerns = kinds.iter().any(|kind| {
                let inherits = schema
                    .as_ref()
                    .and_then(|s| s.get(kind))
                    .map(|m| m.inherit_from.as_slice())
                    .unwrap_or_default();
                crate::auth::concerns_credentials(kind, inherits)
            });
            if concerns {
                state.auth_cache.invalidate();
                state.cluster.credentials_changed();
            }
        }));
        state
            .repositories
            .attach(infrahub_worker::repositories::ArtifactServices {
                queries: Arc::new(StateQueries(Arc::downgrade(&state))),
                objects: Arc::clone(&state.objects),
                tasks: state.tasks.clone(),
            });
        // Python code the tasks run reaches the API with the worker key; the address is set
        // once the server listens (see `serve_app`), or comes from `main.internal_address`.
        state
            .repositories
            .set_sdk_client(None, Some(crate::auth::worker_key(&state.jwt_secret)));
        if tokio::runtime::Handle::try_current().is_ok() {
            Cluster::start(&state);
            crate::artifact_refresh::start(&state);
            // A process that runs tasks also takes part in the scheduled work (each period's
            // task is submitted by one process of the deployment).
            if let Ok(mut worker) = state.worker.lock() {
                if run_worker {
                    worker.push(state.tasks.spawn_worker());
                    worker.push(state.tasks.spawn_schedules(
                        vec![
                            infrahub_worker::retention_schedule(),
                            infrahub_worker::workflows::repository_sync_schedule(
                                Arc::clone(&state.repositories),
                                state.tasks.clone(),
                            ),
                        ],
                        state.cluster.cache().clone(),
                    ));
                }
                // Every process of a deployment with a broker takes part in the registry
                // safety net; one of them runs it each period.
                if state.cluster.is_shared() && state.cluster.bus().is_some() {
                    worker.push(state.tasks.spawn_schedules(
                        vec![registry_refresh_schedule(&state)],
                        state.cluster.cache().clone(),
                    ));
                }
            }
        }
        state
    }

    /// Whether `branch` exists. On a shared database, a branch this server has not heard of
    /// yet (another process created it a moment ago, its broadcast still on the way) is looked
    /// up in the database, and the registry refreshed when it is there.
    pub async fn knows_branch(&self, branch: &str) -> bool {
        if self.engine.schema(branch).is_ok() {
            return true;
        }
        if self.settings.database.is_embedded() {
            return false;
        }
        if self.engine.branch(branch).await.is_err() {
            return false;
        }
        if let Err(error) = self.engine.refresh_registry(Some(branch)).await {
            tracing::warn!(%error, branch, "refreshing the registry for a new branch failed");
        }
        self.engine.schema(branch).is_ok()
    }

    /// Marks the server ready to serve traffic.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the server is ready to serve traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
