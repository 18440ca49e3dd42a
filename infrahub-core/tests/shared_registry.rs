//! Two engines on one store and one lock manager (two API servers of one deployment): the
//! registry of branch schemas follows what the other engine changed once refreshed, changes
//! build on the stored schema rather than a stale one, and the engine's locks are taken in
//! the shared lock manager.

use std::sync::Arc;
use std::time::Duration;

use infrahub_cache::{AcquireOptions, LockManager, MemoryLocks};
use infrahub_core::engine::{BranchCreate, Engine, EngineOptions, RegistryChange};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{EmbeddedGraph, GraphStore};

fn schema(kind: &str) -> SchemaFile {
    let yaml = format!(
        "version: '1.0'\nnodes:\n  - name: {kind}\n    namespace: Shared\n    attributes:\n      - {{name: name, kind: Text, unique: true}}\n"
    );
    SchemaFile::from_yaml(&yaml, Some("shared.yml")).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn two_engines() -> (Engine, Engine, Arc<dyn LockManager>) {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory().unwrap());
    let locks: Arc<dyn LockManager> = Arc::new(MemoryLocks::new(Duration::from_secs(10)));
    let options = EngineOptions {
        bcrypt_cost: 4,
        locks: Some(Arc::clone(&locks)),
        lock_wait: Duration::from_millis(300),
        ..EngineOptions::default()
    };
    let a = Engine::open(Arc::clone(&store), options.clone())
        .await
        .unwrap();
    let b = Engine::open(store, options).await.unwrap();
    (a, b, locks)
}

#[tokio::test]
async fn a_refresh_brings_what_the_other_engine_changed() {
    let (a, b, _) = two_engines().await;
    let changes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&changes);
    a.observe_registry(Arc::new(move |change| {
        seen.lock().unwrap().push(change.clone());
    }));

    a.load_schema("main", vec![schema("Widget")], false)
        .await
        .unwrap();
    assert!(b.schema("main").unwrap().get("SharedWidget").is_none());
    let refresh = b.refresh_registry(Some("main")).await.unwrap();
    assert_eq!(refresh.reloaded, ["main"]);
    assert!(b.schema("main").unwrap().get("SharedWidget").is_some());
    assert_eq!(
        a.schema("main").unwrap().hash(),
        b.schema("main").unwrap().hash()
    );

    a.create_branch(BranchCreate {
        name: "feature".into(),
        ..BranchCreate::default()
    })
    .await
    .unwrap();
    assert!(b.schema("feature").is_err());
    let refresh = b.refresh_registry(None).await.unwrap();
    assert_eq!(refresh.added, ["feature"]);
    assert!(b.schema("feature").unwrap().get("SharedWidget").is_some());
    // Nothing changed since: nothing is read again.
    assert!(b.refresh_registry(None).await.unwrap().is_empty());

    a.delete_branch("feature").await.unwrap();
    assert_eq!(b.refresh_registry(None).await.unwrap().removed, ["feature"]);
    assert!(b.schema("feature").is_err());

    assert_eq!(
        *changes.lock().unwrap(),
        [
            RegistryChange::Branch("main".into()),
            RegistryChange::Branch("feature".into()),
            RegistryChange::Branch("feature".into()),
        ]
    );
}

#[tokio::test]
async fn a_schema_load_builds_on_the_stored_schema_not_a_stale_one() {
    let (a, b, _) = two_engines().await;
    a.load_schema("main", vec![schema("Widget")], false)
        .await
        .unwrap();
    // B has not refreshed: its registry lacks SharedWidget, yet its load keeps it.
    b.load_schema("main", vec![schema("Gadget")], false)
        .await
        .unwrap();
    let schema = b.schema("main").unwrap();
    assert!(
        schema.get("SharedWidget").is_some(),
        "B's load dropped A's kind"
    );
    assert!(schema.get("SharedGadget").is_some());
    a.refresh_registry(Some("main")).await.unwrap();
    assert_eq!(a.schema("main").unwrap().hash(), schema.hash());
}

#[tokio::test]
async fn a_branch_created_by_one_engine_starts_from_the_stored_schema() {
    let (a, b, _) = two_engines().await;
    a.load_schema("main", vec![schema("Widget")], false)
        .await
        .unwrap();
    b.create_branch(BranchCreate {
        name: "from-b".into(),
        ..BranchCreate::default()
    })
    .await
    .unwrap();
    assert!(b.schema("from-b").unwrap().get("SharedWidget").is_some());
}

#[tokio::test]
async fn schema_loads_wait_for_the_shared_lock_and_give_up_clearly() {
    let (a, _, locks) = two_engines().await;
    // Another process holds the schema lock.
    let held = locks
        .acquire(
            "global.schema",
            AcquireOptions::wait(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let error = a
        .load_schema("main", vec![schema("Widget")], false)
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        infrahub_core::ErrorKind::Unavailable,
        "{error}"
    );
    assert!(error.to_string().contains("global.schema"), "{error}");
    assert!(a.schema("main").unwrap().get("SharedWidget").is_none());
    held.release().await.unwrap();
    a.load_schema("main", vec![schema("Widget")], false)
        .await
        .unwrap();
}
