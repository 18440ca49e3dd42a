//! The conformance suite against `Neo4jGraph` on a real Bolt server (ArcadeDB in CI, started
//! by `scripts/start-arcadedb.sh`).
//!
//! The server is `INFRAHUB_TEST_BOLT_URL`; each check gets a database of its own, created over
//! ArcadeDB's HTTP API at `INFRAHUB_TEST_ARCADEDB_HTTP_URL` (both exported by `.ci/run`).
//! Unset, the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they
//! fail.
//!
//! Every check of the suite runs here (a check that does not pass yet is left out of the
//! list and named in this comment; none is). `concurrent_writers_and_readers` takes minutes on
//! ArcadeDB: each of its reads loads the label's nodes (see ADR 0004).

use std::sync::Arc;
use std::time::Duration;

use infrahub_graph::{BoltConfig, GraphStore, Neo4jGraph, conformance};

/// A fresh store in a database of its own, or `None` (after saying so) to skip.
async fn store(check: &str) -> Option<Arc<dyn GraphStore>> {
    let required = std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1");
    let url = std::env::var("INFRAHUB_TEST_BOLT_URL").unwrap_or_default();
    let http = std::env::var("INFRAHUB_TEST_ARCADEDB_HTTP_URL").unwrap_or_default();
    if url.is_empty() || http.is_empty() {
        assert!(
            !required,
            "INFRAHUB_TEST_BOLT_URL and INFRAHUB_TEST_ARCADEDB_HTTP_URL must be set (scripts/start-arcadedb.sh)"
        );
        eprintln!(
            "skipping {check}: INFRAHUB_TEST_BOLT_URL or INFRAHUB_TEST_ARCADEDB_HTTP_URL is not set"
        );
        return None;
    }
    let mut config = BoltConfig::from_url(&url).expect("INFRAHUB_TEST_BOLT_URL is valid");
    let database = format!("t_{check}_{}", uuid::Uuid::new_v4().simple());
    let output = std::process::Command::new("curl")
        .args([
            "-sf",
            "-u",
            &format!("{}:{}", config.username, config.password),
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"command":"create database {database}"}}"#),
            &format!("{http}/api/v1/server"),
        ])
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "creating database {database} over HTTP failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    config.database = Some(database);
    config.startup_wait = Duration::from_secs(20);
    // Concurrency checks race many committers on the Root vertex.
    config.retry_limit = 64;
    let store = Neo4jGraph::connect(config).await.expect("connect");
    Some(Arc::new(store))
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Some(store) = store(stringify!($name)).await {
                conformance::$name(store.as_ref()).await;
            }
        }
    )*};
}

checks!(
    default_branch_first,
    branch_lifecycle,
    branch_deletion,
    branch_isolation,
    time_travel,
    branch_shadowing,
    delete_and_recreate,
    change_kind,
    global_data,
    local_data_not_merged,
    merge_results,
    rebase_results,
    change_enumeration,
    history,
    query_filters,
    query_ordering,
    query_pagination,
    selections,
    link_sides,
    atomicity,
    conditions,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unique_creates() {
    if let Some(store) = store("concurrent_unique_creates").await {
        conformance::concurrent_unique_creates(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers() {
    if let Some(store) = store("concurrent_writers_and_readers").await {
        conformance::concurrent_writers_and_readers(store).await;
    }
}
