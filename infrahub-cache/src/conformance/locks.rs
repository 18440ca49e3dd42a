//! Checks of the [`LockManager`](crate::LockManager) contract.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{AcquireOptions, CacheHandle, ErrorKind, acquire_all};

/// The lease of the lease checks.
const SHORT_LEASE: Duration = Duration::from_secs(1);

/// 8 tasks × 10 read-pause-write cycles of a shared counter under one lock lose no update,
/// and no two tasks are ever inside at once.
pub async fn lock_mutual_exclusion(handle: CacheHandle) {
    let counter = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let locks = handle.locks.clone();
            let (counter, inside) = (counter.clone(), inside.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    let guard = locks
                        .acquire(
                            "global.graph",
                            AcquireOptions::wait(Duration::from_secs(60)),
                        )
                        .await
                        .unwrap();
                    assert!(
                        !inside.swap(true, Ordering::SeqCst),
                        "two holders of lock `global.graph` at once"
                    );
                    let seen = counter.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    counter.store(seen + 1, Ordering::SeqCst);
                    inside.store(false, Ordering::SeqCst);
                    guard.release().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        counter.load(Ordering::SeqCst),
        80,
        "8 tasks × 10 read-pause-write cycles under the lock lose no update"
    );
}

/// Every acquisition of a name gets a larger fencing token, whichever handle takes it.
pub async fn fencing_tokens_increase(handle: CacheHandle) {
    let mut last = 0;
    for round in 0..5 {
        let guard = handle
            .locks
            .acquire("resource_pool.p1", AcquireOptions::default())
            .await
            .unwrap();
        assert!(
            guard.fencing_token() > last,
            "fencing token {} of acquisition {round} is not above the previous {last}",
            guard.fencing_token()
        );
        last = guard.fencing_token();
        guard.release().await.unwrap();
    }
    let other = handle
        .locks
        .try_acquire("repository.r1")
        .await
        .unwrap()
        .unwrap();
    let again = handle
        .locks
        .try_acquire("resource_pool.p1")
        .await
        .unwrap()
        .unwrap();
    assert!(
        again.fencing_token() > last,
        "an acquisition after another lock's is still above the previous token of its name"
    );
    drop(other);
}

/// `try_acquire` answers `None` while the lock is held and a guard once it is released.
pub async fn try_acquire(handle: CacheHandle) {
    let guard = handle.locks.try_acquire("global.schema").await.unwrap();
    let guard = guard.expect("try_acquire takes a free lock");
    assert_eq!(guard.name(), "global.schema", "the guard names its lock");
    assert!(guard.is_held(), "a fresh guard holds its lock");
    assert!(
        handle
            .locks
            .try_acquire("global.schema")
            .await
            .unwrap()
            .is_none(),
        "try_acquire of a held lock answers None"
    );
    assert!(
        handle
            .locks
            .try_acquire("global.init")
            .await
            .unwrap()
            .is_some(),
        "other names are independent"
    );
    guard.release().await.unwrap();
    assert!(
        handle
            .locks
            .try_acquire("global.schema")
            .await
            .unwrap()
            .is_some(),
        "a released lock can be taken"
    );
    let error = handle.locks.try_acquire("").await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::InvalidInput,
        "empty lock names are refused"
    );
}

/// `acquire` of a held lock fails after the wait with `Timeout` naming the lock.
pub async fn acquire_timeout(handle: CacheHandle) {
    let _held = handle
        .locks
        .try_acquire("global.object.InfraDevice")
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let error = handle
        .locks
        .acquire(
            "global.object.InfraDevice",
            AcquireOptions::wait(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Timeout,
        "a wait that runs out is a Timeout: {error}"
    );
    assert!(error.is_retryable(), "a lock timeout is retryable");
    assert!(
        error.to_string().contains("global.object.InfraDevice"),
        "the timeout names the lock: {error}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "acquire waits before failing (waited {:?})",
        started.elapsed()
    );
}

/// An abandoned lock (its holder "died") frees itself after its lease, and the next holder
/// gets a larger fencing token.
pub async fn lease_expiry(handle: CacheHandle) {
    let options = AcquireOptions::default().with_lease(SHORT_LEASE);
    let dead = handle
        .locks
        .acquire("repository.r1", options)
        .await
        .unwrap();
    let dead_token = dead.fencing_token();
    dead.abandon();
    assert!(
        handle
            .locks
            .try_acquire("repository.r1")
            .await
            .unwrap()
            .is_none(),
        "an abandoned lock stays held until its lease ends"
    );
    let next = handle
        .locks
        .acquire(
            "repository.r1",
            AcquireOptions::wait(Duration::from_secs(10)),
        )
        .await
        .expect("an abandoned lock frees itself when its lease ends");
    assert!(
        next.fencing_token() > dead_token,
        "the next holder's token {} is above the dead holder's {dead_token}",
        next.fencing_token()
    );
}

/// A live guard keeps its lock well past its lease: renewal works.
pub async fn lease_renewal(handle: CacheHandle) {
    let lease = Duration::from_millis(600);
    let guard = handle
        .locks
        .acquire(
            "diff-update.main__b1",
            AcquireOptions::default().with_lease(lease),
        )
        .await
        .unwrap();
    tokio::time::sleep(lease * 3).await;
    assert!(
        guard.is_held(),
        "a guard renewing its lease still holds it after 3 leases"
    );
    assert!(
        handle
            .locks
            .try_acquire("diff-update.main__b1")
            .await
            .unwrap()
            .is_none(),
        "a renewed lock is not taken by others"
    );
    guard.release().await.unwrap();
}

/// A holder whose lease ended gets `LockLost` on release and does not free the lock of the
/// holder that took it over.
pub async fn late_release(handle: CacheHandle) {
    let options = AcquireOptions::default()
        .with_lease(SHORT_LEASE)
        .without_renewal();
    let late = handle.locks.acquire("artifact.t-d", options).await.unwrap();
    assert!(late.is_held());
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(300)).await;
    assert!(
        !late.is_held(),
        "a guard whose lease ended without renewal is not held"
    );
    let current = handle
        .locks
        .acquire("artifact.t-d", AcquireOptions::wait(Duration::from_secs(5)))
        .await
        .expect("a lock whose lease ended can be taken");
    let error = late.release().await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::LockLost,
        "a late release reports LockLost: {error}"
    );
    assert!(
        error.to_string().contains("artifact.t-d"),
        "LockLost names the lock: {error}"
    );
    assert!(
        handle
            .locks
            .try_acquire("artifact.t-d")
            .await
            .unwrap()
            .is_none(),
        "a late release by an expired holder does not free the new holder's lock"
    );
    assert!(current.is_held());
    current.release().await.unwrap();
}

/// Dropping a guard frees the lock.
pub async fn release_on_drop(handle: CacheHandle) {
    let guard = handle
        .locks
        .try_acquire("generator.t-d")
        .await
        .unwrap()
        .unwrap();
    drop(guard);
    let started = Instant::now();
    handle
        .locks
        .acquire(
            "generator.t-d",
            AcquireOptions::wait(Duration::from_secs(5)),
        )
        .await
        .expect("a dropped guard frees its lock");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the lock came free by the drop, not by the end of a 10 s lease"
    );
}

/// `acquire_all` takes every lock in order, and on a timeout frees the locks it took.
pub async fn acquire_all_order(handle: CacheHandle) {
    let locks = handle.locks.as_ref();
    let names = ["local.schema", "global.graph", "global.schema"];
    let guards = acquire_all(locks, &names, AcquireOptions::default())
        .await
        .unwrap();
    let taken: Vec<&str> = guards.iter().map(|guard| guard.name()).collect();
    assert_eq!(taken, names, "acquire_all answers the guards in list order");
    for guard in guards.into_iter().rev() {
        guard.release().await.unwrap();
    }
    let blocker = locks.try_acquire("global.schema").await.unwrap().unwrap();
    let error = acquire_all(
        locks,
        &names,
        AcquireOptions::wait(Duration::from_millis(200)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Timeout,
        "acquire_all times out on a held lock"
    );
    assert!(
        locks.try_acquire("local.schema").await.unwrap().is_some()
            && locks.try_acquire("global.graph").await.unwrap().is_some(),
        "a failed acquire_all releases the locks it took"
    );
    drop(blocker);
}
