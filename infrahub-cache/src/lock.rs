//! Named locks with leases and fencing tokens: [`LockManager`], [`LockGuard`], [`acquire_all`].

use std::fmt::{self, Debug};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};

/// Options of [`LockManager::acquire`] and [`acquire_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireOptions {
    /// How long to wait for a lock held by someone else before failing with
    /// [`ErrorKind::Timeout`]. Default 60 s.
    pub wait: Duration,
    /// The lease of this lock; `None` (the default) = the manager's
    /// [`lock_lease`](crate::CacheConfig::lock_lease).
    pub lease: Option<Duration>,
    /// Whether the guard renews the lease in the background (every third of the lease) while it
    /// lives. Default `true`. Without renewal the lock frees itself when the lease ends.
    pub renew: bool,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            wait: Duration::from_secs(60),
            lease: None,
            renew: true,
        }
    }
}

impl AcquireOptions {
    /// The default options with another wait.
    pub fn wait(wait: Duration) -> Self {
        AcquireOptions {
            wait,
            ..AcquireOptions::default()
        }
    }

    /// The same options with a lease of `lease`.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The same options without background renewal.
    pub fn without_renewal(mut self) -> Self {
        self.renew = false;
        self
    }
}

/// Named locks shared by every process connected to the same service and namespace.
///
/// Contract (checked on every backend by the suite of the `conformance` module, feature
/// `conformance`):
///
/// - Mutual exclusion: at most one live [`LockGuard`] per name at a time, across processes.
/// - Lease: a lock is held for a lease (the manager's default or [`AcquireOptions::lease`]),
///   renewed in the background while the guard lives. A holder that dies frees the lock when
///   its lease ends, and a lock whose lease ended can be taken by the next acquirer.
/// - Fencing: every acquisition of a name gets a [`LockGuard::fencing_token`] larger than every
///   earlier one of that name, across holders and processes, so a storage write can refuse a
///   holder that lost its lease without knowing it.
/// - Token-checked release and renewal: a holder whose lease ended never frees or extends the
///   lock of the holder that took it over.
/// - Distributed locks live under the cache key `lock.<name>` (in the namespace), as upstream's.
#[async_trait]
pub trait LockManager: Send + Sync + Debug + 'static {
    /// Takes the lock `name`, waiting up to `options.wait` while someone else holds it; then
    /// fails with [`ErrorKind::Timeout`] naming the lock.
    async fn acquire(&self, name: &str, options: AcquireOptions) -> Result<LockGuard>;

    /// Takes the lock `name` if it is free now, with the default options; `None` if it is
    /// held.
    async fn try_acquire(&self, name: &str) -> Result<Option<LockGuard>>;
}

/// Takes the locks `names` in list order, waiting up to `options.wait` in all; on failure
/// releases those already taken (in reverse order) and returns the error. Callers release the
/// guards in reverse order, as upstream's `InfrahubMultiLock` does.
///
/// # Examples
///
/// ```
/// # async fn run() -> infrahub_cache::Result<()> {
/// use infrahub_cache::{AcquireOptions, CacheConfig, acquire_all, connect};
///
/// let handle = connect(&CacheConfig::default()).await?;
/// let guards = acquire_all(
///     handle.locks.as_ref(),
///     &["global.graph", "global.schema"],
///     AcquireOptions::default(),
/// )
/// .await?;
/// // ... merge a branch ...
/// for guard in guards.into_iter().rev() {
///     guard.release().await?;
/// }
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub async fn acquire_all(
    locks: &dyn LockManager,
    names: &[&str],
    options: AcquireOptions,
) -> Result<Vec<LockGuard>> {
    let deadline = Instant::now() + options.wait;
    let mut guards: Vec<LockGuard> = Vec::with_capacity(names.len());
    for name in names {
        let wait = deadline.saturating_duration_since(Instant::now());
        match locks
            .acquire(name, AcquireOptions { wait, ..options })
            .await
        {
            Ok(guard) => guards.push(guard),
            Err(error) => {
                while let Some(guard) = guards.pop() {
                    if let Err(release_error) = guard.release().await {
                        tracing::warn!(%release_error, "releasing a lock after a failed acquire_all");
                    }
                }
                return Err(error);
            }
        }
    }
    Ok(guards)
}

/// The backend side of one held lock: renewal and release checked against the holder's token.
#[async_trait]
pub(crate) trait HeldLock: Send + Sync + Debug + 'static {
    /// Extends the lease to `lease` from now if this holder still holds the lock; `Ok(false)`
    /// if it does not.
    async fn renew(&self, lease: Duration) -> Result<bool>;

    /// Frees the lock if this holder still holds it; `Ok(false)` if it did not.
    async fn release(&self) -> Result<bool>;
}

/// What the guard and its renewal task share.
#[derive(Debug)]
struct GuardState {
    held: AtomicBool,
    /// The end of the lease as last granted (known to be at or after the service's).
    valid_until: Mutex<Instant>,
    backend: Box<dyn HeldLock>,
}

impl GuardState {
    fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
            && *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) > Instant::now()
    }
}

/// A held lock. Dropping it releases the lock in the background (when a Tokio runtime is
/// there; otherwise the lease runs out); [`LockGuard::release`] releases it and reports the
/// outcome.
pub struct LockGuard {
    name: String,
    fencing_token: u64,
    state: Arc<GuardState>,
    renewal: Option<JoinHandle<()>>,
    finished: bool,
}

impl Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("name", &self.name)
            .field("fencing_token", &self.fencing_token)
            .field("held", &self.is_held())
            .finish()
    }
}

impl LockGuard {
    /// A guard for a lock just taken at `acquired_at` for `lease`, renewing it if `renew`.
    pub(crate) fn new(
        name: &str,
        fencing_token: u64,
        acquired_at: Instant,
        lease: Duration,
        renew: bool,
        backend: Box<dyn HeldLock>,
    ) -> Self {
        let state = Arc::new(GuardState {
            held: AtomicBool::new(true),
            valid_until: Mutex::new(acquired_at + lease),
            backend,
        });
        let renewal =
            renew.then(|| tokio::spawn(renew_loop(name.to_owned(), lease, state.clone())));
        LockGuard {
            name: name.to_owned(),
            fencing_token,
            state,
            renewal,
            finished: false,
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token of this acquisition: larger than that of every earlier acquisition of
    /// the same name, across holders and processes.
    pub fn fencing_token(&self) -> u64 {
        self.fencing_token
    }

    /// Whether the lock is still held: `false` once the lease ended without renewal (a
    /// renewal failed, the service was unreachable for a whole lease, or renewal is off).
    pub fn is_held(&self) -> bool {
        self.state.is_held()
    }

    /// Releases the lock. [`ErrorKind::LockLost`] if the lease had ended and the lock was no
    /// longer this holder's (nothing is changed then: the new holder keeps it).
    pub async fn release(mut self) -> Result<()> {
        self.finished = true;
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        self.state.held.store(false, Ordering::Release);
        if self.state.backend.release().await? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::LockLost,
                format!(
                    "lock `{}` was lost before its release: its lease ended and another holder \
                     may have taken it",
                    self.name
                ),
            ))
        }
    }

    /// Stops renewing and forgets the lock without releasing it, as a holder that dies does:
    /// the lock frees itself when its lease ends. For tests of crash behaviour.
    pub fn abandon(mut self) {
        self.finished = true;
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        self.state.held.store(false, Ordering::Release);
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.finished {
            return;
        }
        self.state.held.store(false, Ordering::Release);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(lock = %self.name, "lock guard dropped outside a runtime: the lease will free it");
            return;
        };
        let state = self.state.clone();
        let name = std::mem::take(&mut self.name);
        runtime.spawn(async move {
            if let Err(error) = state.backend.release().await {
                tracing::warn!(lock = %name, %error, "releasing a dropped lock guard failed: the lease will free it");
            }
        });
    }
}

/// Renews the lease every third of it until the guard stops the task or the lock is lost.
async fn renew_loop(name: String, lease: Duration, state: Arc<GuardState>) {
    let period = (lease / 3).max(Duration::from_millis(1));
    let mut next = Instant::now() + period;
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        match state.backend.renew(lease).await {
            Ok(true) => {
                *state.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = started + lease;
                next = started + period;
            }
            Ok(false) => {
                tracing::warn!(lock = %name, "lock lost: its lease ended before the renewal");
                state.held.store(false, Ordering::Release);
                return;
            }
            Err(error) => {
                let valid_until = *state.valid_until.lock().unwrap_or_else(|e| e.into_inner());
                if Instant::now() >= valid_until {
                    tracing::warn!(lock = %name, %error, "lock lost: no renewal within its lease");
                    state.held.store(false, Ordering::Release);
                    return;
                }
                tracing::debug!(lock = %name, %error, "renewing a lock failed; retrying");
                next = Instant::now() + (period / 4).max(Duration::from_millis(1));
            }
        }
    }
}

/// Waits for a lock by calling `attempt` until it gives a guard or `options.wait` passes:
/// short pauses first, growing to 50 ms, with jitter, cut short when `released` is notified
/// (a lock of the same manager was released in this process).
#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) async fn poll_acquire<F, Fut>(
    name: &str,
    options: AcquireOptions,
    released: &tokio::sync::Notify,
    mut attempt: F,
) -> Result<LockGuard>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<LockGuard>>>,
{
    let deadline = Instant::now() + options.wait;
    let mut pause = Duration::from_millis(1);
    loop {
        let notified = released.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(guard) = attempt().await? {
            return Ok(guard);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(lock_timeout(name, options.wait));
        }
        let jitter = Duration::from_micros((uuid::Uuid::new_v4().as_u128() % 1000) as u64);
        tokio::select! {
            () = tokio::time::sleep_until((now + pause + jitter).min(deadline)) => {}
            () = &mut notified => {}
        }
        pause = (pause * 3 / 2).min(Duration::from_millis(50));
    }
}

/// The error of a wait that ran out.
pub(crate) fn lock_timeout(name: &str, wait: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("lock `{name}` is still held by another holder after waiting {wait:?}"),
    )
}

/// Refuses an empty lock name.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        Err(Error::invalid("lock names must not be empty"))
    } else {
        Ok(())
    }
}
