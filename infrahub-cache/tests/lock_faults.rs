//! Faults: a lock holder killed with SIGKILL, and a Redis restarted under a live handle.
//!
//! - A child process (this test binary again, running [`fault_child_holder`] with
//!   `INFRAHUB_CACHE_FAULT_CHILD` set) takes a lock with a 2 s lease, renewing it, says so on
//!   its output and is then killed with SIGKILL. The lock stays taken right after the kill,
//!   and another acquirer gets it once the lease has run out, with a larger fencing token.
//!   Against the shared Redis (`INFRAHUB_TEST_REDIS_URL`) and NATS (`INFRAHUB_TEST_NATS_URL`).
//! - A private `redis-server` (and a private `nats-server`) is killed and started again on the
//!   same port while a handle is alive: meanwhile calls fail with a retryable error
//!   (`Unavailable`) and no panic, and afterwards the same handle works again (it reconnects by
//!   itself).
//!
//! Unset URLs make the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`,
//! where they fail.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use infrahub_cache::{AcquireOptions, CacheBackend, CacheConfig, SetOptions, conformance, connect};
use support::{Server, TempDir, free_port, service_tests_enabled};

/// The environment variable that turns [`fault_child_holder`] into the holder.
const CHILD: &str = "INFRAHUB_CACHE_FAULT_CHILD";

/// The lease of the killed holder.
const LEASE: Duration = Duration::from_secs(2);

/// The holder side of the kill tests: does nothing unless started by them with
/// `INFRAHUB_CACHE_FAULT_CHILD=<url> <namespace>`; then takes `global.graph` with a 2 s lease,
/// prints `HELD <fencing token>` and waits to be killed.
#[tokio::test]
async fn fault_child_holder() {
    let Ok(settings) = std::env::var(CHILD) else {
        return;
    };
    let (url, namespace) = settings.split_once(' ').unwrap();
    let config = CacheConfig {
        namespace: namespace.to_owned(),
        ..CacheConfig::from_url(url).unwrap()
    };
    let handle = connect(&config).await.unwrap();
    let guard = handle
        .locks
        .acquire("global.graph", AcquireOptions::default().with_lease(LEASE))
        .await
        .unwrap();
    println!("HELD {}", guard.fencing_token());
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("the holder was not killed");
}

/// Runs the holder in a child process against `url`, kills it once it holds the lock and
/// checks that the lock frees itself after the lease only.
async fn killed_holder_frees_the_lock_after_its_lease(url: &str) -> String {
    let namespace = conformance::fresh_namespace();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fault_child_holder",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, format!("{url} {namespace}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let held = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print `test fault_child_holder ... ` before it on the same line.
            .find_map(|line| {
                let (_, token) = line.split_once("HELD ")?;
                token.trim().parse::<u64>().ok()
            })
    })
    .await
    .unwrap();
    // Let the holder renew at least once, so that the kill happens mid-lease.
    tokio::time::sleep(LEASE / 2).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Instant::now();
    let dead_token = held.expect("the child process took the lock");

    let config = CacheConfig {
        namespace,
        ..CacheConfig::from_url(url).unwrap()
    };
    let handle = connect(&config).await.unwrap();
    assert!(
        handle
            .locks
            .try_acquire("global.graph")
            .await
            .unwrap()
            .is_none(),
        "the lock of a killed holder stays taken until its lease ends"
    );
    let guard = handle
        .locks
        .acquire(
            "global.graph",
            AcquireOptions::wait(Duration::from_secs(10)),
        )
        .await
        .expect("the lock of a killed holder frees itself after its lease");
    let waited = killed_at.elapsed();
    assert!(
        guard.fencing_token() > dead_token,
        "the next holder's token {} is above the killed holder's {dead_token}",
        guard.fencing_token()
    );
    assert!(
        waited <= LEASE + Duration::from_secs(2),
        "the lock came free within about one lease of the kill (after {waited:?})"
    );
    eprintln!("lock free {waited:?} after the kill");
    guard.release().await.unwrap();
    for key in handle.cache.keys_with_prefix("").await.unwrap() {
        handle.cache.delete(&key).await.unwrap();
    }
    config.namespace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holder_killed() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let Some(url) = service_tests_enabled("INFRAHUB_TEST_REDIS_URL", "redis_holder_killed") else {
        return;
    };
    killed_holder_frees_the_lock_after_its_lease(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_holder_killed() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let Some(url) = service_tests_enabled("INFRAHUB_TEST_NATS_URL", "nats_holder_killed") else {
        return;
    };
    let namespace = killed_holder_frees_the_lock_after_its_lease(&url).await;
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_key_value(format!("kv_0_{namespace}"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_a_live_handle() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    if service_tests_enabled(
        "INFRAHUB_TEST_REDIS_URL",
        "redis_restart_under_a_live_handle",
    )
    .is_none()
    {
        return;
    }
    let dir = TempDir::new("redis-restart");
    let port = free_port();
    let mut server = Server::redis(dir.path(), port, &[]);
    let config = CacheConfig {
        backend: CacheBackend::Redis,
        address: "127.0.0.1".to_owned(),
        port,
        connect_timeout: Duration::from_secs(2),
        ..CacheConfig::default()
    };
    let handle = connect(&config).await.unwrap();
    handle
        .cache
        .set("before", b"1", SetOptions::default())
        .await
        .unwrap();

    server.kill();
    for attempt in 0..3 {
        let started = Instant::now();
        let error = handle
            .cache
            .get("before")
            .await
            .expect_err("calls fail while the server is down");
        assert!(
            error.is_retryable(),
            "a call while the server is down fails with a retryable error ({:?}): {error}",
            error.kind()
        );
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "the error names the server: {error}"
        );
        eprintln!(
            "down, attempt {attempt}: {error} (after {:?})",
            started.elapsed()
        );
        let error = handle.locks.try_acquire("global.init").await.unwrap_err();
        assert!(
            error.is_retryable(),
            "lock calls fail retryably too: {error}"
        );
    }

    let _server = Server::redis(dir.path(), port, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match handle.cache.set("after", b"2", SetOptions::default()).await {
            Ok(_) => break,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "the handle works again after the restart: {error}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(
        handle.cache.get("after").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    let guard = handle
        .locks
        .acquire("global.init", AcquireOptions::default())
        .await
        .expect("locks work again after the restart");
    guard.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_under_a_live_handle() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    if service_tests_enabled("INFRAHUB_TEST_NATS_URL", "nats_restart_under_a_live_handle").is_none()
    {
        return;
    }
    let dir = TempDir::new("nats-restart");
    let port = free_port();
    let mut server = Server::nats(dir.path(), port, &[]);
    let config = CacheConfig {
        backend: CacheBackend::Nats,
        address: "127.0.0.1".to_owned(),
        port,
        connect_timeout: Duration::from_secs(2),
        ..CacheConfig::default()
    };
    let handle = connect(&config).await.unwrap();
    handle
        .cache
        .set("before", b"1", SetOptions::default())
        .await
        .unwrap();

    server.kill();
    let started = Instant::now();
    let error = handle
        .cache
        .get("before")
        .await
        .expect_err("calls fail while the server is down");
    assert!(
        error.is_retryable(),
        "a call while the server is down fails with a retryable error ({:?}): {error}",
        error.kind()
    );
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "the error names the server: {error}"
    );
    eprintln!("down: {error} (after {:?})", started.elapsed());

    // Same port and JetStream store directory: the bucket and its values survive.
    let _server = Server::nats(dir.path(), port, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let value = loop {
        match handle.cache.get("before").await {
            Ok(value) => break value,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "the handle works again after the restart: {error}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(
        value.as_deref(),
        Some(&b"1"[..]),
        "JetStream kept the value"
    );
    let guard = handle
        .locks
        .acquire("global.init", AcquireOptions::default())
        .await
        .expect("locks work again after the restart");
    guard.release().await.unwrap();
}
