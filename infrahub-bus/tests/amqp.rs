//! The conformance suite against the RabbitMQ of `INFRAHUB_TEST_AMQP_URL`
//! (`amqp://guest:guest@127.0.0.1:5672/%2f`), each check in a namespace of its own that is
//! deleted at the end.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use infrahub_bus::{AmqpBus, BusConfig, ErrorKind, Message, MessageBus, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_conformance() {
    let Some(url) = common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_conformance") else {
        return;
    };
    let used: Arc<Mutex<Vec<BusConfig>>> = Arc::default();
    conformance::run_all(|| {
        let config = common::config_from_url(&url);
        used.lock().unwrap().push(config.clone());
        async move { Arc::new(AmqpBus::connect(&config).await.unwrap()) as Arc<dyn MessageBus> }
    })
    .await;
    let used = used.lock().unwrap().clone();
    for config in used {
        AmqpBus::delete_namespace(&config).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_refuses_bad_credentials_and_unreachable_brokers() {
    let Some(url) = common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_errors") else {
        return;
    };
    let config = BusConfig {
        password: "wrong-password".into(),
        ..common::config_from_url(&url)
    };
    let err = AmqpBus::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");

    let config = BusConfig {
        port: common::free_port(),
        connect_timeout: Duration::from_secs(2),
        ..common::config_from_url(&url)
    };
    let err = AmqpBus::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&config.endpoint()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publish_survives_without_consumers() {
    let Some(url) = common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_durable") else {
        return;
    };
    let config = common::config_from_url(&url);
    let publisher = AmqpBus::connect(&config).await.unwrap();
    publisher
        .publish(Message::new("git.file.get", b"kept".to_vec()), None)
        .await
        .unwrap();
    drop(publisher);
    // Another process connects later and finds the message.
    let worker = AmqpBus::connect(&config).await.unwrap();
    let mut consumer = worker.consume(&["git.*.*"]).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.message().payload, b"kept");
    assert_eq!(delivery.message().routing_key, "git.file.get");
    delivery.ack().await;
    drop(consumer);
    drop(worker);
    AmqpBus::delete_namespace(&config).await.unwrap();
}
