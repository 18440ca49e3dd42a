//! The flusher thread: moves memtable layers into the database, and makes the database durable
//! at checkpoints, while the writer thread goes on validating and journaling changesets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, Durability};

use crate::error::{Error, ErrorKind, Result};

use super::journal::JournalRecord;
use super::tables::{Memtable, Table, storage};
use super::writer::{ReadTables, open_read_tables, open_write_tables, replay_journal, write_entry};

/// Tick of the idle check: a memtable whose newest layer stayed the same over a whole tick is
/// moved into the database (so writes wait at most about two ticks once writing stops).
const FLUSH_IDLE: Duration = Duration::from_millis(5);

/// How errors start while the database is closed after a failure.
const UNAVAILABLE: &str = "the embedded store's database is closed after a storage failure";

/// Longest wait, during a recovery, for reads to let go of the failed database.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// The opened tables of one read transaction, with the database they were opened from: a
/// recovery knows that no read holds the old database when only it holds the `Arc`.
pub(crate) struct DbSnapshot {
    tables: ReadTables,
    _database: Arc<Database>,
}

impl std::ops::Deref for DbSnapshot {
    type Target = ReadTables;

    fn deref(&self) -> &ReadTables {
        &self.tables
    }
}

/// Where a file-backed database is opened again after an I/O error.
#[derive(Clone, Debug)]
pub(crate) struct Reopen {
    /// The database file.
    pub(crate) path: PathBuf,
    /// Its page cache, in bytes.
    pub(crate) cache_size: usize,
}

/// The database, and the snapshot readers share.
struct Slot {
    /// Empty while a recovery reopens it.
    database: Option<Arc<Database>>,
    /// The shared snapshot and the generation it was opened at (see [`Shared::view`]).
    snapshot: Option<(u64, Arc<DbSnapshot>)>,
}

/// What the writer, the flusher and readers share.
pub(crate) struct Shared {
    /// Acknowledged writes not yet in the database.
    pub(crate) memtable: RwLock<Arc<Memtable>>,
    /// Bumped, under the memtable's write lock, each time layers move into the database.
    pub(crate) generation: AtomicU64,
    slot: Mutex<Slot>,
    /// Whether the latest attempt to move the memtable into the database failed: the
    /// database may be unusable until it is reopened (redb refuses every operation after an
    /// I/O error), and the writer refuses writes until a recovery succeeds.
    pub(crate) failing: AtomicBool,
    /// The error of the latest failure, for the message of refused writes.
    failure: Mutex<Option<String>>,
    /// How to reopen the database; `None` for a database in memory.
    reopen: Option<Reopen>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("generation", &self.generation)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// State around an opened database.
    pub(crate) fn new(database: Arc<Database>, reopen: Option<Reopen>) -> Shared {
        Shared {
            memtable: RwLock::default(),
            generation: AtomicU64::new(0),
            slot: Mutex::new(Slot {
                database: Some(database),
                snapshot: None,
            }),
            failing: AtomicBool::new(false),
            failure: Mutex::new(None),
            reopen,
        }
    }

    fn slot(&self) -> Result<std::sync::MutexGuard<'_, Slot>> {
        self.slot
            .lock()
            .map_err(|_| Error::new(ErrorKind::Storage, "database slot poisoned"))
    }

    /// The database, unless a recovery is reopening it.
    pub(crate) fn database(&self) -> Result<Arc<Database>> {
        self.slot()?
            .database
            .clone()
            .ok_or_else(|| self.unavailable())
    }

    fn unavailable(&self) -> Error {
        Error::new(
            ErrorKind::Storage,
            format!(
                "{UNAVAILABLE} ({})",
                self.failure().unwrap_or_else(|| "unknown cause".into())
            ),
        )
    }

    /// Records a failure of the database (or clears it with `None`). An error that only says
    /// that the database is closed after an earlier failure keeps that failure as the cause.
    pub(crate) fn set_failure(&self, failure: Option<&Error>) {
        self.failing.store(failure.is_some(), Ordering::Release);
        if let Some(error) = failure
            && !error.to_string().starts_with(UNAVAILABLE)
            && let Ok(mut latest) = self.failure.lock()
        {
            *latest = Some(error.to_string());
        }
    }

    /// The error of the latest failure.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// A consistent view: the memtable, taken while the database snapshot is looked up or
    /// opened, so that a move in between shows its writes either in the memtable or in the
    /// database.
    ///
    /// Opening a database snapshot (a read transaction and its tables) costs more than most
    /// reads, so readers and the writer share one until the flusher next moves layers into the
    /// database: while the generation stays the same no layer left the memtable, and the
    /// memtable taken now holds every write the shared snapshot lacks.
    pub(crate) fn view(&self) -> Result<(Arc<Memtable>, Arc<DbSnapshot>)> {
        let guard = self
            .memtable
            .read()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))?;
        let memtable = Arc::clone(&guard);
        let generation = self.generation.load(Ordering::Acquire);
        let mut slot = self.slot()?;
        let tables = match slot.snapshot.as_ref() {
            Some((at, tables)) if *at == generation => Arc::clone(tables),
            _ => {
                let database = slot.database.clone().ok_or_else(|| self.unavailable())?;
                let tables = Arc::new(DbSnapshot {
                    tables: open_read_tables(&database)?,
                    _database: database,
                });
                slot.snapshot = Some((generation, Arc::clone(&tables)));
                tables
            }
        };
        drop(slot);
        drop(guard);
        Ok((memtable, tables))
    }

    /// Takes the database out of the slot (and the shared snapshot with it): reads and writes
    /// get an error until one is put back.
    fn take_database(&self) -> Result<Option<Arc<Database>>> {
        let mut slot = self.slot()?;
        slot.snapshot = None;
        Ok(slot.database.take())
    }

    /// Closes the database for good once the writer and the flusher have stopped: takes it
    /// out of the slot, waits for reads to let go of it and closes it, which releases its file.
    /// Later reads get an error saying the store is closed.
    ///
    /// Errors: reads still held the database after [`RELEASE_WAIT`] (it is put back and
    /// stays open); closing failed.
    pub(crate) fn close(&self) -> Result<()> {
        let Some(database) = self.take_database()? else {
            return Ok(());
        };
        match sole_owner(database) {
            Ok(database) => {
                self.set_failure(Some(&Error::new(
                    ErrorKind::Storage,
                    "the embedded store is closed",
                )));
                database
                    .close()
                    .map_err(|e| storage("closing the database", e))
            }
            Err(still_held) => {
                self.slot()?.database = Some(still_held);
                Err(Error::new(
                    ErrorKind::Storage,
                    "reads kept the database open; the store is not closed",
                ))
            }
        }
    }

    /// The current memtable.
    pub(crate) fn memtable(&self) -> Result<Arc<Memtable>> {
        self.memtable
            .read()
            .map(|m| Arc::clone(&m))
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))
    }

    /// Drops the layers through `last` from the memtable once they are in the database, and
    /// with them the shared snapshot (under the memtable's write lock, see [`Shared::view`]);
    /// `database`, when given, replaces the database first.
    fn moved_through(&self, last: Option<u64>, database: Option<Arc<Database>>) -> Result<()> {
        let mut memtable = self
            .memtable
            .write()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))?;
        if let Some(last) = last {
            *memtable = Arc::new(memtable.without_through(last));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut slot = self.slot()?;
        slot.snapshot = None;
        if database.is_some() {
            slot.database = database;
        }
        Ok(())
    }
}

/// Waits until nothing but `database` holds the database (reads let go of their snapshots), up
/// to [`RELEASE_WAIT`]; gives it back when reads kept it.
fn sole_owner(mut database: Arc<Database>) -> std::result::Result<Database, Arc<Database>> {
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match Arc::try_unwrap(database) {
            Ok(database) => return Ok(database),
            Err(still_held) if Instant::now() >= deadline => return Err(still_held),
            Err(still_held) => {
                database = still_held;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Work for the flusher.
pub(crate) enum FlushRequest {
    /// The memtable was empty and holds writes now: watch it for idleness.
    Wake,
    /// Move the memtable into the database now.
    Flush,
    /// Move the memtable into the database, then make the database durable.
    Checkpoint(SyncSender<Result<()>>),
    /// Reopen the database after an I/O error, replay the journal's records into it (every
    /// write acknowledged since the last checkpoint) and make it durable.
    Recover(Vec<JournalRecord>, SyncSender<Result<()>>),
}

/// The flusher's state.
pub(crate) struct Flusher {
    pub(crate) shared: Arc<Shared>,
    /// Whether a journal makes writes durable (database commits are then not synced).
    pub(crate) journaled: bool,
}

impl Flusher {
    /// Runs until the writer drops its sender.
    pub(crate) fn run(self, requests: Receiver<FlushRequest>) {
        // The newest layer seen at the previous idle tick: a memtable whose newest layer did
        // not change over one tick has had no writes for that long.
        let mut seen: Option<u64> = None;
        loop {
            let newest = self.shared.memtable().ok().and_then(|m| m.last_id());
            let timeout = if newest.is_some() {
                FLUSH_IDLE
            } else {
                Duration::from_secs(3600)
            };
            match requests.recv_timeout(timeout) {
                Ok(FlushRequest::Wake) => {}
                Ok(FlushRequest::Flush) => self.flush_or_log(),
                Err(RecvTimeoutError::Timeout) => {
                    let newest = self.shared.memtable().ok().and_then(|m| m.last_id());
                    if newest == seen {
                        self.flush_or_log();
                        seen = None;
                    } else {
                        seen = newest;
                    }
                }
                Ok(FlushRequest::Checkpoint(reply)) => {
                    let result = self.flush().and_then(|()| self.make_durable());
                    self.shared.set_failure(result.as_ref().err());
                    let _ = reply.send(result);
                }
                Ok(FlushRequest::Recover(records, reply)) => {
                    let result = self.recover(records);
                    if let Err(err) = &result {
                        self.shared.set_failure(Some(err));
                    }
                    let _ = reply.send(result);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn flush_or_log(&self) {
        let result = self.flush();
        self.shared.set_failure(result.as_ref().err());
        if let Err(err) = result {
            tracing::error!(error = %err, "moving the memtable into the embedded store failed");
        }
    }

    /// Moves every layer of the memtable into the database in one transaction, then removes
    /// them from the memtable. Readers that took the memtable before see the same writes in
    /// the database: the layers leave the memtable only after the commit.
    pub(crate) fn flush(&self) -> Result<()> {
        let snapshot = self.shared.memtable()?;
        let Some(last) = snapshot.last_id() else {
            return Ok(());
        };
        let database = self.shared.database()?;
        let mut txn = database
            .begin_write()
            .map_err(|e| storage("starting a write", e))?;
        if self.journaled {
            txn.set_durability(Durability::None)
                .map_err(|e| storage("setting durability", e))?;
        }
        {
            let mut tables = open_write_tables(&txn)?;
            // Every batch rewrites the same few bookkeeping keys (latest timestamp, journal
            // sequence): only the newest of each is written.
            let mut meta: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
            for layer in snapshot.layers() {
                for (table, key, value) in layer.iter() {
                    if table == Table::Meta {
                        meta.insert(key, value);
                    } else {
                        write_entry(&mut tables, table, key, value)?;
                    }
                }
            }
            for (key, value) in meta {
                write_entry(&mut tables, Table::Meta, key, value)?;
            }
        }
        txn.commit().map_err(|e| storage("committing", e))?;
        self.shared.moved_through(Some(last), None)
    }

    /// Commits an empty durable transaction: every earlier commit becomes durable.
    fn make_durable(&self) -> Result<()> {
        if !self.journaled {
            return Ok(());
        }
        let mut txn = self
            .shared
            .database()?
            .begin_write()
            .map_err(|e| storage("starting a checkpoint", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage("setting durability", e))?;
        txn.commit()
            .map_err(|e| storage("committing a checkpoint", e))
    }

    /// Closes the failed database once no read holds it, opens it again (redb rolls it back
    /// to its last durable state), replays `records` (every batch acknowledged since the last
    /// checkpoint, so also every layer of the memtable) and makes it durable; the memtable is
    /// then empty. Until it succeeds, reads and writes get an error naming the failure.
    fn recover(&self, records: Vec<JournalRecord>) -> Result<()> {
        let reopen = self.shared.reopen.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Storage,
                "a database in memory cannot be reopened after a failure",
            )
        })?;
        let last = self.shared.memtable()?.last_id();
        if let Some(database) = self.shared.take_database()? {
            match sole_owner(database) {
                // Closing a database that had an I/O error reports that error again.
                Ok(database) => {
                    if let Err(err) = database.close() {
                        tracing::debug!(error = %err, "closing the failed database");
                    }
                }
                Err(still_held) => {
                    self.shared.slot()?.database = Some(still_held);
                    return Err(Error::new(
                        ErrorKind::Storage,
                        "reads kept the failed database open; the recovery will be retried",
                    ));
                }
            }
        }
        let database = Database::builder()
            .set_cache_size(reopen.cache_size)
            .create(&reopen.path)
            .map_err(|e| storage("reopening the database", e))?;
        let (_, replayed) = replay_journal(&database, records)?;
        tracing::info!(
            replayed,
            "reopened the embedded store's database after an I/O error"
        );
        self.shared.moved_through(last, Some(Arc::new(database)))
    }
}
