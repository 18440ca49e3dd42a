//! Acknowledged writes live in the memtable until the writer moves them into the database:
//! reads see them the same way before and after, and across a reopen.

use std::time::Duration;

use serde_json::json;

use super::{EmbeddedGraph, EmbeddedGraphOptions};
use crate::branch::{BranchView, CreateBranchOptions};
use crate::changeset::{Changeset, Op};
use crate::model::{AttributeValue, NodeId, Scope};
use crate::query::{Filter, Match, NodeQuery, Property, Selection};
use crate::store::GraphStore;

async fn values(store: &EmbeddedGraph, ids: &[NodeId]) -> Vec<serde_json::Value> {
    store
        .get_nodes(&BranchView::now("main"), ids, &Selection::all_attributes())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|n| n.attributes["number"].value.value.clone())
        .collect()
}

async fn found(store: &EmbeddedGraph, number: u64) -> usize {
    let query = NodeQuery {
        labels: vec!["Thing".into()],
        filters: vec![Filter::Attribute {
            name: "number".into(),
            property: Property::Value,
            matches: Match::Equals(json!(number)),
        }],
        ..NodeQuery::default()
    };
    store
        .query(&BranchView::now("main"), &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .nodes
        .len()
}

/// Adds to `changeset` a `Thing` node `id` with one indexed attribute.
pub(super) fn push_thing(
    changeset: &mut Changeset,
    id: NodeId,
    name: &str,
    value: serde_json::Value,
) {
    changeset.push(Op::CreateNode {
        id,
        kind: "Thing".into(),
        labels: vec!["Thing".into()],
        scope: Scope::Branch,
    });
    changeset.push(Op::SetAttribute {
        node: id,
        name: name.into(),
        value: AttributeValue::new(value),
        scope: Scope::Branch,
        indexed: true,
    });
}

/// Creates the default branch `main`.
pub(super) async fn create_main(store: &EmbeddedGraph) {
    store
        .create_branch(
            "main",
            CreateBranchOptions {
                is_default: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until the memtable has been moved into the database, which the flusher does by
/// itself once writes stop (a checkpoint would too). Gives up after a minute rather than
/// hang: a guard, not a measure of how fast it happens.
async fn wait_until_flushed(store: &EmbeddedGraph) {
    for _ in 0..12_000 {
        let depth = store
            .inner
            .memtable
            .memtable()
            .map(|m| m.depth())
            .unwrap_or(0);
        if depth == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the memtable was never moved into the database after writes stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_releases_its_directory_at_once_and_refuses_work() {
    let dir = std::env::temp_dir().join(format!("infrahub-close-{}", NodeId::now_v7()));
    let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    create_main(&store).await;
    let ids: Vec<NodeId> = (0..5).map(|_| NodeId::now_v7()).collect();
    for (number, id) in ids.iter().enumerate() {
        let mut changeset = Changeset::new("main");
        push_thing(&mut changeset, *id, "number", json!(number));
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Another handle (a task still running) does not keep the store open.
    let other = store.clone();
    assert!(
        EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default()).is_err(),
        "the directory is in use while the store is open"
    );
    store.close().await.unwrap_or_else(|e| panic!("close: {e}"));
    let mut changeset = Changeset::new("main");
    push_thing(&mut changeset, NodeId::now_v7(), "number", json!(99));
    let refused = other.commit(changeset).await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("closed")),
        "writes after close are refused"
    );
    assert!(
        other
            .get_nodes(&BranchView::now("main"), &ids, &Selection::all_attributes())
            .await
            .is_err(),
        "reads after close are refused"
    );
    store
        .close()
        .await
        .unwrap_or_else(|e| panic!("closing twice: {e}"));
    // The directory opens right away, with every acknowledged write.
    let reopened = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let expected: Vec<serde_json::Value> = (0..5).map(|n| json!(n)).collect();
    assert_eq!(values(&reopened, &ids).await, expected);
    drop((reopened, other, store));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_read_the_same_before_and_after_moving_into_the_database_and_a_reopen() {
    let dir = std::env::temp_dir().join(format!("infrahub-memtable-{}", NodeId::now_v7()));
    let ids: Vec<NodeId> = (0..40).map(|_| NodeId::now_v7()).collect();
    {
        let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        create_main(&store).await;
        for (number, id) in ids.iter().enumerate() {
            let mut changeset = Changeset::new("main");
            push_thing(&mut changeset, *id, "number", json!(number));
            store
                .commit(changeset)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // Read right after each acknowledgement, while the write is in the memtable.
            assert_eq!(values(&store, &[*id]).await, vec![json!(number)]);
        }
        // A lone write after the memtable was emptied is moved into the database too.
        wait_until_flushed(&store).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Overwrite one value, then let the flusher move it into the database.
        let mut changeset = Changeset::new("main");
        changeset.push(Op::SetAttribute {
            node: ids[3],
            name: "number".into(),
            value: AttributeValue::new(json!(1000)),
            scope: Scope::Branch,
            indexed: true,
        });
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let before = values(&store, &ids).await;
        assert_eq!(found(&store, 1000).await, 1);
        assert_eq!(found(&store, 3).await, 0);
        // Once writing stops, the flusher moves the memtable into the database by itself.
        wait_until_flushed(&store).await;
        assert_eq!(values(&store, &ids).await, before);
        assert_eq!(found(&store, 1000).await, 1);
        assert_eq!(found(&store, 3).await, 0);
    }
    let store = EmbeddedGraph::open(&dir, EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let after = values(&store, &ids).await;
    assert_eq!(after.len(), 40);
    assert_eq!(after[3], json!(1000));
    assert_eq!(found(&store, 39).await, 1);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
