//! Measures IPAM at scale on the embedded store, as issue 16 asks:
//!
//! - inserting a prefix into a hierarchy of N prefixes (100,000 by default, all children of
//!   one /8): a leaf, and a /16 that takes 512 of the /8's children;
//! - the utilization of that /8 (a read of the prefix with `utilization`);
//! - allocating from an IP prefix pool, an IP address pool and a number pool that already
//!   handed out 10,000 resources each.
//!
//! ```text
//! cargo build --release -p example-bench-ipam
//! target/release/example-bench-ipam [prefixes] [data-dir]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Fields, NodeInput, PeerInput, PoolInput, QueryArgs,
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
  - name: IPPrefix
    namespace: Ipam
    inherit_from: [BuiltinIPPrefix]
  - name: IPAddress
    namespace: Ipam
    inherit_from: [BuiltinIPAddress]
  - name: Vlan
    namespace: Bench
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: vlan_id, kind: Number, optional: true}
"#;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50, p95 and max of `samples`, in milliseconds.
fn summary(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no runs".into();
    }
    samples.sort();
    let at = |q: f64| ms(samples[((samples.len() as f64 - 1.0) * q).round() as usize]);
    format!(
        "p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms ({} runs)",
        at(0.5),
        at(0.95),
        at(1.0),
        samples.len()
    )
}

fn input(attributes: &[(&str, Value)], relationships: &[(&str, Vec<NodeId>)]) -> NodeInput {
    let mut input = NodeInput::default();
    for (name, value) in attributes {
        input
            .attributes
            .insert((*name).into(), AttributeInput::value(value.clone()));
    }
    for (name, peers) in relationships {
        input.relationships.insert(
            (*name).into(),
            RelationshipInput::Many(peers.iter().map(|p| PeerInput::id(p.to_string())).collect()),
        );
    }
    input
}

/// The `index`-th /25 of 10.0.0.0/8.
fn slash25(index: usize) -> String {
    let address = (10u32 << 24) + (index as u32) * 128;
    format!(
        "{}.{}.{}.{}/25",
        address >> 24,
        (address >> 16) & 255,
        (address >> 8) & 255,
        address & 255
    )
}

async fn prefix(engine: &Engine, value: &str, member_type: &str) -> anyhow::Result<NodeId> {
    Ok(engine
        .create(
            "main",
            "IpamIPPrefix",
            input(
                &[
                    ("prefix", json!(value)),
                    ("member_type", json!(member_type)),
                ],
                &[],
            ),
        )
        .await?
        .node
        .id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("infrahub-bench-ipam-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())?);
    let engine = Engine::open(
        Arc::clone(&store),
        EngineOptions {
            bcrypt_cost: 4,
            ..EngineOptions::default()
        },
    )
    .await?;
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("bench.yml")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    engine.load_schema("main", vec![file], false).await?;

    // The hierarchy: a /8 holding `count` /25s.
    let eight = prefix(&engine, "10.0.0.0/8", "prefix").await?;
    let started = Instant::now();
    for index in 0..count {
        prefix(&engine, &slash25(index), "address").await?;
    }
    let load = started.elapsed();
    println!(
        "load: {count} prefixes under one /8 in {:.1} s ({:.0} creates/s, each placed in the hierarchy)",
        load.as_secs_f64(),
        count as f64 / load.as_secs_f64()
    );

    // Leaf inserts into free space of the /8 (after the loaded /25s).
    let mut leaf = Vec::new();
    for index in 0..200 {
        let value = slash25(count + 1000 + index);
        let started = Instant::now();
        prefix(&engine, &value, "address").await?;
        leaf.push(started.elapsed());
    }
    println!(
        "insert a leaf prefix into the hierarchy: {}",
        summary(&mut leaf)
    );
    // A /16 inserted between the /8 and 512 of its children.
    let mut between = Vec::new();
    for index in 0..(count / 512).min(20) {
        let value = format!("10.{index}.0.0/16");
        let started = Instant::now();
        prefix(&engine, &value, "prefix").await?;
        between.push(started.elapsed());
    }
    println!(
        "insert a /16 between the /8 and 512 of its children: {}",
        summary(&mut between)
    );

    // Utilization of the /8.
    let view = BranchView::now("main");
    let mut args = QueryArgs::default();
    args.filters
        .insert("ids".into(), json!([eight.to_string()]));
    let fields = Fields {
        attributes: Some(vec!["utilization".into()]),
        relationships: Vec::new(),
    };
    let mut reads = Vec::new();
    let mut percent = Value::Null;
    for _ in 0..20 {
        let started = Instant::now();
        let (nodes, _) = engine.query(&view, "IpamIPPrefix", &args, &fields).await?;
        reads.push(started.elapsed());
        percent = nodes[0].value("utilization").clone();
    }
    let children = engine
        .query(
            &view,
            "IpamIPPrefix",
            &args,
            &Fields {
                attributes: Some(Vec::new()),
                relationships: vec!["children".into()],
            },
        )
        .await?
        .0[0]
        .peers("children")
        .len();
    println!(
        "utilization of the /8 ({children} direct children, {percent}%): {}",
        summary(&mut reads)
    );

    // Pools that already handed out 10,000 resources.
    let namespace = {
        let mut args = QueryArgs::default();
        args.filters.insert("default__value".into(), json!(true));
        engine
            .query(&view, "IpamNamespace", &args, &Fields::minimal())
            .await?
            .0[0]
            .id
    };
    let container = prefix(&engine, "172.16.0.0/12", "prefix").await?;
    let prefix_pool = engine
        .create(
            "main",
            "CoreIPPrefixPool",
            input(
                &[
                    ("name", json!("bench-prefixes")),
                    ("default_prefix_length", json!(28)),
                    ("default_prefix_type", json!("IpamIPPrefix")),
                ],
                &[
                    ("resources", vec![container]),
                    ("ip_namespace", vec![namespace]),
                ],
            ),
        )
        .await?
        .node
        .id;
    let subnet = prefix(&engine, "192.168.0.0/16", "address").await?;
    let address_pool = engine
        .create(
            "main",
            "CoreIPAddressPool",
            input(
                &[
                    ("name", json!("bench-addresses")),
                    ("default_address_type", json!("IpamIPAddress")),
                ],
                &[
                    ("resources", vec![subnet]),
                    ("ip_namespace", vec![namespace]),
                ],
            ),
        )
        .await?
        .node
        .id;
    let number_pool = engine
        .create(
            "main",
            "CoreNumberPool",
            input(
                &[
                    ("name", json!("bench-numbers")),
                    ("node", json!("BenchVlan")),
                    ("node_attribute", json!("vlan_id")),
                    ("start_range", json!(1)),
                    ("end_range", json!(1_000_000)),
                ],
                &[],
            ),
        )
        .await?
        .node
        .id;
    let request = |pool: NodeId| PoolInput {
        id: Some(pool.to_string()),
        ..PoolInput::default()
    };
    let vlan = |index: usize| {
        let mut input = input(&[("name", json!(format!("vlan-{index}")))], &[]);
        input.attributes.insert(
            "vlan_id".into(),
            AttributeInput {
                from_pool: Some(Box::new(request(number_pool))),
                ..AttributeInput::default()
            },
        );
        input
    };
    for (name, pool) in [
        ("prefix", prefix_pool),
        ("address", address_pool),
        ("number", number_pool),
    ] {
        let mut early = Vec::new();
        let mut late = Vec::new();
        for index in 0..10_100 {
            let started = Instant::now();
            if name == "number" {
                engine.create("main", "BenchVlan", vlan(index)).await?;
            } else {
                engine
                    .allocate_node("main", &request(pool), &|_| Ok(()))
                    .await?;
            }
            let took = started.elapsed();
            if index < 100 {
                early.push(took);
            } else if index >= 10_000 {
                late.push(took);
            }
        }
        println!(
            "{name} pool, first 100 allocations: {}; after 10,000: {}",
            summary(&mut early),
            summary(&mut late)
        );
    }
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
