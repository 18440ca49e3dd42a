//! Helpers shared by the integration tests: service URLs, configs, temporary directories.

#![allow(dead_code, unreachable_pub)]

pub mod servers;

use std::path::PathBuf;

use infrahub_bus::{BusBackend, BusConfig};

/// The URL in `variable`, or `None` (after saying so) to skip; with
/// `INFRAHUB_TEST_REQUIRE_SERVICES=1` an unset URL fails the test.
pub fn service_url(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{variable} is not set (INFRAHUB_TEST_REQUIRE_SERVICES=1)")
        }
        _ => {
            eprintln!("skipping {test}: {variable} is not set");
            None
        }
    }
}

/// A config for `url` (`amqp://user:pass@host:port/vhost` or `nats://[user:pass@]host:port`)
/// in a fresh namespace, with the conformance suite's settings.
pub fn config_from_url(url: &str) -> BusConfig {
    let parsed = BusConfig::from_url(url).expect("a broker URL");
    BusConfig {
        backend: parsed.backend,
        address: parsed.address,
        port: parsed.port,
        username: parsed.username,
        password: parsed.password,
        virtualhost: parsed.virtualhost,
        tls: parsed.tls,
        namespace: fresh_namespace(),
        ..infrahub_bus::conformance::config()
    }
}

/// A namespace no other test uses.
pub fn fresh_namespace() -> String {
    format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A directory of the test, deleted when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "infrahub-bus-{what}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn url_parsing() {
    let config = config_from_url("amqp://guest:gu%40st@127.0.0.1:5672/%2f");
    assert_eq!(config.backend, BusBackend::Amqp);
    assert_eq!(config.password, "gu@st");
    assert_eq!(config.virtualhost, "/");
    assert_eq!(config.port, 5672);
    let config = config_from_url("nats://127.0.0.1:4222");
    assert_eq!(config.backend, BusBackend::Nats);
    assert_eq!(config.address, "127.0.0.1");
    assert!(config.username.is_empty());
}
