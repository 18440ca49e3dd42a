//! The writer keeps the latest node counters in memory; counts must stay exact whatever
//! fails, runs in one batch, or changes counters by other means (branch operations).

use std::sync::Arc;

use serde_json::json;

use super::EmbeddedGraph;
use super::memtable_tests::{create_main, push_thing};
use crate::branch::{BranchView, CreateBranchOptions};
use crate::change::{MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Condition, Op};
use crate::model::{NodeId, Scope};
use crate::query::NodeQuery;
use crate::store::GraphStore;

async fn count(store: &EmbeddedGraph, branch: &str) -> u64 {
    let query = NodeQuery {
        labels: vec!["Thing".into()],
        ..NodeQuery::default()
    };
    store
        .count(&BranchView::now(branch), &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Creates a `Thing` on `branch`; with `fail`, the changeset carries a condition that fails.
async fn create(store: &EmbeddedGraph, branch: &str, fail: bool) -> Option<NodeId> {
    let id = NodeId::now_v7();
    let mut changeset = Changeset::new(branch);
    push_thing(&mut changeset, id, "number", json!(1));
    if fail {
        changeset.conditions.push(Condition::NodeExists {
            id: NodeId::now_v7(),
            description: "no such node".into(),
        });
    }
    store.commit(changeset).await.ok().map(|_| id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_across_failures_batches_and_branch_operations() {
    let store = Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    create_main(&store).await;
    for _ in 0..3 {
        create(&store, "main", false).await;
    }
    assert_eq!(count(&store, "main").await, 3);
    assert_eq!(create(&store, "main", true).await, None);
    assert_eq!(
        count(&store, "main").await,
        3,
        "a failed changeset counts nothing"
    );

    // Concurrent writers share batches; the failing ones count nothing.
    let mut tasks = Vec::new();
    for index in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            create(&store, "main", index % 3 == 0).await.is_some()
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        succeeded += u64::from(task.await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(succeeded, 10);
    assert_eq!(count(&store, "main").await, 13);

    // A branch counts its own writes on top of main's at the branch point.
    store
        .create_branch("b", CreateBranchOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    create(&store, "b", false).await;
    let on_b = create(&store, "b", false)
        .await
        .unwrap_or_else(|| panic!("created"));
    create(&store, "main", false).await;
    assert_eq!(count(&store, "b").await, 15);
    assert_eq!(count(&store, "main").await, 14);

    // A rebase starts the branch's counters over, a merge moves them to main.
    store
        .rebase_branch("b", RebaseOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(&store, "b").await, 16);
    let mut delete = Changeset::new("b");
    delete.push(Op::DeleteNode {
        id: on_b,
        scope: Scope::Branch,
    });
    store.commit(delete).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(&store, "b").await, 15);
    store
        .merge_branch("b", MergeOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(&store, "main").await, 15);
    create(&store, "main", false).await;
    assert_eq!(count(&store, "main").await, 16);

    // A branch deleted and created again under the same name starts from main.
    create(&store, "b", false).await;
    store
        .delete_branch("b")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .create_branch("b", CreateBranchOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(&store, "b").await, 16);
    create(&store, "b", false).await;
    assert_eq!(count(&store, "b").await, 17);
    assert_eq!(count(&store, "main").await, 16);
}
