//! The Redis backend against the server of `INFRAHUB_TEST_REDIS_URL` (e.g.
//! `redis://127.0.0.1:6379`): the conformance suite, each check in its own namespace, plus the
//! key layout upstream uses and the errors of an unreachable server.
//!
//! Unset, the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they
//! fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use infrahub_cache::{AcquireOptions, CacheBackend, CacheConfig, ErrorKind, conformance, connect};

/// The server's URL, or `None` (after saying so) to skip.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var("INFRAHUB_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("INFRAHUB_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)")
        }
        _ => {
            eprintln!("skipping {test}: INFRAHUB_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// Deletes every key of `namespaces`.
async fn clean(base: &CacheConfig, namespaces: &[String]) {
    for namespace in namespaces {
        let config = CacheConfig {
            namespace: namespace.clone(),
            ..base.clone()
        };
        let handle = connect(&config).await.unwrap();
        for key in handle.cache.keys_with_prefix("").await.unwrap() {
            handle.cache.delete(&key).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_backend_conforms() {
    let Some(url) = redis_url("redis_backend_conforms") else {
        return;
    };
    let base = CacheConfig::from_url(&url).unwrap();
    let used = Arc::new(Mutex::new(Vec::new()));
    conformance::run_all(|namespace| {
        used.lock().unwrap().push(namespace.clone());
        let config = CacheConfig {
            namespace,
            ..base.clone()
        };
        async move { connect(&config).await.unwrap() }
    })
    .await;
    let used = used.lock().unwrap().clone();
    clean(&base, &used).await;
}

#[tokio::test]
async fn locks_use_upstreams_key_layout() {
    let Some(url) = redis_url("locks_use_upstreams_key_layout") else {
        return;
    };
    let namespace = conformance::fresh_namespace();
    let config = CacheConfig {
        namespace: namespace.clone(),
        ..CacheConfig::from_url(&url).unwrap()
    };
    let handle = connect(&config).await.unwrap();
    let guard = handle
        .locks
        .acquire("global.graph", AcquireOptions::default())
        .await
        .unwrap();
    let value = handle.cache.get("lock.global.graph").await.unwrap();
    let value =
        String::from_utf8(value.expect("the lock is the key `<namespace>:lock.<name>`")).unwrap();
    assert!(
        value.starts_with(&format!("{}:", guard.fencing_token())),
        "the lock's value starts with its fencing token: {value}"
    );
    guard.release().await.unwrap();
    assert_eq!(
        handle.cache.get("lock.global.graph").await.unwrap(),
        None,
        "release deletes the key"
    );
    clean(&config, &[namespace]).await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_naming_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = CacheConfig {
        backend: CacheBackend::Redis,
        address: "127.0.0.1".to_owned(),
        port,
        connect_timeout: Duration::from_secs(2),
        ..CacheConfig::default()
    };
    let error = connect(&config).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "the error names address:port: {error}"
    );
}
