//! Helpers of the tests that start servers of their own: temporary directories, certificates
//! made with `openssl`, free ports, and `redis-server` / `nats-server` processes killed when
//! dropped (also when the test panics).

#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether tests that need `service` run here: its `INFRAHUB_TEST_<SERVICE>_URL` is set (the
/// machine has the server installed); `false` (after saying so) to skip, and a failure when
/// `INFRAHUB_TEST_REQUIRE_SERVICES=1`.
pub(crate) fn service_tests_enabled(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{variable} is not set")
        }
        _ => {
            eprintln!("skipping {test}: {variable} is not set");
            None
        }
    }
}

/// A directory of the test, deleted when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "infrahub-cache-{what}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// The files the test made.
pub(crate) struct Certificates {
    pub(crate) ca: PathBuf,
    pub(crate) other_ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

/// A CA `ca.pem`, a server certificate signed by it for 127.0.0.1 (SAN IP) and localhost, and
/// an unrelated CA `other-ca.pem`.
pub(crate) fn make_certificates(dir: &Path) -> Certificates {
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
    openssl(
        dir,
        &format!("req {key} -subj /CN=localhost -keyout server.key -out server.csr"),
    );
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile server.ext -out server.pem",
    );
    Certificates {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    }
}

/// The first of `candidates` that exists, else the bare name (looked up in `PATH`).
fn binary(name: &str, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A server process of the test, killed when dropped.
pub(crate) struct Server {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Server {
    /// Starts `program` with `arguments`, logging to `<dir>/<name>.log`, and waits until
    /// `port` accepts connections.
    fn start(
        name: &'static str,
        program: PathBuf,
        arguments: &[String],
        dir: &Path,
        port: u16,
    ) -> Self {
        let log = dir.join(format!("{name}-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&program)
            .args(arguments)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
        let mut server = Server { child, name, log };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited ({status}): {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{name} does not listen on {port}: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// A private `redis-server` without persistence; `extra` are more arguments.
    pub(crate) fn redis(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let mut arguments: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ]
        .iter()
        .map(|argument| argument.to_string())
        .collect();
        arguments.push(dir.display().to_string());
        arguments.extend(extra.iter().map(|argument| argument.to_string()));
        if !extra.contains(&"--port") {
            arguments.extend(["--port".to_owned(), port.to_string()]);
        }
        let program = binary("redis-server", &["/usr/bin/redis-server"]);
        Server::start("redis-server", program, &arguments, dir, port)
    }

    /// A private `nats-server` with JetStream on its own store directory; `extra` are more
    /// arguments.
    pub(crate) fn nats(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let store = dir.join(format!("jetstream-{port}"));
        let mut arguments: Vec<String> = vec![
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            store.display().to_string(),
        ];
        arguments.extend(extra.iter().map(|argument| argument.to_string()));
        let program = binary(
            "nats-server",
            &["/usr/sbin/nats-server", "/usr/bin/nats-server"],
        );
        Server::start("nats-server", program, &arguments, dir, port)
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = self.name;
    }
}
