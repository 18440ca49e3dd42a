//! Two `infrahub server` processes sharing one deployment: one Bolt database (a fresh ArcadeDB
//! database of the test), one broker (RabbitMQ, then NATS) and one Redis.
//!
//! Both servers start together on the empty database (one initialises it, under the shared
//! `global.init` lock). Then: a write through one is read through the other; a schema loaded
//! through one is used through the other (the time it took is printed); a branch created
//! through one is served by the other; 50 racing creates of one unique name spread over both
//! servers have exactly one winner, five rounds; `InfrahubStatus` lists both servers, in sync;
//! one server is killed with SIGKILL during writes and the other keeps serving, with every
//! acknowledged write present, and takes the schema lock the dead one may have held.
//!
//! Needs `INFRAHUB_TEST_BOLT_URL`, `INFRAHUB_TEST_ARCADEDB_HTTP_URL`, `INFRAHUB_TEST_REDIS_URL`
//! and `INFRAHUB_TEST_AMQP_URL` / `INFRAHUB_TEST_NATS_URL` (as `.ci/run` exports them); without
//! them the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

/// The value of each variable, or `None` (after saying so) to skip.
fn services(test: &str, names: &[&str]) -> Option<Vec<String>> {
    let mut values = Vec::new();
    for name in names {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => values.push(value),
            _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("{name} is not set (see .ci/run)")
            }
            _ => {
                eprintln!("skipping {test}: {name} is not set");
                return None;
            }
        }
    }
    Some(values)
}

/// `scheme://user:password@host:port/path` split into its parts.
struct Url {
    user: String,
    password: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Url {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, address) = match authority.rsplit_once('@') {
        Some((credentials, address)) => (credentials, address),
        None => ("", authority),
    };
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let (host, port) = address.rsplit_once(':').expect("a port in the URL");
    Url {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.parse().expect("a numeric port"),
        path: path.to_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// An HTTP answer: status and body.
struct Answer {
    status: u16,
    body: Value,
}

/// Sends one request (`Connection: close`) and reads the whole answer.
async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<Answer, String> {
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nX-INFRAHUB-KEY: {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        stream
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(bytes)
    };
    let bytes = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer in 60 s"))??;
    let text = String::from_utf8_lossy(&bytes);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("a malformed answer: {text}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head}"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let payload = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let body = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    Ok(Answer { status, body })
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// One `infrahub server start` process, killed when dropped.
struct Server {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn spawn(name: &str, env: &[(String, String)]) -> Server {
        let dir = std::env::temp_dir().join(format!("infrahub-ha-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("server.log");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_infrahub"))
            .args(["server", "start", "--port", &port.to_string()])
            .env("INFRAHUB_DATA_DIR", dir.join("data"))
            .env("INFRAHUB_LOG_FILTER", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the binary: {e}"));
        Server {
            child,
            address: ([127, 0, 0, 1], port).into(),
            dir,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/health` answers 200 (the first start on a remote database is slow).
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}):\n{}", self.log());
            }
            if let Ok(answer) = http(self.address, "GET", "/health", &Value::Null).await
                && answer.status == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the server did not become ready:\n{}", self.log());
    }

    async fn graphql(&self, query: &str) -> Result<Value, String> {
        self.graphql_on("main", query).await
    }

    async fn graphql_on(&self, branch: &str, query: &str) -> Result<Value, String> {
        let answer = http(
            self.address,
            "POST",
            &format!("/graphql/{branch}"),
            &json!({ "query": query }),
        )
        .await?;
        if answer.status != 200 {
            return Err(format!("HTTP {}: {}", answer.status, answer.body));
        }
        if let Some(errors) = answer.body.get("errors") {
            return Err(errors.to_string());
        }
        Ok(answer.body["data"].clone())
    }

    async fn create_tag(&self, name: &str) -> Result<(), String> {
        self.graphql(&format!(
            r#"mutation {{ BuiltinTagCreate(data: {{name: {{value: "{name}"}}}}) {{ ok }} }}"#
        ))
        .await
        .map(|_| ())
    }

    async fn tag_names(&self) -> Result<BTreeSet<String>, String> {
        let data = self
            .graphql("{ BuiltinTag(limit: 100000) { edges { node { name { value } } } } }")
            .await?;
        Ok(data["BuiltinTag"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["node"]["name"]["value"].as_str().map(str::to_owned))
            .collect())
    }

    async fn load_schema(&self, schema: &Value) -> Result<(), String> {
        let answer = http(
            self.address,
            "POST",
            "/api/schema/load",
            &json!({ "schemas": [schema] }),
        )
        .await?;
        match answer.status {
            200 | 202 => Ok(()),
            status => Err(format!("HTTP {status}: {}", answer.body)),
        }
    }
}

/// Creates database `name` through ArcadeDB's HTTP API.
async fn create_database(http_url: &str, bolt: &Url, name: &str) {
    let authority = http_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = json!({ "command": format!("create database {name}") }).to_string();
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", bolt.user, bolt.password));
    let request = format!(
        "POST /api/v1/server HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(&authority).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "creating database {name}: {response}"
    );
}

fn widget_schema(kind: &str) -> Value {
    json!({
        "version": "1.0",
        "nodes": [{
            "name": kind,
            "namespace": "Hatest",
            "attributes": [{"name": "name", "kind": "Text", "unique": true}],
        }]
    })
}

/// The settings both servers share, as `INFRAHUB_*` variables.
async fn deployment(
    broker: &str,
    broker_url: &str,
    redis_url: &str,
    redis_db: u8,
) -> Vec<(String, String)> {
    let [bolt_url, http_url] = ["INFRAHUB_TEST_BOLT_URL", "INFRAHUB_TEST_ARCADEDB_HTTP_URL"]
        .map(|name| std::env::var(name).unwrap());
    let bolt = parse_url(&bolt_url);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let database = format!("ha{suffix}");
    create_database(&http_url, &bolt, &database).await;
    let broker_url = parse_url(broker_url);
    let redis = parse_url(redis_url);
    let mut env = vec![
        ("INFRAHUB_DB_TYPE", "neo4j".to_owned()),
        ("INFRAHUB_DB_ADDRESS", bolt.host.clone()),
        ("INFRAHUB_DB_PORT", bolt.port.to_string()),
        ("INFRAHUB_DB_USERNAME", bolt.user.clone()),
        ("INFRAHUB_DB_PASSWORD", bolt.password.clone()),
        ("INFRAHUB_DB_DATABASE", database),
        ("INFRAHUB_DB_STARTUP_TIMEOUT", "30".to_owned()),
        ("INFRAHUB_BROKER_DRIVER", broker.to_owned()),
        ("INFRAHUB_BROKER_ADDRESS", broker_url.host.clone()),
        ("INFRAHUB_BROKER_PORT", broker_url.port.to_string()),
        ("INFRAHUB_BROKER_NAMESPACE", format!("ha{suffix}")),
        ("INFRAHUB_CACHE_DRIVER", "redis".to_owned()),
        ("INFRAHUB_CACHE_ADDRESS", redis.host.clone()),
        ("INFRAHUB_CACHE_PORT", redis.port.to_string()),
        ("INFRAHUB_CACHE_DATABASE", redis_db.to_string()),
        ("INFRAHUB_INITIAL_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("INFRAHUB_SECURITY_SECRET_KEY", format!("secret-{suffix}")),
    ];
    if !broker_url.user.is_empty() {
        env.push(("INFRAHUB_BROKER_USERNAME", broker_url.user.clone()));
        env.push(("INFRAHUB_BROKER_PASSWORD", broker_url.password.clone()));
    }
    if broker == "rabbitmq" {
        let vhost = match broker_url.path.as_str() {
            "" | "%2f" | "%2F" => "/".to_owned(),
            other => other.to_owned(),
        };
        env.push(("INFRAHUB_BROKER_VIRTUALHOST", vhost));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Polls `check` every 20 ms until it holds, for up to `limit`; returns how long it took.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within {limit:?}");
}

async fn two_servers_share_one_deployment(
    broker: &str,
    broker_url: &str,
    redis_url: &str,
    redis_db: u8,
) {
    let env = deployment(broker, broker_url, redis_url, redis_db).await;
    // Both start on the empty database at once: one initialises it.
    let mut a = Server::spawn("a", &env);
    let mut b = Server::spawn("b", &env);
    a.wait_ready().await;
    b.wait_ready().await;

    // A write through one is read through the other.
    a.create_tag("written-through-a").await.unwrap();
    assert!(b.tag_names().await.unwrap().contains("written-through-a"));

    // A schema loaded through one is used through the other.
    a.load_schema(&widget_schema("Widget")).await.unwrap();
    let took = until(
        Duration::from_secs(10),
        "B serves the schema A loaded",
        || async { b.graphql("{ HatestWidget { count } }").await.is_ok() },
    )
    .await;
    eprintln!("{broker}: schema loaded through A served by B after {took:?}");

    // A branch created through one is served by the other.
    b.graphql(r#"mutation { BranchCreate(data: {name: "ha-branch"}) { ok } }"#)
        .await
        .unwrap();
    until(
        Duration::from_secs(10),
        "A serves the branch B created",
        || async {
            a.graphql_on("ha-branch", "{ HatestWidget { count } }")
                .await
                .is_ok()
        },
    )
    .await;

    // Racing creates of one unique name across both servers: exactly one wins.
    for round in 0..5 {
        let name = format!("race-{round}");
        let mut tasks = Vec::new();
        for attempt in 0..50 {
            let address = if attempt % 2 == 0 {
                a.address
            } else {
                b.address
            };
            let query = format!(
                r#"mutation {{ HatestWidgetCreate(data: {{name: {{value: "{name}"}}}}) {{ ok }} }}"#
            );
            tasks.push(tokio::spawn(async move {
                http(address, "POST", "/graphql/main", &json!({ "query": query })).await
            }));
        }
        let mut wins = 0;
        for task in tasks {
            let answer = task.await.unwrap().unwrap();
            assert_eq!(answer.status, 200, "{}", answer.body);
            if answer.body.get("errors").is_none() {
                wins += 1;
            }
        }
        assert_eq!(
            wins, 1,
            "round {round}: {wins} creates of `{name}` succeeded"
        );
        let data = a
            .graphql(&format!(
                r#"{{ HatestWidget(name__value: "{name}") {{ count }} }}"#
            ))
            .await
            .unwrap();
        assert_eq!(data["HatestWidget"]["count"], 1, "round {round}");
    }

    // Both servers are listed, active and in sync.
    until(Duration::from_secs(15), "InfrahubStatus lists both servers in sync", || async {
        let Ok(data) = a
            .graphql("{ InfrahubStatus { summary { schema_hash_synced } workers { edges { node { id active schema_hash } } } } }")
            .await
        else {
            return false;
        };
        let active = data["InfrahubStatus"]["workers"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["node"]["active"] == true)
            .count();
        active >= 2 && data["InfrahubStatus"]["summary"]["schema_hash_synced"] == true
    })
    .await;

    // One server is killed during writes; the other keeps serving with every acknowledged
    // write, and can take the schema lock.
    let writer = {
        let address = a.address;
        tokio::spawn(async move {
            let mut acknowledged = BTreeSet::new();
            for index in 0.. {
                let name = format!("before-kill-{index}");
                let query = format!(
                    r#"mutation {{ BuiltinTagCreate(data: {{name: {{value: "{name}"}}}}) {{ ok }} }}"#
                );
                match http(address, "POST", "/graphql/main", &json!({ "query": query })).await {
                    Ok(answer) if answer.status == 200 && answer.body.get("errors").is_none() => {
                        acknowledged.insert(name);
                    }
                    _ => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let acknowledged = writer.await.unwrap();
    assert!(
        !acknowledged.is_empty(),
        "A acknowledged no write before it was killed"
    );
    let names = b.tag_names().await.unwrap();
    let lost: Vec<_> = acknowledged.difference(&names).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    b.create_tag("after-kill").await.unwrap();
    b.load_schema(&widget_schema("Gadget")).await.unwrap();
    b.graphql("{ HatestGadget { count } }").await.unwrap();
    eprintln!(
        "{broker}: {} writes acknowledged by A before SIGKILL, all read through B",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_deployment_over_rabbitmq() {
    let Some(urls) = services(
        "two_servers_share_one_deployment_over_rabbitmq",
        &[
            "INFRAHUB_TEST_BOLT_URL",
            "INFRAHUB_TEST_ARCADEDB_HTTP_URL",
            "INFRAHUB_TEST_REDIS_URL",
            "INFRAHUB_TEST_AMQP_URL",
        ],
    ) else {
        return;
    };
    two_servers_share_one_deployment("rabbitmq", &urls[3], &urls[2], 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_deployment_over_nats() {
    let Some(urls) = services(
        "two_servers_share_one_deployment_over_nats",
        &[
            "INFRAHUB_TEST_BOLT_URL",
            "INFRAHUB_TEST_ARCADEDB_HTTP_URL",
            "INFRAHUB_TEST_REDIS_URL",
            "INFRAHUB_TEST_NATS_URL",
        ],
    ) else {
        return;
    };
    two_servers_share_one_deployment("nats", &urls[3], &urls[2], 14).await;
}

impl Server {
    /// Starts `infrahub worker start` with `env`; waits until it says it started.
    async fn spawn_worker(name: &str, env: &[(String, String)]) -> Server {
        let dir = std::env::temp_dir().join(format!("infrahub-ha-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("worker.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_infrahub"))
            .args(["worker", "start"])
            .env("INFRAHUB_DATA_DIR", dir.join("data"))
            .env("INFRAHUB_LOG_FILTER", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the binary: {e}"));
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("task worker started") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the worker exited ({status}):\n{text}");
            }
            if Instant::now() >= deadline {
                // Not left running after the test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("the worker did not start:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server {
            child,
            address: ([127, 0, 0, 1], 0).into(),
            dir,
            log,
        }
    }

    async fn task_state(&self, id: &str) -> String {
        let data = self
            .graphql(&format!(
                r#"{{ InfrahubTask(ids: ["{id}"]) {{ edges {{ node {{ state }} }} }} }}"#
            ))
            .await
            .unwrap();
        data["InfrahubTask"]["edges"][0]["node"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A server with `workflow.driver = worker` and an `infrahub worker start` process: tasks the
/// server submits wait for a worker, run in the worker process, and their outcome (a branch,
/// merged data) is served by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_runs_the_tasks_a_server_submits_over_rabbitmq() {
    let Some(urls) = services(
        "a_worker_process_runs_the_tasks_a_server_submits_over_rabbitmq",
        &[
            "INFRAHUB_TEST_BOLT_URL",
            "INFRAHUB_TEST_ARCADEDB_HTTP_URL",
            "INFRAHUB_TEST_REDIS_URL",
            "INFRAHUB_TEST_AMQP_URL",
        ],
    ) else {
        return;
    };
    let mut env = deployment("rabbitmq", &urls[3], &urls[2], 12).await;
    env.push(("INFRAHUB_WORKFLOW_DRIVER".into(), "worker".into()));
    let mut server = Server::spawn("driver-worker", &env);
    server.wait_ready().await;
    let data = server
        .graphql(r#"mutation { BranchCreate(wait_until_completion: false, data: {name: "by-worker"}) { ok task { id } } }"#)
        .await
        .unwrap();
    let id = data["BranchCreate"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // No worker yet: the task waits, listed as work in flight on its branch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.task_state(&id).await, "PENDING");
    let status = server
        .graphql(r#"{ InfrahubTaskBranchStatus(branch: "by-worker") { count } }"#)
        .await
        .unwrap();
    assert_eq!(status["InfrahubTaskBranchStatus"]["count"], 1);
    let worker = Server::spawn_worker("worker", &env).await;
    let took = until(
        Duration::from_secs(60),
        "the worker runs the task",
        || async { server.task_state(&id).await == "COMPLETED" },
    )
    .await;
    eprintln!("a pending task ran {took:?} after the worker started");
    until(
        Duration::from_secs(10),
        "the server serves the worker's branch",
        || async {
            server
                .graphql(r#"{ Branch(name: "by-worker") { name } }"#)
                .await
                .is_ok_and(|d| d["Branch"][0]["name"] == "by-worker")
        },
    )
    .await;
    // A waited merge through the server runs in the worker.
    server
        .graphql_on(
            "by-worker",
            r#"mutation { BuiltinTagCreate(data: {name: {value: "from-branch"}}) { ok } }"#,
        )
        .await
        .unwrap();
    let started = Instant::now();
    let merged = server
        .graphql(r#"mutation { BranchMerge(data: {name: "by-worker"}) { ok task { id } } }"#)
        .await
        .unwrap();
    eprintln!(
        "a waited merge through a worker took {:?}",
        started.elapsed()
    );
    assert!(merged["BranchMerge"]["task"].is_null());
    assert!(server.tag_names().await.unwrap().contains("from-branch"));
    let tasks = server
        .graphql(
            r#"{ InfrahubTask(branch: "by-worker") { count edges { node { workflow state } } } }"#,
        )
        .await
        .unwrap();
    assert_eq!(tasks["InfrahubTask"]["count"], 2, "{tasks}");
    let status = server
        .graphql("{ InfrahubStatus { workers { edges { node { id active } } } } }")
        .await
        .unwrap();
    let workers = status["InfrahubStatus"]["workers"]["edges"]
        .as_array()
        .unwrap()
        .len();
    assert!(workers >= 2, "the worker is not listed: {status}");
    drop(worker);
}
