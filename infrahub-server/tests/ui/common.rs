//! The harness of the frontend tests: a server on a fresh data directory, a signed-in browser
//! session (cookies), page reads and form posts.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_server::app::{AppState, router};
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The admin's API token.
pub(crate) const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";
/// The admin's password.
pub(crate) const ADMIN_PASSWORD: &str = "infrahub";
const SECRET: &[u8] = b"test-secret-key-of-at-least-32-bytes!";
/// The origin forms are posted from.
pub(crate) const ORIGIN: &str = "http://infrahub.test";

/// A server on a fresh data directory, removed on drop.
pub(crate) struct TestServer {
    pub(crate) state: Arc<AppState>,
    pub(crate) app: Router,
    dir: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An answer: status, headers and body text.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The `Location` of a redirect.
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a 200 and returns the body.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        &self.body
    }
}

/// A server with the settings `configure` makes.
pub(crate) async fn server_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
    let dir = std::env::temp_dir().join(format!("infrahub-ui-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    configure(&mut settings);
    let store = infrahub_graph::connect(&infrahub_graph::GraphConfig::Embedded {
        path: dir.join("graph"),
    })
    .await
    .unwrap();
    let options = EngineOptions {
        admin_token: Some(ADMIN_TOKEN.to_string()),
        admin_password: Some(ADMIN_PASSWORD.to_string()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
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

/// A server with default settings (anonymous reads allowed, as upstream).
pub(crate) async fn server() -> TestServer {
    server_with(|_| {}).await
}

impl TestServer {
    /// Sends a request.
    pub(crate) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Runs a GraphQL document as the admin (API token) on `branch`; panics on errors.
    pub(crate) async fn admin_graphql(&self, branch: &str, query: &str, variables: Value) -> Value {
        let request = Request::post(format!("/graphql/{branch}"))
            .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"query": query, "variables": variables}).to_string(),
            ))
            .unwrap();
        let answer = self.send(request).await;
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    /// Loads `schema` (a `/api/schema/load` body) as the admin.
    pub(crate) async fn load_schema(&self, schema: &Value) {
        let request = Request::post("/api/schema/load")
            .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(schema.to_string()))
            .unwrap();
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    /// Signs `username` in through the login form; returns the browser's session.
    pub(crate) async fn sign_in(&self, username: &str, password: &str) -> Browser<'_> {
        let mut browser = Browser {
            server: self,
            cookies: Vec::new(),
        };
        let answer = browser
            .post_form(
                "/login",
                &[
                    ("username", username),
                    ("password", password),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert!(!browser.cookies.is_empty(), "no session cookie set");
        browser
    }

    /// The admin's session.
    pub(crate) async fn admin(&self) -> Browser<'_> {
        self.sign_in("admin", ADMIN_PASSWORD).await
    }

    /// A browser without a session.
    pub(crate) fn anonymous(&self) -> Browser<'_> {
        Browser {
            server: self,
            cookies: Vec::new(),
        }
    }
}

/// A browser: its cookies, and requests the way a browser sends them.
pub(crate) struct Browser<'a> {
    pub(crate) server: &'a TestServer,
    pub(crate) cookies: Vec<(String, String)>,
}

impl Browser<'_> {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, answer: &Answer) {
        for value in answer.headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            let cleared = text.contains("Max-Age=0");
            if !cleared {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let request = Request::get(path)
            .header(header::HOST, "infrahub.test")
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        let answer = self.server.send(request).await;
        self.remember(&answer);
        answer
    }

    /// `POST path` with a form body, from this server's own page.
    pub(crate) async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_form_from(path, fields, Some(ORIGIN)).await
    }

    /// `POST path` with a form body and the given `Origin` (none: no header).
    pub(crate) async fn post_form_from(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let body: Vec<String> = fields
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
            .collect();
        let mut request = Request::post(path)
            .header(header::HOST, "infrahub.test")
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let answer = self
            .server
            .send(request.body(Body::from(body.join("&"))).unwrap())
            .await;
        self.remember(&answer);
        answer
    }
}

/// Percent-encodes a form value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A small network schema: sites, devices (with a dropdown, a number, a boolean, an IP host,
/// a MAC address, JSON and a list), interfaces of a device (a component relationship).
pub(crate) fn network_schema() -> Value {
    json!({"schemas": [{
        "version": "1.0",
        "nodes": [
            {"name": "Site", "namespace": "Location", "label": "Site",
             "human_friendly_id": ["name__value"], "display_label": "{{ name__value }}",
             "attributes": [
                {"name": "name", "kind": "Text", "unique": true},
                {"name": "description", "kind": "Text", "optional": true}
             ]},
            {"name": "Device", "namespace": "Infra", "label": "Device",
             "human_friendly_id": ["name__value"], "display_label": "{{ name__value }}",
             "order_by": ["name__value"],
             "attributes": [
                {"name": "name", "kind": "Text", "unique": true, "order_weight": 1000},
                {"name": "role", "kind": "Dropdown", "optional": true, "order_weight": 1100,
                 "choices": [{"name": "edge", "label": "Edge"}, {"name": "core", "label": "Core"}]},
                {"name": "asn", "kind": "Number", "optional": true, "order_weight": 1200},
                {"name": "enabled", "kind": "Boolean", "default_value": true, "optional": true, "order_weight": 1300},
                {"name": "management_ip", "kind": "IPHost", "optional": true, "order_weight": 1400},
                {"name": "mac", "kind": "MacAddress", "optional": true, "order_weight": 1500},
                {"name": "config", "kind": "JSON", "optional": true, "order_weight": 1600},
                {"name": "tags_list", "kind": "List", "optional": true, "order_weight": 1700}
             ],
             "relationships": [
                {"name": "site", "peer": "LocationSite", "cardinality": "one", "optional": false, "kind": "Attribute"},
                {"name": "interfaces", "peer": "InfraInterface", "cardinality": "many", "optional": true, "kind": "Component"}
             ]},
            {"name": "Interface", "namespace": "Infra", "label": "Interface",
             "human_friendly_id": ["device__name__value", "name__value"],
             "display_label": "{{ name__value }}",
             "attributes": [
                {"name": "name", "kind": "Text"},
                {"name": "speed", "kind": "Number", "optional": true}
             ],
             "relationships": [
                {"name": "device", "peer": "InfraDevice", "cardinality": "one", "optional": false, "kind": "Parent"}
             ]}
        ]
    }]})
}
