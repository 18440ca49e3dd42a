//! Measures branch operations against a default branch holding N nodes (100,000 by default),
//! with a branch of 1,000 changes: 600 attribute updates, 200 relationship changes, 100
//! creates and 100 deletes. Prints branch create, diff computation, the `DiffTree` GraphQL
//! query, merge and rebase times; run it at 100,000 and 1,000,000 nodes to compare.
//!
//! ```text
//! cargo build --release -p example-bench-branch
//! target/release/example-bench-branch [nodes] [data-dir]
//! target/release/example-bench-branch [nodes] --bolt bolt://root:PASSWORD@127.0.0.1:PORT --arcadedb-http http://127.0.0.1:PORT
//! ```
//!
//! With `--bolt`, the store is a fresh database of that ArcadeDB server (created through its
//! HTTP API, see `scripts/start-arcadedb.sh`) instead of the embedded store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::http::Request;
use infrahub_core::engine::{
    AttributeInput, BranchCreate, Engine, EngineOptions, NodeInput, NodeRef, PeerInput,
    RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{
    AttributeValue, BoltConfig, Changeset, EmbeddedGraph, EmbeddedGraphOptions, GraphStore,
    Neo4jGraph, NodeId, Op, Scope,
};
use serde_json::{Value, json};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Bench
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Bench
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: serial, kind: Text, optional: true}
    relationships:
      - {name: site, peer: BenchSite, cardinality: one, optional: true}
"#;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn text(value: &str) -> AttributeInput {
    AttributeInput::value(json!(value))
}

/// Writes `count` devices straight through the store, 1,000 per changeset.
async fn bulk_load(
    store: &Arc<dyn GraphStore>,
    labels: &[String],
    count: usize,
) -> anyhow::Result<Vec<NodeId>> {
    let mut ids = Vec::with_capacity(count);
    let started = Instant::now();
    for chunk in 0..count.div_ceil(1000) {
        let mut changeset = Changeset::new("main");
        for index in chunk * 1000..((chunk + 1) * 1000).min(count) {
            let id = NodeId::now_v7();
            ids.push(id);
            changeset.ops.push(Op::CreateNode {
                id,
                kind: "BenchDevice".into(),
                labels: labels.to_vec(),
                scope: Scope::Branch,
            });
            for (name, value) in [
                ("name", json!(format!("device-{index:07}"))),
                ("serial", json!(format!("SN{index:07}"))),
            ] {
                changeset.ops.push(Op::SetAttribute {
                    node: id,
                    name: name.into(),
                    value: AttributeValue::new(value),
                    scope: Scope::Branch,
                    indexed: true,
                });
            }
        }
        store.commit(changeset).await?;
    }
    println!(
        "bulk load of {count} devices: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// 1,000 changes on `branch`: 600 attribute updates, 200 relationship changes, 100 creates,
/// 100 deletes.
async fn changes(
    engine: &Engine,
    branch: &str,
    devices: &[NodeId],
    site: &str,
    offset: usize,
) -> anyhow::Result<()> {
    let step = devices.len() / 1000;
    let pick = |i: usize| devices[(offset + i * step) % devices.len()];
    for i in 0..600 {
        let mut input = NodeInput {
            id: Some(pick(i).to_string()),
            ..NodeInput::default()
        };
        input
            .attributes
            .insert("serial".into(), text(&format!("changed-{branch}-{i}")));
        engine.update(branch, "BenchDevice", input).await?;
    }
    for i in 600..800 {
        let mut input = NodeInput {
            id: Some(pick(i).to_string()),
            ..NodeInput::default()
        };
        input.relationships.insert(
            "site".into(),
            RelationshipInput::One(Some(PeerInput::id(site))),
        );
        engine.update(branch, "BenchDevice", input).await?;
    }
    for i in 0..100 {
        let mut input = NodeInput::default();
        input
            .attributes
            .insert("name".into(), text(&format!("new-{branch}-{i}")));
        engine.create(branch, "BenchDevice", input).await?;
    }
    for i in 800..900 {
        engine
            .delete(
                branch,
                "BenchDevice",
                &NodeRef {
                    id: Some(pick(i).to_string()),
                    hfid: None,
                },
            )
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let (mut bolt, mut arcadedb_http) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bolt" => bolt = Some(args.next().context("--bolt needs a URL")?),
            "--arcadedb-http" => {
                arcadedb_http = Some(args.next().context("--arcadedb-http needs a URL")?);
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let nodes: usize = positional
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = positional
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("infrahub-bench-branch-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn GraphStore> = match (bolt, arcadedb_http) {
        (None, None) => Arc::new(EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())?),
        (Some(url), Some(http)) => {
            let mut config = BoltConfig::from_url(&url)?;
            let database = format!("bench_branch_{}", std::process::id());
            let status = std::process::Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "-u"])
                .arg(format!("{}:{}", config.username, config.password))
                .args(["-H", "Content-Type: application/json", "-d"])
                .arg(format!(r#"{{"command":"create database {database}"}}"#))
                .arg(format!("{http}/api/v1/server"))
                .status()?;
            anyhow::ensure!(status.success(), "creating database {database} failed");
            config.database = Some(database);
            println!("store: ArcadeDB over Bolt ({})", config.endpoint());
            Arc::new(Neo4jGraph::connect(config).await?)
        }
        _ => anyhow::bail!("--bolt and --arcadedb-http go together"),
    };
    let engine = Engine::open(
        Arc::clone(&store),
        EngineOptions {
            bcrypt_cost: 4,
            admin_token: Some(TOKEN.into()),
            ..EngineOptions::default()
        },
    )
    .await?;
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("bench.yml")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    engine.load_schema("main", vec![file], false).await?;
    let labels = engine
        .schema("main")?
        .get("BenchDevice")
        .map(|m| m.storage_labels())
        .unwrap_or_default();
    let mut site = NodeInput::default();
    site.attributes.insert("name".into(), text("site-1"));
    let site = engine
        .create("main", "BenchSite", site)
        .await?
        .node
        .id
        .to_string();
    let devices = bulk_load(&store, &labels, nodes).await?;

    let create = |name: &str| BranchCreate {
        name: name.into(),
        description: None,
        sync_with_git: None,
        created_by: None,
    };
    let started = Instant::now();
    engine.create_branch(create("bench-branch")).await?;
    println!("branch create: {:.2} ms", ms(started.elapsed()));

    let started = Instant::now();
    changes(&engine, "bench-branch", &devices, &site, 0).await?;
    println!(
        "1,000 changes on the branch: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let tree = engine
            .diff_tree("bench-branch", None, None, None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no diff"))?;
        samples.push(started.elapsed());
        size = tree.nodes.len();
    }
    samples.sort();
    println!(
        "diff computation ({size} nodes in the diff): median {:.1} ms",
        ms(samples[2])
    );

    // The DiffTree query through the HTTP router, as clients ask for it.
    let engine = Arc::new(engine);
    let state = infrahub_server::AppState::new(
        infrahub_server::config::Settings::default(),
        "bench".into(),
        Arc::clone(&engine),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    state.mark_ready();
    let app = infrahub_server::app::router(state);
    let query = r#"{ DiffTree(branch: "bench-branch") { num_added num_updated num_removed num_conflicts
        nodes { uuid kind label status num_added num_updated num_removed
          attributes { name status properties { property_type previous_value new_value } }
          relationships { name status cardinality elements { status peer_id } } } } }"#;
    let mut samples = Vec::new();
    for _ in 0..5 {
        let request = Request::post("/graphql/bench-branch")
            .header("content-type", "application/json")
            .header("x-infrahub-key", TOKEN)
            .body(Body::from(json!({ "query": query }).to_string()))?;
        let started = Instant::now();
        let response = app.clone().oneshot(request).await?;
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        samples.push(started.elapsed());
        let body: Value = serde_json::from_slice(&bytes)?;
        anyhow::ensure!(body.get("errors").is_none(), "{body}");
    }
    samples.sort();
    println!(
        "DiffTree query over HTTP routing: median {:.1} ms",
        ms(samples[2])
    );

    let started = Instant::now();
    engine.merge_branch("bench-branch").await?;
    println!("merge (1,000 changes): {:.1} ms", ms(started.elapsed()));

    // Rebase: a second branch with 1,000 changes, then 100 default-branch changes elsewhere.
    engine.create_branch(create("bench-rebase")).await?;
    changes(&engine, "bench-rebase", &devices, &site, 7).await?;
    for i in 0..100 {
        let mut input = NodeInput::default();
        input
            .attributes
            .insert("name".into(), text(&format!("main-after-{i}")));
        engine.create("main", "BenchDevice", input).await?;
    }
    let started = Instant::now();
    engine.rebase_branch("bench-rebase").await?;
    println!(
        "rebase (1,000 changes on the branch): {:.1} ms",
        ms(started.elapsed())
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
