//! The REST API and authentication, driven through the real router on a real engine (embedded
//! graph store and local object store in a temporary directory).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, NodeRef, PeerInput, RelationshipInput,
};
use infrahub_server::app::{AppState, router};
use infrahub_server::auth::{Claims, EXPIRED_SIGNATURE, TokenType, encode_token};
use infrahub_server::config::{Secret, Settings};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";
const SECRET: &[u8] = b"test-secret-key-of-at-least-32-bytes!";

/// A server on a fresh data directory, removed on drop.
struct TestServer {
    state: Arc<AppState>,
    app: Router,
    dir: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("infrahub-rest-{}", uuid::Uuid::new_v4()))
}

/// Builds the engine directly to use a low bcrypt cost.
async fn server_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
    server_with_engine(configure, |_| {}).await
}

async fn server_with_engine(
    configure: impl FnOnce(&mut Settings),
    engine_options: impl FnOnce(&mut EngineOptions),
) -> TestServer {
    let dir = temp_dir();
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    configure(&mut settings);
    let store = infrahub_graph::connect(&infrahub_graph::GraphConfig::Embedded {
        path: dir.join("graph"),
    })
    .await
    .unwrap();
    let mut options = EngineOptions {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    engine_options(&mut options);
    let engine = Engine::open(store, options).await.unwrap();
    let objects =
        object_store::local::LocalFileSystem::new_with_prefix(dir.join("storage")).unwrap();
    let state = AppState::new(
        settings,
        "test-deployment".to_string(),
        Arc::new(engine),
        SECRET.to_vec(),
        Arc::new(objects),
    );
    state.mark_ready();
    let app = router(Arc::clone(&state));
    TestServer { state, app, dir }
}

async fn server() -> TestServer {
    server_with(|_| {}).await
}

/// A server that refuses anonymous reads.
async fn private_server() -> TestServer {
    server_with(|settings| settings.main.allow_anonymous_access = false).await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    /// The first error message of an envelope.
    fn message(&self) -> String {
        self.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl TestServer {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            bytes,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, uri, headers, None).await
    }

    async fn post(&self, uri: &str, headers: &[(&str, &str)], body: Value) -> Answer {
        self.call(Method::POST, uri, headers, Some(body)).await
    }

    async fn login(&self) -> (String, String) {
        let answer = self
            .post(
                "/api/auth/login",
                &[],
                json!({"username": "admin", "password": "infrahub"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
        let body = answer.json();
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    async fn admin_id(&self) -> String {
        let args = infrahub_core::engine::QueryArgs {
            filters: [("name__value".to_string(), json!("admin"))].into(),
            ..Default::default()
        };
        let (nodes, _) = self
            .state
            .engine
            .query(
                &infrahub_graph::BranchView::now("main"),
                "CoreAccount",
                &args,
                &infrahub_core::engine::Fields::minimal(),
            )
            .await
            .unwrap();
        nodes[0].id.to_string()
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn two_kind_schema() -> Value {
    json!({"schemas": [{
        "version": "1.0",
        "nodes": [
            {"name": "Site", "namespace": "Test", "human_friendly_id": ["name__value"],
             "include_in_menu": true,
             "attributes": [{"name": "name", "kind": "Text", "unique": true}]},
            {"name": "Device", "namespace": "Test", "human_friendly_id": ["name__value"],
             "menu_placement": "TestSite", "include_in_menu": true,
             "attributes": [{"name": "name", "kind": "Text", "unique": true}],
             "relationships": [{"name": "site", "peer": "TestSite", "cardinality": "one",
                                "optional": true}]}
        ]
    }]})
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn login_returns_tokens_and_cookies_that_authenticate() {
    let server = private_server().await;
    let answer = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "admin", "password": "infrahub"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].as_str().is_some());
    let cookies: Vec<&str> = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("access_token={access};"))
                && c.contains("HttpOnly")
                && c.contains("Max-Age=3600"))
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("refresh_token=") && c.contains("Max-Age=2592000"))
    );
    // Anonymous reads are refused on this server; the token and the cookie both work.
    let anonymous = server.get("/api/schema/summary", &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.message(), "Authentication is required");
    let header_auth = server
        .get("/api/schema/summary", &[("authorization", &bearer(access))])
        .await;
    assert_eq!(header_auth.status, StatusCode::OK);
    let cookie = format!("access_token={access}");
    let cookie_auth = server
        .get("/api/schema/summary", &[("cookie", &cookie)])
        .await;
    assert_eq!(cookie_auth.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_credentials_are_refused_with_upstream_answers() {
    let server = server().await;
    let wrong = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "admin", "password": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json(),
        json!({"data": null, "errors": [{"message": "Incorrect password", "extensions": {"code": 401}}]})
    );
    let unknown = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "ghost", "password": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.message(),
        "That login user doesn't exist in the system"
    );
    let missing = server
        .post("/api/auth/login", &[], json!({"username": "admin"}))
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        missing.json()["detail"],
        json!([{"type": "missing", "loc": ["body", "password"], "msg": "Field required",
                "input": {"username": "admin"}}])
    );
    let no_body = server
        .call(Method::POST, "/api/auth/login", &[], None)
        .await;
    assert_eq!(no_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_body.json()["detail"][0]["loc"], json!(["body"]));
    let not_json = server
        .send(
            Request::post("/api/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{bad"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_json.json()["detail"][0]["type"], "json_invalid");
}

#[tokio::test]
async fn an_inactive_account_cannot_sign_in() {
    let server = server().await;
    let mut input = NodeInput::default();
    for (name, value) in [
        ("name", "bob"),
        ("password", "secret"),
        ("status", "inactive"),
    ] {
        input
            .attributes
            .insert(name.to_string(), AttributeInput::value(json!(value)));
    }
    server
        .state
        .engine
        .create("main", "CoreAccount", input)
        .await
        .unwrap();
    let answer = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "bob", "password": "secret"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "This account is not allowed to login");
}

#[tokio::test]
async fn loading_a_schema_needs_the_manage_schema_permission() {
    let server = server().await;
    let mut input = NodeInput::default();
    for (name, value) in [("name", "carol"), ("password", "secret")] {
        input
            .attributes
            .insert(name.to_string(), AttributeInput::value(json!(value)));
    }
    server
        .state
        .engine
        .create("main", "CoreAccount", input)
        .await
        .unwrap();
    let login = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "carol", "password": "secret"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let load = server
        .post(
            "/api/schema/load",
            &[("authorization", &bearer(&token))],
            two_kind_schema(),
        )
        .await;
    assert_eq!(load.status, StatusCode::FORBIDDEN);
    assert_eq!(load.message(), "You are not allowed to manage the schema");
    // Checking changes nothing and needs no permission, as upstream.
    let check = server
        .post(
            "/api/schema/check",
            &[("authorization", &bearer(&token))],
            two_kind_schema(),
        )
        .await;
    assert_eq!(check.status, StatusCode::ACCEPTED);
    // Without super_admin, the Admin menu section is hidden.
    let menu = server
        .get("/api/menu", &[("authorization", &bearer(&token))])
        .await
        .json();
    assert!(!identifiers(&menu["sections"]["internal"]).contains(&"BuiltinAdmin".to_string()));
}

#[tokio::test]
async fn refresh_issues_a_new_access_token_and_logout_revokes_the_session() {
    let server = private_server().await;
    let (access, refresh) = server.login().await;
    let refreshed = server
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("authorization", &bearer(&refresh))],
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let new_access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        refreshed
            .headers
            .get(header::SET_COOKIE)
            .is_some_and(|c| c.to_str().unwrap().starts_with("access_token="))
    );
    let works = server
        .get(
            "/api/schema/summary",
            &[("authorization", &bearer(&new_access))],
        )
        .await;
    assert_eq!(works.status, StatusCode::OK);

    // An access token is not a refresh token, and the other way round.
    let wrong_type = server
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("authorization", &bearer(&access))],
            None,
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_type.message(),
        "Invalid token, current token is not a refresh token"
    );
    let refresh_as_access = server
        .get(
            "/api/schema/summary",
            &[("authorization", &bearer(&refresh))],
        )
        .await;
    assert_eq!(refresh_as_access.status, StatusCode::UNAUTHORIZED);
    let none = server
        .call(Method::POST, "/api/auth/refresh", &[], None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    let logout = server
        .call(
            Method::POST,
            "/api/auth/logout",
            &[("authorization", &bearer(&access))],
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::OK);
    assert_eq!(logout.json(), Value::Null);
    let cleared: Vec<&str> = logout
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")) && cleared.len() == 2);
    let revoked = server
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("authorization", &bearer(&refresh))],
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        revoked.message(),
        "The provided refresh token has been invalidated in the database"
    );
    // The refresh cookie is accepted too (and is revoked as well).
    let cookie = format!("refresh_token={refresh}");
    let by_cookie = server
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(by_cookie.status, StatusCode::UNAUTHORIZED);
    let anonymous_logout = server
        .call(Method::POST, "/api/auth/logout", &[], None)
        .await;
    assert_eq!(anonymous_logout.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_access_token_answers_expired_signature() {
    let server = server().await;
    let mut claims = Claims::new(
        TokenType::Access,
        &server.admin_id().await,
        &uuid::Uuid::new_v4().to_string(),
        3600,
    );
    claims.iat -= 7200;
    claims.nbf -= 7200;
    claims.exp -= 7200;
    let token = encode_token(SECRET, &claims).unwrap();
    let answer = server
        .get("/api/schema", &[("authorization", &bearer(&token))])
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), EXPIRED_SIGNATURE);
    // A token signed with another key is invalid, even where anonymous reads are allowed.
    let claims = Claims::new(TokenType::Access, "someone", "session", 3600);
    let forged = encode_token(b"another-secret-key-of-32-bytes-or-more", &claims).unwrap();
    let answer = server
        .get("/api/schema", &[("authorization", &bearer(&forged))])
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Invalid token");
}

#[tokio::test]
async fn api_tokens_authenticate_until_they_expire_or_are_deleted() {
    let server = private_server().await;
    let ok = server
        .get("/api/schema/summary", &[("X-INFRAHUB-KEY", ADMIN_TOKEN)])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    // Served from the cache the second time; still the same answer.
    let again = server
        .get("/api/schema/summary", &[("x-infrahub-key", ADMIN_TOKEN)])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let unknown = server
        .get("/api/schema/summary", &[("X-INFRAHUB-KEY", "not-a-token")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.message(), "Invalid token");

    let admin = server.admin_id().await;
    let token = |name: &str, value: &str, expiration: &str| {
        let mut input = NodeInput::default();
        input
            .attributes
            .insert("name".into(), AttributeInput::value(json!(name)));
        input
            .attributes
            .insert("token".into(), AttributeInput::value(json!(value)));
        input.attributes.insert(
            "expiration".into(),
            AttributeInput::value(json!(expiration)),
        );
        input.relationships.insert(
            "account".into(),
            RelationshipInput::One(Some(PeerInput::id(admin.clone()))),
        );
        input
    };
    let engine = &server.state.engine;
    engine
        .create(
            "main",
            "InternalAccountToken",
            token("old", "expired-token", "2020-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let created = engine
        .create(
            "main",
            "InternalAccountToken",
            token("new", "valid-token", "2999-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let expired = server
        .get(
            "/api/schema/summary",
            &[("X-INFRAHUB-KEY", "expired-token")],
        )
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let valid = server
        .get("/api/schema/summary", &[("X-INFRAHUB-KEY", "valid-token")])
        .await;
    assert_eq!(valid.status, StatusCode::OK);
    // An upload records nothing about the caller, but needs one: the token is enough.
    let upload = server
        .post(
            "/api/storage/upload/content",
            &[("X-INFRAHUB-KEY", "valid-token")],
            json!({"content": "x"}),
        )
        .await;
    assert_eq!(upload.status, StatusCode::OK);

    engine
        .delete(
            "main",
            "InternalAccountToken",
            &NodeRef {
                id: Some(created.node.id.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap();
    // Checked credentials are remembered, but a deletion is seen by the very next request.
    let deleted = server
        .get("/api/schema/summary", &[("X-INFRAHUB-KEY", "valid-token")])
        .await;
    assert_eq!(deleted.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn writes_need_credentials_and_reads_follow_the_anonymous_setting() {
    let open = server().await;
    let read = open.get("/api/schema", &[]).await;
    assert_eq!(read.status, StatusCode::OK);
    for (uri, body) in [
        ("/api/schema/load", two_kind_schema()),
        ("/api/schema/check", two_kind_schema()),
        ("/api/storage/upload/content", json!({"content": "x"})),
        ("/api/query/anything", json!({})),
    ] {
        let answer = open.post(uri, &[], body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(answer.message(), "Authentication is required", "{uri}");
    }
    // Nothing was loaded.
    let kind = open.get("/api/schema/TestSite", &[]).await;
    assert_eq!(kind.status, StatusCode::UNPROCESSABLE_ENTITY);

    let private = private_server().await;
    for uri in [
        "/api/schema",
        "/api/schema/summary",
        "/api/schema/BuiltinTag",
        "/api/menu",
        "/api/storage/object/abc",
        "/api/query/anything",
        "/api/info",
        "/schema.graphql",
    ] {
        let answer = private.get(uri, &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // GraphQL reads too, whatever the branch.
    for uri in ["/graphql", "/graphql/main", "/graphql/no-such-branch"] {
        let answer = private
            .post(uri, &[], json!({"query": "{ CoreAccount { count } }"}))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            answer.message(),
            "Authentication is required to perform this operation"
        );
    }
    for uri in ["/api/config", "/api/openapi.json", "/health", "/ready"] {
        let answer = private.get(uri, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
    }
}

// ---------------------------------------------------------------------------------------------
// Schema

#[tokio::test]
async fn the_schema_is_served_whole_by_summary_and_by_kind() {
    let server = server().await;
    let schema = server.get("/api/schema", &[]).await;
    assert_eq!(schema.status, StatusCode::OK);
    let schema = schema.json();
    let main = schema["main"].as_str().unwrap().to_string();
    for key in ["nodes", "generics", "profiles", "templates", "namespaces"] {
        assert!(schema[key].is_array(), "{key}");
    }
    let kinds: Vec<&str> = schema["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"BuiltinTag"));
    assert!(!kinds.iter().any(|k| k.starts_with("Internal")));

    let filtered = server
        .get("/api/schema?namespaces=Builtin&namespaces=Ipam", &[])
        .await
        .json();
    assert!(
        filtered["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["namespace"] == "Builtin" || n["namespace"] == "Ipam")
    );

    let summary = server.get("/api/schema/summary", &[]).await.json();
    assert_eq!(summary["main"], main.as_str());
    assert!(summary["nodes"]["BuiltinTag"].is_string());
    assert!(summary["generics"]["CoreNode"].is_string());

    let tag = server.get("/api/schema/BuiltinTag?branch=main", &[]).await;
    assert_eq!(tag.status, StatusCode::OK);
    let tag = tag.json();
    assert_eq!(tag["kind"], "BuiltinTag");
    assert_eq!(tag["hash"], summary["nodes"]["BuiltinTag"]);
    let internal = server.get("/api/schema/InternalAccountToken", &[]).await;
    assert_eq!(internal.status, StatusCode::OK);
    let unknown = server.get("/api/schema/NopeKind", &[]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.message().contains("NopeKind"));
}

#[tokio::test]
async fn an_unknown_branch_is_a_bad_request() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = bearer(&access);
    for uri in [
        "/api/schema?branch=nope",
        "/api/schema/summary?branch=nope",
        "/api/schema/BuiltinTag?branch=nope",
        "/api/menu?branch=nope",
        "/api/query/anything?branch=nope",
    ] {
        let answer = server.get(uri, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(answer.message(), "branch `nope` not found", "{uri}");
    }
    let load = server
        .post(
            "/api/schema/load?branch=nope",
            &[("authorization", &auth)],
            two_kind_schema(),
        )
        .await;
    assert_eq!(load.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn loading_a_schema_twice_changes_it_once() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = bearer(&access);
    let before = server.get("/api/schema/summary", &[]).await.json()["main"].clone();
    let node_kinds = |schema: Value| -> Vec<String> {
        schema["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let old_schema = server.get("/api/schema", &[]).await.json();
    assert!(!node_kinds(old_schema).contains(&"TestDevice".to_string()));
    let first = server
        .post(
            "/api/schema/load",
            &[("authorization", &auth)],
            two_kind_schema(),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json());
    let first = first.json();
    assert_eq!(first["previous_hash"], before);
    assert_ne!(first["hash"], first["previous_hash"]);
    assert_eq!(first["schema_updated"], true);
    let added: Vec<&String> = first["diff"]["added"].as_object().unwrap().keys().collect();
    assert_eq!(added, ["TestDevice", "TestSite"]);
    assert!(first["diff"]["changed"].is_object() && first["diff"]["removed"].is_object());

    let device = server.get("/api/schema/TestDevice", &[]).await;
    assert_eq!(device.status, StatusCode::OK);
    // Rendered documents are not served stale after a load.
    let new_schema = server.get("/api/schema", &[]).await.json();
    assert_eq!(new_schema["main"], first["hash"]);
    assert!(node_kinds(new_schema).contains(&"TestDevice".to_string()));
    assert_eq!(
        server.get("/api/schema/summary", &[]).await.json()["main"],
        first["hash"]
    );

    let second = server
        .post(
            "/api/schema/load?branch=main",
            &[("authorization", &auth)],
            two_kind_schema(),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    let second = second.json();
    assert_eq!(second["hash"], second["previous_hash"]);
    assert_eq!(second["hash"], first["hash"]);
    assert_eq!(second["schema_updated"], false);
}

#[tokio::test]
async fn checking_a_schema_reports_the_diff_or_the_problems_and_changes_nothing() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = bearer(&access);
    let before = server.get("/api/schema/summary", &[]).await.json()["main"].clone();

    let valid = server
        .post(
            "/api/schema/check",
            &[("authorization", &auth)],
            two_kind_schema(),
        )
        .await;
    assert_eq!(valid.status, StatusCode::ACCEPTED);
    assert!(valid.json()["diff"]["added"]["TestSite"].is_object());
    assert_eq!(
        server.get("/api/schema/TestSite", &[]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let unknown_peer = json!({"schemas": [{"version": "1.0", "nodes": [
        {"name": "Device", "namespace": "Test",
         "attributes": [{"name": "name", "kind": "Text"}],
         "relationships": [{"name": "site", "peer": "TestNowhere", "cardinality": "one"}]}]}]});
    let answer = server
        .post(
            "/api/schema/check",
            &[("authorization", &auth)],
            unknown_peer,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.message().contains("TestNowhere"),
        "{}",
        answer.json()
    );
    assert_eq!(answer.json()["errors"][0]["extensions"]["code"], 422);

    let bad_kind = json!({"schemas": [{"version": "1.0", "nodes": [
        {"name": "Device", "namespace": "Test",
         "attributes": [{"name": "name", "kind": "Bogus"}]}]}]});
    let answer = server
        .post("/api/schema/load", &[("authorization", &auth)], bad_kind)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = &answer.json()["detail"][0];
    let loc = detail["loc"].as_array().unwrap();
    assert_eq!(
        loc[..5],
        json!(["body", "schemas", 0, "nodes", 0])
            .as_array()
            .unwrap()[..]
    );

    let restricted = json!({"schemas": [{"version": "1.0", "nodes": [
        {"name": "Thing", "namespace": "Core", "attributes": [{"name": "name", "kind": "Text"}]}]}]});
    let answer = server
        .post("/api/schema/load", &[("authorization", &auth)], restricted)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.message().contains("restricted namespace"),
        "{}",
        answer.json()
    );

    let no_version = server
        .post(
            "/api/schema/check",
            &[("authorization", &auth)],
            json!({"schemas": [{"nodes": []}]}),
        )
        .await;
    assert_eq!(no_version.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        no_version.json()["detail"][0]["loc"],
        json!(["body", "schemas", 0, "version"])
    );
    assert_eq!(
        server.get("/api/schema/summary", &[]).await.json()["main"],
        before
    );
}

// ---------------------------------------------------------------------------------------------
// Storage

#[tokio::test]
async fn uploaded_content_can_be_read_back() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = bearer(&access);
    let upload = server
        .post(
            "/api/storage/upload/content",
            &[("authorization", &auth)],
            json!({"content": "abc"}),
        )
        .await;
    assert_eq!(upload.status, StatusCode::OK);
    let upload = upload.json();
    assert_eq!(upload["checksum"], "900150983cd24fb0d6963f7d28e17f72");
    let identifier = upload["identifier"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(identifier).is_ok());
    let object = server
        .get(&format!("/api/storage/object/{identifier}"), &[])
        .await;
    assert_eq!(object.status, StatusCode::OK);
    assert_eq!(object.bytes, b"abc");

    let missing = server
        .get(
            "/api/storage/object/0190a6e1-7c1a-7c3e-8000-0123456789ab",
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["errors"][0]["extensions"]["code"], 404);
    let escape = server
        .get("/api/storage/object/..%2F..%2Fsecret_key", &[])
        .await;
    assert_eq!(escape.status, StatusCode::BAD_REQUEST);

    let wrong_type = server
        .post(
            "/api/storage/upload/content",
            &[("authorization", &auth)],
            json!({"content": 5}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.json()["detail"][0]["type"], "string_type");
}

#[tokio::test]
async fn uploaded_files_can_be_read_back() {
    let server = server().await;
    let (access, _) = server.login().await;
    let boundary = "X-BOUNDARY";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello file\r\n--{boundary}--\r\n"
    );
    let answer = server
        .send(
            Request::post("/api/storage/upload/file")
                .header("authorization", bearer(&access))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(multipart))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let identifier = answer.json()["identifier"].as_str().unwrap().to_string();
    let object = server
        .get(&format!("/api/storage/object/{identifier}"), &[])
        .await;
    assert_eq!(object.bytes, b"hello file");

    let no_file = server
        .post(
            "/api/storage/upload/file",
            &[("authorization", &bearer(&access))],
            json!({}),
        )
        .await;
    assert_eq!(no_file.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_file.json()["detail"][0]["loc"], json!(["body", "file"]));
}

// ---------------------------------------------------------------------------------------------
// Stored queries

async fn store_query(server: &TestServer, name: &str, query: &str) -> String {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(json!(name)));
    input
        .attributes
        .insert("query".into(), AttributeInput::value(json!(query)));
    let created = server
        .state
        .engine
        .create("main", "CoreGraphQLQuery", input)
        .await
        .unwrap();
    created.node.id.to_string()
}

#[tokio::test]
async fn unknown_stored_queries_are_not_found() {
    let server = server().await;
    let (access, _) = server.login().await;
    let get = server.get("/api/query/nope", &[]).await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    assert!(get.message().contains("nope"));
    let post = server
        .post(
            "/api/query/0190a6e1-7c1a-7c3e-8000-0123456789ab",
            &[("authorization", &bearer(&access))],
            json!({"variables": {}}),
        )
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    let bad_variables = server
        .post(
            "/api/query/nope",
            &[("authorization", &bearer(&access))],
            json!({"variables": 5}),
        )
        .await;
    assert_eq!(bad_variables.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_variables.json()["detail"][0]["type"], "dict_type");
    store_query(&server, "tags", "query { BuiltinTag { count } }").await;
    let bad_at = server.get("/api/query/tags?at=yesterday-ish", &[]).await;
    assert_eq!(bad_at.status, StatusCode::BAD_REQUEST);
    // Recording the answer's nodes in a group writes: anonymous callers are refused.
    let group = server.get("/api/query/tags?update_group=true", &[]).await;
    assert_eq!(group.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn update_group_records_the_answers_nodes_and_subscribers() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = [("authorization", bearer(&access))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut ids = Vec::new();
    for name in ["red", "blue", "green"] {
        let mut input = NodeInput::default();
        input
            .attributes
            .insert("name".into(), AttributeInput::value(json!(name)));
        let created = server
            .state
            .engine
            .create("main", "BuiltinTag", input)
            .await
            .unwrap();
        ids.push(created.node.id.to_string());
    }
    let query_id = store_query(
        &server,
        "tags-like",
        "query Tags($name: String) { BuiltinTag(name__value: $name) { edges { node { id name { id value } } } } }",
    )
    .await;
    // Two subscribers (tags stand in for artifacts).
    let url = format!(
        "/api/query/tags-like?name=red&update_group=true&subscribers={}&subscribers={}",
        ids[2], ids[0]
    );
    let answer = server.get(&url, &auth).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    let group_query = json!({"query": "{ CoreGraphQLQueryGroup { edges { node { name { value } label { value } group_type { value } parameters { value } query { node { id } } members { edges { node { id } } } subscribers { edges { node { id } } } } } } }"});
    let groups = server.post("/graphql", &auth, group_query.clone()).await;
    let edges = groups.json()["data"]["CoreGraphQLQueryGroup"]["edges"].clone();
    assert_eq!(edges.as_array().map(Vec::len), Some(1), "{edges}");
    let node = &edges[0]["node"];
    // The name hashes the variables as the SDK's dict_hash: md5('{"name":"red"}').
    assert_eq!(
        node["name"]["value"],
        "tags-like__2e04eee4444a1f8be5aba422f78fe0c6"
    );
    assert_eq!(node["label"]["value"], "Query tags-like Hash(2e04eee4)");
    assert_eq!(node["group_type"]["value"], "internal");
    assert_eq!(node["parameters"]["value"], json!({"name": "red"}));
    assert_eq!(node["query"]["node"]["id"], json!(query_id));
    // Only nodes are members: the attribute ids of the answer are not.
    assert_eq!(node["members"]["edges"], json!([{"node": {"id": ids[0]}}]));
    let mut subscribers: Vec<String> = node["subscribers"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", groups.json()))
        .iter()
        .map(|e| {
            e["node"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{e}"))
                .to_owned()
        })
        .collect();
    subscribers.sort();
    let mut expected = vec![ids[2].clone(), ids[0].clone()];
    expected.sort();
    assert_eq!(subscribers, expected);

    // Again with another subscriber: subscribers accumulate, members follow the answer.
    let url = format!(
        "/api/query/tags-like?name=red&update_group=true&subscribers={}",
        ids[1]
    );
    assert_eq!(server.get(&url, &auth).await.status, StatusCode::OK);
    let groups = server.post("/graphql", &auth, group_query.clone()).await;
    let node = &groups.json()["data"]["CoreGraphQLQueryGroup"]["edges"][0]["node"];
    assert_eq!(
        node["subscribers"]["edges"].as_array().map(Vec::len),
        Some(3)
    );

    // The same answer and subscribers again: the group already holds them, nothing is written.
    let before = server.state.engine.store().last_commit().await.unwrap();
    assert_eq!(server.get(&url, &auth).await.status, StatusCode::OK);
    assert_eq!(
        server.state.engine.store().last_commit().await.unwrap(),
        before
    );
    // A changed answer (the member renamed away) is written.
    let rename = |name: &'static str| {
        let input = NodeInput {
            id: Some(ids[0].clone()),
            attributes: [("name".to_owned(), AttributeInput::value(json!(name)))].into(),
            ..NodeInput::default()
        };
        let engine = &server.state.engine;
        async move { engine.update("main", "BuiltinTag", input).await.unwrap() }
    };
    rename("crimson").await;
    assert_eq!(server.get(&url, &auth).await.status, StatusCode::OK);
    let groups = server.post("/graphql", &auth, group_query.clone()).await;
    let node = &groups.json()["data"]["CoreGraphQLQueryGroup"]["edges"][0]["node"];
    assert_eq!(node["members"]["edges"], json!([]));
    rename("red").await;

    // An unknown subscriber is refused and changes nothing.
    let url = "/api/query/tags-like?name=red&update_group=true&subscribers=0190a6e1-7c1a-7c3e-8000-0123456789ab";
    let refused = server.get(url, &auth).await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    let groups = server.post("/graphql", &auth, group_query.clone()).await;
    let node = &groups.json()["data"]["CoreGraphQLQueryGroup"]["edges"][0]["node"];
    assert_eq!(
        node["subscribers"]["edges"].as_array().map(Vec::len),
        Some(3)
    );

    // Too many subscribers in one request.
    let many: String = (0..101).map(|i| format!("&subscribers=s{i}")).collect();
    let url = format!("/api/query/tags-like?update_group=true{many}");
    assert_eq!(
        server.get(&url, &auth).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// Needs the real GraphQL module (this worktree holds a placeholder that answers 501).
#[tokio::test]
async fn stored_queries_run_by_name_or_id_with_variables() {
    let server = server().await;
    let (access, _) = server.login().await;
    let id = store_query(
        &server,
        "tag-count",
        "query TagCount($name: String) { BuiltinTag(name__value: $name) { count } }",
    )
    .await;
    let by_name = server.get("/api/query/tag-count?name=red", &[]).await;
    assert_eq!(by_name.status, StatusCode::OK, "{}", by_name.json());
    assert_eq!(
        by_name.json(),
        json!({"data": {"BuiltinTag": {"count": 0}}})
    );
    let by_id = server
        .post(
            &format!("/api/query/{id}"),
            &[("authorization", &bearer(&access))],
            json!({"variables": {"name": "red"}}),
        )
        .await;
    assert_eq!(by_id.status, StatusCode::OK);
    assert_eq!(by_id.json()["data"]["BuiltinTag"]["count"], 0);
    let failing = store_query(
        &server,
        "needs-var",
        "query ($n: String!) { BuiltinTag(name__value: $n) { count } }",
    )
    .await;
    let failed = server.get(&format!("/api/query/{failing}"), &[]).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert!(failed.message().starts_with("GraphQLQuery needs-var: "));
}

// ---------------------------------------------------------------------------------------------
// Config, menu, OpenAPI

#[tokio::test]
async fn config_has_upstream_shape() {
    let server = server().await;
    let config = server.get("/api/config", &[]).await;
    assert_eq!(config.status, StatusCode::OK);
    let config = config.json();
    assert_eq!(config["main"]["allow_anonymous_access"], true);
    assert!(config["main"].get("data_dir").is_none());
    assert_eq!(config["installation_type"], "community");
    assert_eq!(config["sso"], json!({"providers": [], "enabled": false}));
    assert_eq!(config["experimental_features"]["graphql_enums"], false);
    assert_eq!(config["logging"]["remote"]["enable"], false);
}

fn identifiers(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_menu_lists_builtin_entries_and_schema_kinds() {
    let server = server().await;
    let (access, _) = server.login().await;
    let auth = bearer(&access);
    let loaded = server
        .post(
            "/api/schema/load",
            &[("authorization", &auth)],
            two_kind_schema(),
        )
        .await;
    assert_eq!(loaded.status, StatusCode::OK);

    let anonymous = server.get("/api/menu", &[]).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    let anonymous = anonymous.json();
    let internal = identifiers(&anonymous["sections"]["internal"]);
    assert_eq!(
        internal,
        [
            "BuiltinProposedChanges",
            "BuiltinBranches",
            "BuiltinObjectManagement",
            "BuiltinActions",
            "BuiltinIntegration",
            "BuiltinActivity"
        ]
    );
    let objects = &anonymous["sections"]["object"];
    let object_ids = identifiers(objects);
    assert_eq!(object_ids.first().map(String::as_str), Some("TestSite"));
    assert_eq!(object_ids.last().map(String::as_str), Some("BuiltinOther"));
    let site = &objects[0];
    assert_eq!(
        identifiers(&site["children"]),
        ["TestSiteSub", "TestDevice"]
    );
    assert_eq!(site["path"], "/objects/TestSite");
    assert_eq!(site["kind"], "TestSite");
    assert_eq!(site["order_weight"], 5000);
    assert_eq!(site["protected"], false);
    let keys: Vec<&String> = site.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "namespace",
            "name",
            "description",
            "protected",
            "label",
            "path",
            "icon",
            "kind",
            "order_weight",
            "section",
            "permissions",
            "children",
            "identifier"
        ]
    );

    // The admin holds super_admin and sees the Admin section.
    let admin = server
        .get("/api/menu", &[("authorization", &auth)])
        .await
        .json();
    let internal = identifiers(&admin["sections"]["internal"]);
    assert_eq!(internal.last().map(String::as_str), Some("BuiltinAdmin"));
}

#[tokio::test]
async fn loaded_menu_items_are_placed_in_the_menu() {
    let server = server().await;
    let item = |name: &str, weight: i64, parent: Option<String>| {
        let mut input = NodeInput::default();
        for (key, value) in [
            ("namespace", json!("Custom")),
            ("name", json!(name)),
            ("label", json!(format!("{name} label"))),
            ("path", json!(format!("/custom/{name}"))),
            ("order_weight", json!(weight)),
            ("section", json!("object")),
        ] {
            input
                .attributes
                .insert(key.to_string(), AttributeInput::value(value));
        }
        if let Some(parent) = parent {
            input.relationships.insert(
                "parent".to_string(),
                RelationshipInput::One(Some(PeerInput::id(parent))),
            );
        }
        input
    };
    let engine = &server.state.engine;
    let root = engine
        .create("main", "CoreMenuItem", item("Root", 100, None))
        .await
        .unwrap();
    engine
        .create(
            "main",
            "CoreMenuItem",
            item("Child", 10, Some(root.node.id.to_string())),
        )
        .await
        .unwrap();
    let menu = server.get("/api/menu", &[]).await.json();
    let objects = &menu["sections"]["object"];
    assert_eq!(objects[0]["identifier"], "CustomRoot");
    assert_eq!(objects[0]["label"], "Root label");
    assert_eq!(objects[0]["protected"], false);
    assert_eq!(identifiers(&objects[0]["children"]), ["CustomChild"]);
    assert_eq!(objects[0]["children"][0]["path"], "/custom/Child");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_it_describes() {
    let server = server().await;
    let (access, _) = server.login().await;
    let answer = server.get("/api/openapi.json", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for expected in [
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/schema",
        "/api/schema/summary",
        "/api/schema/{schema_kind}",
        "/api/schema/load",
        "/api/schema/check",
        "/api/query/{query_id}",
        "/api/storage/object/{identifier}",
        "/api/storage/upload/content",
        "/api/storage/upload/file",
        "/api/config",
        "/api/menu",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing");
    }
    // Every documented operation reaches a handler: no 404 from the router's fallback and no
    // 405 for the documented method.
    for (path, operations) in paths {
        let uri = path
            .replace("{schema_kind}", "BuiltinTag")
            .replace("{query_id}", "anything")
            .replace("{identifier}", "anything");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = server
                .call(
                    method.clone(),
                    &uri,
                    &[("authorization", &bearer(&access))],
                    None,
                )
                .await;
            assert_ne!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            let unrouted = answer.status == StatusCode::NOT_FOUND
                && serde_json::from_slice::<Value>(&answer.bytes)
                    .ok()
                    .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
                    .is_some_and(|m| m.starts_with("no route for"));
            assert!(!unrouted, "{method} {uri} is not routed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The state the binary builds

#[tokio::test]
async fn build_state_serves_the_api_with_the_configured_admin_token() {
    let dir = temp_dir();
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    settings.main.allow_anonymous_access = false;
    settings.initial.admin_token = Some(Secret::new(ADMIN_TOKEN));
    let deployment = infrahub_server::deployment_id(&dir).unwrap();
    let state = infrahub_server::build_state(settings, deployment.clone())
        .await
        .unwrap();
    let app = router(Arc::clone(&state));
    let request = Request::get("/api/schema/summary")
        .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let anonymous = app
        .oneshot(Request::get("/api/schema").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    drop(state);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_worker_key_is_accepted_and_a_forged_one_is_not() {
    let server = server().await;
    let key = infrahub_server::auth::worker_key(&server.state.jwt_secret);
    assert!(
        key.starts_with("infrahub-worker-") && key.len() == 16 + 64,
        "{key}"
    );
    let query = json!({"query": "mutation { BuiltinTagCreate(data: {name: {value: \"from-worker\"}}) { ok } }"});
    let answer = server
        .post(
            "/graphql",
            &[("x-infrahub-key", key.as_str())],
            query.clone(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(answer.json()["data"]["BuiltinTagCreate"]["ok"], true);
    // Another secret gives another key; one changed character is refused.
    assert_ne!(infrahub_server::auth::worker_key(b"another secret"), key);
    let mut forged = key.clone();
    let last = if forged.ends_with('0') { "1" } else { "0" };
    forged.replace_range(forged.len() - 1.., last);
    for token in [forged.as_str(), "infrahub-worker-", "infrahub-worker-00"] {
        let refused = server
            .post("/graphql", &[("x-infrahub-key", token)], query.clone())
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{token}");
    }
}

#[tokio::test]
async fn the_initial_agent_token_and_password_make_an_agent_account() {
    // Without either setting there is no agent.
    let plain = server().await;
    let refused = plain
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "agent", "password": "agent-secret"}),
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);

    let server = server_with_engine(
        |_| {},
        |options| {
            options.agent_token = Some("agent-token-123".into());
            options.agent_password = Some("agent-secret".into());
        },
    )
    .await;
    let login = server
        .post(
            "/api/auth/login",
            &[],
            json!({"username": "agent", "password": "agent-secret"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json());
    // The token acts as the agent, a super administrator (it may write on main).
    let answer = server
        .post(
            "/graphql",
            &[("x-infrahub-key", "agent-token-123")],
            json!({"query": "mutation { BuiltinTagCreate(data: {name: {value: \"by-agent\"}}) { ok } } "}),
        )
        .await;
    assert_eq!(
        answer.json()["data"]["BuiltinTagCreate"]["ok"],
        true,
        "{}",
        answer.json()
    );
    let profile = server
        .post(
            "/graphql",
            &[("x-infrahub-key", "agent-token-123")],
            json!({"query": "{ AccountProfile { name { value } member_of_groups { edges { node { display_label } } } } }"}),
        )
        .await;
    let body = profile.json();
    assert_eq!(
        body["data"]["AccountProfile"]["name"]["value"], "agent",
        "{body}"
    );
    assert!(body.to_string().contains("Super Administrators"), "{body}");
}

#[tokio::test]
async fn stored_queries_record_what_they_are_made_of() {
    let server = server().await;
    let auth = [("x-infrahub-key", ADMIN_TOKEN)];
    let create = json!({"query": r#"mutation { CoreGraphQLQueryCreate(data: {name: {value: "tags-with-accounts"},
        query: {value: "query Tags($name: String!) { BuiltinTag(name__value: $name) { edges { node { name { value } } } } CoreAccount { count } }"}})
        { object { variables { value } operations { value } models { value } depth { value } height { value } } } }"#});
    let answer = server.post("/graphql", &auth, create).await.json();
    let object = &answer["data"]["CoreGraphQLQueryCreate"]["object"];
    assert_eq!(
        object["variables"]["value"],
        json!([{"name": "name", "type": "String", "required": true, "default_value": null}]),
        "{answer}"
    );
    assert_eq!(object["operations"]["value"], json!(["query", "query"]));
    assert_eq!(
        object["models"]["value"],
        json!(["BuiltinTag", "CoreAccount"])
    );
    assert_eq!(object["depth"]["value"], 6);
    assert_eq!(object["height"]["value"], 7);
    // Not GraphQL: refused, nothing written; the derived values cannot be set by hand.
    let refused = server
        .post(
            "/graphql",
            &auth,
            json!({"query": r#"mutation { CoreGraphQLQueryCreate(data: {name: {value: "broken"}, query: {value: "query {"}}) { ok } }"#}),
        )
        .await
        .json();
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a valid GraphQL document")),
        "{refused}"
    );
    let forced = server
        .post(
            "/graphql",
            &auth,
            json!({"query": r#"mutation { CoreGraphQLQueryCreate(data: {name: {value: "forced"}, query: {value: "{ BuiltinTag { count } }"}, depth: {value: 99}}) { ok } }"#}),
        )
        .await
        .json();
    assert!(forced["errors"].is_array(), "{forced}");
    let count = server
        .post(
            "/graphql",
            &auth,
            json!({"query": "{ CoreGraphQLQuery(name__values: [\"broken\", \"forced\"]) { count } }"}),
        )
        .await
        .json();
    assert_eq!(count["data"]["CoreGraphQLQuery"]["count"], 0, "{count}");
}

#[tokio::test]
async fn generator_runs_and_proposed_change_checks_refuse_bad_requests_without_submitting() {
    let server = server().await;
    let auth = [("x-infrahub-key", ADMIN_TOKEN)];
    let tasks = |server: &TestServer| {
        let state = Arc::clone(&server.state);
        async move {
            state
                .tasks
                .store()
                .list(&infrahub_worker::TaskFilter::default(), 0, 1)
                .await
                .unwrap()
                .count
        }
    };
    let before = tasks(&server).await;
    let nodes: Vec<String> = (0..10_001).map(|i| format!("\"n{i}\"")).collect();
    let cases = [
        format!(
            "mutation {{ CoreGeneratorDefinitionRun(data: {{id: \"x\", nodes: [{}]}}) {{ ok }} }}",
            nodes.join(",")
        ),
        "mutation { CoreGeneratorDefinitionRun(data: {id: \"no-such-definition\"}) { ok } }"
            .to_owned(),
        "mutation { CoreProposedChangeRunCheck(data: {id: \"no-such-change\", check_type: USER}) { ok } }"
            .to_owned(),
        "mutation { CoreProposedChangeRunCheck(data: {id: \"no-such-change\"}) { ok } }".to_owned(),
    ];
    let expected = [
        "at most 10000 targets",
        "not found",
        "not found",
        "not run by this server yet",
    ];
    for (query, expected) in cases.iter().zip(expected) {
        let answer = server
            .post("/graphql", &auth, json!({ "query": query }))
            .await
            .json();
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected}: {answer}");
    }
    // Anonymous callers cannot run either.
    let anonymous = server
        .post(
            "/graphql",
            &[],
            json!({"query": "mutation { CoreGeneratorDefinitionRun(data: {id: \"x\"}) { ok } }"}),
        )
        .await;
    assert!(
        anonymous.status == StatusCode::UNAUTHORIZED || anonymous.json()["errors"].is_array(),
        "{}",
        anonymous.json()
    );
    assert_eq!(tasks(&server).await, before, "nothing was submitted");
}
