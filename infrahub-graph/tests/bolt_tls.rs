//! TLS toward the Bolt server ([`BoltTlsConfig`]), against a real ArcadeDB whose Bolt listener
//! serves TLS.
//!
//! ArcadeDB 26.10's Bolt plugin serves TLS itself (`arcadedb.bolt.ssl` = `REQUIRED`, with the
//! key and certificate chain in the PKCS12 key store of `arcadedb.ssl.keyStore`), so no proxy is
//! involved: the test makes a CA, a server certificate for `127.0.0.1` signed by it and an
//! unrelated second CA with the `openssl` command, then starts an ArcadeDB of its own with
//! `scripts/start-arcadedb.sh` (`ARCADEDB_BOLT_TLS=REQUIRED`) on a data directory it deletes at
//! the end. The store works over TLS verified with that CA, and without verification; the
//! system's roots, the other CA and plain Bolt are refused with errors naming the cause. A
//! second test connects with TLS to the plain server of `INFRAHUB_TEST_BOLT_URL`.
//!
//! Like the other Bolt tests these run when `INFRAHUB_TEST_BOLT_URL` is set (an ArcadeDB set-up
//! is there, as `.ci/run` makes it); unset, they say that they skip, unless
//! `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use infrahub_graph::{
    BoltConfig, BoltTlsConfig, CreateBranchOptions, ErrorKind, GraphStore, Neo4jGraph,
};

/// Whether the Bolt tests run here; `false` (after saying so) to skip.
fn bolt_tests_enabled(test: &str) -> bool {
    match std::env::var("INFRAHUB_TEST_BOLT_URL") {
        Ok(url) if !url.is_empty() => true,
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "INFRAHUB_TEST_BOLT_URL is not set (start a server with scripts/start-arcadedb.sh)"
            )
        }
        _ => {
            eprintln!("skipping {test}: INFRAHUB_TEST_BOLT_URL is not set");
            false
        }
    }
}

/// A directory of the test, deleted when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "infrahub-bolt-tls-{what}-{}",
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

/// Runs `openssl` with the whitespace-separated `arguments` in `dir`, failing the test with its
/// output when it fails.
fn openssl(dir: &Path, arguments: &str) {
    let output = Command::new("openssl")
        .args(arguments.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the `openssl` command runs (it makes the test's certificates)");
    assert!(
        output.status.success(),
        "openssl {arguments}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The files the test made: two CAs, the server's key store and its password.
struct Certificates {
    ca: PathBuf,
    other_ca: PathBuf,
    keystore: PathBuf,
    password: &'static str,
}

/// A CA `ca.pem`, a server certificate signed by it for 127.0.0.1 and localhost, packed with
/// its key and the CA into the PKCS12 key store ArcadeDB reads, and an unrelated CA
/// `other-ca.pem`.
fn make_certificates(dir: &Path) -> Certificates {
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &format!(
                "req -x509 {key} -days 2 -subj /CN=infrahub-test-{ca} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign -keyout {ca}.key -out {ca}.pem"
            ),
        );
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let password = "keystore-secret";
    for step in [
        format!("req {key} -subj /CN=localhost -keyout server.key -out server.csr"),
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile server.ext -out server.pem"
            .to_owned(),
        format!(
            "pkcs12 -export -name server -in server.pem -inkey server.key -certfile ca.pem \
             -passout pass:{password} -out server.p12"
        ),
    ] {
        openssl(dir, &step);
    }
    Certificates {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        keystore: dir.join("server.p12"),
        password,
    }
}

/// `scripts/start-arcadedb.sh` of this repository.
fn start_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/start-arcadedb.sh")
}

/// An ArcadeDB server of the test, stopped when dropped.
struct ArcadeDb {
    data: PathBuf,
    settings: HashMap<String, String>,
}

impl ArcadeDb {
    /// Starts one on `data` with the script's extra environment `env`.
    fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new("bash");
        command.arg(start_script());
        // Only what this test sets: not what the caller's shell may have exported.
        for name in [
            "ARCADEDB_DATA",
            "ARCADEDB_BOLT_PORT",
            "ARCADEDB_HTTP_PORT",
            "ARCADEDB_DATABASE",
            "ARCADEDB_ROOT_PASSWORD",
            "ARCADEDB_BOLT_TLS",
            "ARCADEDB_TLS_KEYSTORE",
            "ARCADEDB_TLS_KEYSTORE_PASSWORD",
        ] {
            command.env_remove(name);
        }
        command
            .env("ARCADEDB_DATA", data)
            .env("ARCADEDB_HEAP", "512m");
        command.envs(env.iter().copied());
        let output = command.output().expect("scripts/start-arcadedb.sh runs");
        assert!(
            output.status.success(),
            "scripts/start-arcadedb.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let settings = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        ArcadeDb {
            data: data.to_owned(),
            settings,
        }
    }

    /// `address:port` of its Bolt listener.
    fn endpoint(&self) -> String {
        self.config(BoltTlsConfig::disabled()).endpoint()
    }

    /// Settings of the server's Bolt listener and database, with `tls`.
    fn config(&self, tls: BoltTlsConfig) -> BoltConfig {
        let url = &self.settings["ARCADEDB_BOLT_URL"];
        let mut config = BoltConfig::from_url(url).unwrap();
        config.tls = tls;
        config.startup_wait = Duration::from_secs(3);
        config.query_timeout = Duration::from_secs(20);
        config
    }
}

impl Drop for ArcadeDb {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(start_script())
            .arg("--stop")
            .arg(&self.data)
            .output();
    }
}

/// The store works on the connection: a branch (the default one on the first call) is created
/// and read back.
async fn create_and_read_a_branch(config: BoltConfig) {
    let store = Neo4jGraph::connect(config)
        .await
        .expect("connects over TLS");
    let name = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let is_first = store.list_branches().await.unwrap().is_empty();
    let options = CreateBranchOptions {
        is_default: is_first,
        ..CreateBranchOptions::default()
    };
    store.create_branch(&name, options).await.unwrap();
    assert_eq!(store.get_branch(&name).await.unwrap().name, name);
}

#[tokio::test]
async fn tls_works_with_the_ca_file_or_unverified_and_refuses_what_does_not_verify() {
    if !bolt_tests_enabled(
        "tls_works_with_the_ca_file_or_unverified_and_refuses_what_does_not_verify",
    ) {
        return;
    }
    let dir = TempDir::new("certs");
    let certificates = make_certificates(&dir.0);
    let data = TempDir::new("data");
    let keystore = certificates.keystore.to_str().unwrap();
    let server = ArcadeDb::start(
        &data.0,
        &[
            ("ARCADEDB_BOLT_TLS", "REQUIRED"),
            ("ARCADEDB_TLS_KEYSTORE", keystore),
            ("ARCADEDB_TLS_KEYSTORE_PASSWORD", certificates.password),
        ],
    );

    // Verified against the test's CA, then without verification: the store works.
    create_and_read_a_branch(server.config(BoltTlsConfig::with_ca_file(&certificates.ca))).await;
    create_and_read_a_branch(server.config(BoltTlsConfig::insecure())).await;

    // Verified against the system's roots, or against a CA that did not sign the server
    // certificate: refused at once (no startup wait: retrying cannot help), naming the cause.
    for (what, tls) in [
        ("system roots", BoltTlsConfig::system_roots()),
        (
            "another CA",
            BoltTlsConfig::with_ca_file(&certificates.other_ca),
        ),
    ] {
        let mut config = server.config(tls);
        config.startup_wait = Duration::from_secs(30);
        let started = Instant::now();
        let err = Neo4jGraph::connect(config).await.unwrap_err();
        let message = err.to_string();
        for expected in ["TLS", "certificate", "UnknownIssuer", &server.endpoint()] {
            assert!(message.contains(expected), "{what}: {expected}: {message}");
        }
        assert_ne!(err.kind(), ErrorKind::Unavailable, "{what}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: refused after {:?}",
            started.elapsed()
        );
    }

    // Plain Bolt to the TLS listener: ArcadeDB closes the connection; after the startup wait
    // the error names the address and suggests TLS.
    let err = Neo4jGraph::connect(server.config(BoltTlsConfig::disabled()))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{message}");
    for expected in ["enable TLS", &server.endpoint()] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[tokio::test]
async fn tls_to_a_plain_bolt_port_fails_naming_tls() {
    if !bolt_tests_enabled("tls_to_a_plain_bolt_port_fails_naming_tls") {
        return;
    }
    // The shared server of the Bolt tests serves plain Bolt.
    let url = std::env::var("INFRAHUB_TEST_BOLT_URL").unwrap();
    let mut config = BoltConfig::from_url(&url).unwrap();
    assert!(
        !config.tls.enabled,
        "INFRAHUB_TEST_BOLT_URL is plain bolt://"
    );
    config.startup_wait = Duration::from_secs(2);
    for tls in [BoltTlsConfig::insecure(), BoltTlsConfig::system_roots()] {
        config.tls = tls;
        let err = Neo4jGraph::connect(config.clone()).await.unwrap_err();
        let message = err.to_string();
        assert!(message.contains("disable TLS"), "{message}");
        assert!(message.contains(&config.endpoint()), "{message}");
    }
}
