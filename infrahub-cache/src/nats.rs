//! The NATS backend: [`NatsCache`] and [`NatsLocks`] over a JetStream key-value bucket.
//!
//! One bucket per namespace: `kv_<database>` with an empty namespace (upstream's bucket name),
//! `kv_<database>_<namespace>` otherwise, characters outside `[A-Za-z0-9-]` of the namespace
//! written `_XX` (hex). Keys keep upstream's form: `:` becomes `.` (`workers:worker:1` is
//! `workers.worker.1`), and characters NATS does not allow in keys are written `=XX` (hex of
//! each UTF-8 byte; so is a `:` or `.` that would start or end the key or double a dot). As
//! upstream, two keys that differ only by `:` against `.` share one NATS key.
//!
//! **TTLs.** NATS 2.9 has no per-message TTL, and upstream's fixed TTL buckets ignore the TTLs
//! of most keys. Here every value is stored in an envelope that carries its expiry (wall-clock
//! milliseconds) and its original key; a value past its expiry reads as absent for every
//! operation, and the first `get` or `keys_with_prefix` that finds it expired deletes it
//! (revision-checked). The bucket itself has no `max_age`, because keys without TTL must live;
//! expired values nobody reads or lists again stay stored until overwritten or deleted. Expiry compares the wall
//! clocks of the processes: keep them in sync (NTP) to well under the shortest TTL and lease.
//!
//! **Locks.** A lock `<name>` is the key `lock.<name>` holding the holder's id and the end of
//! its lease. Taking a lock is a KV `create` (or, over an expired lease, an `update` checked
//! against the revision read), renewing and releasing are revision-checked `update` and
//! `delete`, so an old holder never touches its successor's entry. The fencing token is the KV
//! revision of the acquiring write: the bucket's sequence only grows, so a later acquisition
//! always has a larger one (as long as the bucket is not deleted).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::connection::State;
use async_nats::jetstream::kv::{
    CreateErrorKind, DeleteErrorKind, Entry, Operation, Store, UpdateErrorKind,
};
use async_nats::{ConnectErrorKind, ConnectOptions};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::{Cache, KEYS_LIMIT, SetOptions, add_counter, check_key, parse_counter};
use crate::config::CacheConfig;
use crate::connect::CacheHandle;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::{AcquireOptions, HeldLock, LockGuard, LockManager, check_name, poll_acquire};
use crate::memory::too_many_keys;
use crate::tls;

/// Version byte of the value envelope.
const ENVELOPE_VERSION: u8 = 1;

/// The bucket name of `namespace` in `database`.
fn bucket_name(database: u8, namespace: &str) -> String {
    if namespace.is_empty() {
        return format!("kv_{database}");
    }
    let mut name = format!("kv_{database}_");
    for byte in namespace.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("_{byte:02X}"));
        }
    }
    name
}

/// The NATS key of a cache key (see the module documentation).
fn nats_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut mapped = String::with_capacity(key.len());
    for (index, &byte) in bytes.iter().enumerate() {
        let first = index == 0;
        let last = index + 1 == bytes.len();
        let next_is_dot = bytes
            .get(index + 1)
            .is_some_and(|next| matches!(next, b':' | b'.'));
        let dot_allowed = !first && !last && !next_is_dot && !mapped.ends_with('.');
        match byte {
            b':' | b'.' if dot_allowed => mapped.push('.'),
            b'-' | b'_' | b'/' => mapped.push(char::from(byte)),
            byte if byte.is_ascii_alphanumeric() => mapped.push(char::from(byte)),
            byte => mapped.push_str(&format!("={byte:02X}")),
        }
    }
    mapped
}

/// Milliseconds since the Unix epoch now.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The expiry, in milliseconds since the epoch, of a value written now with `ttl` (0 = none).
fn expiry_of(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |ttl| {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        now_millis().saturating_add(ttl)
    })
}

/// A stored value: its expiry (0 = none), its original key and its bytes.
fn envelope(expiry: u64, key: &str, value: &[u8]) -> Bytes {
    let key_length = u16::try_from(key.len()).unwrap_or(u16::MAX);
    let key = &key.as_bytes()[..usize::from(key_length)];
    let mut bytes = Vec::with_capacity(11 + key.len() + value.len());
    bytes.push(ENVELOPE_VERSION);
    bytes.extend_from_slice(&expiry.to_be_bytes());
    bytes.extend_from_slice(&key_length.to_be_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    Bytes::from(bytes)
}

/// A decoded envelope.
#[derive(Debug)]
struct Stored<'a> {
    expiry: u64,
    key: &'a str,
    value: &'a [u8],
}

impl Stored<'_> {
    fn live(&self, now: u64) -> bool {
        self.expiry == 0 || self.expiry > now
    }
}

/// The envelope of an entry, or `None` for deletes and foreign values.
fn decode(entry: &Entry) -> Option<Stored<'_>> {
    if entry.operation != Operation::Put {
        return None;
    }
    let bytes = entry.value.as_ref();
    if bytes.len() < 11 || bytes[0] != ENVELOPE_VERSION {
        return None;
    }
    let expiry = u64::from_be_bytes(bytes[1..9].try_into().ok()?);
    let key_length = usize::from(u16::from_be_bytes(bytes[9..11].try_into().ok()?));
    let key = std::str::from_utf8(bytes.get(11..11 + key_length)?).ok()?;
    Some(Stored {
        expiry,
        key,
        value: &bytes[11 + key_length..],
    })
}

/// The live value of an entry.
fn live_value(entry: Option<&Entry>, now: u64) -> Option<Stored<'_>> {
    entry.and_then(decode).filter(|stored| stored.live(now))
}

/// The bucket and what errors need to name.
#[derive(Clone)]
struct Bucket {
    store: Store,
    client: async_nats::Client,
    endpoint: Arc<str>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Outcome of a revision-checked write.
enum Written {
    At(u64),
    Conflict,
}

impl Bucket {
    /// This crate's error for a failed operation: Unavailable while disconnected.
    fn error(&self, what: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
        let endpoint = &self.endpoint;
        let kind = if self.client.connection_state() != State::Connected {
            ErrorKind::Unavailable
        } else if err.to_string().contains("timed out") {
            ErrorKind::Timeout
        } else {
            ErrorKind::Internal
        };
        let message = match kind {
            ErrorKind::Unavailable => format!("the NATS at `{endpoint}` is unavailable ({what})"),
            _ => format!("{what} failed on the NATS at `{endpoint}`"),
        };
        Error::with_source(kind, message, err)
    }

    async fn entry(&self, key: &str) -> Result<Option<Entry>> {
        self.store
            .entry(key)
            .await
            .map_err(|err| self.error("reading a key", err))
    }

    /// Writes `value` if the key is still as `entry` found it (absent or deleted when `None`).
    async fn write_at(&self, key: &str, value: Bytes, entry: Option<&Entry>) -> Result<Written> {
        match entry {
            Some(entry) if entry.operation == Operation::Put => {
                match self.store.update(key, value, entry.revision).await {
                    Ok(revision) => Ok(Written::At(revision)),
                    Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                        Ok(Written::Conflict)
                    }
                    Err(err) => Err(self.error("writing a key", err)),
                }
            }
            _ => match self.store.create(key, value).await {
                Ok(revision) => Ok(Written::At(revision)),
                Err(err) if err.kind() == CreateErrorKind::AlreadyExists => Ok(Written::Conflict),
                Err(err) => Err(self.error("creating a key", err)),
            },
        }
    }

    /// Deletes `key` if it is still at `revision`; `false` if it changed.
    async fn delete_at(&self, key: &str, revision: u64) -> Result<bool> {
        match self.store.delete_expect_revision(key, Some(revision)).await {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == DeleteErrorKind::WrongLastRevision => Ok(false),
            Err(err) => Err(self.error("deleting a key", err)),
        }
    }

    /// Deletes an expired entry in the background unless it changed meanwhile.
    fn forget_expired(&self, key: String, revision: u64) {
        let bucket = self.clone();
        tokio::spawn(async move {
            let _ = bucket.delete_at(&key, revision).await;
        });
    }
}

/// Connects to the NATS of `config` and opens (or creates) the namespace's bucket.
pub(crate) async fn connect(config: &CacheConfig) -> Result<CacheHandle> {
    let endpoint: Arc<str> = config.endpoint().into();
    let mut options = ConnectOptions::new()
        .name("infrahub-cache")
        .connection_timeout(config.connect_timeout)
        .request_timeout(Some(config.connect_timeout));
    if !config.username.is_empty() {
        options = options.user_and_password(config.username.clone(), config.password.clone());
    } else if !config.password.is_empty() {
        options = options.token(config.password.clone());
    }
    if config.tls.enabled {
        options = options
            .require_tls(true)
            .tls_client_config(tls::client_config(&config.tls)?);
    }
    let scheme = if config.tls.enabled { "tls" } else { "nats" };
    let url = format!("{scheme}://{endpoint}");
    let connecting = tokio::time::timeout(
        config.connect_timeout + Duration::from_secs(1),
        options.connect(url.as_str()),
    )
    .await;
    let client = match connecting {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => return Err(connect_error(&endpoint, config, err)),
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the NATS at `{endpoint}` did not answer within {:?}",
                    config.connect_timeout
                ),
            ));
        }
    };
    let jetstream = async_nats::jetstream::new(client.clone());
    let name = bucket_name(config.database, &config.namespace);
    let store = match jetstream.get_key_value(&name).await {
        Ok(store) => store,
        Err(_) => {
            let created = jetstream.create_stream(bucket_stream_config(&name)).await;
            match created {
                Ok(_) => jetstream.get_key_value(&name).await.map_err(|err| {
                    Error::with_source(
                        ErrorKind::Internal,
                        format!("cannot open the key-value bucket `{name}` just created"),
                        err,
                    )
                })?,
                // Another process may have created it meanwhile.
                Err(create_error) => jetstream.get_key_value(&name).await.map_err(|_| {
                    Error::with_source(
                        ErrorKind::Unavailable,
                        format!(
                            "cannot open or create the key-value bucket `{name}` on the NATS at \
                             `{endpoint}` (is JetStream enabled?)"
                        ),
                        create_error,
                    )
                })?,
            }
        }
    };
    let bucket = Bucket {
        store,
        client,
        endpoint,
    };
    Ok(CacheHandle {
        cache: Arc::new(NatsCache {
            bucket: bucket.clone(),
        }),
        locks: Arc::new(NatsLocks {
            bucket,
            lease: config.lock_lease,
            released: Arc::default(),
        }),
    })
}

/// The configuration of the stream behind a key-value bucket `name` with a history of 1, as
/// async-nats' `create_key_value` makes it. That function first asks the server for the
/// account's limits, whose answer async-nats 0.51 cannot read from a NATS 2.9 server, so the
/// stream is created directly.
fn bucket_stream_config(name: &str) -> async_nats::jetstream::stream::Config {
    use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
    Config {
        name: format!("KV_{name}"),
        description: Some("infrahub cache and locks".to_owned()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_messages: -1,
        max_bytes: -1,
        max_message_size: -1,
        max_consumers: -1,
        storage: StorageType::File,
        num_replicas: 1,
        discard: DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        duplicate_window: Duration::from_secs(120),
        ..Config::default()
    }
}

/// This crate's error for a failed first connection.
fn connect_error(endpoint: &str, config: &CacheConfig, err: async_nats::ConnectError) -> Error {
    match err.kind() {
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            Error::with_source(
                ErrorKind::Auth,
                format!(
                    "the NATS at `{endpoint}` refused the cache credentials (check the cache \
                     username and password)"
                ),
                err,
            )
        }
        ConnectErrorKind::Tls => Error::with_source(
            ErrorKind::Tls,
            format!(
                "TLS with the NATS at `{endpoint}` failed ({})",
                tls::tls_hint(endpoint, &config.tls)
            ),
            err,
        ),
        ConnectErrorKind::Io if tls::looks_like_tls(&err.to_string()) => Error::with_source(
            ErrorKind::Tls,
            format!(
                "TLS with the NATS at `{endpoint}` failed ({})",
                tls::tls_hint(endpoint, &config.tls)
            ),
            err,
        ),
        ConnectErrorKind::ServerParse | ConnectErrorKind::Dns => Error::with_source(
            ErrorKind::InvalidInput,
            format!("the cache address `{endpoint}` is not usable"),
            err,
        ),
        ConnectErrorKind::TimedOut => Error::with_source(
            ErrorKind::Unavailable,
            format!("the NATS at `{endpoint}` did not answer in time"),
            err,
        ),
        _ => Error::with_source(
            ErrorKind::Unavailable,
            format!("the NATS at `{endpoint}` is unavailable"),
            err,
        ),
    }
}

/// A [`Cache`] over a NATS JetStream key-value bucket.
#[derive(Clone, Debug)]
pub struct NatsCache {
    bucket: Bucket,
}

impl NatsCache {
    /// The live value of `key` with the entry it came from.
    async fn read(&self, key: &str) -> Result<(Option<Entry>, Option<Vec<u8>>)> {
        let nats_key = nats_key(key);
        let entry = self.bucket.entry(&nats_key).await?;
        let now = now_millis();
        let value = live_value(entry.as_ref(), now).map(|stored| stored.value.to_vec());
        if let Some(entry) = &entry
            && value.is_none()
            && entry.operation == Operation::Put
        {
            self.bucket.forget_expired(nats_key, entry.revision);
        }
        Ok((entry, value))
    }
}

#[async_trait]
impl Cache for NatsCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        Ok(self.read(key).await?.1)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        for key in keys {
            check_key(key)?;
        }
        let reads = keys.iter().map(|key| self.get(key));
        futures::future::try_join_all(reads).await
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        check_key(key)?;
        let nats_key = nats_key(key);
        let stored = envelope(expiry_of(options.ttl), key, value);
        if !options.only_if_absent {
            self.bucket
                .store
                .put(&nats_key, stored)
                .await
                .map_err(|err| self.bucket.error("writing a key", err))?;
            return Ok(true);
        }
        loop {
            let entry = self.bucket.entry(&nats_key).await?;
            if live_value(entry.as_ref(), now_millis()).is_some() {
                return Ok(false);
            }
            let written = self
                .bucket
                .write_at(&nats_key, stored.clone(), entry.as_ref())
                .await?;
            if let Written::At(_) = written {
                return Ok(true);
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        let nats_key = nats_key(key);
        loop {
            let Some(entry) = self.bucket.entry(&nats_key).await? else {
                return Ok(false);
            };
            if entry.operation != Operation::Put {
                return Ok(false);
            }
            let live = live_value(Some(&entry), now_millis()).is_some();
            if self.bucket.delete_at(&nats_key, entry.revision).await? {
                return Ok(live);
            }
        }
    }

    async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        check_key(key)?;
        let nats_key = nats_key(key);
        loop {
            let entry = self.bucket.entry(&nats_key).await?;
            let (current, expiry) = match live_value(entry.as_ref(), now_millis()) {
                Some(stored) => (parse_counter(key, stored.value)?, stored.expiry),
                None => (0, 0),
            };
            let new = add_counter(key, current, by)?;
            let stored = envelope(expiry, key, new.to_string().as_bytes());
            if let Written::At(_) = self
                .bucket
                .write_at(&nats_key, stored, entry.as_ref())
                .await?
            {
                return Ok(new);
            }
        }
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        check_key(key)?;
        let nats_key = nats_key(key);
        let stored = envelope(expiry_of(ttl), key, new);
        loop {
            let entry = self.bucket.entry(&nats_key).await?;
            let current = live_value(entry.as_ref(), now_millis()).map(|stored| stored.value);
            if current != expected {
                return Ok(false);
            }
            if let Written::At(_) = self
                .bucket
                .write_at(&nats_key, stored.clone(), entry.as_ref())
                .await?
            {
                return Ok(true);
            }
        }
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        // Every key starting with `prefix` maps to a NATS key starting with `loose` (only a
        // trailing `:` or `.` maps differently at the end of a key).
        let loose = nats_key(prefix.trim_end_matches([':', '.']));
        let mut listed = self
            .bucket
            .store
            .keys()
            .await
            .map_err(|err| self.bucket.error("listing keys", err))?;
        let mut candidates = Vec::new();
        while let Some(key) = listed.next().await {
            let key = key.map_err(|err| self.bucket.error("listing keys", err))?;
            if key.starts_with(&loose) {
                candidates.push(key);
            }
        }
        let entries = futures::stream::iter(candidates)
            .map(|key| async move { self.bucket.entry(&key).await })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        let now = now_millis();
        let mut keys = Vec::new();
        for entry in entries {
            let Some(entry) = entry? else { continue };
            let Some(stored) = decode(&entry) else {
                continue;
            };
            if !stored.live(now) {
                self.bucket
                    .forget_expired(entry.key.clone(), entry.revision);
                continue;
            }
            if stored.key.starts_with(prefix) {
                if keys.len() == KEYS_LIMIT {
                    return Err(too_many_keys(prefix));
                }
                keys.push(stored.key.to_owned());
            }
        }
        Ok(keys)
    }
}

/// A [`LockManager`] over a NATS JetStream key-value bucket.
#[derive(Clone, Debug)]
pub struct NatsLocks {
    bucket: Bucket,
    lease: Duration,
    /// Notified when a lock of this manager is released, to wake this process' waiters.
    released: Arc<Notify>,
}

impl NatsLocks {
    async fn try_take(&self, name: &str, options: AcquireOptions) -> Result<Option<LockGuard>> {
        let key = format!("lock.{name}");
        let nats_key = nats_key(&key);
        let lease = options.lease.unwrap_or(self.lease);
        let holder = uuid::Uuid::new_v4().simple().to_string();
        loop {
            let entry = self.bucket.entry(&nats_key).await?;
            if live_value(entry.as_ref(), now_millis()).is_some() {
                return Ok(None);
            }
            let started = Instant::now();
            let expiry = expiry_of(Some(lease));
            let stored = envelope(expiry, &key, holder.as_bytes());
            let Written::At(revision) = self
                .bucket
                .write_at(&nats_key, stored, entry.as_ref())
                .await?
            else {
                continue;
            };
            let held = NatsHeldLock {
                bucket: self.bucket.clone(),
                key,
                nats_key,
                holder,
                revision: AtomicU64::new(revision),
                expiry: AtomicU64::new(expiry),
                released: self.released.clone(),
            };
            return Ok(Some(LockGuard::new(
                name,
                revision,
                started,
                lease,
                options.renew,
                Box::new(held),
            )));
        }
    }
}

#[async_trait]
impl LockManager for NatsLocks {
    async fn acquire(&self, name: &str, options: AcquireOptions) -> Result<LockGuard> {
        check_name(name)?;
        poll_acquire(name, options, &self.released, || {
            self.try_take(name, options)
        })
        .await
    }

    async fn try_acquire(&self, name: &str) -> Result<Option<LockGuard>> {
        check_name(name)?;
        self.try_take(name, AcquireOptions::default()).await
    }
}

/// A lock held in a bucket: its entry as this holder last wrote it.
#[derive(Debug)]
struct NatsHeldLock {
    bucket: Bucket,
    key: String,
    nats_key: String,
    holder: String,
    revision: AtomicU64,
    expiry: AtomicU64,
    released: Arc<Notify>,
}

impl NatsHeldLock {
    /// The revision of the entry if it is still this holder's (an acknowledgement may have been
    /// lost after the server applied our write).
    async fn own_revision(&self) -> Result<Option<u64>> {
        let entry = self.bucket.entry(&self.nats_key).await?;
        Ok(entry.and_then(|entry| {
            let stored = live_value(Some(&entry), now_millis())?;
            (stored.value == self.holder.as_bytes()).then_some(entry.revision)
        }))
    }
}

#[async_trait]
impl HeldLock for NatsHeldLock {
    async fn renew(&self, lease: Duration) -> Result<bool> {
        let expiry = expiry_of(Some(lease));
        let stored = envelope(expiry, &self.key, self.holder.as_bytes());
        let mut revision = self.revision.load(Ordering::Acquire);
        for _ in 0..2 {
            match self
                .bucket
                .store
                .update(&self.nats_key, stored.clone(), revision)
                .await
            {
                Ok(new_revision) => {
                    self.revision.store(new_revision, Ordering::Release);
                    self.expiry.store(expiry, Ordering::Release);
                    return Ok(true);
                }
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                    match self.own_revision().await? {
                        Some(own) => revision = own,
                        None => return Ok(false),
                    }
                }
                Err(err) => return Err(self.bucket.error("renewing a lock", err)),
            }
        }
        Ok(false)
    }

    async fn release(&self) -> Result<bool> {
        let mut revision = self.revision.load(Ordering::Acquire);
        for _ in 0..2 {
            if self.bucket.delete_at(&self.nats_key, revision).await? {
                self.released.notify_waiters();
                // Deleted our own entry; it was still ours only if the lease had not ended.
                return Ok(self.expiry.load(Ordering::Acquire) > now_millis());
            }
            match self.own_revision().await? {
                Some(own) => revision = own,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_upstreams_form_and_stay_valid() {
        assert_eq!(nats_key("workers:worker:1"), "workers.worker.1");
        assert_eq!(nats_key("lock.global.graph"), "lock.global.graph");
        assert_eq!(nats_key(":a:"), "=3Aa=3A");
        assert_eq!(nats_key("a::b"), "a=3A.b");
        assert_eq!(nats_key("a b=*>"), "a=20b=3D=2A=3E");
        assert_eq!(nats_key("é"), "=C3=A9");
        for key in ["a..b", ".", "..", "x:", "a:.b", "glob*[x]?"] {
            let mapped = nats_key(key);
            assert!(
                !mapped.starts_with('.') && !mapped.ends_with('.') && !mapped.contains(".."),
                "{key} -> {mapped}"
            );
            assert!(
                mapped
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-/_=.".contains(c)),
                "{key} -> {mapped}"
            );
        }
    }

    #[test]
    fn bucket_names_are_valid_and_distinct() {
        assert_eq!(bucket_name(0, ""), "kv_0");
        assert_eq!(bucket_name(2, "test-1"), "kv_2_test-1");
        assert_eq!(bucket_name(0, "a.b"), "kv_0_a_2Eb");
        assert_ne!(bucket_name(0, "a_b"), bucket_name(0, "a.b"));
    }

    #[test]
    fn envelopes_round_trip() {
        let bytes = envelope(42, "k:1", b"value");
        assert_eq!(bytes[0], ENVELOPE_VERSION);
        let entry = Entry {
            bucket: "b".to_owned(),
            key: "k.1".to_owned(),
            value: bytes,
            revision: 1,
            delta: 0,
            created: SystemTime::now().into(),
            operation: Operation::Put,
            seen_current: false,
        };
        let stored = decode(&entry).unwrap();
        assert_eq!(
            (stored.expiry, stored.key, stored.value),
            (42, "k:1", &b"value"[..])
        );
        assert!(!stored.live(43) && stored.live(41));
    }
}
