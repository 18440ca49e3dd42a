//! The flusher thread: moves memtable layers into the database, and makes the database durable
//! at checkpoints, while the writer thread goes on validating and journaling changesets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::{Database, Durability};

use crate::error::{Error, ErrorKind, Result};

use super::tables::{Memtable, Table, storage};
use super::writer::{ReadTables, open_read_tables, open_write_tables, write_entry};

/// Tick of the idle check: a memtable whose newest layer stayed the same over a whole tick is
/// moved into the database (so writes wait at most about two ticks once writing stops).
const FLUSH_IDLE: Duration = Duration::from_millis(5);

/// What the writer, the flusher and readers share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Acknowledged writes not yet in the database.
    pub(crate) memtable: RwLock<Arc<Memtable>>,
    /// Bumped, under the memtable's write lock, each time layers move into the database.
    pub(crate) generation: AtomicU64,
    /// The database snapshot readers and the writer share, with the generation it was opened
    /// at (see [`Shared::view`]); dropped at each move so that no old read transaction
    /// outlives it for long.
    pub(crate) tables: std::sync::Mutex<Option<(u64, Arc<ReadTables>)>>,
    /// Whether the latest attempt to move the memtable into the database failed (the writer
    /// then stops waiting for the flusher; the journal keeps the writes durable).
    pub(crate) failing: AtomicBool,
}

impl Shared {
    /// A consistent view: the memtable, taken while the database snapshot is looked up or
    /// opened, so that a move in between shows its writes either in the memtable or in the
    /// database.
    ///
    /// Opening a database snapshot (a read transaction and its tables) costs more than most
    /// reads, so readers and the writer share one until the flusher next moves layers into the
    /// database: while the generation stays the same no layer left the memtable, and the
    /// memtable taken now holds every write the shared snapshot lacks.
    pub(crate) fn view(&self, db: &Database) -> Result<(Arc<Memtable>, Arc<ReadTables>)> {
        let guard = self
            .memtable
            .read()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))?;
        let memtable = Arc::clone(&guard);
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self
            .tables
            .lock()
            .map_err(|_| Error::new(ErrorKind::Storage, "snapshot cache poisoned"))?;
        let tables = match cached.as_ref() {
            Some((at, tables)) if *at == generation => Arc::clone(tables),
            _ => {
                let tables = Arc::new(open_read_tables(db)?);
                *cached = Some((generation, Arc::clone(&tables)));
                tables
            }
        };
        drop(cached);
        drop(guard);
        Ok((memtable, tables))
    }

    /// The current memtable.
    pub(crate) fn memtable(&self) -> Result<Arc<Memtable>> {
        self.memtable
            .read()
            .map(|m| Arc::clone(&m))
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))
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
}

/// The flusher's state.
pub(crate) struct Flusher {
    pub(crate) db: Arc<Database>,
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
                    self.shared
                        .failing
                        .store(result.is_err(), Ordering::Release);
                    let _ = reply.send(result);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn flush_or_log(&self) {
        let result = self.flush();
        self.shared
            .failing
            .store(result.is_err(), Ordering::Release);
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
        let mut txn = self
            .db
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
        let mut memtable = self
            .shared
            .memtable
            .write()
            .map_err(|_| Error::new(ErrorKind::Storage, "memtable poisoned"))?;
        *memtable = Arc::new(memtable.without_through(last));
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut tables) = self.shared.tables.lock() {
            *tables = None;
        }
        Ok(())
    }

    /// Commits an empty durable transaction: every earlier commit becomes durable.
    fn make_durable(&self) -> Result<()> {
        if !self.journaled {
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| storage("starting a checkpoint", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage("setting durability", e))?;
        txn.commit()
            .map_err(|e| storage("committing a checkpoint", e))
    }
}
