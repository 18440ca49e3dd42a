//! Reads share one database snapshot until the flusher moves layers into the database:
//! every acknowledged write must stay visible to reads that start after it, across moves.

use std::sync::Arc;

use serde_json::json;

use super::EmbeddedGraph;
use crate::branch::BranchView;
use crate::changeset::Changeset;
use crate::model::NodeId;
use crate::query::{NodeQuery, Selection};
use crate::store::GraphStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_stay_visible_across_moves_into_the_database() {
    let dir = std::env::temp_dir().join(format!("infrahub-shared-{}", NodeId::now_v7()));
    let store = Arc::new(
        EmbeddedGraph::open(&dir, super::EmbeddedGraphOptions::default())
            .unwrap_or_else(|e| panic!("{e}")),
    );
    super::memtable_tests::create_main(&store).await;
    let main = BranchView::now("main");
    let count_all = NodeQuery {
        labels: vec!["Thing".into()],
        ..NodeQuery::default()
    };
    // A reader counting all the time: counts never go down.
    let reader = {
        let store = Arc::clone(&store);
        let (main, query) = (main.clone(), count_all.clone());
        tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..400 {
                let now = store
                    .count(&main, &query)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(now >= last, "a count went from {last} to {now}");
                last = now;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for writer in 0..2 {
        let store = Arc::clone(&store);
        let main = main.clone();
        writers.push(tokio::spawn(async move {
            for index in 0..150 {
                let id = NodeId::now_v7();
                let mut changeset = Changeset::new("main");
                super::memtable_tests::push_thing(
                    &mut changeset,
                    id,
                    "number",
                    json!(writer * 1000 + index),
                );
                store
                    .commit(changeset)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let read = store
                    .get_nodes(&main, &[id], &Selection::all_attributes())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(read.len(), 1, "node {index} of writer {writer} not visible");
                assert_eq!(
                    read[0].attributes["number"].value.value,
                    json!(writer * 1000 + index)
                );
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap_or_else(|e| panic!("{e}"));
    }
    reader.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store
            .count(&main, &count_all)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        300
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
