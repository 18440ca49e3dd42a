//! The [`Cache`] trait: a key-value store with expiry, shared by every process of a deployment.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

/// Most keys [`Cache::keys_with_prefix`] returns; more is an [`ErrorKind::InvalidInput`] error
/// asking for a narrower prefix.
pub const KEYS_LIMIT: usize = 100_000;

/// Options of [`Cache::set`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// The key disappears this long after the write; `None` = never. Backends keep at least
    /// millisecond precision; a TTL below 1 ms is rounded up to 1 ms.
    pub ttl: Option<Duration>,
    /// Write only if the key is absent (or expired); `set` then answers whether it wrote.
    pub only_if_absent: bool,
}

impl SetOptions {
    /// Options with a TTL.
    pub fn ttl(ttl: Duration) -> Self {
        SetOptions {
            ttl: Some(ttl),
            only_if_absent: false,
        }
    }

    /// The same options, writing only if the key is absent.
    pub fn if_absent(mut self) -> Self {
        self.only_if_absent = true;
        self
    }
}

/// A key-value store with expiry, shared by every process that connects to the same service
/// and namespace.
///
/// Contract (checked on every backend by the suite of the `conformance` module, feature
/// `conformance`):
///
/// - Keys are non-empty UTF-8 strings; values are bytes. Keys live in the handle's namespace:
///   two handles with different namespaces never see each other's keys.
/// - A key written with a TTL reads as absent once the TTL has passed, for every operation
///   (`get`, `only_if_absent`, `compare_and_set`, `increment`, `keys_with_prefix`).
/// - `set` with `only_if_absent`, `increment` and `compare_and_set` are atomic: among racing
///   callers exactly one `only_if_absent` write or one `compare_and_set` from the same expected
///   value wins, and no increment is lost.
/// - Errors: an unreachable service is [`ErrorKind::Unavailable`] (retryable), an empty key
///   [`ErrorKind::InvalidInput`].
#[async_trait]
pub trait Cache: Send + Sync + Debug + 'static {
    /// The value of `key`, or `None` if it is absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// The values of `keys`, in the same order (`None` for absent ones), in one round trip.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;

    /// Writes `value` under `key`; answers whether it wrote (always `true` unless
    /// `options.only_if_absent` found a live value). A plain `set` replaces the TTL too.
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool>;

    /// Removes `key`; answers whether a live value was there.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Adds `by` to the decimal integer stored under `key` (absent = 0) atomically and returns
    /// the new value. An existing TTL is kept; a new key has none. A value that is not a
    /// decimal `i64` is [`ErrorKind::InvalidInput`].
    async fn increment(&self, key: &str, by: i64) -> Result<i64>;

    /// Writes `new` (with `ttl`) only if the current value is `expected` (`None` = the key must
    /// be absent or expired); answers whether it wrote. Atomic.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool>;

    /// The live keys that start with `prefix` (without the namespace), in no particular order.
    /// At most [`KEYS_LIMIT`]: more is an [`ErrorKind::InvalidInput`] error.
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>>;
}

/// Typed helpers over any [`Cache`]: values as JSON.
#[async_trait]
pub trait CacheExt: Cache {
    /// The value of `key` decoded from JSON; a value that does not decode as `T` is
    /// [`ErrorKind::InvalidInput`].
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
                Error::with_source(
                    ErrorKind::InvalidInput,
                    format!("value of cache key `{key}` is not the expected JSON"),
                    err,
                )
            }),
        }
    }

    /// Writes `value` as JSON under `key`; answers as [`Cache::set`] does.
    async fn set_json<T: Serialize + Sync + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<bool> {
        let bytes = serde_json::to_vec(value).map_err(|err| {
            Error::with_source(
                ErrorKind::InvalidInput,
                format!("value for cache key `{key}` cannot be written as JSON"),
                err,
            )
        })?;
        self.set(key, &bytes, options).await
    }
}

impl<C: Cache + ?Sized> CacheExt for C {}

/// Refuses an empty key.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        Err(Error::invalid("cache keys must not be empty"))
    } else {
        Ok(())
    }
}

/// The decimal integer of a stored value, for `increment`.
pub(crate) fn parse_counter(key: &str, value: &[u8]) -> Result<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| Error::invalid(format!("value of cache key `{key}` is not an integer")))
}

/// `current + by`, or an error naming the key on overflow.
pub(crate) fn add_counter(key: &str, current: i64, by: i64) -> Result<i64> {
    current
        .checked_add(by)
        .ok_or_else(|| Error::invalid(format!("incrementing cache key `{key}` overflows")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryCache;

    #[tokio::test]
    async fn json_helpers_round_trip_and_name_bad_values() {
        let cache = MemoryCache::new();
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Webhook {
            url: String,
            retries: u8,
        }
        let webhook = Webhook {
            url: "https://example.net/hook".to_owned(),
            retries: 3,
        };
        assert!(
            cache
                .set_json("webhook:1", &webhook, SetOptions::default())
                .await
                .unwrap()
        );
        assert_eq!(
            cache.get_json::<Webhook>("webhook:1").await.unwrap(),
            Some(webhook)
        );
        assert_eq!(cache.get_json::<Webhook>("webhook:2").await.unwrap(), None);
        cache
            .set("webhook:3", b"not json", SetOptions::default())
            .await
            .unwrap();
        let error = cache.get_json::<Webhook>("webhook:3").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("webhook:3"), "{error}");
    }
}
