// Engines for tests: an in-memory store opened with a cheap password hash, with a schema file
// loaded into main. Included by the tests that need it (`#[path = "support/engine.rs"] mod
// support_engine;`).

use std::sync::Arc;

use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, PeerInput, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{EmbeddedGraph, GraphStore, NodeId};
use serde_json::Value;

/// A new in-memory store.
pub(crate) fn memory_store() -> Arc<dyn GraphStore> {
    Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")))
}

/// An engine over `store` (bcrypt cost 4: tests need no real password hashing).
pub(crate) async fn open(store: &Arc<dyn GraphStore>) -> Engine {
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    Engine::open(Arc::clone(store), options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"))
}

/// An engine over a new in-memory store with the schema `yaml` (named `name`) loaded into
/// main, and the store.
pub(crate) async fn engine_with(yaml: &str, name: &str) -> (Arc<Engine>, Arc<dyn GraphStore>) {
    let store = memory_store();
    let engine = open(&store).await;
    let file = SchemaFile::from_yaml(yaml, Some(name)).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    (Arc::new(engine), store)
}

/// A create or update input setting `attributes` and the peers of many-relationships.
#[allow(dead_code)]
pub(crate) fn input(
    attributes: &[(&str, Value)],
    relationships: &[(&str, Vec<NodeId>)],
) -> NodeInput {
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
