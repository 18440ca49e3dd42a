//! The server state on the Bolt graph backend (`database.db_type = neo4j`).
//!
//! The start-up refusal runs everywhere. The GraphQL round trip needs a Bolt server:
//! `INFRAHUB_TEST_BOLT_URL` (bolt://user:password@host:port/db) and
//! `INFRAHUB_TEST_ARCADEDB_HTTP_URL` (the ArcadeDB HTTP API, to create a fresh database), as
//! `.ci/run` exports them after `scripts/start-arcadedb.sh`; without them it is skipped.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use infrahub_server::app::router;
use infrahub_server::config::{DatabaseType, Secret, Settings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("infrahub-bolt-server-{}", uuid::Uuid::new_v4()))
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn an_unreachable_database_fails_the_start_naming_its_address() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let dir = temp_dir();
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    settings.database.db_type = DatabaseType::Neo4j;
    settings.database.address = "127.0.0.1".to_owned();
    settings.database.port = port;
    settings.database.startup_timeout = 1;
    let started = std::time::Instant::now();
    let error = infrahub_server::build_state(settings, "test".into())
        .await
        .err()
        .map(|e| chain(&e))
        .unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "startup_timeout = 1 must bound the wait"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn memgraph_and_routing_settings_are_refused() {
    let dir = temp_dir();
    let base = || {
        let mut settings = Settings::default();
        settings.main.data_dir = dir.clone();
        settings.database.db_type = DatabaseType::Neo4j;
        settings.database.startup_timeout = 0;
        settings
    };
    let mut memgraph = base();
    memgraph.database.db_type = DatabaseType::Memgraph;
    let mut routing = base();
    routing.database.protocol = "neo4j".to_owned();
    for (settings, expected) in [
        (memgraph, "database.db_type = memgraph"),
        (routing, "client-side routing"),
    ] {
        let error = infrahub_server::build_state(settings, "test".into())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates database `name` through ArcadeDB's HTTP API at `http_url` (`http://host:port`).
async fn create_arcadedb_database(http_url: &str, user: &str, password: &str, name: &str) {
    let authority = http_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = json!({ "command": format!("create database {name}") }).to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let request = format!(
        "POST /api/v1/server HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "creating database {name}: {response}"
    );
}

async fn graphql(app: &axum::Router, query: &str) -> Value {
    let request = Request::post("/graphql")
        .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_server_state_on_bolt_answers_a_graphql_create_and_query() {
    let (Ok(bolt_url), Ok(http_url)) = (
        std::env::var("INFRAHUB_TEST_BOLT_URL"),
        std::env::var("INFRAHUB_TEST_ARCADEDB_HTTP_URL"),
    ) else {
        eprintln!(
            "skipped: set INFRAHUB_TEST_BOLT_URL and INFRAHUB_TEST_ARCADEDB_HTTP_URL (scripts/start-arcadedb.sh)"
        );
        return;
    };
    let bolt = infrahub_graph::BoltConfig::from_url(&bolt_url).unwrap();
    let database = format!("srv{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    create_arcadedb_database(&http_url, &bolt.username, &bolt.password, &database).await;

    let dir = temp_dir();
    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    settings.initial.admin_token = Some(Secret::new(ADMIN_TOKEN));
    let db = &mut settings.database;
    db.db_type = DatabaseType::Neo4j;
    db.address = bolt.address.clone();
    db.port = bolt.port;
    db.username = bolt.username.clone();
    db.password = Secret::new(&bolt.password);
    db.database = Some(database);
    db.pool_size = 4;
    db.startup_timeout = 30;
    let deployment = infrahub_server::deployment_id(&dir).unwrap();
    let state = infrahub_server::build_state(settings, deployment)
        .await
        .unwrap();
    let app = router(Arc::clone(&state));

    let created = graphql(
        &app,
        r#"mutation { BuiltinTagCreate(data: {name: {value: "on-bolt"}, description: {value: "a tag"}}) { ok object { id } } }"#,
    )
    .await;
    assert_eq!(
        created["data"]["BuiltinTagCreate"]["ok"],
        json!(true),
        "{created}"
    );
    let id = created["data"]["BuiltinTagCreate"]["object"]["id"].clone();
    let listed = graphql(
        &app,
        r#"{ BuiltinTag(name__value: "on-bolt") { count edges { node { id name { value } description { value } } } } }"#,
    )
    .await;
    let tags = &listed["data"]["BuiltinTag"];
    assert_eq!(tags["count"], json!(1), "{listed}");
    let node = &tags["edges"][0]["node"];
    assert_eq!(node["id"], id);
    assert_eq!(node["name"]["value"], json!("on-bolt"));
    assert_eq!(node["description"]["value"], json!("a tag"));
    drop(app);
    drop(state);
    let _ = std::fs::remove_dir_all(&dir);
}
