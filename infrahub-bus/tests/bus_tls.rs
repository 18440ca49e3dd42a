//! TLS toward the broker ([`BusTlsConfig`]) against a private RabbitMQ node and a private NATS
//! server that speak only TLS, with certificates made by `openssl`: a CA, a server
//! certificate for 127.0.0.1 signed by it and an unrelated CA. The bus works with the CA file
//! and with `insecure`; the system's roots, the other CA and plain connections are refused
//! with errors naming the cause.
//!
//! Runs where `rabbitmq-server`, `nats-server` and `openssl` are installed; like the other
//! service tests it skips unless `INFRAHUB_TEST_AMQP_URL` / `INFRAHUB_TEST_NATS_URL` is set
//! (the marker that brokers are installed), and `INFRAHUB_TEST_REQUIRE_SERVICES=1` turns a
//! skip into a failure.

mod common;

use std::time::Duration;

use common::TempDir;
use common::servers::{Certificates, PrivateNats, PrivateRabbit};
use infrahub_bus::{BusBackend, BusConfig, BusTlsConfig, ErrorKind, Message};

fn tls_config(backend: BusBackend, port: u16, tls: BusTlsConfig) -> BusConfig {
    BusConfig {
        backend,
        address: "127.0.0.1".into(),
        port,
        username: if backend == BusBackend::Amqp {
            "guest"
        } else {
            ""
        }
        .into(),
        password: if backend == BusBackend::Amqp {
            "guest"
        } else {
            ""
        }
        .into(),
        namespace: common::fresh_namespace(),
        tls,
        connect_timeout: Duration::from_secs(5),
        ..infrahub_bus::conformance::config()
    }
}

/// Connects, sends one work message through the broker and reads it back.
async fn round_trip(config: &BusConfig) {
    let bus = infrahub_bus::connect(config)
        .await
        .unwrap_or_else(|err| panic!("TLS connect with {:?}: {err}", config.tls));
    let mut consumer = bus.consume(&["tls.*"]).await.unwrap();
    bus.publish(Message::new("tls.check", b"secret".to_vec()), None)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a delivery over TLS")
        .expect("a delivery over TLS");
    assert_eq!(delivery.message().payload, b"secret");
    delivery.ack().await;
}

async fn check_tls(backend: BusBackend, port: u16, certificates: &Certificates) {
    let with_ca = BusTlsConfig {
        enabled: true,
        ca_file: Some(certificates.ca.clone()),
        insecure: false,
    };
    round_trip(&tls_config(backend, port, with_ca)).await;

    let insecure = BusTlsConfig {
        enabled: true,
        ca_file: None,
        insecure: true,
    };
    round_trip(&tls_config(backend, port, insecure)).await;

    let system_roots = BusTlsConfig {
        enabled: true,
        ca_file: None,
        insecure: false,
    };
    let err = infrahub_bus::connect(&tls_config(backend, port, system_roots))
        .await
        .expect_err("a certificate of an unknown CA must be refused");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");

    let other_ca = BusTlsConfig {
        enabled: true,
        ca_file: Some(certificates.other_ca.clone()),
        insecure: false,
    };
    let err = infrahub_bus::connect(&tls_config(backend, port, other_ca))
        .await
        .expect_err("a certificate of another CA must be refused");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("CA"), "{err}");

    let plain = tls_config(backend, port, BusTlsConfig::default());
    let err = infrahub_bus::connect(&plain)
        .await
        .expect_err("plain AMQP/NATS to a TLS-only port must fail");
    let text = err.to_string();
    assert!(
        matches!(err.kind(), ErrorKind::Tls | ErrorKind::Unavailable),
        "{err}"
    );
    assert!(
        text.to_lowercase().contains("tls"),
        "the error says TLS is involved: {text}"
    );
    eprintln!("{backend:?} plain to TLS port: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_over_tls() {
    if common::service_url("INFRAHUB_TEST_AMQP_URL", "amqp_over_tls").is_none() {
        return;
    }
    let dir = TempDir::new("tls-certs");
    let certificates = Certificates::make(&dir.0);
    let rabbit = PrivateRabbit::start(Some(&certificates));
    check_tls(BusBackend::Amqp, rabbit.port, &certificates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_over_tls() {
    if common::service_url("INFRAHUB_TEST_NATS_URL", "nats_over_tls").is_none() {
        return;
    }
    let dir = TempDir::new("tls-certs");
    let certificates = Certificates::make(&dir.0);
    let nats = PrivateNats::start(Some(&certificates));
    check_tls(BusBackend::Nats, nats.port, &certificates).await;
}
