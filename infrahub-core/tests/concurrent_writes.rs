//! Two engines writing one store (two API servers on one database): the checks a write makes
//! are conditions of its changeset, so of racing writes where only one may succeed, exactly
//! one does.

use std::sync::Arc;

use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, PeerInput, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{
    BranchView, EmbeddedGraph, GraphStore, LinkSelection, NodeId, Selection, Side,
};
use serde_json::json;

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Tag
    namespace: Race
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Port
    namespace: Race
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: device, peer: RaceDevice, cardinality: one, optional: true, identifier: device__port}
  - name: Device
    namespace: Race
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: ports, peer: RacePort, cardinality: many, identifier: device__port}
      - {name: uplink, peer: RaceTag, cardinality: one, optional: true, identifier: device__uplink}
"#;

const TASKS: usize = 16;

/// Two engines over one in-memory store holding the test schema.
async fn engines() -> [Arc<Engine>; 2] {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let first = Engine::open(Arc::clone(&store), options.clone())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("race")).unwrap_or_else(|e| panic!("{e:?}"));
    first
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    let second = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("open the second engine: {e}"));
    [Arc::new(first), Arc::new(second)]
}

fn named(name: &str) -> NodeInput {
    let mut input = NodeInput::default();
    input
        .attributes
        .insert("name".into(), AttributeInput::value(json!(name)));
    input
}

/// The number of links of `node` through `identifier` in the store (engine reads show one
/// peer of a cardinality-one relationship whatever the store holds).
async fn links(engine: &Engine, node: NodeId, identifier: &str) -> usize {
    let selection = Selection {
        attributes: Some(Vec::new()),
        links: vec![LinkSelection {
            identifier: identifier.into(),
            side: Side::Either,
        }],
    };
    engine
        .store()
        .get_nodes(&BranchView::now("main"), &[node], &selection)
        .await
        .unwrap_or_else(|e| panic!("read: {e}"))
        .iter()
        .map(|n| n.links.len())
        .sum()
}

/// Runs `TASKS` writes at once, alternating engines; returns how many succeeded and the
/// error kinds of the others.
async fn race<F, Fut>(engines: &[Arc<Engine>; 2], write: F) -> (usize, Vec<ErrorKind>)
where
    F: Fn(Arc<Engine>, usize) -> Fut,
    Fut: std::future::Future<Output = infrahub_core::Result<()>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for index in 0..TASKS {
        let engine = Arc::clone(&engines[index % 2]);
        let barrier = Arc::clone(&barrier);
        let future = write(engine, index);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            future.await
        }));
    }
    let mut won = 0;
    let mut lost = Vec::new();
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(()) => won += 1,
            Err(error) => lost.push(error.kind()),
        }
    }
    (won, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_of_one_unique_name_leave_one_node() {
    let engines = engines().await;
    let (won, lost) = race(&engines, |engine, _| async move {
        engine.create("main", "RaceTag", named("same")).await?;
        Ok(())
    })
    .await;
    assert_eq!(won, 1, "exactly one create wins; the others: {lost:?}");
    assert!(
        lost.iter().all(|kind| *kind == ErrorKind::Uniqueness),
        "the others fail on uniqueness: {lost:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_linking_one_cardinality_one_peer_leave_it_one_device() {
    let engines = engines().await;
    let port = engines[0]
        .create("main", "RacePort", named("port"))
        .await
        .unwrap_or_else(|e| panic!("port: {e}"))
        .node
        .id;
    let (won, lost) = race(&engines, move |engine, index| async move {
        let mut device = named(&format!("device-{index}"));
        device.relationships.insert(
            "ports".into(),
            RelationshipInput::Many(vec![PeerInput::id(port.to_string())]),
        );
        engine.create("main", "RaceDevice", device).await?;
        Ok(())
    })
    .await;
    // A create that read the port free and commits after another linked it fails (its
    // changeset's condition); one that read the port's device and commits after it moved
    // fails too (the link it removes is gone); one that read the port taken and commits
    // first moves the port, as a lone write would. Whatever the interleaving, the port ends
    // with one device.
    assert!(won >= 1, "at least one create wins: {lost:?}");
    assert!(
        lost.iter()
            .all(|kind| matches!(kind, ErrorKind::Conflict | ErrorKind::NotFound)),
        "the others fail with a conflict: {lost:?}"
    );
    assert_eq!(
        links(&engines[1], port, "device__port").await,
        1,
        "the port has one device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_of_a_free_cardinality_one_relationship_leave_one_peer() {
    let engines = engines().await;
    let device = engines[0]
        .create("main", "RaceDevice", named("device"))
        .await
        .unwrap_or_else(|e| panic!("device: {e}"))
        .node
        .id;
    let mut tags: Vec<NodeId> = Vec::new();
    for index in 0..TASKS {
        let tag = engines[0]
            .create("main", "RaceTag", named(&format!("tag-{index}")))
            .await
            .unwrap_or_else(|e| panic!("tag: {e}"));
        tags.push(tag.node.id);
    }
    let tags = Arc::new(tags);
    let (won, lost) = race(&engines, move |engine, index| {
        let tags = Arc::clone(&tags);
        async move {
            let mut input = NodeInput {
                id: Some(device.to_string()),
                ..NodeInput::default()
            };
            input.relationships.insert(
                "uplink".into(),
                RelationshipInput::One(Some(PeerInput::id(tags[index].to_string()))),
            );
            engine.update("main", "RaceDevice", input).await?;
            Ok(())
        }
    })
    .await;
    // As for the port above: updates that read the uplink free and commit after another set
    // it fail on the changeset's condition, those whose read went stale fail on the link they
    // remove; the device ends with one uplink.
    assert!(won >= 1, "at least one update wins: {lost:?}");
    assert!(
        lost.iter()
            .all(|kind| matches!(kind, ErrorKind::Conflict | ErrorKind::NotFound)),
        "the others fail with a conflict: {lost:?}"
    );
    assert_eq!(
        links(&engines[1], device, "device__uplink").await,
        1,
        "the device has one uplink"
    );
}
