//! Resource pools through the engine: sequential, concurrent, idempotent and exhausted
//! allocations of prefixes, addresses and numbers.

use std::collections::BTreeSet;
use std::sync::Arc;

use infrahub_core::engine::{
    Allocated, AttributeInput, BranchCreate, Engine, Fields, NodeInput, PoolInput, QueryArgs,
};
use infrahub_graph::{BranchView, NodeId};
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
  - name: Vlan
    namespace: Testing
    attributes:
      - name: name
        kind: Text
        unique: true
      - name: vlan_id
        kind: Number
        optional: true
        parameters:
          min_value: 1
          max_value: 4094
          excluded_values: "12,20-29"
  - name: Circuit
    namespace: Testing
    attributes:
      - name: name
        kind: Text
        unique: true
      - name: number
        kind: NumberPool
        read_only: true
        parameters:
          start_range: 5
          end_range: 7
"#;

async fn engine() -> Arc<Engine> {
    support_engine::engine_with(SCHEMA, "pools.yml").await.0
}

use support_engine::input;

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> NodeId {
    engine
        .create("main", kind, input)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
        .node
        .id
}

async fn namespace(engine: &Engine) -> NodeId {
    let mut args = QueryArgs::default();
    args.filters.insert("default__value".into(), json!(true));
    let (found, _) = engine
        .query(
            &BranchView::now("main"),
            "IpamNamespace",
            &args,
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    found
        .first()
        .map(|n| n.id)
        .unwrap_or_else(|| panic!("no default namespace"))
}

/// A prefix pool over `resources`, handing out /`length` prefixes.
async fn prefix_pool(engine: &Engine, name: &str, resources: &[&str], length: i64) -> NodeId {
    let mut ids = Vec::new();
    for prefix in resources {
        ids.push(
            create(
                engine,
                "IpamIPPrefix",
                input(
                    &[("prefix", json!(prefix)), ("member_type", json!("prefix"))],
                    &[],
                ),
            )
            .await,
        );
    }
    let namespace = namespace(engine).await;
    create(
        engine,
        "CoreIPPrefixPool",
        input(
            &[
                ("name", json!(name)),
                ("default_prefix_length", json!(length)),
                ("default_prefix_type", json!("IpamIPPrefix")),
            ],
            &[("resources", ids), ("ip_namespace", vec![namespace])],
        ),
    )
    .await
}

fn request(pool: NodeId, identifier: Option<&str>) -> PoolInput {
    PoolInput {
        id: Some(pool.to_string()),
        identifier: identifier.map(str::to_string),
        ..PoolInput::default()
    }
}

async fn value_of(engine: &Engine, branch: &str, allocated: &Allocated, attribute: &str) -> String {
    let Allocated::Node { id, kind, .. } = allocated else {
        panic!("not a node: {allocated:?}");
    };
    let (nodes, _) = engine
        .query(
            &BranchView::now(branch),
            kind,
            &{
                let mut args = QueryArgs::default();
                args.filters.insert("ids".into(), json!([id.to_string()]));
                args
            },
            &Fields::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    nodes
        .first()
        .and_then(|n| n.value(attribute).as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test]
async fn prefixes_come_in_order_once_per_identifier_until_the_pool_is_exhausted() {
    let engine = engine().await;
    let pool = prefix_pool(&engine, "small", &["10.0.0.0/30", "10.9.0.0/30"], 31).await;
    let allow = |_: &str| Ok(());
    let first = engine
        .allocate_node("main", &request(pool, Some("a")), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "main", &first, "prefix").await,
        "10.0.0.0/31"
    );
    let again = engine
        .allocate_node("main", &request(pool, Some("a")), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, again, "the same identifier gets the same prefix");
    // Another branch sees the reservation and the space used on main.
    engine
        .create_branch(BranchCreate {
            name: "other".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let on_branch = engine
        .allocate_node("other", &request(pool, None), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "other", &on_branch, "prefix").await,
        "10.0.0.2/31"
    );
    // Main sees what the branch took.
    let next = engine
        .allocate_node("main", &request(pool, None), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "main", &next, "prefix").await,
        "10.9.0.0/31"
    );
    let last = engine
        .allocate_node("main", &request(pool, None), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "main", &last, "prefix").await,
        "10.9.0.2/31"
    );
    let exhausted = match engine
        .allocate_node("main", &request(pool, None), &allow)
        .await
    {
        Ok(extra) => panic!(
            "allocated {}",
            value_of(&engine, "main", &extra, "prefix").await
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        exhausted.contains("IPPrefixPool: small")
            && exhausted.contains("No more resources available"),
        "{exhausted}"
    );
    // The check sees the kind before anything is written.
    let refused = engine
        .allocate_node("main", &request(pool, Some("z")), &|kind: &str| {
            Err(infrahub_core::Error::new(
                infrahub_core::ErrorKind::Forbidden,
                format!("no {kind}"),
            ))
        })
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn sixteen_concurrent_allocations_get_sixteen_prefixes() {
    let engine = engine().await;
    let pool = prefix_pool(&engine, "busy", &["10.0.0.0/20"], 24).await;
    let mut tasks = Vec::new();
    for index in 0..16 {
        let engine = Arc::clone(&engine);
        tasks.push(tokio::spawn(async move {
            let identifier = format!("client-{index}");
            engine
                .allocate_node("main", &request(pool, Some(&identifier)), &|_| Ok(()))
                .await
        }));
    }
    let mut prefixes = BTreeSet::new();
    for task in tasks {
        let allocated = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        prefixes.insert(value_of(&engine, "main", &allocated, "prefix").await);
    }
    assert_eq!(prefixes.len(), 16, "{prefixes:?}");
    assert!(prefixes.contains("10.0.0.0/24") && prefixes.contains("10.0.15.0/24"));
}

#[tokio::test]
async fn addresses_skip_network_and_broadcast_unless_the_prefix_is_a_pool() {
    let engine = engine().await;
    let namespace = namespace(&engine).await;
    let subnet = create(
        &engine,
        "IpamIPPrefix",
        input(&[("prefix", json!("192.168.0.0/30"))], &[]),
    )
    .await;
    let pool = create(
        &engine,
        "CoreIPAddressPool",
        input(
            &[
                ("name", json!("hosts")),
                ("default_address_type", json!("IpamIPAddress")),
            ],
            &[
                ("resources", vec![subnet]),
                ("ip_namespace", vec![namespace]),
            ],
        ),
    )
    .await;
    let mut taken = Vec::new();
    for _ in 0..2 {
        let allocated = engine
            .allocate_node("main", &request(pool, None), &|_| Ok(()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        taken.push(value_of(&engine, "main", &allocated, "address").await);
    }
    assert_eq!(taken, ["192.168.0.1/30", "192.168.0.2/30"]);
    let exhausted = engine
        .allocate_node("main", &request(pool, None), &|_| Ok(()))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(exhausted.contains("no more addresses"), "{exhausted}");
}

#[tokio::test]
async fn numbers_skip_excluded_and_taken_values_and_stay_with_their_node() {
    let engine = engine().await;
    let pool = create(
        &engine,
        "CoreNumberPool",
        input(
            &[
                ("name", json!("vlans")),
                ("node", json!("TestingVlan")),
                ("node_attribute", json!("vlan_id")),
                ("start_range", json!(11)),
                ("end_range", json!(31)),
            ],
            &[],
        ),
    )
    .await;
    // 13 is taken by hand.
    create(
        &engine,
        "TestingVlan",
        input(&[("name", json!("manual")), ("vlan_id", json!(13))], &[]),
    )
    .await;
    let vlan = |name: &str| {
        let mut input = input(&[("name", json!(name))], &[]);
        input.attributes.insert(
            "vlan_id".into(),
            AttributeInput {
                from_pool: Some(Box::new(request(pool, None))),
                ..AttributeInput::default()
            },
        );
        input
    };
    let mut numbers = Vec::new();
    for index in 0..4 {
        let created = engine
            .create("main", "TestingVlan", vlan(&format!("v{index}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        numbers.push(created.node.value("vlan_id").clone());
        assert_eq!(
            created
                .node
                .attributes
                .get("vlan_id")
                .and_then(|a| a.source),
            Some(pool),
            "the pool is the value's source"
        );
    }
    // 12 and 20-29 are excluded by the attribute, 13 is taken.
    assert_eq!(numbers, [json!(11), json!(14), json!(15), json!(16)]);
    // Saving again with from_pool keeps the number (reserved under the node's id).
    let first = engine
        .query(
            &BranchView::now("main"),
            "TestingVlan",
            &{
                let mut args = QueryArgs::default();
                args.filters.insert("name__value".into(), json!("v0"));
                args
            },
            &Fields::minimal(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .0[0]
        .id;
    let mut again = vlan("v0");
    again.id = Some(first.to_string());
    let updated = engine
        .update("main", "TestingVlan", again)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.node.value("vlan_id"), &json!(11));
    for index in 4..8 {
        engine
            .create("main", "TestingVlan", vlan(&format!("v{index}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // 17, 18, 19, 30; then 31; then nothing.
    engine
        .create("main", "TestingVlan", vlan("v8"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let exhausted = engine
        .create("main", "TestingVlan", vlan("v9"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        exhausted.contains("vlan_id.from_pool") && exhausted.contains("exhausted"),
        "{exhausted}"
    );
    // A pool serving another attribute is refused, naming the attribute.
    let mut wrong = input(&[("name", json!("wrong"))], &[]);
    wrong.attributes.insert(
        "name".into(),
        AttributeInput {
            from_pool: Some(Box::new(request(pool, None))),
            ..AttributeInput::default()
        },
    );
    let refused = engine
        .create("main", "TestingVlan", wrong)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("can't be used for 'name'"), "{refused}");
}

#[tokio::test]
async fn number_pools_are_checked_as_upstream_checks_them() {
    let engine = engine().await;
    let pool = |node: &str, attribute: &str, start: i64, end: i64| {
        input(
            &[
                ("name", json!(format!("{node}-{attribute}-{start}-{end}"))),
                ("node", json!(node)),
                ("node_attribute", json!(attribute)),
                ("start_range", json!(start)),
                ("end_range", json!(end)),
            ],
            &[],
        )
    };
    for (input, message) in [
        (
            pool("TestingNothing", "vlan_id", 1, 2),
            "The selected model is not a Node or a Generic",
        ),
        (
            pool("TestingVlan", "nothing", 1, 2),
            "The selected attribute doesn't exist in the selected model",
        ),
        (
            pool("TestingVlan", "name", 1, 2),
            "The selected attribute is not of the kind Number",
        ),
        (
            pool("TestingVlan", "vlan_id", 9, 2),
            "start_range can't be larger than end_range",
        ),
        (
            pool("TestingVlan", "vlan_id", 0, 2),
            "start_range can't be less than min_value",
        ),
        (
            pool("TestingVlan", "vlan_id", 1, 5000),
            "end_range can't be larger than max_value",
        ),
    ] {
        let refused = engine
            .create("main", "CoreNumberPool", input)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains(message), "{message}: {refused}");
    }
    let id = create(
        &engine,
        "CoreNumberPool",
        pool("TestingVlan", "vlan_id", 1, 10),
    )
    .await;
    let mut change = input(&[("node_attribute", json!("name"))], &[]);
    change.id = Some(id.to_string());
    let refused = engine
        .update("main", "CoreNumberPool", change)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("can't be changed"), "{refused}");
    let mut change = input(&[("end_range", json!(20))], &[]);
    change.id = Some(id.to_string());
    engine
        .update("main", "CoreNumberPool", change)
        .await
        .unwrap_or_else(|e| panic!("a range may grow: {e}"));
}

#[tokio::test]
async fn space_freed_below_is_handed_out_again() {
    let engine = engine().await;
    let pool = prefix_pool(&engine, "reuse", &["10.0.0.0/28"], 31).await;
    let allow = |_: &str| Ok(());
    let mut handed = Vec::new();
    for _ in 0..4 {
        handed.push(
            engine
                .allocate_node("main", &request(pool, None), &allow)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let Allocated::Node { id, .. } = &handed[1] else {
        panic!("not a node");
    };
    engine
        .delete(
            "main",
            "IpamIPPrefix",
            &infrahub_core::engine::NodeRef {
                id: Some(id.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The lowest free block first, though the pool has space above.
    let again = engine
        .allocate_node("main", &request(pool, None), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "main", &again, "prefix").await,
        "10.0.0.2/31"
    );
    let next = engine
        .allocate_node("main", &request(pool, None), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        value_of(&engine, "main", &next, "prefix").await,
        "10.0.0.8/31"
    );
}

#[tokio::test]
async fn a_number_pool_attribute_takes_numbers_from_its_schema_pool() {
    let engine = engine().await;
    let mut numbers = Vec::new();
    for index in 0..3 {
        let created = engine
            .create(
                "main",
                "TestingCircuit",
                input(&[("name", json!(format!("c{index}")))], &[]),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        numbers.push(created.node.value("number").clone());
    }
    assert_eq!(numbers, [json!(5), json!(6), json!(7)]);
    // One pool, created on first use, of pool_type Schema.
    let mut args = QueryArgs::default();
    args.filters
        .insert("node__value".into(), json!("TestingCircuit"));
    let (pools, _) = engine
        .query(
            &BranchView::now("main"),
            "CoreNumberPool",
            &args,
            &Fields::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].value("pool_type"), &json!("Schema"));
    // The attribute is read-only: a value given is refused.
    let refused = engine
        .create(
            "main",
            "TestingCircuit",
            input(&[("name", json!("manual")), ("number", json!(100))], &[]),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("read-only"), "{refused}");
    let exhausted = engine
        .create(
            "main",
            "TestingCircuit",
            input(&[("name", json!("c3"))], &[]),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(exhausted.contains("exhausted"), "{exhausted}");
    // The range of a schema pool cannot be edited.
    let mut change = input(&[("end_range", json!(9))], &[]);
    change.id = Some(pools[0].id.to_string());
    let refused = engine
        .update("main", "CoreNumberPool", change)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("schema defined pools"), "{refused}");
}

#[tokio::test]
async fn an_identifier_reserved_on_a_branch_is_reserved_again_where_its_node_is_not_seen() {
    let engine = engine().await;
    let pool = prefix_pool(&engine, "branches", &["10.0.0.0/16"], 24).await;
    engine
        .create_branch(BranchCreate {
            name: "side".into(),
            description: None,
            sync_with_git: Some(false),
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let allow = |_: &str| Ok(());
    let on_side = engine
        .allocate_node("side", &request(pool, Some("x")), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Main does not see the branch's prefix: it gets its own, once.
    let on_main = engine
        .allocate_node("main", &request(pool, Some("x")), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(on_side, on_main);
    let again = engine
        .allocate_node("main", &request(pool, Some("x")), &allow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(on_main, again);
    assert_ne!(
        value_of(&engine, "side", &on_side, "prefix").await,
        value_of(&engine, "main", &on_main, "prefix").await,
        "every branch's space is seen"
    );
}

/// Creates a `TestingVlan` named `name` whose `vlan_id` comes from `pool`.
async fn pooled_vlan(engine: &Engine, pool: NodeId, name: &str) -> (NodeId, Value) {
    let mut input = input(&[("name", json!(name))], &[]);
    input.attributes.insert(
        "vlan_id".into(),
        AttributeInput {
            from_pool: Some(Box::new(request(pool, None))),
            ..AttributeInput::default()
        },
    );
    let created = engine
        .create("main", "TestingVlan", input)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (created.node.id, created.node.value("vlan_id").clone())
}

async fn delete_vlan(engine: &Engine, id: NodeId) {
    engine
        .delete(
            "main",
            "TestingVlan",
            &infrahub_core::engine::NodeRef {
                id: Some(id.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A number of `pool` reserved under an identifier that is no node's id.
async fn promise(engine: &Engine, pool: NodeId) -> i64 {
    let schema = engine.schema("main").unwrap_or_else(|e| panic!("{e}"));
    let model = schema
        .get("TestingVlan")
        .unwrap_or_else(|| panic!("no TestingVlan"));
    engine
        .allocate_number(
            "main",
            &request(pool, Some("reserved-for-later")),
            model,
            "vlan_id",
            NodeId::now_v7(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_deleted_nodes_number_is_handed_out_again_and_a_promise_is_kept() {
    let (engine, store) = support_engine::engine_with(SCHEMA, "pools.yml").await;
    let pool = create(
        &engine,
        "CoreNumberPool",
        input(
            &[
                ("name", json!("vlans")),
                ("node", json!("TestingVlan")),
                ("node_attribute", json!("vlan_id")),
                ("start_range", json!(1)),
                ("end_range", json!(10)),
            ],
            &[],
        ),
    )
    .await;
    let (a, one) = pooled_vlan(&engine, pool, "a").await;
    let (b, two) = pooled_vlan(&engine, pool, "b").await;
    let (_, three) = pooled_vlan(&engine, pool, "c").await;
    assert_eq!([one, two, three], [json!(1), json!(2), json!(3)]);
    // A number promised to an identifier that is no node's stays promised.
    assert_eq!(promise(&engine, pool).await, 4);
    // The number of a deleted node comes back first, as upstream hands it out again.
    delete_vlan(&engine, a).await;
    let (_, reused) = pooled_vlan(&engine, pool, "d").await;
    assert_eq!(reused, json!(1));
    let (_, next) = pooled_vlan(&engine, pool, "e").await;
    assert_eq!(next, json!(5), "4 is promised");
    // After a restart too (the search starts over).
    delete_vlan(&engine, b).await;
    drop(engine);
    let engine = support_engine::open(&store).await;
    let (_, reused) = pooled_vlan(&engine, pool, "f").await;
    assert_eq!(reused, json!(2));
    let (_, next) = pooled_vlan(&engine, pool, "g").await;
    assert_eq!(next, json!(6));
    assert_eq!(
        promise(&engine, pool).await,
        4,
        "the same identifier, the same number"
    );
}
