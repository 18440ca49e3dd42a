//! Object templates, as upstream: templates of kinds with `generate_template` hold values to
//! copy (none of their fields is mandatory), and an object created with `object_template`
//! takes the template's values and gets the template's components.

use std::sync::Arc;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Event, Fields, Node, NodeInput, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore, NodeId};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
generics:
  - name: Interface
    namespace: Dcim
    human_friendly_id: [device__name__value, name__value]
    attributes:
      - {name: name, kind: Text}
      - {name: mtu, kind: Number, default_value: 1500}
      - {name: description, kind: Text, optional: true}
    relationships:
      - {name: device, peer: DcimDevice, kind: Parent, cardinality: one, optional: false}
nodes:
  - name: Site
    namespace: Location
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Platform
    namespace: Dcim
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Dcim
    generate_template: true
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: status, kind: Dropdown, choices: [{name: active}, {name: planned}]}
      - {name: role, kind: Text, optional: true}
      - {name: serial, kind: Text, optional: true}
    relationships:
      - {name: location, peer: LocationSite, kind: Attribute, cardinality: one, optional: false}
      - {name: platform, peer: DcimPlatform, kind: Attribute, cardinality: one, optional: true}
      - {name: interfaces, peer: DcimInterface, kind: Component, cardinality: many}
      - {name: tags, peer: BuiltinTag, cardinality: many}
  - name: PhysicalInterface
    namespace: Dcim
    inherit_from: [DcimInterface]
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
    let file = SchemaFile::from_yaml(SCHEMA, Some("dcim.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    Arc::new(engine)
}

fn main_view() -> BranchView {
    BranchView::now("main")
}

/// An input setting `attributes` and the relationships `relationships` (one peer each, by id
/// or hfid; a list for many).
fn input(attributes: &[(&str, Value)], relationships: &[(&str, RelationshipInput)]) -> NodeInput {
    let mut input = NodeInput::default();
    for (name, value) in attributes {
        input
            .attributes
            .insert((*name).into(), AttributeInput::value(value.clone()));
    }
    for (name, peers) in relationships {
        input.relationships.insert((*name).into(), peers.clone());
    }
    input
}

fn one(id: NodeId) -> RelationshipInput {
    RelationshipInput::One(Some(PeerInput::id(id.to_string())))
}

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> infrahub_core::Result<Node> {
    engine
        .create("main", kind, input)
        .await
        .map(|mutation| mutation.node)
}

/// Every node of `kind` on main, with everything.
async fn all_of(engine: &Engine, kind: &str) -> Vec<Node> {
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let model = schema
        .get(kind)
        .unwrap_or_else(|| panic!("`{kind}` is missing"));
    engine
        .query(
            &main_view(),
            kind,
            &QueryArgs::default(),
            &Fields::everything(model),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// A site, a platform, a tag, and a device template with two interface templates.
struct Fixture {
    engine: Arc<Engine>,
    site: NodeId,
    platform: NodeId,
    tag: NodeId,
    template: NodeId,
}

async fn fixture() -> Fixture {
    let engine = engine().await;
    let site = create(
        &engine,
        "LocationSite",
        input(&[("name", json!("paris"))], &[]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    let platform = create(
        &engine,
        "DcimPlatform",
        input(&[("name", json!("eos"))], &[]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    let tag = create(
        &engine,
        "BuiltinTag",
        input(&[("name", json!("blue"))], &[]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    // No `location`, which devices need: a template holds only what it gives.
    let template = create(
        &engine,
        "TemplateDcimDevice",
        input(
            &[
                ("template_name", json!("leaf")),
                ("status", json!("planned")),
                ("role", json!("leaf")),
            ],
            &[
                ("platform", one(platform)),
                (
                    "tags",
                    RelationshipInput::Many(vec![PeerInput::id(tag.to_string())]),
                ),
            ],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("a device template without a location: {e}"))
    .id;
    for (template_name, name, mtu) in [
        ("leaf-eth0", "eth0", Some(9000)),
        ("leaf-eth1", "eth1", None),
    ] {
        let mut attributes = vec![
            ("template_name", json!(template_name)),
            ("name", json!(name)),
        ];
        if let Some(mtu) = mtu {
            attributes.push(("mtu", json!(mtu)));
        }
        create(
            &engine,
            "TemplateDcimPhysicalInterface",
            input(&attributes, &[("device", one(template))]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    Fixture {
        engine,
        site,
        platform,
        tag,
        template,
    }
}

#[tokio::test]
async fn a_template_needs_none_of_its_nodes_mandatory_fields() {
    let engine = engine().await;
    let template = create(
        &engine,
        "TemplateDcimDevice",
        input(&[("template_name", json!("empty"))], &[]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(template.value("status"), &Value::Null);
    // The device itself still needs them.
    let err = create(&engine, "DcimDevice", input(&[("name", json!("d1"))], &[]))
        .await
        .err()
        .unwrap_or_else(|| panic!("a device without status and location was accepted"));
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
}

#[tokio::test]
async fn an_object_takes_what_its_template_gives_and_the_input_does_not() {
    let Fixture {
        engine,
        site,
        platform,
        tag,
        template,
    } = fixture().await;
    let mut device_input = input(
        &[("name", json!("leaf1")), ("role", json!("spine"))],
        &[
            ("location", one(site)),
            (
                "object_template",
                RelationshipInput::One(Some(PeerInput::hfid(vec!["leaf".into()]))),
            ),
        ],
    );
    device_input.id = None;
    let mutation = engine
        .create("main", "DcimDevice", device_input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let device = mutation.node;
    assert_eq!(device.value("status"), &json!("planned"));
    assert_eq!(
        device.attributes.get("status").and_then(|a| a.source),
        Some(template),
        "the template is the source of the values it gave"
    );
    assert_eq!(device.value("role"), &json!("spine"), "the input wins");
    assert_eq!(device.value("serial"), &Value::Null);
    let ids = |name: &str| -> Vec<NodeId> { device.peers(name).iter().map(|p| p.id).collect() };
    assert_eq!(ids("platform"), [platform]);
    assert_eq!(ids("tags"), [tag]);
    assert_eq!(ids("location"), [site]);
    assert_eq!(ids("object_template"), [template]);

    let interfaces = all_of(&engine, "DcimPhysicalInterface").await;
    let mut made: Vec<(String, Value, Vec<NodeId>)> = interfaces
        .iter()
        .map(|i| {
            (
                i.value("name").as_str().unwrap_or_default().to_string(),
                i.value("mtu").clone(),
                i.peers("device").iter().map(|p| p.id).collect(),
            )
        })
        .collect();
    made.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        made,
        [
            ("eth0".to_string(), json!(9000), vec![device.id]),
            ("eth1".to_string(), json!(1500), vec![device.id]),
        ]
    );
    let mut interface_ids: Vec<NodeId> = interfaces.iter().map(|i| i.id).collect();
    interface_ids.sort();
    let mut linked = ids("interfaces");
    linked.sort();
    assert_eq!(linked, interface_ids, "the answer shows the new components");
    let created: Vec<&str> = mutation
        .events
        .iter()
        .filter_map(|e| match e {
            Event::NodeCreated(node) => Some(node.kind.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        created,
        [
            "DcimDevice",
            "DcimPhysicalInterface",
            "DcimPhysicalInterface"
        ]
    );
    // One changeset: the object and its components were written at one instant.
    let written: Vec<NodeId> = std::iter::once(device.id)
        .chain(interface_ids.iter().copied())
        .collect();
    let stored = engine
        .store()
        .get_nodes(
            &BranchView::now("main"),
            &written,
            &infrahub_graph::Selection::nothing(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut times: Vec<_> = stored.iter().map(|n| n.created_at).collect();
    times.dedup();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        times.len(),
        1,
        "one commit for the object and its components"
    );
    // The templates are untouched.
    assert_eq!(
        all_of(&engine, "TemplateDcimPhysicalInterface").await.len(),
        2
    );
}

#[tokio::test]
async fn components_given_in_the_input_are_not_taken_from_the_template() {
    let Fixture {
        engine,
        site,
        template,
        ..
    } = fixture().await;
    create(
        &engine,
        "DcimDevice",
        input(
            &[("name", json!("leaf1"))],
            &[
                ("location", one(site)),
                ("object_template", one(template)),
                ("interfaces", RelationshipInput::Many(Vec::new())),
            ],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(all_of(&engine, "DcimPhysicalInterface").await.is_empty());
}

#[tokio::test]
async fn a_component_that_cannot_be_created_leaves_nothing_behind() {
    let Fixture {
        engine,
        site,
        template,
        ..
    } = fixture().await;
    // A third interface template naming an interface `eth0` again: the device would get
    // two interfaces with one human-friendly id.
    create(
        &engine,
        "TemplateDcimPhysicalInterface",
        input(
            &[
                ("template_name", json!("leaf-eth0-again")),
                ("name", json!("eth0")),
            ],
            &[("device", one(template))],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let err = create(
        &engine,
        "DcimDevice",
        input(
            &[("name", json!("leaf1"))],
            &[("location", one(site)), ("object_template", one(template))],
        ),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("a device with two eth0 interfaces was created"));
    assert_eq!(err.kind(), ErrorKind::Uniqueness, "{err}");
    assert!(all_of(&engine, "DcimDevice").await.is_empty());
    assert!(all_of(&engine, "DcimPhysicalInterface").await.is_empty());
}

#[tokio::test]
async fn an_unknown_template_is_an_error_and_creates_nothing() {
    let Fixture { engine, site, .. } = fixture().await;
    let err = create(
        &engine,
        "DcimDevice",
        input(
            &[("name", json!("leaf1")), ("status", json!("active"))],
            &[
                ("location", one(site)),
                (
                    "object_template",
                    RelationshipInput::One(Some(PeerInput::hfid(vec!["spine".into()]))),
                ),
            ],
        ),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("an unknown template was accepted"));
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(all_of(&engine, "DcimDevice").await.is_empty());
}
