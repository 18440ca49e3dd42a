//! Schema loads on a branch with data: existing data is checked against new rules, and the
//! migrations upstream runs keep the data consistent with the new schema.

use std::sync::Arc;

#[path = "support/library.rs"]
mod library;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{AttributeInput, Engine, EngineOptions, Fields, NodeInput, QueryArgs};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore};
use serde_json::{Value, json};

const BASE: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: city, kind: Text, optional: true}
      - {name: code, kind: Text, optional: true}
"#;

async fn engine() -> Engine {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    load(&engine, BASE)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    engine
}

fn file(text: &str) -> SchemaFile {
    SchemaFile::from_yaml(text, Some("test.yml")).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn load(
    engine: &Engine,
    text: &str,
) -> infrahub_core::Result<infrahub_core::engine::SchemaLoad> {
    engine.load_schema("main", vec![file(text)], false).await
}

async fn create_site(engine: &Engine, name: &str, city: Option<&str>) -> String {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(json!(name)));
    if let Some(city) = city {
        input
            .attributes
            .insert("city".into(), AttributeInput::value(json!(city)));
    }
    engine
        .create("main", "InfraSite", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string()
}

async fn sites(engine: &Engine, kind: &str) -> Vec<infrahub_core::engine::Node> {
    let args = QueryArgs {
        order_disabled: true,
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: None,
        relationships: Vec::new(),
    };
    engine
        .query(&BranchView::now("main"), kind, &args, &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// The schema as the API renders it, with element ids, as a client would send it back.
fn current_site_model(engine: &Engine) -> Value {
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    infrahub_core::schema::model_json(schema.get("InfraSite").unwrap_or_else(|| panic!()))
}

#[tokio::test]
async fn an_attribute_added_with_a_default_reads_the_default_on_existing_nodes() {
    let engine = engine().await;
    create_site(&engine, "paris", None).await;
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: status, kind: Text, default_value: active}
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let found = sites(&engine, "InfraSite").await;
    assert_eq!(found[0].value("status"), &json!("active"));
    assert!(found[0].attributes["status"].is_default);
}

#[tokio::test]
async fn new_rules_are_checked_against_existing_data() {
    let engine = engine().await;
    create_site(&engine, "paris", None).await;
    create_site(&engine, "lyon", Some("Lyon")).await;
    // optional -> mandatory while a node has no value
    let error = load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: city, kind: Text, optional: false}
"#,
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("making city mandatory should fail"));
    assert_eq!(error.kind(), ErrorKind::InvalidSchema);
    assert!(error.message().contains("city"), "{}", error.message());

    // a regex existing values break
    let error = load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true, regex: "^[A-Z]+$"}
"#,
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("a regex the data breaks should fail"));
    assert!(error.message().contains("name"), "{}", error.message());

    // uniqueness on duplicated values
    create_site(&engine, "nice", Some("Lyon")).await;
    let error = load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: city, kind: Text, optional: true, unique: true}
"#,
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("unique on duplicated values should fail"));
    assert!(error.message().contains("city"), "{}", error.message());

    // Nothing changed: the schema still accepts a site without a city.
    create_site(&engine, "marseille", None).await;
    assert_eq!(sites(&engine, "InfraSite").await.len(), 4);
}

#[tokio::test]
async fn check_reports_without_applying() {
    let engine = engine().await;
    let before = engine
        .schema("main")
        .unwrap_or_else(|e| panic!("{e}"))
        .hash();
    let outcome = engine
        .load_schema(
            "main",
            vec![file(
                r#"
version: "1.0"
nodes:
  - name: Rack
    namespace: Infra
    attributes:
      - {name: name, kind: Text}
"#,
            )],
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.schema_updated);
    assert!(outcome.diff.added.contains_key("InfraRack"));
    // Generics only gaining a user (`used_by`) are not reported as changed.
    assert!(
        !outcome.diff.changed.contains_key("CoreNode"),
        "{:?}",
        outcome.diff.changed.keys()
    );
    assert!(!outcome.diff.changed.contains_key("CoreProfile"));
    let after = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.hash(), before);
    assert!(!after.has("InfraRack"));
}

#[tokio::test]
async fn an_attribute_removed_disappears_from_the_nodes() {
    let engine = engine().await;
    create_site(&engine, "paris", Some("Paris")).await;
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: city, kind: Text, state: absent}
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let found = sites(&engine, "InfraSite").await;
    assert!(!found[0].attributes.contains_key("city"));
    let mut args = QueryArgs::default();
    args.filters.insert("city__value".into(), json!("Paris"));
    let error = engine
        .query(
            &BranchView::now("main"),
            "InfraSite",
            &args,
            &Fields::minimal(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("filtering on a removed attribute should fail"));
    assert_eq!(error.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn an_attribute_renamed_by_id_keeps_its_values() {
    let engine = engine().await;
    create_site(&engine, "paris", Some("Paris")).await;
    let mut model = current_site_model(&engine);
    for attribute in model["attributes"].as_array_mut().into_iter().flatten() {
        if attribute["name"] == json!("city") {
            attribute["name"] = json!("town");
        }
    }
    for field in ["kind", "hash"] {
        if let Some(map) = model.as_object_mut() {
            map.shift_remove(field);
        }
    }
    let document = json!({"version": "1.0", "nodes": [model]});
    let renamed =
        SchemaFile::from_value(document, Some("api.json")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![renamed], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let found = sites(&engine, "InfraSite").await;
    assert_eq!(found[0].value("town"), &json!("Paris"));
    assert!(!found[0].attributes.contains_key("city"));
}

#[tokio::test]
async fn a_kind_renamed_by_id_keeps_node_ids() {
    let engine = engine().await;
    let id = create_site(&engine, "paris", Some("Paris")).await;
    let mut model = current_site_model(&engine);
    model["namespace"] = json!("Location");
    model["name"] = json!("Place");
    for field in ["kind", "hash"] {
        if let Some(map) = model.as_object_mut() {
            map.shift_remove(field);
        }
    }
    let document = json!({"version": "1.0", "nodes": [model]});
    let renamed =
        SchemaFile::from_value(document, Some("api.json")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![renamed], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    assert!(schema.has("LocationPlace"));
    assert!(!schema.has("InfraSite"));
    let found = sites(&engine, "LocationPlace").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.to_string(), id);
    assert_eq!(found[0].kind, "LocationPlace");
    assert_eq!(found[0].value("city"), &json!("Paris"));
}

#[tokio::test]
async fn a_removed_kind_takes_its_nodes_and_relationships_follow_the_schema() {
    let engine = engine().await;
    let site = create_site(&engine, "paris", None).await;
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Rack
    namespace: Infra
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: true}
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut rack = NodeInput::default();
    rack.attributes
        .insert("name".into(), AttributeInput::value(json!("r1")));
    rack.relationships.insert(
        "site".into(),
        infrahub_core::engine::RelationshipInput::One(Some(infrahub_core::engine::PeerInput::id(
            site.clone(),
        ))),
    );
    engine
        .create("main", "InfraRack", rack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Remove the relationship: the link is no longer read.
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Rack
    namespace: Infra
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: true, state: absent}
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let racks = sites(&engine, "InfraRack").await;
    assert_eq!(racks.len(), 1);
    assert!(!racks[0].relationships.contains_key("site"));
    // Remove the kind: its nodes go with it.
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Rack
    namespace: Infra
    state: absent
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    assert!(!schema.has("InfraRack"));
    let store_nodes = engine
        .get_any(&BranchView::now("main"), &[racks[0].id], &Fields::minimal())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store_nodes.is_empty(), "the rack node should be gone");
    assert_eq!(sites(&engine, "InfraSite").await.len(), 1);
}

#[tokio::test]
async fn the_schema_library_base_then_each_extension_load_and_reload_as_no_ops() {
    let Some(library) = library::schema_library_or_skip(
        "the_schema_library_base_then_each_extension_load_and_reload_as_no_ops",
    ) else {
        return;
    };
    let yaml_in = |dir: &std::path::Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
                SchemaFile::from_yaml(&text, Some(&path.display().to_string()))
                    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
            })
            .collect::<Vec<_>>()
    };
    let engine = Engine::open(
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}"))),
        EngineOptions {
            bcrypt_cost: 4,
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let base = yaml_in(&library.join("base"));
    let first = engine
        .load_schema("main", base.clone(), false)
        .await
        .unwrap_or_else(|e| panic!("base: {e}"));
    assert!(first.schema_updated);
    let again = engine
        .load_schema("main", base, false)
        .await
        .unwrap_or_else(|e| panic!("base again: {e}"));
    assert!(
        !again.schema_updated,
        "reloading the base changed the schema"
    );
    assert_eq!(again.hash, first.hash);
    let mut pending: Vec<(String, Vec<SchemaFile>)> = std::fs::read_dir(library.join("extensions"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .map(|dir| (dir.display().to_string(), yaml_in(&dir)))
        .collect();
    pending.sort_by(|a, b| a.0.cmp(&b.0));
    let total = pending.len();
    let mut loaded = Vec::new();
    // Extensions build on one another: load each once what it needs is there, then load it
    // again, which must change nothing.
    while !pending.is_empty() {
        let mut progress = false;
        let mut waiting = Vec::new();
        let mut last_errors = Vec::new();
        for (name, files) in pending {
            match engine.load_schema("main", files.clone(), false).await {
                Ok(outcome) => {
                    assert!(outcome.schema_updated, "{name} changed nothing");
                    let again = engine
                        .load_schema("main", files, false)
                        .await
                        .unwrap_or_else(|e| panic!("{name} again: {e}"));
                    assert!(
                        !again.schema_updated,
                        "reloading {name} changed the schema: {}",
                        serde_json::to_string(&again.diff).unwrap_or_default()
                    );
                    assert_eq!(again.hash, outcome.hash);
                    loaded.push(name);
                    progress = true;
                }
                Err(error) => {
                    last_errors.push(format!("{name}: {error}"));
                    waiting.push((name, files));
                }
            }
        }
        assert!(progress, "extensions that never load: {last_errors:#?}");
        pending = waiting;
    }
    println!(
        "schema library: base then {} extensions loaded through the engine, then reloaded",
        loaded.len()
    );
    assert_eq!(loaded.len(), total);
}

#[tokio::test]
async fn loaded_nodes_are_in_the_menu_unless_they_say_otherwise() {
    let engine = engine().await;
    load(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Hidden
    namespace: Infra
    include_in_menu: false
    attributes:
      - {name: name, kind: Text}
"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let menu = |kind: &str| schema.get(kind).and_then(|m| m.include_in_menu);
    assert_eq!(menu("InfraSite"), Some(true));
    assert_eq!(menu("InfraHidden"), Some(false));
}

#[tokio::test]
async fn a_schema_a_check_refuses_is_not_committed() {
    let engine = engine().await;
    let before = engine.schema("main").map(|s| s.hash()).unwrap_or_default();
    engine.add_schema_check(Arc::new(|candidate| {
        if candidate.has("InfraRack") {
            Err("racks cannot be served".into())
        } else {
            Ok(())
        }
    }));
    let with_rack = format!(
        "{BASE}  - name: Rack\n    namespace: Infra\n    attributes:\n      - {{name: name, kind: Text}}\n"
    );
    let error = load(&engine, &with_rack)
        .await
        .err()
        .unwrap_or_else(|| panic!("the check was ignored"));
    assert_eq!(error.kind(), ErrorKind::InvalidSchema);
    assert!(
        error
            .message()
            .contains("the schema cannot be served: racks cannot be served"),
        "{error}"
    );
    let check = engine
        .load_schema("main", vec![file(&with_rack)], true)
        .await;
    assert!(check.is_err(), "a check-only load passed the check");
    assert_eq!(
        engine.schema("main").map(|s| s.hash()).unwrap_or_default(),
        before
    );
    // Other loads still pass.
    let with_code = BASE.replace("{name: code, kind: Text, optional: true}", "{name: code, kind: Text, optional: true}\n      - {name: floor, kind: Number, optional: true}");
    load(&engine, &with_code)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
