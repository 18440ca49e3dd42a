//! Object templates through GraphQL, as the SDK and the web UI use them: a template created
//! without its node's mandatory relationships, then an object created with
//! `object_template: {hfid: [...]}` that takes the template's values and components. The same
//! requests were checked against upstream Infrahub 1.11.9, which answers the same values.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{EmbeddedGraph, GraphStore};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const SCHEMA: &str = r#"
version: "1.0"
generics:
  - name: Interface
    namespace: Tdc
    human_friendly_id: [device__name__value, name__value]
    attributes:
      - {name: name, kind: Text}
      - {name: mtu, kind: Number, default_value: 1500}
    relationships:
      - {name: device, peer: TdcDevice, kind: Parent, cardinality: one, optional: false}
nodes:
  - name: Site
    namespace: Tloc
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Platform
    namespace: Tdc
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Tdc
    generate_template: true
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: status, kind: Dropdown, choices: [{name: active}, {name: planned}]}
      - {name: role, kind: Text, optional: true}
    relationships:
      - {name: location, peer: TlocSite, kind: Attribute, cardinality: one, optional: false}
      - {name: platform, peer: TdcPlatform, kind: Attribute, cardinality: one, optional: true}
      - {name: interfaces, peer: TdcInterface, kind: Component, cardinality: many}
  - name: PhysicalInterface
    namespace: Tdc
    inherit_from: [TdcInterface]
"#;

async fn app() -> Router {
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let options = EngineOptions {
        admin_token: Some(TOKEN.into()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("tdc.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let state = AppState::new(
        Settings::default(),
        "templates".into(),
        Arc::new(engine),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    state.mark_ready();
    infrahub_server::app::router(state)
}

/// Runs `document` on main as the admin; the answer must have no errors.
async fn graphql(app: &Router, document: &str) -> Value {
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("x-infrahub-key", TOKEN)
        .body(Body::from(json!({ "query": document }).to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = app
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(answer.get("errors").is_none(), "{document}\n-> {answer:#}");
    answer["data"].clone()
}

#[tokio::test]
async fn an_object_created_from_a_template_takes_its_values_and_components() {
    let app = app().await;
    graphql(
        &app,
        r#"mutation {
            s: TlocSiteCreate(data: {name: {value: "paris"}}) { ok }
            p: TdcPlatformCreate(data: {name: {value: "eos"}}) { ok }
        }"#,
    )
    .await;
    // No `location`: a device template holds what it gives, nothing it must.
    let template = graphql(
        &app,
        r#"mutation {
            TemplateTdcDeviceCreate(data: {
                template_name: {value: "leaf"}, status: {value: "planned"},
                role: {value: "leaf"}, platform: {hfid: ["eos"]}
            }) { ok object { id } }
        }"#,
    )
    .await;
    let template_id = template["TemplateTdcDeviceCreate"]["object"]["id"].clone();
    graphql(
        &app,
        r#"mutation {
            a: TemplateTdcPhysicalInterfaceCreate(data: {
                template_name: {value: "leaf-eth0"}, name: {value: "eth0"}, mtu: {value: 9000},
                device: {hfid: ["leaf"]}
            }) { ok }
            b: TemplateTdcPhysicalInterfaceCreate(data: {
                template_name: {value: "leaf-eth1"}, name: {value: "eth1"}, device: {hfid: ["leaf"]}
            }) { ok }
        }"#,
    )
    .await;
    let created = graphql(
        &app,
        r#"mutation {
            TdcDeviceCreate(data: {
                name: {value: "leaf1"}, role: {value: "spine"}, location: {hfid: ["paris"]},
                object_template: {hfid: ["leaf"]}
            }) {
                ok
                object {
                    status { value is_default source { id } }
                    role { value source { id } }
                    platform { node { name { value } } }
                    object_template { node { id } }
                    interfaces { edges { node { name { value } mtu { value is_default } } } }
                }
            }
        }"#,
    )
    .await;
    let device = &created["TdcDeviceCreate"]["object"];
    assert_eq!(
        device["status"],
        json!({"value": "planned", "is_default": false, "source": {"id": template_id}})
    );
    assert_eq!(device["role"], json!({"value": "spine", "source": null}));
    assert_eq!(device["platform"]["node"]["name"]["value"], json!("eos"));
    assert_eq!(device["object_template"]["node"]["id"], template_id);
    let mut interfaces: Vec<(Value, Value, Value)> = device["interfaces"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no interfaces: {device:#}"))
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            (
                node["name"]["value"].clone(),
                node["mtu"]["value"].clone(),
                node["mtu"]["is_default"].clone(),
            )
        })
        .collect();
    interfaces.sort_by_key(|(name, _, _)| name.to_string());
    assert_eq!(
        interfaces,
        [
            (json!("eth0"), json!(9000), json!(false)),
            (json!("eth1"), json!(1500), json!(true)),
        ]
    );
}
