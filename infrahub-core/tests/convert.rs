//! Object conversion (`ConvertObjectType`): a node becomes a node of another kind in one
//! changeset, and a conversion that cannot be done changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use infrahub_core::engine::{
    AttributeInput, ConversionField, Engine, Fields, NodeInput, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_graph::{BranchView, NodeId};
use serde_json::{Value, json};

#[path = "support/engine.rs"]
mod support_engine;

const SCHEMA: &str = r#"
version: "1.0"
generics:
  - name: Person
    namespace: Conv
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
nodes:
  - name: Student
    namespace: Conv
    inherit_from: [ConvPerson]
    relationships:
      - {name: badge, peer: ConvBadge, cardinality: one, optional: true, identifier: person__badge}
  - name: Teacher
    namespace: Conv
    inherit_from: [ConvPerson]
    attributes:
      - {name: subject, kind: Text}
  - name: Badge
    namespace: Conv
    attributes:
      - {name: code, kind: Text, unique: true}
    relationships:
      - {name: holder, peer: ConvStudent, cardinality: one, optional: false, identifier: person__badge}
"#;

async fn engine() -> Arc<Engine> {
    support_engine::engine_with(SCHEMA, "conv.yml").await.0
}

async fn create(engine: &Engine, kind: &str, attributes: &[(&str, Value)]) -> NodeId {
    engine
        .create("main", kind, support_engine::input(attributes, &[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
}

async fn names(engine: &Engine, kind: &str) -> Vec<String> {
    let (nodes, _) = engine
        .query(
            &BranchView::now("main"),
            kind,
            &QueryArgs::default(),
            &Fields::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut names: Vec<String> = nodes
        .iter()
        .map(|n| n.value("name").as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_node_becomes_another_kind_and_a_refused_conversion_changes_nothing() {
    let engine = engine().await;
    let ada = create(&engine, "ConvStudent", &[("name", json!("ada"))]).await;
    // The target's mandatory `subject` is neither carried over nor given.
    let refused = engine
        .convert_object_type("main", &ada.to_string(), "ConvTeacher", BTreeMap::new())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("subject is mandatory"), "{refused}");
    assert_eq!(names(&engine, "ConvStudent").await, ["ada"]);
    // An unknown target field, a value for a relationship: refused.
    for (name, field) in [
        ("nope", ConversionField::Value(json!(1))),
        ("subject", ConversionField::Peer(ada.to_string())),
    ] {
        let mapping = BTreeMap::from([(name.to_string(), field)]);
        assert!(
            engine
                .convert_object_type("main", &ada.to_string(), "ConvTeacher", mapping)
                .await
                .is_err()
        );
    }
    // A badge needs its holder: the student cannot go while it holds one.
    let mut badge = NodeInput::default();
    badge
        .attributes
        .insert("code".into(), AttributeInput::value(json!("b1")));
    badge.relationships.insert(
        "holder".into(),
        RelationshipInput::One(Some(PeerInput::id(ada.to_string()))),
    );
    engine
        .create("main", "ConvBadge", badge)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mapping = BTreeMap::from([(
        "subject".to_string(),
        ConversionField::Value(json!("maths")),
    )]);
    let refused = engine
        .convert_object_type("main", &ada.to_string(), "ConvTeacher", mapping.clone())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("mandatory relationship `holder`"),
        "{refused}"
    );
    assert_eq!(names(&engine, "ConvStudent").await, ["ada"]);

    // Without the badge, the conversion goes through: a teacher with the same name (carried
    // over) and the subject given, the student gone.
    let grace = create(&engine, "ConvStudent", &[("name", json!("grace"))]).await;
    let converted = engine
        .convert_object_type("main", &grace.to_string(), "ConvTeacher", mapping)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(converted.node.kind, "ConvTeacher");
    assert_ne!(converted.node.id, grace);
    assert_eq!(converted.node.value("name"), &json!("grace"));
    assert_eq!(converted.node.value("subject"), &json!("maths"));
    assert_eq!(names(&engine, "ConvStudent").await, ["ada"]);
    assert_eq!(names(&engine, "ConvTeacher").await, ["grace"]);
}
