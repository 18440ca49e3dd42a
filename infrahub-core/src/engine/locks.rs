//! Named locks the engine takes around work that must not interleave: schema loads, branch
//! merges, rebases and deletes, IPAM placement, pool allocation, first-start initialisation.
//!
//! Every lock is first taken in the process (a `tokio` mutex per name, so tasks of one server
//! queue without touching the network), then, when the engine was given a shared
//! [`LockManager`] (Redis or NATS in a deployment of several servers), in that manager too:
//! a lease renewed while held, freed when the holder dies. Names follow upstream's catalogue
//! where one exists (`global.schema`, `global.init`, `resource_pool.<id>`).

use std::sync::Arc;

use infrahub_cache::{AcquireOptions, LockGuard};

use super::Engine;
use crate::error::{Error, ErrorKind, Result};

/// The lock schema loads, merges and rebases take.
pub(crate) const SCHEMA_LOCK: &str = "global.schema";
/// The lock the first start's initialisation and migrations take.
pub(crate) const INIT_LOCK: &str = "global.init";
/// How long a starting server waits for another one's initialisation or migrations (a first
/// start on a remote database takes minutes).
pub(crate) const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(900);

/// A held engine lock; dropping it releases the shared lock (in the background) and then the
/// in-process one.
#[derive(Debug)]
pub(crate) struct EngineLock {
    // Declared first so it is released before other tasks of this process can take the name.
    shared: Option<LockGuard>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl EngineLock {
    /// Fails when the shared lock's lease was lost (the lock service was unreachable for a
    /// whole lease): another holder may be working, so the caller must not commit.
    pub(crate) fn ensure_held(&self) -> Result<()> {
        match &self.shared {
            Some(guard) if !guard.is_held() => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the lock `{}` was lost (the lock service did not answer in time); nothing was written, retry",
                    guard.name()
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl Engine {
    /// Takes the lock `name`: in the process, then in the shared lock manager when there is
    /// one, waiting up to [`EngineOptions::lock_wait`](super::EngineOptions::lock_wait).
    pub(crate) async fn named_lock(&self, name: &str) -> Result<EngineLock> {
        self.named_lock_waiting(name, self.options.lock_wait).await
    }

    /// [`Engine::named_lock`] waiting up to `wait` for the shared lock.
    pub(crate) async fn named_lock_waiting(
        &self,
        name: &str,
        wait: std::time::Duration,
    ) -> Result<EngineLock> {
        let local = {
            let mut locks = self
                .branch_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(locks.entry(name.to_string()).or_default())
        };
        let local = local.lock_owned().await;
        let shared = match &self.options.locks {
            Some(manager) => {
                let acquired = manager.acquire(name, AcquireOptions::wait(wait)).await;
                Some(acquired.map_err(lock_error)?)
            }
            None => None,
        };
        Ok(EngineLock {
            shared,
            _local: local,
        })
    }

    /// Whether this engine shares its store with other processes (it was given a shared lock
    /// manager): its registry of branch schemas may then be behind the store.
    pub(crate) fn is_shared(&self) -> bool {
        self.options.locks.is_some()
    }
}

/// The engine error for a lock that could not be taken.
fn lock_error(error: infrahub_cache::Error) -> Error {
    // Busy (waited too long) or unreachable: either way nothing was done and a later attempt
    // may succeed.
    Error::new(ErrorKind::Unavailable, error.to_string()).with_source(error)
}
