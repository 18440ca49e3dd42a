//! Measures the node engine on the durable embedded store, without HTTP or GraphQL, with
//! 100,000 nodes loaded through the engine: creates (validated, uniqueness-checked) from 8 tasks
//! and in sequence, get by id, get by human-friendly id, a list of 1,000 nodes with three
//! attributes and one relationship, pages deep in the listing, paging through all of it 50 at
//! a time, and loading the schema library's base files.
//!
//! ```text
//! cargo build --release -p example-bench-engine
//! target/release/example-bench-engine [nodes] [schema-library-dir]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Fields, NodeInput, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, EmbeddedGraphOptions, GraphStore, NodeId};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    order_by: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: serial, kind: Text, optional: true}
      - {name: rack_unit, kind: Number, optional: true}
    relationships:
      - {name: site, peer: BenchSite, cardinality: one, optional: true}
"#;

fn device(name: String, site: NodeId) -> NodeInput {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(Value::String(name)));
    input
        .attributes
        .insert("serial".into(), AttributeInput::value(json!("SN1")));
    input
        .attributes
        .insert("rack_unit".into(), AttributeInput::value(json!(42)));
    input.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(site.to_string()))),
    );
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

/// Pages through the `BenchDevice`s `args` selects, 50 at a time, counting every page as the
/// SDK does; returns how many nodes came.
async fn page_through(
    engine: &Engine,
    view: &BranchView,
    args: QueryArgs,
    fields: &Fields,
) -> anyhow::Result<usize> {
    let mut seen = 0;
    let mut offset = 0;
    loop {
        let page = QueryArgs {
            offset,
            limit: Some(50),
            count: true,
            ..args.clone()
        };
        let (found, total) = engine.query(view, "BenchDevice", &page, fields).await?;
        seen += found.len();
        offset += 50;
        if offset as u64 >= total {
            return Ok(seen);
        }
    }
}

fn options() -> EngineOptions {
    EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let library = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "../shared/data/schema-library".into());
    let dir = std::env::temp_dir().join(format!("infrahub-bench-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())?);
    let started = Instant::now();
    let engine = Arc::new(Engine::open(store, options()).await?);
    println!(
        "open (fresh: core schema and initial data): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("bench.yml")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    engine.load_schema("main", vec![file], false).await?;
    let mut sites = Vec::new();
    for index in 0..100 {
        let mut input = NodeInput::default();
        input.attributes.insert(
            "name".into(),
            AttributeInput::value(json!(format!("site-{index:03}"))),
        );
        sites.push(engine.create("main", "BenchSite", input).await?.node.id);
    }
    let sites = Arc::new(sites);

    // Load through the engine from 8 tasks.
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_task = nodes / 8;
    for task in 0..8 {
        let engine = Arc::clone(&engine);
        let sites = Arc::clone(&sites);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for index in 0..per_task {
                let begin = Instant::now();
                let site = sites[index % sites.len()];
                engine
                    .create(
                        "main",
                        "BenchDevice",
                        device(format!("dev-{task}-{index:06}"), site),
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
    summary(
        "create, 8 tasks (loading)",
        per_task * 8,
        started.elapsed(),
        latencies,
    );

    let mut latencies = Vec::new();
    let mut created = Vec::new();
    let started = Instant::now();
    for index in 0..1000 {
        let begin = Instant::now();
        let site = sites[index % sites.len()];
        let done = engine
            .create(
                "main",
                "BenchDevice",
                device(format!("seq-{index:05}"), site),
            )
            .await?;
        latencies.push(begin.elapsed());
        created.push(done.node.id);
    }
    summary(
        "create, sequential (on top)",
        1000,
        started.elapsed(),
        latencies,
    );

    let view = BranchView::now("main");
    let three = Fields {
        attributes: Some(vec!["name".into(), "serial".into(), "rack_unit".into()]),
        relationships: Vec::new(),
    };
    let mut latencies = Vec::new();
    let started = Instant::now();
    for index in 0..1000 {
        let id = created[(index * 7919) % created.len()];
        let begin = Instant::now();
        let found = engine.get(&view, "BenchDevice", &[id], &three).await?;
        latencies.push(begin.elapsed());
        anyhow::ensure!(found.len() == 1, "get by id missed");
    }
    summary(
        "get by id, 3 attributes",
        1000,
        started.elapsed(),
        latencies,
    );

    let mut latencies = Vec::new();
    let started = Instant::now();
    for index in 0..1000 {
        let mut args = QueryArgs::default();
        args.filters.insert(
            "hfid".into(),
            json!([format!("seq-{:05}", (index * 7919) % 1000)]),
        );
        let begin = Instant::now();
        let (found, _) = engine.query(&view, "BenchDevice", &args, &three).await?;
        latencies.push(begin.elapsed());
        anyhow::ensure!(found.len() == 1, "get by hfid missed");
    }
    summary(
        "get by hfid, 3 attributes",
        1000,
        started.elapsed(),
        latencies,
    );

    let list_fields = Fields {
        attributes: Some(vec!["name".into(), "serial".into(), "rack_unit".into()]),
        relationships: vec!["site".into()],
    };
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..20 {
        let args = QueryArgs {
            limit: Some(1000),
            count: true,
            ..QueryArgs::default()
        };
        let begin = Instant::now();
        let (found, total) = engine
            .query(&view, "BenchDevice", &args, &list_fields)
            .await?;
        latencies.push(begin.elapsed());
        anyhow::ensure!(found.len() == 1000 && total as usize == per_task * 8 + 1000);
    }
    summary(
        "list first 1,000 (ordered, 3 attributes and a relationship, with count)",
        20,
        started.elapsed(),
        latencies,
    );
    let mut latencies = Vec::new();
    let started = Instant::now();
    for page in [10, 50, 99] {
        let args = QueryArgs {
            offset: page * 1000,
            limit: Some(1000),
            ..QueryArgs::default()
        };
        let begin = Instant::now();
        let (found, _) = engine
            .query(&view, "BenchDevice", &args, &list_fields)
            .await?;
        latencies.push(begin.elapsed());
        anyhow::ensure!(found.len() == 1000);
        println!(
            "  page at offset {}: {:.1} ms",
            page * 1000,
            begin.elapsed().as_secs_f64() * 1e3
        );
    }
    let _ = (latencies, started);
    // Every node, 50 at a time, as the SDK's `all()` pages (the page after the first orders
    // the whole listing once; the later pages reuse that ordering); the same without ordering
    // (`order: {disable: true}`, which the SDK recommends for speed); the same through a
    // filter (as the SDK's `filters()`, which counts every page: each page must see every
    // match to count it).
    let all = QueryArgs::default();
    let unordered = QueryArgs {
        order_disabled: true,
        ..QueryArgs::default()
    };
    let filtered = QueryArgs {
        filters: [("name__value".to_string(), json!("dev-"))].into(),
        partial_match: true,
        ..QueryArgs::default()
    };
    for (label, args) in [
        ("all nodes (as the SDK's all())", all),
        ("all nodes, order disabled", unordered),
        ("the matches of a filter (as the SDK's filters())", filtered),
    ] {
        let started = Instant::now();
        let seen = page_through(&engine, &view, args, &list_fields).await?;
        anyhow::ensure!(seen >= per_task * 8);
        println!(
            "page through {label}, {seen} by 50: {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    drop(engine);

    // Schema library base files into a fresh engine.
    let base: Vec<std::path::PathBuf> = {
        let mut files: Vec<_> = std::fs::read_dir(library.join("base"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .collect();
        files.sort();
        files
    };
    let mut samples = Vec::new();
    for _ in 0..5 {
        let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory()?);
        let engine = Engine::open(store, options()).await?;
        let files = base
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p)?;
                SchemaFile::from_yaml(&text, Some(&p.display().to_string()))
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let begin = Instant::now();
        engine.load_schema("main", files, false).await?;
        samples.push(begin.elapsed());
    }
    samples.sort();
    println!(
        "schema load, schema-library base ({} files) into a fresh engine: median {:.1} ms",
        base.len(),
        samples[samples.len() / 2].as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
