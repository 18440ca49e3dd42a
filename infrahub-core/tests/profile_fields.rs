//! Profiles and templates as upstream 1.11 generates and applies them: profiles set mandatory
//! attributes and Attribute/Generic relationships too (links sourced from the profile), and
//! object templates name the pools their objects' fields come from.

use std::sync::Arc;

use infrahub_core::engine::{Engine, Fields, Node, NodeInput};
use infrahub_graph::{BranchView, NodeId};
use serde_json::json;

#[path = "support/engine.rs"]
mod support_engine;

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Location
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Dcim
    generate_template: true
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: status, kind: Text}
      - {name: asn, kind: Number, optional: true}
    relationships:
      - {name: location, peer: LocationSite, kind: Attribute, cardinality: one, optional: false}
      - {name: tags, peer: BuiltinTag, kind: Attribute, cardinality: many, optional: true}
"#;

async fn engine() -> Arc<Engine> {
    support_engine::engine_with(SCHEMA, "dcim.yml").await.0
}

use support_engine::input;

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> Result<Node, String> {
    engine
        .create("main", kind, input)
        .await
        .map(|m| m.node)
        .map_err(|e| e.to_string())
}

async fn named(engine: &Engine, kind: &str, name: &str) -> NodeId {
    create(engine, kind, input(&[("name", json!(name))], &[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id
}

/// The device `id` as read back: its attributes and relationships.
async fn device(engine: &Engine, id: NodeId) -> Node {
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let model = schema
        .get("DcimDevice")
        .unwrap_or_else(|| panic!("no DcimDevice"));
    engine
        .get(
            &BranchView::now("main"),
            "DcimDevice",
            &[id],
            &Fields::everything(model),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .pop()
        .unwrap_or_else(|| panic!("{id} not found"))
}

/// The peers of `relationship` of `node`, with their link's source.
fn peers(node: &Node, relationship: &str) -> Vec<(NodeId, Option<NodeId>)> {
    let mut peers: Vec<_> = node
        .peers(relationship)
        .iter()
        .map(|p| (p.id, p.source))
        .collect();
    peers.sort();
    peers
}

#[tokio::test]
async fn generated_profiles_and_templates_have_the_fields_of_upstream_1_11() {
    let engine = engine().await;
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let profile = schema
        .get("ProfileDcimDevice")
        .unwrap_or_else(|| panic!("no profile"));
    let attributes: Vec<&str> = profile.attributes.iter().map(|a| a.name.as_str()).collect();
    // Mandatory attributes too, never unique ones.
    assert!(
        attributes.contains(&"status") && attributes.contains(&"asn"),
        "{attributes:?}"
    );
    assert!(!attributes.contains(&"name"), "{attributes:?}");
    assert!(
        profile
            .attributes
            .iter()
            .filter(|a| a.name == "status" || a.name == "asn")
            .all(|a| a.optional)
    );
    let relationship = |model: &infrahub_core::schema::ModelSchema, name: &str| {
        model
            .relationship(name)
            .map(|r| (r.peer.clone(), r.identifier().to_string()))
    };
    assert_eq!(
        relationship(profile, "location"),
        Some((
            "LocationSite".into(),
            "profile_dcimdevice__locationsite".into()
        ))
    );
    assert_eq!(
        relationship(profile, "related_templates"),
        Some(("TemplateDcimDevice".into(), "template__profile".into()))
    );
    assert_eq!(
        profile.display_label.as_deref(),
        Some("profile_name__value")
    );
    let template = schema
        .get("TemplateDcimDevice")
        .unwrap_or_else(|| panic!("no template"));
    assert_eq!(
        relationship(template, "profiles"),
        Some(("CoreProfile".into(), "template__profile".into()))
    );
    assert_eq!(
        relationship(template, "asn_from_resource_pool"),
        Some(("CoreNumberPool".into(), "asn_from_resource_pool".into()))
    );
    assert_eq!(
        relationship(template, "member_of_groups_for_instances"),
        Some((
            "CoreGroup".into(),
            "template_group_member_for_instances".into()
        ))
    );
    assert_eq!(
        template.display_label.as_deref(),
        Some("template_name__value")
    );
}

#[tokio::test]
async fn profiles_supply_mandatory_fields_and_relationships_sourced_from_them() {
    let engine = engine().await;
    let paris = named(&engine, "LocationSite", "paris").await;
    let lyon = named(&engine, "LocationSite", "lyon").await;
    let red = named(&engine, "BuiltinTag", "red").await;
    let blue = named(&engine, "BuiltinTag", "blue").await;
    let green = named(&engine, "BuiltinTag", "green").await;
    // Without a profile, the mandatory fields are mandatory.
    let refused = create(&engine, "DcimDevice", input(&[("name", json!("r0"))], &[])).await;
    assert!(refused.is_err_and(|e| e.contains("mandatory")));
    let profile = create(
        &engine,
        "ProfileDcimDevice",
        input(
            &[("profile_name", json!("edge")), ("status", json!("active"))],
            &[("location", vec![paris]), ("tags", vec![red, blue])],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    // The profile supplies status, location and tags.
    let created = create(
        &engine,
        "DcimDevice",
        input(&[("name", json!("r1"))], &[("profiles", vec![profile])]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let r1 = device(&engine, created.id).await;
    assert_eq!(r1.value("status"), &json!("active"));
    assert_eq!(peers(&r1, "location"), vec![(paris, Some(profile))]);
    let mut expected = vec![(red, Some(profile)), (blue, Some(profile))];
    expected.sort();
    assert_eq!(peers(&r1, "tags"), expected);
    // Peers the user gives are the user's: the profile leaves them alone.
    let own = create(
        &engine,
        "DcimDevice",
        input(
            &[("name", json!("r2"))],
            &[("profiles", vec![profile]), ("tags", vec![green])],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let r2 = device(&engine, own.id).await;
    assert_eq!(peers(&r2, "tags"), vec![(green, None)]);
    // The profile's peers change: the nodes following it follow.
    let mut change = input(&[], &[("location", vec![lyon]), ("tags", vec![green])]);
    change.id = Some(profile.to_string());
    engine
        .update("main", "ProfileDcimDevice", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r1 = device(&engine, created.id).await;
    assert_eq!(peers(&r1, "location"), vec![(lyon, Some(profile))]);
    assert_eq!(peers(&r1, "tags"), vec![(green, Some(profile))]);
    let r2 = device(&engine, own.id).await;
    assert_eq!(peers(&r2, "tags"), vec![(green, None)]);
    // Emptied by the user: the relationship takes the profile's peers again.
    let mut cleared = input(&[], &[("tags", Vec::new())]);
    cleared.id = Some(own.id.to_string());
    engine
        .update("main", "DcimDevice", cleared)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r2 = device(&engine, own.id).await;
    assert_eq!(peers(&r2, "tags"), vec![(green, Some(profile))]);
    // Unlinked from the profile: what the profile gave goes.
    let mut unlinked = input(&[], &[("profiles", Vec::new())]);
    unlinked.id = Some(own.id.to_string());
    engine
        .update("main", "DcimDevice", unlinked)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r2 = device(&engine, own.id).await;
    assert_eq!(peers(&r2, "tags"), Vec::new());
}

#[tokio::test]
async fn a_template_names_the_pool_its_objects_number_comes_from() {
    let engine = engine().await;
    let paris = named(&engine, "LocationSite", "paris").await;
    let pool = create(
        &engine,
        "CoreNumberPool",
        input(
            &[
                ("name", json!("asns")),
                ("node", json!("DcimDevice")),
                ("node_attribute", json!("asn")),
                ("start_range", json!(65000)),
                ("end_range", json!(65100)),
            ],
            &[],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    // A template gives the value or the pool, not both.
    let both = create(
        &engine,
        "TemplateDcimDevice",
        input(
            &[("template_name", json!("both")), ("asn", json!(65001))],
            &[("asn_from_resource_pool", vec![pool])],
        ),
    )
    .await;
    assert!(
        both.as_ref()
            .is_err_and(|e| e.contains("Cannot set 'asn_from_resource_pool'")),
        "{both:?}"
    );
    let template = create(
        &engine,
        "TemplateDcimDevice",
        input(
            &[
                ("template_name", json!("leaf")),
                ("status", json!("planned")),
            ],
            &[("asn_from_resource_pool", vec![pool])],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .id;
    let mut asns = Vec::new();
    for name in ["l1", "l2"] {
        let made = create(
            &engine,
            "DcimDevice",
            input(
                &[("name", json!(name))],
                &[
                    ("object_template", vec![template]),
                    ("location", vec![paris]),
                ],
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let made = device(&engine, made.id).await;
        assert_eq!(made.value("status"), &json!("planned"));
        assert_eq!(
            made.attributes.get("asn").and_then(|a| a.source),
            Some(pool)
        );
        asns.push(made.value("asn").clone());
    }
    assert_eq!(asns, [json!(65000), json!(65001)]);
}
