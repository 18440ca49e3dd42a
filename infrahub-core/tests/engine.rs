//! The node engine on the in-memory embedded store: every rule users rely on.

use std::sync::Arc;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    Attribute, AttributeInput, Engine, EngineOptions, Event, Fields, Node, NodeInput, NodeRef,
    PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore, NodeId, Timestamp};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
generics:
  - name: Interface
    namespace: Infra
    human_friendly_id: [device__name__value, name__value]
    display_label: "{{ device__name__value }} {{ name__value }}"
    uniqueness_constraints:
      - [device, name__value]
    attributes:
      - {name: name, kind: Text}
      - {name: mtu, kind: Number, default_value: 1500, parameters: {min_value: 576, max_value: 9216}}
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one, optional: false}
nodes:
  - name: Site
    namespace: Infra
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
    relationships:
      - {name: devices, peer: InfraDevice, cardinality: many}
  - name: Device
    namespace: Infra
    human_friendly_id: [name__value]
    display_label: name__value
    order_by: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true, regex: "^[a-z0-9-]+$"}
      - {name: role, kind: Dropdown, optional: true, choices: [{name: edge}, {name: core}]}
      - {name: address, kind: IPHost, optional: true}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: false}
      - {name: interfaces, peer: InfraInterface, kind: Component, cardinality: many}
      - {name: tags, peer: BuiltinTag, cardinality: many}
  - name: Port
    namespace: Infra
    inherit_from: [InfraInterface]
"#;

async fn engine() -> Arc<Engine> {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = EngineOptions {
        admin_token: Some("06438eb2-8019-4776-878c-0941b1f1d1ec".into()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("infra.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    Arc::new(engine)
}

fn text(v: &str) -> AttributeInput {
    AttributeInput::value(Value::String(v.into()))
}

fn input(attributes: &[(&str, Value)]) -> NodeInput {
    let mut input = NodeInput::default();
    for (name, value) in attributes {
        input
            .attributes
            .insert((*name).into(), AttributeInput::value(value.clone()));
    }
    input
}

/// Every node of `kind` on main (ids only), and their count.
async fn all_of(engine: &Engine, kind: &str) -> (Vec<Node>, u64) {
    engine
        .query(
            &main_view(),
            kind,
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Loads the schema file `yaml` (named `name`) into main.
async fn load_yaml(engine: &Engine, yaml: &str, name: &str) {
    let file = SchemaFile::from_yaml(yaml, Some(name)).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// An update of node `id` setting `attributes`.
fn update_of(id: &impl ToString, attributes: &[(&str, Value)]) -> NodeInput {
    NodeInput {
        id: Some(id.to_string()),
        ..input(attributes)
    }
}

async fn site(engine: &Engine, name: &str) -> String {
    engine
        .create("main", "InfraSite", input(&[("name", json!(name))]))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string()
}

async fn device(
    engine: &Engine,
    name: &str,
    site_id: &str,
) -> infrahub_core::Result<infrahub_core::engine::Mutation> {
    let mut data = input(&[("name", json!(name))]);
    data.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(site_id))),
    );
    engine.create("main", "InfraDevice", data).await
}

fn main_view() -> BranchView {
    BranchView::now("main")
}

#[tokio::test]
async fn initial_data_and_schema_are_installed() {
    let engine = engine().await;
    let args = QueryArgs {
        filters: [("name__value".to_string(), json!("admin"))].into(),
        count: true,
        ..Default::default()
    };
    let (accounts, total) = engine
        .query(&main_view(), "CoreAccount", &args, &Fields::minimal())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total, 1);
    assert_eq!(accounts[0].display_label, "Admin");
    let full = engine
        .get(
            &main_view(),
            "CoreAccount",
            &[accounts[0].id],
            &Fields::everything(
                engine
                    .schema("main")
                    .unwrap_or_else(|e| panic!("{e}"))
                    .get("CoreAccount")
                    .unwrap_or_else(|| panic!()),
            ),
        )
        .await
        .unwrap_or_default();
    // The first start stores a placeholder and hashes the password afterwards.
    assert_ne!(full[0].value("password"), &json!("infrahub"));
    engine.settle().await.unwrap_or_else(|e| panic!("{e}"));
    let full = engine
        .get(
            &main_view(),
            "CoreAccount",
            &[accounts[0].id],
            &Fields::everything(
                engine
                    .schema("main")
                    .unwrap_or_else(|e| panic!("{e}"))
                    .get("CoreAccount")
                    .unwrap_or_else(|| panic!()),
            ),
        )
        .await
        .unwrap_or_default();
    let hash = full[0]
        .value("password")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(hash.starts_with("$2"), "password is stored hashed");
    assert!(Engine::verify_password(&hash, "infrahub"));
    let tokens = engine
        .query(
            &main_view(),
            "InternalAccountToken",
            &QueryArgs {
                count: true,
                ..Default::default()
            },
            &Fields::everything(
                engine
                    .schema("main")
                    .unwrap_or_else(|e| panic!("{e}"))
                    .get("InternalAccountToken")
                    .unwrap_or_else(|| panic!()),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tokens.1, 1);
    assert_eq!(tokens.0[0].peers("account")[0].id, accounts[0].id);
    let (namespaces, _) = engine
        .query(
            &main_view(),
            "IpamNamespace",
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await
        .unwrap_or_default();
    assert_eq!(namespaces.len(), 1);
}

#[tokio::test]
async fn create_get_and_read_back_with_defaults_hfid_and_display_label() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let created = device(&engine, "r1", &paris)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created.created);
    assert_eq!(created.node.hfid, Some(vec!["r1".to_string()]));
    assert_eq!(created.node.display_label, "r1");
    assert_eq!(created.node.peers("site")[0].id.to_string(), paris);
    assert_eq!(created.events.len(), 1);

    let mut port = input(&[("name", json!("eth0"))]);
    port.relationships.insert(
        "device".into(),
        RelationshipInput::One(Some(PeerInput::hfid(vec!["r1".into()]))),
    );
    let port = engine
        .create("main", "InfraPort", port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(port.node.value("mtu"), &json!(1500), "default value stored");
    assert!(port.node.attributes["mtu"].is_default);
    assert_eq!(
        port.node.hfid,
        Some(vec!["r1".to_string(), "eth0".to_string()])
    );
    assert_eq!(port.node.display_label, "r1 eth0");

    // The site sees the device through the shared identifier.
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let site_model = schema.get("InfraSite").unwrap_or_else(|| panic!());
    let sites = engine
        .get(
            &main_view(),
            "InfraSite",
            &[paris.parse().unwrap_or_default()],
            &Fields::everything(site_model),
        )
        .await
        .unwrap_or_default();
    assert_eq!(sites[0].peers("devices")[0].id, created.node.id);
}

#[tokio::test]
async fn invalid_input_is_refused_and_nothing_is_written() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let before = engine
        .count(&main_view(), "InfraDevice", &QueryArgs::default())
        .await
        .unwrap_or_default();
    let cases: Vec<(NodeInput, &str)> = vec![
        (
            input(&[("name", json!("R1!"))]),
            "must match the regular expression",
        ),
        (
            input(&[("name", json!("r2")), ("role", json!("access"))]),
            "is not a valid choice",
        ),
        (
            input(&[("name", json!("r3")), ("address", json!("10.0.0.300"))]),
            "is not a valid IP host",
        ),
        (input(&[("name", json!(5))]), "is not a valid Text"),
        (
            input(&[("nonsense", json!(5))]),
            "is not an attribute of InfraDevice",
        ),
    ];
    for (mut data, expected) in cases {
        data.relationships.insert(
            "site".into(),
            RelationshipInput::One(Some(PeerInput::id(&paris))),
        );
        let err = engine
            .create("main", "InfraDevice", data)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    // Missing mandatory relationship and attribute.
    let err = engine
        .create("main", "InfraDevice", input(&[("name", json!("r9"))]))
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert!(
        err.to_string()
            .contains("site is mandatory for InfraDevice"),
        "{err}"
    );
    let err = device(&engine, "r10", "not-a-site")
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let mut no_name = NodeInput::default();
    no_name.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(&paris))),
    );
    let err = engine
        .create("main", "InfraDevice", no_name)
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert!(
        err.to_string()
            .contains("name is mandatory for InfraDevice"),
        "{err}"
    );
    let mut bad_peer = input(&[("name", json!("r11"))]);
    let tag = engine
        .create("main", "BuiltinTag", input(&[("name", json!("blue"))]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    bad_peer.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(tag.node.id.to_string()))),
    );
    let err = engine
        .create("main", "InfraDevice", bad_peer)
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert!(
        err.to_string().contains("only accepts InfraSite peers"),
        "{err}"
    );
    let after = engine
        .count(&main_view(), "InfraDevice", &QueryArgs::default())
        .await
        .unwrap_or_default();
    assert_eq!(before, after);
}

#[tokio::test]
async fn uniqueness_is_enforced_including_composite_constraints() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    device(&engine, "r1", &paris)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = device(&engine, "r1", &paris)
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
    assert!(err.to_string().contains("name"), "{err}");
    let mut port = input(&[("name", json!("eth0"))]);
    port.relationships.insert(
        "device".into(),
        RelationshipInput::One(Some(PeerInput::hfid(vec!["r1".into()]))),
    );
    engine
        .create("main", "InfraPort", port.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = engine
        .create("main", "InfraPort", port)
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
}

#[tokio::test]
async fn sixteen_racing_creates_of_the_same_unique_name_let_exactly_one_win() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let engine = Arc::clone(&engine);
        let paris = paris.clone();
        tasks.push(tokio::spawn(async move {
            device(&engine, "race", &paris).await.map(|_| ())
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("{e}")) {
            Ok(()) => wins += 1,
            Err(err) => assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn update_replaces_many_relationships_and_keeps_other_fields() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let created = device(&engine, "r1", &paris)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tags = Vec::new();
    for name in ["a", "b", "c"] {
        tags.push(
            engine
                .create("main", "BuiltinTag", input(&[("name", json!(name))]))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .node
                .id
                .to_string(),
        );
    }
    let mut update = NodeInput {
        id: Some(created.node.id.to_string()),
        ..Default::default()
    };
    update.relationships.insert(
        "tags".into(),
        RelationshipInput::Many(vec![PeerInput::id(&tags[0]), PeerInput::id(&tags[1])]),
    );
    update.attributes.insert("role".into(), text("edge"));
    let updated = engine
        .update("main", "InfraDevice", update)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.node.peers("tags").len(), 2);
    assert_eq!(updated.node.value("name"), &json!("r1"));
    let mut replace = NodeInput {
        hfid: Some(vec!["r1".into()]),
        ..Default::default()
    };
    replace.relationships.insert(
        "tags".into(),
        RelationshipInput::Many(vec![PeerInput::id(&tags[2])]),
    );
    let replaced = engine
        .update("main", "InfraDevice", replace)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = replaced
        .node
        .peers("tags")
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(ids, vec![tags[2].clone()]);
    assert_eq!(replaced.node.value("role"), &json!("edge"));
    // Incremental membership.
    engine
        .relationship_change(
            "main",
            &created.node.id.to_string(),
            "tags",
            &[PeerInput::id(&tags[0])],
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .relationship_change(
            "main",
            &created.node.id.to_string(),
            "tags",
            &[PeerInput::id(&tags[2])],
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let model = schema.get("InfraDevice").unwrap_or_else(|| panic!());
    let now = engine
        .get(
            &main_view(),
            "InfraDevice",
            &[created.node.id],
            &Fields::everything(model),
        )
        .await
        .unwrap_or_default();
    let ids: Vec<String> = now[0]
        .peers("tags")
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(ids, vec![tags[0].clone()]);
}

#[tokio::test]
async fn upsert_finds_by_hfid_and_creates_otherwise() {
    let engine = engine().await;
    let first = engine
        .upsert(
            "main",
            "BuiltinTag",
            input(&[("name", json!("red")), ("description", json!("one"))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.created);
    let second = engine
        .upsert(
            "main",
            "BuiltinTag",
            input(&[("name", json!("red")), ("description", json!("two"))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!second.created);
    assert_eq!(second.node.id, first.node.id);
    assert_eq!(second.node.value("description"), &json!("two"));

    // An id that does not exist (the node was exported from another instance), with data
    // whose human-friendly id an existing node has: that node is updated.
    let mut exported = input(&[("name", json!("red")), ("description", json!("three"))]);
    exported.id = Some(NodeId::now_v7().to_string());
    let third = engine
        .upsert("main", "BuiltinTag", exported)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!third.created);
    assert_eq!(third.node.id, first.node.id);
    assert_eq!(third.node.value("description"), &json!("three"));
    // An unknown id with new data creates the node with that id.
    let fresh = NodeId::now_v7();
    let mut new = input(&[("name", json!("blue"))]);
    new.id = Some(fresh.to_string());
    let fourth = engine
        .upsert("main", "BuiltinTag", new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(fourth.created);
    assert_eq!(fourth.node.id, fresh);
    // A human-friendly id that does not exist, with data an existing node has: updated too.
    let mut by_hfid = input(&[("name", json!("blue")), ("description", json!("b"))]);
    by_hfid.hfid = Some(vec!["no-such-tag".into()]);
    let fifth = engine
        .upsert("main", "BuiltinTag", by_hfid)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!fifth.created);
    assert_eq!(fifth.node.id, fresh);
}

#[tokio::test]
async fn queries_filter_order_paginate_and_count() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let london = site(&engine, "london").await;
    for i in 0..30 {
        device(
            &engine,
            &format!("d{i:02}"),
            if i % 3 == 0 { &london } else { &paris },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let view = main_view();
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let args = QueryArgs {
            offset,
            limit: Some(7),
            count: true,
            ..Default::default()
        };
        let (page, total) = engine
            .query(&view, "InfraDevice", &args, &Fields::minimal())
            .await
            .unwrap_or_default();
        assert_eq!(total, 30);
        if page.is_empty() {
            break;
        }
        all.extend(
            page.into_iter()
                .map(|n| n.hfid.unwrap_or_default()[0].clone()),
        );
        offset += 7;
    }
    let expected: Vec<String> = (0..30).map(|i| format!("d{i:02}")).collect();
    assert_eq!(
        all, expected,
        "ordered by the schema's order_by, every node once"
    );
    let by_site = QueryArgs {
        filters: [("site__name__value".to_string(), json!("london"))].into(),
        count: true,
        ..Default::default()
    };
    assert_eq!(
        engine
            .query(&view, "InfraDevice", &by_site, &Fields::minimal())
            .await
            .unwrap_or_default()
            .1,
        10
    );
    let by_ids = QueryArgs {
        filters: [("site__ids".to_string(), json!([paris]))].into(),
        count: true,
        ..Default::default()
    };
    assert_eq!(
        engine
            .query(&view, "InfraDevice", &by_ids, &Fields::minimal())
            .await
            .unwrap_or_default()
            .1,
        20
    );
    // Values that are no node id match nothing (the SDK sends a name as an id when the kind
    // has no default filter), next to ids that match.
    for (filter, value, expected) in [
        ("site__ids", json!(["paris"]), 0),
        ("site__ids", json!([paris, "junk"]), 20),
        ("ids", json!(["d01"]), 0),
        ("ids", json!([7]), 0),
    ] {
        let args = QueryArgs {
            filters: [(filter.to_string(), value.clone())].into(),
            count: true,
            ..Default::default()
        };
        let (_, total) = engine
            .query(&view, "InfraDevice", &args, &Fields::minimal())
            .await
            .unwrap_or_else(|e| panic!("{filter} {value}: {e}"));
        assert_eq!(total, expected, "{filter} {value}");
    }
    let partial = QueryArgs {
        filters: [("name__value".to_string(), json!("D1"))].into(),
        partial_match: true,
        count: true,
        ..Default::default()
    };
    assert_eq!(
        engine
            .query(&view, "InfraDevice", &partial, &Fields::minimal())
            .await
            .unwrap_or_default()
            .1,
        10
    );
    let hfid = QueryArgs {
        filters: [("hfid".to_string(), json!(["d05"]))].into(),
        count: true,
        ..Default::default()
    };
    assert_eq!(
        engine
            .query(&view, "InfraDevice", &hfid, &Fields::minimal())
            .await
            .unwrap_or_default()
            .1,
        1
    );
    let any = QueryArgs {
        filters: [("any__value".to_string(), json!("d07"))].into(),
        count: true,
        ..Default::default()
    };
    assert_eq!(
        engine
            .query(&view, "InfraDevice", &any, &Fields::minimal())
            .await
            .unwrap_or_default()
            .1,
        1
    );
    let generic = engine
        .query(
            &view,
            "InfraInterface",
            &QueryArgs {
                count: true,
                ..Default::default()
            },
            &Fields::minimal(),
        )
        .await
        .unwrap_or_default();
    assert_eq!(generic.1, 0);
    let bad = QueryArgs {
        filters: [("colour__value".to_string(), json!("x"))].into(),
        ..Default::default()
    };
    assert!(
        engine
            .query(&view, "InfraDevice", &bad, &Fields::minimal())
            .await
            .is_err_and(|e| e.to_string().contains("not a filter"))
    );
}

#[tokio::test]
async fn deletes_refuse_required_nodes_and_cascade_components() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let r1 = device(&engine, "r1", &paris)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut port = input(&[("name", json!("eth0"))]);
    port.relationships.insert(
        "device".into(),
        RelationshipInput::One(Some(PeerInput::id(r1.node.id.to_string()))),
    );
    engine
        .create("main", "InfraPort", port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = engine
        .delete(
            "main",
            "InfraSite",
            &NodeRef {
                id: Some(paris.clone()),
                hfid: None,
            },
        )
        .await
        .err()
        .unwrap_or_else(|| panic!());
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("requires it"), "{err}");
    let events = engine
        .delete(
            "main",
            "InfraDevice",
            &NodeRef {
                id: None,
                hfid: Some(vec!["r1".into()]),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events.len(), 2, "the device and its component port");
    assert_eq!(
        engine
            .count(&main_view(), "InfraPort", &QueryArgs::default())
            .await
            .unwrap_or_default(),
        0
    );
    engine
        .delete(
            "main",
            "InfraSite",
            &NodeRef {
                id: Some(paris),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn reads_travel_in_time() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let r1 = device(&engine, "r1", &paris)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t1 = r1.at.unwrap_or_default();
    let mut update = NodeInput {
        id: Some(r1.node.id.to_string()),
        ..Default::default()
    };
    update.attributes.insert("role".into(), text("core"));
    let t2 = engine
        .update("main", "InfraDevice", update)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .at
        .unwrap_or_default();
    engine
        .delete(
            "main",
            "InfraDevice",
            &NodeRef {
                id: Some(r1.node.id.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let at = |t| BranchView::at("main", t);
    let fields = Fields {
        attributes: Some(vec!["role".into()]),
        relationships: Vec::new(),
    };
    let before = engine
        .get(&at(t1), "InfraDevice", &[r1.node.id], &fields)
        .await
        .unwrap_or_default();
    assert_eq!(before[0].value("role"), &Value::Null);
    let during = engine
        .get(&at(t2), "InfraDevice", &[r1.node.id], &fields)
        .await
        .unwrap_or_default();
    assert_eq!(during[0].value("role"), &json!("core"));
    assert!(
        engine
            .get(&main_view(), "InfraDevice", &[r1.node.id], &fields)
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn loading_the_same_schema_again_is_a_no_op() {
    let engine = engine().await;
    let file = SchemaFile::from_yaml(SCHEMA, Some("infra.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    let again = engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.schema_updated);
    assert_eq!(again.hash, again.previous_hash);
}

#[tokio::test]
async fn an_interrupted_first_start_still_stores_the_admin_password() {
    let dir = std::env::temp_dir().join(format!("infrahub-engine-settle-{}", uuid_suffix()));
    let options = || EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let first = EmbeddedGraph::open(&dir, Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn GraphStore> = Arc::new(first.clone());
    // First start: the engine returns before hashing; the store closes before `settle`.
    Engine::open(store, options())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    first.close().await.unwrap_or_else(|e| panic!("close: {e}"));
    let store: Arc<dyn GraphStore> = Arc::new(
        EmbeddedGraph::open(&dir, Default::default()).unwrap_or_else(|e| panic!("reopen: {e}")),
    );
    let engine = Engine::open(store, options())
        .await
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    engine
        .settle()
        .await
        .unwrap_or_else(|e| panic!("settle: {e}"));
    let mut args = QueryArgs::default();
    args.filters.insert("name__value".into(), json!("admin"));
    let fields = Fields {
        attributes: Some(vec!["password".into()]),
        relationships: Vec::new(),
    };
    let (accounts, _) = engine
        .query(&main_view(), "CoreAccount", &args, &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hash = accounts[0]
        .value("password")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(Engine::verify_password(&hash, "infrahub"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn uuid_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

#[tokio::test]
async fn profiles_supply_values_left_at_their_default() {
    let engine = engine().await;
    let site_id = site(&engine, "prof-site").await;
    let profile = |name: &str, priority: i64, role: Option<&str>| {
        let mut data = input(&[
            ("profile_name", json!(name)),
            ("profile_priority", json!(priority)),
        ]);
        if let Some(role) = role {
            data.attributes
                .insert("role".into(), AttributeInput::value(json!(role)));
        }
        data
    };
    let low = engine
        .create(
            "main",
            "ProfileInfraDevice",
            profile("low", 10, Some("edge")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let high = engine
        .create(
            "main",
            "ProfileInfraDevice",
            profile("high", 500, Some("core")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let with_profiles = |name: &str, role: Option<&str>| {
        let mut data = input(&[("name", json!(name))]);
        if let Some(role) = role {
            data.attributes
                .insert("role".into(), AttributeInput::value(json!(role)));
        }
        data.relationships.insert(
            "site".into(),
            RelationshipInput::One(Some(PeerInput::id(site_id.clone()))),
        );
        data.relationships.insert(
            "profiles".into(),
            RelationshipInput::Many(vec![
                PeerInput::id(high.to_string()),
                PeerInput::id(low.to_string()),
            ]),
        );
        data
    };
    let from_profile = engine
        .create("main", "InfraDevice", with_profiles("prof-1", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    let role = &from_profile.attributes["role"];
    assert_eq!(role.value, json!("edge"), "the lowest priority wins");
    assert!(role.is_from_profile);
    assert!(!role.is_default);
    assert_eq!(role.source, Some(low));
    let explicit = engine
        .create("main", "InfraDevice", with_profiles("prof-2", Some("core")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    assert_eq!(explicit.attributes["role"].value, json!("core"));
    assert!(!explicit.attributes["role"].is_from_profile);

    // Changing the profile changes what the node reads.
    let change = update_of(&low, &[("role", Value::Null)]);
    engine
        .update("main", "ProfileInfraDevice", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fields = Fields {
        attributes: Some(vec!["role".into()]),
        relationships: Vec::new(),
    };
    let read = engine
        .get(&main_view(), "InfraDevice", &[from_profile.id], &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read[0].attributes["role"].value, json!("core"));
    assert_eq!(read[0].attributes["role"].source, Some(high));
    assert!(read[0].attributes["role"].is_from_profile);
}

/// Reads the role of `id` on main, now or at `at`.
async fn role_of(engine: &Engine, id: infrahub_graph::NodeId, at: Option<Timestamp>) -> Attribute {
    let view = match at {
        Some(at) => BranchView::at("main", at),
        None => main_view(),
    };
    let fields = Fields {
        attributes: Some(vec!["role".into()]),
        relationships: Vec::new(),
    };
    engine
        .get(&view, "InfraDevice", &[id], &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .attributes
        .remove("role")
        .unwrap_or_else(|| panic!("role not read"))
}

#[tokio::test]
async fn profile_values_are_stored_on_the_node_and_follow_the_profile() {
    let engine = engine().await;
    let site_id = site(&engine, "mat-site").await;
    let make_profile = |name: &str, priority: i64, role: &str| {
        let mut data = input(&[
            ("profile_name", json!(name)),
            ("profile_priority", json!(priority)),
        ]);
        data.attributes
            .insert("role".into(), AttributeInput::value(json!(role)));
        data
    };
    let edge = engine
        .create(
            "main",
            "ProfileInfraDevice",
            make_profile("mat-edge", 10, "edge"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let device = |name: &str| {
        let mut data = input(&[("name", json!(name))]);
        data.relationships.insert(
            "site".into(),
            RelationshipInput::One(Some(PeerInput::id(site_id.clone()))),
        );
        data.relationships.insert(
            "profiles".into(),
            RelationshipInput::Many(vec![PeerInput::id(edge.to_string())]),
        );
        data
    };
    let created = engine
        .create("main", "InfraDevice", device("mat-1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = created.node.id;
    let created_at = created.at.unwrap_or_else(|| panic!("committed"));
    let with_role = |role: &'static str| {
        let engine = engine.clone();
        async move {
            let args = QueryArgs {
                filters: [("role__value".to_string(), json!(role))].into(),
                ..Default::default()
            };
            engine
                .query(&main_view(), "InfraDevice", &args, &Fields::minimal())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .iter()
                .map(|n| n.id)
                .collect::<Vec<_>>()
        }
    };
    // Filters see the value the profile gave.
    assert_eq!(with_role("edge").await, vec![node]);

    // Changing the profile changes the node, with an event for it.
    let change = update_of(&edge, &[("role", json!("core"))]);
    let updated = engine
        .update("main", "ProfileInfraDevice", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        updated.events.iter().any(|e| matches!(e,
            Event::NodeUpdated(n) if n.node_id == node
                && n.attributes["role"].value == json!("core")
                && n.attributes["role"].value_previous == json!("edge"))),
        "an update event for the node: {:?}",
        updated.events
    );
    assert_eq!(role_of(&engine, node, None).await.value, json!("core"));
    assert_eq!(
        role_of(&engine, node, Some(created_at)).await.value,
        json!("edge"),
        "the past keeps the value the profile gave then"
    );
    assert!(with_role("edge").await.is_empty());

    // An explicit value is the user's; going back to the default follows the profile again.
    let explicit = update_of(&node, &[("role", json!("core"))]);
    engine
        .update("main", "InfraDevice", explicit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let role = role_of(&engine, node, None).await;
    assert!(!role.is_from_profile && !role.is_default);
    assert_eq!(role.source, None, "the profile is no longer its source");
    let mut reset = NodeInput {
        id: Some(node.to_string()),
        ..NodeInput::default()
    };
    reset.attributes.insert(
        "role".into(),
        AttributeInput {
            is_default: Some(true),
            ..AttributeInput::default()
        },
    );
    engine
        .update("main", "InfraDevice", reset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let role = role_of(&engine, node, None).await;
    assert!(role.is_from_profile);
    assert_eq!((role.value, role.source), (json!("core"), Some(edge)));

    // Unlinking the profile takes its value away; linking it again brings it back.
    let events = engine
        .relationship_change(
            "main",
            &node.to_string(),
            "profiles",
            &[PeerInput::id(edge.to_string())],
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&events[..], [Event::NodeUpdated(n)] if n.node_id == node
            && n.relationships["profiles"].removed == vec![edge]
            && n.attributes["role"].value_previous == json!("core")),
        "one event with the link change and the value change: {events:?}"
    );
    let role = role_of(&engine, node, None).await;
    assert!(role.is_default && !role.is_from_profile);
    assert_eq!((role.value, role.source), (Value::Null, None));
    engine
        .relationship_change(
            "main",
            &edge.to_string(),
            "related_nodes",
            &[PeerInput::id(node.to_string())],
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(role_of(&engine, node, None).await.value, json!("core"));

    // Deleting the profile takes its value away too.
    engine
        .delete(
            "main",
            "ProfileInfraDevice",
            &NodeRef {
                id: Some(edge.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let role = role_of(&engine, node, None).await;
    assert!(role.is_default && !role.is_from_profile);
    assert_eq!(role.value, Value::Null);
}

#[tokio::test]
async fn a_profile_cannot_set_a_unique_value() {
    // Upstream 1.11 leaves unique attributes (and those of uniqueness constraints) out of
    // profiles: two nodes sharing a profile could never both hold its value.
    let engine = engine().await;
    load_yaml(
        &engine,
        r#"
version: "1.0"
nodes:
  - name: Widget
    namespace: Test
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: tag, kind: Text, optional: true, unique: true}
      - {name: color, kind: Text, optional: true}
"#,
        "widget.yml",
    )
    .await;
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let profile = schema
        .get("ProfileTestWidget")
        .unwrap_or_else(|| panic!("no profile"));
    assert!(profile.attribute("tag").is_none());
    assert!(profile.attribute("color").is_some());
    let mut data = input(&[("profile_name", json!("shared"))]);
    data.attributes
        .insert("tag".into(), AttributeInput::value(json!("blue")));
    let refused = engine
        .create("main", "ProfileTestWidget", data)
        .await
        .err()
        .unwrap_or_else(|| panic!("a profile has no `tag`"));
    assert!(refused.to_string().contains("tag"), "{refused}");
    let (profiles, _) = all_of(&engine, "ProfileTestWidget").await;
    assert!(profiles.is_empty(), "nothing written");
}

#[tokio::test]
async fn common_parent_requires_peers_under_the_same_parent() {
    let engine = engine().await;
    load_yaml(&engine, r#"
version: "1.0"
extensions:
  nodes:
    - kind: InfraPort
      relationships:
        - {name: bundle, peer: InfraPort, cardinality: one, optional: true, common_parent: device, identifier: port__bundle}
"#, "bundle.yml").await;
    let site_id = site(&engine, "cp-site").await;
    let d1 = device(&engine, "cp-d1", &site_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string();
    let d2 = device(&engine, "cp-d2", &site_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string();
    let port = |name: &str, device: &str, bundle: Option<String>| {
        let mut data = input(&[("name", json!(name))]);
        data.relationships.insert(
            "device".into(),
            RelationshipInput::One(Some(PeerInput::id(device))),
        );
        if let Some(bundle) = bundle {
            data.relationships.insert(
                "bundle".into(),
                RelationshipInput::One(Some(PeerInput::id(bundle))),
            );
        }
        data
    };
    let p1 = engine
        .create("main", "InfraPort", port("eth1", &d1, None))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string();
    let other = engine
        .create("main", "InfraPort", port("eth1", &d2, None))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id
        .to_string();
    // Same device: accepted.
    engine
        .create("main", "InfraPort", port("eth2", &d1, Some(p1.clone())))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Another device's port: refused, and nothing is written.
    let error = engine
        .create("main", "InfraPort", port("eth3", &d1, Some(other.clone())))
        .await
        .err()
        .unwrap_or_else(|| panic!("a peer under another device should be refused"));
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(
        error.message().contains("same device"),
        "{}",
        error.message()
    );
    let mut args = QueryArgs::default();
    args.filters.insert("name__value".into(), json!("eth3"));
    let (found, _) = engine
        .query(&main_view(), "InfraPort", &args, &Fields::minimal())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(found.is_empty());
    // Updates are checked too.
    let mut change = NodeInput {
        id: Some(p1),
        ..NodeInput::default()
    };
    change.relationships.insert(
        "bundle".into(),
        RelationshipInput::One(Some(PeerInput::id(other))),
    );
    let error = engine
        .update("main", "InfraPort", change)
        .await
        .err()
        .unwrap_or_else(|| panic!("an update to a peer under another device should be refused"));
    assert!(
        error.message().contains("same device"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn a_created_node_is_returned_exactly_as_a_read_gives_it() {
    let engine = engine().await;
    let site_id = site(&engine, "same-site").await;
    let tag = engine
        .create("main", "BuiltinTag", input(&[("name", json!("same-tag"))]))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let profile = engine
        .create(
            "main",
            "ProfileInfraDevice",
            input(&[("profile_name", json!("same")), ("role", json!("edge"))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let mut data = input(&[("name", json!("same-1")), ("address", json!("10.0.0.1/24"))]);
    if let Some(name) = data.attributes.get_mut("name") {
        name.is_protected = Some(true);
    }
    data.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(site_id))),
    );
    data.relationships.insert(
        "tags".into(),
        RelationshipInput::Many(vec![PeerInput::id(tag.to_string())]),
    );
    data.relationships.insert(
        "profiles".into(),
        RelationshipInput::Many(vec![PeerInput::id(profile.to_string())]),
    );
    let device = engine
        .create("main", "InfraDevice", data)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let same_as_read = |kind: &'static str, created: Node| {
        let engine = engine.clone();
        let schema = schema.clone();
        async move {
            let model = schema.get(kind).unwrap_or_else(|| panic!("{kind}"));
            let read = engine
                .get(
                    &main_view(),
                    kind,
                    &[created.id],
                    &Fields::everything(model),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(read.first(), Some(&created), "{kind}");
        }
    };
    same_as_read("InfraDevice", device.clone()).await;
    let mut port = input(&[("name", json!("eth0")), ("mtu", json!(9000))]);
    port.relationships.insert(
        "device".into(),
        RelationshipInput::One(Some(PeerInput::id(device.id.to_string()))),
    );
    let port = engine
        .create("main", "InfraPort", port)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    assert_eq!(
        port.hfid,
        Some(vec!["same-1".to_string(), "eth0".to_string()])
    );
    assert_eq!(port.display_label, "same-1 eth0");
    same_as_read("InfraPort", port.clone()).await;

    // An update returns the node as a read gives it too: changed and kept attributes, a
    // replaced peer set, a removed profile (its value goes back to the default).
    let mut change = NodeInput {
        id: Some(device.id.to_string()),
        ..NodeInput::default()
    };
    change.attributes.insert(
        "address".into(),
        AttributeInput::value(json!("10.0.0.2/24")),
    );
    change
        .relationships
        .insert("tags".into(), RelationshipInput::Many(Vec::new()));
    change
        .relationships
        .insert("profiles".into(), RelationshipInput::Many(Vec::new()));
    let updated = engine
        .update("main", "InfraDevice", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    assert!(updated.peers("tags").is_empty());
    assert_eq!(updated.value("role"), &Value::Null);
    assert_eq!(
        updated.peers("interfaces").len(),
        1,
        "links from other nodes are kept"
    );
    same_as_read("InfraDevice", updated).await;
    let mut rename = NodeInput {
        id: Some(port.id.to_string()),
        ..NodeInput::default()
    };
    rename
        .attributes
        .insert("name".into(), AttributeInput::value(json!("eth1")));
    let renamed = engine
        .update("main", "InfraPort", rename)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    assert_eq!(renamed.display_label, "same-1 eth1");
    same_as_read("InfraPort", renamed).await;

    // An update that only removes a link: the node's last change is what a read says.
    engine
        .relationship_change(
            "main",
            &device.id.to_string(),
            "tags",
            &[PeerInput::id(tag.to_string())],
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut detach = NodeInput {
        id: Some(device.id.to_string()),
        ..NodeInput::default()
    };
    detach
        .relationships
        .insert("tags".into(), RelationshipInput::Many(Vec::new()));
    let detached = engine
        .update("main", "InfraDevice", detach)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node;
    assert!(detached.peers("tags").is_empty());
    same_as_read("InfraDevice", detached).await;
}

#[tokio::test]
async fn matching_keeps_the_candidates_that_pass_the_filters() {
    let engine = engine().await;
    let paris = site(&engine, "paris").await;
    let london = site(&engine, "london").await;
    let mut ids = Vec::new();
    for (name, site_id) in [
        ("m1", &paris),
        ("m2", &london),
        ("m3", &paris),
        ("m4", &paris),
    ] {
        let created = device(&engine, name, site_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ids.push(created.node.id);
    }
    let view = main_view();
    let args = |filters: &[(&str, Value)]| QueryArgs {
        filters: filters
            .iter()
            .map(|(name, value)| ((*name).to_string(), value.clone()))
            .collect(),
        ..Default::default()
    };
    // Only the candidates are considered: m4 matches but is not one of them.
    let candidates = &ids[..3];
    let paris_devices = engine
        .matching(
            &view,
            "InfraDevice",
            candidates,
            &args(&[("site__name__value", json!("paris"))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        paris_devices,
        [ids[0], ids[2]].into_iter().collect(),
        "the filter of any query, over the candidates"
    );
    let named = engine
        .matching(
            &view,
            "InfraDevice",
            candidates,
            &args(&[("name__values", json!(["m2", "m3", "m4"]))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(named, [ids[1], ids[2]].into_iter().collect());
    let none = engine
        .matching(&view, "InfraDevice", &[], &args(&[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(none.is_empty());
    let unknown = engine
        .matching(
            &view,
            "InfraDevice",
            candidates,
            &args(&[("colour__value", json!("red"))]),
        )
        .await;
    assert!(
        unknown.is_err(),
        "a filter the kind does not have is refused"
    );
}

#[tokio::test]
async fn permissions_carry_the_identifier_upstream_computes_and_roles_are_seeded() {
    let engine = engine().await;
    let view = main_view();
    let identifier_of = |node: &Node| node.value("identifier").as_str().map(str::to_string);
    let with_attributes = |kind: &'static str| {
        let engine = &engine;
        let view = &view;
        async move {
            engine
                .query(view, kind, &QueryArgs::default(), &Fields::default())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // Seeded at first start, identifiers included.
    let (roles, _) = with_attributes("CoreAccountRole").await;
    let mut names: Vec<String> = roles
        .iter()
        .filter_map(|r| r.value("name").as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Anonymous User",
            "General Access",
            "Proposed Change Reviewer",
            "Super Administrator"
        ]
    );
    let (groups, _) = all_of(&engine, "CoreAccountGroup").await;
    assert_eq!(groups.len(), 2);

    let mut input = NodeInput::default();
    for (name, value) in [
        ("namespace", json!("Lab")),
        ("name", json!("*")),
        ("action", json!("view")),
        ("decision", json!(6)),
    ] {
        input
            .attributes
            .insert(name.into(), AttributeInput::value(value));
    }
    let created = engine
        .create("main", "CoreObjectPermission", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        identifier_of(&created.node).as_deref(),
        Some("object:Lab:*:view:allow_all")
    );
    let updated = engine
        .update(
            "main",
            "CoreObjectPermission",
            update_of(&created.node.id, &[("decision", json!(4))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        identifier_of(&updated.node).as_deref(),
        Some("object:Lab:*:view:allow_other")
    );
    // It cannot be written.
    let refused = engine
        .update(
            "main",
            "CoreObjectPermission",
            update_of(
                &created.node.id,
                &[("identifier", json!("object:*:*:any:allow_all"))],
            ),
        )
        .await;
    assert!(refused.is_err());
    let (all, _) = with_attributes("CoreGlobalPermission").await;
    assert!(
        all.iter()
            .any(|p| identifier_of(p).as_deref() == Some("global:super_admin:allow_all")),
        "{:?}",
        all.iter().map(identifier_of).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_store_from_before_the_seeded_roles_gets_them_once_and_a_newer_store_is_refused() {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = || EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let open = || Engine::open(Arc::clone(&store), options());
    let first = open().await.unwrap_or_else(|e| panic!("open: {e}"));
    let version = || async {
        store
            .get_branch("main")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .properties
            .get("graph_version")
            .cloned()
    };
    assert_eq!(version().await, Some(json!(3)), "a fresh store is current");

    // What a store written before the roles were seeded looks like: no roles, no groups, no
    // graph version.
    for kind in ["CoreAccountGroup", "CoreAccountRole"] {
        let (nodes, _) = all_of(&first, kind).await;
        for node in nodes {
            let reference = NodeRef {
                id: Some(node.id.to_string()),
                hfid: None,
            };
            first
                .delete("main", kind, &reference)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let mut properties = store
        .get_branch("main")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .properties;
    properties.remove("graph_version");
    store
        .update_branch("main", properties.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(all_of(&first, "CoreAccountRole").await.0.is_empty());

    for _ in 0..2 {
        let engine = open().await.unwrap_or_else(|e| panic!("reopen: {e}"));
        assert_eq!(all_of(&engine, "CoreAccountRole").await.0.len(), 4);
        let fields = Fields {
            attributes: None,
            relationships: vec!["members".into()],
        };
        let (groups, _) = engine
            .query(
                &main_view(),
                "CoreAccountGroup",
                &QueryArgs::default(),
                &fields,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(groups.len(), 2, "seeded once, however often opened");
        let admins = groups
            .iter()
            .find(|g| g.value("name").as_str() == Some("Super Administrators"))
            .unwrap_or_else(|| panic!("no Super Administrators group"));
        let members = admins.peers("members");
        assert_eq!(members.len(), 1, "the admin is a super administrator again");
        assert_eq!(version().await, Some(json!(3)));
    }

    properties.insert("graph_version".into(), json!(99));
    store
        .update_branch("main", properties)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = open()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("newer version") && refused.contains("99"),
        "{refused}"
    );
}
