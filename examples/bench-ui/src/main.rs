//! Measures the web frontend: the server's time to render a list page of 50 from a kind with
//! 100,000 nodes and an object's detail page with 5 relationships (in process, through the
//! router, signed in by the session cookie), then, when Debian's `chromium` and `chromedriver`
//! are installed, the first load of the list page in headless Chromium with a cold cache:
//! bytes transferred (compressed, as the browser counts them) and time to first paint.
//!
//! ```text
//! cargo build --release -p example-bench-ui
//! target/release/example-bench-ui [nodes]
//! ```

#[path = "../../../infrahub-server/tests/support/webdriver.rs"]
#[allow(missing_docs)]
mod webdriver;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use infrahub_core::engine::{
    AttributeInput, Engine, EngineOptions, NodeInput, PeerInput, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::NodeId;
use infrahub_server::app::{AppState, router};
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Bench
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Platform
    namespace: Bench
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Bench
    label: Device
    human_friendly_id: [name__value]
    display_label: name__value
    order_by: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: serial, kind: Text, optional: true}
      - {name: role, kind: Dropdown, optional: true, choices: [{name: edge}, {name: core}]}
      - {name: rack_unit, kind: Number, optional: true}
    relationships:
      - {name: site, peer: BenchSite, cardinality: one, optional: true, kind: Attribute}
      - {name: platform, peer: BenchPlatform, cardinality: one, optional: true, kind: Attribute}
      - {name: interfaces, peer: BenchInterface, cardinality: many, optional: true, kind: Component}
      - {name: neighbours, peer: BenchDevice, cardinality: many, optional: true, identifier: bench_neighbours}
      - {name: tags, peer: BuiltinTag, cardinality: many, optional: true}
  - name: Interface
    namespace: Bench
    human_friendly_id: [device__name__value, name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: device, peer: BenchDevice, cardinality: one, optional: false, kind: Parent}
"#;

const PASSWORD: &str = "infrahub";

fn text(value: &str) -> AttributeInput {
    AttributeInput::value(Value::String(value.to_string()))
}

fn one(id: NodeId) -> RelationshipInput {
    RelationshipInput::One(Some(PeerInput::id(id.to_string())))
}

async fn create(engine: &Engine, kind: &str, input: NodeInput) -> anyhow::Result<NodeId> {
    Ok(engine.create("main", kind, input).await?.node.id)
}

fn named(name: &str) -> NodeInput {
    let mut input = NodeInput::default();
    input.attributes.insert("name".into(), text(name));
    input
}

/// Times `runs` requests of `path`; prints p50 and p99 and returns p50 in ms.
async fn time_page(app: &axum::Router, cookie: &str, label: &str, path: &str, runs: usize) -> f64 {
    let mut latencies = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs + 5 {
        let request = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request");
        let begin = Instant::now();
        let response = app.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let took = begin.elapsed();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        bytes = body.len();
        latencies.push(took);
    }
    // The first requests warm the caches (schema, compiled queries).
    latencies.drain(..5);
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms ({runs} runs, {bytes} bytes of HTML)",
        at(0.5),
        at(0.99)
    );
    at(0.5)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nodes: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("infrahub-bench-ui-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("storage"))?;
    let store = infrahub_graph::connect(&infrahub_graph::GraphConfig::Embedded {
        path: dir.join("graph"),
    })
    .await?;
    let options = EngineOptions {
        admin_password: Some(PASSWORD.to_string()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Arc::new(Engine::open(store, options).await?);
    let file =
        SchemaFile::from_yaml(SCHEMA, Some("bench.yml")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    engine.load_schema("main", vec![file], false).await?;

    let mut sites = Vec::new();
    for index in 0..100 {
        sites.push(create(&engine, "BenchSite", named(&format!("site-{index:03}"))).await?);
    }
    let platform = create(&engine, "BenchPlatform", named("eos")).await?;
    let sites = Arc::new(sites);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..8 {
        let engine = Arc::clone(&engine);
        let sites = Arc::clone(&sites);
        tasks.push(tokio::spawn(async move {
            let mut first = None;
            for index in 0..nodes / 8 {
                let mut input = named(&format!("dev-{task}-{index:06}"));
                input.attributes.insert("serial".into(), text("SN1"));
                input.attributes.insert(
                    "role".into(),
                    text(if index % 2 == 0 { "edge" } else { "core" }),
                );
                input
                    .attributes
                    .insert("rack_unit".into(), AttributeInput::value(json!(index % 42)));
                input
                    .relationships
                    .insert("site".into(), one(sites[index % sites.len()]));
                input.relationships.insert("platform".into(), one(platform));
                let id = create(&engine, "BenchDevice", input).await?;
                first.get_or_insert(id);
            }
            anyhow::Ok(first)
        }));
    }
    let mut firsts = Vec::new();
    for task in tasks {
        firsts.extend(task.await??);
    }
    println!(
        "loaded {} devices in {:.1} s",
        nodes / 8 * 8,
        started.elapsed().as_secs_f64()
    );
    // One device with all 5 relationships set: site, platform, 10 interfaces, 3 neighbours,
    // 3 tags.
    let device = firsts[0];
    for index in 0..10 {
        let mut input = named(&format!("eth{index}"));
        input.relationships.insert("device".into(), one(device));
        create(&engine, "BenchInterface", input).await?;
    }
    let mut tags = Vec::new();
    for name in ["red", "green", "blue"] {
        tags.push(PeerInput::id(
            create(&engine, "BuiltinTag", named(name))
                .await?
                .to_string(),
        ));
    }
    let mut update = NodeInput {
        id: Some(device.to_string()),
        ..NodeInput::default()
    };
    update
        .relationships
        .insert("tags".into(), RelationshipInput::Many(tags));
    update.relationships.insert(
        "neighbours".into(),
        RelationshipInput::Many(
            firsts[1..4]
                .iter()
                .map(|id| PeerInput::id(id.to_string()))
                .collect(),
        ),
    );
    engine.update("main", "BenchDevice", update).await?;

    let mut settings = Settings::default();
    settings.main.data_dir = dir.clone();
    let objects = object_store::local::LocalFileSystem::new_with_prefix(dir.join("storage"))?;
    let state = AppState::new(
        settings,
        "bench".to_string(),
        Arc::clone(&engine),
        b"bench-secret-key-of-at-least-32-bytes!".to_vec(),
        Arc::new(objects),
    );
    state.mark_ready();
    let app = router(Arc::clone(&state));

    // Sign in through the login form.
    let login = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username=admin&password={PASSWORD}&next=%2F"
        )))?;
    let response = app.clone().oneshot(login).await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "sign-in refused"
    );
    let cookie: Vec<String> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    let cookie = cookie.join("; ");

    time_page(
        &app,
        &cookie,
        "list page of 50 (first page)",
        "/objects/BenchDevice",
        200,
    )
    .await;
    time_page(
        &app,
        &cookie,
        "list page of 50 (offset 50,000)",
        "/objects/BenchDevice?offset=50000",
        100,
    )
    .await;
    time_page(
        &app,
        &cookie,
        "list page, filtered by a name",
        "/objects/BenchDevice?q=dev-3-0100",
        100,
    )
    .await;
    time_page(
        &app,
        &cookie,
        "detail page, 5 relationships",
        &format!("/objects/BenchDevice/{device}"),
        200,
    )
    .await;
    time_page(&app, &cookie, "home page", "/", 100).await;

    if webdriver::available() {
        browser(app, &cookie).await?;
    } else {
        println!("chromium or chromedriver not installed: browser figures skipped");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Serves `app` on a free port and loads the list page in a fresh headless Chromium.
async fn browser(app: axum::Router, cookie: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cookie = cookie.to_string();
    tokio::task::spawn_blocking(move || {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let browser = webdriver::Browser::start(1280, 720);
            // A page without assets, to set the session cookie on this origin.
            browser.go(&format!("http://127.0.0.1:{port}/health"));
            for pair in cookie.split("; ") {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                browser.command(
                    "POST",
                    "/cookie",
                    Some(json!({"cookie": {"name": name, "value": value, "path": "/"}})),
                );
            }
            browser.go(&format!("http://127.0.0.1:{port}/objects/BenchDevice"));
            // Headless Chromium records the paint entries shortly after the load event.
            for _ in 0..100 {
                let painted = browser.script(
                    "return performance.getEntriesByType('paint')
                        .some(p => p.name === 'first-contentful-paint');",
                    json!([]),
                );
                if painted == json!(true) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let figures = browser.script(
                "const nav = performance.getEntriesByType('navigation')[0];
                 const resources = performance.getEntriesByType('resource');
                 const paint = performance.getEntriesByType('paint')
                    .find(p => p.name === 'first-contentful-paint');
                 const first = performance.getEntriesByType('paint')
                    .find(p => p.name === 'first-paint');
                 return {
                    bytes: nav.transferSize + resources.reduce((s, r) => s + r.transferSize, 0),
                    decoded: nav.decodedBodySize + resources.reduce((s, r) => s + r.decodedBodySize, 0),
                    requests: 1 + resources.length,
                    fcp: paint ? paint.startTime : null,
                    fp: first ? first.startTime : null,
                    load: nav.loadEventEnd,
                    rows: document.querySelectorAll('table tbody tr').length,
                 };",
                json!([]),
            );
            runs.push(figures);
        }
        for figures in &runs {
            println!(
                "first load of the list page in Chromium (cold cache): {} bytes transferred \
                 ({} decoded) in {} requests, first paint {:.0} ms, first contentful paint \
                 {:.0} ms, load {:.0} ms, {} rows",
                figures["bytes"],
                figures["decoded"],
                figures["requests"],
                figures["fp"].as_f64().unwrap_or(f64::NAN),
                figures["fcp"].as_f64().unwrap_or(f64::NAN),
                figures["load"].as_f64().unwrap_or(f64::NAN),
                figures["rows"]
            );
        }
    })
    .await?;
    Ok(())
}
