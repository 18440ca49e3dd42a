#![doc = include_str!("../README.md")]

mod cache;
mod config;
mod connect;
mod error;
mod lock;
mod memory;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "redis", feature = "nats"))]
mod tls;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use cache::{Cache, CacheExt, KEYS_LIMIT, SetOptions};
pub use config::{CacheBackend, CacheConfig, CacheTlsConfig};
pub use connect::{CacheHandle, connect};
pub use error::{Error, ErrorKind, Result};
pub use lock::{AcquireOptions, LockGuard, LockManager, acquire_all};
pub use memory::{MemoryCache, MemoryLocks};
#[cfg(feature = "nats")]
pub use nats::{NatsCache, NatsLocks};
#[cfg(feature = "redis")]
pub use redis::{RedisCache, RedisLocks};
