//! The conformance suite, run against the in-memory embedded store.

use std::sync::Arc;

use super::EmbeddedGraph;
use crate::conformance;
use crate::store::GraphStore;

fn store() -> Arc<dyn GraphStore> {
    Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("in-memory store: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_branch_first() {
    conformance::default_branch_first(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_lifecycle() {
    conformance::branch_lifecycle(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_deletion() {
    conformance::branch_deletion(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_isolation() {
    conformance::branch_isolation(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel() {
    conformance::time_travel(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_shadowing() {
    conformance::branch_shadowing(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_recreate() {
    conformance::delete_and_recreate(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_kind() {
    conformance::change_kind(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_data() {
    conformance::global_data(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_data_not_merged() {
    conformance::local_data_not_merged(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_results() {
    conformance::merge_results(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebase_results() {
    conformance::rebase_results(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_enumeration() {
    conformance::change_enumeration(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history() {
    conformance::history(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters() {
    conformance::query_filters(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_ordering() {
    conformance::query_ordering(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_pagination() {
    conformance::query_pagination(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selections() {
    conformance::selections(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_sides() {
    conformance::link_sides(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomicity() {
    conformance::atomicity(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions() {
    conformance::conditions(store().as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers() {
    conformance::concurrent_writers_and_readers(store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unique_creates() {
    conformance::concurrent_unique_creates(store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_values() {
    conformance::long_values(store().as_ref()).await;
}
