//! IPAM through the engine: the prefix and address hierarchy kept on create, update, delete,
//! across namespaces and on a branch then merged.

use std::sync::Arc;

use infrahub_core::engine::{
    AttributeInput, BranchCreate, Engine, EngineOptions, Fields, NodeInput, NodeRef, PeerInput,
    QueryArgs, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, GraphStore, NodeId};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: IPPrefix
    namespace: Ipam
    inherit_from: [BuiltinIPPrefix]
  - name: IPAddress
    namespace: Ipam
    inherit_from: [BuiltinIPAddress]
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
    let file = SchemaFile::from_yaml(SCHEMA, Some("ipam.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    Arc::new(engine)
}

fn input(attributes: &[(&str, Value)], namespace: Option<NodeId>) -> NodeInput {
    let mut input = NodeInput::default();
    for (name, value) in attributes {
        input
            .attributes
            .insert((*name).into(), AttributeInput::value(value.clone()));
    }
    if let Some(namespace) = namespace {
        input.relationships.insert(
            "ip_namespace".into(),
            RelationshipInput::One(Some(PeerInput::id(namespace.to_string()))),
        );
    }
    input
}

async fn prefix(engine: &Engine, branch: &str, value: &str) -> NodeId {
    engine
        .create(
            branch,
            "IpamIPPrefix",
            input(&[("prefix", json!(value))], None),
        )
        .await
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .node
        .id
}

async fn address(engine: &Engine, branch: &str, value: &str) -> NodeId {
    engine
        .create(
            branch,
            "IpamIPAddress",
            input(&[("address", json!(value))], None),
        )
        .await
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .node
        .id
}

/// The node `id` hangs from (`parent` of a prefix, `ip_prefix` of an address) on `branch`.
async fn up(engine: &Engine, branch: &str, kind: &str, id: NodeId) -> Option<NodeId> {
    let relationship = if kind == "IpamIPPrefix" {
        "parent"
    } else {
        "ip_prefix"
    };
    let mut args = QueryArgs::default();
    args.filters.insert("ids".into(), json!([id.to_string()]));
    let fields = Fields {
        attributes: None,
        relationships: vec![relationship.into()],
    };
    let (nodes, _) = engine
        .query(&BranchView::now(branch), kind, &args, &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = nodes.first().unwrap_or_else(|| panic!("{id} not found"));
    node.peers(relationship).first().map(|p| p.id)
}

async fn children(engine: &Engine, branch: &str, id: NodeId) -> Vec<NodeId> {
    let mut args = QueryArgs::default();
    args.filters.insert("ids".into(), json!([id.to_string()]));
    let fields = Fields {
        attributes: None,
        relationships: vec!["children".into(), "ip_addresses".into()],
    };
    let (nodes, _) = engine
        .query(&BranchView::now(branch), "IpamIPPrefix", &args, &fields)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = nodes.first().unwrap_or_else(|| panic!("{id} not found"));
    let mut ids: Vec<NodeId> = node
        .peers("children")
        .iter()
        .chain(node.peers("ip_addresses"))
        .map(|p| p.id)
        .collect();
    ids.sort();
    ids
}

async fn top_level(engine: &Engine, branch: &str, id: NodeId) -> Value {
    let mut args = QueryArgs::default();
    args.filters.insert("ids".into(), json!([id.to_string()]));
    let (nodes, _) = engine
        .query(
            &BranchView::now(branch),
            "IpamIPPrefix",
            &args,
            &Fields::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nodes
        .first()
        .map(|n| n.value("is_top_level").clone())
        .unwrap_or_default()
}

fn sorted(mut ids: Vec<NodeId>) -> Vec<NodeId> {
    ids.sort();
    ids
}

#[tokio::test]
async fn the_hierarchy_follows_creates_updates_and_deletes() {
    let engine = engine().await;
    let main = "main";
    let eight = prefix(&engine, main, "10.0.0.0/8").await;
    assert_eq!(up(&engine, main, "IpamIPPrefix", eight).await, None);
    assert_eq!(top_level(&engine, main, eight).await, json!(true));
    let sixteen = prefix(&engine, main, "10.1.0.0/16").await;
    let leaf = prefix(&engine, main, "10.1.1.0/24").await;
    let host = address(&engine, main, "10.1.1.5/24").await;
    assert_eq!(
        up(&engine, main, "IpamIPPrefix", sixteen).await,
        Some(eight)
    );
    assert_eq!(top_level(&engine, main, sixteen).await, json!(false));
    assert_eq!(up(&engine, main, "IpamIPPrefix", leaf).await, Some(sixteen));
    assert_eq!(up(&engine, main, "IpamIPAddress", host).await, Some(leaf));
    // IPv6 lives apart.
    let v6 = prefix(&engine, main, "2001:db8::/32").await;
    let v6_host = address(&engine, main, "2001:db8::1/64").await;
    assert_eq!(up(&engine, main, "IpamIPPrefix", v6).await, None);
    assert_eq!(up(&engine, main, "IpamIPAddress", v6_host).await, Some(v6));

    // A prefix inserted between a parent and its children takes the children it contains.
    let twenty = prefix(&engine, main, "10.1.0.0/20").await;
    let other = prefix(&engine, main, "10.1.128.0/24").await;
    assert_eq!(
        up(&engine, main, "IpamIPPrefix", twenty).await,
        Some(sixteen)
    );
    assert_eq!(up(&engine, main, "IpamIPPrefix", leaf).await, Some(twenty));
    assert_eq!(
        up(&engine, main, "IpamIPPrefix", other).await,
        Some(sixteen)
    );
    assert_eq!(
        children(&engine, main, sixteen).await,
        sorted(vec![twenty, other])
    );
    assert_eq!(up(&engine, main, "IpamIPAddress", host).await, Some(leaf));
    let loose = address(&engine, main, "10.1.2.7/20").await;
    assert_eq!(
        up(&engine, main, "IpamIPAddress", loose).await,
        Some(twenty)
    );
    assert_eq!(
        children(&engine, main, twenty).await,
        sorted(vec![leaf, loose])
    );

    // Deleting it gives them back to its parent.
    engine
        .delete(
            main,
            "IpamIPPrefix",
            &NodeRef {
                id: Some(twenty.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up(&engine, main, "IpamIPPrefix", leaf).await, Some(sixteen));
    assert_eq!(
        up(&engine, main, "IpamIPAddress", loose).await,
        Some(sixteen)
    );

    // A new value moves it: what it held goes back, what it now contains comes.
    let mut change = input(&[("prefix", json!("10.2.0.0/24"))], None);
    change.id = Some(leaf.to_string());
    engine
        .update(main, "IpamIPPrefix", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up(&engine, main, "IpamIPPrefix", leaf).await, Some(eight));
    assert_eq!(
        up(&engine, main, "IpamIPAddress", host).await,
        Some(sixteen)
    );
    let inside = address(&engine, main, "10.2.0.9/24").await;
    assert_eq!(up(&engine, main, "IpamIPAddress", inside).await, Some(leaf));

    // Another namespace is another hierarchy.
    let lab = engine
        .create(
            main,
            "IpamNamespace",
            input(&[("name", json!("lab"))], None),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    let mut change = input(&[], Some(lab));
    change.id = Some(sixteen.to_string());
    engine
        .update(main, "IpamIPPrefix", change)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up(&engine, main, "IpamIPPrefix", sixteen).await, None);
    assert_eq!(top_level(&engine, main, sixteen).await, json!(true));
    assert_eq!(up(&engine, main, "IpamIPPrefix", other).await, Some(eight));
    assert_eq!(up(&engine, main, "IpamIPAddress", host).await, Some(eight));
    let in_lab = engine
        .create(
            main,
            "IpamIPPrefix",
            input(&[("prefix", json!("10.1.5.0/24"))], Some(lab)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .node
        .id;
    assert_eq!(
        up(&engine, main, "IpamIPPrefix", in_lab).await,
        Some(sixteen)
    );

    // Host bits set are refused, naming the value.
    let refused = engine
        .create(
            main,
            "IpamIPPrefix",
            input(&[("prefix", json!("10.9.0.1/16"))], None),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("10.9.0.1/16"), "{refused}");
}

#[tokio::test]
async fn a_branch_keeps_its_own_hierarchy_until_merged() {
    let engine = engine().await;
    let eight = prefix(&engine, "main", "10.0.0.0/8").await;
    let leaf = prefix(&engine, "main", "10.1.1.0/24").await;
    engine
        .create_branch(BranchCreate {
            name: "plan".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sixteen = prefix(&engine, "plan", "10.1.0.0/16").await;
    assert_eq!(
        up(&engine, "plan", "IpamIPPrefix", leaf).await,
        Some(sixteen)
    );
    assert_eq!(up(&engine, "main", "IpamIPPrefix", leaf).await, Some(eight));
    engine
        .merge_branch("plan")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        up(&engine, "main", "IpamIPPrefix", leaf).await,
        Some(sixteen)
    );
    assert_eq!(
        up(&engine, "main", "IpamIPPrefix", sixteen).await,
        Some(eight)
    );
    assert_eq!(children(&engine, "main", eight).await, vec![sixteen]);
}

async fn parents(engine: &Engine, id: NodeId) -> Vec<NodeId> {
    let store = engine.store();
    let selection = infrahub_graph::Selection {
        attributes: Some(Vec::new()),
        links: vec![infrahub_graph::LinkSelection {
            identifier: "parent__child".into(),
            side: infrahub_graph::Side::From,
        }],
    };
    store
        .get_nodes(&BranchView::now("main"), &[id], &selection)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .pop()
        .map(|n| n.links.iter().map(|l| l.peer).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_merge_reconciles_what_both_sides_moved() {
    let engine = engine().await;
    let eight = prefix(&engine, "main", "10.0.0.0/8").await;
    let leaf = prefix(&engine, "main", "10.1.1.0/24").await;
    engine
        .create_branch(BranchCreate {
            name: "plan".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The branch puts a /16 above the leaf while main puts a /20 above it.
    let sixteen = prefix(&engine, "plan", "10.1.0.0/16").await;
    let twenty = prefix(&engine, "main", "10.1.0.0/20").await;
    assert_eq!(
        up(&engine, "plan", "IpamIPPrefix", leaf).await,
        Some(sixteen)
    );
    assert_eq!(
        up(&engine, "main", "IpamIPPrefix", leaf).await,
        Some(twenty)
    );
    engine
        .merge_branch("plan")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        parents(&engine, leaf).await,
        vec![twenty],
        "one parent, the closest"
    );
    assert_eq!(parents(&engine, twenty).await, vec![sixteen]);
    assert_eq!(parents(&engine, sixteen).await, vec![eight]);
    assert_eq!(children(&engine, "main", eight).await, vec![sixteen]);
}

#[tokio::test]
async fn a_prefix_changed_on_both_sides_merges_once_the_value_conflict_is_resolved() {
    let engine = engine().await;
    let eight = prefix(&engine, "main", "10.0.0.0/8").await;
    let nine = prefix(&engine, "main", "9.0.0.0/8").await;
    let moving = prefix(&engine, "main", "172.16.0.0/24").await;
    engine
        .create_branch(BranchCreate {
            name: "renumber".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let change = |value: &str| {
        let mut change = input(&[("prefix", json!(value))], None);
        change.id = Some(moving.to_string());
        change
    };
    engine
        .update("renumber", "IpamIPPrefix", change("10.9.0.0/24"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .update("main", "IpamIPPrefix", change("9.9.0.0/24"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One conflict for the user: the value (the engine's key follows it).
    let conflicts = engine
        .branch_conflicts("renumber")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let refused = engine.merge_branch("renumber").await;
    assert!(refused.is_err(), "unresolved conflicts block the merge");
    engine
        .resolve_conflict("renumber", &conflicts[0].id("renumber"), true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .merge_branch("renumber")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Main's value won, and the hierarchy follows it.
    assert_eq!(
        up(&engine, "main", "IpamIPPrefix", moving).await,
        Some(nine)
    );
    assert_eq!(children(&engine, "main", eight).await, Vec::<NodeId>::new());
    let again = prefix(&engine, "main", "9.9.0.128/25").await;
    assert_eq!(
        up(&engine, "main", "IpamIPPrefix", again).await,
        Some(moving)
    );
}
