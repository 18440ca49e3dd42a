//! The conformance suite against the NATS (JetStream on) of `INFRAHUB_TEST_NATS_URL`
//! (`nats://127.0.0.1:4222`), each check in a namespace of its own whose streams are deleted
//! at the end.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use infrahub_bus::{BusConfig, ErrorKind, Message, MessageBus, NatsBus, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_conformance() {
    let Some(url) = common::service_url("INFRAHUB_TEST_NATS_URL", "nats_conformance") else {
        return;
    };
    let used: Arc<Mutex<Vec<BusConfig>>> = Arc::default();
    conformance::run_all(|| {
        let config = common::config_from_url(&url);
        used.lock().unwrap().push(config.clone());
        async move { Arc::new(NatsBus::connect(&config).await.unwrap()) as Arc<dyn MessageBus> }
    })
    .await;
    let used = used.lock().unwrap().clone();
    for config in used {
        NatsBus::delete_namespace(&config).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_unreachable_server_is_unavailable() {
    let Some(url) = common::service_url("INFRAHUB_TEST_NATS_URL", "nats_errors") else {
        return;
    };
    let config = BusConfig {
        port: common::free_port(),
        connect_timeout: Duration::from_secs(2),
        ..common::config_from_url(&url)
    };
    let err = NatsBus::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&config.endpoint()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_broadcast_reaches_every_process() {
    let Some(url) = common::service_url("INFRAHUB_TEST_NATS_URL", "nats_fan_out") else {
        return;
    };
    // Three "processes" (connections) in one namespace: each one's subscription gets the
    // broadcast (upstream's NATS driver delivered it to one of them only).
    let config = common::config_from_url(&url);
    let mut buses = Vec::new();
    let mut subscriptions = Vec::new();
    for _ in 0..3 {
        let bus = NatsBus::connect(&config).await.unwrap();
        subscriptions.push(bus.subscribe(&["refresh.git.*"]).await.unwrap());
        buses.push(bus);
    }
    buses[0]
        .broadcast(Message::new("refresh.git.fetch", b"x".to_vec()))
        .await
        .unwrap();
    for (index, subscription) in subscriptions.iter_mut().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await;
        assert!(
            matches!(got, Ok(Some(ref m)) if m.routing_key == "refresh.git.fetch"),
            "process {index} missed the broadcast"
        );
    }
    drop(buses);
    NatsBus::delete_namespace(&config).await.unwrap();
}
