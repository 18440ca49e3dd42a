//! The in-process backend: [`MemoryCache`] and [`MemoryLocks`], for one node (the embedded
//! deployment) and tests. Always available.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::{Cache, KEYS_LIMIT, SetOptions, add_counter, check_key, parse_counter};
use crate::config::key_prefix;
use crate::error::{Error, Result};
use crate::lock::{AcquireOptions, HeldLock, LockGuard, LockManager, check_name, lock_timeout};

/// Writes between two sweeps of expired entries.
const SWEEP_EVERY: u64 = 4096;

/// One stored value.
#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|expires| expires > now)
    }
}

#[derive(Debug, Default)]
struct Store {
    entries: HashMap<String, Entry>,
    writes: u64,
}

impl Store {
    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.entries.get(key).filter(|entry| entry.live(now))
    }

    fn write(&mut self, key: String, value: Vec<u8>, ttl: Option<Duration>, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.entries.retain(|_, entry| entry.live(now));
        }
        let expires = ttl.map(|ttl| now + ttl.max(Duration::from_millis(1)));
        self.entries.insert(key, Entry { value, expires });
    }
}

/// The in-process [`Cache`]. Clones and [`MemoryCache::with_namespace`] share the same store.
#[derive(Clone, Default)]
pub struct MemoryCache {
    store: Arc<Mutex<Store>>,
    prefix: String,
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl MemoryCache {
    /// A new, empty store without namespace.
    pub fn new() -> Self {
        MemoryCache::default()
    }

    /// A view of the same store in `namespace` (`""` = none).
    pub fn with_namespace(&self, namespace: &str) -> Self {
        MemoryCache {
            store: self.store.clone(),
            prefix: key_prefix(namespace),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn key(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
        let store = self.store();
        Ok(store
            .live(&key, Instant::now())
            .map(|entry| entry.value.clone()))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys = keys
            .iter()
            .map(|key| self.key(key))
            .collect::<Result<Vec<_>>>()?;
        let now = Instant::now();
        let store = self.store();
        Ok(keys
            .iter()
            .map(|key| store.live(key, now).map(|entry| entry.value.clone()))
            .collect())
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        let key = self.key(key)?;
        let now = Instant::now();
        let mut store = self.store();
        if options.only_if_absent && store.live(&key, now).is_some() {
            return Ok(false);
        }
        store.write(key, value.to_vec(), options.ttl, now);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let now = Instant::now();
        let mut store = self.store();
        Ok(store
            .entries
            .remove(&key)
            .is_some_and(|entry| entry.live(now)))
    }

    async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        let full_key = self.key(key)?;
        let now = Instant::now();
        let mut store = self.store();
        let (current, expires) = match store.live(&full_key, now) {
            Some(entry) => (parse_counter(key, &entry.value)?, entry.expires),
            None => (0, None),
        };
        let new = add_counter(key, current, by)?;
        store.write(full_key.clone(), new.to_string().into_bytes(), None, now);
        if let Some(entry) = store.entries.get_mut(&full_key) {
            entry.expires = expires;
        }
        Ok(new)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let key = self.key(key)?;
        let now = Instant::now();
        let mut store = self.store();
        let current = store.live(&key, now).map(|entry| entry.value.as_slice());
        if current != expected {
            return Ok(false);
        }
        store.write(key, new.to_vec(), ttl, now);
        Ok(true)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let now = Instant::now();
        let store = self.store();
        let mut keys = Vec::new();
        for (key, entry) in &store.entries {
            if entry.live(now)
                && let Some(key) = key.strip_prefix(&full_prefix)
            {
                if keys.len() == KEYS_LIMIT {
                    return Err(too_many_keys(prefix));
                }
                keys.push(format!("{prefix}{key}"));
            }
        }
        Ok(keys)
    }
}

/// The error of a `keys_with_prefix` over [`KEYS_LIMIT`].
pub(crate) fn too_many_keys(prefix: &str) -> Error {
    Error::invalid(format!(
        "more than {KEYS_LIMIT} cache keys start with `{prefix}`: use a longer prefix"
    ))
}

/// The locks of a table: the holder of each held (or expired, not yet taken over) lock.
#[derive(Debug, Default)]
struct Slots {
    /// Per lock key, the holder's id and the end of its lease.
    holders: HashMap<String, (u128, Instant)>,
    /// The last fencing token given out, for any name: tokens grow per name because they grow
    /// overall, and released names leave nothing behind.
    fencing: u64,
}

#[derive(Debug, Default)]
struct LockTable {
    slots: Mutex<Slots>,
    released: Notify,
}

impl LockTable {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The in-process [`LockManager`], with the same lease and fencing semantics as the
/// distributed ones. Waiters wake up as soon as a lock is released.
#[derive(Clone)]
pub struct MemoryLocks {
    table: Arc<LockTable>,
    prefix: String,
    lease: Duration,
}

impl fmt::Debug for MemoryLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLocks")
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl MemoryLocks {
    /// A new lock table whose locks have a lease of `lease` unless acquired with another.
    pub fn new(lease: Duration) -> Self {
        MemoryLocks {
            table: Arc::default(),
            prefix: String::new(),
            lease,
        }
    }

    /// A view of the same table in `namespace` (`""` = none).
    pub fn with_namespace(&self, namespace: &str) -> Self {
        MemoryLocks {
            table: self.table.clone(),
            prefix: key_prefix(namespace),
            lease: self.lease,
        }
    }

    fn try_take(&self, name: &str, options: AcquireOptions) -> Option<LockGuard> {
        let key = format!("{}lock.{name}", self.prefix);
        let lease = options.lease.unwrap_or(self.lease);
        let holder = uuid::Uuid::new_v4().as_u128();
        let now = Instant::now();
        let fencing = {
            let mut slots = self.table.slots();
            if slots
                .holders
                .get(&key)
                .is_some_and(|(_, expires)| *expires > now)
            {
                return None;
            }
            slots.fencing += 1;
            slots.holders.insert(key.clone(), (holder, now + lease));
            slots.fencing
        };
        let held = MemoryHeldLock {
            table: self.table.clone(),
            key,
            holder,
        };
        Some(LockGuard::new(
            name,
            fencing,
            now,
            lease,
            options.renew,
            Box::new(held),
        ))
    }

    /// The end of the current holder's lease of `name`, if held.
    fn lease_end(&self, name: &str) -> Option<Instant> {
        let key = format!("{}lock.{name}", self.prefix);
        let slots = self.table.slots();
        slots.holders.get(&key).map(|(_, expires)| *expires)
    }
}

#[async_trait]
impl LockManager for MemoryLocks {
    async fn acquire(&self, name: &str, options: AcquireOptions) -> Result<LockGuard> {
        check_name(name)?;
        let deadline = Instant::now() + options.wait;
        loop {
            let released = self.table.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(guard) = self.try_take(name, options) {
                return Ok(guard);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(lock_timeout(name, options.wait));
            }
            let wake = self
                .lease_end(name)
                .map_or(deadline, |lease_end| lease_end.min(deadline))
                .max(now + Duration::from_millis(1));
            tokio::select! {
                () = &mut released => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn try_acquire(&self, name: &str) -> Result<Option<LockGuard>> {
        check_name(name)?;
        Ok(self.try_take(name, AcquireOptions::default()))
    }
}

/// A lock of a [`MemoryLocks`] table held by `holder`.
#[derive(Debug)]
struct MemoryHeldLock {
    table: Arc<LockTable>,
    key: String,
    holder: u128,
}

#[async_trait]
impl HeldLock for MemoryHeldLock {
    async fn renew(&self, lease: Duration) -> Result<bool> {
        let now = Instant::now();
        let mut slots = self.table.slots();
        match slots.holders.get_mut(&self.key) {
            Some((holder, expires)) if *holder == self.holder && *expires > now => {
                *expires = now + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self) -> Result<bool> {
        let now = Instant::now();
        let held = {
            let mut slots = self.table.slots();
            match slots.holders.get(&self.key) {
                Some((holder, expires)) if *holder == self.holder => {
                    let live = *expires > now;
                    slots.holders.remove(&self.key);
                    live
                }
                _ => false,
            }
        };
        self.table.released.notify_waiters();
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn released_locks_leave_nothing_behind() {
        let locks = MemoryLocks::new(Duration::from_secs(10));
        for index in 0..100 {
            let guard = locks
                .try_acquire(&format!("artifact.{index}"))
                .await
                .unwrap();
            guard.unwrap().release().await.unwrap();
        }
        assert!(locks.table.slots().holders.is_empty());
        let guard = locks.try_acquire("artifact.0").await.unwrap().unwrap();
        assert_eq!(
            guard.fencing_token(),
            101,
            "tokens keep growing after names are gone"
        );
    }
}
