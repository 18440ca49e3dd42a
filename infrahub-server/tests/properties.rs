//! Property tests of the GraphQL request path and of the schema loader, run for a bounded
//! number of cases in CI. To run them longer:
//!
//! ```text
//! INFRAHUB_PROPERTY_CASES=100000 cargo test -p infrahub-server --test properties
//! ```
//!
//! - Any request body on `POST /graphql` (random text, token soup, generated documents with
//!   fragments, aliases, arguments and variables) is answered with a JSON body and a 2xx or
//!   4xx status: never a 500, never a panic, and the server keeps answering.
//! - Any schema file the loader accepts leaves the branch with a working GraphQL API (every
//!   new kind can be queried, the SDL is served); any it refuses is refused with a schema
//!   error, and the branch's schema does not change.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use infrahub_core::engine::{BranchCreate, Engine, EngineOptions};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{EmbeddedGraph, GraphStore};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

/// Cases per property: `INFRAHUB_PROPERTY_CASES`, else `default`.
fn config(default: u32) -> Config {
    let cases = std::env::var("INFRAHUB_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// One server for every case of a property: an in-memory store with a small schema.
fn server() -> &'static (Arc<AppState>, Router) {
    static SERVER: OnceLock<(Arc<AppState>, Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        runtime().block_on(async {
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
            let schema = "nodes:\n  - name: Device\n    namespace: Test\n    human_friendly_id: [name__value]\n    attributes:\n      - {name: name, kind: Text, unique: true}\n      - {name: mtu, kind: Number, optional: true}\n    relationships:\n      - {name: tags, peer: BuiltinTag, cardinality: many, optional: true}\n";
            let file = SchemaFile::from_yaml(schema, Some("test.yml"))
                .unwrap_or_else(|e| panic!("{e:?}"));
            engine
                .load_schema("main", vec![file], false)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let state = AppState::new(
                Settings::default(),
                "properties".into(),
                Arc::new(engine),
                b"0123456789abcdef0123456789abcdef".to_vec(),
                Arc::new(object_store::memory::InMemory::new()),
            );
            state.mark_ready();
            let app = infrahub_server::app::router(Arc::clone(&state));
            (state, app)
        })
    })
}

/// Posts `body` to `path` as the admin; returns the status and the body.
fn post(path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let (_, app) = server();
    runtime().block_on(async {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .header("x-infrahub-key", TOKEN)
            .body(Body::from(body))
            .unwrap_or_else(|e| panic!("{e}"));
        let response = app
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (status, bytes.to_vec())
    })
}

/// The answer to a GraphQL request must be JSON with `data` or `errors`, never a 5xx.
fn check_answer(status: StatusCode, body: &[u8], sent: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !status.is_server_error(),
        "{status} for {sent:?}: {}",
        String::from_utf8_lossy(body)
    );
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TestCaseError::fail(format!(
            "not JSON ({e}) for {sent:?}: {}",
            String::from_utf8_lossy(body)
        ))
    })?;
    prop_assert!(
        value.get("data").is_some() || value.get("errors").is_some(),
        "neither data nor errors for {sent:?}: {value}"
    );
    Ok(())
}

fn query(document: &str) -> Vec<u8> {
    json!({ "query": document }).to_string().into_bytes()
}

/// Pieces of GraphQL, valid and not, to string together.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(":".to_string()),
        Just("...".to_string()),
        Just("@".to_string()),
        Just("$".to_string()),
        Just("!".to_string()),
        Just("=".to_string()),
        Just("query".to_string()),
        Just("mutation".to_string()),
        Just("fragment".to_string()),
        Just("on".to_string()),
        Just("TestDevice".to_string()),
        Just("BuiltinTag".to_string()),
        Just("TestDeviceCreate".to_string()),
        Just("edges".to_string()),
        Just("node".to_string()),
        Just("name".to_string()),
        Just("value".to_string()),
        Just("__typename".to_string()),
        Just("__schema".to_string()),
        Just("@expand".to_string()),
        Just("\"text\"".to_string()),
        Just("\"\\u00e9\\uD83D\\uDE00\"".to_string()),
        Just("\"\"\"block\"\"\"".to_string()),
        Just("123".to_string()),
        Just("-1.5e10".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        "\\PC{1,4}",
    ]
}

/// A field name of the test schema, or not.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("TestDevice".to_string()),
        Just("BuiltinTag".to_string()),
        Just("InfrahubInfo".to_string()),
        Just("Branch".to_string()),
        Just("count".to_string()),
        Just("edges".to_string()),
        Just("node".to_string()),
        Just("id".to_string()),
        Just("hfid".to_string()),
        Just("display_label".to_string()),
        Just("name".to_string()),
        Just("mtu".to_string()),
        Just("tags".to_string()),
        Just("value".to_string()),
        Just("version".to_string()),
        Just("__typename".to_string()),
        "[a-z][a-z_]{0,8}",
    ]
}

/// An argument value literal.
fn argument_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("\"x\"".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("{value: \"v\"}".to_string()),
        Just("$v".to_string()),
        Just("99999999999999999999".to_string()),
        Just("ENUM_VALUE".to_string()),
    ]
}

/// A selection set `depth` levels deep at most.
fn selection(depth: u32) -> BoxedStrategy<String> {
    let leaf = (
        proptest::option::of("[a-z]{1,4}"),
        field_name(),
        proptest::collection::vec(("[a-z_]{1,10}", argument_value()), 0..3),
    )
        .prop_map(|(alias, name, arguments)| {
            let alias = alias.map(|a| format!("{a}: ")).unwrap_or_default();
            let arguments = if arguments.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = arguments
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}"))
                    .collect();
                format!("({})", list.join(", "))
            };
            format!("{alias}{name}{arguments}")
        })
        .boxed();
    if depth == 0 {
        return leaf;
    }
    let inner = proptest::collection::vec(selection(depth - 1), 1..4);
    prop_oneof![
        3 => leaf.clone(),
        2 => (leaf, inner.clone()).prop_map(|(field, children)| format!("{field} {{ {} }}", children.join(" "))),
        1 => inner.clone().prop_map(|children| format!("... on Query {{ {} }}", children.join(" "))),
        1 => inner.prop_map(|children| format!("... @skip(if: false) {{ {} }}", children.join(" "))),
    ]
    .boxed()
}

/// A document: an operation, maybe with variables, and maybe a fragment it spreads.
fn document() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("query"), Just("mutation"), Just("")],
        proptest::collection::vec(selection(4), 1..5),
        proptest::option::of(proptest::collection::vec(selection(3), 1..3)),
        any::<bool>(),
    )
        .prop_map(|(kind, fields, fragment, variables)| {
            let head = match (kind, variables) {
                ("", _) => String::new(),
                (kind, true) => format!("{kind} Op($v: String = \"d\")"),
                (kind, false) => kind.to_string(),
            };
            let mut text = format!("{head} {{ {}", fields.join(" "));
            if fragment.is_some() {
                text.push_str(" ...F");
            }
            text.push_str(" }");
            if let Some(fragment) = fragment {
                text.push_str(&format!(
                    " fragment F on Query {{ {} }}",
                    fragment.join(" ")
                ));
            }
            text
        })
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn any_text_is_answered(text in "\\PC{0,300}") {
        let (status, body) = post("/graphql", query(&text));
        check_answer(status, &body, &text)?;
    }

    #[test]
    fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (status, body) = post("/graphql", bytes.clone());
        prop_assert!(!status.is_server_error(), "{status} for {bytes:?}");
        prop_assert!(serde_json::from_slice::<Value>(&body).is_ok());
    }

    #[test]
    fn token_soup_is_answered(tokens in proptest::collection::vec(token(), 0..60)) {
        let text = tokens.join(" ");
        let (status, body) = post("/graphql", query(&text));
        check_answer(status, &body, &text)?;
    }

    #[test]
    fn generated_documents_are_answered(
        text in document(),
        variables in prop_oneof![
            Just(Value::Null),
            Just(json!({"v": "x"})),
            Just(json!({"v": 5})),
            Just(json!({"v": [1, {"a": null}]})),
        ],
        branch in prop_oneof![Just("/graphql"), Just("/graphql/main"), Just("/graphql/none")],
    ) {
        let body = json!({"query": text, "variables": variables}).to_string().into_bytes();
        let (status, answer) = post(branch, body);
        check_answer(status, &answer, &text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The schema loader

/// An attribute, relationship or model name, valid or not.
fn schema_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_string()),
        Just("description".to_string()),
        Just("mtu".to_string()),
        Just("count".to_string()),
        Just("edges".to_string()),
        Just("node".to_string()),
        Just("ids".to_string()),
        Just("limit".to_string()),
        Just("offset".to_string()),
        Just("order".to_string()),
        Just("value".to_string()),
        Just("display_label".to_string()),
        Just("hfid".to_string()),
        Just("id".to_string()),
        Just("type".to_string()),
        Just("any".to_string()),
        Just("typename".to_string()),
        Just("__abc".to_string()),
        Just("__typename".to_string()),
        Just("a__b".to_string()),
        Just("member_of_groups".to_string()),
        Just("profiles".to_string()),
        Just("subscriber_of_groups".to_string()),
        Just("partial_match".to_string()),
        Just("x".to_string()),
        "[a-z][a-z0-9_]{2,20}",
    ]
}

fn attribute() -> impl Strategy<Value = String> {
    (
        schema_name(),
        prop_oneof![
            Just("Text"),
            Just("Number"),
            Just("Boolean"),
            Just("JSON"),
            Just("List"),
            Just("URL"),
            Just("IPHost"),
            Just("Dropdown"),
            Just("Bogus"),
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, kind, optional, unique)| {
            format!("{{name: {name}, kind: {kind}, optional: {optional}, unique: {unique}}}")
        })
}

fn model_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Device".to_string()),
        Just("Site".to_string()),
        Just("Typename".to_string()),
        Just("Query".to_string()),
        Just("Mutation".to_string()),
        Just("Create".to_string()),
        Just("Ab".to_string()),
        "[A-Z][a-z]{2,10}",
    ]
}

/// A generated node: name, namespace, attributes (YAML flow maps) and relationships (name,
/// peer, cardinality many).
type GeneratedNode = (String, String, Vec<String>, Vec<(String, String, bool)>);

fn node() -> impl Strategy<Value = GeneratedNode> {
    (
        model_name(),
        prop_oneof![
            Just("Prop".to_string()),
            Just("Test".to_string()),
            Just("Internal".to_string()),
            Just("Core".to_string()),
        ],
        proptest::collection::vec(attribute(), 0..5),
        proptest::collection::vec(
            (
                schema_name(),
                prop_oneof![
                    Just("BuiltinTag".to_string()),
                    Just("CoreAccount".to_string()),
                    Just("InternalAccountToken".to_string()),
                    Just("PropDevice".to_string()),
                    Just("PropSite".to_string()),
                    Just("Missing".to_string()),
                ],
                any::<bool>(),
            ),
            0..3,
        ),
    )
}

fn schema_file() -> impl Strategy<Value = String> {
    proptest::collection::vec(node(), 1..4).prop_map(|nodes| {
        let mut text = String::from("version: \"1.0\"\nnodes:\n");
        for (name, namespace, attributes, relationships) in nodes {
            text.push_str(&format!("  - name: {name}\n    namespace: {namespace}\n"));
            if !attributes.is_empty() {
                text.push_str("    attributes:\n");
                for attribute in attributes {
                    text.push_str(&format!("      - {attribute}\n"));
                }
            }
            if !relationships.is_empty() {
                text.push_str("    relationships:\n");
                for (name, peer, many) in relationships {
                    let cardinality = if many { "many" } else { "one" };
                    text.push_str(&format!(
                        "      - {{name: {name}, peer: {peer}, cardinality: {cardinality}, optional: true}}\n"
                    ));
                }
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn accepted_schemas_leave_a_working_api(text in schema_file()) {
        let (state, _) = server();
        let branch = format!("case-{}", uuid::Uuid::new_v4().simple());
        let engine = &state.engine;
        let before = runtime().block_on(async {
            engine
                .create_branch(BranchCreate { name: branch.clone(), ..BranchCreate::default() })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            engine.schema(&branch).map(|s| s.hash()).unwrap_or_default()
        });
        let loaded = match SchemaFile::from_yaml(&text, Some("case.yml")) {
            Err(errors) => Err(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
            Ok(file) => runtime()
                .block_on(engine.load_schema(&branch, vec![file], false))
                .map_err(|e| {
                    assert!(
                        matches!(
                            e.kind(),
                            infrahub_core::ErrorKind::InvalidSchema | infrahub_core::ErrorKind::Validation
                        ),
                        "{:?} error for\n{text}\n{e}",
                        e.kind()
                    );
                    e.to_string()
                }),
        };
        let after = engine.schema(&branch).map(|s| s.hash()).unwrap_or_default();
        match loaded {
            Err(_) => prop_assert_eq!(before, after, "a refused load changed the schema"),
            Ok(_) => {
                let schema = engine.schema(&branch).unwrap_or_else(|e| panic!("{e}"));
                let kinds: Vec<String> = schema
                    .models()
                    .filter(|m| m.is_node() && m.namespace == "Prop")
                    .map(|m| m.kind())
                    .collect();
                let mut document = String::from("{ __typename");
                for kind in &kinds {
                    document.push_str(&format!(" {kind} {{ count edges {{ node {{ id display_label }} }} }}"));
                }
                document.push_str(" }");
                let (status, body) = post(&format!("/graphql/{branch}"), query(&document));
                prop_assert_eq!(status, StatusCode::OK, "{}\n{}", text, String::from_utf8_lossy(&body));
                let value: Value = serde_json::from_slice(&body).unwrap_or_default();
                prop_assert!(value["errors"].is_null(), "{}\n{}", text, value);
            }
        }
        runtime().block_on(engine.delete_branch(&branch)).unwrap_or_else(|e| panic!("{e}"));
    }
}
