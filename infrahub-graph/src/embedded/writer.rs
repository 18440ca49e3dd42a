//! The writer thread: the only place that writes. It takes commands in batches, applies each
//! changeset in its own validation step, journals the batch with one sync, commits it to the
//! database, then answers every caller (group commit).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::branch::{BranchRecord, CreateBranchOptions};
use crate::change::{BranchOperation, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit};
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

use super::branches;
use super::journal::{Journal, JournalWrite};
use super::registry::{Registry, StoredBranch};
use super::tables::{ALL_TABLES, Memtable, Overlay, Pending, Table, Tables, storage};
use super::write::{WriteContext, apply_changeset};

pub(crate) const LAST_TS: &[u8] = b"last_ts";
pub(crate) const JOURNAL_SEQ: &[u8] = b"journal_seq";

/// Most changesets applied in one database transaction.
const MAX_BATCH: usize = 512;
/// Journal size that triggers a durable checkpoint.
const CHECKPOINT_BYTES: u64 = 32 << 20;
/// Number of batch sizes remembered to guess the concurrency.
const RECENT_BATCHES: usize = 16;
/// Longest wait for more changesets when recent batches had several.
const LINGER: Duration = Duration::from_micros(300);
/// Longest time between durable checkpoints while writes happen.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// Memtable size (writes) that triggers moving it into the database.
const FLUSH_ENTRIES: usize = 2048;
/// Memtable depth (batches) that triggers moving it into the database.
const FLUSH_LAYERS: usize = 8;
/// Longest time a write stays in the memtable while writes keep coming.
const FLUSH_AGE: Duration = Duration::from_millis(50);
/// Idle time after which the memtable is moved into the database.
const FLUSH_IDLE: Duration = Duration::from_millis(5);

/// Work for the writer.
pub(crate) enum Command {
    Commit(Changeset, oneshot::Sender<Result<Commit>>),
    CreateBranch(
        String,
        CreateBranchOptions,
        oneshot::Sender<Result<BranchRecord>>,
    ),
    UpdateBranch(
        String,
        serde_json::Map<String, serde_json::Value>,
        oneshot::Sender<Result<BranchRecord>>,
    ),
    DeleteBranch(String, oneshot::Sender<Result<()>>),
    Merge(
        String,
        MergeOptions,
        oneshot::Sender<Result<BranchOperation>>,
    ),
    Rebase(
        String,
        RebaseOptions,
        oneshot::Sender<Result<BranchOperation>>,
    ),
}

/// State owned by the writer thread.
pub(crate) struct WriterState {
    pub(crate) db: Arc<Database>,
    pub(crate) journal: Option<Journal>,
    pub(crate) registry: Arc<RwLock<Registry>>,
    /// Latest timestamp of a visible commit, shared with readers.
    pub(crate) last_ts: Arc<std::sync::atomic::AtomicI64>,
    /// Latest timestamp handed out (commits that failed included).
    pub(crate) last_assigned: i64,
    pub(crate) seq: u64,
    pub(crate) last_checkpoint: Instant,
    /// Sizes of the latest batches: a hint of how many callers write concurrently.
    pub(crate) recent_batches: std::collections::VecDeque<usize>,
    /// Acknowledged writes not yet in the database, shared with readers.
    pub(crate) memtable: Arc<RwLock<Arc<Memtable>>>,
    /// The writer's copy of the memtable.
    pub(crate) current: Arc<Memtable>,
    /// When the oldest write of the memtable was made.
    pub(crate) memtable_since: Option<Instant>,
    /// A read snapshot of the database, kept between flushes.
    pub(crate) base: Option<ReadTables>,
}

/// Opened tables of a read transaction.
pub(crate) type ReadTables = Tables<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>;

/// Opens every table in a read transaction of `db`.
pub(crate) fn open_read_tables(db: &Database) -> Result<ReadTables> {
    use redb::ReadableDatabase;
    let txn = db.begin_read().map_err(|e| storage("starting a read", e))?;
    let mut tables = Vec::with_capacity(ALL_TABLES.len());
    for table in ALL_TABLES {
        tables.push(
            txn.open_table(table.definition())
                .map_err(|e| storage("opening a table", e))?,
        );
    }
    Ok(Tables::new(tables))
}

/// Adds a command's writes to the batch (the batch is also the journal record).
fn absorb(batch: &mut Pending, pending: Pending) {
    for (table, key, value) in pending.into_writes() {
        batch.set(table, key, value);
    }
}

type WriteTables<'txn> = Tables<redb::Table<'txn, &'static [u8], &'static [u8]>>;

pub(crate) fn open_write_tables(txn: &WriteTransaction) -> Result<WriteTables<'_>> {
    let mut tables = Vec::with_capacity(ALL_TABLES.len());
    for table in ALL_TABLES {
        tables.push(
            txn.open_table(table.definition())
                .map_err(|e| storage("opening a table", e))?,
        );
    }
    Ok(Tables::new(tables))
}

/// Writes pending entries into the transaction's tables and records them for the journal.
pub(crate) fn apply_pending(
    tables: &mut WriteTables<'_>,
    pending: Pending,
    journal: &mut Vec<JournalWrite>,
) -> Result<()> {
    for (table, key, value) in pending.into_writes() {
        let handle = tables.table_mut(table);
        match &value {
            Some(value) => {
                handle
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(|e| storage("writing", e))?;
            }
            None => {
                handle
                    .remove(key.as_slice())
                    .map_err(|e| storage("writing", e))?;
            }
        }
        journal.push((table, key, value));
    }
    Ok(())
}

enum Reply {
    Commit(oneshot::Sender<Result<Commit>>, Result<Commit>),
    Branch(oneshot::Sender<Result<BranchRecord>>, Result<BranchRecord>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
    Operation(
        oneshot::Sender<Result<BranchOperation>>,
        Result<BranchOperation>,
    ),
}

impl Reply {
    fn fail(self, error: &Error) -> Reply {
        let copy = || Error::new(error.kind(), error.to_string());
        match self {
            Reply::Commit(tx, _) => Reply::Commit(tx, Err(copy())),
            Reply::Branch(tx, _) => Reply::Branch(tx, Err(copy())),
            Reply::Unit(tx, _) => Reply::Unit(tx, Err(copy())),
            Reply::Operation(tx, _) => Reply::Operation(tx, Err(copy())),
        }
    }

    fn send(self) {
        match self {
            Reply::Commit(tx, result) => drop(tx.send(result)),
            Reply::Branch(tx, result) => drop(tx.send(result)),
            Reply::Unit(tx, result) => drop(tx.send(result)),
            Reply::Operation(tx, result) => drop(tx.send(result)),
        }
    }
}

/// Registry changes that take effect once the batch is committed.
enum RegistryChange {
    Put(StoredBranch),
    Remove(String),
}

impl WriterState {
    fn next_ts(&mut self) -> Timestamp {
        let next = Timestamp::now()
            .as_micros()
            .max(self.last_assigned.saturating_add(1));
        self.last_assigned = next;
        Timestamp::from_micros(next)
    }

    /// Runs until every sender is gone, then checkpoints.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        loop {
            let waiting = self.current.entries() > 0;
            let timeout = if waiting {
                FLUSH_IDLE
            } else {
                CHECKPOINT_INTERVAL
            };
            let first = match commands.recv_timeout(timeout) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    if waiting {
                        self.flush_or_log();
                    } else {
                        self.checkpoint_if_needed(true);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            let linger_until = Instant::now() + LINGER;
            loop {
                while batch.len() < MAX_BATCH {
                    match commands.try_recv() {
                        Ok(command) => batch.push(command),
                        Err(_) => break,
                    }
                }
                // Under concurrent load, wait briefly for the callers just answered to send
                // their next changeset, so that they share this batch's sync.
                if batch.len() >= self.recent_batches.iter().copied().max().unwrap_or(1)
                    || batch.len() >= MAX_BATCH
                    || Instant::now() >= linger_until
                {
                    break;
                }
                match commands.recv_timeout(linger_until.saturating_duration_since(Instant::now()))
                {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            if self.recent_batches.len() == RECENT_BATCHES {
                self.recent_batches.pop_front();
            }
            self.recent_batches.push_back(batch.len());
            self.process(batch);
            let old = self
                .memtable_since
                .is_some_and(|since| since.elapsed() >= FLUSH_AGE);
            if old
                || self.current.entries() >= FLUSH_ENTRIES
                || self.current.depth() >= FLUSH_LAYERS
            {
                self.flush_or_log();
            }
            self.checkpoint_if_needed(false);
        }
        if let Err(err) = self.checkpoint() {
            tracing::error!(error = %err, "final checkpoint of the embedded store failed");
        }
    }

    fn process(&mut self, batch: Vec<Command>) {
        let mut replies = Vec::with_capacity(batch.len());
        let mut changes = Vec::new();
        let outcome = self.process_in_transaction(batch, &mut replies, &mut changes);
        match outcome {
            Ok(visible) => {
                if let Some(visible) = visible {
                    self.last_ts
                        .fetch_max(visible.as_micros(), std::sync::atomic::Ordering::AcqRel);
                }
                if let Ok(mut registry) = self.registry.write() {
                    for change in changes {
                        match change {
                            RegistryChange::Put(branch) => registry.insert(branch),
                            RegistryChange::Remove(name) => registry.remove(&name),
                        }
                    }
                }
                replies.into_iter().for_each(Reply::send);
            }
            Err(err) => {
                tracing::error!(error = %err, "embedded store write failed");
                replies
                    .into_iter()
                    .map(|r| r.fail(&err))
                    .for_each(Reply::send);
            }
        }
    }

    /// Applies a batch in one transaction; returns the latest timestamp it made visible.
    fn process_in_transaction(
        &mut self,
        batch: Vec<Command>,
        replies: &mut Vec<Reply>,
        changes: &mut Vec<RegistryChange>,
    ) -> Result<Option<Timestamp>> {
        let mut visible = None;
        let base = match self.base.take() {
            Some(base) => base,
            None => open_read_tables(&self.db)?,
        };
        let memtable = Arc::clone(&self.current);
        let mut batch_writes = Pending::default();
        {
            let committed = memtable.over(&base);
            // Branch changes of earlier commands of the batch are visible to later ones.
            let mut registry = self
                .registry
                .read()
                .map_err(|_| Error::new(ErrorKind::Storage, "branch registry poisoned"))?
                .clone();
            for command in batch {
                let at = self.next_ts();
                match command {
                    Command::Commit(changeset, reply) => {
                        let result = registry.write_view(&changeset.branch).and_then(|view| {
                            let tables = Overlay {
                                base: &committed,
                                pending: &batch_writes,
                            };
                            apply_changeset(&tables, &WriteContext { view, at }, &changeset)
                        });
                        match result {
                            Ok(pending) => {
                                absorb(&mut batch_writes, pending);
                                replies.push(Reply::Commit(reply, Ok(Commit { at })));
                                visible = Some(at);
                            }
                            Err(err) => replies.push(Reply::Commit(reply, Err(err))),
                        }
                    }
                    Command::CreateBranch(name, options, reply) => {
                        let tables = Overlay {
                            base: &committed,
                            pending: &batch_writes,
                        };
                        match branches::create(&tables, &registry, &name, options, at) {
                            Ok((pending, stored)) => {
                                absorb(&mut batch_writes, pending);
                                registry.insert(stored.clone());
                                replies.push(Reply::Branch(reply, Ok(stored.record.clone())));
                                changes.push(RegistryChange::Put(stored));
                            }
                            Err(err) => replies.push(Reply::Branch(reply, Err(err))),
                        }
                    }
                    Command::UpdateBranch(name, properties, reply) => {
                        let result = registry.get(&name).cloned().and_then(|mut stored| {
                            stored.record.properties = properties;
                            let mut pending = Pending::default();
                            pending.put(
                                Table::Branches,
                                name.as_bytes().to_vec(),
                                branches::encode_branch(&stored)?,
                            );
                            Ok((pending, stored))
                        });
                        match result {
                            Ok((pending, stored)) => {
                                absorb(&mut batch_writes, pending);
                                registry.insert(stored.clone());
                                replies.push(Reply::Branch(reply, Ok(stored.record.clone())));
                                changes.push(RegistryChange::Put(stored));
                            }
                            Err(err) => replies.push(Reply::Branch(reply, Err(err))),
                        }
                    }
                    Command::DeleteBranch(name, reply) => {
                        let tables = Overlay {
                            base: &committed,
                            pending: &batch_writes,
                        };
                        match branches::delete(&tables, &registry, &name) {
                            Ok(pending) => {
                                absorb(&mut batch_writes, pending);
                                registry.remove(&name);
                                replies.push(Reply::Unit(reply, Ok(())));
                                changes.push(RegistryChange::Remove(name));
                            }
                            Err(err) => replies.push(Reply::Unit(reply, Err(err))),
                        }
                    }
                    Command::Merge(name, options, reply) => {
                        let tables = Overlay {
                            base: &committed,
                            pending: &batch_writes,
                        };
                        match branches::merge(&tables, &registry, &name, &options.keep_default, at)
                        {
                            Ok((pending, stored, writes)) => {
                                absorb(&mut batch_writes, pending);
                                registry.insert(stored.clone());
                                changes.push(RegistryChange::Put(stored));
                                replies.push(Reply::Operation(
                                    reply,
                                    Ok(BranchOperation { at, writes }),
                                ));
                                visible = Some(at);
                            }
                            Err(err) => replies.push(Reply::Operation(reply, Err(err))),
                        }
                    }
                    Command::Rebase(name, options, reply) => {
                        let tables = Overlay {
                            base: &committed,
                            pending: &batch_writes,
                        };
                        match branches::rebase(&tables, &registry, &name, &options.drop, at) {
                            Ok((pending, stored, writes)) => {
                                absorb(&mut batch_writes, pending);
                                registry.insert(stored.clone());
                                changes.push(RegistryChange::Put(stored));
                                replies.push(Reply::Operation(
                                    reply,
                                    Ok(BranchOperation { at, writes }),
                                ));
                                visible = Some(at);
                            }
                            Err(err) => replies.push(Reply::Operation(reply, Err(err))),
                        }
                    }
                }
            }
            let mut meta = Pending::default();
            meta.put(
                Table::Meta,
                LAST_TS.to_vec(),
                self.last_assigned.to_be_bytes().to_vec(),
            );
            if !batch_writes.is_empty() {
                self.seq += 1;
                meta.put(
                    Table::Meta,
                    JOURNAL_SEQ.to_vec(),
                    self.seq.to_be_bytes().to_vec(),
                );
            }
            absorb(&mut batch_writes, meta);
        }
        self.base = Some(base);
        if let Some(journal) = &mut self.journal {
            journal.append(self.seq, &batch_writes)?;
        }
        // Acknowledged: visible to readers from now on.
        let next = Arc::new(memtable.with_layer(batch_writes));
        *self
            .memtable
            .write()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))? = Arc::clone(&next);
        self.current = next;
        self.memtable_since.get_or_insert_with(Instant::now);
        Ok(visible)
    }

    fn checkpoint_if_needed(&mut self, idle: bool) {
        let Some(journal) = &self.journal else { return };
        let due = journal.size() >= CHECKPOINT_BYTES
            || (journal.size() > 0
                && (idle || self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL));
        if due && let Err(err) = self.checkpoint() {
            tracing::error!(error = %err, "checkpoint of the embedded store failed");
        }
    }

    fn flush_or_log(&mut self) {
        if let Err(err) = self.flush() {
            tracing::error!(error = %err, "moving the memtable into the embedded store failed");
        }
    }

    /// Moves the memtable into the database in one transaction (durable through the journal
    /// until the next checkpoint), then empties it.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.current.depth() == 0 {
            self.memtable_since = None;
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| storage("starting a write", e))?;
        if self.journal.is_some() {
            txn.set_durability(Durability::None)
                .map_err(|e| storage("setting durability", e))?;
        }
        {
            let mut tables = open_write_tables(&txn)?;
            for layer in self.current.layers() {
                for (table, key, value) in layer.iter() {
                    let handle = tables.table_mut(table);
                    match value {
                        Some(value) => {
                            handle
                                .insert(key, value)
                                .map_err(|e| storage("writing", e))?;
                        }
                        None => {
                            handle.remove(key).map_err(|e| storage("writing", e))?;
                        }
                    }
                }
            }
        }
        txn.commit().map_err(|e| storage("committing", e))?;
        // Readers that took the old memtable see the same writes in the database: publish the
        // empty one only now.
        let empty = Arc::new(Memtable::default());
        *self
            .memtable
            .write()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))? = Arc::clone(&empty);
        self.current = empty;
        self.base = None;
        self.memtable_since = None;
        Ok(())
    }

    /// Makes every committed write durable in the database and empties the journal.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| storage("starting a checkpoint", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage("setting durability", e))?;
        txn.commit()
            .map_err(|e| storage("committing a checkpoint", e))?;
        journal.reset()?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}
