//! The conformance suite against `Neo4jGraph` on a real Bolt server (ArcadeDB in CI, started
//! by `scripts/start-arcadedb.sh`).
//!
//! The server is `INFRAHUB_TEST_BOLT_URL`; each check gets a database of its own, created over
//! ArcadeDB's HTTP API at `INFRAHUB_TEST_ARCADEDB_HTTP_URL` (both exported by `.ci/run`).
//! Unset, the tests say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`, where they
//! fail.
//!
//! Every check of the suite runs here (a check that does not pass yet is left out of the
//! list and named in this comment; none is). `concurrent_writers_and_readers` is the longest,
//! about 10 s on ArcadeDB on a 2-core machine (400 commits of 8 writers, serialized on the
//! `Root` vertex, with a reader running throughout).

use std::sync::Arc;
use std::time::Duration;

use infrahub_graph::{BoltConfig, GraphStore, Neo4jGraph, conformance};

/// A fresh store in a database of its own, or `None` (after saying so) to skip.
async fn store(check: &str) -> Option<Arc<dyn GraphStore>> {
    let (config, _) = database(check)?;
    let store = Neo4jGraph::connect(config).await.expect("connect");
    Some(Arc::new(store))
}

/// The settings of a new, empty database and the ArcadeDB HTTP API's address, or `None`
/// (after saying so) to skip.
fn database(check: &str) -> Option<(BoltConfig, String)> {
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
    http_post(
        &config,
        &format!("{http}/api/v1/server"),
        &format!(r#"{{"command":"create database {database}"}}"#),
    );
    config.database = Some(database);
    config.startup_wait = Duration::from_secs(20);
    // Concurrency checks race many committers on the Root vertex.
    config.retry_limit = 64;
    Some((config, http))
}

/// A store on the database of `config`, with its default branch `main` created.
async fn with_default_branch(config: BoltConfig) -> Neo4jGraph {
    let store = Neo4jGraph::connect(config).await.expect("connect");
    store
        .create_branch(
            "main",
            infrahub_graph::CreateBranchOptions {
                is_default: true,
                ..Default::default()
            },
        )
        .await
        .expect("default branch");
    store
}

/// POSTs a JSON body to ArcadeDB's HTTP API as the configured user; panics on failure.
fn http_post(config: &BoltConfig, url: &str, body: &str) {
    let output = std::process::Command::new("curl")
        .args([
            "-sf",
            "-u",
            &format!("{}:{}", config.username, config.password),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            url,
        ])
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "POST {url} {body} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
    long_values,
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

/// A database written before nodes were linked to `Label` vertices and to their attributes and
/// before the change log (layout version 1) is brought forward when a server connects: queries
/// by label and attribute find its nodes again, and its changes are enumerated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_layout_is_migrated_at_connect() {
    use infrahub_graph::{BranchView, Changeset, CreateBranchOptions, NodeQuery, Op, Scope};

    let Some((config, http)) = database("migration") else {
        return;
    };
    let store = with_default_branch(config.clone()).await;
    let id = infrahub_graph::new_node_id();
    let mut changeset = Changeset::new("main");
    changeset.push(Op::CreateNode {
        id,
        kind: "TestOld".into(),
        labels: vec!["TestOld".into(), "TestGeneric".into()],
        scope: Scope::Branch,
    });
    changeset.push(Op::SetAttribute {
        node: id,
        name: "name".into(),
        value: infrahub_graph::AttributeValue::new(serde_json::json!("old-1")),
        scope: Scope::Branch,
        indexed: true,
    });
    store.commit(changeset).await.expect("commit");
    let query = NodeQuery {
        labels: vec!["TestGeneric".into()],
        filters: vec![infrahub_graph::Filter::Attribute {
            name: "name".into(),
            property: infrahub_graph::Property::Value,
            matches: infrahub_graph::Match::Contains("OLD".into()),
        }],
        count: true,
        ..NodeQuery::default()
    };
    let view = BranchView::now("main");
    assert_eq!(store.query(&view, &query).await.unwrap().total, Some(1));
    // A branch with a node of its own: reading it needs the branch's epochs.
    store
        .create_branch("feature", CreateBranchOptions::default())
        .await
        .expect("branch");
    let on_branch = infrahub_graph::new_node_id();
    let mut changeset = Changeset::new("feature");
    changeset.push(Op::CreateNode {
        id: on_branch,
        kind: "TestOld".into(),
        labels: vec!["TestOld".into(), "TestGeneric".into()],
        scope: Scope::Branch,
    });
    store.commit(changeset).await.expect("commit on the branch");
    let branch_view = BranchView::now("feature");
    let all = NodeQuery {
        labels: vec!["TestGeneric".into()],
        count: true,
        ..NodeQuery::default()
    };
    assert_eq!(
        store.query(&branch_view, &all).await.unwrap().total,
        Some(2)
    );

    // What version 1 wrote: no `Label` vertices, no `HAS_ATTRIBUTE` edges, `graph_version` 1.
    let command = format!(
        "{http}/api/v1/command/{}",
        config.database.as_deref().unwrap()
    );
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH (l:Label) DETACH DELETE l"}"#,
    );
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH ()-[e:HAS_ATTRIBUTE]->() DELETE e"}"#,
    );
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH (c:Change) DELETE c"}"#,
    );
    let (start, end) = (
        infrahub_graph::Timestamp::from_micros(0),
        store.last_commit().await.unwrap(),
    );
    assert!(store.changes("main", start, end).await.unwrap().is_empty());
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH (r:Root) SET r.graph_version = 1"}"#,
    );
    assert_eq!(store.query(&view, &query).await.unwrap().total, Some(0));
    // Branch epochs only as JSON (before version 5).
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH (b:Branch) SET b.epoch_starts = null, b.epoch_froms = null"}"#,
    );

    let store = Neo4jGraph::connect(config.clone())
        .await
        .expect("reconnect");
    let found = store.query(&view, &query).await.unwrap();
    assert_eq!(found.total, Some(1));
    assert_eq!(found.nodes[0].id, id);
    let on_feature = store.query(&branch_view, &all).await.unwrap();
    assert_eq!(on_feature.total, Some(2));
    assert!(on_feature.nodes.iter().any(|n| n.id == on_branch));
    let changes = store.changes("main", start, end).await.unwrap();
    assert_eq!(changes.len(), 2, "the node and its attribute: {changes:?}");

    // A database from a newer server is refused, not misread.
    http_post(
        &config,
        &command,
        r#"{"language":"cypher","command":"MATCH (r:Root) SET r.graph_version = 99"}"#,
    );
    let error = Neo4jGraph::connect(config).await.unwrap_err();
    assert!(error.to_string().contains("layout version 99"), "{error}");
}

/// A logical read is one statement (one round trip: the view is worked out inside it), and a
/// commit two (Root's advance, the branch, the nodes and the uniqueness candidates in one; the
/// writes in the other), whatever the number of nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_is_one_statement_and_a_commit_two() {
    use infrahub_graph::{
        AttributeValue, BranchView, Changeset, CreateBranchOptions, Filter, Match, NodeQuery, Op,
        Property, Scope, Selection,
    };

    let Some((config, _)) = database("statements") else {
        return;
    };
    let store = with_default_branch(config).await;
    // Statements sent since the last call.
    let mut seen = store.statements();
    let mut sent = || {
        let now = store.statements();
        std::mem::replace(&mut seen, now).abs_diff(now)
    };
    let mut ids = Vec::new();
    for (i, branch) in ["main", "main", "feature"].into_iter().enumerate() {
        if i == 2 {
            // Branched off after the two commits on main: it sees all three devices.
            store
                .create_branch("feature", CreateBranchOptions::default())
                .await
                .expect("branch");
        }
        let id = infrahub_graph::new_node_id();
        let mut changeset = Changeset::new(branch);
        changeset.push(Op::CreateNode {
            id,
            kind: "TestDevice".into(),
            labels: vec!["TestDevice".into()],
            scope: Scope::Branch,
        });
        changeset.push(Op::SetAttribute {
            node: id,
            name: "name".into(),
            value: AttributeValue::new(serde_json::json!(format!("device-{i}"))),
            scope: Scope::Branch,
            indexed: true,
        });
        sent();
        store.commit(changeset).await.expect("commit");
        // The first commit also learns the default branch's name.
        let expected = if i == 0 { 3 } else { 2 };
        assert_eq!(sent(), expected, "statements of commit {i}");
        ids.push(id);
    }
    let by_name = NodeQuery {
        labels: vec!["TestDevice".into()],
        filters: vec![Filter::Attribute {
            name: "name".into(),
            property: Property::Value,
            matches: Match::Equals(serde_json::json!("device-1")),
        }],
        count: true,
        ..NodeQuery::default()
    };
    let all = NodeQuery {
        labels: vec!["TestDevice".into()],
        count: true,
        ..NodeQuery::default()
    };
    for (branch, devices) in [("main", 2), ("feature", 3)] {
        let view = BranchView::now(branch);
        let found = store
            .get_nodes(&view, &ids, &Selection::all_attributes())
            .await
            .unwrap();
        assert_eq!(found.len(), devices, "{branch}");
        assert_eq!(sent(), 1, "statements of get_nodes on {branch}");
        assert_eq!(
            store.query(&view, &all).await.unwrap().total,
            Some(devices as u64)
        );
        assert_eq!(sent(), 1, "statements of a query on {branch}");
        assert_eq!(store.count(&view, &all).await.unwrap(), devices as u64);
        assert_eq!(sent(), 1, "statements of a count on {branch}");
        let found = store.query(&view, &by_name).await.unwrap();
        assert_eq!(found.nodes.len(), 1);
        assert_eq!(sent(), 1, "statements of a lookup on {branch}");
        // A read at an earlier instant too.
        let earlier = BranchView {
            branch: branch.into(),
            at: Some(store.last_commit().await.unwrap()),
        };
        sent();
        assert_eq!(
            store.query(&earlier, &all).await.unwrap().total,
            Some(devices as u64)
        );
        assert_eq!(sent(), 1, "statements of a query at an instant on {branch}");
    }
}
