//! The executable contract of [`Cache`] and [`LockManager`]: every backend runs it.
//!
//! Each function takes fresh handles (an empty namespace of the backend), exercises one rule
//! of the contracts stated on the traits and panics with a message naming the rule that broke.
//! TTL and lease checks use TTLs of 1 s and sleep a little longer; they assert nothing about
//! how fast an operation is. A backend runs the whole suite with [`run_all`]:
//!
//! ```
//! use std::future::Future;
//!
//! use infrahub_cache::{CacheHandle, conformance};
//!
//! /// Runs the suite against the backend that `open` connects to, in the namespace it is given.
//! async fn check_backend<F, Fut>(open: F)
//! where
//!     F: Fn(String) -> Fut,
//!     Fut: Future<Output = CacheHandle>,
//! {
//!     conformance::run_all(open).await;
//! }
//! ```
//!
//! | function | what it checks |
//! |---|---|
//! | [`get_set_delete`] | round trips of binary values, overwrite, delete, `get_many` order, empty keys refused |
//! | [`ttl_expiry`] | expired keys are absent for every operation; a plain `set` clears the TTL; `increment` keeps it |
//! | [`only_if_absent`] | `set` with `only_if_absent` writes once; 16 racers: exactly one wins |
//! | [`increment_atomic`] | 16 tasks × 25 increments lose nothing; negative steps; non-integers refused |
//! | [`compare_and_set_races`] | expected value / absent; 16 racers from one value: exactly one wins |
//! | [`keys_with_prefix`] | the keys under a prefix, without the namespace; glob characters are literal |
//! | [`namespace_isolation`] | two namespaces on one service share neither keys nor locks |
//! | [`lock_mutual_exclusion`] | 8 tasks × 10 read-pause-write cycles under one lock lose no update |
//! | [`fencing_tokens_increase`] | every acquisition of a name gets a larger token, across handles |
//! | [`try_acquire`] | `None` while held, a guard once released; the guard names its lock |
//! | [`acquire_timeout`] | a held lock fails `acquire` after the wait with `Timeout` naming the lock |
//! | [`lease_expiry`] | an abandoned lock (holder "died") frees itself after its lease, with a larger token |
//! | [`lease_renewal`] | a live guard keeps its lock well past its lease |
//! | [`late_release`] | a holder whose lease ended gets `LockLost` and does not free the new holder's lock |
//! | [`release_on_drop`] | dropping a guard frees the lock |
//! | [`acquire_all_order`] | `acquire_all` takes every lock, and on a timeout frees what it took |
//!
//! [`Cache`]: crate::Cache
//! [`LockManager`]: crate::LockManager

mod cache;
mod locks;

use std::future::Future;

pub use cache::{
    compare_and_set_races, get_set_delete, increment_atomic, keys_with_prefix, namespace_isolation,
    only_if_absent, ttl_expiry,
};
pub use locks::{
    acquire_all_order, acquire_timeout, fencing_tokens_increase, late_release, lease_expiry,
    lease_renewal, lock_mutual_exclusion, release_on_drop, try_acquire,
};

use crate::CacheHandle;

/// A namespace no other run uses: `conformance-<random>`.
pub fn fresh_namespace() -> String {
    format!("conformance-{}", uuid::Uuid::new_v4().simple())
}

/// Runs every check, each on handles that `open` gives for a fresh namespace (two namespaces
/// for [`namespace_isolation`]).
pub async fn run_all<F, Fut>(open: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = CacheHandle>,
{
    let fresh = || open(fresh_namespace());
    get_set_delete(fresh().await).await;
    ttl_expiry(fresh().await).await;
    only_if_absent(fresh().await).await;
    increment_atomic(fresh().await).await;
    compare_and_set_races(fresh().await).await;
    keys_with_prefix(fresh().await).await;
    namespace_isolation(fresh().await, fresh().await).await;
    lock_mutual_exclusion(fresh().await).await;
    fencing_tokens_increase(fresh().await).await;
    try_acquire(fresh().await).await;
    acquire_timeout(fresh().await).await;
    lease_expiry(fresh().await).await;
    lease_renewal(fresh().await).await;
    late_release(fresh().await).await;
    release_on_drop(fresh().await).await;
    acquire_all_order(fresh().await).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{CacheHandle, MemoryCache, MemoryLocks};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_backend_conforms() {
        let cache = MemoryCache::new();
        let locks = MemoryLocks::new(Duration::from_secs(10));
        super::run_all(|namespace| {
            let handle = CacheHandle {
                cache: std::sync::Arc::new(cache.with_namespace(&namespace)),
                locks: std::sync::Arc::new(locks.with_namespace(&namespace)),
            };
            async move { handle }
        })
        .await;
    }
}
