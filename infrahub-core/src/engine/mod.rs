//! The node engine: creates, reads, queries, updates, upserts and deletes nodes of any kind of
//! a branch's schema, enforcing every rule of the schema, and keeps each branch's schema in
//! the graph store so that it branches and travels in time with the data.

mod branches;
mod core_refresh;
mod diff;
mod events;
mod filters;
mod input;
mod ipam;
mod ipam_usage;
mod links;
mod locks;
mod migrations;
mod mutate;
mod node;
mod pools;
mod profiles;
mod read;
mod registry;
mod schema_load;
mod seed;
mod written;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, CreateBranchOptions, GraphStore, NodeId, Op, Scope,
    Selection, Timestamp,
};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{ProcessOptions, SchemaBranch, core_schema};

pub use branches::{BranchCreate, BranchInfo, Conflict, validate_branch_name};
pub use diff::{
    ConflictDetails, DiffAction, DiffAttribute, DiffNode, DiffProperty, DiffRelationship,
    DiffSingleRelationship, DiffTree,
};
pub use events::{AttributeChange, Event, NodeEvent, RelationshipChange};
pub use filters::{QueryArgs, parse_filters};
pub use input::{
    AttributeInput, FILE_OBJECT, NodeInput, NodeRef, PeerInput, RelationshipInput, StoredFile,
};
pub use mutate::{ConversionField, Mutation};
pub use node::{Attribute, Node, Peer};
pub use pools::{Allocated, PoolAllocation, PoolInput, ResourceUtilization};
pub use read::{Fields, HierarchyWalk};
pub use registry::{RegistryChange, RegistryObserver, RegistryRefresh};
pub use schema_load::SchemaLoad;

/// Identifier of the store node that holds each branch's processed schema.
pub(crate) const SCHEMA_NODE: NodeId =
    uuid::Uuid::from_u128(0x0000_0000_0000_7000_8000_5343_4845_4d41);
/// Kind of that node (not a schema kind: never listed by queries).
pub(crate) const SCHEMA_NODE_KIND: &str = "InternalSchemaSnapshot";
const SCHEMA_ATTRIBUTE: &str = "snapshot";
/// Attribute of that node holding the snapshot's hash, so that a server sharing the store
/// learns whether its copy is current without reading the whole snapshot.
const SCHEMA_HASH_ATTRIBUTE: &str = "hash";

/// Engine settings. The `Debug` form hides the initial password and token.
#[derive(Clone)]
pub struct EngineOptions {
    /// Name of the default branch (`initial.default_branch`).
    pub default_branch: String,
    /// Password of the initial `admin` account (`initial.admin_password`).
    pub admin_password: Option<String>,
    /// API token of the initial `admin` account (`initial.admin_token`).
    pub admin_token: Option<String>,
    /// API token of the initial `agent` account (`initial.agent_token`); the account is
    /// created, as upstream, when this or `agent_password` is set.
    pub agent_token: Option<String>,
    /// Password of the initial `agent` account (`initial.agent_password`; a random one when
    /// only the token is set).
    pub agent_password: Option<String>,
    /// Schema strict mode (`main.schema_strict_mode`).
    pub strict_mode: bool,
    /// Largest page a query returns (`database.query_size_limit`).
    pub query_size_limit: usize,
    /// bcrypt cost for hashed passwords.
    pub bcrypt_cost: u32,
    /// The lock manager shared with the other servers and workers of the deployment (Redis or
    /// NATS), or `None` when this process is alone on its store: locks are then in-process
    /// only. With one, the engine also re-reads a branch's schema from the store before
    /// changing it, since another server may have changed it.
    pub locks: Option<Arc<dyn infrahub_cache::LockManager>>,
    /// How long a schema load, merge, IPAM write or pool allocation waits for its lock before
    /// failing as unavailable.
    pub lock_wait: std::time::Duration,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("EngineOptions")
            .field("default_branch", &self.default_branch)
            .field("admin_password", &hidden(&self.admin_password))
            .field("admin_token", &hidden(&self.admin_token))
            .field("agent_token", &hidden(&self.agent_token))
            .field("agent_password", &hidden(&self.agent_password))
            .field("strict_mode", &self.strict_mode)
            .field("query_size_limit", &self.query_size_limit)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("locks", &self.locks)
            .field("lock_wait", &self.lock_wait)
            .finish()
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            default_branch: "main".into(),
            admin_password: Some("infrahub".into()),
            admin_token: None,
            agent_token: None,
            agent_password: None,
            strict_mode: true,
            query_size_limit: 5000,
            bcrypt_cost: bcrypt::DEFAULT_COST,
            locks: None,
            lock_wait: std::time::Duration::from_secs(60),
        }
    }
}

/// Told, right after each committed node mutation, the branch and the kinds of the nodes it
/// created, changed or deleted (a kind may repeat; [`ANY_KIND`] after a merge into the default
/// branch, which may write nodes of any kind). Observers run on the committing task: they must
/// be quick (invalidate a cache, queue a message).
pub type CommitObserver = Arc<dyn Fn(&str, &[&str]) + Send + Sync>;

/// Told, right after each committed node mutation, the branch and the ids of the nodes it
/// created, changed, deleted, or linked or unlinked (an id may repeat). Merges and rebases are
/// not reported here (see [`CommitObserver`]). Observers run on the committing task: they must
/// be quick (queue the ids).
pub type ChangeObserver = Arc<dyn Fn(&str, &[NodeId]) + Send + Sync>;

tokio::task_local! {
    /// Set while [`unobserved`] runs its future.
    static UNOBSERVED: ();
}

/// Runs `future` with the node mutations it commits (on this task) kept from the
/// [`ChangeObserver`]s: for writes that follow from changes already reported (an artifact
/// rendered from changed data must not report its own writes as new changes).
pub async fn unobserved<F: std::future::Future>(future: F) -> F::Output {
    UNOBSERVED.scope((), future).await
}

/// The kind a [`CommitObserver`] is told when a commit may have written nodes of any kind.
pub const ANY_KIND: &str = "*";

/// A check every candidate schema of a load must pass before it is committed (the server
/// generates its GraphQL schema from it); the error is reported as the load's error.
pub type SchemaCheck = Arc<
    dyn Fn(&SchemaBranch) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Sync,
>;

/// The node engine over a graph store.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn GraphStore>,
    options: EngineOptions,
    schemas: RwLock<HashMap<String, Arc<SchemaBranch>>>,
    /// Past schemas by (branch, version timestamp), for time-travel reads.
    past_schemas: RwLock<HashMap<(String, Timestamp), Arc<SchemaBranch>>>,
    /// The initial admin password, hashed after the first start returned (see [`Engine::settle`]).
    pending_password: tokio::sync::Mutex<Option<PendingPassword>>,
    /// The in-process side of every named lock (see the `locks` module).
    branch_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where resource pools start looking for free space (see the `pools` module): hints
    /// only, rebuilt by searching when missing.
    pool_hints: std::sync::Mutex<HashMap<String, (Option<crate::ipam::IpNet>, i128)>>,
    /// Numbers freed (their node deleted) below the search hints of the number pools serving
    /// a kind (or generic) and attribute, by those: hints too, see the `pools` module.
    freed_numbers: std::sync::Mutex<HashMap<(String, String), std::collections::BTreeSet<i64>>>,
    /// Checks of candidate schemas, see [`Engine::add_schema_check`].
    schema_checks: RwLock<Vec<NamedCheck>>,
    /// See [`Engine::observe_commits`].
    commit_observers: RwLock<Vec<Observer>>,
    /// See [`Engine::observe_changes`].
    change_observers: RwLock<Vec<ChangeObserverEntry>>,
    /// The hash of each branch's schema in `schemas` (hashing a schema walks every model).
    schema_hashes: std::sync::Mutex<HashMap<String, String>>,
    /// See [`Engine::observe_registry`].
    registry_observers: RwLock<Vec<registry::RegistryObserverEntry>>,
}

/// A [`CommitObserver`] with a `Debug` form.
struct Observer(CommitObserver);

struct ChangeObserverEntry(ChangeObserver);

impl std::fmt::Debug for ChangeObserverEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeObserver")
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitObserver")
    }
}

/// A [`SchemaCheck`] with a `Debug` form.
struct NamedCheck(SchemaCheck);

impl std::fmt::Debug for NamedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaCheck")
    }
}

/// A password to hash and store on an account.
struct PendingPassword {
    account: NodeId,
    password: String,
}

impl std::fmt::Debug for PendingPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPassword")
            .field("account", &self.account)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Stored as the initial admin's password until its hash is computed: a value no password
/// verifies against.
const PENDING_HASH: &str = "$2b$pending-initial-password";

impl Engine {
    /// Opens the engine on `store`. An empty store is initialised: default branch, built-in
    /// schema, the `admin` account (with `options.admin_password` and `options.admin_token`),
    /// the seeded roles and groups and the default IP namespace. Otherwise each branch's schema
    /// is loaded from the store and the data migrations the store has not had yet run (a store
    /// written by a newer version is refused).
    pub async fn open(store: Arc<dyn GraphStore>, options: EngineOptions) -> Result<Engine> {
        let engine = Engine {
            store,
            options,
            schemas: RwLock::new(HashMap::new()),
            past_schemas: RwLock::new(HashMap::new()),
            pending_password: tokio::sync::Mutex::new(None),
            branch_locks: std::sync::Mutex::new(HashMap::new()),
            pool_hints: std::sync::Mutex::new(HashMap::new()),
            freed_numbers: std::sync::Mutex::new(HashMap::new()),
            schema_checks: RwLock::new(Vec::new()),
            commit_observers: RwLock::new(Vec::new()),
            change_observers: RwLock::new(Vec::new()),
            schema_hashes: std::sync::Mutex::new(HashMap::new()),
            registry_observers: RwLock::new(Vec::new()),
        };
        // Servers starting together on one shared store initialise or migrate it once.
        let init = engine
            .named_lock_waiting(locks::INIT_LOCK, locks::INIT_WAIT)
            .await?;
        let branches = engine.store.list_branches().await?;
        if branches.is_empty() {
            engine.initialise().await?;
        } else {
            for branch in branches {
                engine.reload_schema(&branch.name).await?;
            }
            engine.migrate().await?;
            engine.refresh_core_schema().await?;
            engine.find_pending_password().await?;
        }
        drop(init);
        Ok(engine)
    }

    /// Finishes what the first start left to do: hashing the initial admin password (bcrypt
    /// takes a quarter of a second, so the first start does not wait for it). Password checks
    /// call this first; it returns at once when nothing is pending.
    pub async fn settle(&self) -> Result<()> {
        let mut pending = self.pending_password.lock().await;
        let Some(work) = pending.as_ref() else {
            return Ok(());
        };
        let hash = mutate::hash_password(work.password.clone(), self.options.bcrypt_cost).await?;
        let mut input = NodeInput {
            id: Some(work.account.to_string()),
            ..NodeInput::default()
        };
        input.attributes.insert(
            "password".into(),
            AttributeInput::value(Value::String(hash)),
        );
        self.update(&self.options.default_branch, "CoreAccount", input)
            .await?;
        *pending = None;
        Ok(())
    }

    /// Runs [`Engine::settle`] in the background.
    pub fn settle_in_background(self: &Arc<Self>) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = engine.settle().await {
                tracing::error!(%error, "storing the initial admin password failed");
            }
        });
    }

    /// After a first start interrupted before the admin password was stored, finds the
    /// admin account still holding the placeholder.
    async fn find_pending_password(&self) -> Result<()> {
        let Some(password) = self.options.admin_password.clone() else {
            return Ok(());
        };
        let mut args = QueryArgs::default();
        args.filters
            .insert("password__value".into(), Value::String(PENDING_HASH.into()));
        let fields = Fields::minimal();
        let view = BranchView::now(&self.options.default_branch);
        let (found, _) = self.query(&view, "CoreAccount", &args, &fields).await?;
        if let Some(account) = found.first() {
            *self.pending_password.lock().await = Some(PendingPassword {
                account: account.id,
                password,
            });
        }
        Ok(())
    }

    /// Adds a check that every candidate schema of a later load (or check) must pass; a
    /// failing check refuses the load with its message and changes nothing.
    pub fn add_schema_check(&self, check: SchemaCheck) {
        if let Ok(mut checks) = self.schema_checks.write() {
            checks.push(NamedCheck(check));
        }
    }

    /// Adds an observer told of every committed node mutation (see [`CommitObserver`]).
    pub fn observe_commits(&self, observer: CommitObserver) {
        if let Ok(mut observers) = self.commit_observers.write() {
            observers.push(Observer(observer));
        }
    }

    /// Adds an observer told of the nodes every committed node mutation wrote (see
    /// [`ChangeObserver`]).
    pub fn observe_changes(&self, observer: ChangeObserver) {
        if let Ok(mut observers) = self.change_observers.write() {
            observers.push(ChangeObserverEntry(observer));
        }
    }

    /// Whether anyone observes changes (collecting the ids costs a walk of the changeset).
    pub(crate) fn changes_observed(&self) -> bool {
        if UNOBSERVED.try_with(|()| ()).is_ok() {
            return false;
        }
        self.change_observers
            .read()
            .map(|observers| !observers.is_empty())
            .unwrap_or(false)
    }

    pub(crate) fn notify_changes(&self, branch: &str, ids: &[NodeId]) {
        if ids.is_empty() {
            return;
        }
        if let Ok(observers) = self.change_observers.read() {
            for ChangeObserverEntry(observer) in observers.iter() {
                observer(branch, ids);
            }
        }
    }

    pub(crate) fn notify_commit(&self, branch: &str, kinds: &[&str]) {
        if let Ok(observers) = self.commit_observers.read() {
            for Observer(observer) in observers.iter() {
                observer(branch, kinds);
            }
        }
    }

    /// Runs the checks added by [`Engine::add_schema_check`] on `candidate`.
    pub(crate) fn run_schema_checks(&self, candidate: &SchemaBranch) -> Result<()> {
        let checks = self
            .schema_checks
            .read()
            .map_err(|_| Error::new(ErrorKind::Internal, "schema checks poisoned"))?;
        for NamedCheck(check) in checks.iter() {
            check(candidate).map_err(|message| {
                Error::invalid_schema(vec![crate::schema::SchemaError::new(
                    None,
                    "",
                    format!("the schema cannot be served: {message}"),
                )])
            })?;
        }
        Ok(())
    }

    /// The graph store.
    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Name of the default branch.
    pub fn default_branch(&self) -> &str {
        &self.options.default_branch
    }

    pub(crate) fn process_options(&self) -> ProcessOptions {
        ProcessOptions {
            strict_mode: self.options.strict_mode,
        }
    }

    /// The current schema of `branch`.
    pub fn schema(&self, branch: &str) -> Result<Arc<SchemaBranch>> {
        self.schemas
            .read()
            .map_err(|_| Error::new(ErrorKind::Internal, "schema registry poisoned"))?
            .get(branch)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("branch `{branch}` not found")))
    }

    /// The schema a read through `view` uses: the branch's schema at that instant.
    pub async fn schema_for(&self, view: &BranchView) -> Result<Arc<SchemaBranch>> {
        let current = self.schema(&view.branch)?;
        let Some(at) = view.at else {
            return Ok(current);
        };
        let nodes = self
            .store
            .get_nodes(view, &[SCHEMA_NODE], &Selection::nothing())
            .await?;
        let Some(snapshot) = nodes.first() else {
            return Ok(current);
        };
        let version = snapshot.updated_at;
        let latest = self
            .store
            .get_nodes(
                &BranchView::now(&view.branch),
                &[SCHEMA_NODE],
                &Selection::nothing(),
            )
            .await?;
        if latest.first().is_some_and(|n| n.updated_at == version) {
            return Ok(current);
        }
        let key = (view.branch.clone(), version);
        if let Some(found) = self
            .past_schemas
            .read()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(found);
        }
        let schema = Arc::new(self.read_schema(&BranchView::at(&view.branch, at)).await?);
        if let Ok(mut cache) = self.past_schemas.write() {
            cache.insert(key, Arc::clone(&schema));
        }
        Ok(schema)
    }

    pub(crate) fn forget_schema(&self, branch: &str) {
        if let Ok(mut schemas) = self.schemas.write() {
            schemas.remove(branch);
        }
        if let Ok(mut hashes) = self.schema_hashes.lock() {
            hashes.remove(branch);
        }
    }

    /// Puts `schema` in the registry as `branch`'s.
    pub(crate) fn set_schema(&self, branch: &str, schema: SchemaBranch) {
        let hash = schema.hash();
        self.set_schema_hashed(branch, schema, hash);
    }

    /// [`Engine::set_schema`] when the schema's hash is known already (hashing walks every
    /// model).
    pub(crate) fn set_schema_hashed(&self, branch: &str, schema: SchemaBranch, hash: String) {
        if let Ok(mut schemas) = self.schemas.write() {
            schemas.insert(branch.to_string(), Arc::new(schema));
        }
        if let Ok(mut hashes) = self.schema_hashes.lock() {
            hashes.insert(branch.to_string(), hash);
        }
    }

    /// The hash of `branch`'s current schema, without hashing it again.
    pub fn schema_hash(&self, branch: &str) -> Option<String> {
        self.schema_hashes
            .lock()
            .ok()
            .and_then(|hashes| hashes.get(branch).cloned())
    }

    async fn read_schema(&self, view: &BranchView) -> Result<SchemaBranch> {
        let select = Selection {
            attributes: Some(vec![SCHEMA_ATTRIBUTE.to_string()]),
            links: Vec::new(),
        };
        let nodes = self.store.get_nodes(view, &[SCHEMA_NODE], &select).await?;
        let snapshot = nodes
            .first()
            .and_then(|n| n.attributes.get(SCHEMA_ATTRIBUTE))
            .map(|a| a.value.value.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Internal,
                    format!("branch `{}` has no stored schema", view.branch),
                )
            })?;
        SchemaBranch::from_snapshot(&snapshot)
    }

    /// Writes a branch's schema snapshot in the changeset being built.
    pub(crate) fn schema_ops(schema: &SchemaBranch, create: bool) -> Vec<Op> {
        let mut ops = Vec::new();
        if create {
            ops.push(Op::CreateNode {
                id: SCHEMA_NODE,
                kind: SCHEMA_NODE_KIND.into(),
                labels: vec![SCHEMA_NODE_KIND.into()],
                scope: Scope::Branch,
            });
        }
        ops.push(Op::SetAttribute {
            node: SCHEMA_NODE,
            name: SCHEMA_ATTRIBUTE.into(),
            value: AttributeValue::new(schema.to_snapshot()),
            scope: Scope::Branch,
            indexed: false,
        });
        ops.push(Op::SetAttribute {
            node: SCHEMA_NODE,
            name: SCHEMA_HASH_ATTRIBUTE.into(),
            value: AttributeValue::new(Value::String(schema.hash())),
            scope: Scope::Branch,
            indexed: false,
        });
        ops
    }

    async fn initialise(&self) -> Result<()> {
        let main = self.options.default_branch.clone();
        let mut properties = serde_json::Map::new();
        properties.insert(
            migrations::GRAPH_VERSION_PROPERTY.into(),
            Value::from(migrations::GRAPH_VERSION),
        );
        self.store
            .create_branch(
                &main,
                CreateBranchOptions {
                    is_default: true,
                    properties,
                },
            )
            .await?;
        let mut schema = core_schema(&self.process_options()).map_err(Error::invalid_schema)?;
        schema.assign_ids();
        let mut changeset = Changeset::new(&main);
        changeset.ops = Engine::schema_ops(&schema, true);
        self.store.commit(changeset).await?;
        self.set_schema(&main, schema);
        self.create_initial_data(&main).await
    }

    async fn create_initial_data(&self, branch: &str) -> Result<()> {
        let text = |v: &str| AttributeInput::value(Value::String(v.to_string()));
        let mut account = NodeInput::default();
        account.attributes.insert("name".into(), text("admin"));
        account.attributes.insert("label".into(), text("Admin"));
        account
            .attributes
            .insert("account_type".into(), text("User"));
        account.attributes.insert("status".into(), text("active"));
        if self.options.admin_password.is_some() {
            // Hashed by `settle`, after the first start returned.
            account
                .attributes
                .insert("password".into(), text(PENDING_HASH));
        }
        let admin = self.create(branch, "CoreAccount", account).await?;
        if let Some(password) = self.options.admin_password.clone() {
            *self.pending_password.lock().await = Some(PendingPassword {
                account: admin.node.id,
                password,
            });
        }
        if let Some(token) = &self.options.admin_token {
            let mut input = NodeInput::default();
            input.attributes.insert("name".into(), text("admin token"));
            input.attributes.insert("token".into(), text(token));
            input.relationships.insert(
                "account".into(),
                RelationshipInput::One(Some(PeerInput::id(admin.node.id.to_string()))),
            );
            self.create(branch, "InternalAccountToken", input).await?;
        }
        let mut administrators = vec![admin.node.id];
        if self.options.agent_token.is_some() || self.options.agent_password.is_some() {
            // As upstream: an `agent` account for workers and automation, with the agent
            // token, among the super administrators.
            let password = self
                .options
                .agent_password
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let hash = mutate::hash_password(password, self.options.bcrypt_cost).await?;
            let mut agent = NodeInput::default();
            agent.attributes.insert("name".into(), text("agent"));
            agent.attributes.insert("label".into(), text("Agent"));
            agent.attributes.insert("account_type".into(), text("User"));
            agent.attributes.insert("status".into(), text("active"));
            agent.attributes.insert("password".into(), text(&hash));
            let agent = self.create(branch, "CoreAccount", agent).await?;
            if let Some(token) = &self.options.agent_token {
                let mut input = NodeInput::default();
                input.attributes.insert("name".into(), text("agent token"));
                input.attributes.insert("token".into(), text(token));
                input.relationships.insert(
                    "account".into(),
                    RelationshipInput::One(Some(PeerInput::id(agent.node.id.to_string()))),
                );
                self.create(branch, "InternalAccountToken", input).await?;
            }
            administrators.push(agent.node.id);
        }
        self.seed_roles(branch, &administrators).await?;
        let mut namespace = NodeInput::default();
        namespace.attributes.insert("name".into(), text("default"));
        namespace
            .attributes
            .insert("default".into(), AttributeInput::value(Value::Bool(true)));
        self.create_as(branch, "IpamNamespace", namespace, true)
            .await?;
        Ok(())
    }
}
