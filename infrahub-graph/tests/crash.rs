//! Crash safety of the embedded store: a child process commits changesets from several tasks
//! and reports each acknowledged one; it is killed with SIGKILL at a random moment, the store is
//! reopened, and every acknowledged changeset must be fully present and no changeset partly
//! present. Twenty kill/restart cycles run on the same store.
//!
//! The child is this same test binary, re-run with `INFRAHUB_CRASH_CHILD` set.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, CreateBranchOptions, EmbeddedGraph,
    EmbeddedGraphOptions, ErrorKind, GraphStore, LinkProperties, LinkSelection, NodeId, NodeQuery,
    Op, Scope, Selection, Side, new_node_id,
};
use serde_json::json;

const CHILD: &str = "INFRAHUB_CRASH_CHILD";
const CYCLES: usize = 20;
const WRITERS: usize = 4;
const KIND: &str = "CrashNode";

fn open(dir: &Path) -> EmbeddedGraph {
    EmbeddedGraph::open(dir, EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}

/// One changeset: a node with two attributes carrying the same number and a link to the
/// writer's previous node.
fn changeset(id: NodeId, writer: usize, number: u64, previous: Option<NodeId>) -> Changeset {
    let mut changeset = Changeset::new("main");
    changeset.push(Op::CreateNode {
        id,
        kind: KIND.into(),
        labels: vec![],
        scope: Scope::Branch,
    });
    for name in ["first", "second"] {
        changeset.push(Op::SetAttribute {
            node: id,
            name: name.into(),
            value: AttributeValue::new(json!(number)),
            scope: Scope::Branch,
            indexed: true,
        });
    }
    changeset.push(Op::SetAttribute {
        node: id,
        name: "writer".into(),
        value: AttributeValue::new(json!(writer)),
        scope: Scope::Branch,
        indexed: true,
    });
    if let Some(previous) = previous {
        changeset.push(Op::SetLink {
            identifier: "chain".into(),
            from: id,
            to: previous,
            properties: LinkProperties::visible(),
            scope: Scope::Branch,
        });
    }
    changeset
}

fn child(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async move {
        let store = open(dir);
        match store
            .create_branch(
                "main",
                CreateBranchOptions {
                    is_default: true,
                    ..Default::default()
                },
            )
            .await
        {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
            Err(err) => panic!("creating main: {err}"),
        }
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut previous = None;
                let mut number = 0u64;
                loop {
                    number += 1;
                    let id = new_node_id();
                    store
                        .commit(changeset(id, writer, number, previous))
                        .await
                        .unwrap_or_else(|e| panic!("commit: {e}"));
                    println!(
                        "ACK {id} {number} {}",
                        previous.map(|p| p.to_string()).unwrap_or_default()
                    );
                    previous = Some(id);
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// A random delay between 30 and 330 ms (from the system's random source, through a v4 UUID).
fn random_delay() -> Duration {
    let random = uuid::Uuid::new_v4().as_u128();
    Duration::from_millis(30 + (random % 300) as u64)
}

fn verify(dir: &Path, acknowledged: &BTreeMap<NodeId, (u64, Option<NodeId>)>) -> usize {
    let store = open(dir);
    let view = BranchView::now("main");
    let select = Selection {
        attributes: None,
        links: vec![LinkSelection {
            identifier: "chain".into(),
            side: Side::From,
        }],
    };
    let query = NodeQuery {
        labels: vec![KIND.into()],
        select,
        count: true,
        ..NodeQuery::default()
    };
    let result = match store.query_blocking(&view, &query) {
        Ok(result) => result,
        // A child killed before it created `main` (a slow start on a loaded machine) leaves no
        // branch; that is only acceptable while nothing was acknowledged.
        Err(err) if err.kind() == ErrorKind::NotFound && acknowledged.is_empty() => return 0,
        Err(err) => panic!("query: {err}"),
    };
    // No partial changeset: every visible node has both numbers, equal, and its writer.
    for node in &result.nodes {
        let first = node.attributes.get("first").map(|a| a.value.value.clone());
        let second = node.attributes.get("second").map(|a| a.value.value.clone());
        assert!(
            first.is_some() && first == second,
            "node {} is partial: {first:?} / {second:?}",
            node.id
        );
        assert!(
            node.attributes.contains_key("writer"),
            "node {} lost its writer",
            node.id
        );
    }
    assert_eq!(
        result.total,
        Some(result.nodes.len() as u64),
        "count disagrees with the nodes listed"
    );
    let by_id: BTreeMap<NodeId, &infrahub_graph::NodeData> =
        result.nodes.iter().map(|n| (n.id, n)).collect();
    for (id, (number, previous)) in acknowledged {
        let node = by_id
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged node {id} is missing after restart"));
        assert_eq!(node.attributes["first"].value.value, json!(number));
        let links: Vec<NodeId> = node.links.iter().map(|l| l.peer).collect();
        assert_eq!(
            links,
            previous.iter().copied().collect::<Vec<_>>(),
            "link of {id}"
        );
    }
    result.nodes.len()
}

fn parent() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("infrahub-crash-{}", uuid::Uuid::new_v4()));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut acknowledged: BTreeMap<NodeId, (u64, Option<NodeId>)> = BTreeMap::new();
    for cycle in 0..CYCLES {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "acknowledged_changesets_survive_kill_9",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning the child: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parts: Vec<&str> = line.split(' ').collect();
                if parts.first() == Some(&"ACK")
                    && parts.len() >= 3
                    && let (Ok(id), Ok(number)) =
                        (parts[1].parse::<NodeId>(), parts[2].parse::<u64>())
                {
                    let previous = parts.get(3).and_then(|p| p.parse::<NodeId>().ok());
                    acks.push((id, number, previous));
                }
            }
            acks
        });
        std::thread::sleep(random_delay());
        child
            .kill()
            .unwrap_or_else(|e| panic!("killing the child: {e}"));
        let _ = child.wait();
        let acks = reader.join().unwrap_or_default();
        for (id, number, previous) in acks {
            acknowledged.insert(id, (number, previous));
        }
        let visible = verify(&dir, &acknowledged);
        println!(
            "cycle {cycle}: {} acknowledged so far, {visible} visible after restart",
            acknowledged.len()
        );
    }
    assert!(
        acknowledged.len() > CYCLES,
        "the child acknowledged too few changesets to test anything"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_changesets_survive_kill_9() {
    match std::env::var(CHILD) {
        Ok(dir) => child(Path::new(&dir)),
        Err(_) => parent(),
    }
}
