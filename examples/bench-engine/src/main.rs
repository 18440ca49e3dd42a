//! Measures the node engine on the durable embedded store, without HTTP or GraphQL:
//! 1,000 creates in sequence, 8,000 creates from 8 tasks, lookups by human-friendly id, and a
//! list of 1,000 nodes with one attribute.
//!
//! ```text
//! cargo build --release -p example-bench-engine
//! target/release/example-bench-engine [data-dir]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Fields, NodeInput, NodeRef, QueryArgs,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, EmbeddedGraphOptions, GraphStore};
use serde_json::Value;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Bench
    human_friendly_id: [name__value]
    display_label: name__value
    order_by: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: serial, kind: Text, optional: true}
      - {name: rack_unit, kind: Number, optional: true}
"#;

fn device(name: String) -> NodeInput {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(Value::String(name)));
    input.attributes.insert(
        "serial".into(),
        AttributeInput::value(Value::String("SN1".into())),
    );
    input
        .attributes
        .insert("rack_unit".into(), AttributeInput::value(Value::from(42)));
    input
}

fn summary(label: &str, count: usize, total: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    println!(
        "{label}: {count} in {:.1} ms = {:.0}/s; p50 {:.0} us, p95 {:.0} us",
        total.as_secs_f64() * 1e3,
        count as f64 / total.as_secs_f64(),
        at(0.5),
        at(0.95)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("infrahub-bench-engine-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())?);
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let started = Instant::now();
    let engine = Arc::new(Engine::open(store, options).await?);
    println!(
        "open (fresh, core schema and initial data): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("bench.yml")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    engine.load_schema("main", vec![file], false).await?;

    let mut latencies = Vec::new();
    let started = Instant::now();
    for index in 0..1000 {
        let begin = Instant::now();
        engine
            .create("main", "BenchDevice", device(format!("seq-{index:05}")))
            .await?;
        latencies.push(begin.elapsed());
    }
    summary("create, sequential", 1000, started.elapsed(), latencies);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..8 {
        let engine = Arc::clone(&engine);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for index in 0..1000 {
                let begin = Instant::now();
                engine
                    .create(
                        "main",
                        "BenchDevice",
                        device(format!("par-{task}-{index:05}")),
                    )
                    .await?;
                latencies.push(begin.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    summary("create, 8 tasks", 8000, started.elapsed(), latencies);

    let view = BranchView::now("main");
    let mut latencies = Vec::new();
    let started = Instant::now();
    for index in 0..1000 {
        let begin = Instant::now();
        let reference = NodeRef {
            id: None,
            hfid: Some(vec![format!("seq-{:05}", (index * 7919) % 1000)]),
        };
        engine.resolve(&view, "BenchDevice", &reference).await?;
        latencies.push(begin.elapsed());
    }
    summary("resolve by hfid", 1000, started.elapsed(), latencies);

    let mut latencies = Vec::new();
    let started = Instant::now();
    let fields = Fields {
        attributes: Some(vec!["name".into()]),
        relationships: Vec::new(),
    };
    for _ in 0..20 {
        let begin = Instant::now();
        let args = QueryArgs {
            limit: Some(1000),
            count: true,
            ..QueryArgs::default()
        };
        let (nodes, _) = engine.query(&view, "BenchDevice", &args, &fields).await?;
        assert_eq!(nodes.len(), 1000);
        latencies.push(begin.elapsed());
    }
    summary(
        "list 1,000 with one attribute",
        20,
        started.elapsed(),
        latencies,
    );

    // The same list straight from the store, to tell storage from node building.
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..20 {
        let begin = Instant::now();
        let query = infrahub_graph::NodeQuery {
            labels: vec!["BenchDevice".into()],
            order: vec![infrahub_graph::OrderBy {
                attribute: "name".into(),
                descending: false,
            }],
            limit: Some(1000),
            count: true,
            select: infrahub_graph::Selection {
                attributes: Some(vec!["name".into()]),
                links: Vec::new(),
            },
            ..infrahub_graph::NodeQuery::default()
        };
        let result = engine.store().query(&view, &query).await?;
        assert_eq!(result.nodes.len(), 1000);
        latencies.push(begin.elapsed());
    }
    summary(
        "store query 1,000 ordered, one attribute",
        20,
        started.elapsed(),
        latencies,
    );
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..20 {
        let begin = Instant::now();
        let query = infrahub_graph::NodeQuery {
            labels: vec!["BenchDevice".into()],
            limit: Some(1000),
            select: infrahub_graph::Selection {
                attributes: Some(vec!["name".into()]),
                links: Vec::new(),
            },
            ..infrahub_graph::NodeQuery::default()
        };
        let result = engine.store().query(&view, &query).await?;
        assert_eq!(result.nodes.len(), 1000);
        latencies.push(begin.elapsed());
    }
    summary(
        "store query 1,000 unordered, one attribute, no count",
        20,
        started.elapsed(),
        latencies,
    );
    if std::env::var_os("BENCH_PROFILE_LIST").is_some() {
        // A long loop of the list alone, to profile it.
        for _ in 0..500 {
            let args = QueryArgs {
                limit: Some(1000),
                count: true,
                ..QueryArgs::default()
            };
            engine.query(&view, "BenchDevice", &args, &fields).await?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
