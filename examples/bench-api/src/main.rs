//! A load generator for the Infrahub API: starts `infrahub server start` on a fresh data
//! directory (or drives a running server) and measures, over HTTP as clients see it:
//!
//! - start to ready (process start to `GET /ready` answering 200);
//! - schema load of two small kinds (`POST /api/schema/load`);
//! - 1,000 creates sequentially, then 1,000 (of sites) with their values inline in the document
//!   text as the SDK writes them, then 1,000 with 8 concurrent clients (throughput, p50/p95/max);
//! - one query returning the 1,000 nodes with one attribute;
//! - paging through them 100 at a time;
//! - 1,000 lookups by unique name (p50/p95), with variables and as the SDK's `get` sends them;
//! - 20 branch creates (`BranchCreate`, waiting for completion, with 3,000 nodes in main);
//! - the server's resident memory after the run.
//!
//! The client runs on one thread (a current-thread runtime): on the 2 cores it shares with the
//! server, a multi-threaded client spent about three times the CPU per request on waking its
//! own threads.
//!
//! ```text
//! cargo build --release -p infrahub-server -p example-bench-api
//! target/release/example-bench-api [--bin target/release/infrahub] [--address http://host:port --token T]
//! target/release/example-bench-api --bolt bolt://root:PASSWORD@127.0.0.1:PORT --arcadedb-http http://127.0.0.1:PORT
//! ```
//!
//! With `--cluster rabbitmq|nats --broker-url URL --redis-url URL` besides `--bolt`, it measures
//! instead a mixed load (8 clients, 3 lookups to 1 create) on one server and on two servers
//! sharing the database, broker and Redis (see the `cluster` module).
//!
//! With `--bolt` (and the ArcadeDB HTTP API that creates a fresh database for the run; see
//! `scripts/start-arcadedb.sh`), the whole run happens twice in one invocation, first on the
//! embedded store, then with the server on the Bolt database (`database.db_type = neo4j`), same
//! data, same requests.

mod cluster;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const SCHEMA: &str = r#"{"schemas": [{"version": "1.0", "nodes": [
  {"name": "Site", "namespace": "Bench", "human_friendly_id": ["name__value"], "display_label": "name__value",
   "attributes": [{"name": "name", "kind": "Text", "unique": true}, {"name": "city", "kind": "Text", "optional": true}]},
  {"name": "Device", "namespace": "Bench", "human_friendly_id": ["name__value"], "display_label": "name__value",
   "order_by": ["name__value"],
   "attributes": [{"name": "name", "kind": "Text", "unique": true}, {"name": "serial", "kind": "Text", "optional": true},
                  {"name": "rack_unit", "kind": "Number", "optional": true}],
   "relationships": [{"name": "site", "peer": "BenchSite", "cardinality": "one", "optional": true}]}
]}]}"#;

/// One keep-alive HTTP/1.1 connection.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    token: String,
    /// Whether `token` is a login's access token (`Authorization: Bearer`) rather than an API
    /// token (`X-INFRAHUB-KEY`).
    bearer: bool,
}

impl Client {
    async fn connect(address: &str, token: &str) -> anyhow::Result<Client> {
        let host = address
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let stream = tokio::net::TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host,
            token: token.to_string(),
            bearer: false,
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(u16, Value)> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header(
                if self.bearer {
                    "authorization"
                } else {
                    "x-infrahub-key"
                },
                if self.bearer {
                    format!("Bearer {}", self.token)
                } else {
                    self.token.clone()
                },
            )
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "response to {path} is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })?
        };
        Ok((status, value))
    }

    async fn graphql(&mut self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = json!({"query": query, "variables": variables}).to_string();
        let (status, value) = self.send("POST", "/graphql/main", Some(body)).await?;
        if status != 200 || value.get("errors").is_some() {
            bail!("GraphQL answered {status}: {value}");
        }
        Ok(value["data"].clone())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(label: &str, total: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let count = latencies.len();
    println!(
        "{label}: {count} in {:.1} ms = {:.0}/s; p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms",
        ms(total),
        count as f64 / total.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.95)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

const CREATE: &str = "mutation ($name: String!, $serial: String!) { BenchDeviceCreate(data: {name: {value: $name}, serial: {value: $serial}, rack_unit: {value: 42}}) { ok object { id } } }";
const CREATE_SITE: &str = "mutation ($name: String!) { BenchSiteCreate(data: {name: {value: $name}, city: {value: \"Paris\"}}) { ok object { id } } }";

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct Server {
    child: Child,
    data_dir: std::path::PathBuf,
    /// The ArcadeDB database made for this server, dropped when it stops. Databases left
    /// open hold the ArcadeDB heap, and runs after them ran slower.
    database: Option<BoltDatabase>,
}

/// An ArcadeDB database made for a run: the HTTP API's address, `user:password` and the
/// database's name.
type BoltDatabase = (String, String, String);

/// A server's environment: variable names and values.
type Environment = Vec<(String, String)>;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((http, credentials, name)) = &self.database {
            let _ = Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "-u", credentials])
                .args(["-H", "Content-Type: application/json", "-d"])
                .arg(format!(r#"{{"command":"drop database {name}"}}"#))
                .arg(format!("{http}/api/v1/server"))
                .status();
        }
    }
}

/// Where the server keeps its graph.
#[derive(Clone, Debug)]
enum Backend {
    /// The embedded store in the server's data directory.
    Embedded,
    /// A fresh database of the ArcadeDB server at `url` (bolt://user:password@host:port),
    /// created through its HTTP API at `http`.
    Bolt { url: String, http: String },
}

impl Backend {
    /// The server's environment for this backend (a Bolt database is created first).
    fn environment(&self) -> anyhow::Result<Environment> {
        Ok(self.environment_and_database()?.0)
    }

    /// [`Backend::environment`], with the Bolt database it created (for [`Server::database`]).
    fn environment_and_database(&self) -> anyhow::Result<(Environment, Option<BoltDatabase>)> {
        let Backend::Bolt { url, http } = self else {
            return Ok((Vec::new(), None));
        };
        let rest = url
            .strip_prefix("bolt://")
            .context("--bolt needs a bolt://user:password@host:port URL")?;
        let (credentials, address) = rest
            .split_once('@')
            .context("--bolt needs user:password@ in its URL")?;
        let (user, password) = credentials
            .split_once(':')
            .context("--bolt needs user:password@ in its URL")?;
        let address = address.split('/').next().unwrap_or(address);
        let (host, port) = address
            .rsplit_once(':')
            .context("--bolt needs host:port in its URL")?;
        // Upstream's rule for database names: a lowercase letter, then letters, digits or dots.
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let database = format!(
            "benchapi{}n{}",
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let status = Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "-u",
                &format!("{user}:{password}"),
            ])
            .args(["-H", "Content-Type: application/json", "-d"])
            .arg(format!(r#"{{"command":"create database {database}"}}"#))
            .arg(format!("{http}/api/v1/server"))
            .status()
            .context("running curl to create the benchmark's database")?;
        if !status.success() {
            bail!("creating database {database} through {http} failed");
        }
        let environment = [
            ("INFRAHUB_DB_TYPE", "neo4j"),
            ("INFRAHUB_DB_ADDRESS", host),
            ("INFRAHUB_DB_PORT", port),
            ("INFRAHUB_DB_USERNAME", user),
            ("INFRAHUB_DB_PASSWORD", password),
            ("INFRAHUB_DB_DATABASE", &database),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let created = (http.clone(), format!("{user}:{password}"), database);
        Ok((environment, Some(created)))
    }
}

async fn start_server(
    binary: &str,
    backend: &Backend,
) -> anyhow::Result<(Server, String, Duration)> {
    let (environment, database) = backend.environment_and_database()?;
    let remote = database.is_some();
    let (mut server, address, ready) = start_server_with(binary, environment, remote, 0).await?;
    server.database = database;
    Ok((server, address, ready))
}

/// Starts server number `instance` (its own data directory) with `environment`; `remote`
/// when its graph is on a Bolt database (a first start there takes minutes).
async fn start_server_with(
    binary: &str,
    environment: Vec<(String, String)>,
    remote: bool,
    instance: usize,
) -> anyhow::Result<(Server, String, Duration)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let data_dir = std::env::temp_dir().join(format!(
        "infrahub-bench-api-{}-{instance}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let started = Instant::now();
    let child = Command::new(binary)
        .args(["server", "start", "--port", &port.to_string()])
        .env("INFRAHUB_DATA_DIR", &data_dir)
        .env("INFRAHUB_INITIAL_ADMIN_TOKEN", TOKEN)
        .envs(environment)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let server = Server {
        child,
        data_dir,
        database: None,
    };
    let address = format!("http://127.0.0.1:{port}");
    loop {
        // A first start on a Bolt database writes the core schema and initial objects through
        // it: allow minutes there.
        let limit = if remote {
            Duration::from_secs(300)
        } else {
            Duration::from_secs(30)
        };
        if started.elapsed() > limit {
            bail!("the server did not become ready within {limit:?}");
        }
        if let Ok(mut client) = Client::connect(&address, TOKEN).await
            && let Ok((200, _)) = client.send("GET", "/ready", None).await
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((server, address, started.elapsed()))
}

/// An object permission: namespace, name, action, decision.
type Permission = (&'static str, &'static str, &'static str, i64);

/// The object permissions of the three roles `--as-user` gives its account (20 in all).
const USER_ROLES: [(&str, &[Permission]); 3] = [
    (
        "bench-readers",
        &[
            ("Bench", "*", "view", 6),
            ("Builtin", "*", "view", 6),
            ("Core", "Account", "view", 6),
            ("Core", "AccountGroup", "view", 6),
            ("Infra", "*", "view", 6),
            ("Dcim", "*", "view", 6),
            ("Ipam", "*", "view", 6),
        ],
    ),
    (
        "bench-writers",
        &[
            ("Bench", "Device", "create", 6),
            ("Bench", "Device", "update", 6),
            ("Bench", "Device", "delete", 2),
            ("Bench", "Site", "create", 6),
            ("Bench", "Site", "update", 6),
            ("Bench", "Site", "delete", 2),
            ("Bench", "*", "any", 4),
        ],
    ),
    (
        "bench-others",
        &[
            ("Infra", "Device", "create", 4),
            ("Infra", "Interface", "any", 4),
            ("Dcim", "*", "any", 4),
            ("Ipam", "Prefix", "create", 4),
            ("Organization", "*", "view", 6),
            ("Location", "*", "view", 6),
        ],
    ),
];

/// Creates (as the admin, through `admin`) the account `bench-user` in a group with the roles
/// of [`USER_ROLES`] (the writers' role also holds `edit_default_branch`, which creates on the
/// default branch need), logs it in and creates an API token for it; returns the token.
async fn user_with_permissions(admin: &mut Client, address: &str) -> anyhow::Result<String> {
    let id_of = |data: &Value, field: &str| -> anyhow::Result<String> {
        data[field]["object"]["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no id in {data}"))
    };
    let mut roles = Vec::new();
    for (role, permissions) in USER_ROLES {
        let mut ids = Vec::new();
        for (namespace, name, action, decision) in permissions {
            let data = admin
                .graphql(
                    &format!(r#"mutation {{ CoreObjectPermissionUpsert(data: {{namespace: {{value: "{namespace}"}}, name: {{value: "{name}"}}, action: {{value: "{action}"}}, decision: {{value: {decision}}}}}) {{ object {{ id }} }} }}"#),
                    json!({}),
                )
                .await?;
            ids.push(id_of(&data, "CoreObjectPermissionUpsert")?);
        }
        if role == "bench-writers" {
            let data = admin
                .graphql(
                    r#"mutation { CoreGlobalPermissionUpsert(data: {action: {value: "edit_default_branch"}, decision: {value: 6}}) { object { id } } }"#,
                    json!({}),
                )
                .await?;
            ids.push(id_of(&data, "CoreGlobalPermissionUpsert")?);
        }
        let peers: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let data = admin
            .graphql(
                "mutation ($name: String!, $permissions: [RelatedNodeInput]) { CoreAccountRoleCreate(data: {name: {value: $name}, permissions: $permissions}) { object { id } } }",
                json!({"name": role, "permissions": peers}),
            )
            .await?;
        roles.push(json!({"id": id_of(&data, "CoreAccountRoleCreate")?}));
    }
    let data = admin
        .graphql(
            r#"mutation { CoreAccountCreate(data: {name: {value: "bench-user"}, password: {value: "bench-password"}, account_type: {value: "User"}}) { object { id } } }"#,
            json!({}),
        )
        .await?;
    let account = id_of(&data, "CoreAccountCreate")?;
    admin
        .graphql(
            "mutation ($roles: [RelatedNodeInput], $members: [RelatedNodeInput]) { CoreAccountGroupCreate(data: {name: {value: \"bench-users\"}, roles: $roles, members: $members}) { ok } }",
            json!({"roles": roles, "members": [{"id": account}]}),
        )
        .await?;
    let (status, body) = admin
        .send(
            "POST",
            "/api/auth/login",
            Some(json!({"username": "bench-user", "password": "bench-password"}).to_string()),
        )
        .await?;
    if status != 200 {
        bail!("login of bench-user answered {status}: {body}");
    }
    let access = body["access_token"]
        .as_str()
        .context("no access token")?
        .to_string();
    let mut user = Client::connect(address, &access).await?;
    user.bearer = true;
    let data = user
        .graphql(
            r#"mutation { InfrahubAccountTokenCreate(data: {name: "bench"}) { object { token { value } } } }"#,
            json!({}),
        )
        .await?;
    data["InfrahubAccountTokenCreate"]["object"]["token"]["value"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no token in {data}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut binary = std::env::current_exe()?
        .with_file_name("infrahub")
        .display()
        .to_string();
    let mut address: Option<String> = None;
    let mut token = TOKEN.to_string();
    let mut as_user = false;
    let mut bolt = None;
    let mut arcadedb_http = None;
    let mut cluster_broker = None;
    let mut broker_url = None;
    let mut redis_url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin" => binary = args.next().context("--bin needs a path")?,
            "--address" => address = Some(args.next().context("--address needs a URL")?),
            "--token" => token = args.next().context("--token needs a value")?,
            "--as-user" => as_user = true,
            "--bolt" => bolt = Some(args.next().context("--bolt needs a URL")?),
            "--arcadedb-http" => {
                arcadedb_http = Some(args.next().context("--arcadedb-http needs a URL")?);
            }
            "--cluster" => {
                cluster_broker = Some(args.next().context("--cluster needs rabbitmq or nats")?);
            }
            "--broker-url" => broker_url = Some(args.next().context("--broker-url needs a URL")?),
            "--redis-url" => redis_url = Some(args.next().context("--redis-url needs a URL")?),
            other => bail!("unknown argument `{other}`"),
        }
    }
    if let Some(broker) = cluster_broker {
        let (Some(url), Some(http), Some(broker_url), Some(redis_url)) =
            (bolt, arcadedb_http, broker_url, redis_url)
        else {
            bail!("--cluster needs --bolt, --arcadedb-http, --broker-url and --redis-url");
        };
        if broker != "rabbitmq" && broker != "nats" {
            bail!("--cluster takes rabbitmq or nats, not `{broker}`");
        }
        let setup = cluster::ClusterSetup {
            backend: Backend::Bolt { url, http },
            broker,
            broker_url,
            redis_url,
        };
        return cluster::run(&binary, &setup).await;
    }
    let backends = match (bolt, arcadedb_http) {
        (None, None) => vec![Backend::Embedded],
        (Some(url), Some(http)) if address.is_none() => {
            vec![Backend::Embedded, Backend::Bolt { url, http }]
        }
        (Some(_), Some(_)) => bail!("--bolt starts servers of its own: leave --address out"),
        _ => bail!("--bolt and --arcadedb-http go together"),
    };
    for backend in backends {
        println!(
            "== backend: {}",
            match &backend {
                Backend::Embedded => "embedded",
                Backend::Bolt { .. } => "bolt (ArcadeDB)",
            }
        );
        run(&binary, address.clone(), &token, as_user, &backend).await?;
    }
    Ok(())
}

/// One whole run against a server: the one at `address`, else one started on `backend`.
async fn run(
    binary: &str,
    address: Option<String>,
    token: &str,
    as_user: bool,
    backend: &Backend,
) -> anyhow::Result<()> {
    let token = token.to_string();
    let (server, address) = match address {
        Some(address) => (None, address),
        None => {
            let (server, address, ready) = start_server(binary, backend).await?;
            println!("start to ready: {:.1} ms", ms(ready));
            // A first start hashes the initial admin password (bcrypt, a quarter of a second
            // of CPU) in the background after it is ready; a password login waits for it.
            // Measure from there, so that one-time work does not land in the figures.
            let started = Instant::now();
            let mut client = Client::connect(&address, TOKEN).await?;
            let (status, body) = client
                .send(
                    "POST",
                    "/api/auth/login",
                    Some(json!({"username": "admin", "password": "infrahub"}).to_string()),
                )
                .await?;
            if status != 200 {
                bail!("login answered {status}: {body}");
            }
            println!(
                "first password login (waits for the initial password hash): {:.1} ms",
                ms(started.elapsed())
            );
            (Some(server), address)
        }
    };
    let mut client = Client::connect(&address, &token).await?;
    let run = std::process::id();

    let started = Instant::now();
    let (status, body) = client
        .send(
            "POST",
            "/api/schema/load?branch=main",
            Some(SCHEMA.to_string()),
        )
        .await?;
    if status != 200 {
        bail!("schema load answered {status}: {body}");
    }
    println!("schema load (2 kinds): {:.1} ms", ms(started.elapsed()));
    if as_user {
        // The rest of the run as an account holding 20 object permissions across 3 roles.
        let user_token = user_with_permissions(&mut client, &address).await?;
        client = Client::connect(&address, &user_token).await?;
        println!("running as `bench-user` (20 object permissions across 3 roles)");
    }
    // The first query of a new schema generates its GraphQL schema: measure it apart.
    let started = Instant::now();
    client
        .graphql("{ BenchDevice { count } }", json!({}))
        .await?;
    println!(
        "first query after the schema load: {:.1} ms",
        ms(started.elapsed())
    );

    // Sequential creates.
    let mut latencies = Vec::with_capacity(1000);
    let started = Instant::now();
    for index in 0..1000 {
        let begin = Instant::now();
        client
            .graphql(
                CREATE,
                json!({"name": format!("dev-{run}-{index:04}"), "serial": format!("SN{index:06}")}),
            )
            .await?;
        latencies.push(begin.elapsed());
    }
    report("creates, sequential", started.elapsed(), latencies);
    if std::env::var_os("BENCH_PROFILE_CREATES").is_some() {
        // More sequential creates, to profile the server on them alone.
        for index in 1000..5000 {
            client
                .graphql(
                    CREATE,
                    json!({"name": format!("dev-{run}-{index:04}"), "serial": "SN"}),
                )
                .await?;
        }
        return Ok(());
    }

    // Sequential creates written the way the SDK writes them: values inline in the document
    // text, so every request is a document the server has not seen before.
    let mut latencies = Vec::with_capacity(1000);
    let started = Instant::now();
    for index in 0..1000 {
        let document = format!(
            "mutation {{\n    BenchSiteCreate(\n        data: {{\n            name: {{ value: \"sdk-{run}-{index:04}\" }}\n            city: {{ value: \"city-{index:04}\" }}\n        }}\n    ){{\n        ok\n        object {{\n            id\n        }}\n    }}\n}}"
        );
        let begin = Instant::now();
        client.graphql(&document, json!({})).await?;
        latencies.push(begin.elapsed());
    }
    report(
        "creates, sequential, values inline (as the SDK sends them)",
        started.elapsed(),
        latencies,
    );

    // Concurrent creates: 8 clients, 125 each.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let address = address.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&address, &token).await?;
            let mut latencies = Vec::with_capacity(125);
            for index in 0..125 {
                let begin = Instant::now();
                client
                    .graphql(
                        CREATE_SITE,
                        json!({"name": format!("site-{run}-{worker}-{index:03}")}),
                    )
                    .await?;
                latencies.push(begin.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(1000);
    for task in tasks {
        latencies.extend(task.await??);
    }
    report("creates, 8 clients", started.elapsed(), latencies);

    // One query returning the 1,000 devices with one attribute.
    let query_all = "{ BenchDevice(limit: 1000) { count edges { node { name { value } } } } }";
    let mut times = Vec::new();
    for _ in 0..20 {
        let begin = Instant::now();
        let data = client.graphql(query_all, json!({})).await?;
        times.push(begin.elapsed());
        let returned = data["BenchDevice"]["edges"].as_array().map_or(0, Vec::len);
        if returned != 1000 {
            bail!("the query returned {returned} devices");
        }
    }
    times.sort();
    println!(
        "query 1,000 nodes with one attribute: p50 {:.2} ms, min {:.2} ms (20 runs)",
        ms(percentile(&times, 0.5)),
        ms(times[0])
    );

    // Paging by 100.
    let page = "query ($offset: Int!, $limit: Int!) { BenchDevice(offset: $offset, limit: $limit) { count edges { node { id name { value } serial { value } } } } }";
    let started = Instant::now();
    let mut seen = 0;
    for offset in (0..1000).step_by(100) {
        let data = client
            .graphql(page, json!({"offset": offset, "limit": 100}))
            .await?;
        seen += data["BenchDevice"]["edges"].as_array().map_or(0, Vec::len);
    }
    if seen != 1000 {
        bail!("paging saw {seen} devices");
    }
    println!(
        "paginate 1,000 by 100: {:.1} ms for 10 pages",
        ms(started.elapsed())
    );

    // Lookups by unique name.
    let lookup = "query ($name: String!) { BenchDevice(name__value: $name) { edges { node { id name { value } } } } }";
    let mut latencies = Vec::with_capacity(1000);
    let started = Instant::now();
    for index in 0..1000 {
        let name = format!("dev-{run}-{:04}", (index * 7919) % 1000);
        let begin = Instant::now();
        let data = client.graphql(lookup, json!({"name": name})).await?;
        latencies.push(begin.elapsed());
        if data["BenchDevice"]["edges"].as_array().map_or(0, Vec::len) != 1 {
            bail!("lookup of {name} did not find it");
        }
    }
    report("lookup by unique name", started.elapsed(), latencies);

    // The same lookups as the SDK's `get(name__value=...)` sends them: the filter value inline,
    // paging in variables, the default selection of every attribute and relationship.
    let mut latencies = Vec::with_capacity(1000);
    let started = Instant::now();
    for index in 0..1000 {
        let name = format!("dev-{run}-{:04}", (index * 7919) % 1000);
        let document = format!(
            "query Get_BenchDevice ($offset: Int!, $limit: Int!) {{\n    BenchDevice(name__value: \"{name}\", offset: $offset, limit: $limit) {{\n        count\n        edges {{\n            node {{\n                id\n                hfid\n                display_label\n                __typename\n                name {{\n                    value\n                }}\n                serial {{\n                    value\n                }}\n                rack_unit {{\n                    value\n                }}\n                site {{\n                    node {{\n                        id\n                        hfid\n                        display_label\n                        __typename\n                    }}\n                }}\n            }}\n        }}\n    }}\n}}"
        );
        let begin = Instant::now();
        let data = client
            .graphql(&document, json!({"offset": 0, "limit": 50}))
            .await?;
        latencies.push(begin.elapsed());
        if data["BenchDevice"]["count"] != json!(1) {
            bail!("get of {name} did not find it: {data}");
        }
    }
    report(
        "lookup by unique name, filter inline (as the SDK's get sends it)",
        started.elapsed(),
        latencies,
    );

    // Branch creates, as `infrahubctl branch create` sends them (waiting for completion), with
    // the 3,000 nodes above in main.
    let branch_create = "mutation ($name: String!) { BranchCreate(wait_until_completion: true, data: {name: $name, sync_with_git: false}) { ok object { id name branched_from } } }";
    let mut latencies = Vec::with_capacity(20);
    let started = Instant::now();
    for index in 0..20 {
        let name = format!("bench-{run}-{index:02}");
        let begin = Instant::now();
        let data = client.graphql(branch_create, json!({"name": name})).await?;
        latencies.push(begin.elapsed());
        if data["BranchCreate"]["object"]["name"] != json!(name) {
            bail!("branch create answered {data}");
        }
    }
    report("branch create", started.elapsed(), latencies);

    if let Some(server) = &server
        && let Some(rss) = rss_kib(server.child.id())
    {
        println!("server RSS after the run: {:.1} MiB", rss as f64 / 1024.0);
    }
    Ok(())
}
