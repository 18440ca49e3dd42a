//! The node engine inside a program of your own, on the embedded store, with no HTTP: load a
//! schema, create and query nodes, open a branch, change it, read its diff and merge it.
//!
//! ```text
//! cargo run -p example-embedded-engine              # in a temporary directory, removed after
//! cargo run -p example-embedded-engine -- ./data    # in ./data, kept (run it twice: it reopens)
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use infrahub_core::engine::{
    AttributeInput, BranchCreate, Engine, EngineOptions, Fields, NodeInput, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{BranchView, EmbeddedGraph, EmbeddedGraphOptions, GraphStore};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Demo
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: city, kind: Text, optional: true}
  - name: Device
    namespace: Demo
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: role, kind: Dropdown, choices: [{name: spine}, {name: leaf}], optional: true}
    relationships:
      - {name: site, peer: DemoSite, cardinality: one, optional: false}
"#;

fn text(value: &str) -> AttributeInput {
    AttributeInput::value(Value::String(value.to_string()))
}

async fn create_device(
    engine: &Engine,
    branch: &str,
    name: &str,
    site: &str,
) -> anyhow::Result<()> {
    let mut device = NodeInput::default();
    device.attributes.insert("name".into(), text(name));
    device.attributes.insert("role".into(), text("leaf"));
    device.relationships.insert(
        "site".into(),
        RelationshipInput::One(Some(PeerInput::id(site))),
    );
    engine.create(branch, "DemoDevice", device).await?;
    Ok(())
}

async fn device_names(engine: &Engine, branch: &str) -> anyhow::Result<Vec<String>> {
    let (devices, _) = engine
        .query(
            &BranchView::now(branch),
            "DemoDevice",
            &QueryArgs::default(),
            &Fields::minimal(),
        )
        .await?;
    Ok(devices
        .iter()
        .map(|device| device.display_label.clone())
        .collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (directory, temporary) = match std::env::args().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => (
            std::env::temp_dir().join(format!("infrahub-example-{}", uuid::Uuid::new_v4())),
            true,
        ),
    };
    let store: Arc<dyn GraphStore> = Arc::new(
        EmbeddedGraph::open(&directory, EmbeddedGraphOptions::default())
            .with_context(|| format!("opening the store in {}", directory.display()))?,
    );
    // A new store gets the default branch `main`, the built-in schema and the admin account.
    let engine = Engine::open(store, EngineOptions::default()).await?;

    let file = SchemaFile::from_yaml(SCHEMA, Some("demo.yml"))
        .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
    let load = engine.load_schema("main", vec![file], false).await?;
    println!(
        "schema loaded on main: {} -> {}",
        load.previous_hash, load.hash
    );

    // Data on the default branch (an upsert: running the example twice on one directory
    // finds the site instead of failing on its unique name).
    let mut site = NodeInput::default();
    site.attributes.insert("name".into(), text("paris"));
    site.attributes.insert("city".into(), text("Paris"));
    let site = engine
        .upsert("main", "DemoSite", site)
        .await?
        .node
        .id
        .to_string();
    let branch = format!(
        "add-leaf-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    create_device(&engine, "main", &format!("spine-{}", &branch[9..]), &site).await?;
    println!(
        "devices on main: {:?}",
        device_names(&engine, "main").await?
    );

    // A branch: created at once, whatever the size of the data.
    engine
        .create_branch(BranchCreate {
            name: branch.clone(),
            description: Some("a new leaf".into()),
            ..BranchCreate::default()
        })
        .await?;
    create_device(&engine, &branch, &format!("leaf-{}", &branch[9..]), &site).await?;
    println!(
        "devices on {branch}: {:?}",
        device_names(&engine, &branch).await?
    );
    println!(
        "devices on main meanwhile: {:?}",
        device_names(&engine, "main").await?
    );

    // Its diff against the default branch.
    let diff = engine
        .diff_tree(&branch, None, None, None)
        .await?
        .context("a branch has a diff")?;
    println!(
        "diff of {branch}: {} added, {} updated, {} removed, {} conflicts",
        diff.num_added, diff.num_updated, diff.num_removed, diff.num_conflicts
    );
    for node in &diff.nodes {
        println!("  {:?} {} {}", node.status, node.kind, node.label);
    }

    // Merged into the default branch.
    engine.merge_branch(&branch).await?;
    let after = device_names(&engine, "main").await?;
    println!("devices on main after the merge: {after:?}");
    anyhow::ensure!(
        after.iter().any(|name| name.starts_with("leaf-")),
        "the merged device is missing: {}",
        json!(after)
    );

    drop(engine);
    if temporary {
        let _ = std::fs::remove_dir_all(&directory);
    }
    Ok(())
}
