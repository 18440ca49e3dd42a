//! Which queries run on the calling thread: lookups with few candidates only.

use serde_json::json;

use super::{EmbeddedGraph, INLINE_LOOKUP, query::is_small_lookup};
use crate::branch::BranchView;
use crate::changeset::Changeset;
use crate::model::NodeId;
use crate::query::{Filter, Match, NodeQuery, Property};
use crate::store::GraphStore;

#[tokio::test]
async fn only_lookups_with_few_candidates_run_inline() {
    let store = EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}"));
    super::memtable_tests::create_main(&store).await;
    let ids: Vec<NodeId> = (0..INLINE_LOOKUP + 2).map(|_| NodeId::now_v7()).collect();
    let mut changeset = Changeset::new("main");
    for (index, id) in ids.iter().enumerate() {
        // Every node but the first holds the common value.
        let group = if index == 0 { "rare" } else { "common" };
        super::memtable_tests::push_thing(&mut changeset, *id, "group", json!(group));
    }
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let by_value = |value: &str| NodeQuery {
        labels: vec!["Thing".into()],
        filters: vec![Filter::Attribute {
            name: "group".into(),
            property: Property::Value,
            matches: Match::Equals(json!(value)),
        }],
        ..NodeQuery::default()
    };
    let by_ids = |count: usize| NodeQuery {
        labels: vec!["Thing".into()],
        filters: vec![Filter::Ids(ids[..count].to_vec())],
        ..NodeQuery::default()
    };
    let snapshot = store.snapshot().unwrap_or_else(|e| panic!("{e}"));
    let small = |query: &NodeQuery| {
        is_small_lookup(&snapshot, query, INLINE_LOOKUP).unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(small(&by_value("rare")));
    assert!(!small(&by_value("common")));
    assert!(small(&by_ids(INLINE_LOOKUP)));
    assert!(!small(&by_ids(INLINE_LOOKUP + 1)));
    assert!(!small(&NodeQuery {
        labels: vec!["Thing".into()],
        ..NodeQuery::default()
    }));
    // Both paths answer the same.
    let main = BranchView::now("main");
    let found = |query: NodeQuery| {
        let store = store.clone();
        let main = main.clone();
        async move {
            store
                .query(&main, &query)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .nodes
                .len()
        }
    };
    assert_eq!(found(by_value("rare")).await, 1);
    assert_eq!(found(by_value("common")).await, INLINE_LOOKUP + 1);
    assert_eq!(found(by_ids(3)).await, 3);
    // Counts: from the counters, a small lookup, and a larger filter.
    let count = |query: NodeQuery| {
        let store = store.clone();
        let main = main.clone();
        async move {
            store
                .count(&main, &query)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let all = NodeQuery {
        labels: vec!["Thing".into()],
        ..NodeQuery::default()
    };
    assert_eq!(count(all).await, INLINE_LOOKUP as u64 + 2);
    assert_eq!(count(by_value("rare")).await, 1);
    assert_eq!(count(by_value("common")).await, INLINE_LOOKUP as u64 + 1);
}
