//! Benchmarks the embedded graph store on a store holding N nodes (default 100,000) of 5 kinds
//! with 5 attributes and 2 links each, plus 1,000 changes on a branch.
//!
//! ```text
//! cargo run --release -p example-bench-graph -- [nodes] [data-dir]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use infrahub_graph::{
    AttributeValue, BranchView, Changeset, CreateBranchOptions, EmbeddedGraph,
    EmbeddedGraphOptions, Filter, GraphStore, LinkProperties, Match, NodeId, NodeQuery, Op,
    Property, Scope, Selection, Timestamp, new_node_id,
};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KINDS: [&str; 5] = [
    "BenchSite",
    "BenchDevice",
    "BenchInterface",
    "BenchCircuit",
    "BenchVlan",
];

fn node_ops(id: NodeId, kind: &str, index: usize, peers: [NodeId; 2]) -> Vec<Op> {
    let mut ops = vec![Op::CreateNode {
        id,
        kind: kind.into(),
        labels: vec!["BenchNode".into()],
        scope: Scope::Branch,
    }];
    let values = [
        ("name", json!(format!("{kind}-{index:07}"))),
        ("description", json!(format!("object number {index}"))),
        ("status", json!(["active", "planned", "retired"][index % 3])),
        ("weight", json!(index % 1000)),
        ("enabled", json!(index.is_multiple_of(2))),
    ];
    for (name, value) in values {
        ops.push(Op::SetAttribute {
            node: id,
            name: name.into(),
            value: AttributeValue::new(value),
            scope: Scope::Branch,
            indexed: true,
        });
    }
    for (slot, peer) in peers.iter().enumerate() {
        if *peer != id {
            ops.push(Op::SetLink {
                identifier: format!("bench_link_{slot}"),
                from: id,
                to: *peer,
                properties: LinkProperties::visible(),
                scope: Scope::Branch,
            });
        }
    }
    ops
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn time_reads(
    label: &str,
    store: &EmbeddedGraph,
    view: &BranchView,
    ids: &[NodeId],
    names: &[String],
) -> anyhow::Result<()> {
    let all = Selection::all_attributes();
    let mut samples = Vec::new();
    for id in ids.iter().take(2000) {
        let started = Instant::now();
        let nodes = store.get_nodes_blocking(view, &[*id], &all)?;
        samples.push(started.elapsed());
        anyhow::ensure!(nodes.len() == 1, "node {id} missing");
    }
    println!(
        "  [{label}] fetch 1 node by id, all attributes: median {}",
        us(median(samples))
    );

    let list = NodeQuery {
        labels: vec![KINDS[1].into()],
        limit: Some(1000),
        select: Selection {
            attributes: Some(vec!["name".into(), "status".into(), "weight".into()]),
            links: vec![],
        },
        ..NodeQuery::default()
    };
    let mut samples = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let result = store.query_blocking(view, &list)?;
        samples.push(started.elapsed());
        anyhow::ensure!(result.nodes.len() == 1000, "listed {}", result.nodes.len());
    }
    let fastest = samples.iter().min().copied().unwrap_or_default();
    println!(
        "  [{label}] list 1,000 nodes of one kind with 3 attributes: median {} (fastest {})",
        ms(median(samples)),
        ms(fastest)
    );

    let mut samples = Vec::new();
    for name in names.iter().take(2000) {
        let query = NodeQuery {
            labels: vec![KINDS[1].into()],
            filters: vec![Filter::Attribute {
                name: "name".into(),
                property: Property::Value,
                matches: Match::Equals(json!(name)),
            }],
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let started = Instant::now();
        let result = store.query_blocking(view, &query)?;
        samples.push(started.elapsed());
        anyhow::ensure!(
            result.nodes.len() == 1,
            "filter found {}",
            result.nodes.len()
        );
    }
    println!(
        "  [{label}] filter by unique attribute value: median {}",
        us(median(samples))
    );

    let count = NodeQuery {
        labels: vec![KINDS[1].into()],
        ..NodeQuery::default()
    };
    let mut samples = Vec::new();
    let mut total = 0;
    for _ in 0..200 {
        let started = Instant::now();
        total = store.count_blocking(view, &count)?;
        samples.push(started.elapsed());
    }
    println!(
        "  [{label}] count of one kind ({total}): median {}",
        us(median(samples))
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("infrahub-bench-graph-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    println!("store: {} nodes in {}", total, dir.display());

    let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())?;
    store
        .create_branch(
            "main",
            CreateBranchOptions {
                is_default: true,
                ..Default::default()
            },
        )
        .await?;

    // Bulk load in changesets of 1,000 nodes.
    let started = Instant::now();
    let mut ids: Vec<NodeId> = Vec::with_capacity(total);
    let mut names: Vec<String> = Vec::new();
    let mut changeset = Changeset::new("main");
    for index in 0..total {
        let id = new_node_id();
        let kind = KINDS[index % KINDS.len()];
        let peers = [
            ids.get(index.saturating_sub(1)).copied().unwrap_or(id),
            ids.get(index / 2).copied().unwrap_or(id),
        ];
        changeset.ops.extend(node_ops(id, kind, index, peers));
        if kind == KINDS[1] {
            names.push(format!("{kind}-{index:07}"));
        }
        ids.push(id);
        if changeset.ops.len() >= 8_000 {
            store
                .commit(std::mem::replace(&mut changeset, Changeset::new("main")))
                .await?;
        }
    }
    if !changeset.ops.is_empty() {
        store.commit(changeset).await?;
    }
    println!(
        "bulk load: {} ({:.0} nodes/s)",
        ms(started.elapsed()),
        total as f64 / started.elapsed().as_secs_f64()
    );
    let loaded_at = store.last_commit().await?;

    // Durable single-node changesets, sequential and from 8 concurrent writers.
    let n = 2000;
    let started = Instant::now();
    for index in 0..n {
        let id = new_node_id();
        store
            .commit(Changeset {
                branch: "main".into(),
                ops: node_ops(id, KINDS[0], total + index, [ids[index], ids[index + 1]]),
                conditions: vec![],
            })
            .await?;
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "single changeset (1 node, 5 attributes, 2 links), durable, sequential: {sequential:.0}/s"
    );
    let shared = Arc::new(ids.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        let ids = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            for index in 0..n / 8 {
                let id = new_node_id();
                let i = writer * 1000 + index;
                store
                    .commit(Changeset {
                        branch: "main".into(),
                        ops: node_ops(id, KINDS[0], 10_000_000 + i, [ids[i], ids[i + 1]]),
                        conditions: vec![],
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let concurrent = n as f64 / started.elapsed().as_secs_f64();
    println!("single changeset, durable, 8 concurrent writers: {concurrent:.0}/s");

    // A branch with 1,000 changes: 600 attribute updates, 200 link changes, 100 creates, 100 deletes.
    store
        .create_branch("bench", CreateBranchOptions::default())
        .await?;
    let mut changeset = Changeset::new("bench");
    for i in 0..600 {
        changeset.push(Op::SetAttribute {
            node: ids[i * 7],
            name: "description".into(),
            value: AttributeValue::new(json!(format!("changed {i}"))),
            scope: Scope::Branch,
            indexed: true,
        });
    }
    for i in 0..200 {
        changeset.push(Op::SetLink {
            identifier: "bench_extra".into(),
            from: ids[i * 11],
            to: ids[i * 13 + 1],
            properties: LinkProperties::visible(),
            scope: Scope::Branch,
        });
    }
    for (i, peer) in ids.iter().take(100).enumerate() {
        changeset.ops.extend(
            node_ops(new_node_id(), KINDS[2], 20_000_000 + i, [*peer, *peer])
                .into_iter()
                .take(1),
        );
    }
    for i in 0..100 {
        changeset.push(Op::DeleteNode {
            id: ids[total - 1 - i * 3],
            scope: Scope::Branch,
        });
    }
    let branch_commit = store.commit(changeset).await?;
    let mut samples = Vec::new();
    let mut change_count = 0;
    for _ in 0..20 {
        let started = Instant::now();
        change_count = store
            .changes_blocking("bench", Timestamp::MIN, Timestamp::MAX)?
            .len();
        samples.push(started.elapsed());
    }
    println!(
        "change enumeration of the branch ({change_count} versions): median {}",
        ms(median(samples))
    );

    // Reads are measured once the branch's changes have left the memtable (the flusher moves
    // it into the database 5-10 ms after writes stop; on two cores that move would otherwise
    // run during the first reads).
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("reads:");
    time_reads("main", &store, &BranchView::now("main"), &ids, &names)?;
    time_reads("branch", &store, &BranchView::now("bench"), &ids, &names)?;
    time_reads(
        "main at a past timestamp",
        &store,
        &BranchView::at("main", loaded_at),
        &ids,
        &names,
    )?;
    let _ = branch_commit;

    println!("RSS after loading and reading: {:.0} MiB", rss_mib());
    drop(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let size = dir_size(&dir);
    println!("on-disk size: {:.0} MiB", size as f64 / (1 << 20) as f64);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let reopened =
            EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default()).context("reopening")?;
        let _ = reopened.get_nodes_blocking(
            &BranchView::now("main"),
            &ids[..1],
            &Selection::all_attributes(),
        )?;
        samples.push(started.elapsed());
        drop(reopened);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "reopen the store and read one node: median {}",
        ms(median(samples))
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
