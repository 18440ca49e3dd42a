//! The embedded backend: an in-process, durable store built on `redb` with a write-ahead
//! journal. See `docs/adr/0001-embedded-store.md` for the design and its measurements.

mod branches;
mod codec;
mod counters;
mod flusher;
mod journal;
mod keys;
mod orders;
mod query;
mod read;
mod registry;
mod tables;
mod view;
mod write;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

use crate::branch::{BranchRecord, BranchView, CreateBranchOptions};
use crate::change::{BranchOperation, Change, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{NodeData, NodeId, Slot, Version};
use crate::query::{NodeQuery, QueryResult, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

use registry::Registry;
use tables::{Table, storage};
use writer::{Command, LAST_TS, WriterState, replay_journal};

/// Most candidates a lookup may have to run on the calling thread.
const INLINE_LOOKUP: usize = 16;

/// Options of the embedded backend.
#[derive(Clone, Debug)]
pub struct EmbeddedGraphOptions {
    /// Page cache of the database, in bytes (default 256 MiB).
    pub cache_size: usize,
}

impl Default for EmbeddedGraphOptions {
    fn default() -> Self {
        EmbeddedGraphOptions {
            cache_size: 256 << 20,
        }
    }
}

/// The embedded graph store.
///
/// Writes go through one writer thread that groups concurrent changesets into one
/// transaction and one journal sync; an acknowledged changeset is on disk. Reads use
/// snapshots and never wait for the writer.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infrahub_graph::{
///     AttributeValue, BranchView, Changeset, CreateBranchOptions, EmbeddedGraph, GraphStore, Op, Scope, Selection,
///     new_node_id,
/// };
///
/// let store = EmbeddedGraph::in_memory().unwrap();
/// store.create_branch("main", CreateBranchOptions { is_default: true, ..Default::default() }).await.unwrap();
/// let id = new_node_id();
/// let mut changeset = Changeset::new("main");
/// changeset.push(Op::CreateNode { id, kind: "InfraSite".into(), labels: vec![], scope: Scope::Branch });
/// changeset.push(Op::SetAttribute {
///     node: id,
///     name: "name".into(),
///     value: AttributeValue::new("paris".into()),
///     scope: Scope::Branch,
///     indexed: true,
/// });
/// store.commit(changeset).await.unwrap();
/// let nodes = store.get_nodes(&BranchView::now("main"), &[id], &Selection::all_attributes()).await.unwrap();
/// assert_eq!(nodes[0].attributes["name"].value.value, "paris");
/// # });
/// ```
#[derive(Clone)]
pub struct EmbeddedGraph {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<RwLock<Registry>>,
    commands: Mutex<Option<Sender<Command>>>,
    /// Writes acknowledged but not yet in the database (see [`tables::Memtable`]).
    memtable: Arc<flusher::Shared>,
    /// The writer thread, joined on drop so that the database is closed when the last handle
    /// goes (a new handle on the same directory can open it right after).
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    last_ts: Arc<AtomicI64>,
    location: String,
    /// Whole orderings of listings, for the pages after the first.
    orders: orders::OrderCache,
}

impl Inner {
    /// Stops taking writes and waits for the writer thread, which checkpoints every
    /// acknowledged write into the database and stops the flusher.
    fn stop_writer(&self) {
        if let Ok(mut commands) = self.commands.lock() {
            commands.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the embedded store writer thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

impl std::fmt::Debug for EmbeddedGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedGraph")
            .field("location", &self.inner.location)
            .finish()
    }
}

/// What a read sees: the database at one instant under the writes acknowledged but not yet
/// moved into it.
pub(crate) struct Snapshot {
    memtable: Arc<tables::Memtable>,
    tables: Arc<flusher::DbSnapshot>,
}

impl Snapshot {
    /// What tells the content of this snapshot (see [`tables::Memtable::content`]).
    fn content(&self) -> u64 {
        self.memtable.content()
    }
}

impl tables::Kv for Snapshot {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.memtable.over(&**self.tables).get(table, key)
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.memtable
            .over(&**self.tables)
            .scan(table, start, end, reverse, visit)
    }
}

/// Creates directory `path` (and its parents) if needed, readable by its owner only.
fn private_dir(path: &Path) -> Result<()> {
    let error = |e| Error::storage(format!("creating `{}`", path.display()), e);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(error)?;
    }
    Ok(())
}

/// Makes file `path` readable and writable by its owner only.
fn private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::storage(format!("restricting `{}`", path.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl EmbeddedGraph {
    /// Opens (or creates) a store in directory `path`. Writes not yet checkpointed into the
    /// database are replayed from the journal; nothing else is scanned.
    pub fn open(path: &Path, options: EmbeddedGraphOptions) -> Result<Self> {
        private_dir(path)?;
        let db = Database::builder()
            .set_cache_size(options.cache_size)
            .create(path.join("graph.redb"))
            .map_err(|e| storage("opening the database", e))?;
        private_file(&path.join("graph.redb"))?;
        let (journal, records) = journal::Journal::open(&path.join("graph.journal"))?;
        let reopen = flusher::Reopen {
            path: path.join("graph.redb"),
            cache_size: options.cache_size,
        };
        Self::start(
            db,
            Some((journal, records)),
            path.display().to_string(),
            Some(reopen),
        )
    }

    /// Closes the store: writes stop being taken, every acknowledged write is checkpointed
    /// into the database, the writer and flusher threads stop, and the database file is
    /// released once reads in progress finish, so that the directory can be opened again at
    /// once. Every handle of the store (clones share it) then answers reads and writes with an
    /// error saying it is closed. Dropping the last handle closes the store too, but handles
    /// held elsewhere (a task still running) keep it open until they go; `close` does not wait
    /// for them.
    ///
    /// # Errors
    ///
    /// Reads still held the database after 10 seconds (the store then keeps answering reads
    /// and refuses writes); closing the database file failed.
    pub async fn close(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            inner.stop_writer();
            inner.memtable.close()
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Storage, format!("closing the store: {e}")))?
    }

    /// A store kept in memory only (tests and throwaway use).
    pub fn in_memory() -> Result<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| storage("creating an in-memory database", e))?;
        Self::start(db, None, "memory".to_string(), None)
    }

    fn start(
        db: Database,
        journal: Option<(journal::Journal, Vec<journal::JournalRecord>)>,
        location: String,
        reopen: Option<flusher::Reopen>,
    ) -> Result<Self> {
        let db = Arc::new(db);
        // Create the tables, and replay journal records newer than the last checkpoint.
        let (journal, seq) = match journal {
            Some((mut journal, records)) => {
                let (seq, replayed) = replay_journal(&db, records)?;
                if replayed > 0 {
                    tracing::info!(replayed, "replayed journal records of the embedded store");
                }
                journal.reset()?;
                (Some(journal), seq)
            }
            None => (None, replay_journal(&db, Vec::new())?.0),
        };
        let (registry, last_ts) = {
            let read = db.begin_read().map_err(|e| storage("starting a read", e))?;
            let branches = read
                .open_table(Table::Branches.definition())
                .map_err(|e| storage("opening branches", e))?;
            let mut registry = Registry::default();
            for entry in branches
                .iter()
                .map_err(|e| storage("reading branches", e))?
            {
                let (_, value) = entry.map_err(|e| storage("reading branches", e))?;
                registry.insert(branches::decode_branch(value.value())?);
            }
            let meta = read
                .open_table(Table::Meta.definition())
                .map_err(|e| storage("opening meta", e))?;
            let last_ts = meta
                .get(LAST_TS)
                .map_err(|e| storage("reading meta", e))?
                .and_then(|v| v.value().try_into().ok().map(i64::from_be_bytes))
                .unwrap_or(i64::MIN);
            (registry, last_ts)
        };
        let registry = Arc::new(RwLock::new(registry));
        let last_ts = Arc::new(AtomicI64::new(last_ts));
        let (sender, receiver) = channel();
        // The shared slot holds the only handle on the database (see `flusher::Shared`).
        let memtable = Arc::new(flusher::Shared::new(db, reopen));
        let (flush_requests, flush_receiver) = channel();
        let flusher_state = flusher::Flusher {
            shared: Arc::clone(&memtable),
            journaled: journal.is_some(),
        };
        let flusher = std::thread::Builder::new()
            .name("infrahub-graph-flusher".into())
            .spawn(move || flusher_state.run(flush_receiver))
            .map_err(|e| Error::storage("starting the flusher thread", e))?;
        let state = WriterState {
            shared: Arc::clone(&memtable),
            flush_requests: Some(flush_requests),
            flusher: Some(flusher),
            journal,
            registry: Arc::clone(&registry),
            last_ts: Arc::clone(&last_ts),
            last_assigned: last_ts.load(Ordering::Acquire),
            seq,
            last_checkpoint: Instant::now(),
            recent_batches: std::collections::VecDeque::new(),
            counters: counters::CountCache::default(),
            last_recovery: None,
        };
        let writer = std::thread::Builder::new()
            .name("infrahub-graph-writer".into())
            .spawn(move || state.run(receiver))
            .map_err(|e| Error::storage("starting the writer thread", e))?;
        Ok(EmbeddedGraph {
            inner: Arc::new(Inner {
                registry,
                commands: Mutex::new(Some(sender)),
                memtable,
                writer: Mutex::new(Some(writer)),
                last_ts,
                location,
                orders: orders::OrderCache::default(),
            }),
        })
    }

    fn registry(&self) -> Result<Registry> {
        self.inner
            .registry
            .read()
            .map(|r| r.clone())
            .map_err(|_| Error::new(ErrorKind::Storage, "branch registry poisoned"))
    }

    /// A consistent view for one read (see [`flusher::Shared::view`]).
    fn snapshot(&self) -> Result<Snapshot> {
        let (memtable, tables) = self.inner.memtable.view()?;
        Ok(Snapshot { memtable, tables })
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        {
            let commands = self
                .inner
                .commands
                .lock()
                .map_err(|_| Error::new(ErrorKind::Storage, "writer channel poisoned"))?;
            commands
                .as_ref()
                .ok_or_else(|| Error::new(ErrorKind::Storage, "the embedded store is closed"))?
                .send(make(reply))
                .map_err(|_| {
                    Error::new(ErrorKind::Storage, "the embedded store writer has stopped")
                })?;
        }
        answer.await.map_err(|_| {
            Error::new(
                ErrorKind::Storage,
                "the embedded store writer dropped a request",
            )
        })?
    }

    /// Runs a read on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Snapshot, &Registry) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let registry = store.registry()?;
            let tables = store.snapshot()?;
            work(&tables, &registry)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Storage, format!("read task failed: {e}")))?
    }

    /// Reads nodes by id on the calling thread (a few microseconds per node).
    pub fn get_nodes_blocking(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>> {
        let registry = self.registry()?;
        let spec = registry.view(view)?;
        let tables = self.snapshot()?;
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(node) = read::load_node(&tables, &spec, &registry, *id, select)? {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    /// Runs a query on the calling thread.
    pub fn query_blocking(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
        let registry = self.registry()?;
        let spec = registry.view(view)?;
        let tables = self.snapshot()?;
        let orders = Some((&self.inner.orders, tables.content()));
        query::run(&tables, &spec, &registry, query, orders)
    }

    /// Counts on the calling thread.
    pub fn count_blocking(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
        let registry = self.registry()?;
        let spec = registry.view(view)?;
        let tables = self.snapshot()?;
        query::count(&tables, &spec, query)
    }

    /// Enumerates changes on the calling thread.
    pub fn changes_blocking(
        &self,
        branch: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Change>> {
        let registry = self.registry()?;
        let tables = self.snapshot()?;
        branches::changes(&tables, &registry, branch, from, to)
    }
}

#[async_trait]
impl GraphStore for EmbeddedGraph {
    async fn create_branch(
        &self,
        name: &str,
        options: CreateBranchOptions,
    ) -> Result<BranchRecord> {
        let name = name.to_string();
        self.send(|reply| Command::CreateBranch(name, options, reply))
            .await
    }

    async fn get_branch(&self, name: &str) -> Result<BranchRecord> {
        Ok(self.registry()?.get(name)?.record.clone())
    }

    async fn list_branches(&self) -> Result<Vec<BranchRecord>> {
        Ok(self.registry()?.list())
    }

    async fn update_branch(
        &self,
        name: &str,
        properties: serde_json::Map<String, serde_json::Value>,
    ) -> Result<BranchRecord> {
        let name = name.to_string();
        self.send(|reply| Command::UpdateBranch(name, properties, reply))
            .await
    }

    async fn delete_branch(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.send(|reply| Command::DeleteBranch(name, reply)).await
    }

    async fn commit(&self, changeset: Changeset) -> Result<Commit> {
        self.send(|reply| Command::Commit(changeset, reply)).await
    }

    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>> {
        // Small reads are cheaper inline than on a blocking thread.
        if ids.len() <= 16 {
            return self.get_nodes_blocking(view, ids, select);
        }
        let (view, ids, select) = (view.clone(), ids.to_vec(), select.clone());
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.get_nodes_blocking(&view, &ids, &select))
            .await
            .map_err(|e| Error::new(ErrorKind::Storage, format!("read task failed: {e}")))?
    }

    async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
        // A lookup with few candidates (by id, hfid or unique value) takes microseconds: it
        // runs on the calling thread, where a hand-off to a blocking thread would cost more.
        {
            let tables = self.snapshot()?;
            if query::is_small_lookup(&tables, query, INLINE_LOOKUP)? {
                let registry = self.registry()?;
                let orders = Some((&self.inner.orders, tables.content()));
                return query::run(&tables, &registry.view(view)?, &registry, query, orders);
            }
        }
        let (view, query) = (view.clone(), query.clone());
        let store = self.clone();
        self.read(move |tables, registry| {
            let orders = Some((&store.inner.orders, tables.content()));
            query::run(tables, &registry.view(&view)?, registry, &query, orders)
        })
        .await
    }

    async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
        // Counts of one label without filters come from the counters, and small lookups are
        // quick: both run on the calling thread, like small queries.
        {
            let tables = self.snapshot()?;
            if (query.filters.is_empty() && query.labels.len() == 1)
                || query::is_small_lookup(&tables, query, INLINE_LOOKUP)?
            {
                let registry = self.registry()?;
                return query::count(&tables, &registry.view(view)?, query);
            }
        }
        let (view, query) = (view.clone(), query.clone());
        self.read(move |tables, registry| query::count(tables, &registry.view(&view)?, &query))
            .await
    }

    async fn changes(&self, branch: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Change>> {
        let branch = branch.to_string();
        self.read(move |tables, registry| branches::changes(tables, registry, &branch, from, to))
            .await
    }

    async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>> {
        self.read(move |tables, registry| branches::history(tables, registry, id))
            .await
    }

    async fn merge_branch(&self, branch: &str, options: MergeOptions) -> Result<BranchOperation> {
        let branch = branch.to_string();
        self.send(|reply| Command::Merge(branch, options, reply))
            .await
    }

    async fn rebase_branch(&self, branch: &str, options: RebaseOptions) -> Result<BranchOperation> {
        let branch = branch.to_string();
        self.send(|reply| Command::Rebase(branch, options, reply))
            .await
    }

    async fn last_commit(&self) -> Result<Timestamp> {
        Ok(Timestamp::from_micros(
            self.inner.last_ts.load(Ordering::Acquire),
        ))
    }
}

#[cfg(test)]
mod conformance_tests {
    //! The conformance suite, run against the in-memory embedded store.

    use std::sync::Arc;

    use super::EmbeddedGraph;
    use crate::conformance;
    use crate::store::GraphStore;

    fn store() -> Arc<dyn GraphStore> {
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("in-memory store: {e}")))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn default_branch_first() {
        conformance::default_branch_first(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn branch_lifecycle() {
        conformance::branch_lifecycle(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn branch_deletion() {
        conformance::branch_deletion(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn branch_isolation() {
        conformance::branch_isolation(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn time_travel() {
        conformance::time_travel(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn branch_shadowing() {
        conformance::branch_shadowing(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_and_recreate() {
        conformance::delete_and_recreate(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_kind() {
        conformance::change_kind(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn global_data() {
        conformance::global_data(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_data_not_merged() {
        conformance::local_data_not_merged(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merge_results() {
        conformance::merge_results(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rebase_results() {
        conformance::rebase_results(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_enumeration() {
        conformance::change_enumeration(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn history() {
        conformance::history(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_filters() {
        conformance::query_filters(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_ordering() {
        conformance::query_ordering(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_pagination() {
        conformance::query_pagination(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn selections() {
        conformance::selections(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn link_sides() {
        conformance::link_sides(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn atomicity() {
        conformance::atomicity(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conditions() {
        conformance::conditions(store().as_ref()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_and_readers() {
        conformance::concurrent_writers_and_readers(store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_unique_creates() {
        conformance::concurrent_unique_creates(store()).await;
    }
}

#[cfg(test)]
mod memtable_tests {
    //! Acknowledged writes live in the memtable until the writer moves them into the database:
    //! reads see them the same way before and after, and across a reopen.

    use std::time::Duration;

    use serde_json::json;

    use super::{EmbeddedGraph, EmbeddedGraphOptions};
    use crate::branch::{BranchView, CreateBranchOptions};
    use crate::changeset::{Changeset, Op};
    use crate::model::{AttributeValue, NodeId, Scope};
    use crate::query::{Filter, Match, NodeQuery, Property, Selection};
    use crate::store::GraphStore;

    async fn values(store: &EmbeddedGraph, ids: &[NodeId]) -> Vec<serde_json::Value> {
        store
            .get_nodes(&BranchView::now("main"), ids, &Selection::all_attributes())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|n| n.attributes["number"].value.value.clone())
            .collect()
    }

    async fn found(store: &EmbeddedGraph, number: u64) -> usize {
        let query = NodeQuery {
            labels: vec!["Thing".into()],
            filters: vec![Filter::Attribute {
                name: "number".into(),
                property: Property::Value,
                matches: Match::Equals(json!(number)),
            }],
            ..NodeQuery::default()
        };
        store
            .query(&BranchView::now("main"), &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .nodes
            .len()
    }

    /// Adds to `changeset` a `Thing` node `id` with one indexed attribute.
    pub(super) fn push_thing(
        changeset: &mut Changeset,
        id: NodeId,
        name: &str,
        value: serde_json::Value,
    ) {
        changeset.push(Op::CreateNode {
            id,
            kind: "Thing".into(),
            labels: vec!["Thing".into()],
            scope: Scope::Branch,
        });
        changeset.push(Op::SetAttribute {
            node: id,
            name: name.into(),
            value: AttributeValue::new(value),
            scope: Scope::Branch,
            indexed: true,
        });
    }

    /// Creates the default branch `main`.
    pub(super) async fn create_main(store: &EmbeddedGraph) {
        store
            .create_branch(
                "main",
                CreateBranchOptions {
                    is_default: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits until the memtable has been moved into the database, which the flusher does by
    /// itself once writes stop (a checkpoint would too). Gives up after a minute rather than
    /// hang: a guard, not a measure of how fast it happens.
    async fn wait_until_flushed(store: &EmbeddedGraph) {
        for _ in 0..12_000 {
            let depth = store
                .inner
                .memtable
                .memtable()
                .map(|m| m.depth())
                .unwrap_or(0);
            if depth == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the memtable was never moved into the database after writes stopped");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_store_releases_its_directory_at_once_and_refuses_work() {
        let dir = std::env::temp_dir().join(format!("infrahub-close-{}", NodeId::now_v7()));
        let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        create_main(&store).await;
        let ids: Vec<NodeId> = (0..5).map(|_| NodeId::now_v7()).collect();
        for (number, id) in ids.iter().enumerate() {
            let mut changeset = Changeset::new("main");
            push_thing(&mut changeset, *id, "number", json!(number));
            store
                .commit(changeset)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Another handle (a task still running) does not keep the store open.
        let other = store.clone();
        assert!(
            EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default()).is_err(),
            "the directory is in use while the store is open"
        );
        store.close().await.unwrap_or_else(|e| panic!("close: {e}"));
        let mut changeset = Changeset::new("main");
        push_thing(&mut changeset, NodeId::now_v7(), "number", json!(99));
        let refused = other.commit(changeset).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("closed")),
            "writes after close are refused"
        );
        assert!(
            other
                .get_nodes(&BranchView::now("main"), &ids, &Selection::all_attributes())
                .await
                .is_err(),
            "reads after close are refused"
        );
        store
            .close()
            .await
            .unwrap_or_else(|e| panic!("closing twice: {e}"));
        // The directory opens right away, with every acknowledged write.
        let reopened = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("reopen: {e}"));
        let expected: Vec<serde_json::Value> = (0..5).map(|n| json!(n)).collect();
        assert_eq!(values(&reopened, &ids).await, expected);
        drop((reopened, other, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_read_the_same_before_and_after_moving_into_the_database_and_a_reopen() {
        let dir = std::env::temp_dir().join(format!("infrahub-memtable-{}", NodeId::now_v7()));
        let ids: Vec<NodeId> = (0..40).map(|_| NodeId::now_v7()).collect();
        {
            let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            create_main(&store).await;
            for (number, id) in ids.iter().enumerate() {
                let mut changeset = Changeset::new("main");
                push_thing(&mut changeset, *id, "number", json!(number));
                store
                    .commit(changeset)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                // Read right after each acknowledgement, while the write is in the memtable.
                assert_eq!(values(&store, &[*id]).await, vec![json!(number)]);
            }
            // A lone write after the memtable was emptied is moved into the database too.
            wait_until_flushed(&store).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Overwrite one value, then let the flusher move it into the database.
            let mut changeset = Changeset::new("main");
            changeset.push(Op::SetAttribute {
                node: ids[3],
                name: "number".into(),
                value: AttributeValue::new(json!(1000)),
                scope: Scope::Branch,
                indexed: true,
            });
            store
                .commit(changeset)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let before = values(&store, &ids).await;
            assert_eq!(found(&store, 1000).await, 1);
            assert_eq!(found(&store, 3).await, 0);
            // Once writing stops, the flusher moves the memtable into the database by itself.
            wait_until_flushed(&store).await;
            assert_eq!(values(&store, &ids).await, before);
            assert_eq!(found(&store, 1000).await, 1);
            assert_eq!(found(&store, 3).await, 0);
        }
        let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let after = values(&store, &ids).await;
        assert_eq!(after.len(), 40);
        assert_eq!(after[3], json!(1000));
        assert_eq!(found(&store, 39).await, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod shared_snapshot_tests {
    //! Reads share one database snapshot until the flusher moves layers into the database:
    //! every acknowledged write must stay visible to reads that start after it, across moves.

    use std::sync::Arc;

    use serde_json::json;

    use super::EmbeddedGraph;
    use crate::branch::BranchView;
    use crate::changeset::Changeset;
    use crate::model::NodeId;
    use crate::query::{NodeQuery, Selection};
    use crate::store::GraphStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_writes_stay_visible_across_moves_into_the_database() {
        let dir = std::env::temp_dir().join(format!("infrahub-shared-{}", NodeId::now_v7()));
        let store = Arc::new(
            EmbeddedGraph::open(&dir, super::EmbeddedGraphOptions::default())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        super::memtable_tests::create_main(&store).await;
        let main = BranchView::now("main");
        let count_all = NodeQuery {
            labels: vec!["Thing".into()],
            ..NodeQuery::default()
        };
        // A reader counting all the time: counts never go down.
        let reader = {
            let store = Arc::clone(&store);
            let (main, query) = (main.clone(), count_all.clone());
            tokio::spawn(async move {
                let mut last = 0;
                for _ in 0..400 {
                    let now = store
                        .count(&main, &query)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(now >= last, "a count went from {last} to {now}");
                    last = now;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut writers = Vec::new();
        for writer in 0..2 {
            let store = Arc::clone(&store);
            let main = main.clone();
            writers.push(tokio::spawn(async move {
                for index in 0..150 {
                    let id = NodeId::now_v7();
                    let mut changeset = Changeset::new("main");
                    super::memtable_tests::push_thing(
                        &mut changeset,
                        id,
                        "number",
                        json!(writer * 1000 + index),
                    );
                    store
                        .commit(changeset)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    let read = store
                        .get_nodes(&main, &[id], &Selection::all_attributes())
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(read.len(), 1, "node {index} of writer {writer} not visible");
                    assert_eq!(
                        read[0].attributes["number"].value.value,
                        json!(writer * 1000 + index)
                    );
                }
            }));
        }
        for writer in writers {
            writer.await.unwrap_or_else(|e| panic!("{e}"));
        }
        reader.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store
                .count(&main, &count_all)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            300
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod order_cache_tests {
    //! Pages past the first of an ordered listing reuse its whole ordering, and only while
    //! nothing was written, in the same view.

    use serde_json::json;

    use super::EmbeddedGraph;
    use crate::branch::{BranchView, CreateBranchOptions};
    use crate::changeset::{Changeset, Op};
    use crate::model::{AttributeValue, NodeId, Scope};
    use crate::query::{Filter, Match, NodeQuery, OrderBy, Property, Selection};
    use crate::store::GraphStore;
    use crate::time::Timestamp;

    const PAGE: usize = 25;

    /// A listing of `Thing`s: its filters, and whether it is ordered by name (else by id).
    struct Listing {
        filters: Vec<Filter>,
        by_name: bool,
    }

    fn listing(of: &Listing, offset: usize, limit: Option<usize>) -> NodeQuery {
        NodeQuery {
            labels: vec!["Thing".into()],
            filters: of.filters.clone(),
            order: if of.by_name {
                vec![OrderBy {
                    attribute: "name".into(),
                    descending: false,
                }]
            } else {
                Vec::new()
            },
            offset,
            limit,
            select: Selection::all_attributes(),
            count: true,
        }
    }

    /// The names on one page, and the total.
    async fn page(
        store: &EmbeddedGraph,
        of: &Listing,
        view: &BranchView,
        offset: usize,
    ) -> (Vec<String>, u64) {
        let result = store
            .query(view, &listing(of, offset, Some(PAGE)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let names = result
            .nodes
            .iter()
            .map(|n| n.attributes["name"].value.value.to_string())
            .collect();
        (names, result.total.unwrap_or_default())
    }

    /// What every page must hold: the whole listing read in one query (a first page, which
    /// never uses kept orderings), cut into pages.
    async fn check_pages(store: &EmbeddedGraph, of: &Listing, view: &BranchView) {
        let (first, _) = page(store, of, view, 0).await;
        let whole = store
            .query(view, &listing(of, 0, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = whole
            .nodes
            .iter()
            .map(|n| n.attributes["name"].value.value.to_string())
            .collect();
        assert_eq!(
            first,
            names[..PAGE.min(names.len())],
            "first page of {view:?}"
        );
        for offset in (PAGE..names.len() + PAGE).step_by(PAGE) {
            let (got, total) = page(store, of, view, offset).await;
            let end = (offset + PAGE).min(names.len());
            let expected = names.get(offset..end).unwrap_or_default();
            assert_eq!(got, expected, "page at {offset} of {view:?}");
            assert_eq!(total, names.len() as u64);
        }
    }

    async fn commit(store: &EmbeddedGraph, changeset: Changeset) {
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn set_name(changeset: &mut Changeset, id: NodeId, name: &str) {
        changeset.push(Op::SetAttribute {
            node: id,
            name: "name".into(),
            value: AttributeValue::new(json!(name)),
            scope: Scope::Branch,
            indexed: true,
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_stay_right_across_writes_branches_and_time() {
        for by_name in [true, false] {
            let of = Listing {
                filters: Vec::new(),
                by_name,
            };
            pages_stay_right(of, 1).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filtered_pages_stay_right_across_writes_branches_and_time() {
        // Counting a filtered listing sees every match: the first page keeps the ordering.
        for by_name in [true, false] {
            let of = Listing {
                filters: vec![Filter::Attribute {
                    name: "name".into(),
                    property: Property::Value,
                    matches: Match::Contains("n".into()),
                }],
                by_name,
            };
            pages_stay_right(of, 0).await;
        }
    }

    /// Pages through the listing `of`; `kept_after_first_page` orderings are kept after the
    /// first page alone.
    async fn pages_stay_right(of: Listing, kept_after_first_page: usize) {
        let dir = std::env::temp_dir().join(format!("infrahub-orders-{}", NodeId::now_v7()));
        let store = EmbeddedGraph::open(&dir, super::EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        super::memtable_tests::create_main(&store).await;
        let main = BranchView::now("main");
        let mut ids = Vec::new();
        for batch in 0..12 {
            let mut changeset = Changeset::new("main");
            for index in 0..10 {
                let id = NodeId::now_v7();
                let number = (batch * 10 + index) * 37 % 120;
                super::memtable_tests::push_thing(
                    &mut changeset,
                    id,
                    "name",
                    json!(format!("n{number:03}")),
                );
                ids.push(id);
            }
            commit(&store, changeset).await;
        }

        // The first deep page keeps the ordering (a counted filtered listing: the first page
        // already did); the next ones use it.
        assert_eq!(store.inner.orders.len(), 0);
        page(&store, &of, &main, 0).await;
        assert_eq!(store.inner.orders.len(), 1 - kept_after_first_page);
        page(&store, &of, &main, PAGE).await;
        assert_eq!(store.inner.orders.len(), 1);
        check_pages(&store, &of, &main).await;
        assert_eq!(
            store.inner.orders.len(),
            1,
            "the later pages did not reuse it"
        );
        let before_writes = Timestamp::now();

        // A node that sorts first, a renamed node, a deleted node: every page moves.
        let mut changeset = Changeset::new("main");
        super::memtable_tests::push_thing(
            &mut changeset,
            NodeId::now_v7(),
            "name",
            json!("a-first"),
        );
        commit(&store, changeset).await;
        check_pages(&store, &of, &main).await;
        let mut changeset = Changeset::new("main");
        set_name(&mut changeset, ids[3], "m-renamed");
        commit(&store, changeset).await;
        check_pages(&store, &of, &main).await;
        let mut changeset = Changeset::new("main");
        changeset.push(Op::DeleteNode {
            id: ids[50],
            scope: Scope::Branch,
        });
        commit(&store, changeset).await;
        check_pages(&store, &of, &main).await;

        // Another branch, and the past, page apart from main now.
        store
            .create_branch("b1", CreateBranchOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut changeset = Changeset::new("b1");
        super::memtable_tests::push_thing(
            &mut changeset,
            NodeId::now_v7(),
            "name",
            json!("b-only"),
        );
        set_name(&mut changeset, ids[7], "z-last-on-b1");
        commit(&store, changeset).await;
        let branch = BranchView::now("b1");
        let past = BranchView::at("main", before_writes);
        for _ in 0..2 {
            check_pages(&store, &of, &main).await;
            check_pages(&store, &of, &branch).await;
            check_pages(&store, &of, &past).await;
        }
        // The views differ (on their first pages, where the renamed nodes are in id order).
        assert_ne!(
            page(&store, &of, &branch, 0).await,
            page(&store, &of, &main, 0).await
        );
        assert_ne!(
            page(&store, &of, &past, 0).await,
            page(&store, &of, &main, 0).await
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod inline_lookup_tests {
    //! Which queries run on the calling thread: lookups with few candidates only.

    use serde_json::json;

    use super::{EmbeddedGraph, INLINE_LOOKUP, query::is_small_lookup};
    use crate::branch::BranchView;
    use crate::changeset::Changeset;
    use crate::model::NodeId;
    use crate::query::{Filter, Match, NodeQuery, Property};
    use crate::store::GraphStore;

    #[tokio::test]
    async fn only_lookups_with_few_candidates_run_inline() {
        let store = EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}"));
        super::memtable_tests::create_main(&store).await;
        let ids: Vec<NodeId> = (0..INLINE_LOOKUP + 2).map(|_| NodeId::now_v7()).collect();
        let mut changeset = Changeset::new("main");
        for (index, id) in ids.iter().enumerate() {
            // Every node but the first holds the common value.
            let group = if index == 0 { "rare" } else { "common" };
            super::memtable_tests::push_thing(&mut changeset, *id, "group", json!(group));
        }
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_value = |value: &str| NodeQuery {
            labels: vec!["Thing".into()],
            filters: vec![Filter::Attribute {
                name: "group".into(),
                property: Property::Value,
                matches: Match::Equals(json!(value)),
            }],
            ..NodeQuery::default()
        };
        let by_ids = |count: usize| NodeQuery {
            labels: vec!["Thing".into()],
            filters: vec![Filter::Ids(ids[..count].to_vec())],
            ..NodeQuery::default()
        };
        let snapshot = store.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let small = |query: &NodeQuery| {
            is_small_lookup(&snapshot, query, INLINE_LOOKUP).unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(small(&by_value("rare")));
        assert!(!small(&by_value("common")));
        assert!(small(&by_ids(INLINE_LOOKUP)));
        assert!(!small(&by_ids(INLINE_LOOKUP + 1)));
        assert!(!small(&NodeQuery {
            labels: vec!["Thing".into()],
            ..NodeQuery::default()
        }));
        // Both paths answer the same.
        let main = BranchView::now("main");
        let found = |query: NodeQuery| {
            let store = store.clone();
            let main = main.clone();
            async move {
                store
                    .query(&main, &query)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .nodes
                    .len()
            }
        };
        assert_eq!(found(by_value("rare")).await, 1);
        assert_eq!(found(by_value("common")).await, INLINE_LOOKUP + 1);
        assert_eq!(found(by_ids(3)).await, 3);
        // Counts: from the counters, a small lookup, and a larger filter.
        let count = |query: NodeQuery| {
            let store = store.clone();
            let main = main.clone();
            async move {
                store
                    .count(&main, &query)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        let all = NodeQuery {
            labels: vec!["Thing".into()],
            ..NodeQuery::default()
        };
        assert_eq!(count(all).await, INLINE_LOOKUP as u64 + 2);
        assert_eq!(count(by_value("rare")).await, 1);
        assert_eq!(count(by_value("common")).await, INLINE_LOOKUP as u64 + 1);
    }
}

#[cfg(test)]
mod combined_scan_tests {
    //! Outgoing links are read in the same scan as the node's attributes when a read selects
    //! them; links of other relationships in the way send the read back to separate scans. Both
    //! paths must answer the same.

    use super::EmbeddedGraph;
    use crate::branch::BranchView;
    use crate::changeset::{Changeset, Op};
    use crate::model::{LinkProperties, NodeId, Scope, Side};
    use crate::query::{Filter, LinkSelection, NodeQuery, Selection};
    use crate::store::GraphStore;

    fn create(changeset: &mut Changeset, id: NodeId) {
        changeset.push(Op::CreateNode {
            id,
            kind: "Thing".into(),
            labels: vec!["Thing".into()],
            scope: Scope::Branch,
        });
    }

    fn link(changeset: &mut Changeset, identifier: &str, from: NodeId, to: NodeId) {
        changeset.push(Op::SetLink {
            identifier: identifier.into(),
            from,
            to,
            properties: LinkProperties::visible(),
            scope: Scope::Branch,
        });
    }

    fn selecting(identifiers: &[&str]) -> Selection {
        Selection {
            attributes: Some(vec![]),
            links: identifiers
                .iter()
                .map(|identifier| LinkSelection {
                    identifier: (*identifier).into(),
                    side: Side::Either,
                })
                .collect(),
        }
    }

    /// Peers per identifier of `node`, through a query (combined scan) and a fetch by id.
    async fn peers(
        store: &EmbeddedGraph,
        view: &BranchView,
        node: NodeId,
        identifiers: &[&str],
    ) -> Vec<Vec<(String, NodeId)>> {
        let select = selecting(identifiers);
        let query = NodeQuery {
            labels: vec!["Thing".into()],
            filters: vec![Filter::Ids(vec![node])],
            select: select.clone(),
            ..NodeQuery::default()
        };
        let by_query = store
            .query(view, &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .nodes;
        let by_id = store
            .get_nodes(view, &[node], &select)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        [by_query, by_id]
            .into_iter()
            .map(|nodes| {
                let mut found: Vec<(String, NodeId)> = nodes
                    .iter()
                    .flat_map(|n| n.links.iter().map(|l| (l.identifier.clone(), l.peer)))
                    .collect();
                found.sort();
                found
            })
            .collect()
    }

    #[tokio::test]
    async fn selected_links_read_with_the_node_match_separate_scans() {
        let store = EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}"));
        super::memtable_tests::create_main(&store).await;
        let hub = NodeId::now_v7();
        let inbound = NodeId::now_v7();
        let peers_a: Vec<NodeId> = (0..40).map(|_| NodeId::now_v7()).collect();
        let peers_z: Vec<NodeId> = (0..3).map(|_| NodeId::now_v7()).collect();
        let mut changeset = Changeset::new("main");
        for id in [hub, inbound].iter().chain(&peers_a).chain(&peers_z) {
            create(&mut changeset, *id);
        }
        // 40 links of "aaa" sort before the "zzz" links in the hub's key range.
        for peer in &peers_a {
            link(&mut changeset, "aaa", hub, *peer);
        }
        for peer in &peers_z {
            link(&mut changeset, "zzz", hub, *peer);
        }
        link(&mut changeset, "zzz", inbound, hub);
        link(&mut changeset, "zzz", inbound, peers_a[0]);
        let before = store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .at;
        let mut changeset = Changeset::new("main");
        changeset.push(Op::RemoveLink {
            identifier: "zzz".into(),
            from: hub,
            to: peers_z[0],
            scope: Scope::Branch,
        });
        changeset.push(Op::RemoveLink {
            identifier: "zzz".into(),
            from: inbound,
            to: peers_a[0],
            scope: Scope::Branch,
        });
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let now = BranchView::now("main");
        let zzz_now: Vec<(String, NodeId)> = {
            let mut expected: Vec<(String, NodeId)> = peers_z[1..]
                .iter()
                .chain([&inbound])
                .map(|p| ("zzz".to_string(), *p))
                .collect();
            expected.sort();
            expected
        };
        // Past the 40 "aaa" links the combined scan gives up: same answer either way.
        for answer in peers(&store, &now, hub, &["zzz"]).await {
            assert_eq!(answer, zzz_now);
        }
        for answer in peers(&store, &now, hub, &["aaa"]).await {
            assert_eq!(answer.len(), 40);
        }
        for answer in peers(&store, &now, hub, &["aaa", "zzz"]).await {
            assert_eq!(answer.len(), 43);
        }
        // A node with few links reads them in the combined scan, removed ones left out, and at
        // a past instant the removed link is back.
        for answer in peers(&store, &now, peers_z[1], &["zzz"]).await {
            assert_eq!(answer, vec![("zzz".to_string(), hub)]);
        }
        for answer in peers(&store, &now, inbound, &["zzz"]).await {
            assert_eq!(answer, vec![("zzz".to_string(), hub)]);
        }
        // Which path each read took: the combined scan for `inbound`, separate scans for the
        // hub (the 40 "aaa" links are in the way).
        let snapshot = store.snapshot().unwrap_or_else(|e| panic!("{e}"));
        let view = super::view::ViewSpec::default_branch("main", crate::time::Timestamp::MAX);
        let zzz = ["zzz".to_string()];
        let core = |id| {
            super::read::node_core_with_links(&snapshot, &view, id, Some(&[]), &zzz)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("node {id} not visible"))
        };
        let combined = core(inbound)
            .out_links
            .unwrap_or_else(|| panic!("the combined scan gave up"));
        assert_eq!(combined["zzz"].len(), 1);
        assert!(core(hub).out_links.is_none());
        let past = BranchView::at("main", before);
        for answer in peers(&store, &past, hub, &["zzz"]).await {
            assert_eq!(answer.len(), 4);
        }
        let mut changeset = Changeset::new("main");
        changeset.push(Op::RemoveLink {
            identifier: "zzz".into(),
            from: hub,
            to: peers_z[1],
            scope: Scope::Branch,
        });
        for peer in &peers_a[..35] {
            changeset.push(Op::RemoveLink {
                identifier: "aaa".into(),
                from: hub,
                to: *peer,
                scope: Scope::Branch,
            });
        }
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for answer in peers(&store, &now, hub, &["zzz"]).await {
            let mut expected = vec![
                ("zzz".to_string(), inbound),
                ("zzz".to_string(), peers_z[2]),
            ];
            expected.sort();
            assert_eq!(answer, expected);
        }
    }
}

#[cfg(test)]
mod counter_tests {
    //! The writer keeps the latest node counters in memory; counts must stay exact whatever
    //! fails, runs in one batch, or changes counters by other means (branch operations).

    use std::sync::Arc;

    use serde_json::json;

    use super::EmbeddedGraph;
    use super::memtable_tests::{create_main, push_thing};
    use crate::branch::{BranchView, CreateBranchOptions};
    use crate::change::{MergeOptions, RebaseOptions};
    use crate::changeset::{Changeset, Condition, Op};
    use crate::model::{NodeId, Scope};
    use crate::query::NodeQuery;
    use crate::store::GraphStore;

    async fn count(store: &EmbeddedGraph, branch: &str) -> u64 {
        let query = NodeQuery {
            labels: vec!["Thing".into()],
            ..NodeQuery::default()
        };
        store
            .count(&BranchView::now(branch), &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a `Thing` on `branch`; with `fail`, the changeset carries a condition that fails.
    async fn create(store: &EmbeddedGraph, branch: &str, fail: bool) -> Option<NodeId> {
        let id = NodeId::now_v7();
        let mut changeset = Changeset::new(branch);
        push_thing(&mut changeset, id, "number", json!(1));
        if fail {
            changeset.conditions.push(Condition::NodeExists {
                id: NodeId::now_v7(),
                description: "no such node".into(),
            });
        }
        store.commit(changeset).await.ok().map(|_| id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_stay_exact_across_failures_batches_and_branch_operations() {
        let store = Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
        create_main(&store).await;
        for _ in 0..3 {
            create(&store, "main", false).await;
        }
        assert_eq!(count(&store, "main").await, 3);
        assert_eq!(create(&store, "main", true).await, None);
        assert_eq!(
            count(&store, "main").await,
            3,
            "a failed changeset counts nothing"
        );

        // Concurrent writers share batches; the failing ones count nothing.
        let mut tasks = Vec::new();
        for index in 0..16 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                create(&store, "main", index % 3 == 0).await.is_some()
            }));
        }
        let mut succeeded = 0;
        for task in tasks {
            succeeded += u64::from(task.await.unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(succeeded, 10);
        assert_eq!(count(&store, "main").await, 13);

        // A branch counts its own writes on top of main's at the branch point.
        store
            .create_branch("b", CreateBranchOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        create(&store, "b", false).await;
        let on_b = create(&store, "b", false)
            .await
            .unwrap_or_else(|| panic!("created"));
        create(&store, "main", false).await;
        assert_eq!(count(&store, "b").await, 15);
        assert_eq!(count(&store, "main").await, 14);

        // A rebase starts the branch's counters over, a merge moves them to main.
        store
            .rebase_branch("b", RebaseOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(&store, "b").await, 16);
        let mut delete = Changeset::new("b");
        delete.push(Op::DeleteNode {
            id: on_b,
            scope: Scope::Branch,
        });
        store.commit(delete).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(&store, "b").await, 15);
        store
            .merge_branch("b", MergeOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(&store, "main").await, 15);
        create(&store, "main", false).await;
        assert_eq!(count(&store, "main").await, 16);

        // A branch deleted and created again under the same name starts from main.
        create(&store, "b", false).await;
        store
            .delete_branch("b")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .create_branch("b", CreateBranchOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(&store, "b").await, 16);
        create(&store, "b", false).await;
        assert_eq!(count(&store, "b").await, 17);
        assert_eq!(count(&store, "main").await, 16);
    }
}

#[cfg(all(test, unix))]
mod permission_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_store_files_are_readable_by_their_owner_only() {
        let dir = std::env::temp_dir().join(format!("infrahub-modes-{}", uuid::Uuid::new_v4()));
        let store = EmbeddedGraph::open(&dir.join("graph"), EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let mode = |name: &str| {
            std::fs::metadata(dir.join("graph").join(name))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0o777)
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("graph.redb"), 0o600);
        assert_eq!(mode("graph.journal"), 0o600);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
