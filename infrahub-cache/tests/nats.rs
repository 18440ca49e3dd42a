//! The NATS backend against the server of `INFRAHUB_TEST_NATS_URL` (e.g.
//! `nats://127.0.0.1:4222`, JetStream enabled): the conformance suite, each check in its own
//! namespace (its own bucket, deleted at the end), plus the key layout and the errors of an
//! unreachable server.
//!
//! Unset, the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they
//! fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use infrahub_cache::{AcquireOptions, CacheBackend, CacheConfig, ErrorKind, conformance, connect};

/// The server's URL, or `None` (after saying so) to skip.
fn nats_url(test: &str) -> Option<String> {
    match std::env::var("INFRAHUB_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("INFRAHUB_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222)")
        }
        _ => {
            eprintln!("skipping {test}: INFRAHUB_TEST_NATS_URL is not set");
            None
        }
    }
}

/// Deletes the buckets of `namespaces` (names as the backend documents them).
async fn clean(url: &str, namespaces: &[String]) {
    let client = async_nats::connect(url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    for namespace in namespaces {
        let _ = jetstream
            .delete_key_value(format!("kv_0_{namespace}"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_backend_conforms() {
    let Some(url) = nats_url("nats_backend_conforms") else {
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
    clean(&url, &used).await;
}

#[tokio::test]
async fn locks_use_upstreams_key_layout() {
    let Some(url) = nats_url("locks_use_upstreams_key_layout") else {
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
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let store = async_nats::jetstream::new(client)
        .get_key_value(format!("kv_0_{namespace}"))
        .await
        .unwrap();
    let entry = store.entry("lock.global.graph").await.unwrap();
    let entry = entry.expect("the lock is the key `lock.<name>` of the namespace's bucket");
    assert_eq!(
        entry.revision,
        guard.fencing_token(),
        "the fencing token is the revision of the acquiring write"
    );
    handle
        .cache
        .set("workers:worker:1", b"x", Default::default())
        .await
        .unwrap();
    assert!(
        store.entry("workers.worker.1").await.unwrap().is_some(),
        "`:` in keys becomes `.`, as upstream"
    );
    guard.release().await.unwrap();
    clean(&url, &[namespace]).await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_naming_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = CacheConfig {
        backend: CacheBackend::Nats,
        address: "127.0.0.1".to_owned(),
        port,
        connect_timeout: Duration::from_secs(2),
        ..CacheConfig::default()
    };
    let error = connect(&config).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "the error names address:port: {error}"
    );
}
