//! The embedded task store: records and logs in a redb file, written by one thread that
//! commits whatever is queued in one durable transaction (group commit), and a compact
//! in-memory index for filtered, counted pages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use infrahub_graph::Timestamp;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::index::{Index, IndexFields, parse_id};
use super::rules;
use super::{MAX_PAGE, TaskStore, log_line};
use crate::task::{
    LogPage, NewTask, Severity, TaskFilter, TaskPage, TaskRecord, TaskState, TaskUpdate,
};
use crate::{Error, ErrorKind, Result};

/// Task records by sequence number (JSON).
const TASKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("tasks");
/// Log lines by (task sequence number, line number) (JSON).
const LOGS: TableDefinition<'_, (u64, u32), &[u8]> = TableDefinition::new("task_logs");
/// The most operations one transaction holds.
const BATCH: usize = 1024;
/// redb's page cache for the task file.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A log line as stored.
#[derive(Serialize, Deserialize)]
struct StoredLog {
    #[serde(rename = "m")]
    message: String,
    #[serde(rename = "s")]
    severity: Severity,
    #[serde(rename = "t")]
    timestamp: Timestamp,
}

enum Op {
    Create(NewTask),
    Update(String, TaskUpdate),
    Logs(String, Vec<(Severity, String)>),
    Cancel(String),
    Delete(Timestamp, Vec<TaskState>),
}

enum Reply {
    Record(Box<TaskRecord>),
    Unit,
    Count(u64),
}

struct Request {
    op: Op,
    /// Where the answer goes; `None` for a queued write nobody waits for.
    reply: Option<oneshot::Sender<Result<Reply>>>,
}

impl Request {
    fn answer(reply_to: Option<oneshot::Sender<Result<Reply>>>, result: Result<Reply>) {
        match reply_to {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(error) = result {
                    tracing::warn!(%error, "task store: a queued write was refused");
                }
            }
        }
    }
}

/// What the writer and the readers share.
#[derive(Debug)]
struct Shared {
    db: Database,
    index: RwLock<Index>,
    location: String,
}

/// The embedded, durable [`TaskStore`]: a redb file (or memory, for tests) with an in-memory
/// index of about 40 bytes per task.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> infrahub_worker::Result<()> {
/// use infrahub_worker::{EmbeddedTaskStore, NewTask, TaskFilter, TaskState, TaskStore, WorkflowType};
///
/// let store = EmbeddedTaskStore::in_memory()?;
/// let task = store
///     .create(NewTask {
///         id: None,
///         title: "Example".into(),
///         workflow: "example".into(),
///         workflow_type: WorkflowType::Internal,
///         database_change: false,
///         state: TaskState::Pending,
///         parameters: serde_json::json!({}),
///         branch: None,
///         related_nodes: Vec::new(),
///         account: None,
///     })
///     .await?;
/// let page = store.list(&TaskFilter::default(), 0, 10).await?;
/// assert_eq!(page.count, 1);
/// assert_eq!(page.tasks[0].id, task.id);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EmbeddedTaskStore {
    shared: Arc<Shared>,
    sender: Sender<Request>,
}

impl std::fmt::Debug for EmbeddedTaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTaskStore")
            .field("location", &self.shared.location)
            .finish_non_exhaustive()
    }
}

fn storage(what: &str, error: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("task store: {what}: {error}"))
}

fn decode(bytes: &[u8]) -> Result<TaskRecord> {
    serde_json::from_slice(bytes).map_err(|e| storage("decoding a task record", e))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| storage("encoding", e))
}

impl EmbeddedTaskStore {
    /// Opens (or creates) the store in file `path`, loading its index.
    ///
    /// # Errors
    ///
    /// `Unavailable` when the file cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| storage(&format!("creating {}", parent.display()), e))?;
        }
        // redb's page cache defaults to 1 GiB; the index answers lists, so reads of records are
        // few and small.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| storage(&format!("opening {}", path.display()), e))?;
        Self::start(db, path.display().to_string())
    }

    /// A store kept in memory only (tests and throwaway use).
    ///
    /// # Errors
    ///
    /// `Unavailable` when the in-memory database cannot be created.
    pub fn in_memory() -> Result<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| storage("creating an in-memory database", e))?;
        Self::start(db, "memory".to_owned())
    }

    fn start(db: Database, location: String) -> Result<Self> {
        {
            let txn = db
                .begin_write()
                .map_err(|e| storage("starting a write", e))?;
            txn.open_table(TASKS)
                .map_err(|e| storage("creating tables", e))?;
            txn.open_table(LOGS)
                .map_err(|e| storage("creating tables", e))?;
            txn.commit().map_err(|e| storage("creating tables", e))?;
        }
        let mut index = Index::default();
        {
            let read = db.begin_read().map_err(|e| storage("starting a read", e))?;
            let tasks = read
                .open_table(TASKS)
                .map_err(|e| storage("opening tasks", e))?;
            if let Some(first) = tasks.first().map_err(|e| storage("reading tasks", e))? {
                index.start_at(first.0.value());
            }
            for entry in tasks.iter().map_err(|e| storage("reading tasks", e))? {
                let (seq, value) = entry.map_err(|e| storage("reading tasks", e))?;
                let fields: IndexFields = serde_json::from_slice(value.value())
                    .map_err(|e| storage("decoding a task record", e))?;
                index.put(seq.value(), &fields);
            }
        }
        let shared = Arc::new(Shared {
            db,
            index: RwLock::new(index),
            location,
        });
        let (sender, receiver) = channel();
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("task-store-writer".to_owned())
            .spawn(move || write_loop(&writer, &receiver))
            .map_err(|e| storage("starting the writer thread", e))?;
        Ok(EmbeddedTaskStore { shared, sender })
    }

    async fn send(&self, op: Op) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request {
                op,
                reply: Some(reply),
            })
            .map_err(|_| Error::unavailable("task store: the writer stopped"))?;
        answer
            .await
            .map_err(|_| Error::unavailable("task store: the writer stopped"))?
    }

    /// Sends `op` without waiting for its answer (a refusal is logged).
    fn queue(&self, op: Op) {
        if self.sender.send(Request { op, reply: None }).is_err() {
            tracing::warn!("task store: the writer stopped; a queued write is lost");
        }
    }

    fn read_record(&self, seq: u64) -> Result<Option<TaskRecord>> {
        read_records(&self.shared, &[seq]).map(|mut records| records.pop())
    }
}

fn read_records(shared: &Shared, seqs: &[u64]) -> Result<Vec<TaskRecord>> {
    let read = shared
        .db
        .begin_read()
        .map_err(|e| storage("starting a read", e))?;
    let tasks = read
        .open_table(TASKS)
        .map_err(|e| storage("opening tasks", e))?;
    let mut records = Vec::with_capacity(seqs.len());
    for seq in seqs {
        // A task deleted since the index was read is skipped.
        if let Some(value) = tasks.get(*seq).map_err(|e| storage("reading a task", e))? {
            records.push(decode(value.value())?);
        }
    }
    Ok(records)
}

fn record_of(reply: Reply) -> Result<TaskRecord> {
    match reply {
        Reply::Record(record) => Ok(*record),
        _ => Err(Error::unavailable("task store: unexpected reply")),
    }
}

#[async_trait]
impl TaskStore for EmbeddedTaskStore {
    async fn create(&self, task: NewTask) -> Result<TaskRecord> {
        record_of(self.send(Op::Create(task)).await?)
    }

    async fn update(&self, id: &str, update: TaskUpdate) -> Result<TaskRecord> {
        record_of(self.send(Op::Update(id.to_owned(), update)).await?)
    }

    async fn append_logs(&self, id: &str, lines: Vec<(Severity, String)>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.send(Op::Logs(id.to_owned(), lines)).await.map(|_| ())
    }

    fn queue_logs(&self, id: &str, lines: Vec<(Severity, String)>) {
        if !lines.is_empty() {
            self.queue(Op::Logs(id.to_owned(), lines));
        }
    }

    fn queue_update(&self, id: &str, update: TaskUpdate) {
        self.queue(Op::Update(id.to_owned(), update));
    }

    async fn cancel(&self, id: &str) -> Result<TaskRecord> {
        record_of(self.send(Op::Cancel(id.to_owned())).await?)
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>> {
        let seq = self.shared.index.read().map_err(poisoned)?.seq_of(id);
        match seq {
            Some(seq) => self.read_record(seq),
            None => Ok(None),
        }
    }

    async fn state(&self, id: &str) -> Result<Option<TaskState>> {
        let index = self.shared.index.read().map_err(poisoned)?;
        Ok(index.seq_of(id).and_then(|seq| index.state(seq)))
    }

    async fn list(&self, filter: &TaskFilter, offset: usize, limit: usize) -> Result<TaskPage> {
        let limit = limit.min(MAX_PAGE);
        let shared = Arc::clone(&self.shared);
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || {
            let (count, seqs) = shared
                .index
                .read()
                .map_err(poisoned)?
                .scan(&filter, offset, limit);
            let tasks = read_records(&shared, &seqs)?;
            Ok(TaskPage { count, tasks })
        })
        .await
        .map_err(|e| storage("listing tasks", e))?
    }

    async fn logs(&self, id: &str, offset: usize, limit: usize) -> Result<LogPage> {
        let limit = limit.min(MAX_PAGE);
        let Some(seq) = self.shared.index.read().map_err(poisoned)?.seq_of(id) else {
            return Ok(LogPage::default());
        };
        let read = self
            .shared
            .db
            .begin_read()
            .map_err(|e| storage("starting a read", e))?;
        let Some(record) = read
            .open_table(TASKS)
            .map_err(|e| storage("opening tasks", e))?
            .get(seq)
            .map_err(|e| storage("reading a task", e))?
            .map(|v| decode(v.value()))
            .transpose()?
        else {
            return Ok(LogPage::default());
        };
        let logs_table = read
            .open_table(LOGS)
            .map_err(|e| storage("opening logs", e))?;
        let start = u32::try_from(offset).unwrap_or(u32::MAX);
        let mut logs = Vec::new();
        for entry in logs_table
            .range((seq, start)..(seq, u32::MAX))
            .map_err(|e| storage("reading logs", e))?
            .take(limit)
        {
            let (key, value) = entry.map_err(|e| storage("reading logs", e))?;
            let stored: StoredLog = serde_json::from_slice(value.value())
                .map_err(|e| storage("decoding a log line", e))?;
            logs.push(log_line(
                &record.id,
                key.value().1,
                stored.severity,
                stored.message,
                stored.timestamp,
            ));
        }
        Ok(LogPage {
            count: u64::from(record.log_count),
            logs,
        })
    }

    async fn delete_before(&self, before: Timestamp, states: &[TaskState]) -> Result<u64> {
        match self.send(Op::Delete(before, states.to_vec())).await? {
            Reply::Count(n) => Ok(n),
            _ => Err(Error::unavailable("task store: unexpected reply")),
        }
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::unavailable("task store: the index lock is poisoned")
}

/// Index changes of a batch, applied once it is committed.
enum Change {
    Put(u64, Box<TaskRecord>),
    Remove(u64),
}

/// The state of one batch while it is written.
struct Batch<'a> {
    shared: &'a Shared,
    next_seq: u64,
    new_ids: HashMap<[u8; 16], u64>,
    changes: Vec<Change>,
}

impl Batch<'_> {
    fn seq_of(&self, id: &str) -> Option<u64> {
        let key = parse_id(id)?;
        if let Some(seq) = self.new_ids.get(&key) {
            return Some(*seq);
        }
        self.shared.index.read().ok()?.seq_of(id)
    }

    fn load(&self, txn: &WriteTransaction, id: &str) -> Result<(u64, TaskRecord)> {
        let seq = self.seq_of(id).ok_or_else(|| Error::not_found(id))?;
        let table = txn
            .open_table(TASKS)
            .map_err(|e| storage("opening tasks", e))?;
        let record = table
            .get(seq)
            .map_err(|e| storage("reading a task", e))?
            .ok_or_else(|| Error::not_found(id))
            .and_then(|v| decode(v.value()))?;
        Ok((seq, record))
    }

    fn save(&mut self, txn: &WriteTransaction, seq: u64, record: TaskRecord) -> Result<TaskRecord> {
        let bytes = encode(&record)?;
        txn.open_table(TASKS)
            .map_err(|e| storage("opening tasks", e))?
            .insert(seq, bytes.as_slice())
            .map_err(|e| storage("writing a task", e))?;
        self.changes
            .push(Change::Put(seq, Box::new(record.clone())));
        Ok(record)
    }

    fn apply(&mut self, txn: &WriteTransaction, op: Op) -> Result<Reply> {
        let now = Timestamp::now();
        match op {
            Op::Create(task) => {
                let record = rules::new_record(task, now)?;
                if self.seq_of(&record.id).is_some() {
                    return Err(rules::already_exists(&record.id));
                }
                let key = parse_id(&record.id).ok_or_else(|| Error::invalid("a task id"))?;
                let seq = self.next_seq;
                self.next_seq += 1;
                self.new_ids.insert(key, seq);
                self.save(txn, seq, record)
                    .map(|r| Reply::Record(Box::new(r)))
            }
            Op::Update(id, update) => {
                let (seq, mut record) = self.load(txn, &id)?;
                rules::apply_update(&mut record, update, now)?;
                self.save(txn, seq, record)
                    .map(|r| Reply::Record(Box::new(r)))
            }
            Op::Logs(id, lines) => {
                let (seq, mut record) = self.load(txn, &id)?;
                let kept = rules::accept_logs(&mut record, lines, now);
                {
                    let mut logs = txn
                        .open_table(LOGS)
                        .map_err(|e| storage("opening logs", e))?;
                    for (index, severity, message) in kept {
                        let bytes = encode(&StoredLog {
                            message,
                            severity,
                            timestamp: now,
                        })?;
                        logs.insert((seq, index), bytes.as_slice())
                            .map_err(|e| storage("writing a log line", e))?;
                    }
                }
                self.save(txn, seq, record).map(|_| Reply::Unit)
            }
            Op::Cancel(id) => {
                let (seq, mut record) = self.load(txn, &id)?;
                rules::apply_cancel(&mut record, now)?;
                self.save(txn, seq, record)
                    .map(|r| Reply::Record(Box::new(r)))
            }
            Op::Delete(before, states) => {
                let seqs = self
                    .shared
                    .index
                    .read()
                    .map_err(poisoned)?
                    .older_than(before.as_micros(), &states);
                let mut tasks = txn
                    .open_table(TASKS)
                    .map_err(|e| storage("opening tasks", e))?;
                let mut logs = txn
                    .open_table(LOGS)
                    .map_err(|e| storage("opening logs", e))?;
                for seq in &seqs {
                    tasks
                        .remove(*seq)
                        .map_err(|e| storage("deleting a task", e))?;
                    logs.retain_in((*seq, 0)..=(*seq, u32::MAX), |_, _| false)
                        .map_err(|e| storage("deleting logs", e))?;
                    self.changes.push(Change::Remove(*seq));
                }
                Ok(Reply::Count(seqs.len() as u64))
            }
        }
    }
}

/// The writer thread: takes every queued request, applies them in one durable transaction,
/// then updates the index and answers.
fn write_loop(shared: &Shared, receiver: &Receiver<Request>) {
    while let Ok(first) = receiver.recv() {
        let mut requests = vec![first];
        while requests.len() < BATCH {
            match receiver.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        let next_seq = match shared.index.read() {
            Ok(index) => index.next_seq(),
            Err(_) => {
                for request in requests {
                    Request::answer(request.reply, Err(poisoned(())));
                }
                continue;
            }
        };
        let mut batch = Batch {
            shared,
            next_seq,
            new_ids: HashMap::new(),
            changes: Vec::new(),
        };
        let txn = shared
            .db
            .begin_write()
            .map_err(|e| storage("starting a write", e))
            .and_then(|mut txn| {
                txn.set_durability(Durability::Immediate)
                    .map_err(|e| storage("setting durability", e))?;
                Ok(txn)
            });
        let txn = match txn {
            Ok(txn) => txn,
            Err(error) => {
                for request in requests {
                    Request::answer(request.reply, Err(error.clone()));
                }
                continue;
            }
        };
        let mut answers = Vec::with_capacity(requests.len());
        let mut broken = None;
        for request in requests {
            // An operation refused by its checks wrote nothing (every check comes before the
            // writes), so the others commit; a storage failure spoils the whole batch.
            let result = batch.apply(&txn, request.op);
            if let Err(error) = &result
                && error.kind() == ErrorKind::Unavailable
            {
                broken.get_or_insert_with(|| error.clone());
            }
            answers.push((request.reply, result));
        }
        let committed = match broken {
            Some(error) => {
                let _ = txn.abort();
                Err(error)
            }
            None => txn.commit().map_err(|e| storage("committing", e)),
        };
        match committed {
            Ok(()) => {
                if let Ok(mut index) = shared.index.write() {
                    for change in batch.changes {
                        match change {
                            Change::Put(seq, record) => index.put(seq, &IndexFields::of(&record)),
                            Change::Remove(seq) => index.remove(seq),
                        }
                    }
                }
                for (reply, result) in answers {
                    Request::answer(reply, result);
                }
            }
            Err(error) => {
                tracing::error!(%error, "the task store could not commit");
                for (reply, _) in answers {
                    Request::answer(reply, Err(error.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance_in_memory() {
        super::super::conformance::run_all(|| async { EmbeddedTaskStore::in_memory().unwrap() })
            .await;
    }

    #[tokio::test]
    async fn records_and_logs_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("infrahub-tasks-{}", uuid::Uuid::new_v4()));
        let path = dir.join("tasks.redb");
        let id = {
            let store = EmbeddedTaskStore::open(&path).unwrap();
            let task = store
                .create(super::super::conformance::new_task("reopen", Some("main")))
                .await
                .unwrap();
            store
                .append_logs(&task.id, vec![(Severity::Info, "kept".into())])
                .await
                .unwrap();
            store
                .update(
                    &task.id,
                    TaskUpdate {
                        state: Some(TaskState::Completed),
                        ..TaskUpdate::default()
                    },
                )
                .await
                .unwrap();
            task.id
        };
        // The first store's writer thread holds the file until its channel closes.
        let mut attempts = 0;
        let store = loop {
            match EmbeddedTaskStore::open(&path) {
                Ok(store) => break store,
                Err(error) => {
                    attempts += 1;
                    assert!(attempts < 500, "reopening: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        };
        let task = store.get(&id).await.unwrap().unwrap();
        assert_eq!(task.state, TaskState::Completed);
        let logs = store.logs(&id, 0, 10).await.unwrap();
        assert_eq!(logs.count, 1);
        assert_eq!(logs.logs[0].message, "kept");
        let page = store
            .list(
                &TaskFilter {
                    branch: Some("main".into()),
                    ..TaskFilter::default()
                },
                0,
                10,
            )
            .await
            .unwrap();
        assert_eq!(page.count, 1);
        // The reloaded index answers the title filter too.
        let titled = store
            .list(
                &TaskFilter {
                    q: Some("RUNNING REO".into()),
                    ..TaskFilter::default()
                },
                0,
                10,
            )
            .await
            .unwrap();
        assert_eq!(titled.count, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
