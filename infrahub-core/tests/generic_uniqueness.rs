//! Uniqueness a generic declares (directly or through its human-friendly id) holds among the
//! nodes of every kind that inherits it, as upstream enforces it.

use std::sync::Arc;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Mutation, NodeInput, NodeRef, PeerInput,
    RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore};
use serde_json::Value;

/// A generic identified by its name without a unique attribute, two kinds inheriting it, and
/// a segment identified through its deployment (after OpsMill's data-center bundle).
const SCHEMA: &str = r#"
version: "1.0"
generics:
  - name: Deployment
    namespace: Topo
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text}
      - {name: description, kind: Text, optional: true}
nodes:
  - name: DataCenter
    namespace: Topo
    inherit_from: [TopoDeployment]
  - name: Pop
    namespace: Topo
    inherit_from: [TopoDeployment]
    attributes:
      - {name: city, kind: Text, optional: true}
    uniqueness_constraints: [[city__value]]
  - name: Segment
    namespace: Topo
    human_friendly_id: [deployment__name__value, name__value]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: deployment, peer: TopoDeployment, cardinality: one, optional: false}
"#;

async fn engine() -> Arc<Engine> {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("topo.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    Arc::new(engine)
}

fn named(name: &str) -> NodeInput {
    let mut input = NodeInput::default();
    input.attributes.insert(
        "name".into(),
        AttributeInput::value(Value::String(name.into())),
    );
    input
}

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> infrahub_core::Result<Mutation> {
    engine.create("main", kind, input).await
}

#[tokio::test]
async fn a_generic_human_friendly_id_is_unique_across_the_kinds_that_inherit_it() {
    let engine = engine().await;
    create(&engine, "TopoDataCenter", named("dc1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for kind in ["TopoPop", "TopoDataCenter"] {
        let err = create(&engine, kind, named("dc1"))
            .await
            .err()
            .unwrap_or_else(|| panic!("a second {kind} named dc1 was accepted"));
        assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
        assert!(err.to_string().contains("TopoDeployment"), "{err}");
    }
    let pop = create(&engine, "TopoPop", named("pop1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rename = named("dc1");
    rename.id = Some(pop.node.id.to_string());
    let err = engine
        .update("main", "TopoPop", rename)
        .await
        .err()
        .unwrap_or_else(|| panic!("renaming a pop to a data center's name was accepted"));
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
}

#[tokio::test]
async fn a_kind_keeps_its_own_constraints_besides_its_generics() {
    let engine = engine().await;
    let mut first = named("pop1");
    first.attributes.insert(
        "city".into(),
        AttributeInput::value(Value::String("paris".into())),
    );
    create(&engine, "TopoPop", first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut second = named("pop2");
    second.attributes.insert(
        "city".into(),
        AttributeInput::value(Value::String("paris".into())),
    );
    let err = create(&engine, "TopoPop", second)
        .await
        .err()
        .unwrap_or_else(|| panic!("a second pop in paris was accepted"));
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
}

#[tokio::test]
async fn a_node_is_found_by_a_human_friendly_id_through_a_generic_peer() {
    let engine = engine().await;
    create(&engine, "TopoDataCenter", named("dc1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    create(&engine, "TopoPop", named("pop1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut segment = named("blue");
    segment.relationships.insert(
        "deployment".into(),
        RelationshipInput::One(Some(PeerInput::hfid(vec!["pop1".into()]))),
    );
    let created = create(&engine, "TopoSegment", segment.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let found = engine
        .resolve(
            &BranchView::now("main"),
            "TopoSegment",
            &NodeRef {
                id: None,
                hfid: Some(vec!["pop1".into(), "blue".into()]),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found, created.node.id);
    let err = create(&engine, "TopoSegment", segment)
        .await
        .err()
        .unwrap_or_else(|| panic!("a second segment blue of pop1 was accepted"));
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
}
