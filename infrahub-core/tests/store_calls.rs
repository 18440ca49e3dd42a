//! The engine on a remote store: every store call is a round trip, so the number of calls a
//! write makes must not grow with the number of peers or cascaded nodes it touches. A store
//! wrapper counts the calls of each method.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, NodeRef, PeerInput, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{
    BranchOperation, BranchRecord, BranchView, Change, Changeset, Commit, CreateBranchOptions,
    EmbeddedGraph, GraphStore, MergeOptions, NodeData, NodeId, NodeQuery, QueryResult,
    RebaseOptions, Result, Selection, Slot, Timestamp, Version,
};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Tag
    namespace: Test
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Label
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Port
    namespace: Test
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: device, peer: TestDevice, cardinality: one, optional: true, identifier: device__port}
  - name: Device
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: tags, peer: TestTag, cardinality: many}
      - {name: labels, peer: TestLabel, cardinality: many}
      - {name: ports, peer: TestPort, cardinality: many, identifier: device__port}
      - {name: slots, peer: TestSlot, cardinality: many, identifier: device__slot}
  - name: Rack
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: slots, peer: TestSlot, kind: Component, cardinality: many}
  - name: Slot
    namespace: Test
    human_friendly_id: [rack__name__value, name__value]
    display_label: "{{ rack__name__value }} {{ name__value }}"
    uniqueness_constraints:
      - [rack, name__value]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: rack, peer: TestRack, kind: Parent, cardinality: one, optional: false}
      - {name: cards, peer: TestCard, kind: Component, cardinality: many}
  - name: Card
    namespace: Test
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: slot, peer: TestSlot, kind: Parent, cardinality: one, optional: false}
"#;

/// A store that counts the calls of each method and delegates them.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn GraphStore>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
}

impl Counting {
    fn count(&self, method: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(method).or_default() += 1;
        }
    }

    /// The calls counted since the last `take`, by method.
    fn take(&self) -> BTreeMap<&'static str, usize> {
        self.calls
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }
}

#[async_trait]
impl GraphStore for Counting {
    async fn create_branch(
        &self,
        name: &str,
        options: CreateBranchOptions,
    ) -> Result<BranchRecord> {
        self.count("create_branch");
        self.inner.create_branch(name, options).await
    }

    async fn get_branch(&self, name: &str) -> Result<BranchRecord> {
        self.count("get_branch");
        self.inner.get_branch(name).await
    }

    async fn list_branches(&self) -> Result<Vec<BranchRecord>> {
        self.count("list_branches");
        self.inner.list_branches().await
    }

    async fn update_branch(
        &self,
        name: &str,
        properties: serde_json::Map<String, Value>,
    ) -> Result<BranchRecord> {
        self.count("update_branch");
        self.inner.update_branch(name, properties).await
    }

    async fn delete_branch(&self, name: &str) -> Result<()> {
        self.count("delete_branch");
        self.inner.delete_branch(name).await
    }

    async fn commit(&self, changeset: Changeset) -> Result<Commit> {
        self.count("commit");
        self.inner.commit(changeset).await
    }

    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>> {
        self.count("get_nodes");
        self.inner.get_nodes(view, ids, select).await
    }

    async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
        self.count("query");
        self.inner.query(view, query).await
    }

    async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
        Counting::count(self, "count");
        self.inner.count(view, query).await
    }

    async fn changes(&self, branch: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Change>> {
        self.count("changes");
        self.inner.changes(branch, from, to).await
    }

    async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>> {
        self.count("history");
        self.inner.history(id).await
    }

    async fn merge_branch(&self, branch: &str, options: MergeOptions) -> Result<BranchOperation> {
        self.count("merge_branch");
        self.inner.merge_branch(branch, options).await
    }

    async fn rebase_branch(&self, branch: &str, options: RebaseOptions) -> Result<BranchOperation> {
        self.count("rebase_branch");
        self.inner.rebase_branch(branch, options).await
    }

    async fn last_commit(&self) -> Result<Timestamp> {
        self.count("last_commit");
        self.inner.last_commit().await
    }
}

/// An engine with the test schema over a counting in-memory store.
async fn engine() -> (Engine, Arc<Counting>) {
    let inner: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let counting = Arc::new(Counting {
        inner,
        calls: Mutex::new(BTreeMap::new()),
    });
    let store: Arc<dyn GraphStore> = Arc::clone(&counting) as Arc<dyn GraphStore>;
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("store_calls")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    (engine, counting)
}

fn named(name: &str) -> NodeInput {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(json!(name)));
    input
}

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> NodeId {
    engine
        .create("main", kind, input)
        .await
        .unwrap_or_else(|e| panic!("create {kind}: {e}"))
        .node
        .id
}

/// The store calls of creating a device with `count` tags given by id, `count` labels given
/// by human-friendly id, `count` ports (whose cardinality-one side is detached) given by id
/// and `count` slots given by a human-friendly id going through their rack (each slot name is
/// in both racks: the right one must be found).
async fn create_calls(count: usize) -> BTreeMap<&'static str, usize> {
    let (engine, counting) = engine().await;
    let mut tags = Vec::new();
    let mut labels = Vec::new();
    let mut ports = Vec::new();
    let racks = [
        create(&engine, "TestRack", named("rack-a")).await,
        create(&engine, "TestRack", named("rack-b")).await,
    ];
    let mut slots = Vec::new();
    let mut slot_ids = Vec::new();
    for index in 0..count {
        for (at, rack) in racks.iter().enumerate() {
            let mut slot = named(&format!("slot-{index}"));
            slot.relationships.insert(
                "rack".into(),
                RelationshipInput::One(Some(PeerInput::id(rack.to_string()))),
            );
            let id = create(&engine, "TestSlot", slot).await;
            if at == index % 2 {
                let rack = if at == 0 { "rack-a" } else { "rack-b" };
                slots.push(vec![rack.to_string(), format!("slot-{index}")]);
                slot_ids.push(id);
            }
        }
        tags.push(create(&engine, "TestTag", named(&format!("tag-{index}"))).await);
        let label = format!("label-{index}");
        create(&engine, "TestLabel", named(&label)).await;
        labels.push(label);
        ports.push(create(&engine, "TestPort", named(&format!("port-{index}"))).await);
    }
    // The ports first belong to another device: the create moves them.
    let mut other = named("other");
    other.relationships.insert(
        "ports".into(),
        RelationshipInput::Many(ports.iter().map(|p| PeerInput::id(p.to_string())).collect()),
    );
    create(&engine, "TestDevice", other).await;
    let mut device = named("device");
    device.relationships.insert(
        "tags".into(),
        RelationshipInput::Many(tags.iter().map(|t| PeerInput::id(t.to_string())).collect()),
    );
    device.relationships.insert(
        "labels".into(),
        RelationshipInput::Many(
            labels
                .iter()
                .map(|l| PeerInput {
                    hfid: Some(vec![l.clone()]),
                    ..PeerInput::default()
                })
                .collect(),
        ),
    );
    device.relationships.insert(
        "ports".into(),
        RelationshipInput::Many(ports.iter().map(|p| PeerInput::id(p.to_string())).collect()),
    );
    device.relationships.insert(
        "slots".into(),
        RelationshipInput::Many(slots.into_iter().map(PeerInput::hfid).collect()),
    );
    counting.take();
    let created = engine
        .create("main", "TestDevice", device)
        .await
        .unwrap_or_else(|e| panic!("create device: {e}"));
    let calls = counting.take();
    assert_eq!(created.node.peers("tags").len(), count);
    assert_eq!(created.node.peers("labels").len(), count);
    assert_eq!(created.node.peers("ports").len(), count);
    let mut found: Vec<NodeId> = created.node.peers("slots").iter().map(|p| p.id).collect();
    found.sort();
    slot_ids.sort();
    assert_eq!(found, slot_ids, "the slots named by rack and name");
    calls
}

/// The store calls of deleting a rack whose `count` slots each hold one card (all cascaded).
async fn delete_calls(count: usize) -> BTreeMap<&'static str, usize> {
    let (engine, counting) = engine().await;
    let rack = create(&engine, "TestRack", named("rack")).await;
    for index in 0..count {
        let mut slot = named(&format!("slot-{index}"));
        slot.relationships.insert(
            "rack".into(),
            RelationshipInput::One(Some(PeerInput::id(rack.to_string()))),
        );
        let slot = create(&engine, "TestSlot", slot).await;
        let mut card = named(&format!("card-{index}"));
        card.relationships.insert(
            "slot".into(),
            RelationshipInput::One(Some(PeerInput::id(slot.to_string()))),
        );
        create(&engine, "TestCard", card).await;
    }
    counting.take();
    let events = engine
        .delete(
            "main",
            "TestRack",
            &NodeRef {
                id: Some(rack.to_string()),
                hfid: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    let calls = counting.take();
    assert_eq!(events.len(), 1 + 2 * count);
    calls
}

#[tokio::test]
async fn a_create_makes_as_many_store_calls_for_20_peers_as_for_2() {
    let few = create_calls(2).await;
    let many = create_calls(20).await;
    eprintln!("create with 2 peers per relationship: {few:?}");
    eprintln!("create with 20 peers per relationship: {many:?}");
    assert_eq!(few, many, "store calls grow with the number of peers");
}

#[tokio::test]
async fn a_cascade_delete_makes_as_many_store_calls_for_100_nodes_as_for_10() {
    let few = delete_calls(5).await;
    let many = delete_calls(50).await;
    eprintln!("cascade delete of 11 nodes: {few:?}");
    eprintln!("cascade delete of 101 nodes: {many:?}");
    assert_eq!(
        few, many,
        "store calls grow with the number of cascaded nodes"
    );
}

/// The store calls of the common writes on a branch: updating one attribute, pointing a
/// cardinality-one relationship at another peer, and a create, each after a warm-up write
/// (the first write of a branch reads its schema).
#[tokio::test]
async fn common_branch_writes_make_a_handful_of_store_calls() {
    let (engine, counting) = engine().await;
    let port = create(&engine, "TestPort", named("port-1")).await;
    let devices = [
        create(&engine, "TestDevice", named("dev-1")).await,
        create(&engine, "TestDevice", named("dev-2")).await,
    ];
    engine
        .create_branch(infrahub_core::engine::BranchCreate {
            name: "feature".into(),
            description: None,
            sync_with_git: None,
            created_by: None,
        })
        .await
        .unwrap_or_else(|e| panic!("branch: {e}"));
    let update = |id: NodeId, name: &str| {
        let mut input = named(name);
        input.id = Some(id.to_string());
        input
    };
    let engine = &engine;
    let write = |label: &'static str, input: NodeInput, kind: &'static str, create: bool| async move {
        let result = if create {
            engine.create("feature", kind, input).await
        } else {
            engine.update("feature", kind, input).await
        };
        result.unwrap_or_else(|e| panic!("{label}: {e}"));
    };
    write("warm-up", update(devices[0], "dev-1a"), "TestDevice", false).await;
    counting.take();
    write(
        "attribute",
        update(devices[1], "dev-2a"),
        "TestDevice",
        false,
    )
    .await;
    let attribute = counting.take();
    let mut input = NodeInput {
        id: Some(port.to_string()),
        ..NodeInput::default()
    };
    input.relationships.insert(
        "device".into(),
        RelationshipInput::One(Some(PeerInput::id(devices[1].to_string()))),
    );
    write("relationship", input, "TestPort", false).await;
    let relationship = counting.take();
    write("create", named("tag-x"), "TestTag", true).await;
    let created = counting.take();
    eprintln!("update of one attribute: {attribute:?}");
    eprintln!("update of a cardinality-one relationship: {relationship:?}");
    eprintln!("create with one attribute: {created:?}");
    for (what, calls) in [
        ("attribute update", &attribute),
        ("relationship update", &relationship),
        ("create", &created),
    ] {
        let total: usize = calls.values().sum();
        assert!(total <= 6, "{what}: {total} store calls ({calls:?})");
    }
}
