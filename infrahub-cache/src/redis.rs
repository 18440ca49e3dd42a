//! The Redis backend: [`RedisCache`] and [`RedisLocks`] over one multiplexed connection that
//! reconnects by itself (redis-rs' `ConnectionManager`).
//!
//! Keys are `<namespace>:<key>` (bare keys with an empty namespace). A lock `<name>` is the key
//! `lock.<name>` holding `<fencing token>:<holder id>` with a `PX` lease; its fencing token
//! comes from `INCR` of the companion key `lock-fencing` of the namespace (one counter for all
//! names, so tokens grow per name and no key is left per name ever locked). Taking,
//! renewing and releasing a lock are Lua scripts, so each is one atomic round trip and renewal
//! and release only act while the key still holds the caller's value.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, FromRedisValue, IntoConnectionInfo, RedisError, Script};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::{Cache, KEYS_LIMIT, SetOptions, check_key};
use crate::config::{CacheConfig, key_prefix};
use crate::connect::CacheHandle;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::{AcquireOptions, HeldLock, LockGuard, LockManager, check_name, poll_acquire};
use crate::memory::too_many_keys;
use crate::tls;

/// Keys asked per `SCAN` step.
const SCAN_COUNT: usize = 1000;

static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
",
    )
});

static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
",
    )
});

static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// The connection shared by the cache and the locks of one [`connect`].
#[derive(Clone)]
struct Connection {
    manager: ConnectionManager,
    endpoint: Arc<str>,
    tls: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Connection {
    async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T> {
        command
            .query_async(&mut self.manager.clone())
            .await
            .map_err(|err| self.error(err))
    }

    async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        invocation
            .invoke_async(&mut self.manager.clone())
            .await
            .map_err(|err| self.error(err))
    }

    fn error(&self, err: RedisError) -> Error {
        map_error(&self.endpoint, err)
    }
}

/// This crate's error for a failure of the Redis at `endpoint`.
fn map_error(endpoint: &str, err: RedisError) -> Error {
    let text = err.to_string();
    let code = err.code().unwrap_or_default().to_owned();
    if err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code.as_str(), "WRONGPASS" | "NOAUTH" | "NOPERM")
    {
        return Error::with_source(
            ErrorKind::Auth,
            format!(
                "the Redis at `{endpoint}` refused the cache credentials (check the cache \
                 username and password)"
            ),
            err,
        );
    }
    if (err.kind() == redis::ErrorKind::Io || err.kind() == redis::ErrorKind::InvalidClientConfig)
        && tls::looks_like_tls(&text)
        && !err.is_connection_refusal()
    {
        return Error::with_source(
            ErrorKind::Tls,
            format!("TLS with the Redis at `{endpoint}` failed"),
            err,
        );
    }
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(code.as_str(), "LOADING" | "MASTERDOWN" | "TRYAGAIN")
    {
        return Error::with_source(
            if err.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Unavailable
            },
            format!("the Redis at `{endpoint}` is unavailable"),
            err,
        );
    }
    Error::with_source(
        ErrorKind::Internal,
        format!("the Redis at `{endpoint}` failed"),
        err,
    )
}

/// Connects to the Redis of `config` and checks the connection with a `PING`.
pub(crate) async fn connect(config: &CacheConfig) -> Result<CacheHandle> {
    let endpoint: Arc<str> = config.endpoint().into();
    let addr = if config.tls.enabled {
        tls::ensure_crypto_provider();
        ConnectionAddr::TcpTls {
            host: config.address.clone(),
            port: config.port,
            insecure: config.tls.insecure,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(config.address.clone(), config.port)
    };
    let info = addr
        .into_connection_info()
        .map_err(|err| map_error(&endpoint, err))?;
    let mut settings = info.redis_settings().clone().set_db(config.database.into());
    if !config.username.is_empty() {
        settings = settings.set_username(&config.username);
    }
    if !config.password.is_empty() {
        settings = settings.set_password(&config.password);
    }
    let info = info.set_redis_settings(settings);
    let client = match (
        &config.tls.ca_file,
        config.tls.enabled && !config.tls.insecure,
    ) {
        (Some(ca_file), true) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(tls::read_ca_file(ca_file)?),
            },
        ),
        _ => redis::Client::open(info),
    }
    .map_err(|err| map_error(&endpoint, err))?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.connect_timeout))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    let connected = tokio::time::timeout(
        config.connect_timeout + Duration::from_secs(1),
        ConnectionManager::new_with_config(client, manager_config),
    )
    .await;
    let manager = match connected {
        Ok(Ok(manager)) => manager,
        Ok(Err(err)) => return Err(connect_error(&endpoint, config, err)),
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the Redis at `{endpoint}` did not answer within {:?}{}",
                    config.connect_timeout,
                    if config.tls.enabled {
                        " (if it does not serve TLS on this port, turn the cache TLS setting off)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    let connection = Connection {
        manager,
        endpoint,
        tls: config.tls.enabled,
    };
    let pong: String = connection
        .query(&redis::cmd("PING"))
        .await
        .map_err(|err| connect_failure(&connection.endpoint, config, err))?;
    if pong != "PONG" {
        return Err(Error::new(
            ErrorKind::Internal,
            format!(
                "the server at `{}` is not a Redis (PING answered `{pong}`)",
                connection.endpoint
            ),
        ));
    }
    let prefix = key_prefix(&config.namespace);
    Ok(CacheHandle {
        cache: Arc::new(RedisCache {
            connection: connection.clone(),
            prefix: prefix.clone(),
        }),
        locks: Arc::new(RedisLocks {
            connection,
            prefix,
            lease: config.lock_lease,
            released: Arc::default(),
        }),
    })
}

/// The error of a first connection that failed.
fn connect_error(endpoint: &str, config: &CacheConfig, err: RedisError) -> Error {
    connect_failure(endpoint, config, map_error(endpoint, err))
}

/// A failed first connection, with TLS hints: a server that closes the connection at once is
/// often a TLS port spoken to in plain text.
fn connect_failure(endpoint: &str, config: &CacheConfig, error: Error) -> Error {
    match error.kind() {
        ErrorKind::Tls => {
            let hint = tls::tls_hint(endpoint, &config.tls);
            Error::new(ErrorKind::Tls, format!("{error} ({hint})"))
        }
        ErrorKind::Unavailable if !config.tls.enabled && !error.to_string().contains("refused") => {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{error} (if the server at `{endpoint}` expects TLS, enable the cache TLS \
                     setting INFRAHUB_CACHE_TLS_ENABLED)"
                ),
            )
        }
        _ => error,
    }
}

/// A [`Cache`] over Redis.
#[derive(Clone, Debug)]
pub struct RedisCache {
    connection: Connection,
    prefix: String,
}

impl RedisCache {
    fn key(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

/// A duration in whole milliseconds, at least 1.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// `text` with Redis glob characters escaped.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
        self.connection.query(redis::cmd("GET").arg(key)).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = redis::cmd("MGET");
        for key in keys {
            command.arg(self.key(key)?);
        }
        self.connection.query(&command).await
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        let key = self.key(key)?;
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value);
        if let Some(ttl) = options.ttl {
            command.arg("PX").arg(millis(ttl));
        }
        if options.only_if_absent {
            command.arg("NX");
        }
        let answer: Option<String> = self.connection.query(&command).await?;
        Ok(answer.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let removed: i64 = self.connection.query(redis::cmd("DEL").arg(key)).await?;
        Ok(removed > 0)
    }

    async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        let full_key = self.key(key)?;
        match self
            .connection
            .query(redis::cmd("INCRBY").arg(full_key).arg(by))
            .await
        {
            Ok(value) => Ok(value),
            Err(error) if error.kind() == ErrorKind::Internal => {
                // The server refuses a value that is not an integer and an overflow.
                Err(Error::invalid(format!(
                    "cannot increment cache key `{key}`: {error}"
                )))
            }
            Err(error) => Err(error),
        }
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let key = self.key(key)?;
        let ttl = ttl.map_or(0, millis).to_string();
        let (has_expected, expected) = match expected {
            Some(expected) => (&b"1"[..], expected),
            None => (&b"0"[..], &b""[..]),
        };
        let written: i64 = self
            .connection
            .script(
                &COMPARE_AND_SET,
                &[&key],
                &[has_expected, expected, new, ttl.as_bytes()],
            )
            .await?;
        Ok(written == 1)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let pattern = format!("{}*", escape_glob(&format!("{}{prefix}", self.prefix)));
        let mut keys = HashSet::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .connection
                .query(
                    redis::cmd("SCAN")
                        .cursor_arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT),
                )
                .await?;
            for key in batch {
                if let Some(key) = key.strip_prefix(&self.prefix) {
                    keys.insert(key.to_owned());
                }
            }
            if keys.len() > KEYS_LIMIT {
                return Err(too_many_keys(prefix));
            }
            if next == 0 {
                return Ok(keys.into_iter().collect());
            }
            cursor = next;
        }
    }
}

/// A [`LockManager`] over Redis.
#[derive(Clone, Debug)]
pub struct RedisLocks {
    connection: Connection,
    prefix: String,
    lease: Duration,
    /// Notified when a lock of this manager is released, to wake this process' waiters.
    released: Arc<Notify>,
}

impl RedisLocks {
    async fn try_take(&self, name: &str, options: AcquireOptions) -> Result<Option<LockGuard>> {
        let key = format!("{}lock.{name}", self.prefix);
        let fencing_key = format!("{}lock-fencing", self.prefix);
        let lease = options.lease.unwrap_or(self.lease);
        let holder = uuid::Uuid::new_v4().simple().to_string();
        let started = Instant::now();
        let token: u64 = self
            .connection
            .script(
                &ACQUIRE,
                &[&key, &fencing_key],
                &[holder.as_bytes(), millis(lease).to_string().as_bytes()],
            )
            .await?;
        if token == 0 {
            return Ok(None);
        }
        let held = RedisHeldLock {
            connection: self.connection.clone(),
            key,
            value: format!("{token}:{holder}"),
            released: self.released.clone(),
        };
        Ok(Some(LockGuard::new(
            name,
            token,
            started,
            lease,
            options.renew,
            Box::new(held),
        )))
    }
}

#[async_trait]
impl LockManager for RedisLocks {
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

/// A lock held in Redis: the key and the value that proves this holder holds it.
#[derive(Debug)]
struct RedisHeldLock {
    connection: Connection,
    key: String,
    value: String,
    released: Arc<Notify>,
}

#[async_trait]
impl HeldLock for RedisHeldLock {
    async fn renew(&self, lease: Duration) -> Result<bool> {
        let renewed: i64 = self
            .connection
            .script(
                &RENEW,
                &[&self.key],
                &[self.value.as_bytes(), millis(lease).to_string().as_bytes()],
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self) -> Result<bool> {
        let released: i64 = self
            .connection
            .script(&RELEASE, &[&self.key], &[self.value.as_bytes()])
            .await?;
        self.released.notify_waiters();
        Ok(released == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\-^"), "a\\*b\\?\\[c\\]\\\\\\-\\^");
        assert_eq!(escape_glob("workers:"), "workers:");
    }
}
