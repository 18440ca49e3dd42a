//! Branches through the engine: isolation, schema per branch, conflicts, merge, rebase, delete.

use std::sync::Arc;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    AttributeInput, BranchCreate, Engine, EngineOptions, Fields, NodeInput, QueryArgs,
    validate_branch_name,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore, Timestamp};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Infra
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: city, kind: Text, optional: true}
"#;

async fn engine() -> Engine {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let engine = Engine::open(
        store,
        EngineOptions {
            bcrypt_cost: 4,
            ..EngineOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("infra.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
}

async fn branch(engine: &Engine, name: &str) {
    engine
        .create_branch(BranchCreate {
            name: name.into(),
            description: Some("test".into()),
            sync_with_git: None,
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn create_site(engine: &Engine, branch: &str, name: &str, city: &str) -> String {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(json!(name)));
    input
        .attributes
        .insert("city".into(), AttributeInput::value(json!(city)));
    engine
        .create(branch, "InfraSite", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string()
}

async fn set_city(
    engine: &Engine,
    branch: &str,
    id: &str,
    city: &str,
) -> infrahub_core::Result<()> {
    let mut input = NodeInput {
        id: Some(id.into()),
        ..NodeInput::default()
    };
    input
        .attributes
        .insert("city".into(), AttributeInput::value(json!(city)));
    engine.update(branch, "InfraSite", input).await.map(|_| ())
}

async fn cities(engine: &Engine, view: &BranchView) -> Vec<(String, Value)> {
    let fields = Fields {
        attributes: Some(vec!["name".into(), "city".into()]),
        relationships: Vec::new(),
    };
    let (nodes, _) = engine
        .query(view, "InfraSite", &QueryArgs::default(), &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut found: Vec<(String, Value)> = nodes
        .into_iter()
        .map(|n| {
            (
                n.value("name").as_str().unwrap_or_default().to_string(),
                n.value("city").clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn branch_names_follow_git_ref_rules() {
    for good in ["feature-1", "feature/x", "a.b_c", "rel-2024.1"] {
        assert!(validate_branch_name(good).is_ok(), "{good}");
    }
    for bad in [
        "ab", "-global-", "/start", "end/", "a..b", "a//b", "a b", "a~b", "a^b", "a:b", "a?b",
        "a*b", "a[b", "a\\b", "a@{b", "x.lock", "dot.", "a/.b",
    ] {
        let error = validate_branch_name(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert_eq!(error.kind(), ErrorKind::Validation);
    }
    assert!(validate_branch_name(&"x".repeat(251)).is_err());
}

#[tokio::test]
async fn changes_stay_on_their_branch_until_merged() {
    let engine = engine().await;
    let paris = create_site(&engine, "main", "paris", "Paris").await;
    branch(&engine, "feature/x").await;
    let info = engine
        .branch("feature/x")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.status, "OPEN");
    assert!(!info.is_default);
    create_site(&engine, "feature/x", "lyon", "Lyon").await;
    set_city(&engine, "feature/x", &paris, "Paris 75")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let main = BranchView::now("main");
    let feature = BranchView::now("feature/x");
    assert_eq!(
        cities(&engine, &main).await,
        vec![("paris".into(), json!("Paris"))]
    );
    assert_eq!(
        cities(&engine, &feature).await,
        vec![
            ("lyon".into(), json!("Lyon")),
            ("paris".into(), json!("Paris 75"))
        ]
    );
    let before_merge = Timestamp::now();
    let (_, events) = engine
        .merge_branch("feature/x")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events[0].name(), "infrahub.branch.merged");
    assert_eq!(
        cities(&engine, &main).await,
        vec![
            ("lyon".into(), json!("Lyon")),
            ("paris".into(), json!("Paris 75"))
        ]
    );
    // Time travel before the merge still sees the old default branch.
    assert_eq!(
        cities(&engine, &BranchView::at("main", before_merge)).await,
        vec![("paris".into(), json!("Paris"))]
    );
}

#[tokio::test]
async fn conflicts_block_merge_and_rebase_and_change_nothing() {
    let engine = engine().await;
    let paris = create_site(&engine, "main", "paris", "Paris").await;
    branch(&engine, "conflict").await;
    set_city(&engine, "conflict", &paris, "Branch city")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set_city(&engine, "main", &paris, "Main city")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let conflicts = engine
        .branch_conflicts("conflict")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let error = engine
        .merge_branch("conflict")
        .await
        .err()
        .unwrap_or_else(|| panic!("merged"));
    assert_eq!(error.kind(), ErrorKind::Conflict);
    let error = engine
        .rebase_branch("conflict")
        .await
        .err()
        .unwrap_or_else(|| panic!("rebased"));
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert_eq!(
        cities(&engine, &BranchView::now("main")).await,
        vec![("paris".into(), json!("Main city"))]
    );
    assert_eq!(
        cities(&engine, &BranchView::now("conflict")).await,
        vec![("paris".into(), json!("Branch city"))]
    );
    // The same value on both sides is no conflict.
    set_city(&engine, "conflict", &paris, "Main city")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        engine
            .branch_conflicts("conflict")
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn rebase_picks_up_default_branch_changes() {
    let engine = engine().await;
    branch(&engine, "rebase-me").await;
    create_site(&engine, "main", "nice", "Nice").await;
    create_site(&engine, "rebase-me", "lille", "Lille").await;
    assert_eq!(
        cities(&engine, &BranchView::now("rebase-me")).await.len(),
        1
    );
    let before = engine
        .branch("rebase-me")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (after, _) = engine
        .rebase_branch("rebase-me")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(after.branched_from > before.branched_from);
    assert_eq!(
        cities(&engine, &BranchView::now("rebase-me")).await.len(),
        2
    );
    assert_eq!(cities(&engine, &BranchView::now("main")).await.len(), 1);
    // The branch's own change, carried forward by the rebase, is still its diff.
    let tree = engine
        .diff_tree("rebase-me", None, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no diff"));
    assert_eq!(tree.num_added, 1, "{tree:#?}");
}

#[tokio::test]
async fn a_branch_schema_stays_on_the_branch_until_merged() {
    let engine = engine().await;
    branch(&engine, "schema-change").await;
    let rack = SchemaFile::from_yaml(
        r#"
version: "1.0"
nodes:
  - name: Rack
    namespace: Infra
    attributes:
      - {name: name, kind: Text}
"#,
        Some("rack.yml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("schema-change", vec![rack], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        engine
            .schema("schema-change")
            .unwrap_or_else(|e| panic!("{e}"))
            .has("InfraRack")
    );
    assert!(
        !engine
            .schema("main")
            .unwrap_or_else(|e| panic!("{e}"))
            .has("InfraRack")
    );
    assert!(
        engine
            .branch("schema-change")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .has_schema_changes
    );
    let mut rack = NodeInput::default();
    rack.attributes
        .insert("name".into(), AttributeInput::value(json!("r1")));
    engine
        .create("schema-change", "InfraRack", rack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .merge_branch("schema-change")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        engine
            .schema("main")
            .unwrap_or_else(|e| panic!("{e}"))
            .has("InfraRack")
    );
    let (racks, _) = engine
        .query(
            &BranchView::now("main"),
            "InfraRack",
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(racks.len(), 1);
}

#[tokio::test]
async fn deleting_a_branch_removes_its_data() {
    let engine = engine().await;
    branch(&engine, "throwaway").await;
    create_site(&engine, "throwaway", "brest", "Brest").await;
    engine
        .delete_branch("throwaway")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.branch("throwaway").await.is_err());
    assert!(engine.schema("throwaway").is_err());
    assert!(cities(&engine, &BranchView::now("main")).await.is_empty());
    // The name can be used again, empty.
    branch(&engine, "throwaway").await;
    assert!(
        cities(&engine, &BranchView::now("throwaway"))
            .await
            .is_empty()
    );
    let error = engine
        .delete_branch("main")
        .await
        .err()
        .unwrap_or_else(|| panic!("deleted main"));
    assert_eq!(error.kind(), ErrorKind::Validation);
    let names: Vec<String> = engine
        .branches()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["main", "throwaway"]);
}

#[tokio::test]
async fn diffs_show_what_the_branch_changed() {
    let engine = engine().await;
    let paris = create_site(&engine, "main", "paris", "Paris").await;
    let nice = create_site(&engine, "main", "nice", "Nice").await;
    branch(&engine, "diff-me").await;
    create_site(&engine, "diff-me", "lyon", "Lyon").await;
    set_city(&engine, "diff-me", &paris, "Paris 75")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .delete(
            "diff-me",
            "InfraSite",
            &infrahub_core::engine::NodeRef {
                id: Some(nice.clone()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tree = engine
        .diff_tree("diff-me", None, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no diff"));
    assert_eq!(
        (tree.num_added, tree.num_updated, tree.num_removed),
        (1, 1, 1),
        "{tree:#?}"
    );
    let node = |label: &str| {
        tree.nodes
            .iter()
            .find(|n| n.label == label)
            .unwrap_or_else(|| panic!("{label} missing from {tree:#?}"))
    };
    let updated = node("paris");
    assert_eq!(updated.kind, "InfraSite");
    let city = updated
        .attributes
        .iter()
        .find(|a| a.name == "city")
        .unwrap_or_else(|| panic!("no city change"));
    assert_eq!(city.properties[0].property_type, "HAS_VALUE");
    assert_eq!(city.properties[0].previous_value.as_deref(), Some("Paris"));
    assert_eq!(city.properties[0].new_value.as_deref(), Some("Paris 75"));
    assert_eq!(
        serde_json::to_value(node("lyon").status).unwrap_or_default(),
        json!("ADDED")
    );
    assert_eq!(
        serde_json::to_value(node("nice").status).unwrap_or_default(),
        json!("REMOVED")
    );
    // A named diff needs DiffUpdate first.
    assert!(
        engine
            .diff_tree("diff-me", Some("review"), None, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    engine
        .update_diff("diff-me", Some("review"), None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let named = engine
        .diff_tree("diff-me", Some("review"), None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no named diff"));
    assert_eq!(named.name.as_deref(), Some("review"));
    assert_eq!(named.nodes.len(), 3);
}

#[tokio::test]
async fn resolved_conflicts_let_the_merge_through_with_the_chosen_side() {
    let engine = engine().await;
    let paris = create_site(&engine, "main", "paris", "Paris").await;
    let nice = create_site(&engine, "main", "nice", "Nice").await;
    branch(&engine, "resolve").await;
    set_city(&engine, "resolve", &paris, "branch paris")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set_city(&engine, "main", &paris, "main paris")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set_city(&engine, "resolve", &nice, "branch nice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set_city(&engine, "main", &nice, "main nice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tree = engine
        .diff_tree("resolve", None, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no diff"));
    assert_eq!(tree.num_conflicts, 2);
    let conflict_on = |label: &str| {
        tree.nodes
            .iter()
            .find(|n| n.label.contains(label))
            .and_then(|n| n.attributes.iter().find(|a| a.name == "city"))
            .and_then(|a| a.conflict.clone())
            .unwrap_or_else(|| panic!("no conflict on {label}: {tree:#?}"))
    };
    let on_paris = conflict_on("paris");
    assert_eq!(on_paris.base_branch_value.as_deref(), Some("main paris"));
    assert_eq!(on_paris.diff_branch_value.as_deref(), Some("branch paris"));
    engine
        .resolve_conflict("resolve", &on_paris.uuid, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One conflict left: still refused.
    assert!(engine.merge_branch("resolve").await.is_err());
    let on_nice = conflict_on("nice");
    engine
        .resolve_conflict("resolve", &on_nice.uuid, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .merge_branch("resolve")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cities(&engine, &BranchView::now("main")).await,
        vec![
            ("nice".into(), json!("branch nice")),
            ("paris".into(), json!("main paris"))
        ]
    );
    let error = engine
        .resolve_conflict("resolve", "00000000-0000-0000-0000-000000000000", true)
        .await
        .err()
        .unwrap_or_else(|| panic!("resolved an unknown conflict"));
    assert_eq!(error.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn merges_carry_deletes_and_relationship_changes() {
    let engine = engine().await;
    let extension = SchemaFile::from_yaml(
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
        Some("rack.yml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![extension], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let paris = create_site(&engine, "main", "paris", "Paris").await;
    let doomed = create_site(&engine, "main", "doomed", "Nowhere").await;
    let mut rack = NodeInput::default();
    rack.attributes
        .insert("name".into(), AttributeInput::value(json!("r1")));
    let rack = engine
        .create("main", "InfraRack", rack)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    branch(&engine, "links").await;
    let mut link = NodeInput {
        id: Some(rack.to_string()),
        ..NodeInput::default()
    };
    link.relationships.insert(
        "site".into(),
        infrahub_core::engine::RelationshipInput::One(Some(infrahub_core::engine::PeerInput::id(
            paris.clone(),
        ))),
    );
    engine
        .update("links", "InfraRack", link)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .delete(
            "links",
            "InfraSite",
            &infrahub_core::engine::NodeRef {
                id: Some(doomed),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fields = Fields {
        attributes: Some(Vec::new()),
        relationships: vec!["site".into()],
    };
    let main = BranchView::now("main");
    let read = |view: BranchView| {
        let engine = &engine;
        let fields = fields.clone();
        async move {
            engine
                .get(&view, "InfraRack", &[rack], &fields)
                .await
                .unwrap_or_else(|e| panic!("{e}"))[0]
                .peers("site")
                .len()
        }
    };
    assert_eq!(read(main.clone()).await, 0);
    assert_eq!(cities(&engine, &main).await.len(), 2);
    engine
        .merge_branch("links")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(main.clone()).await, 1);
    assert_eq!(
        cities(&engine, &main).await,
        vec![("paris".into(), json!("Paris"))]
    );
}
