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
mod conformance_tests;

#[cfg(test)]
mod memtable_tests;

#[cfg(test)]
mod shared_snapshot_tests;

#[cfg(test)]
mod order_cache_tests;

#[cfg(test)]
mod inline_lookup_tests;

#[cfg(test)]
mod combined_scan_tests;

#[cfg(test)]
mod counter_tests;

#[cfg(all(test, unix))]
mod permission_tests;
