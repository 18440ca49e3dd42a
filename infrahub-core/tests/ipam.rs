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

#[path = "support/engine.rs"]
mod support_engine;

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
    prefix_value(engine, branch, id, "is_top_level").await
}

/// The value of attribute `name` of prefix `id` on `branch`.
async fn prefix_value(engine: &Engine, branch: &str, id: NodeId, name: &str) -> Value {
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
        .map(|n| n.value(name).clone())
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

/// A network's first address and length, from its text.
fn parsed(text: &str) -> (u32, u32) {
    let (address, length) = text.split_once('/').unwrap_or((text, "32"));
    let address: std::net::Ipv4Addr = address.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    (u32::from(address), length.parse().unwrap_or(32))
}

fn inside(outer: (u32, u32), inner: (u32, u32)) -> bool {
    let mask = if outer.1 == 0 {
        0
    } else {
        u32::MAX << (32 - outer.1)
    };
    inner.1 >= outer.1 && inner.0 & mask == outer.0
}

/// Checks every prefix of `branch` (one namespace): its parent is a longest prefix strictly
/// containing it, its addresses hang from a longest prefix containing them, and its
/// `utilization` is what upstream computes from the children and addresses linked to it.
async fn check_prefixes(engine: &Engine, branch: &str) -> Result<(), String> {
    let view = BranchView::now(branch);
    let fields = Fields {
        attributes: None,
        relationships: vec!["children".into(), "ip_addresses".into(), "parent".into()],
    };
    let (prefixes, _) = engine
        .query(&view, "IpamIPPrefix", &QueryArgs::default(), &fields)
        .await
        .map_err(|e| e.to_string())?;
    let (addresses, _) = engine
        .query(
            &view,
            "IpamIPAddress",
            &QueryArgs::default(),
            &Fields {
                attributes: None,
                relationships: vec!["ip_prefix".into()],
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let nets: std::collections::BTreeMap<NodeId, (u32, u32)> = prefixes
        .iter()
        .map(|p| (p.id, parsed(p.value("prefix").as_str().unwrap_or(""))))
        .collect();
    // The longest prefix containing `net` (strictly, unless `host`): its length, if any.
    let longest = |net: (u32, u32), strict: bool| {
        nets.values()
            .filter(|n| inside(**n, net) && (!strict || n.1 < net.1))
            .map(|n| n.1)
            .max()
    };
    let size = |net: (u32, u32)| 2f64.powi(32 - net.1 as i32);
    for prefix in &prefixes {
        let net = nets[&prefix.id];
        let parent = prefix.peers("parent").first().map(|p| nets[&p.id].1);
        if parent != longest(net, true) {
            return Err(format!(
                "{} has a parent of length {parent:?}, not {:?}",
                prefix.value("prefix"),
                longest(net, true)
            ));
        }
        let (used, total) = if prefix.value("member_type").as_str() == Some("prefix") {
            let used: f64 = prefix
                .peers("children")
                .iter()
                .map(|c| size(nets[&c.id]))
                .sum();
            (used, size(net))
        } else {
            let usable = if net.1 < 31 {
                size(net) - 2.0
            } else {
                size(net)
            };
            (prefix.peers("ip_addresses").len() as f64, usable)
        };
        let expected = json!(((used / total) * 100.0).floor().clamp(0.0, 100.0) as i64);
        if *prefix.value("utilization") != expected {
            return Err(format!(
                "{} has utilization {}, not {expected}",
                prefix.value("prefix"),
                prefix.value("utilization")
            ));
        }
    }
    for address in &addresses {
        let text = address.value("address").as_str().unwrap_or("");
        let host = (parsed(text).0, 32);
        let up = address.peers("ip_prefix").first().map(|p| nets[&p.id].1);
        if up != longest(host, false) {
            return Err(format!(
                "{text} hangs from a prefix of length {up:?}, not {:?}",
                longest(host, false)
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn hierarchy_and_utilization_follow_every_change_through_merges_and_rebases() {
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 7, 2024] {
        random_walk(seed, 70).await;
    }
}

/// A pseudo-random walk of `steps` creates, renumbers and deletes of prefixes (of prefixes
/// and of addresses) and addresses on main and a branch, with merges and rebases between,
/// checking every prefix of both branches after each step.
async fn random_walk(mut seed: u64, steps: usize) {
    let engine = engine().await;
    engine
        .create_branch(BranchCreate {
            name: "plan".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let network = |third: u64, length: u32| {
        let address = (10u32 << 24) | ((third as u32) << 8);
        let a = address & (u32::MAX << (32 - length));
        format!("{}/{length}", std::net::Ipv4Addr::from(a))
    };
    let mut log = Vec::new();
    let (mut merges, mut rebases) = (0, 0);
    for step in 0..steps {
        let branch = if next(2) == 0 { "main" } else { "plan" };
        let (existing, _) = engine
            .query(
                &BranchView::now(branch),
                "IpamIPPrefix",
                &QueryArgs::default(),
                &Fields::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        match next(10) {
            0..=3 => {
                let value = network(next(16), [8, 16, 20, 22, 24, 26][next(6) as usize]);
                let member = if next(2) == 0 { "prefix" } else { "address" };
                log.push(format!("{step}: {branch}: create {value} of {member}"));
                engine
                    .create(
                        branch,
                        "IpamIPPrefix",
                        input(
                            &[("prefix", json!(value)), ("member_type", json!(member))],
                            None,
                        ),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{log:#?}: {e}"));
            }
            4..=5 => {
                let value = format!("10.0.{}.{}/24", next(16), 1 + next(200));
                log.push(format!("{step}: {branch}: create address {value}"));
                // The same address twice is refused: nothing to check then.
                let _ = engine
                    .create(
                        branch,
                        "IpamIPAddress",
                        input(&[("address", json!(value))], None),
                    )
                    .await;
            }
            6 if !existing.is_empty() => {
                let chosen = &existing[next(existing.len() as u64) as usize];
                let value = network(next(16), [16, 20, 24, 25][next(4) as usize]);
                log.push(format!(
                    "{step}: {branch}: renumber {} to {value}",
                    chosen.value("prefix")
                ));
                let mut change = input(&[("prefix", json!(value))], None);
                change.id = Some(chosen.id.to_string());
                engine
                    .update(branch, "IpamIPPrefix", change)
                    .await
                    .unwrap_or_else(|e| panic!("{log:#?}: {e}"));
            }
            7 if !existing.is_empty() => {
                let chosen = &existing[next(existing.len() as u64) as usize];
                log.push(format!(
                    "{step}: {branch}: delete {}",
                    chosen.value("prefix")
                ));
                let reference = NodeRef {
                    id: Some(chosen.id.to_string()),
                    hfid: None,
                };
                engine
                    .delete(branch, "IpamIPPrefix", &reference)
                    .await
                    .unwrap_or_else(|e| panic!("{log:#?}: {e}"));
            }
            8 => {
                // Conflicts (both sides renumbered one prefix) keep the branch unmerged.
                let merged = engine.merge_branch("plan").await;
                merges += usize::from(merged.is_ok());
                log.push(format!("{step}: merge: {:?}", merged.err()));
            }
            _ => {
                let rebased = engine.rebase_branch("plan").await;
                rebases += usize::from(rebased.is_ok());
                log.push(format!("{step}: rebase: {:?}", rebased.err()));
            }
        }
        for branch in ["main", "plan"] {
            if let Err(wrong) = check_prefixes(&engine, branch).await {
                panic!("{log:#?}\non {branch}: {wrong}");
            }
        }
    }
    assert!(merges > 1 && rebases > 1, "{log:#?}");
}

#[tokio::test]
async fn a_store_from_before_the_kept_totals_gets_them_counted() {
    let (engine, store) = support_engine::engine_with(SCHEMA, "ipam.yml").await;
    let create = |branch: &'static str, value: &'static str, member: &'static str| {
        let engine = &engine;
        async move {
            engine
                .create(
                    branch,
                    "IpamIPPrefix",
                    input(
                        &[("prefix", json!(value)), ("member_type", json!(member))],
                        None,
                    ),
                )
                .await
                .unwrap_or_else(|e| panic!("{value}: {e}"))
                .node
                .id
        }
    };
    let eight = create("main", "10.0.0.0/8", "prefix").await;
    create("main", "10.0.0.0/9", "prefix").await;
    let lan = create("main", "10.200.0.0/24", "address").await;
    address(&engine, "main", "10.200.0.10/24").await;
    engine
        .create_branch(BranchCreate {
            name: "plan".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    create("plan", "10.128.0.0/10", "prefix").await;
    address(&engine, "plan", "10.200.0.11/24").await;
    let utilization = |engine: Arc<Engine>, branch: &'static str, id: NodeId| async move {
        prefix_value(&engine, branch, id, "utilization").await
    };
    let expected = [
        ("main", eight, json!(50)),
        ("plan", eight, json!(75)),
        ("main", lan, json!(0)),
        ("plan", lan, json!(0)),
    ];
    for (branch, id, value) in &expected {
        assert_eq!(&utilization(Arc::clone(&engine), branch, *id).await, value);
    }
    // What a store written before the totals were kept looks like: none of them, graph
    // version 1.
    for branch in ["main", "plan"] {
        let view = BranchView::now(branch);
        let query = infrahub_graph::NodeQuery {
            labels: vec!["BuiltinIPPrefix".into()],
            ..infrahub_graph::NodeQuery::default()
        };
        let found = store
            .query(&view, &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut changeset = infrahub_graph::Changeset::new(branch);
        for node in found.nodes {
            for name in ["~ipam_used", "~ipam_delta"] {
                if node
                    .attributes
                    .get(name)
                    .is_some_and(|a| &*a.branch == branch)
                {
                    changeset.push(infrahub_graph::Op::RemoveAttribute {
                        node: node.id,
                        name: name.into(),
                        scope: infrahub_graph::Scope::Local,
                    });
                }
            }
        }
        assert!(!changeset.ops.is_empty(), "{branch} kept totals");
        store
            .commit(changeset)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Main's totals are gone; the branch has lost its delta (and still sees main's totals
    // as they were when it started).
    assert_eq!(
        utilization(Arc::clone(&engine), "main", eight).await,
        json!(0)
    );
    assert_eq!(
        utilization(Arc::clone(&engine), "plan", eight).await,
        json!(50)
    );
    // Reopened at graph version 1, the migration counts them.
    let mut properties = store
        .get_branch("main")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .properties;
    properties.insert("graph_version".into(), json!(1));
    store
        .update_branch("main", properties)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let migrated = Arc::new(support_engine::open(&store).await);
    for (branch, id, value) in &expected {
        assert_eq!(
            &utilization(Arc::clone(&migrated), branch, *id).await,
            value,
            "{branch}"
        );
    }
}
