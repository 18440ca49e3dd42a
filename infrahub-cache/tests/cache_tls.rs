//! TLS and credentials toward the cache service, against private servers the tests start.
//!
//! The TLS tests make a CA, a server certificate signed by it for 127.0.0.1 and an unrelated
//! second CA with the `openssl` command, then start a `redis-server` with a TLS port (and a
//! plain one) and a `nats-server` with `--tls` (JetStream on its own store directory), on free
//! ports of 127.0.0.1 in a temporary directory; the servers are killed when the test ends, also
//! when it fails. The cache works over TLS verified with that CA and without verification;
//! the system's roots, the other CA, a plain client to the TLS port and a TLS client to a plain
//! port are refused with errors naming the cause. The credential tests start servers that
//! require a password.
//!
//! The Redis tests run when `INFRAHUB_TEST_REDIS_URL` is set and the NATS tests when
//! `INFRAHUB_TEST_NATS_URL` is (the machine has the servers); unset, they say that they skip,
//! unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they fail.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use infrahub_cache::{
    AcquireOptions, CacheBackend, CacheConfig, CacheTlsConfig, ErrorKind, SetOptions, connect,
};
use support::{Server, TempDir, free_port, make_certificates, service_tests_enabled};

fn config(backend: CacheBackend, port: u16, tls: CacheTlsConfig) -> CacheConfig {
    CacheConfig {
        backend,
        address: "127.0.0.1".to_owned(),
        port,
        tls,
        namespace: "tls-test".to_owned(),
        connect_timeout: Duration::from_secs(3),
        ..CacheConfig::default()
    }
}

fn tls(ca_file: Option<PathBuf>, insecure: bool) -> CacheTlsConfig {
    CacheTlsConfig {
        enabled: true,
        ca_file,
        insecure,
    }
}

/// Connects with `config` and checks that the cache and the locks work.
async fn works(config: &CacheConfig, what: &str) {
    let handle = connect(config)
        .await
        .unwrap_or_else(|err| panic!("{what}: connecting failed: {err}"));
    handle
        .cache
        .set("k", b"v", SetOptions::default())
        .await
        .unwrap_or_else(|err| panic!("{what}: set failed: {err}"));
    assert_eq!(
        handle.cache.get("k").await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "{what}"
    );
    let guard = handle
        .locks
        .acquire("global.init", AcquireOptions::default())
        .await
        .unwrap();
    guard.release().await.unwrap();
}

/// Connects with `config`, expecting an error of `kind` whose message holds every one of
/// `words`.
async fn refused(config: &CacheConfig, what: &str, kinds: &[ErrorKind], words: &[&str]) {
    let error = connect(config)
        .await
        .map(|_| ())
        .expect_err(&format!("{what}: connecting must fail"));
    eprintln!("{what}: {error}");
    assert!(
        kinds.contains(&error.kind()),
        "{what}: expected {kinds:?}, got {:?}: {error}",
        error.kind()
    );
    for word in words {
        assert!(
            error.to_string().contains(word),
            "{what}: the error names `{word}`: {error}"
        );
    }
}

#[tokio::test]
async fn redis_over_tls() {
    if service_tests_enabled("INFRAHUB_TEST_REDIS_URL", "redis_over_tls").is_none() {
        return;
    }
    let dir = TempDir::new("redis-tls");
    let certificates = make_certificates(dir.path());
    let (tls_port, plain_port) = (free_port(), free_port());
    let _server = Server::redis(
        dir.path(),
        tls_port,
        &[
            "--port",
            &plain_port.to_string(),
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            certificates.server_cert.to_str().unwrap(),
            "--tls-key-file",
            certificates.server_key.to_str().unwrap(),
            "--tls-ca-cert-file",
            certificates.ca.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ],
    );
    let redis = |port, tls| config(CacheBackend::Redis, port, tls);
    works(
        &redis(tls_port, tls(Some(certificates.ca.clone()), false)),
        "the CA file",
    )
    .await;
    works(&redis(tls_port, tls(None, true)), "insecure").await;
    let endpoint = format!("127.0.0.1:{tls_port}");
    refused(
        &redis(tls_port, tls(None, false)),
        "the system's roots",
        &[ErrorKind::Tls],
        &[&endpoint, "INFRAHUB_CACHE_TLS_CA_FILE"],
    )
    .await;
    refused(
        &redis(tls_port, tls(Some(certificates.other_ca.clone()), false)),
        "another CA",
        &[ErrorKind::Tls],
        &[&endpoint],
    )
    .await;
    refused(
        &redis(tls_port, CacheTlsConfig::default()),
        "a plain client to the TLS port",
        &[ErrorKind::Unavailable, ErrorKind::Tls],
        &[&endpoint, "TLS"],
    )
    .await;
    refused(
        &redis(plain_port, tls(Some(certificates.ca.clone()), false)),
        "a TLS client to the plain port",
        // A plain Redis reads the TLS greeting as the start of a command and waits for more.
        &[ErrorKind::Tls, ErrorKind::Unavailable],
        &[&format!("127.0.0.1:{plain_port}"), "TLS"],
    )
    .await;
    refused(
        &redis(tls_port, tls(Some(dir.path().join("missing.pem")), false)),
        "a missing CA file",
        &[ErrorKind::Tls],
        &["missing.pem"],
    )
    .await;
}

#[tokio::test]
async fn nats_over_tls() {
    if service_tests_enabled("INFRAHUB_TEST_NATS_URL", "nats_over_tls").is_none() {
        return;
    }
    let dir = TempDir::new("nats-tls");
    let certificates = make_certificates(dir.path());
    let port = free_port();
    let _server = Server::nats(
        dir.path(),
        port,
        &[
            "--tls",
            "--tlscert",
            certificates.server_cert.to_str().unwrap(),
            "--tlskey",
            certificates.server_key.to_str().unwrap(),
        ],
    );
    let nats = |tls| config(CacheBackend::Nats, port, tls);
    works(
        &nats(tls(Some(certificates.ca.clone()), false)),
        "the CA file",
    )
    .await;
    works(&nats(tls(None, true)), "insecure").await;
    let endpoint = format!("127.0.0.1:{port}");
    refused(
        &nats(tls(None, false)),
        "the system's roots",
        &[ErrorKind::Tls],
        &[&endpoint, "INFRAHUB_CACHE_TLS_CA_FILE"],
    )
    .await;
    refused(
        &nats(tls(Some(certificates.other_ca.clone()), false)),
        "another CA",
        &[ErrorKind::Tls],
        &[&endpoint],
    )
    .await;
    refused(
        &nats(CacheTlsConfig::default()),
        "a plain client to the TLS server",
        &[ErrorKind::Unavailable, ErrorKind::Tls],
        &[&endpoint, "TLS"],
    )
    .await;
}

#[tokio::test]
async fn redis_credentials_are_used() {
    if service_tests_enabled("INFRAHUB_TEST_REDIS_URL", "redis_credentials_are_used").is_none() {
        return;
    }
    let dir = TempDir::new("redis-auth");
    let port = free_port();
    let _server = Server::redis(
        dir.path(),
        port,
        &[
            "--requirepass",
            "default-secret",
            "--user",
            "alice",
            "on",
            ">alice-secret",
            "~*",
            "&*",
            "+@all",
        ],
    );
    let with = |username: &str, password: &str| CacheConfig {
        username: username.to_owned(),
        password: password.to_owned(),
        ..config(CacheBackend::Redis, port, CacheTlsConfig::default())
    };
    works(&with("alice", "alice-secret"), "user and password").await;
    works(&with("", "default-secret"), "the default user's password").await;
    let endpoint = format!("127.0.0.1:{port}");
    refused(
        &with("alice", "wrong"),
        "a wrong password",
        &[ErrorKind::Auth],
        &[&endpoint, "credentials"],
    )
    .await;
    refused(
        &with("", ""),
        "no credentials",
        &[ErrorKind::Auth],
        &[&endpoint],
    )
    .await;
    let printed = format!("{:?}", with("alice", "alice-secret"));
    assert!(
        !printed.contains("alice-secret"),
        "Debug hides the password: {printed}"
    );
}

#[tokio::test]
async fn nats_credentials_are_used() {
    if service_tests_enabled("INFRAHUB_TEST_NATS_URL", "nats_credentials_are_used").is_none() {
        return;
    }
    let dir = TempDir::new("nats-auth");
    let port = free_port();
    let _server = Server::nats(dir.path(), port, &["--user", "bob", "--pass", "bob-secret"]);
    let with = |username: &str, password: &str| CacheConfig {
        username: username.to_owned(),
        password: password.to_owned(),
        ..config(CacheBackend::Nats, port, CacheTlsConfig::default())
    };
    works(&with("bob", "bob-secret"), "user and password").await;
    refused(
        &with("bob", "wrong"),
        "a wrong password",
        &[ErrorKind::Auth],
        &[&format!("127.0.0.1:{port}"), "credentials"],
    )
    .await;
}
