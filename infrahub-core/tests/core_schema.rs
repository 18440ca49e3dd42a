//! The built-in core schema as upstream 1.11 serves it: the deletes it cascades, the display
//! labels it renders, and stores written with the earlier (upstream 1.4) core schema brought up
//! to it on open without losing data.

use std::sync::Arc;

use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, Fields, NodeInput, NodeRef, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_core::schema::{ProcessOptions, SchemaBranch, SchemaFile};
use infrahub_graph::{
    AttributeValue, BranchView, Changeset, EmbeddedGraph, GraphStore, LinkSelection, NodeId,
    NodeQuery, Op, Scope, Selection, Side,
};
use serde_json::{Value, json};

const IPAM: &str = r#"
version: "1.0"
nodes:
  - name: IPPrefix
    namespace: Ipam
    inherit_from: [BuiltinIPPrefix]
  - name: IPAddress
    namespace: Ipam
    inherit_from: [BuiltinIPAddress]
"#;

fn options() -> EngineOptions {
    EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    }
}

fn new_store() -> Arc<dyn GraphStore> {
    Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")))
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

fn one(id: NodeId) -> RelationshipInput {
    RelationshipInput::One(Some(PeerInput::id(id.to_string())))
}

async fn create(engine: &Engine, kind: &str, data: NodeInput) -> NodeId {
    engine
        .create("main", kind, data)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
        .node
        .id
}

async fn count(engine: &Engine, kind: &str) -> usize {
    let view = BranchView::now("main");
    let (nodes, _) = engine
        .query(&view, kind, &QueryArgs::default(), &Fields::minimal())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nodes.len()
}

async fn peers(engine: &Engine, kind: &str, id: NodeId, relationship: &str) -> Vec<NodeId> {
    let fields = Fields {
        attributes: None,
        relationships: vec![relationship.into()],
    };
    engine
        .get(&BranchView::now("main"), kind, &[id], &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .first()
        .map(|node| node.peers(relationship).iter().map(|p| p.id).collect())
        .unwrap_or_default()
}

const DEVICES: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Test
    inherit_from: [CoreArtifactTarget]
    attributes:
      - {name: name, kind: Text, unique: true}
"#;

fn reference(id: NodeId) -> NodeRef {
    NodeRef {
        id: Some(id.to_string()),
        hfid: None,
    }
}

#[tokio::test]
async fn deleting_a_repository_or_a_target_takes_what_depends_on_it_with_it() {
    let engine = Engine::open(new_store(), options())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let devices =
        SchemaFile::from_yaml(DEVICES, Some("devices.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![devices], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    let edge = create(&engine, "TestDevice", input(&[("name", json!("edge"))])).await;
    let core = create(&engine, "TestDevice", input(&[("name", json!("core"))])).await;
    let repository = create(
        &engine,
        "CoreRepository",
        input(&[
            ("name", json!("infra")),
            ("location", json!("https://example.com/infra.git")),
        ]),
    )
    .await;
    let mut data = input(&[
        ("name", json!("devices")),
        (
            "query",
            json!("query { InfraDevice { edges { node { id } } } }"),
        ),
    ]);
    data.relationships
        .insert("repository".into(), one(repository));
    let query = create(&engine, "CoreGraphQLQuery", data).await;
    let mut data = input(&[
        ("name", json!("config")),
        ("file_path", json!("transforms/config.py")),
        ("class_name", json!("Config")),
    ]);
    data.relationships
        .insert("repository".into(), one(repository));
    data.relationships.insert("query".into(), one(query));
    let transform = create(&engine, "CoreTransformPython", data).await;
    let group = create(
        &engine,
        "CoreStandardGroup",
        input(&[("name", json!("devices"))]),
    )
    .await;
    let mut data = input(&[
        ("name", json!("startup")),
        ("artifact_name", json!("startup-config")),
        ("content_type", json!("text/plain")),
        ("parameters", json!({"device": "name__value"})),
    ]);
    data.relationships.insert("targets".into(), one(group));
    data.relationships
        .insert("transformation".into(), one(transform));
    let definition = create(&engine, "CoreArtifactDefinition", data).await;
    let mut artifacts = Vec::new();
    for device in [edge, core] {
        let mut data = input(&[
            ("name", json!("startup-config")),
            ("status", json!("Ready")),
            ("content_type", json!("text/plain")),
        ]);
        data.relationships.insert("object".into(), one(device));
        data.relationships
            .insert("definition".into(), one(definition));
        artifacts.push(create(&engine, "CoreArtifact", data).await);
    }
    let mut listed = peers(&engine, "CoreArtifactDefinition", definition, "artifacts").await;
    listed.sort();
    artifacts.sort();
    assert_eq!(listed, artifacts, "a definition lists its artifacts");

    engine
        .delete("main", "TestDevice", &reference(edge))
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    assert_eq!(
        count(&engine, "CoreArtifact").await,
        1,
        "a deleted target's artifact goes with it"
    );

    engine
        .delete("main", "CoreRepository", &reference(repository))
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    for kind in [
        "CoreRepository",
        "CoreGraphQLQuery",
        "CoreTransformPython",
        "CoreArtifactDefinition",
        "CoreArtifact",
    ] {
        assert_eq!(count(&engine, kind).await, 0, "{kind} is deleted with it");
    }
    assert_eq!(count(&engine, "CoreStandardGroup").await, 1, "targets stay");
    assert_eq!(count(&engine, "TestDevice").await, 1);
}

#[tokio::test]
async fn permissions_read_as_upstream_labels_them() {
    let engine = Engine::open(new_store(), options())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let view = BranchView::now("main");
    let (global, _) = engine
        .query(
            &view,
            "CoreGlobalPermission",
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<&str> = global.iter().map(|p| p.display_label.as_str()).collect();
    assert!(
        labels.contains(&"global:super_admin:allow_all"),
        "{labels:?}"
    );
    let (object, _) = engine
        .query(
            &view,
            "CoreObjectPermission",
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !object.is_empty()
            && object.iter().all(|p| p.display_label.starts_with("object:")
                && [":deny", ":allow_default", ":allow_other", ":allow_all"]
                    .iter()
                    .any(|decision| p.display_label.ends_with(decision))),
        "{:?}",
        object.iter().map(|p| &p.display_label).collect::<Vec<_>>()
    );
}

/// The core schema this build replaced (upstream 1.4's), as written by earlier builds.
fn core_schema_1_4() -> SchemaFile {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/core-schema-1.4"
    );
    let order = std::fs::read_to_string(format!("{dir}/ORDER")).unwrap_or_else(|e| panic!("{e}"));
    let files = order
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|name| {
            let text =
                std::fs::read_to_string(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{e}"));
            SchemaFile::from_yaml(&text, Some(name)).unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect();
    SchemaFile::merge(files).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn snapshot_node(store: &Arc<dyn GraphStore>) -> (NodeId, infrahub_graph::Timestamp) {
    let query = NodeQuery {
        labels: vec!["InternalSchemaSnapshot".into()],
        ..NodeQuery::default()
    };
    let found = store
        .query(&BranchView::now("main"), &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = found
        .nodes
        .first()
        .unwrap_or_else(|| panic!("no schema snapshot"));
    (node.id, node.updated_at)
}

/// Moves the links of `kind` nodes from identifier `from` to `to`, as they are stored.
async fn move_links(store: &Arc<dyn GraphStore>, kind: &str, from: &str, to: &str) -> usize {
    let query = NodeQuery {
        labels: vec![kind.into()],
        select: Selection {
            attributes: Some(Vec::new()),
            links: vec![LinkSelection {
                identifier: from.into(),
                side: Side::Either,
            }],
        },
        ..NodeQuery::default()
    };
    let view = BranchView::now("main");
    let mut changeset = Changeset::new("main");
    for node in store
        .query(&view, &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .nodes
    {
        for link in node.links.iter().filter(|l| l.identifier == from) {
            let (start, end) = match link.side {
                Side::To => (link.peer, node.id),
                _ => (node.id, link.peer),
            };
            changeset.push(Op::RemoveLink {
                identifier: from.into(),
                from: start,
                to: end,
                scope: Scope::Global,
            });
            changeset.push(Op::SetLink {
                identifier: to.into(),
                from: start,
                to: end,
                properties: link.properties.clone(),
                scope: Scope::Global,
            });
        }
    }
    let moved = changeset.ops.len() / 2;
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    moved
}

#[tokio::test]
async fn a_store_from_before_the_1_11_core_schema_gets_it_and_keeps_its_pool_resources() {
    let store = new_store();
    let engine = Engine::open(Arc::clone(&store), options())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let user = SchemaFile::from_yaml(IPAM, Some("ipam.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![user.clone()], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    let prefix = create(
        &engine,
        "IpamIPPrefix",
        input(&[
            ("prefix", json!("10.0.0.0/8")),
            ("member_type", json!("prefix")),
        ]),
    )
    .await;
    let view = BranchView::now("main");
    let mut args = QueryArgs::default();
    args.filters
        .insert("name__value".into(), Value::String("default".into()));
    let (namespaces, _) = engine
        .query(&view, "IpamNamespace", &args, &Fields::minimal())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let namespace = namespaces
        .first()
        .map(|n| n.id)
        .unwrap_or_else(|| panic!("no default namespace"));
    let mut data = input(&[
        ("name", json!("loopbacks")),
        ("default_prefix_type", json!("IpamIPPrefix")),
        ("default_prefix_length", json!(24)),
    ]);
    data.relationships.insert(
        "resources".into(),
        RelationshipInput::Many(vec![PeerInput::id(prefix.to_string())]),
    );
    data.relationships
        .insert("ip_namespace".into(), one(namespace));
    let pool = create(&engine, "CoreIPPrefixPool", data).await;
    drop(engine);

    // What an earlier build wrote: the 1.4 core schema, pools linked to their resources under
    // `prefixpool__resource`, graph version 2.
    let mut old = SchemaBranch::new()
        .with_file(&core_schema_1_4(), &ProcessOptions::default())
        .and_then(|s| s.with_file(&user, &ProcessOptions::default()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    old.assign_ids();
    assert!(old.get("CoreIPPool").is_none());
    let (snapshot, _) = snapshot_node(&store).await;
    let mut changeset = Changeset::new("main");
    changeset.push(Op::SetAttribute {
        node: snapshot,
        name: "snapshot".into(),
        value: AttributeValue::new(old.to_snapshot()),
        scope: Scope::Branch,
        indexed: false,
    });
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let moved = move_links(
        &store,
        "CoreIPPrefixPool",
        "ippool__resource",
        "prefixpool__resource",
    )
    .await;
    assert_eq!(moved, 1);
    let mut properties = store
        .get_branch("main")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .properties;
    properties.insert("graph_version".into(), json!(2));
    store
        .update_branch("main", properties)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let engine = Engine::open(Arc::clone(&store), options())
        .await
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    for kind in [
        "CoreIPPool",
        "CoreKeyValue",
        "CoreStaticKeyValue",
        "CoreGeneratorAwareGroup",
    ] {
        assert!(schema.get(kind).is_some(), "{kind} is served");
    }
    let thread = schema
        .get("CoreChangeThread")
        .unwrap_or_else(|| panic!("no CoreChangeThread"));
    assert!(thread.attribute("created_at").is_none());
    assert!(thread.relationship("created_by").is_none());
    let user_prefix = schema
        .get("IpamIPPrefix")
        .unwrap_or_else(|| panic!("no IpamIPPrefix"));
    let resource_pool = user_prefix
        .relationship("resource_pool")
        .unwrap_or_else(|| panic!("no resource_pool"));
    assert_eq!(
        (resource_pool.peer.as_str(), resource_pool.identifier()),
        ("CoreIPPool", "ippool__resource"),
        "user kinds inherit the new identifier"
    );
    let timeout = schema
        .get("CoreTransformPython")
        .and_then(|m| m.attribute("timeout"))
        .and_then(|a| a.default_value.clone());
    assert_eq!(timeout, Some(json!(60)));
    assert_eq!(
        peers(&engine, "CoreIPPrefixPool", pool, "resources").await,
        vec![prefix],
        "the pool still has its resource"
    );
    assert_eq!(
        peers(&engine, "IpamIPPrefix", prefix, "resource_pool").await,
        vec![pool],
        "the resource still knows its pool"
    );
    let version = store
        .get_branch("main")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .properties
        .get("graph_version")
        .cloned();
    assert_eq!(version, Some(json!(3)));
    let hash = schema.hash();
    let (_, refreshed_at) = snapshot_node(&store).await;
    drop(engine);

    // Once brought up to date, opening changes nothing.
    let engine = Engine::open(Arc::clone(&store), options())
        .await
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let again = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.hash(), hash);
    assert_eq!(snapshot_node(&store).await.1, refreshed_at);
}

#[tokio::test]
async fn a_current_store_opens_without_rewriting_its_schema() {
    let store = new_store();
    let engine = Engine::open(Arc::clone(&store), options())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let hash = engine
        .schema("main")
        .unwrap_or_else(|e| panic!("{e}"))
        .hash();
    let (_, written) = snapshot_node(&store).await;
    drop(engine);
    let engine = Engine::open(Arc::clone(&store), options())
        .await
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    assert_eq!(
        engine
            .schema("main")
            .unwrap_or_else(|e| panic!("{e}"))
            .hash(),
        hash
    );
    assert_eq!(snapshot_node(&store).await.1, written);
}
