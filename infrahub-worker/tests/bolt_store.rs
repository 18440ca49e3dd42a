//! The task store conformance suite on the Bolt backend, against the server of
//! `INFRAHUB_TEST_BOLT_URL` (skipped when unset, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`).
//! Each store works on labels of its own, so runs share one database.
#![cfg(all(feature = "bolt", feature = "conformance"))]

use std::time::Duration;

use infrahub_graph::BoltConfig;
use infrahub_worker::BoltTaskStore;

fn server_config() -> Option<BoltConfig> {
    match std::env::var("INFRAHUB_TEST_BOLT_URL") {
        Ok(url) if !url.is_empty() => {
            let mut config = BoltConfig::from_url(&url).expect("INFRAHUB_TEST_BOLT_URL is valid");
            config.startup_wait = Duration::from_secs(20);
            Some(config)
        }
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "INFRAHUB_TEST_BOLT_URL is not set (start a server with scripts/start-arcadedb.sh)"
            )
        }
        _ => {
            eprintln!("skipping: INFRAHUB_TEST_BOLT_URL is not set");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_bolt() {
    let Some(config) = server_config() else {
        return;
    };
    infrahub_worker::conformance::run_all(|| {
        let config = config.clone();
        async move {
            let prefix = format!("T{}", uuid::Uuid::new_v4().simple());
            BoltTaskStore::connect(&config, &prefix).await.unwrap()
        }
    })
    .await;
}

#[tokio::test]
async fn a_bad_label_prefix_is_refused() {
    let Some(config) = server_config() else {
        return;
    };
    for prefix in ["a b", "x)-[r]-(", "9abc"] {
        let error = BoltTaskStore::connect(&config, prefix).await.unwrap_err();
        assert_eq!(
            error.kind(),
            infrahub_worker::ErrorKind::InvalidInput,
            "{prefix}"
        );
    }
}
