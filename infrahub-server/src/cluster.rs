//! What one API server shares with the others of its deployment: the cache (worker
//! heartbeats, schema hashes, distributed locks) and the message bus (registry refresh
//! broadcasts).
//!
//! A server alone (the default) uses the in-process cache and no bus. Configured with Redis or
//! NATS as the cache and RabbitMQ or NATS as the broker, several servers share one graph
//! database: the engine takes its locks in the shared cache, every registry change (branch
//! created, deleted, merged or rebased, schema loaded) is broadcast as upstream's
//! `refresh.registry.*` messages so every server reads the new schemas, and every credential
//! change is broadcast so every server drops what it cached about accounts and tokens. Each
//! server publishes a heartbeat and the schema hash of each branch in the cache, which
//! `InfrahubStatus` reads (as upstream, from the `workers:*` keys).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use infrahub_bus::{BusMessage, Message, MessageBus, Meta};
use infrahub_cache::{CacheHandle, SetOptions};
use infrahub_core::engine::{Engine, RegistryChange};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{BrokerDriver, CacheDriver, Settings};
use crate::state::AppState;

/// The component name upstream gives API servers in its cache keys.
const COMPONENT: &str = "api_server";
/// How often a server publishes its heartbeat and schema hashes (upstream: 10 s).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long a heartbeat keeps a server active (upstream: 15 s).
const ACTIVE_TTL: Duration = Duration::from_secs(15);
/// How long the worker registration and schema hash keys live (upstream: 2 h).
const REGISTRATION_TTL: Duration = Duration::from_secs(7200);
/// How often a server sharing its database re-reads every branch from the store and drops
/// its cached credentials, in case a broadcast was lost (upstream refreshes branches every
/// 15 minutes; credentials it never caches).
pub(crate) const SAFETY_NET: Duration = Duration::from_secs(60);

/// `refresh.registry.branches`: reload the branch list and the schemas that changed; `branch`
/// names the branch the sender changed (our addition: receivers check it and the default
/// branch instead of every branch).
#[derive(Debug, Default, Serialize, Deserialize)]
struct RefreshBranches {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
}

impl BusMessage for RefreshBranches {
    const ROUTING_KEY: &'static str = "refresh.registry.branches";
    const VERSION: u32 = 1;
}

/// `refresh.registry.rebased_branch`: `branch` was rebased.
#[derive(Debug, Serialize, Deserialize)]
struct RebasedBranch {
    branch: String,
}

impl BusMessage for RebasedBranch {
    const ROUTING_KEY: &'static str = "refresh.registry.rebased_branch";
    const VERSION: u32 = 1;
}

/// `refresh.auth.credentials` (ours): accounts, tokens, groups, roles or permissions changed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CredentialsChanged {}

impl BusMessage for CredentialsChanged {
    const ROUTING_KEY: &'static str = "refresh.auth.credentials";
    const VERSION: u32 = 1;
}

/// One API server or worker as `InfrahubStatus` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The process's identity.
    pub id: String,
    /// Whether its heartbeat is recent.
    pub active: bool,
    /// The schema hash it holds for the branch asked about.
    pub schema_hash: Option<String>,
}

/// The cache and bus of this server, see the module documentation.
pub struct Cluster {
    identity: String,
    cache: CacheHandle,
    bus: Option<Arc<dyn MessageBus>>,
    shared: bool,
    outbox: mpsc::UnboundedSender<Message>,
    outbox_receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("identity", &self.identity)
            .field("cache", &self.cache)
            .field("bus", &self.bus)
            .field("shared", &self.shared)
            .finish()
    }
}

impl Cluster {
    /// A server alone: in-process cache and locks, no bus.
    pub fn local() -> Cluster {
        let config = infrahub_cache::CacheConfig::default();
        Cluster::new(CacheHandle::memory("", config.lock_lease), None, false)
    }

    fn new(cache: CacheHandle, bus: Option<Arc<dyn MessageBus>>, shared: bool) -> Cluster {
        let (outbox, receiver) = mpsc::unbounded_channel();
        Cluster {
            identity: uuid::Uuid::new_v4().to_string(),
            cache,
            bus,
            shared,
            outbox,
            outbox_receiver: std::sync::Mutex::new(Some(receiver)),
        }
    }

    /// Connects to the cache and the broker `settings` name.
    pub async fn connect(settings: &Settings) -> Result<Cluster, crate::server::ServeError> {
        let cache_config = cache_config(settings);
        let shared = cache_config.backend != infrahub_cache::CacheBackend::Memory;
        if shared {
            tracing::info!(
                driver = settings.cache.driver.as_str(),
                address = %format!("{}:{}", cache_config.address, cache_config.port),
                "connecting to the cache"
            );
        }
        let cache = infrahub_cache::connect(&cache_config)
            .await
            .map_err(|e| crate::server::backend("cache", e))?;
        let bus = match bus_config(settings) {
            Some(config) => {
                tracing::info!(
                    driver = settings.broker.driver.as_str(),
                    endpoint = %config.endpoint(),
                    "connecting to the message broker"
                );
                Some(
                    infrahub_bus::connect(&config)
                        .await
                        .map_err(|e| crate::server::backend("message broker", e))?,
                )
            }
            None => None,
        };
        Ok(Cluster::new(cache, bus, shared))
    }

    /// The message bus shared with the deployment's other processes, if there is a broker.
    pub fn bus(&self) -> Option<&Arc<dyn MessageBus>> {
        self.bus.as_ref()
    }

    /// This process's identity (upstream's `WORKER_IDENTITY`).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The cache and locks.
    pub fn cache(&self) -> &CacheHandle {
        &self.cache
    }

    /// Whether the cache is shared with other processes (its locks are then given to the
    /// engine).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Queues the broadcast that credentials changed (a no-op without a bus).
    pub(crate) fn credentials_changed(&self) {
        if self.bus.is_some() {
            self.send(&CredentialsChanged {});
        }
    }

    fn send<T: BusMessage>(&self, body: &T) {
        let meta = Meta {
            initiator_id: Some(self.identity.clone()),
            ..Meta::default()
        };
        match Message::encode(body, meta) {
            Ok(message) => {
                let _ = self.outbox.send(message);
            }
            Err(error) => tracing::error!(%error, "encoding a broadcast failed"),
        }
    }

    /// Starts the background work of `state`'s cluster: broadcasting the engine's registry
    /// changes, applying the other servers', the heartbeat and the safety-net refresh. The
    /// tasks end once `state` is dropped.
    pub(crate) fn start(state: &Arc<AppState>) {
        let cluster = &state.cluster;
        if cluster.bus.is_some() {
            let weak = Arc::downgrade(state);
            state.engine.observe_registry(Arc::new(move |change| {
                let Some(state) = weak.upgrade() else {
                    return;
                };
                match change {
                    RegistryChange::Rebased(branch) => state.cluster.send(&RebasedBranch {
                        branch: branch.clone(),
                    }),
                    other => state.cluster.send(&RefreshBranches {
                        branch: Some(other.branch().to_string()),
                    }),
                }
            }));
        }
        let receiver = cluster
            .outbox_receiver
            .lock()
            .ok()
            .and_then(|mut receiver| receiver.take());
        if let (Some(bus), Some(receiver)) = (cluster.bus.clone(), receiver) {
            tokio::spawn(send_broadcasts(Arc::downgrade(state), bus, receiver));
        }
        if let Some(bus) = cluster.bus.clone() {
            tokio::spawn(receive_broadcasts(Arc::downgrade(state), bus));
        }
        tokio::spawn(heartbeat(Arc::downgrade(state)));
    }

    /// Publishes this server's heartbeat and the schema hash of every branch it holds.
    pub(crate) async fn publish_status(&self, engine: &Engine) -> infrahub_cache::Result<()> {
        let cache = &self.cache.cache;
        let id = &self.identity;
        let now = infrahub_graph::Timestamp::now().to_string();
        cache
            .set(
                &format!("workers:active:{COMPONENT}:worker:{id}"),
                now.as_bytes(),
                SetOptions::ttl(ACTIVE_TTL),
            )
            .await?;
        cache
            .set(
                &format!("workers:worker:{id}"),
                now.as_bytes(),
                SetOptions::ttl(REGISTRATION_TTL),
            )
            .await?;
        for (branch, hash) in engine.schema_hashes() {
            cache
                .set(
                    &schema_hash_key(&branch, id),
                    hash.as_bytes(),
                    SetOptions::ttl(REGISTRATION_TTL),
                )
                .await?;
        }
        Ok(())
    }

    /// The API servers and workers the cache knows, with the schema hash each holds for
    /// `branch`, active ones first.
    pub async fn workers(&self, branch: &str) -> infrahub_cache::Result<Vec<WorkerStatus>> {
        let cache = &self.cache.cache;
        let keys = cache.keys_with_prefix("workers:").await?;
        let mut workers: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
        let hash_prefix = format!("workers:schema_hash:branch:{branch}:");
        let mut hash_keys = Vec::new();
        for key in &keys {
            let Some((_, id)) = key.rsplit_once(":worker:") else {
                continue;
            };
            let entry = workers.entry(id.to_string()).or_default();
            if key.starts_with("workers:active:") {
                entry.0 = true;
            } else if key.starts_with(&hash_prefix) {
                hash_keys.push((id.to_string(), key.clone()));
            }
        }
        let names: Vec<String> = hash_keys.iter().map(|(_, key)| key.clone()).collect();
        let values = cache.get_many(&names).await?;
        for ((id, _), value) in hash_keys.into_iter().zip(values) {
            if let (Some(entry), Some(value)) = (workers.get_mut(&id), value) {
                entry.1 = String::from_utf8(value).ok();
            }
        }
        let mut list: Vec<WorkerStatus> = workers
            .into_iter()
            .map(|(id, (active, schema_hash))| WorkerStatus {
                id,
                active,
                schema_hash,
            })
            .collect();
        list.sort_by(|a, b| b.active.cmp(&a.active).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }
}

/// Whether every active worker holds one and the same schema hash (upstream's
/// `schema_hash_synced`).
pub fn schema_hash_synced(workers: &[WorkerStatus]) -> bool {
    let mut hashes = workers
        .iter()
        .filter(|w| w.active)
        .map(|w| w.schema_hash.as_deref());
    match hashes.next() {
        Some(first) => hashes.all(|hash| hash == first),
        None => true,
    }
}

fn schema_hash_key(branch: &str, id: &str) -> String {
    format!("workers:schema_hash:branch:{branch}:{COMPONENT}:worker:{id}")
}

/// Sends the queued broadcasts, in order.
async fn send_broadcasts(
    state: Weak<AppState>,
    bus: Arc<dyn MessageBus>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(message) = receiver.recv().await {
        if let Err(error) = bus.broadcast(message).await {
            // The other servers catch up at their next safety-net refresh.
            tracing::warn!(%error, "broadcasting a registry change failed");
        }
        let Some(state) = state.upgrade() else {
            return;
        };
        if let Err(error) = state.cluster.publish_status(&state.engine).await {
            tracing::warn!(%error, "publishing the schema hashes failed");
        }
    }
}

/// Applies the registry changes and credential changes other servers broadcast; subscribes
/// again when the subscription ends (the bus gave up on a broker that went away), after
/// refreshing the whole registry since broadcasts may have been missed meanwhile.
async fn receive_broadcasts(state: Weak<AppState>, bus: Arc<dyn MessageBus>) {
    let mut resubscribing = false;
    loop {
        let mut subscription = match bus
            .subscribe(&["refresh.registry.*", "refresh.auth.*"])
            .await
        {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(%error, "subscribing to registry broadcasts failed; retrying");
                if state.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if resubscribing {
            let Some(state) = state.upgrade() else {
                return;
            };
            catch_up(&state).await;
        }
        while let Some(message) = subscription.next().await {
            let Some(state) = state.upgrade() else {
                return;
            };
            apply_broadcast(&state, &message).await;
        }
        if state.strong_count() == 0 {
            return;
        }
        tracing::warn!("the registry broadcast subscription ended; subscribing again");
        resubscribing = true;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The safety net of a deployment with a broker, run by one process each [`SAFETY_NET`]
/// (a schedule under the lock `schedule.registry-refresh`): it catches up itself and asks
/// every other process to, so that a lost broadcast costs at most one period, with one
/// process rather than each doing the work on its own clock.
pub(crate) async fn refresh_everywhere(state: &AppState) {
    catch_up(state).await;
    state.cluster.send(&RefreshBranches { branch: None });
    state.cluster.send(&CredentialsChanged {});
}

/// Reads every branch again and drops cached credentials: what a missed broadcast would
/// have done.
async fn catch_up(state: &AppState) {
    match state.engine.refresh_registry(None).await {
        Ok(refresh) if !refresh.is_empty() => {
            tracing::info!(?refresh, "registry refreshed from the store");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "refreshing the registry failed"),
    }
    state.auth_cache.invalidate();
}

/// Applies one broadcast; messages this server sent are skipped.
async fn apply_broadcast(state: &AppState, message: &Message) {
    let own = |meta: &Meta| meta.initiator_id.as_deref() == Some(state.cluster.identity());
    let hint = match message.routing_key.as_str() {
        RefreshBranches::ROUTING_KEY => match message.decode::<RefreshBranches>() {
            Ok((meta, _)) if own(&meta) => return,
            Ok((_, body)) => body.branch,
            Err(error) => {
                tracing::warn!(%error, "ignoring a malformed registry broadcast");
                None
            }
        },
        RebasedBranch::ROUTING_KEY => match message.decode::<RebasedBranch>() {
            Ok((meta, _)) if own(&meta) => return,
            Ok((_, body)) => Some(body.branch),
            Err(error) => {
                tracing::warn!(%error, "ignoring a malformed registry broadcast");
                None
            }
        },
        CredentialsChanged::ROUTING_KEY => {
            if !matches!(message.decode::<CredentialsChanged>(), Ok((meta, _)) if own(&meta)) {
                state.auth_cache.invalidate();
            }
            return;
        }
        other => {
            tracing::debug!(routing_key = other, "ignoring an unknown broadcast");
            return;
        }
    };
    match state.engine.refresh_registry(hint.as_deref()).await {
        Ok(refresh) if !refresh.is_empty() => {
            tracing::info!(?refresh, "registry refreshed after a broadcast");
            if let Err(error) = state.cluster.publish_status(&state.engine).await {
                tracing::warn!(%error, "publishing the schema hashes failed");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "refreshing the registry failed"),
    }
}

/// Publishes the heartbeat every [`HEARTBEAT`]; a server sharing its database without a
/// broker also refreshes its registry and drops its cached credentials every [`SAFETY_NET`]
/// (with a broker, one process of the deployment asks every process to: see
/// [`refresh_everywhere`]).
async fn heartbeat(state: Weak<AppState>) {
    let mut ticks: u64 = 0;
    let every = SAFETY_NET.as_secs() / HEARTBEAT.as_secs();
    loop {
        {
            let Some(state) = state.upgrade() else {
                return;
            };
            if state.cluster.is_shared()
                && state.cluster.bus.is_none()
                && ticks > 0
                && ticks.is_multiple_of(every)
            {
                catch_up(&state).await;
            }
            if let Err(error) = state.cluster.publish_status(&state.engine).await {
                tracing::warn!(%error, "publishing the heartbeat failed");
            }
        }
        ticks += 1;
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// The cache configuration of `settings`.
fn cache_config(settings: &Settings) -> infrahub_cache::CacheConfig {
    let cache = &settings.cache;
    let backend = match cache.driver {
        _ if !cache.enable => infrahub_cache::CacheBackend::Memory,
        CacheDriver::Memory => infrahub_cache::CacheBackend::Memory,
        CacheDriver::Redis => infrahub_cache::CacheBackend::Redis,
        CacheDriver::Nats => infrahub_cache::CacheBackend::Nats,
    };
    infrahub_cache::CacheConfig {
        backend,
        address: cache.address.clone(),
        port: cache.service_port(),
        database: cache.database,
        username: cache.username.clone(),
        password: cache.password.expose().to_string(),
        tls: infrahub_cache::CacheTlsConfig {
            enabled: cache.tls_enabled,
            ca_file: cache.tls_ca_file.clone(),
            insecure: cache.tls_insecure,
        },
        ..infrahub_cache::CacheConfig::default()
    }
}

/// The bus configuration of `settings`, or `None` for a server without a bus (the
/// in-process driver, or the broker disabled).
pub(crate) fn bus_config(settings: &Settings) -> Option<infrahub_bus::BusConfig> {
    let broker = &settings.broker;
    let backend = match broker.driver {
        _ if !broker.enable => return None,
        BrokerDriver::Memory => return None,
        BrokerDriver::RabbitMq => infrahub_bus::BusBackend::Amqp,
        BrokerDriver::Nats => infrahub_bus::BusBackend::Nats,
    };
    Some(infrahub_bus::BusConfig {
        backend,
        address: broker.address.clone(),
        port: broker.service_port(),
        username: broker.username.clone(),
        password: broker.password.expose().to_string(),
        virtualhost: broker.virtualhost.clone(),
        namespace: broker.namespace.clone(),
        tls: infrahub_bus::BusTlsConfig {
            enabled: broker.tls_enabled,
            ca_file: broker.tls_ca_file.clone(),
            insecure: broker.tls_insecure,
        },
        maximum_message_retries: u32::try_from(broker.maximum_message_retries).unwrap_or(u32::MAX),
        maximum_concurrent_messages: u16::try_from(broker.maximum_concurrent_messages)
            .unwrap_or(u16::MAX)
            .max(1),
        ..infrahub_bus::BusConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, active: bool, hash: Option<&str>) -> WorkerStatus {
        WorkerStatus {
            id: id.into(),
            active,
            schema_hash: hash.map(Into::into),
        }
    }

    #[test]
    fn synced_when_every_active_worker_holds_one_hash() {
        assert!(schema_hash_synced(&[]));
        assert!(schema_hash_synced(&[
            worker("a", true, Some("h1")),
            worker("b", true, Some("h1")),
            worker("c", false, Some("old")),
        ]));
        assert!(!schema_hash_synced(&[
            worker("a", true, Some("h1")),
            worker("b", true, Some("h2")),
        ]));
        assert!(!schema_hash_synced(&[
            worker("a", true, Some("h1")),
            worker("b", true, None),
        ]));
    }

    /// A server state on `store` whose cluster uses `bus` (an in-process bus shared with the
    /// test, standing for the broker).
    async fn server_on(
        store: &Arc<dyn infrahub_graph::GraphStore>,
        bus: &Arc<dyn MessageBus>,
    ) -> Arc<AppState> {
        let options = infrahub_core::engine::EngineOptions {
            bcrypt_cost: 4,
            ..Default::default()
        };
        let engine = Engine::open(Arc::clone(store), options).await.unwrap();
        let mut cluster = Cluster::local();
        cluster.bus = Some(Arc::clone(bus));
        AppState::with_cluster(
            Settings::default(),
            "test".into(),
            Arc::new(engine),
            b"secret".to_vec(),
            Arc::new(object_store::memory::InMemory::new()),
            cluster,
            None,
        )
    }

    /// Two servers on one in-memory store and one in-process bus.
    async fn two_servers() -> (
        Arc<dyn infrahub_graph::GraphStore>,
        Arc<dyn MessageBus>,
        Arc<AppState>,
        Arc<AppState>,
    ) {
        let store: Arc<dyn infrahub_graph::GraphStore> =
            Arc::new(infrahub_graph::EmbeddedGraph::in_memory().unwrap());
        let config = infrahub_bus::BusConfig {
            namespace: format!("cluster{}", uuid::Uuid::new_v4().simple()),
            ..infrahub_bus::BusConfig::default()
        };
        let bus: Arc<dyn MessageBus> = Arc::new(infrahub_bus::MemoryBus::new(&config).unwrap());
        let a = server_on(&store, &bus).await;
        let b = server_on(&store, &bus).await;
        (store, bus, a, b)
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        for _ in 0..250 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what} did not happen within 5 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registry_changes_reach_the_other_server_and_malformed_broadcasts_are_ignored() {
        let (_store, bus, a, b) = two_servers().await;
        // Let both subscriptions start.
        tokio::time::sleep(Duration::from_millis(100)).await;

        // Garbage on the subjects the servers listen to changes nothing and stops nothing.
        for (key, payload) in [
            ("refresh.registry.branches", b"not json".to_vec()),
            (
                "refresh.registry.rebased_branch",
                br#"{"version":1}"#.to_vec(),
            ),
            (
                "refresh.registry.branches",
                br#"{"version":99,"kind":"refresh.registry.branches","body":{}}"#.to_vec(),
            ),
            ("refresh.auth.credentials", vec![0xff; 4096]),
            ("refresh.registry.unknown", b"{}".to_vec()),
        ] {
            bus.broadcast(Message::new(key, payload)).await.unwrap();
        }

        let file = infrahub_core::schema::SchemaFile::from_yaml(
            "version: '1.0'\nnodes:\n  - name: Widget\n    namespace: Cluster\n",
            Some("cluster.yml"),
        )
        .unwrap();
        a.engine
            .load_schema("main", vec![file], false)
            .await
            .unwrap();
        eventually("B reads the schema A loaded", || {
            b.engine
                .schema("main")
                .is_ok_and(|schema| schema.get("ClusterWidget").is_some())
        })
        .await;
        a.engine
            .create_branch(infrahub_core::engine::BranchCreate {
                name: "from-a".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        eventually("B knows the branch A created", || {
            b.engine.schema("from-a").is_ok()
        })
        .await;
        a.engine.delete_branch("from-a").await.unwrap();
        eventually("B forgets the branch A deleted", || {
            b.engine.schema("from-a").is_err()
        })
        .await;

        // Each server has its own in-process cache here: each lists itself, with the hash
        // both now hold.
        let workers = a.cluster.workers("main").await.unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].id, a.cluster.identity());
        assert_eq!(workers[0].schema_hash, a.engine.schema_hash("main"));
        assert_eq!(a.engine.schema_hash("main"), b.engine.schema_hash("main"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_safety_net_of_one_process_brings_every_process_up_to_date() {
        let (store, _bus, a, b) = two_servers().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A branch written to the store behind both servers' backs: no broadcast tells them.
        store
            .create_branch(
                "behind-their-backs",
                infrahub_graph::CreateBranchOptions::default(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.engine.schema("behind-their-backs").is_err());
        assert!(b.engine.schema("behind-their-backs").is_err());
        // A's safety net (as its schedule runs it) brings both up to date.
        refresh_everywhere(&a).await;
        assert!(a.engine.schema("behind-their-backs").is_ok());
        eventually("B learns the branch from A's safety net", || {
            b.engine.schema("behind-their-backs").is_ok()
        })
        .await;
    }

    #[test]
    fn the_in_process_driver_has_no_bus_and_the_memory_cache() {
        let settings = Settings::default();
        assert!(bus_config(&settings).is_none());
        assert_eq!(
            cache_config(&settings).backend,
            infrahub_cache::CacheBackend::Memory
        );
        let mut settings = Settings::default();
        settings.broker.driver = BrokerDriver::RabbitMq;
        settings.broker.tls_enabled = true;
        let config = bus_config(&settings).expect("a bus");
        assert_eq!(config.port, 5671);
        assert!(config.tls.enabled);
        settings.broker.enable = false;
        assert!(bus_config(&settings).is_none());
    }
}
