//! Faults: a consumer process killed before it acks, and a broker killed and restarted while
//! messages flow.
//!
//! - A child process (this test binary, running the ignored `fault_child_consumer`) takes a
//!   message and is killed with SIGKILL before acking: another consumer gets the message
//!   (RabbitMQ at once, NATS after `ack_wait`). Against the shared brokers of
//!   `INFRAHUB_TEST_AMQP_URL` / `INFRAHUB_TEST_NATS_URL`.
//! - A private broker (RabbitMQ node, NATS server) is killed with SIGKILL and restarted on
//!   the same port and data while a publisher and a consumer run: publishing fails with
//!   `Unavailable` naming the broker while it is down, the bus reconnects by itself, the
//!   consumer and a subscription resume, and every message whose publish returned `Ok` is
//!   consumed.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::servers::{PrivateNats, PrivateRabbit};
use infrahub_bus::{AmqpBus, BusBackend, BusConfig, ErrorKind, Message, MessageBus, NatsBus};

const CHILD_URL: &str = "INFRAHUB_BUS_FAULT_CHILD_URL";
const CHILD_NAMESPACE: &str = "INFRAHUB_BUS_FAULT_CHILD_NAMESPACE";

/// The consumer process of [`killed_consumer`]: takes one message, says so, and hangs
/// without acking until it is killed. Run any other way (no child variables), it returns at
/// once.
#[tokio::test]
async fn fault_child_consumer() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let config = BusConfig {
        namespace: std::env::var(CHILD_NAMESPACE).expect("started by a fault test"),
        ..common::config_from_url(&url)
    };
    let bus = infrahub_bus::connect(&config).await.unwrap();
    let mut consumer = bus.consume(&["fault.*"]).await.unwrap();
    let delivery = consumer.next().await.unwrap();
    println!(
        "received {}",
        String::from_utf8_lossy(&delivery.message().payload)
    );
    tokio::time::sleep(Duration::from_secs(120)).await;
    drop(delivery);
}

async fn killed_consumer(url: &str) {
    let config = common::config_from_url(url);
    let bus = infrahub_bus::connect(&config).await.unwrap();
    bus.publish(Message::new("fault.work", b"victim".to_vec()), None)
        .await
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["fault_child_consumer", "--exact", "--nocapture"])
        .env(CHILD_URL, url)
        .env(CHILD_NAMESPACE, &config.namespace)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let received = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("received victim"))
    });
    let received = tokio::time::timeout(Duration::from_secs(60), received).await;
    assert!(
        matches!(received, Ok(Ok(true))),
        "the child consumer never got the message"
    );
    let mut consumer = bus.consume(&["fault.*"]).await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .expect("the message of a killed consumer must be redelivered")
        .unwrap();
    assert_eq!(delivery.message().payload, b"victim");
    delivery.ack().await;
    drop(consumer);
    drop(bus);
    match config.backend {
        BusBackend::Amqp => AmqpBus::delete_namespace(&config).await.unwrap(),
        _ => NatsBus::delete_namespace(&config).await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_killed_consumer_is_redelivered() {
    if let Some(url) = common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_killed_consumer") {
        killed_consumer(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_consumer_is_redelivered() {
    if let Some(url) = common::service_url("INFRAHUB_TEST_NATS_URL", "nats_killed_consumer") {
        killed_consumer(&url).await;
    }
}

/// A broker the test can kill and restart.
trait Broker: Send {
    fn kill(&mut self);
    fn restart(&mut self);
}

impl Broker for PrivateRabbit {
    fn kill(&mut self) {
        PrivateRabbit::kill(self);
    }
    fn restart(&mut self) {
        PrivateRabbit::restart(self);
    }
}

impl Broker for PrivateNats {
    fn kill(&mut self) {
        PrivateNats::kill(self);
    }
    fn restart(&mut self) {
        PrivateNats::restart(self);
    }
}

async fn survive_restart<B: Broker + 'static>(broker: B, config: BusConfig) {
    let bus: Arc<dyn MessageBus> = infrahub_bus::connect(&config).await.unwrap();
    let consumed: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
    let mut consumer = bus.consume(&["restart.*"]).await.unwrap();
    let sink = Arc::clone(&consumed);
    let consuming = tokio::spawn(async move {
        while let Some(delivery) = consumer.next().await {
            let text = String::from_utf8_lossy(&delivery.message().payload).into_owned();
            delivery.ack().await;
            sink.lock().unwrap().insert(text.parse().unwrap());
        }
    });
    let mut subscription = bus.subscribe(&["restart.signal"]).await.unwrap();

    let mut published = BTreeSet::new();
    let mut next = 0u32;
    let publish = |sequence: u32| {
        let bus = Arc::clone(&bus);
        async move {
            let message = Message::new("restart.work", sequence.to_string().into_bytes());
            tokio::time::timeout(Duration::from_secs(15), bus.publish(message, None))
                .await
                .unwrap_or_else(|_| panic!("publish {sequence} hung"))
        }
    };
    for _ in 0..50 {
        publish(next).await.unwrap();
        published.insert(next);
        next += 1;
    }

    let broker = Arc::new(Mutex::new(broker));
    broker.lock().unwrap().kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut refused = 0;
    for _ in 0..10 {
        match publish(next).await {
            Ok(()) => {
                published.insert(next);
            }
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
                assert!(err.to_string().contains(&config.endpoint()), "{err}");
                refused += 1;
            }
        }
        next += 1;
    }
    assert!(refused > 0, "publishing to a dead broker must fail");

    let restarter = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || restarter.lock().unwrap().restart())
        .await
        .unwrap();

    // The bus reconnects by itself: publishing works again within the backoff cap.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after_restart = 0;
    while after_restart < 50 {
        assert!(Instant::now() < deadline, "the bus never reconnected");
        match publish(next).await {
            Ok(()) => {
                published.insert(next);
                after_restart += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        next += 1;
    }

    // Every message whose publish returned Ok is consumed by the resumed consumer.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<u32> = {
            let consumed = consumed.lock().unwrap();
            published.difference(&consumed).copied().collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged publishes were never consumed after the restart: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The subscription resumed too.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = bus
            .broadcast(Message::new("restart.signal", b"again".to_vec()))
            .await;
        if let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(300), subscription.next()).await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription did not resume after the restart"
        );
    }
    consuming.abort();
    drop(bus);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_broker_restart_loses_no_confirmed_message() {
    if common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_broker_restart").is_none() {
        return;
    }
    let rabbit = PrivateRabbit::start(None);
    let config =
        common::config_from_url(&format!("amqp://guest:guest@127.0.0.1:{}/%2f", rabbit.port));
    survive_restart(rabbit, config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_broker_restart_loses_no_acknowledged_message() {
    if common::service_url("INFRAHUB_TEST_NATS_URL", "nats_broker_restart").is_none() {
        return;
    }
    let nats = PrivateNats::start(None);
    let config = common::config_from_url(&format!("nats://127.0.0.1:{}", nats.port));
    survive_restart(nats, config).await;
}
