//! Private brokers for the TLS and fault tests: certificates made with `openssl`, a RabbitMQ
//! node and a NATS server of the test's own on free ports, killed when dropped.

#![allow(dead_code, unreachable_pub)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, free_port};

/// Runs `openssl` with the whitespace-separated `arguments` in `dir`.
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

/// A CA, a server certificate for 127.0.0.1 (SAN IP) signed by it, and an unrelated CA.
pub struct Certificates {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Certificates {
    pub fn make(dir: &Path) -> Self {
        openssl(
            dir,
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bus-test-ca -keyout ca.key -out ca.pem",
        );
        openssl(
            dir,
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other_ca.pem",
        );
        openssl(
            dir,
            "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr",
        );
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            dir,
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem",
        );
        // The broker runs as this user; the key must be readable by it.
        Certificates {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other_ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

/// Waits until something listens on 127.0.0.1:`port`.
fn wait_for_port(port: u16, what: &str, log: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{what} did not listen on port {port} within 60 s; its output:\n{log}");
}

/// Kills the process group of `child` with `signal` and reaps it.
fn kill_group(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
}

/// A RabbitMQ node of the test's own (no plugins), plain or TLS-only.
pub struct PrivateRabbit {
    pub port: u16,
    dir: TempDir,
    node: String,
    dist_port: u16,
    child: Option<Child>,
}

impl PrivateRabbit {
    pub fn start(tls: Option<&Certificates>) -> Self {
        let dir = TempDir::new("rabbit");
        let port = free_port();
        let dist_port = free_port();
        let node = format!(
            "bus-test-{}@localhost",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let mut config = String::from("loopback_users = none\n");
        match tls {
            Some(certificates) => {
                config.push_str(&format!(
                    "listeners.tcp = none\nlisteners.ssl.default = {port}\n\
                     ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
                     ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
                     ssl_options.fail_if_no_peer_cert = false\n",
                    certificates.ca.display(),
                    certificates.server_cert.display(),
                    certificates.server_key.display()
                ));
            }
            None => config.push_str(&format!("listeners.tcp.default = {port}\n")),
        }
        std::fs::write(dir.0.join("rabbitmq.conf"), config).unwrap();
        std::fs::write(dir.0.join("plugins"), "").unwrap();
        let mut rabbit = PrivateRabbit {
            port,
            dir,
            node,
            dist_port,
            child: None,
        };
        rabbit.restart();
        rabbit
    }

    /// Starts the node (again, on the same ports and data) and waits until it listens.
    pub fn restart(&mut self) {
        let dir = &self.dir.0;
        let log = dir.join("stdout.log");
        let child = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("plugins"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("/usr/lib/rabbitmq/bin/rabbitmq-server starts");
        self.child = Some(child);
        wait_for_port(self.port, "the private RabbitMQ", &log);
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child, "-KILL");
        }
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A NATS server with JetStream of the test's own, plain or TLS.
pub struct PrivateNats {
    pub port: u16,
    dir: TempDir,
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

impl PrivateNats {
    pub fn start(tls: Option<&Certificates>) -> Self {
        let mut nats = PrivateNats {
            port: free_port(),
            dir: TempDir::new("nats"),
            tls: tls.map(|c| (c.server_cert.clone(), c.server_key.clone())),
            child: None,
        };
        nats.restart();
        nats
    }

    /// Starts the server (again, same port and JetStream store) and waits until it listens.
    pub fn restart(&mut self) {
        let dir = &self.dir.0;
        let log = dir.join("nats.log");
        let mut command = Command::new("/usr/sbin/nats-server");
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(dir.join("jetstream"))
            .arg("-l")
            .arg(&log);
        if let Some((cert, key)) = &self.tls {
            command
                .arg("--tls")
                .arg("--tlscert")
                .arg(cert)
                .arg("--tlskey")
                .arg(key);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("/usr/sbin/nats-server starts");
        self.child = Some(child);
        wait_for_port(self.port, "the private NATS server", &log);
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child, "-KILL");
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}
