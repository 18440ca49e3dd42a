//! Hostile input and faults, tried as an attacker or an unlucky operator would: one regression
//! test per defect found so far, and the classes of input tried (malformed and oversized
//! documents, forged credentials, slow clients, ...). The server runs for real: the router
//! served over TCP by `serve_state` on an embedded store in a temporary directory, or the
//! `infrahub` binary itself where signals are involved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";
const SECRET: &[u8] = b"hostile-test-secret-of-32-bytes-or-more";

/// A server answering on a local port, stopped and removed on drop.
struct Server {
    address: SocketAddr,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An answer: status, headers (lowercase names) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The value of header `name` (lowercase), if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first error message, in the REST or the GraphQL envelope.
    fn message(&self) -> String {
        self.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn start_with(configure: impl FnOnce(&mut Settings)) -> Server {
    let dir = std::env::temp_dir().join(format!("infrahub-hostile-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("storage")).unwrap_or_else(|e| panic!("{e}"));
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    configure(&mut settings);
    let store = infrahub_graph::connect(&infrahub_graph::GraphConfig::Embedded {
        path: dir.join("graph"),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let options = EngineOptions {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let objects = object_store::local::LocalFileSystem::new_with_prefix(dir.join("storage"))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = AppState::new(
        settings,
        "hostile".into(),
        Arc::new(engine),
        SECRET.to_vec(),
        Arc::new(objects),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(infrahub_server::serve_state(
        Arc::clone(&state),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        address,
        state,
        stop: Some(stop),
        dir,
    }
}

async fn start() -> Server {
    start_with(|_| {}).await
}

/// Reads a whole HTTP/1.1 answer from `stream` (the request asked for `Connection: close`).
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| panic!("no answer within a minute"))
        .unwrap_or_else(|e| panic!("reading the answer: {e}"));
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> Answer {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&bytes[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[end + 2 + size + 2..];
    }
}

impl Server {
    /// Sends one request (`Connection: close`) and reads the answer.
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut stream = TcpStream::connect(self.address)
            .await
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream
            .write_all(&request)
            .await
            .unwrap_or_else(|e| panic!("writing: {e}"));
        read_answer(&mut stream).await
    }

    /// `POST /graphql` with a JSON body, as the admin when `admin`.
    async fn graphql(&self, query: &str, admin: bool) -> Answer {
        self.graphql_at("/graphql", json!({ "query": query }), admin)
            .await
    }

    async fn graphql_at(&self, path: &str, body: Value, admin: bool) -> Answer {
        let mut headers = vec![("Content-Type", "application/json")];
        if admin {
            headers.push(("X-INFRAHUB-KEY", ADMIN_TOKEN));
        }
        self.request("POST", path, &headers, body.to_string().as_bytes())
            .await
    }

    /// Opens a connection, sends `bytes`, and waits until the server closes it: returns what
    /// it answered, or panics if it keeps the connection open longer than `patience`.
    async fn closed_after(&self, bytes: &[u8], patience: Duration) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.address)
            .await
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        stream
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("writing: {e}"));
        let mut answer = Vec::new();
        match tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await {
            Ok(_) => answer,
            Err(_) => panic!(
                "the server kept the connection open for {patience:?} after {:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GraphQL work limits

/// `fragment F1 on Query {...F0 ...F0}` up to `F<levels>`, then `{...F<levels>}`.
fn doubling_fragments(levels: usize) -> String {
    let mut query =
        format!("{{ ...F{levels} }}\nfragment F0 on Query {{ InfrahubInfo {{ version }} }}\n");
    for level in 1..=levels {
        let below = level - 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{below} ...F{below} }}\n"
        ));
    }
    query
}

#[tokio::test]
async fn documents_whose_fragments_expand_past_the_limit_are_refused_before_running() {
    let server = start().await;
    for levels in [24, 30, 64] {
        let answer = server.graphql(&doubling_fragments(levels), false).await;
        assert_eq!(answer.status, 200);
        let message = answer.message();
        assert!(
            message.contains("fields once fragments are expanded")
                && message.contains("api.graphql_max_fields"),
            "{levels} levels: {message}"
        );
        assert!(answer.json()["data"].is_null());
    }
    // The server still answers normally.
    let info = server.graphql("{ InfrahubInfo { version } }", false).await;
    assert!(info.json()["data"]["InfrahubInfo"]["version"].is_string());
}

#[tokio::test]
async fn aliased_introspection_and_deep_documents_are_refused() {
    let server = start().await;
    let schemas: String = (0..2000)
        .map(|i| format!("s{i}: __schema {{ types {{ name fields {{ name }} }} }} "))
        .collect();
    let answer = server.graphql(&format!("{{ {schemas} }}"), false).await;
    let message = answer.message();
    assert!(message.contains("api.graphql_max_"), "{message}");
    let deep = format!("{}__typename{}", "{ a ".repeat(60), " }".repeat(60));
    let message = server.graphql(&deep, false).await.message();
    assert!(message.contains("api.graphql_max_depth"), "{message}");
}

#[tokio::test]
async fn graphql_limits_follow_their_settings() {
    let server = start_with(|settings| {
        settings.api.graphql_max_depth = 2;
        settings.api.graphql_max_fields = 3;
        settings.api.graphql_max_aliases = 1;
        settings.api.graphql_max_introspection_fields = 0;
    })
    .await;
    let ok = server.graphql("{ InfrahubInfo { version } }", false).await;
    assert!(ok.json()["errors"].is_null(), "{:?}", ok.json());
    for (query, setting) in [
        (
            "{ BuiltinTag { edges { node { id } } } }",
            "api.graphql_max_depth",
        ),
        (
            "{ a: InfrahubInfo { version } b: __typename }",
            "api.graphql_max_aliases",
        ),
        (
            "{ __typename x: __typename InfrahubInfo { version } }",
            "api.graphql_max_fields",
        ),
        (
            "{ __schema { description } }",
            "api.graphql_max_introspection_fields",
        ),
    ] {
        let message = server.graphql(query, false).await.message();
        assert!(message.contains(setting), "{query}: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

fn short_timeouts(settings: &mut Settings) {
    settings.api.request_header_timeout = 1;
    settings.api.request_body_timeout = 1;
}

#[tokio::test]
async fn connections_that_send_nothing_or_partial_headers_are_closed() {
    let server = start_with(short_timeouts).await;
    let patience = Duration::from_secs(20);
    assert!(server.closed_after(b"", patience).await.is_empty());
    assert!(
        server
            .closed_after(b"GET /health HTTP/1.1\r\nHost: x\r\n", patience)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn bodies_that_do_not_arrive_in_time_are_cut_off() {
    let server = start_with(short_timeouts).await;
    let answer = server
        .closed_after(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"",
            Duration::from_secs(20),
        )
        .await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let server = start_with(short_timeouts).await;
    let answer = server
        .closed_after(
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(20),
        )
        .await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_connections_cannot_lock_out_other_clients() {
    let server = start_with(|settings| {
        short_timeouts(settings);
        settings.api.max_connections = 4;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            TcpStream::connect(server.address)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    // The idle ones are closed after the header timeout; /health is answered then.
    let health = tokio::time::timeout(
        Duration::from_secs(60),
        server.request("GET", "/health", &[], b""),
    )
    .await
    .unwrap_or_else(|_| panic!("/health not answered while idle connections were held"));
    assert_eq!(health.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Schema names that would break the API

#[tokio::test]
async fn a_schema_with_reserved_graphql_names_is_refused_and_graphql_keeps_working() {
    let server = start().await;
    for name in ["__abc", "__typename"] {
        let schema = json!({"schemas": [{"version": "1.0", "nodes": [{
            "name": "Widget", "namespace": "Test",
            "attributes": [{"name": name, "kind": "Text"}]
        }]}]});
        let answer = server
            .request(
                "POST",
                "/api/schema/load",
                &[
                    ("Content-Type", "application/json"),
                    ("X-INFRAHUB-KEY", ADMIN_TOKEN),
                ],
                schema.to_string().as_bytes(),
            )
            .await;
        assert_eq!(
            answer.status,
            422,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(answer.message().contains("`__`"), "{}", answer.message());
        assert_eq!(answer.header("content-type"), Some("application/json"));
    }
    let answer = server.graphql("{ BuiltinTag { count } }", true).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["data"]["BuiltinTag"]["count"], 0);
    assert!(server.state.engine.schema("main").is_ok());
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// A free local port (bound, then released for the binary to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_under_load() {
    let dir = std::env::temp_dir().join(format!("infrahub-sigterm-{}", uuid::Uuid::new_v4()));
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_infrahub"))
        .args(["server", "start", "--port", &port.to_string()])
        .env("INFRAHUB_DATA_DIR", &dir)
        .env("INFRAHUB_API_SHUTDOWN_TIMEOUT", "1")
        .env("INFRAHUB_LOG_FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the binary: {e}"));
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut ready = false;
    for _ in 0..600 {
        if TcpStream::connect(address).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not start");
    // Clients keep sending introspection queries (the heaviest anonymous read) and holding
    // connections open.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let stop = Arc::clone(&stop);
        clients.push(tokio::spawn(async move {
            let body = json!({"query": "{ __schema { types { name fields { name type { name } } } } }"}).to_string();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(address).await else {
                    break;
                };
                let request = format!(
                    "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(request.as_bytes()).await.is_err() {
                    break;
                }
                let mut buffer = vec![0u8; 65536];
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
    // The shutdown timeout is one second; the process must be gone well before a minute.
    let mut exited = None;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if exited.is_none() {
        let _ = child.kill();
    }
    for client in clients {
        let _ = client.await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        exited.is_some(),
        "SIGTERM under load did not stop the server"
    );
}

// ---------------------------------------------------------------------------------------------
// Accounts that may not write, and revocation

/// Credentials of a request.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Admin,
    Bearer(&'a str),
    Key(&'a str),
    Anonymous,
}

impl Server {
    /// `POST` of `query` to `path` (`/graphql`, `/graphql/<branch>`) as `auth`.
    async fn gql_as(&self, path: &str, query: &str, auth: Auth<'_>) -> Answer {
        let bearer;
        let mut headers = vec![("Content-Type", "application/json")];
        match auth {
            Auth::Admin => headers.push(("X-INFRAHUB-KEY", ADMIN_TOKEN)),
            Auth::Bearer(token) => {
                bearer = format!("Bearer {token}");
                headers.push(("Authorization", bearer.as_str()));
            }
            Auth::Key(key) => headers.push(("X-INFRAHUB-KEY", key)),
            Auth::Anonymous => {}
        }
        let body = json!({ "query": query }).to_string();
        self.request("POST", path, &headers, body.as_bytes()).await
    }

    /// Runs `query` as the admin; it must succeed. Returns `data`.
    async fn admin(&self, query: &str) -> Value {
        let answer = self.gql_as("/graphql", query, Auth::Admin).await;
        let body = answer.json();
        assert!(
            answer.status == 200 && body["errors"].is_null(),
            "{query}: {body}"
        );
        body["data"].clone()
    }

    /// Loads `schema` (a `/api/schema/load` body) as the admin.
    async fn load_schema(&self, schema: &Value) {
        let loaded = self
            .request(
                "POST",
                "/api/schema/load",
                &[
                    ("Content-Type", "application/json"),
                    ("X-INFRAHUB-KEY", ADMIN_TOKEN),
                ],
                schema.to_string().as_bytes(),
            )
            .await;
        assert_eq!(loaded.status, 200, "{:?}", loaded.json());
    }

    /// Creates account `name` (password `name-password`) and returns its id.
    async fn account(&self, name: &str) -> String {
        let data = self
            .admin(&format!(
                r#"mutation {{ CoreAccountCreate(data: {{name: {{value: "{name}"}}, password: {{value: "{name}-password"}}, account_type: {{value: "User"}}}}) {{ object {{ id }} }} }}"#
            ))
            .await;
        data["CoreAccountCreate"]["object"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{data}"))
            .to_string()
    }

    /// Logs `name` in; returns the access token.
    async fn login(&self, name: &str, password: &str) -> Answer {
        let body = json!({"username": name, "password": password}).to_string();
        self.request(
            "POST",
            "/api/auth/login",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    async fn access_token(&self, name: &str) -> String {
        let answer = self.login(name, &format!("{name}-password")).await;
        assert_eq!(answer.status, 200, "{:?}", answer.json());
        answer.json()["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The id of the node of `kind` whose `name` is `name`.
    async fn id_of(&self, kind: &str, name: &str) -> String {
        let data = self
            .admin(&format!(
                r#"{{ {kind}(name__value: "{name}") {{ edges {{ node {{ id }} }} }} }}"#
            ))
            .await;
        data[kind]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no {kind} {name}: {data}"))
            .to_string()
    }
}

/// Asserts that `answer` refused the request with a 403 whose message contains `words`.
#[track_caller]
fn assert_forbidden(answer: &Answer, words: &str) {
    let body = answer.json();
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        answer.status == 403 && message.contains(words),
        "expected 403 with `{words}`, got {}: {body}",
        answer.status
    );
}

#[tokio::test]
async fn an_account_without_a_role_cannot_write_nor_take_over_the_admin() {
    let server = start().await;
    let mallory_id = server.account("mallory").await;
    let mallory = server.access_token("mallory").await;
    let me = Auth::Bearer(&mallory);
    let admin_id = server.id_of("CoreAccount", "admin").await;
    let admins = server
        .id_of("CoreAccountGroup", "Super Administrators")
        .await;
    server
        .admin(r#"mutation { BranchCreate(data: {name: "admin-branch"}) { ok } }"#)
        .await;
    // Creating a branch needs no role, as upstream.
    let own = server
        .gql_as(
            "/graphql",
            r#"mutation { BranchCreate(data: {name: "mallory-branch"}) { ok } }"#,
            me,
        )
        .await;
    assert!(own.json()["errors"].is_null(), "{:?}", own.json());
    let on_branch = "/graphql/mallory-branch";
    let attempts: Vec<(&str, String, &str)> = vec![
        (
            "/graphql",
            format!(r#"mutation {{ CoreAccountUpdate(data: {{id: "{admin_id}", password: {{value: "pwned"}}}}) {{ ok }} }}"#),
            "You are not allowed to change data in the default branch",
        ),
        (
            on_branch,
            format!(r#"mutation {{ CoreAccountUpdate(data: {{id: "{admin_id}", password: {{value: "pwned"}}}}) {{ ok }} }}"#),
            "You are not allowed to manage user accounts, groups or roles",
        ),
        (
            on_branch,
            r#"mutation { CoreAccountUpsert(data: {name: {value: "admin"}, password: {value: "pwned"}}) { ok } }"#.into(),
            "You are not allowed to manage user accounts, groups or roles",
        ),
        (
            on_branch,
            format!(r#"mutation {{ CoreAccountDelete(data: {{id: "{admin_id}"}}) {{ ok }} }}"#),
            "You are not allowed to manage user accounts, groups or roles",
        ),
        (
            on_branch,
            r#"mutation { CoreAccountCreate(data: {name: {value: "eve"}, password: {value: "x"}}) { ok } }"#.into(),
            "You are not allowed to manage user accounts, groups or roles",
        ),
        (
            on_branch,
            format!(r#"mutation {{ CoreAccountGroupUpdate(data: {{id: "{admins}", members: [{{id: "{mallory_id}"}}]}}) {{ ok }} }}"#),
            "You are not allowed to manage user accounts, groups or roles",
        ),
        (
            "/graphql",
            format!(r#"mutation {{ RelationshipAdd(data: {{id: "{admins}", name: "members", nodes: [{{id: "{mallory_id}"}}]}}) {{ ok }} }}"#),
            "You are not allowed to change data in the default branch",
        ),
        (
            on_branch,
            r#"mutation { CoreGlobalPermissionCreate(data: {action: {value: "super_admin"}, decision: {value: 6}}) { ok } }"#.into(),
            "You are not allowed to manage permissions",
        ),
        (
            on_branch,
            r#"mutation { CoreAccountRoleCreate(data: {name: {value: "mine"}}) { ok } }"#.into(),
            "You are not allowed to manage",
        ),
        (
            "/graphql",
            r#"mutation { BuiltinTagCreate(data: {name: {value: "t"}}) { ok } }"#.into(),
            "You are not allowed to change data in the default branch",
        ),
        (
            on_branch,
            r#"mutation { BuiltinTagCreate(data: {name: {value: "t"}}) { ok } }"#.into(),
            "object:Builtin:Tag:create:allow_other",
        ),
        (
            on_branch,
            r#"mutation { BuiltinTagUpsert(data: {name: {value: "t"}}) { ok } }"#.into(),
            "object:Builtin:Tag:update:allow_other",
        ),
        (
            "/graphql",
            r#"mutation { BranchMerge(data: {name: "mallory-branch"}) { ok } }"#.into(),
            "You are not allowed to change data in the default branch",
        ),
        (
            "/graphql",
            r#"mutation { ...Merge } fragment Merge on Mutation { BranchMerge(data: {name: "mallory-branch"}) { ok } }"#.into(),
            "You are not allowed to change data in the default branch",
        ),
    ];
    for (path, query, words) in &attempts {
        let answer = server.gql_as(path, query, me).await;
        assert_forbidden(&answer, words);
    }
    // A branch someone else created cannot be deleted; one's own can.
    let other = server
        .gql_as(
            "/graphql",
            r#"mutation { BranchDelete(data: {name: "admin-branch"}) { ok } }"#,
            me,
        )
        .await;
    assert!(
        other.json()["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not create")),
        "{:?}",
        other.json()
    );
    // REST writes too.
    let load = server
        .request(
            "POST",
            "/api/schema/load",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &format!("Bearer {mallory}")),
            ],
            json!({"schemas": []}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(load.status, 403);
    // Nothing changed: the admin's password, the group, the tags.
    assert_eq!(server.login("admin", "infrahub").await.status, 200);
    let members = server
        .admin(&format!(
            r#"{{ CoreAccountGroup(ids: ["{admins}"]) {{ edges {{ node {{ members {{ count }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        members["CoreAccountGroup"]["edges"][0]["node"]["members"]["count"],
        1
    );
    let tags = server
        .gql_as(
            "/graphql/mallory-branch",
            "{ BuiltinTag { count } }",
            Auth::Admin,
        )
        .await;
    assert_eq!(tags.json()["data"]["BuiltinTag"]["count"], 0);

    // Granted write access on other branches, she may write there at once, still not on the
    // default branch, and still not on accounts.
    // (A fresh deployment has this permission already, in the `General Access` role.)
    let permission = server
        .admin(
            r#"mutation { CoreObjectPermissionUpsert(data: {namespace: {value: "*"}, name: {value: "*"}, action: {value: "any"}, decision: {value: 4}}) { object { id } } }"#,
        )
        .await["CoreObjectPermissionUpsert"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(
            r#"mutation {{ CoreAccountRoleCreate(data: {{name: {{value: "writers"}}, permissions: [{{id: "{permission}"}}]}}) {{ ok }} }}"#
        ))
        .await;
    let role = server.id_of("CoreAccountRole", "writers").await;
    server
        .admin(&format!(
            r#"mutation {{ CoreAccountGroupCreate(data: {{name: {{value: "writers"}}, roles: [{{id: "{role}"}}], members: [{{id: "{mallory_id}"}}]}}) {{ ok }} }}"#
        ))
        .await;
    let created = server
        .gql_as(
            on_branch,
            r#"mutation { BuiltinTagCreate(data: {name: {value: "t"}}) { ok } }"#,
            me,
        )
        .await;
    assert!(created.json()["errors"].is_null(), "{:?}", created.json());
    for (path, query, words) in &attempts[..3] {
        let answer = server.gql_as(path, query, me).await;
        assert_forbidden(&answer, words);
    }
    let on_main = server
        .gql_as(
            "/graphql",
            r#"mutation { BuiltinTagCreate(data: {name: {value: "u"}}) { ok } }"#,
            me,
        )
        .await;
    assert_forbidden(&on_main, "default branch");
    // Through a generic's mutation, an account group is still an account group.
    let through_generic = server
        .gql_as(
            on_branch,
            &format!(r#"mutation {{ CoreGroupUpdate(data: {{id: "{admins}", members: [{{id: "{mallory_id}"}}]}}) {{ ok }} }}"#),
            me,
        )
        .await;
    let message = through_generic.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("You are not allowed to manage user accounts, groups or roles"),
        "{:?}",
        through_generic.json()
    );
    let members = server
        .admin(&format!(
            r#"{{ CoreAccountGroup(ids: ["{admins}"]) {{ edges {{ node {{ members {{ count }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        members["CoreAccountGroup"]["edges"][0]["node"]["members"]["count"],
        1
    );
}

/// Reads need the `view` permission of every kind whose attributes or relationships they
/// select, on both execution paths; a fresh deployment's roles give it to the `Infrahub Users`
/// group and to anonymous requests.
#[tokio::test]
async fn reads_need_the_view_permission_of_each_kind_they_read() {
    let server = start().await;
    let schema = json!({"schemas": [{
        "version": "1.0",
        "nodes": [{
            "name": "Device", "namespace": "Lab",
            "human_friendly_id": ["name__value"],
            "attributes": [{"name": "name", "kind": "Text", "unique": true}],
            "relationships": [{"name": "tags", "peer": "BuiltinTag", "cardinality": "many", "optional": true}]
        }]
    }]});
    server.load_schema(&schema).await;
    server
        .admin(r#"mutation { BuiltinTagCreate(data: {name: {value: "red"}}) { ok } }"#)
        .await;
    server
        .admin(r#"mutation { LabDeviceCreate(data: {name: {value: "d1"}, tags: [{hfid: ["red"]}]}) { ok } }"#)
        .await;
    // Roles as a fresh deployment seeds them.
    let roles = server
        .admin(r#"{ CoreAccountRole { edges { node { name { value } } } } }"#)
        .await;
    let names: Vec<&str> = roles["CoreAccountRole"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["name"]["value"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for role in [
        "Super Administrator",
        "General Access",
        "Proposed Change Reviewer",
        "Anonymous User",
    ] {
        assert!(names.contains(&role), "{role} missing from {names:?}");
    }

    server.account("nobody").await;
    let nobody = server.access_token("nobody").await;
    let lab_id = server.account("lab").await;
    let lab = server.access_token("lab").await;
    // `lab` may view the Lab namespace only.
    let permission = server
        .admin(r#"mutation { CoreObjectPermissionCreate(data: {namespace: {value: "Lab"}, name: {value: "*"}, action: {value: "view"}, decision: {value: 6}}) { object { id } } }"#)
        .await["CoreObjectPermissionCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(r#"mutation {{ CoreAccountRoleCreate(data: {{name: {{value: "lab-readers"}}, permissions: [{{id: "{permission}"}}]}}) {{ ok }} }}"#))
        .await;
    let role = server.id_of("CoreAccountRole", "lab-readers").await;
    server
        .admin(&format!(r#"mutation {{ CoreAccountGroupCreate(data: {{name: {{value: "lab-readers"}}, roles: [{{id: "{role}"}}], members: [{{id: "{lab_id}"}}]}}) {{ ok }} }}"#))
        .await;

    let devices = |name: &str| {
        format!(
            r#"{{ LabDevice(name__value: "{name}") {{ count edges {{ node {{ name {{ value }} }} }} }} }}"#
        )
    };
    let with_tags = |name: &str| {
        format!(
            r#"{{ LabDevice(name__value: "{name}") {{ edges {{ node {{ name {{ value }} tags {{ edges {{ node {{ name {{ value }} }} }} }} }} }} }} }}"#
        )
    };
    // Twice each: the second request of a shape runs its compiled plan.
    for round in ["d1", "d2"] {
        let refused = server
            .gql_as("/graphql", &devices(round), Auth::Bearer(&nobody))
            .await;
        assert_forbidden(
            &refused,
            "You do not have the following permission: object:Lab:Device:view:allow_default",
        );
        let counted = server
            .gql_as(
                "/graphql",
                r#"{ LabDevice { count } }"#,
                Auth::Bearer(&nobody),
            )
            .await;
        assert_eq!(
            counted.status,
            200,
            "a count reads no attribute: {:?}",
            counted.json()
        );

        let read = server
            .gql_as("/graphql", &devices(round), Auth::Bearer(&lab))
            .await;
        assert!(
            read.status == 200 && read.json()["errors"].is_null(),
            "{:?}",
            read.json()
        );
        let nested = server
            .gql_as("/graphql", &with_tags(round), Auth::Bearer(&lab))
            .await;
        assert_forbidden(&nested, "object:Builtin:Tag:view:allow_default");
        let through_fragment = server
            .gql_as(
                "/graphql",
                &format!(r#"{{ LabDevice(name__value: "{round}") {{ edges {{ node {{ ...F }} }} }} }} fragment F on LabDevice {{ tags {{ edges {{ node {{ ... on BuiltinTag {{ name {{ value }} }} }} }} }} }}"#),
                Auth::Bearer(&lab),
            )
            .await;
        assert_forbidden(&through_fragment, "object:Builtin:Tag:view:allow_default");
        // The source and owner of a value or a link: reading their attributes needs `view` of
        // their kind (their id alone does not).
        for (query, missing) in [
            (
                format!(
                    r#"{{ LabDevice(name__value: "{round}") {{ edges {{ node {{ name {{ value source {{ id ... on CoreAccount {{ name {{ value }} }} }} }} }} }} }} }}"#
                ),
                "object:Core:Account:view:allow_default",
            ),
            (
                format!(
                    r#"{{ LabDevice(name__value: "{round}") {{ edges {{ node {{ name {{ value owner {{ ... on LineageOwner {{ id }} ... on CoreAccountGroup {{ name {{ value }} }} }} }} }} }} }} }}"#
                ),
                "object:Core:AccountGroup:view:allow_default",
            ),
            (
                format!(
                    r#"{{ LabDevice(name__value: "{round}") {{ edges {{ node {{ tags {{ count edges {{ properties {{ source {{ ... on CoreAccount {{ name {{ value }} }} }} }} }} }} }} }} }} }}"#
                ),
                "object:Core:Account:view:allow_default",
            ),
        ] {
            let refused = server.gql_as("/graphql", &query, Auth::Bearer(&lab)).await;
            assert_forbidden(&refused, missing);
        }
        let lineage_ids = server
            .gql_as(
                "/graphql",
                &format!(r#"{{ LabDevice(name__value: "{round}") {{ edges {{ node {{ name {{ value source {{ id display_label }} owner {{ id }} }} }} }} }} }}"#),
                Auth::Bearer(&lab),
            )
            .await;
        assert!(
            lineage_ids.status == 200 && lineage_ids.json()["errors"].is_null(),
            "{:?}",
            lineage_ids.json()
        );

        let anonymous = server
            .gql_as("/graphql", &with_tags(round), Auth::Anonymous)
            .await;
        assert!(
            anonymous.status == 200 && anonymous.json()["errors"].is_null(),
            "{:?}",
            anonymous.json()
        );
        let admin = server
            .gql_as("/graphql", &with_tags(round), Auth::Admin)
            .await;
        assert!(admin.json()["errors"].is_null(), "{:?}", admin.json());
    }
    // Joining `Infrahub Users` gives the general access role: everything may be viewed.
    let users = server.id_of("CoreAccountGroup", "Infrahub Users").await;
    let nobody_id = server.id_of("CoreAccount", "nobody").await;
    server
        .admin(&format!(r#"mutation {{ RelationshipAdd(data: {{id: "{users}", name: "members", nodes: [{{id: "{nobody_id}"}}]}}) {{ ok }} }}"#))
        .await;
    let read = server
        .gql_as("/graphql", &with_tags("d1"), Auth::Bearer(&nobody))
        .await;
    assert!(
        read.status == 200 && read.json()["errors"].is_null(),
        "{:?}",
        read.json()
    );
    assert_eq!(
        read.json()["data"]["LabDevice"]["edges"][0]["node"]["tags"]["edges"][0]["node"]["name"]["value"],
        "red"
    );
    // Which permissions a role holds is for `manage_permissions` (General Access lacks it).
    let roles_only = server
        .gql_as(
            "/graphql",
            r#"{ CoreAccountRole { edges { node { name { value } } } } }"#,
            Auth::Bearer(&nobody),
        )
        .await;
    assert!(
        roles_only.status == 200 && roles_only.json()["errors"].is_null(),
        "{:?}",
        roles_only.json()
    );
    for query in [
        r#"{ CoreAccountRole { edges { node { name { value } permissions { count } } } } }"#,
        r#"{ CoreObjectPermission { edges { node { identifier { value } roles { edges { node { id } } } } } } }"#,
    ] {
        for _ in 0..2 {
            let refused = server
                .gql_as("/graphql", query, Auth::Bearer(&nobody))
                .await;
            assert_forbidden(&refused, "You are not allowed to manage permissions");
        }
        let admin = server.gql_as("/graphql", query, Auth::Admin).await;
        assert!(admin.json()["errors"].is_null(), "{:?}", admin.json());
    }

    // The `permissions` fields report the caller's decisions on the request's branch.
    let report = |kind: &str| {
        format!(
            r#"{{ {kind} {{ permissions {{ edges {{ node {{ kind view create update delete }} }} }} }} }}"#
        )
    };
    let decisions = |answer: &Answer, kind: &str| {
        let node = answer.json()["data"][kind]["permissions"]["edges"][0]["node"].clone();
        ["view", "create", "update", "delete"].map(|a| node[a].as_str().unwrap_or("?").to_string())
    };
    server
        .admin(r#"mutation { BranchCreate(data: {name: "reports"}) { ok } }"#)
        .await;
    let general = server
        .gql_as("/graphql", &report("LabDevice"), Auth::Bearer(&nobody))
        .await;
    assert_eq!(
        decisions(&general, "LabDevice"),
        ["ALLOW", "ALLOW_OTHER", "ALLOW_OTHER", "ALLOW_OTHER"]
    );
    let general = server
        .gql_as(
            "/graphql/reports",
            &report("LabDevice"),
            Auth::Bearer(&nobody),
        )
        .await;
    assert_eq!(
        decisions(&general, "LabDevice"),
        ["ALLOW", "ALLOW", "ALLOW", "ALLOW"]
    );
    let accounts = server
        .gql_as(
            "/graphql/reports",
            &report("CoreAccount"),
            Auth::Bearer(&nobody),
        )
        .await;
    assert_eq!(
        decisions(&accounts, "CoreAccount"),
        ["ALLOW", "DENY", "DENY", "DENY"],
        "accounts follow manage_accounts"
    );
    let reader = server
        .gql_as("/graphql", &report("LabDevice"), Auth::Bearer(&lab))
        .await;
    assert_eq!(
        decisions(&reader, "LabDevice"),
        ["ALLOW", "DENY", "DENY", "DENY"]
    );
    let anonymous = server
        .gql_as("/graphql", &report("LabDevice"), Auth::Anonymous)
        .await;
    assert_eq!(
        decisions(&anonymous, "LabDevice"),
        ["ALLOW", "DENY", "DENY", "DENY"]
    );
    let admin = server
        .gql_as("/graphql", &report("LabDevice"), Auth::Admin)
        .await;
    assert_eq!(
        decisions(&admin, "LabDevice"),
        ["ALLOW", "ALLOW", "ALLOW", "ALLOW"]
    );
    // A change to the anonymous role applies to the next anonymous request.
    let anonymous_role = server.id_of("CoreAccountRole", "Anonymous User").await;
    let view_all = server
        .admin(r#"{ CoreObjectPermission(namespace__value: "*", name__value: "*", action__value: "view", decision__value: 6) { edges { node { id } } } }"#)
        .await["CoreObjectPermission"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(r#"mutation {{ RelationshipRemove(data: {{id: "{anonymous_role}", name: "permissions", nodes: [{{id: "{view_all}"}}]}}) {{ ok }} }}"#))
        .await;
    let anonymous = server
        .gql_as("/graphql", &devices("d1"), Auth::Anonymous)
        .await;
    assert_forbidden(&anonymous, "object:Lab:Device:view:allow_default");
    // A mutation needs `update` on the other kinds its answer reads, as upstream: `lab` may
    // create devices (on a branch) but not change tags.
    let create = server
        .admin(r#"mutation { CoreObjectPermissionCreate(data: {namespace: {value: "Lab"}, name: {value: "Device"}, action: {value: "create"}, decision: {value: 6}}) { object { id } } }"#)
        .await["CoreObjectPermissionCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(r#"mutation {{ RelationshipAdd(data: {{id: "{role}", name: "permissions", nodes: [{{id: "{create}"}}]}}) {{ ok }} }}"#))
        .await;
    let device = |name: &str, answer: &str| {
        format!(
            r#"mutation {{ LabDeviceCreate(data: {{name: {{value: "{name}"}}, tags: [{{hfid: ["red"]}}]}}) {{ ok object {{ {answer} }} }} }}"#
        )
    };
    for round in 0..2 {
        let plain = server
            .gql_as(
                "/graphql/reports",
                &device(&format!("made-{round}"), "id name { value }"),
                Auth::Bearer(&lab),
            )
            .await;
        assert!(plain.json()["errors"].is_null(), "{:?}", plain.json());
        let touching = server
            .gql_as(
                "/graphql/reports",
                &device(
                    &format!("touch-{round}"),
                    "id tags { edges { node { name { value } } } }",
                ),
                Auth::Bearer(&lab),
            )
            .await;
        assert_forbidden(&touching, "object:Builtin:Tag:update:allow_other");
    }
    let made = server
        .gql_as(
            "/graphql/reports",
            r#"{ LabDevice(name__values: ["touch-0", "touch-1"]) { count } }"#,
            Auth::Admin,
        )
        .await;
    assert_eq!(
        made.json()["data"]["LabDevice"]["count"],
        0,
        "refused before writing"
    );
    // `InfrahubPermissions` lists what the caller holds through its roles.
    let listed = |answer: &Answer, which: &str| -> Vec<String> {
        answer.json()["data"]["InfrahubPermissions"][which]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|e| e["node"]["identifier"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let query = "{ InfrahubPermissions { global_permissions { count edges { node { id name action decision identifier } } } object_permissions { count edges { node { id branch namespace name action decision identifier } } } } }";
    let own = server.gql_as("/graphql", query, Auth::Bearer(&lab)).await;
    let mut objects = listed(&own, "object_permissions");
    objects.sort();
    assert_eq!(
        objects,
        [
            "object:Lab:*:view:allow_all",
            "object:Lab:Device:create:allow_all"
        ],
        "{:?}",
        own.json()
    );
    assert!(listed(&own, "global_permissions").is_empty());
    let admin = server.gql_as("/graphql", query, Auth::Admin).await;
    assert_eq!(
        listed(&admin, "global_permissions"),
        ["global:super_admin:allow_all"],
        "{:?}",
        admin.json()
    );
}

/// A delete removes the nodes its cascading relationships own: those need `delete` too.
#[tokio::test]
async fn cascaded_deletes_need_the_delete_permission_of_every_kind_they_remove() {
    let server = start().await;
    let schema = json!({"schemas": [{
        "version": "1.0",
        "nodes": [
            {
                "name": "Rack", "namespace": "Lab",
                "human_friendly_id": ["name__value"],
                "attributes": [{"name": "name", "kind": "Text", "unique": true}],
                "relationships": [{"name": "units", "peer": "LabUnit", "cardinality": "many", "kind": "Component", "optional": true, "on_delete": "cascade"}]
            },
            {
                "name": "Unit", "namespace": "Lab",
                "human_friendly_id": ["name__value"],
                "attributes": [{"name": "name", "kind": "Text", "unique": true}],
                "relationships": [{"name": "rack", "peer": "LabRack", "cardinality": "one", "kind": "Parent", "optional": false}]
            }
        ]
    }]});
    server.load_schema(&schema).await;
    server
        .admin(r#"mutation { BranchCreate(data: {name: "racks"}) { ok } }"#)
        .await;
    for rack in ["r1", "r2"] {
        let answer = server
            .gql_as(
                "/graphql/racks",
                &format!(
                    r#"mutation {{ LabRackCreate(data: {{name: {{value: "{rack}"}}}}) {{ ok }} }}"#
                ),
                Auth::Admin,
            )
            .await;
        assert!(answer.json()["errors"].is_null(), "{:?}", answer.json());
        let answer = server
            .gql_as(
                "/graphql/racks",
                &format!(r#"mutation {{ LabUnitCreate(data: {{name: {{value: "{rack}-u1"}}, rack: {{hfid: ["{rack}"]}}}}) {{ ok }} }}"#),
                Auth::Admin,
            )
            .await;
        assert!(answer.json()["errors"].is_null(), "{:?}", answer.json());
    }
    let account = server.account("racker").await;
    let racker = server.access_token("racker").await;
    let grant = |action: &'static str, name: &'static str| {
        format!(
            r#"mutation {{ CoreObjectPermissionCreate(data: {{namespace: {{value: "Lab"}}, name: {{value: "{name}"}}, action: {{value: "{action}"}}, decision: {{value: 6}}}}) {{ object {{ id }} }} }}"#
        )
    };
    let delete_racks =
        server.admin(&grant("delete", "Rack")).await["CoreObjectPermissionCreate"]["object"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    server
        .admin(&format!(r#"mutation {{ CoreAccountRoleCreate(data: {{name: {{value: "rackers"}}, permissions: [{{id: "{delete_racks}"}}]}}) {{ ok }} }}"#))
        .await;
    let role = server.id_of("CoreAccountRole", "rackers").await;
    server
        .admin(&format!(r#"mutation {{ CoreAccountGroupCreate(data: {{name: {{value: "rackers"}}, roles: [{{id: "{role}"}}], members: [{{id: "{account}"}}]}}) {{ ok }} }}"#))
        .await;
    let delete = |rack: &str| {
        format!(r#"mutation {{ LabRackDelete(data: {{hfid: ["{rack}"]}}) {{ ok }} }}"#)
    };
    let refused = server
        .gql_as("/graphql/racks", &delete("r1"), Auth::Bearer(&racker))
        .await;
    let message = refused.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(
            "You do not have one of the following permissions: object:Lab:Unit:delete:allow_other"
        ),
        "{:?}",
        refused.json()
    );
    let left = server
        .gql_as(
            "/graphql/racks",
            r#"{ LabRack { count } LabUnit { count } }"#,
            Auth::Admin,
        )
        .await
        .json();
    assert_eq!(
        (
            left["data"]["LabRack"]["count"].clone(),
            left["data"]["LabUnit"]["count"].clone()
        ),
        (json!(2), json!(2)),
        "nothing deleted"
    );
    // With `delete` on units as well, the rack goes with its unit.
    let delete_units =
        server.admin(&grant("delete", "Unit")).await["CoreObjectPermissionCreate"]["object"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    server
        .admin(&format!(r#"mutation {{ RelationshipAdd(data: {{id: "{role}", name: "permissions", nodes: [{{id: "{delete_units}"}}]}}) {{ ok }} }}"#))
        .await;
    let deleted = server
        .gql_as("/graphql/racks", &delete("r2"), Auth::Bearer(&racker))
        .await;
    assert!(deleted.json()["errors"].is_null(), "{:?}", deleted.json());
    let left = server
        .gql_as(
            "/graphql/racks",
            r#"{ LabRack { count } LabUnit { count } }"#,
            Auth::Admin,
        )
        .await
        .json();
    assert_eq!(
        (
            left["data"]["LabRack"]["count"].clone(),
            left["data"]["LabUnit"]["count"].clone()
        ),
        (json!(1), json!(1))
    );
}

/// Documents of one shape run the plan compiled for it: the plan must be authorized as the
/// executor is, whoever compiled it.
#[tokio::test]
async fn a_compiled_plan_is_authorized_for_each_request() {
    let server = start().await;
    server.account("trudy").await;
    let trudy = server.access_token("trudy").await;
    server
        .admin(r#"mutation { BranchCreate(data: {name: "plans"}) { ok } }"#)
        .await;
    let create = |name: &str| {
        format!(
            r#"mutation {{ BuiltinTagCreate(data: {{name: {{value: "{name}"}}}}) {{ ok object {{ id }} }} }}"#
        )
    };
    // The admin's requests compile the plan of the shape (the second one runs it).
    for name in ["plan-a", "plan-b"] {
        let answer = server
            .gql_as("/graphql/plans", &create(name), Auth::Admin)
            .await;
        assert!(answer.json()["errors"].is_null(), "{:?}", answer.json());
    }
    let refused = server
        .gql_as(
            "/graphql/plans",
            &create("plan-trudy"),
            Auth::Bearer(&trudy),
        )
        .await;
    assert_forbidden(&refused, "object:Builtin:Tag:create:allow_other");
    let anonymous = server
        .gql_as("/graphql/plans", &create("plan-anonymous"), Auth::Anonymous)
        .await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.json());
    let data = server
        .gql_as(
            "/graphql/plans",
            r#"{ BuiltinTag(name__values: ["plan-trudy", "plan-anonymous"]) { count } }"#,
            Auth::Admin,
        )
        .await
        .json();
    assert_eq!(data["data"]["BuiltinTag"]["count"], json!(0), "{data}");
}

#[tokio::test]
async fn revoked_credentials_stop_working_on_the_next_request() {
    let server = start().await;
    let read = "{ Branch { name } }";
    let works = |answer: &Answer| answer.status == 200 && answer.json()["errors"].is_null();

    // A deleted API token.
    let alice_id = server.account("alice").await;
    let alice = server.access_token("alice").await;
    let created = server
        .gql_as(
            "/graphql",
            r#"mutation { InfrahubAccountTokenCreate(data: {name: "ci"}) { object { id token { value } } } }"#,
            Auth::Bearer(&alice),
        )
        .await
        .json();
    let token_id = created["data"]["InfrahubAccountTokenCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let key = created["data"]["InfrahubAccountTokenCreate"]["object"]["token"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(works(
        &server.gql_as("/graphql", read, Auth::Key(&key)).await
    ));
    let deleted = server
        .gql_as(
            "/graphql",
            &format!(
                r#"mutation {{ InfrahubAccountTokenDelete(data: {{id: "{token_id}"}}) {{ ok }} }}"#
            ),
            Auth::Bearer(&alice),
        )
        .await;
    assert!(works(&deleted), "{:?}", deleted.json());
    let refused = server.gql_as("/graphql", read, Auth::Key(&key)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.message(), "Invalid token");

    // A deactivated, then deleted account: its access token and API token stop at once.
    let created = server
        .gql_as(
            "/graphql",
            r#"mutation { InfrahubAccountTokenCreate(data: {name: "ci2"}) { object { token { value } } } }"#,
            Auth::Bearer(&alice),
        )
        .await
        .json();
    let key = created["data"]["InfrahubAccountTokenCreate"]["object"]["token"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(works(
        &server.gql_as("/graphql", read, Auth::Key(&key)).await
    ));
    server
        .admin(&format!(
            r#"mutation {{ CoreAccountUpdate(data: {{id: "{alice_id}", status: {{value: "inactive"}}}}) {{ ok }} }}"#
        ))
        .await;
    for auth in [Auth::Key(&key), Auth::Bearer(&alice)] {
        let answer = server.gql_as("/graphql", read, auth).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.message(), "This account has been deactivated");
    }
    server
        .admin(&format!(
            r#"mutation {{ CoreAccountUpdate(data: {{id: "{alice_id}", status: {{value: "active"}}}}) {{ ok }} }}"#
        ))
        .await;
    assert!(works(
        &server.gql_as("/graphql", read, Auth::Key(&key)).await
    ));
    server
        .admin(&format!(
            r#"mutation {{ CoreAccountDelete(data: {{id: "{alice_id}"}}) {{ ok }} }}"#
        ))
        .await;
    for auth in [Auth::Key(&key), Auth::Bearer(&alice)] {
        let answer = server.gql_as("/graphql", read, auth).await;
        assert_eq!(answer.status, 401, "{:?}", answer.json());
    }

    // Logging out ends the session: its access token stops too.
    server.account("bob").await;
    let bob = server.access_token("bob").await;
    assert!(works(
        &server.gql_as("/graphql", read, Auth::Bearer(&bob)).await
    ));
    let logout = server
        .request(
            "POST",
            "/api/auth/logout",
            &[("Authorization", &format!("Bearer {bob}"))],
            b"",
        )
        .await;
    assert_eq!(logout.status, 200);
    let after = server.gql_as("/graphql", read, Auth::Bearer(&bob)).await;
    assert_eq!(after.status, 401);
    assert!(after.message().contains("closed"), "{}", after.message());
    // Anonymous reads are still fine.
    assert!(works(
        &server.gql_as("/graphql", read, Auth::Anonymous).await
    ));
}

// ---------------------------------------------------------------------------------------------
// Smaller defects

#[tokio::test]
async fn debug_output_reveals_no_secret() {
    let server = start().await;
    // Fill the credential cache with the admin's token.
    assert_eq!(
        server
            .graphql("{ BuiltinTag { count } }", true)
            .await
            .status,
        200
    );
    let text = format!("{:?}", server.state);
    let secret = String::from_utf8_lossy(SECRET).to_string();
    let secret_bytes = format!("{:?}", SECRET.to_vec());
    let secret_bytes = secret_bytes.trim_start_matches('[').trim_end_matches(']');
    for needle in [
        ADMIN_TOKEN,
        secret.as_str(),
        secret_bytes,
        "Some(\"infrahub\")",
    ] {
        assert!(!text.contains(needle), "`{needle}` in {text}");
    }
    assert!(text.contains("jwt_secret"), "{text}");
}

#[tokio::test]
async fn times_out_of_range_are_refused() {
    let server = start().await;
    for at in [
        "9223372036854775807s",
        "-5m",
        "99999999999d",
        "99999-01-01T00:00:00Z",
    ] {
        let answer = server
            .graphql_at(
                &format!("/graphql?at={at}"),
                json!({"query": "{ BuiltinTag { count } }"}),
                true,
            )
            .await;
        assert_eq!(answer.status, 400, "{at}: {:?}", answer.json());
        assert!(answer.message().contains(at), "{}", answer.message());
    }
}

#[tokio::test]
async fn long_input_values_are_not_echoed_whole() {
    let server = start().await;
    let long = "x".repeat(100_000);
    let queries = [
        format!(
            r#"mutation {{ BuiltinTagCreate(data: {{name: {{value: "{long}"}}, description: {{value: 5}}}}) {{ ok }} }}"#
        ),
        format!(
            r#"mutation {{ CoreStandardWebhookCreate(data: {{name: {{value: "w"}}, url: {{value: "{long}"}}}}) {{ ok }} }}"#
        ),
        format!(r#"{{ BuiltinTag(limit: "{long}") {{ count }} }}"#),
        format!(r#"{{ {long} }}"#),
        format!(r#"{{ BuiltinTag(name__value: {long}) {{ count }} }}"#),
    ];
    for query in &queries {
        let answer = server.graphql(query, true).await;
        let body = String::from_utf8_lossy(&answer.body).to_string();
        assert!(
            body.contains("errors") && body.len() < 10_000,
            "{} bytes answered: {}",
            body.len(),
            &body[..body.len().min(300)]
        );
    }
    let rest = server
        .request(
            "POST",
            "/api/auth/login",
            &[("Content-Type", "application/json")],
            json!({"username": long, "password": 5})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(rest.status, 422);
    assert!(rest.body.len() < 10_000, "{} bytes", rest.body.len());
}

#[tokio::test]
async fn cookie_sessions_cannot_be_used_cross_site() {
    let server = start().await;
    let login = server.login("admin", "infrahub").await;
    let token = login.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cookie = format!("access_token={token}");
    let mutation =
        json!({"query": r#"mutation { BuiltinTagCreate(data: {name: {value: "csrf"}}) { ok } }"#})
            .to_string();
    // A form post (text/plain) is refused whatever the credentials, as upstream.
    let plain = server
        .request(
            "POST",
            "/graphql",
            &[("Content-Type", "text/plain"), ("Cookie", &cookie)],
            mutation.as_bytes(),
        )
        .await;
    assert_eq!(plain.status, 400);
    assert_eq!(
        plain.message(),
        "Content-type must be application/json or multipart/form-data"
    );
    // Another site's page, or no origin at all, cannot use the cookie.
    for origin in [Some("https://evil.example"), None] {
        let mut headers = vec![
            ("Content-Type", "application/json"),
            ("Cookie", cookie.as_str()),
        ];
        if let Some(origin) = origin {
            headers.push(("Origin", origin));
        }
        let answer = server
            .request("POST", "/graphql", &headers, mutation.as_bytes())
            .await;
        assert_eq!(answer.status, 403, "{origin:?}: {:?}", answer.json());
    }
    let cross_site_rest = server
        .request(
            "POST",
            "/api/storage/upload/content",
            &[
                ("Content-Type", "application/json"),
                ("Cookie", &cookie),
                ("Origin", "https://evil.example"),
            ],
            json!({"content": "x"}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(cross_site_rest.status, 403);
    let tags = server.graphql("{ BuiltinTag { count } }", true).await;
    assert_eq!(tags.json()["data"]["BuiltinTag"]["count"], 0);
    // The server's own pages may (the test client sends `Host: test`).
    let same_origin = "http://test".to_string();
    let answer = server
        .request(
            "POST",
            "/graphql",
            &[
                ("Content-Type", "application/json"),
                ("Cookie", &cookie),
                ("Origin", &same_origin),
            ],
            mutation.as_bytes(),
        )
        .await;
    assert!(answer.json()["errors"].is_null(), "{:?}", answer.json());
    // Reads with the cookie need no origin.
    let read = server
        .request("GET", "/api/schema/summary", &[("Cookie", &cookie)], b"")
        .await;
    assert_eq!(read.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_upserts_of_one_new_name_all_succeed() {
    let server = Arc::new(start().await);
    let mut tasks = Vec::new();
    for index in 0..50 {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            server
                .graphql(
                    &format!(r#"mutation {{ BuiltinTagUpsert(data: {{name: {{value: "raced"}}, description: {{value: "from {index}"}}}}) {{ ok object {{ id }} }} }}"#),
                    true,
                )
                .await
                .json()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let body = task.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(body["errors"].is_null(), "{body}");
        ids.push(body["data"]["BuiltinTagUpsert"]["object"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "upserts answered different nodes: {ids:?}");
    let count = server.graphql("{ BuiltinTag { count } }", true).await;
    assert_eq!(count.json()["data"]["BuiltinTag"]["count"], 1);
}

// ---------------------------------------------------------------------------------------------
// Classes of hostile input: each answered with a clear error, the server unharmed.

/// The server still answers a plain query.
async fn still_answers(server: &Server) {
    let info = server.graphql("{ InfrahubInfo { version } }", false).await;
    assert_eq!(info.status, 200);
    assert!(info.json()["data"]["InfrahubInfo"]["version"].is_string());
}

#[tokio::test]
async fn malformed_documents_get_graphql_errors() {
    let server = start().await;
    let nested_brackets = format!(
        "query ($v: {}Int{}) {{ a }}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let unterminated = format!("{{ a(b: \"{}", "x".repeat(1000));
    let documents = [
        "",
        "{",
        "}",
        "{ a",
        "query query query",
        "mutation { }",
        "{ ...on }",
        "fragment F on Query { ...F } { ...F }",
        "{ a(b: $undefined) }",
        "query ($a: Int, $a: Int) { __typename }",
        "subscription { __typename }",
        "{ \"\\uD800\" }",
        "\u{0000}",
        nested_brackets.as_str(),
        unterminated.as_str(),
    ];
    for document in documents {
        let answer = server.graphql(document, false).await;
        assert!(
            answer.status == 200 || answer.status == 400,
            "{document:.60}: {}",
            answer.status
        );
        let body = answer.json();
        assert!(
            body["errors"][0]["message"].is_string(),
            "{document:.60}: {body}"
        );
    }
    // Bodies that are not a GraphQL request.
    for body in [
        &b"not json"[..],
        b"[]",
        b"{\"query\": 5}",
        b"{\"query\": \"{ a }\", \"variables\": [1]}",
        b"{\"query\": \"{ a }\", \"operationName\": {}}",
        b"\xff\xfe\xfd",
        b"{\"query\": \"\xff\"}",
    ] {
        let answer = server
            .request(
                "POST",
                "/graphql",
                &[("Content-Type", "application/json")],
                body,
            )
            .await;
        assert!(
            (400..500).contains(&answer.status) || answer.json()["errors"].is_array(),
            "{:?}: {} {:?}",
            String::from_utf8_lossy(body),
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    still_answers(&server).await;
}

#[tokio::test]
async fn wide_documents_are_answered_or_refused_quickly() {
    let server = start().await;
    // Many unknown names: errors, without suggestions.
    let unknown: Vec<String> = (0..3000)
        .map(|i| format!("f{i}{}", "y".repeat(60)))
        .collect();
    let answer = server
        .graphql(&format!("{{ {} }}", unknown.join(" ")), false)
        .await;
    assert!(
        answer.json()["errors"]
            .as_array()
            .is_some_and(|e| e.len() == 3000)
    );
    // Thousands of arguments: refused before validation.
    let arguments: Vec<String> = (0..5000)
        .map(|i| format!("a{i}{}: 1", "z".repeat(20)))
        .collect();
    let answer = server
        .graphql(
            &format!("{{ BuiltinTag({}) {{ count }} }}", arguments.join(", ")),
            false,
        )
        .await;
    assert!(
        answer.message().contains("argument names add up to"),
        "{}",
        answer.message()
    );
    // A name of 100,000 characters.
    let answer = server
        .graphql(&format!("{{ {} }}", "n".repeat(100_000)), false)
        .await;
    assert!(
        answer.message().contains("names are at most"),
        "{}",
        answer.message()
    );
    still_answers(&server).await;
}

#[tokio::test]
async fn bad_variables_get_errors() {
    let server = start().await;
    let query = "query ($name: String!, $limit: Int) { BuiltinTag(name__value: $name, limit: $limit) { count } }";
    for variables in [
        json!({}),
        json!({"name": 5}),
        json!({"name": "a", "limit": "many"}),
        json!({"name": "a", "limit": 1e300}),
        json!({"name": "a", "limit": -9223372036854775808i64}),
        json!({"name": {"nested": true}}),
    ] {
        let answer = server
            .graphql_at(
                "/graphql",
                json!({"query": query, "variables": variables}),
                false,
            )
            .await;
        assert!(answer.status < 500, "{}", answer.status);
        assert!(answer.json()["errors"].is_array(), "{:?}", answer.json());
    }
    // Variables nested 10,000 deep.
    let deep = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"v\": {}1{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let answer = server
        .request(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json")],
            deep.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 400, "{:?}", answer.json());
    still_answers(&server).await;
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    let server = start().await;
    let body = format!(
        "{{\"query\": \"{{ a }}\", \"x\": \"{}\"}}",
        "x".repeat(3 << 20)
    );
    let answer = server
        .request(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 413);
    still_answers(&server).await;
}

#[tokio::test]
async fn storage_paths_cannot_leave_the_store() {
    let server = start().await;
    std::fs::write(server.dir.join("outside"), "TOP-SECRET-CONTENT")
        .unwrap_or_else(|e| panic!("{e}"));
    for path in [
        "/api/storage/object/..%2Foutside",
        "/api/storage/object/..%2F..%2Fsecret_key",
        "/api/storage/object/%2E%2E",
        "/api/storage/object/.hidden",
        "/api/storage/object/a%00b",
        "/api/storage/object/..",
        "/api/storage/object/%2Fetc%2Fpasswd",
    ] {
        let answer = server
            .request("GET", path, &[("X-INFRAHUB-KEY", ADMIN_TOKEN)], b"")
            .await;
        assert!(
            matches!(answer.status, 400 | 404),
            "{path}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        assert!(!String::from_utf8_lossy(&answer.body).contains("TOP-SECRET-CONTENT"));
    }
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    use base64::Engine as _;
    let server = start().await;
    let admin_id = server.id_of("CoreAccount", "admin").await;
    let b64 =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let claims = |kind: &str, exp: i64| {
        json!({"sub": admin_id, "iat": now, "nbf": now, "exp": exp, "fresh": false,
               "type": kind, "session_id": uuid::Uuid::new_v4().to_string()})
    };
    let sign = |secret: &[u8], claims: &Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("access", now + 600))
    );
    let wrong_key = sign(
        b"another-secret-key-of-32-bytes-length",
        &claims("access", now + 600),
    );
    let expired = sign(SECRET, &claims("access", now - 60));
    let refresh_as_access = sign(SECRET, &claims("refresh", now + 600));
    // Right key and type, but a session that does not exist.
    let no_session = sign(SECRET, &claims("access", now + 600));
    for (name, token, message) in [
        ("alg none", alg_none.as_str(), "Invalid token"),
        ("wrong key", &wrong_key, "Invalid token"),
        ("expired", &expired, "Expired Signature"),
        (
            "refresh as access",
            &refresh_as_access,
            "not an access token",
        ),
        ("no session", &no_session, "closed"),
        ("garbage", "a.b.c", "Invalid token"),
    ] {
        let answer = server
            .gql_as(
                "/graphql",
                r#"mutation { BuiltinTagCreate(data: {name: {value: "forged"}}) { ok } }"#,
                Auth::Bearer(token),
            )
            .await;
        assert_eq!(answer.status, 401, "{name}");
        assert!(
            answer.message().contains(message),
            "{name}: {}",
            answer.message()
        );
    }
    let tags = server.graphql("{ BuiltinTag { count } }", true).await;
    assert_eq!(tags.json()["data"]["BuiltinTag"]["count"], 0);
}

#[tokio::test]
async fn pool_requests_are_checked_and_a_refused_one_writes_nothing() {
    let server = start().await;
    server
        .load_schema(&json!({"schemas": [{
            "version": "1.0",
            "nodes": [
                {"name": "Prefix", "namespace": "Lab", "inherit_from": ["BuiltinIPPrefix"]},
                {"name": "Vlan", "namespace": "Lab",
                 "attributes": [{"name": "name", "kind": "Text", "unique": true},
                                {"name": "vlan_id", "kind": "Number", "optional": true}]}
            ]
        }]}))
        .await;
    let container = server
        .admin(r#"mutation { LabPrefixCreate(data: {prefix: {value: "10.0.0.0/16"}, member_type: {value: "prefix"}}) { object { id } } }"#)
        .await["LabPrefixCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = server.id_of("IpamNamespace", "default").await;
    let pool = server
        .admin(&format!(r#"mutation {{ CoreIPPrefixPoolCreate(data: {{name: {{value: "lab"}}, default_prefix_length: {{value: 24}}, default_prefix_type: {{value: "LabPrefix"}}, resources: [{{id: "{container}"}}], ip_namespace: {{id: "{namespace}"}}}}) {{ object {{ id }} }} }}"#))
        .await["CoreIPPrefixPoolCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let count = || async {
        server.admin(r#"{ LabPrefix { count } }"#).await["LabPrefix"]["count"]
            .as_i64()
            .unwrap_or(-1)
    };
    let before = count().await;
    let get = |data: &str| {
        format!(
            r#"mutation {{ InfrahubIPPrefixPoolGetResource(data: {data}) {{ ok node {{ id }} }} }}"#
        )
    };

    // Without credentials: refused before anything runs.
    let anonymous = server
        .gql_as(
            "/graphql",
            &get(&format!(r#"{{id: "{pool}"}}"#)),
            Auth::Anonymous,
        )
        .await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.json());
    // Malformed and unbounded inputs: clear errors.
    let long = "x".repeat(600);
    for (data, words) in [
        (
            format!(r#"{{id: "{pool}", identifier: "{long}"}}"#),
            "at most 512",
        ),
        (
            format!(r#"{{id: "{pool}", member_type: "bogus"}}"#),
            "Invalid member_type",
        ),
        (
            format!(r#"{{id: "{pool}", prefix_length: 999}}"#),
            "No more resources available",
        ),
        (r#"{id: "no-such-pool"}"#.to_string(), "not found"),
        (
            format!(r#"{{id: "{pool}", prefix_type: "LabVlan"}}"#),
            "is not an IP prefix kind",
        ),
        (
            format!(r#"{{id: "{pool}", data: {{nothing: 1}}}}"#),
            "`nothing` is not a field of LabPrefix",
        ),
    ] {
        let answer = server.gql_as("/graphql", &get(&data), Auth::Admin).await;
        assert!(
            answer.message().contains(words),
            "{words}: {:?}",
            answer.json()
        );
    }
    // An account that may not create prefixes.
    server.account("viewer").await;
    let viewer = server.access_token("viewer").await;
    let users = server.id_of("CoreAccountGroup", "Infrahub Users").await;
    let viewer_id = server.id_of("CoreAccount", "viewer").await;
    server
        .admin(&format!(r#"mutation {{ RelationshipAdd(data: {{id: "{users}", name: "members", nodes: [{{id: "{viewer_id}"}}]}}) {{ ok }} }}"#))
        .await;
    server
        .admin(r#"mutation { BranchCreate(data: {name: "viewer-branch"}) { ok } }"#)
        .await;
    let denied_create = server
        .admin(r#"mutation { CoreObjectPermissionCreate(data: {namespace: {value: "Lab"}, name: {value: "Prefix"}, action: {value: "create"}, decision: {value: 1}}) { object { id } } }"#)
        .await["CoreObjectPermissionCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(r#"mutation {{ CoreAccountRoleCreate(data: {{name: {{value: "no-prefixes"}}, permissions: [{{id: "{denied_create}"}}]}}) {{ ok }} }}"#))
        .await;
    let role = server.id_of("CoreAccountRole", "no-prefixes").await;
    server
        .admin(&format!(r#"mutation {{ CoreAccountGroupCreate(data: {{name: {{value: "no-prefixes"}}, roles: [{{id: "{role}"}}], members: [{{id: "{viewer_id}"}}]}}) {{ ok }} }}"#))
        .await;
    let refused = server
        .gql_as(
            "/graphql/viewer-branch",
            &get(&format!(r#"{{id: "{pool}"}}"#)),
            Auth::Bearer(&viewer),
        )
        .await;
    assert!(
        refused.message().contains("object:Lab:Prefix:create"),
        "{:?}",
        refused.json()
    );
    // On the default branch, editing it is needed first.
    let on_main = server
        .gql_as(
            "/graphql",
            &get(&format!(r#"{{id: "{pool}"}}"#)),
            Auth::Bearer(&viewer),
        )
        .await;
    assert_eq!(on_main.status, 403, "{:?}", on_main.json());
    assert_eq!(count().await, before, "nothing was written");
    let branch_count = server
        .gql_as(
            "/graphql/viewer-branch",
            r#"{ LabPrefix { count } }"#,
            Auth::Admin,
        )
        .await;
    assert_eq!(
        branch_count.json()["data"]["LabPrefix"]["count"],
        json!(before)
    );

    // `from_pool` must be an object naming a pool.
    for value in [r#""text""#, r#"{identifier: "a"}"#] {
        let answer = server
            .gql_as(
                "/graphql",
                &format!(r#"mutation {{ LabVlanCreate(data: {{name: {{value: "v"}}, vlan_id: {{from_pool: {value}}}}}) {{ ok }} }}"#),
                Auth::Admin,
            )
            .await;
        assert!(
            !answer.json()["errors"].is_null(),
            "{value}: {:?}",
            answer.json()
        );
    }
    let vlans = server.admin(r#"{ LabVlan { count } }"#).await;
    assert_eq!(vlans["LabVlan"]["count"], json!(0));
    // The helpers refuse what is not a prefix.
    let answer = server
        .gql_as(
            "/graphql",
            &format!(
                r#"{{ InfrahubIPPrefixGetNextAvailable(prefix_id: "{namespace}") {{ prefix }} }}"#
            ),
            Auth::Admin,
        )
        .await;
    assert!(
        answer.message().contains("Unable to find"),
        "{:?}",
        answer.json()
    );
    // The reports: an unknown pool is an error, a negative page is an empty page.
    let answer = server
        .gql_as(
            "/graphql",
            r#"{ InfrahubResourcePoolUtilization(pool_id: "nothing") { count } }"#,
            Auth::Admin,
        )
        .await;
    assert!(
        answer.message().contains("not found"),
        "{:?}",
        answer.json()
    );
    let answer = server
        .gql_as(
            "/graphql",
            &format!(r#"{{ InfrahubResourcePoolAllocated(pool_id: "{pool}", resource_id: "{container}", limit: -5, offset: -3) {{ count edges {{ node {{ id }} }} }} }}"#),
            Auth::Admin,
        )
        .await;
    assert!(answer.json()["errors"].is_null(), "{:?}", answer.json());
    assert_eq!(
        answer.json()["data"]["InfrahubResourcePoolAllocated"]["edges"],
        json!([])
    );
}

#[tokio::test]
async fn conversions_and_query_reports_are_checked_and_a_refused_conversion_writes_nothing() {
    let server = start().await;
    server
        .load_schema(&json!({"schemas": [{
            "version": "1.0",
            "nodes": [
                {"name": "Vlan", "namespace": "Lab",
                 "attributes": [{"name": "name", "kind": "Text", "unique": true}]},
                {"name": "Segment", "namespace": "Lab",
                 "attributes": [{"name": "name", "kind": "Text", "unique": true},
                                {"name": "size", "kind": "Number"}]}
            ]
        }]}))
        .await;
    let vlan = server
        .admin(r#"mutation { LabVlanCreate(data: {name: {value: "v1"}}) { object { id } } }"#)
        .await["LabVlanCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let counts = || async {
        let answer = server
            .admin(r#"{ LabVlan { count } LabSegment { count } }"#)
            .await;
        (
            answer["LabVlan"]["count"].as_i64().unwrap_or(-1),
            answer["LabSegment"]["count"].as_i64().unwrap_or(-1),
        )
    };
    let convert = |mapping: &str| {
        format!(
            r#"mutation {{ ConvertObjectType(data: {{node_id: "{vlan}", target_kind: "LabSegment", fields_mapping: {mapping}}}) {{ ok node }} }}"#
        )
    };
    let anonymous = server
        .gql_as(
            "/graphql",
            &convert(r#"{size: {data: {attribute_value: 1}}}"#),
            Auth::Anonymous,
        )
        .await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.json());
    for (mapping, words) in [
        (
            r#""not a dict""#,
            "Expected `fields_mapping` to be a `dict`",
        ),
        (
            r#"{size: {source_field: "name", use_default_value: true}}"#,
            "exactly one of `source_field`, `data` or `use_default_value`",
        ),
        (
            r#"{size: {data: {attribute_value: 1, peer_id: "x"}}}"#,
            "exactly one of `attribute_value`",
        ),
        (
            r#"{nope: {data: {attribute_value: 1}}}"#,
            "has no field `nope`",
        ),
        (r#"{}"#, "size is mandatory for LabSegment"),
        (
            r#"{size: {data: {peer_id: "x"}}}"#,
            "is an attribute: give `attribute_value`",
        ),
    ] {
        let answer = server
            .gql_as("/graphql", &convert(mapping), Auth::Admin)
            .await;
        assert!(
            answer.message().contains(words),
            "{words}: {:?}",
            answer.json()
        );
    }
    assert_eq!(counts().await, (1, 0), "nothing written");
    // An account that may not delete VLANs cannot convert one (on a branch: the default
    // branch is refused to it anyway).
    server.account("converter").await;
    let token = server.access_token("converter").await;
    let account = server.id_of("CoreAccount", "converter").await;
    let users = server.id_of("CoreAccountGroup", "Infrahub Users").await;
    server
        .admin(&format!(r#"mutation {{ RelationshipAdd(data: {{id: "{users}", name: "members", nodes: [{{id: "{account}"}}]}}) {{ ok }} }}"#))
        .await;
    server
        .admin(r#"mutation { BranchCreate(data: {name: "conv-branch"}) { ok } }"#)
        .await;
    let denied = server
        .admin(r#"mutation { CoreObjectPermissionCreate(data: {namespace: {value: "Lab"}, name: {value: "Vlan"}, action: {value: "delete"}, decision: {value: 1}}) { object { id } } }"#)
        .await["CoreObjectPermissionCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .admin(&format!(r#"mutation {{ CoreAccountRoleCreate(data: {{name: {{value: "no-vlan-delete"}}, permissions: [{{id: "{denied}"}}]}}) {{ ok }} }}"#))
        .await;
    let role = server.id_of("CoreAccountRole", "no-vlan-delete").await;
    server
        .admin(&format!(r#"mutation {{ CoreAccountGroupCreate(data: {{name: {{value: "no-vlan-delete"}}, roles: [{{id: "{role}"}}], members: [{{id: "{account}"}}]}}) {{ ok }} }}"#))
        .await;
    let refused = server
        .gql_as(
            "/graphql/conv-branch",
            &convert(r#"{size: {data: {attribute_value: 1}}}"#),
            Auth::Bearer(&token),
        )
        .await;
    assert!(
        refused.message().contains("object:Lab:Vlan:delete"),
        "{:?}",
        refused.json()
    );
    assert_eq!(counts().await, (1, 0), "nothing written");
    // The admin converts it: the name carried over, the size given.
    let done = server
        .admin(&convert(r#"{size: {data: {attribute_value: 24}}}"#))
        .await;
    assert_eq!(done["ConvertObjectType"]["ok"], json!(true));
    assert_eq!(
        done["ConvertObjectType"]["node"]["name"]["value"],
        json!("v1")
    );
    assert_eq!(counts().await, (0, 1));

    // Query reports: a broken or oversized query is a clear error.
    let report = |query: &str| {
        format!(
            r#"query {{ InfrahubGraphQLQueryReport(query: {}) {{ targets_unique_nodes }} }}"#,
            serde_json::to_string(query).unwrap_or_default()
        )
    };
    let broken = server
        .gql_as("/graphql", &report("{ LabVlan("), Auth::Admin)
        .await;
    assert!(
        broken.message().contains("does not parse"),
        "{:?}",
        broken.json()
    );
    let unique = server
        .admin(&report(
            "query($n: String!) { LabSegment(name__value: $n) { count } }",
        ))
        .await;
    assert_eq!(
        unique["InfrahubGraphQLQueryReport"]["targets_unique_nodes"],
        json!(true)
    );
    let all = server.admin(&report("{ LabSegment { count } }")).await;
    assert_eq!(
        all["InfrahubGraphQLQueryReport"]["targets_unique_nodes"],
        json!(false)
    );
}

/// A GraphQL multipart request (the SDK's file upload): `query` with its `file` variable
/// bound to `content` named `name`.
fn upload_body(query: &str, content: &[u8], name: &str) -> (String, Vec<u8>) {
    let boundary = "----infrahub-test-boundary";
    let operations = json!({"query": query, "variables": {"file": null}}).to_string();
    let mut body = Vec::new();
    for (part, value) in [
        ("operations", operations.as_str()),
        ("map", r#"{"0": ["variables.file"]}"#),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts `query` with `content` as its `file` (as the admin, or without credentials).
async fn upload(
    server: &Server,
    query: &str,
    content: &[u8],
    name: &str,
    auth: Auth<'_>,
) -> Answer {
    let (content_type, body) = upload_body(query, content, name);
    let mut headers = vec![("Content-Type", content_type.as_str())];
    if matches!(auth, Auth::Admin) {
        headers.push(("X-INFRAHUB-KEY", ADMIN_TOKEN));
    }
    server.request("POST", "/graphql", &headers, &body).await
}

/// Gets `path` as the admin.
async fn download(server: &Server, path: String) -> Answer {
    server
        .request("GET", &path, &[("X-INFRAHUB-KEY", ADMIN_TOKEN)], b"")
        .await
}

#[tokio::test]
async fn files_are_checked_on_upload_and_download_and_a_refused_write_keeps_nothing() {
    let server = start().await;
    server
        .load_schema(&json!({"schemas": [{
            "version": "1.0",
            "nodes": [
                {"name": "Contract", "namespace": "Lab", "inherit_from": ["CoreFileObject"],
                 "human_friendly_id": ["reference__value"],
                 "attributes": [{"name": "reference", "kind": "Text", "unique": true}]},
                {"name": "Note", "namespace": "Lab",
                 "attributes": [{"name": "name", "kind": "Text", "unique": true}]}
            ]
        }]}))
        .await;
    let storage = server.dir.join("storage");
    let stored = || {
        std::fs::read_dir(&storage)
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    let create = |reference: &str| {
        format!(
            r#"mutation($file: Upload) {{ LabContractCreate(data: {{reference: {{value: "{reference}"}}}}, file: $file) {{ ok object {{ id }} }} }}"#
        )
    };
    // Without credentials: refused, nothing stored.
    let anonymous = upload(
        &server,
        &create("c0"),
        b"%PDF-1.4 x",
        "c0.pdf",
        Auth::Anonymous,
    )
    .await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.json());
    assert_eq!(stored(), 0);
    // A write refused after the upload (the unique reference taken) keeps nothing.
    let first = upload(
        &server,
        &create("c1"),
        b"%PDF-1.4 one",
        "one.pdf",
        Auth::Admin,
    )
    .await;
    let id = first.json()["data"]["LabContractCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "{:?}", first.json());
    assert_eq!(stored(), 1);
    let twice = upload(
        &server,
        &create("c1"),
        b"%PDF-1.4 two",
        "two.pdf",
        Auth::Admin,
    )
    .await;
    assert!(!twice.message().is_empty(), "{:?}", twice.json());
    assert_eq!(stored(), 1, "the refused write's content is removed");
    // File attributes are the server's: read-only by hand, no file on a kind without one.
    let by_hand = upload(
        &server,
        r#"mutation($file: Upload) { LabContractCreate(data: {reference: {value: "c2"}, storage_id: {value: "x"}}, file: $file) { ok } }"#,
        b"x",
        "x.txt",
        Auth::Admin,
    )
    .await;
    assert!(!by_hand.message().is_empty(), "{:?}", by_hand.json());
    let no_file_kind = upload(
        &server,
        r#"mutation($file: Upload) { LabNoteCreate(data: {name: {value: "n"}}, file: $file) { ok } }"#,
        b"x",
        "x.txt",
        Auth::Admin,
    )
    .await;
    assert!(
        no_file_kind.message().contains("file"),
        "{:?}",
        no_file_kind.json()
    );
    assert_eq!(stored(), 1);
    // A JSON body larger than documents need is refused.
    let huge = vec![b' '; 3 * 1024 * 1024];
    let too_large = server
        .request(
            "POST",
            "/graphql",
            &[
                ("Content-Type", "application/json"),
                ("X-INFRAHUB-KEY", ADMIN_TOKEN),
            ],
            &huge,
        )
        .await;
    assert_eq!(too_large.status, 413);
    // So is an upload declaring more than a 50 MB file, before any of it is read.
    let mut stream = TcpStream::connect(server.address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-INFRAHUB-KEY: {ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        60 * 1024 * 1024
    );
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = read_answer(&mut stream).await;
    assert_eq!(refused.status, 413);
    assert_eq!(stored(), 1);

    // Downloads: the content with its type and name; clear errors otherwise.
    let got = download(&server, format!("/api/storage/files/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"%PDF-1.4 one");
    assert_eq!(got.header("content-type"), Some("application/pdf"));
    assert!(
        got.header("content-disposition")
            .is_some_and(|v| v.contains("one.pdf")),
        "{:?}",
        got.headers
    );
    let by_hfid = download(
        &server,
        "/api/storage/files/by-hfid/LabContract?hfid=c1".into(),
    )
    .await;
    assert_eq!(by_hfid.body, b"%PDF-1.4 one");
    for (path, status) in [
        ("/api/storage/files/not-an-id".to_string(), 400),
        (format!("/api/storage/files/{}", uuid::Uuid::new_v4()), 404),
        ("/api/storage/files/by-hfid/LabNote?hfid=n".to_string(), 400),
        ("/api/storage/files/by-hfid/LabContract".to_string(), 400),
        (
            "/api/storage/files/by-storage-id/nothing-here".to_string(),
            404,
        ),
        (format!("/api/storage/files/{id}?branch=nope"), 400),
    ] {
        let answer = download(&server, path.clone()).await;
        assert_eq!(answer.status, status, "{path}: {:?}", answer.json());
    }
    // Anonymous reads follow the anonymous role; without access the server refuses.
    let closed = start_with(|s| s.main.allow_anonymous_access = false).await;
    let refused = closed
        .request("GET", &format!("/api/storage/files/{id}"), &[], b"")
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.json());
}
