//! Benchmarks Git repository content on the embedded store, through the HTTP router as
//! clients reach it: the time from a pushed commit to its import (the periodic
//! synchronisation, `git.sync_interval` = 1 s), Jinja2 transforms rendered over REST
//! (`GET /api/transform/jinja2/...`, sequential calls), and artifact generation for a group of
//! devices from one template: first generation, a generation that changes nothing, and the
//! generation a template change causes.
//!
//! ```text
//! cargo run --release -p example-bench-git -- [--devices N] [--renders N] [--python PATH]
//! ```
//!
//! Defaults: 1,000 devices, 2,000 renders. With `--python` (a Python with `infrahub-sdk`), a
//! Python transform is measured too: sequential and 8-way concurrent calls over REST through
//! the server's pool of 2 Python processes. The store, the object store and the repository
//! live in a fresh directory under the system's temporary directory, removed at the end.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use git2::{Repository, Signature};
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, PeerInput, RelationshipInput,
};
use infrahub_graph::{EmbeddedGraph, EmbeddedGraphOptions, GraphStore};
use serde_json::{Value, json};
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const MANIFEST: &str = "\
schemas: [schemas]
queries:
  - name: device_config
    file_path: queries/device_config.gql
python_transforms:
  - name: device_json
    file_path: transforms/device_json.py
    class_name: DeviceJson
jinja2_transforms:
  - name: device_config
    query: device_config
    template_path: templates/config.j2
artifact_definitions:
  - name: device-config
    artifact_name: startup-config
    parameters: {name: name__value}
    content_type: text/plain
    targets: all-devices
    transformation: device_config
";

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Bench
    inherit_from: [CoreArtifactTarget]
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: role, kind: Text, optional: true}
      - {name: asn, kind: Number, optional: true}
"#;

const PYTHON: &str = r#"
from infrahub_sdk.transforms import InfrahubTransform


class DeviceJson(InfrahubTransform):
    query = "device_config"

    def transform(self, data):
        device = data["BenchDevice"]["edges"][0]["node"]
        return {
            "hostname": device["name"]["value"],
            "interfaces": [{"name": f"Ethernet{i}", "trunk": i % 2 == 0} for i in range(1, 25)],
            "asn": device["asn"]["value"],
        }
"#;

const QUERY: &str = "query ($name: String!) { BenchDevice(name__value: $name) { edges { node { \
    name { value } role { value } asn { value } } } } }";

/// A startup configuration of a few dozen lines, with loops, filters and conditions.
const TEMPLATE: &str = r#"{% set d = data.BenchDevice.edges[0].node %}
hostname {{ d.name.value }}
!
{% for i in range(1, 25) %}
interface Ethernet{{ i }}
  description {{ d.role.value | default("leaf") | upper }} port {{ i }}
  {% if i is even %}
  switchport mode trunk
  {% else %}
  switchport access vlan {{ 100 + i }}
  {% endif %}
!
{% endfor %}
router bgp {{ d.asn.value }}
  router-id {{ "10.0.0.1/24" | ipaddress_interface("ip") }}
"#;

fn commit(repo: &Repository, files: &[(&str, &str)], message: &str) -> anyhow::Result<String> {
    let workdir = repo.workdir().context("a work tree")?.to_path_buf();
    let mut index = repo.index()?;
    for (path, content) in files {
        let full = workdir.join(path);
        std::fs::create_dir_all(full.parent().context("a parent")?)?;
        std::fs::write(&full, content)?;
        index.add_path(Path::new(path))?;
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let signature = Signature::now("bench", "bench@example.com")?;
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.target())
        .map(|oid| repo.find_commit(oid))
        .transpose()?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(
        Some("refs/heads/main"),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )?;
    Ok(oid.to_string())
}

struct Client {
    app: axum::Router,
}

impl Client {
    async fn call(&self, request: Request<Body>) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let response = self.app.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        Ok((status, bytes.to_vec()))
    }

    async fn gql(&self, query: &str) -> anyhow::Result<Value> {
        let request = Request::post("/graphql/main")
            .header("content-type", "application/json")
            .header("x-infrahub-key", TOKEN)
            .body(Body::from(json!({ "query": query }).to_string()))?;
        let (_, bytes) = self.call(request).await?;
        let body: Value = serde_json::from_slice(&bytes)?;
        if body.get("errors").is_some() {
            bail!("{body}");
        }
        Ok(body["data"].clone())
    }

    async fn get(&self, uri: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let request = Request::get(uri)
            .header("x-infrahub-key", TOKEN)
            .body(Body::empty())?;
        self.call(request).await
    }

    /// The repository's imported commit.
    async fn commit_of(&self, name: &str) -> anyhow::Result<Option<String>> {
        let data = self
            .gql(&format!(
                r#"{{ CoreRepository(name__value: "{name}") {{ edges {{ node {{ commit {{ value }} sync_status {{ value }} }} }} }} }}"#
            ))
            .await?;
        let node = &data["CoreRepository"]["edges"][0]["node"];
        if node["sync_status"]["value"] == "error-import" {
            bail!("the import failed");
        }
        Ok(node["commit"]["value"].as_str().map(str::to_owned))
    }

    /// Waits for the `count`-th finished generation task of `definition`; its log.
    async fn generation(&self, definition: &str, count: usize) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let data = self
                .gql(&format!(
                    r#"{{ InfrahubTask(related_node__ids: ["{definition}"], limit: 50) {{ edges {{ node {{
                        state logs {{ edges {{ node {{ message }} }} }} }} }} }} }}"#
                ))
                .await?;
            let tasks = data["InfrahubTask"]["edges"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let finished: Vec<&Value> = tasks
                .iter()
                .filter(|t| {
                    ["COMPLETED", "FAILED"].contains(&t["node"]["state"].as_str().unwrap_or(""))
                })
                .collect();
            if finished.len() >= count {
                let task = &finished[0]["node"];
                let log: Vec<String> = task["logs"]["edges"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|l| l["node"]["message"].as_str().unwrap_or("").to_owned())
                    .collect();
                if task["state"] != "COMPLETED" {
                    bail!("generation failed: {}", log.join("\n"));
                }
                return Ok(log.last().cloned().unwrap_or_default());
            }
            if Instant::now() > deadline {
                bail!("the generation did not finish");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut devices, mut renders) = (1_000usize, 2_000usize);
    let mut python: Option<std::path::PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--devices" => devices = args.next().context("--devices N")?.parse()?,
            "--renders" => renders = args.next().context("--renders N")?.parse()?,
            "--python" => python = Some(args.next().context("--python PATH")?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    let dir = std::env::temp_dir().join(format!("infrahub-bench-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, devices, renders, python).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    dir: &Path,
    devices: usize,
    renders: usize,
    python: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::open(
        &dir.join("store"),
        EmbeddedGraphOptions::default(),
    )?);
    let engine = Arc::new(
        Engine::open(
            store,
            EngineOptions {
                bcrypt_cost: 4,
                admin_token: Some(TOKEN.into()),
                ..EngineOptions::default()
            },
        )
        .await?,
    );
    let mut settings = infrahub_server::config::Settings::default();
    settings.main.data_dir = dir.join("data");
    settings.git.sync_interval = 1;
    if let Some(python) = &python {
        settings.git.python_executable = python.clone();
    }
    std::fs::create_dir_all(dir.join("objects"))?;
    let objects = object_store::local::LocalFileSystem::new_with_prefix(dir.join("objects"))?;
    let state = infrahub_server::AppState::new(
        settings,
        "bench".into(),
        Arc::clone(&engine),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        Arc::new(objects),
    );
    state.mark_ready();
    let client = Client {
        app: infrahub_server::app::router(state),
    };

    // The repository.
    let source = dir.join("source");
    let repo = Repository::init(&source)?;
    commit(
        &repo,
        &[
            (".infrahub.yml", MANIFEST),
            ("schemas/bench.yml", SCHEMA),
            ("queries/device_config.gql", QUERY),
            ("templates/config.j2", TEMPLATE),
            ("transforms/__init__.py", ""),
            ("transforms/device_json.py", PYTHON),
        ],
        "first",
    )?;
    client
        .gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { ok } }"#)
        .await?;
    let started = Instant::now();
    client
        .gql(&format!(
            r#"mutation {{ CoreRepositoryCreate(data: {{ name: {{value: "configs"}},
                location: {{value: "file://{}"}} }}) {{ ok }} }}"#,
            source.display()
        ))
        .await?;
    while client.commit_of("configs").await?.is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "repository added and imported (clone, schema, query, transform, definition): {:.0} ms",
        ms(started.elapsed())
    );

    // The devices, members of the target group.
    let started = Instant::now();
    let mut peers = Vec::with_capacity(devices);
    for i in 0..devices {
        let mut input = NodeInput::default();
        for (name, value) in [
            ("name", json!(format!("dev-{i:05}"))),
            ("role", json!(if i % 2 == 0 { "leaf" } else { "spine" })),
            ("asn", json!(65_000 + i)),
        ] {
            input
                .attributes
                .insert(name.into(), AttributeInput::value(value));
        }
        let node = engine.create("main", "BenchDevice", input).await?.node;
        peers.push(PeerInput::id(node.id.to_string()));
    }
    let group = client
        .gql(r#"{ CoreStandardGroup(name__value: "all-devices") { edges { node { id } } } }"#)
        .await?["CoreStandardGroup"]["edges"][0]["node"]["id"]
        .as_str()
        .context("the group")?
        .to_owned();
    let mut input = NodeInput {
        id: Some(group),
        ..NodeInput::default()
    };
    input
        .relationships
        .insert("members".into(), RelationshipInput::Many(peers));
    engine.update("main", "CoreStandardGroup", input).await?;
    println!(
        "{devices} devices created and grouped: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let definition = client
        .gql("{ CoreArtifactDefinition { edges { node { id } } } }")
        .await?["CoreArtifactDefinition"]["edges"][0]["node"]["id"]
        .as_str()
        .context("the definition")?
        .to_owned();
    // The import submitted a generation before the devices existed: wait for it.
    client.generation(&definition, 1).await?;

    // Jinja2 transform over REST, sequential.
    let mut samples = Vec::with_capacity(renders);
    for i in 0..renders {
        let uri = format!(
            "/api/transform/jinja2/device_config?name=dev-{:05}",
            i % devices
        );
        let started = Instant::now();
        let (status, body) = client.get(&uri).await?;
        samples.push(started.elapsed());
        if status != StatusCode::OK {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
    }
    let total: Duration = samples.iter().sum();
    samples.sort();
    println!(
        "Jinja2 transform over REST ({renders} sequential calls): {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
        renders as f64 / total.as_secs_f64(),
        ms(samples[renders / 2]),
        ms(samples[renders * 99 / 100])
    );

    // Python transform over REST: sequential, then 8 callers.
    if python.is_some() {
        let calls = renders.min(1_000);
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls {
            let uri = format!(
                "/api/transform/python/device_json?name=dev-{:05}",
                i % devices
            );
            let started = Instant::now();
            let (status, body) = client.get(&uri).await?;
            samples.push(started.elapsed());
            if status != StatusCode::OK {
                bail!("{status}: {}", String::from_utf8_lossy(&body));
            }
        }
        let total: Duration = samples.iter().sum();
        samples.sort();
        println!(
            "Python transform over REST ({calls} sequential calls, 2 Python processes): {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
            calls as f64 / total.as_secs_f64(),
            ms(samples[calls / 2]),
            ms(samples[calls * 99 / 100])
        );
        let started = Instant::now();
        let mut callers = Vec::new();
        for caller in 0..8 {
            let app = client.app.clone();
            callers.push(tokio::spawn(async move {
                let client = Client { app };
                for i in 0..calls / 8 {
                    let uri = format!(
                        "/api/transform/python/device_json?name=dev-{:05}",
                        (caller * 131 + i) % devices
                    );
                    let (status, body) = client.get(&uri).await?;
                    if status != StatusCode::OK {
                        bail!("{status}: {}", String::from_utf8_lossy(&body));
                    }
                }
                anyhow::Ok(())
            }));
        }
        for caller in callers {
            caller.await??;
        }
        println!(
            "Python transform over REST ({} calls from 8 callers): {:.0} calls/s",
            calls / 8 * 8,
            (calls / 8 * 8) as f64 / started.elapsed().as_secs_f64()
        );
    } else {
        println!("Python transform: skipped (no --python)");
    }

    // Artifact generation.
    let generate = || async {
        let request = Request::post(format!("/api/artifact/generate/{definition}"))
            .header("content-type", "application/json")
            .header("x-infrahub-key", TOKEN)
            .body(Body::from("{}"))?;
        let (status, body) = client.call(request).await?;
        if status != StatusCode::OK {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        anyhow::Ok(())
    };
    let started = Instant::now();
    generate().await?;
    let summary = client.generation(&definition, 2).await?;
    println!(
        "artifacts for {devices} devices, first generation: {:.2} s ({summary})",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    generate().await?;
    let summary = client.generation(&definition, 3).await?;
    println!(
        "artifacts for {devices} devices, nothing changed: {:.2} s ({summary})",
        started.elapsed().as_secs_f64()
    );

    // A pushed template change: imported by the synchronisation, then every artifact follows.
    let pushed = Instant::now();
    let head = commit(
        &repo,
        &[(
            "templates/config.j2",
            &TEMPLATE.replace("hostname", "host-name"),
        )],
        "template change",
    )?;
    while client.commit_of("configs").await?.as_deref() != Some(head.as_str()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let imported = pushed.elapsed();
    let summary = client.generation(&definition, 4).await?;
    println!(
        "pushed commit to imported: {:.0} ms (sync interval 1 s); to {devices} artifacts regenerated: {:.2} s ({summary})",
        ms(imported),
        pushed.elapsed().as_secs_f64()
    );
    Ok(())
}
