//! [`connect`]: the one entry point from a [`CacheConfig`] to a [`CacheHandle`].

use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::config::{CacheBackend, CacheConfig};
use crate::error::{Error, Result};
use crate::lock::LockManager;
use crate::memory::{MemoryCache, MemoryLocks};

/// What [`connect`] returns: the cache and the locks of one service and namespace.
#[derive(Clone, Debug)]
pub struct CacheHandle {
    /// The key-value cache.
    pub cache: Arc<dyn Cache>,
    /// The named locks.
    pub locks: Arc<dyn LockManager>,
}

impl CacheHandle {
    /// A handle on a new in-process store (what [`connect`] gives for
    /// [`CacheBackend::Memory`]).
    pub fn memory(namespace: &str, lock_lease: Duration) -> Self {
        CacheHandle {
            cache: Arc::new(MemoryCache::new().with_namespace(namespace)),
            locks: Arc::new(MemoryLocks::new(lock_lease).with_namespace(namespace)),
        }
    }
}

/// Connects to the service of `config` and returns its cache and locks.
///
/// [`CacheBackend::Memory`] gives a new in-process store at each call. For Redis and NATS the
/// connection is checked before returning (failures: [`ErrorKind::Unavailable`] naming
/// `address:port`, [`ErrorKind::Tls`], [`ErrorKind::Auth`]) and re-established by itself when
/// it drops later. A backend whose Cargo feature is off is an [`ErrorKind::InvalidInput`] error
/// saying which feature to enable.
///
/// # Examples
///
/// ```
/// # async fn run() -> infrahub_cache::Result<()> {
/// use std::time::Duration;
///
/// use infrahub_cache::{AcquireOptions, CacheConfig, CacheExt, SetOptions, connect};
///
/// let handle = connect(&CacheConfig::default()).await?;
/// handle
///     .cache
///     .set_json("workers:worker:1", &"2026-01-01T00:00:00Z", SetOptions::ttl(Duration::from_secs(7200)))
///     .await?;
/// let guard = handle.locks.acquire("global.schema", AcquireOptions::default()).await?;
/// assert!(guard.is_held());
/// guard.release().await?;
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
///
/// [`ErrorKind::Unavailable`]: crate::ErrorKind::Unavailable
/// [`ErrorKind::Tls`]: crate::ErrorKind::Tls
/// [`ErrorKind::Auth`]: crate::ErrorKind::Auth
/// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
pub async fn connect(config: &CacheConfig) -> Result<CacheHandle> {
    if config.lock_lease < Duration::from_millis(30) {
        return Err(Error::invalid(format!(
            "the cache lock lease must be at least 30 ms, not {:?}",
            config.lock_lease
        )));
    }
    if config.database > 15 {
        return Err(Error::invalid(format!(
            "the cache database must be 0-15, not {}",
            config.database
        )));
    }
    match config.backend {
        CacheBackend::Memory => Ok(CacheHandle::memory(&config.namespace, config.lock_lease)),
        CacheBackend::Redis => connect_redis(config).await,
        CacheBackend::Nats => connect_nats(config).await,
    }
}

#[cfg(feature = "redis")]
async fn connect_redis(config: &CacheConfig) -> Result<CacheHandle> {
    crate::redis::connect(config).await
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_config: &CacheConfig) -> Result<CacheHandle> {
    Err(Error::invalid(
        "the Redis cache backend is not built in: enable feature `redis` of infrahub-cache",
    ))
}

#[cfg(feature = "nats")]
async fn connect_nats(config: &CacheConfig) -> Result<CacheHandle> {
    crate::nats::connect(config).await
}

#[cfg(not(feature = "nats"))]
async fn connect_nats(_config: &CacheConfig) -> Result<CacheHandle> {
    Err(Error::invalid(
        "the NATS cache backend is not built in: enable feature `nats` of infrahub-cache",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[tokio::test]
    async fn bad_settings_are_refused() {
        let config = CacheConfig {
            lock_lease: Duration::from_millis(1),
            ..CacheConfig::default()
        };
        let error = connect(&config).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("lease"), "{error}");
    }

    #[cfg(not(feature = "redis"))]
    #[tokio::test]
    async fn a_backend_without_its_feature_names_the_feature() {
        let config = CacheConfig {
            backend: CacheBackend::Redis,
            ..CacheConfig::default()
        };
        let error = connect(&config).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(
            error
                .to_string()
                .contains("enable feature `redis` of infrahub-cache"),
            "{error}"
        );
    }

    #[cfg(not(feature = "nats"))]
    #[tokio::test]
    async fn nats_without_its_feature_names_the_feature() {
        let config = CacheConfig {
            backend: CacheBackend::Nats,
            ..CacheConfig::default()
        };
        let error = connect(&config).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("enable feature `nats` of infrahub-cache"),
            "{error}"
        );
    }
}
