//! The writer thread: the only place that writes. It takes commands in batches, applies each
//! changeset in its own validation step, journals the batch with one sync, commits it to the
//! database, then answers every caller (group commit).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, WriteTransaction};
use tokio::sync::oneshot;

use crate::branch::{BranchRecord, CreateBranchOptions};
use crate::change::{BranchOperation, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit};
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

use super::branches;
use super::counters::CountCache;
use super::flusher::{FlushRequest, Shared};
use super::journal::{Journal, JournalRecord};
use super::registry::{Registry, StoredBranch};
use super::tables::{ALL_TABLES, Overlay, Pending, Table, Tables, storage};
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
/// Memtable depth at which the writer waits for the flusher.
const MAX_LAYERS: usize = 4 * FLUSH_LAYERS;
/// Shortest time between two recoveries of a failed database.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

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

impl Command {
    /// Answers the command with (a copy of) `error`.
    fn reply_error(self, error: &Error) {
        let copy = || Error::new(error.kind(), error.to_string());
        match self {
            Command::Commit(_, reply) => drop(reply.send(Err(copy()))),
            Command::CreateBranch(_, _, reply) | Command::UpdateBranch(_, _, reply) => {
                drop(reply.send(Err(copy())));
            }
            Command::DeleteBranch(_, reply) => drop(reply.send(Err(copy()))),
            Command::Merge(_, _, reply) | Command::Rebase(_, _, reply) => {
                drop(reply.send(Err(copy())));
            }
        }
    }
}

/// State owned by the writer thread.
pub(crate) struct WriterState {
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
    /// The memtable, shared with readers and the flusher.
    pub(crate) shared: Arc<Shared>,
    /// Requests to the flusher thread.
    pub(crate) flush_requests: Option<std::sync::mpsc::Sender<FlushRequest>>,
    /// The flusher thread, joined when the writer stops.
    pub(crate) flusher: Option<std::thread::JoinHandle<()>>,
    /// The latest node counters, as the committed and batched writes leave them.
    pub(crate) counters: CountCache,
    /// When the latest recovery of the database was tried.
    pub(crate) last_recovery: Option<Instant>,
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

/// Applies the journal records newer than the database's journal sequence, in order, in one
/// durable transaction that also creates any missing table. Returns the sequence the database
/// then holds and how many records were applied.
pub(crate) fn replay_journal(db: &Database, records: Vec<JournalRecord>) -> Result<(u64, usize)> {
    let txn = db
        .begin_write()
        .map_err(|e| storage("starting a write", e))?;
    let mut seq = 0;
    let mut replayed = 0usize;
    {
        let mut tables = open_write_tables(&txn)?;
        if let Some(bytes) = super::tables::Kv::get(&tables, Table::Meta, JOURNAL_SEQ)? {
            seq = bytes.try_into().map(u64::from_be_bytes).unwrap_or(0);
        }
        for (record_seq, writes) in records {
            if record_seq <= seq {
                continue;
            }
            for (table, key, value) in writes {
                write_entry(&mut tables, table, &key, value.as_deref())?;
            }
            seq = record_seq;
            replayed += 1;
        }
    }
    txn.commit().map_err(|e| storage("committing", e))?;
    Ok((seq, replayed))
}

/// Writes one entry into the transaction's tables (`None` removes the key).
pub(crate) fn write_entry(
    tables: &mut WriteTables<'_>,
    table: Table,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<()> {
    let handle = tables.table_mut(table);
    match value {
        Some(value) => handle.insert(key, value).map(drop),
        None => handle.remove(key).map(drop),
    }
    .map_err(|e| storage("writing", e))
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
            let first = match commands.recv_timeout(CHECKPOINT_INTERVAL) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    if self.shared.failing.load(Ordering::Acquire) {
                        if let Err(err) = self.recover() {
                            tracing::warn!(error = %err, "the embedded store has not recovered yet");
                        }
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
            self.request_flush_if_needed();
            self.checkpoint_if_needed(false);
        }
        if let Err(err) = self.checkpoint() {
            tracing::error!(error = %err, "final checkpoint of the embedded store failed");
        }
        self.flush_requests = None;
        if let Some(flusher) = self.flusher.take()
            && flusher.join().is_err()
        {
            tracing::error!("the embedded store flusher thread panicked");
        }
    }

    fn process(&mut self, batch: Vec<Command>) {
        if self.shared.failing.load(Ordering::Acquire)
            && let Err(err) = self.recover()
        {
            // Refused whole: the database cannot take what the journal would acknowledge.
            let refusal = Error::new(
                ErrorKind::Storage,
                format!(
                    "the embedded store refuses writes until it recovers from a storage failure \
                     ({err}); free disk space or repair the device: it retries at the next write"
                ),
            );
            for command in batch {
                command.reply_error(&refusal);
            }
            return;
        }
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
                // The batch's counters were not written after all.
                self.counters.clear();
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
        let (memtable, base) = self.shared.view()?;
        let mut batch_writes = Pending::default();
        {
            let committed = memtable.over(&**base);
            // Branch changes of earlier commands of the batch are visible to later ones.
            let mut registry = self
                .registry
                .read()
                .map_err(|_| Error::new(ErrorKind::Storage, "branch registry poisoned"))?
                .clone();
            for command in batch {
                let at = self.next_ts();
                if !matches!(command, Command::Commit(..)) {
                    // Branch operations write or remove counters by other means.
                    self.counters.clear();
                }
                match command {
                    Command::Commit(changeset, reply) => {
                        let result = registry.write_view(&changeset.branch).and_then(|view| {
                            let tables = Overlay {
                                base: &committed,
                                pending: &batch_writes,
                            };
                            apply_changeset(
                                &tables,
                                &WriteContext { view, at },
                                &changeset,
                                &mut self.counters,
                            )
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
        }
        if batch_writes.is_empty() && visible.is_none() {
            // Every command failed: nothing to make durable or visible.
            return Ok(visible);
        }
        // Each journal record takes the next sequence number once it is on disk, never before:
        // replay stops at the first gap, so a number used by a record that failed to be
        // written would hide every later record.
        let seq = self.seq + 1;
        let mut meta = Pending::default();
        meta.put(
            Table::Meta,
            LAST_TS.to_vec(),
            self.last_assigned.to_be_bytes().to_vec(),
        );
        meta.put(
            Table::Meta,
            JOURNAL_SEQ.to_vec(),
            seq.to_be_bytes().to_vec(),
        );
        absorb(&mut batch_writes, meta);
        if let Some(journal) = &mut self.journal {
            journal.append(seq, &batch_writes)?;
        }
        self.seq = seq;
        // Acknowledged: visible to readers from now on. The layer goes on top of the memtable
        // as it is now (the flusher may have moved older layers into the database).
        let mut shared = self
            .shared
            .memtable
            .write()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))?;
        *shared = Arc::new(shared.with_layer(batch_writes));
        Ok(visible)
    }

    /// After the database failed: has the flusher reopen it and replay the journal into it,
    /// then empties the journal. Tried at most once per [`RECOVERY_INTERVAL`]; in between, the
    /// error of the latest failure is returned.
    fn recover(&mut self) -> Result<()> {
        let latest = || {
            Error::new(
                ErrorKind::Storage,
                self.shared
                    .failure()
                    .unwrap_or_else(|| "unknown storage failure".into()),
            )
        };
        if self
            .last_recovery
            .is_some_and(|at| at.elapsed() < RECOVERY_INTERVAL)
        {
            return Err(latest());
        }
        self.last_recovery = Some(Instant::now());
        let (Some(journal), Some(requests)) = (&mut self.journal, &self.flush_requests) else {
            return Err(latest());
        };
        let records = journal.records()?;
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        requests
            .send(FlushRequest::Recover(records, reply))
            .map_err(|_| Error::new(ErrorKind::Storage, "the flusher has stopped"))?;
        done.recv()
            .map_err(|_| Error::new(ErrorKind::Storage, "the flusher has stopped"))??;
        journal.reset()?;
        self.last_checkpoint = Instant::now();
        self.shared.set_failure(None);
        Ok(())
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

    /// Asks the flusher to move the memtable into the database when it is large or old, and
    /// waits for it when it is far behind.
    fn request_flush_if_needed(&mut self) {
        let Ok(memtable) = self.shared.memtable() else {
            return;
        };
        let due = memtable.entries() >= FLUSH_ENTRIES
            || memtable.depth() >= FLUSH_LAYERS
            || memtable.age().is_some_and(|age| age >= FLUSH_AGE);
        if let Some(requests) = &self.flush_requests {
            if due {
                let _ = requests.send(FlushRequest::Flush);
            } else if memtable.depth() == 1 {
                let _ = requests.send(FlushRequest::Wake);
            }
        }
        while !self.shared.failing.load(Ordering::Acquire)
            && self
                .shared
                .memtable()
                .is_ok_and(|m| m.depth() >= MAX_LAYERS)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Makes every committed write durable in the database and empties the journal.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        // The flusher moves the memtable into the database and makes it durable; no batch
        // runs meanwhile, so the journal holds nothing newer afterwards.
        if let Some(requests) = &self.flush_requests {
            let (reply, done) = std::sync::mpsc::sync_channel(1);
            requests
                .send(FlushRequest::Checkpoint(reply))
                .map_err(|_| Error::new(ErrorKind::Storage, "the flusher has stopped"))?;
            done.recv()
                .map_err(|_| Error::new(ErrorKind::Storage, "the flusher has stopped"))??;
        }
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        journal.reset()?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}
