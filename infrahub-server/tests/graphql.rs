//! The GraphQL API through the HTTP router: shapes the SDK parses, errors, time travel, and the
//! guarantee that a query reads a bounded number of times from the store whatever the number
//! of nodes it returns, and never reads attributes the document does not select.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{
    BranchOperation, BranchRecord, BranchView, Change, Changeset, Commit, CreateBranchOptions,
    EmbeddedGraph, GraphStore, MergeOptions, NodeData, NodeId, NodeQuery, QueryResult,
    RebaseOptions, Selection, Slot, Timestamp, Version,
};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const SCHEMA: &str = r##"
version: "1.0"
generics:
  - name: Equipment
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
nodes:
  - name: Site
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
    relationships:
      - {name: devices, peer: TestDevice, cardinality: many}
  - name: Device
    namespace: Test
    inherit_from: [TestEquipment]
    order_by: [name__value]
    attributes:
      - {name: description, kind: Text, optional: true}
      - {name: role, kind: Dropdown, optional: true, choices: [{name: edge, label: Edge, color: "#ff0000"}, {name: core}]}
      - {name: address, kind: IPHost, optional: true}
      - {name: asn, kind: Number, optional: true}
    relationships:
      - {name: site, peer: TestSite, cardinality: one, optional: false}
      - {name: tags, peer: BuiltinTag, cardinality: many}
  - name: Cable
    namespace: Test
    inherit_from: [TestEquipment]
"##;

/// A store that counts reads and records which attributes reads asked for.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn GraphStore>,
    reads: AtomicUsize,
    attributes: Mutex<Vec<String>>,
}

impl CountingStore {
    fn note(&self, select: &Selection) {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let (Some(names), Ok(mut seen)) = (&select.attributes, self.attributes.lock()) {
            seen.extend(names.iter().cloned());
        }
    }

    fn reset(&self) {
        self.reads.store(0, Ordering::SeqCst);
        if let Ok(mut seen) = self.attributes.lock() {
            seen.clear();
        }
    }
}

#[async_trait]
impl GraphStore for CountingStore {
    async fn create_branch(
        &self,
        name: &str,
        options: CreateBranchOptions,
    ) -> infrahub_graph::Result<BranchRecord> {
        self.inner.create_branch(name, options).await
    }
    async fn get_branch(&self, name: &str) -> infrahub_graph::Result<BranchRecord> {
        self.inner.get_branch(name).await
    }
    async fn list_branches(&self) -> infrahub_graph::Result<Vec<BranchRecord>> {
        self.inner.list_branches().await
    }
    async fn update_branch(
        &self,
        name: &str,
        properties: serde_json::Map<String, Value>,
    ) -> infrahub_graph::Result<BranchRecord> {
        self.inner.update_branch(name, properties).await
    }
    async fn delete_branch(&self, name: &str) -> infrahub_graph::Result<()> {
        self.inner.delete_branch(name).await
    }
    async fn commit(&self, changeset: Changeset) -> infrahub_graph::Result<Commit> {
        self.inner.commit(changeset).await
    }
    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> infrahub_graph::Result<Vec<NodeData>> {
        self.note(select);
        self.inner.get_nodes(view, ids, select).await
    }
    async fn query(
        &self,
        view: &BranchView,
        query: &NodeQuery,
    ) -> infrahub_graph::Result<QueryResult> {
        self.note(&query.select);
        self.inner.query(view, query).await
    }
    async fn count(&self, view: &BranchView, query: &NodeQuery) -> infrahub_graph::Result<u64> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.count(view, query).await
    }
    async fn changes(
        &self,
        branch: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> infrahub_graph::Result<Vec<Change>> {
        self.inner.changes(branch, from, to).await
    }
    async fn history(&self, id: NodeId) -> infrahub_graph::Result<Vec<(Slot, Version)>> {
        self.inner.history(id).await
    }
    async fn merge_branch(
        &self,
        branch: &str,
        options: MergeOptions,
    ) -> infrahub_graph::Result<BranchOperation> {
        self.inner.merge_branch(branch, options).await
    }
    async fn rebase_branch(
        &self,
        branch: &str,
        options: RebaseOptions,
    ) -> infrahub_graph::Result<BranchOperation> {
        self.inner.rebase_branch(branch, options).await
    }
    async fn last_commit(&self) -> infrahub_graph::Result<Timestamp> {
        self.inner.last_commit().await
    }
}

struct Harness {
    app: axum::Router,
    store: Arc<CountingStore>,
    state: Arc<AppState>,
}

async fn harness() -> Harness {
    let inner: Arc<dyn GraphStore> =
        Arc::new(EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}")));
    let store = Arc::new(CountingStore {
        inner,
        reads: AtomicUsize::new(0),
        attributes: Mutex::new(Vec::new()),
    });
    let options = EngineOptions {
        admin_token: Some(TOKEN.into()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let dyn_store: Arc<dyn GraphStore> = store.clone();
    let engine = Engine::open(dyn_store, options)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    let file = SchemaFile::from_yaml(SCHEMA, Some("test.yml")).unwrap_or_else(|e| panic!("{e:?}"));
    engine
        .load_schema("main", vec![file], false)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"));
    let state = AppState::new(
        Settings::default(),
        "deployment".into(),
        Arc::new(engine),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    state.mark_ready();
    Harness {
        app: infrahub_server::app::router(Arc::clone(&state)),
        store,
        state,
    }
}

impl Harness {
    async fn post(&self, path: &str, query: &str, authenticated: bool) -> (StatusCode, Value) {
        self.post_json(path, json!({ "query": query }), authenticated)
            .await
    }

    async fn post_json(&self, path: &str, body: Value, authenticated: bool) -> (StatusCode, Value) {
        let (status, bytes) = self.post_raw(path, body, authenticated).await;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn post_raw(
        &self,
        path: &str,
        body: Value,
        authenticated: bool,
    ) -> (StatusCode, Vec<u8>) {
        let credentials = authenticated.then_some(("X-INFRAHUB-KEY", TOKEN.to_string()));
        self.post_with(path, body, credentials).await
    }

    /// Posts `body` to `path` with one credentials header, if any.
    async fn post_with(
        &self,
        path: &str,
        body: Value,
        credentials: Option<(&str, String)>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::post(path).header("content-type", "application/json");
        if let Some((name, value)) = credentials {
            request = request.header(name, value);
        }
        let request = request
            .body(Body::from(body.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (status, bytes.to_vec())
    }

    /// The raw answer to `query` with `variables` on main (which must be a 200).
    async fn send(&self, query: &str, variables: Value) -> String {
        let body = json!({"query": query, "variables": variables});
        let (status, bytes) = self.post_raw("/graphql/main", body, true).await;
        assert_eq!(status, StatusCode::OK);
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An access token of the admin.
    async fn login(&self) -> String {
        let tokens = infrahub_server::auth::login(&self.state, "admin", "infrahub")
            .await
            .unwrap_or_else(|e| panic!("login: {e:?}"));
        tokens.access_token
    }

    /// Like [`Harness::gql`], authenticated by an access token.
    async fn gql_with(&self, query: &str, access_token: &str) -> Value {
        let credentials = Some(("authorization", format!("Bearer {access_token}")));
        let (status, bytes) = self
            .post_with("/graphql/main", json!({ "query": query }), credentials)
            .await;
        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    async fn gql(&self, query: &str) -> Value {
        let (status, body) = self.post("/graphql/main", query, true).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    async fn create(&self, kind: &str, data: &str) -> String {
        let data = self
            .gql(&format!(
                "mutation {{ {kind}Create(data: {data}) {{ ok object {{ id }} }} }}"
            ))
            .await;
        data[format!("{kind}Create")]["object"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {data}"))
            .to_string()
    }

    /// A site with `devices` devices, each with two tags.
    async fn populate(&self, devices: usize, prefix: &str) {
        let site = self
            .create(
                "TestSite",
                &format!("{{name: {{value: \"{prefix}-site\"}}}}"),
            )
            .await;
        let red = self
            .create(
                "BuiltinTag",
                &format!("{{name: {{value: \"{prefix}-red\"}}}}"),
            )
            .await;
        let blue = self
            .create(
                "BuiltinTag",
                &format!("{{name: {{value: \"{prefix}-blue\"}}}}"),
            )
            .await;
        for index in 0..devices {
            self.create(
                "TestDevice",
                &format!(
                    "{{name: {{value: \"{prefix}-dev-{index:03}\"}}, description: {{value: \"d\"}}, site: {{id: \"{site}\"}}, tags: [{{id: \"{red}\"}}, {{id: \"{blue}\"}}]}}"
                ),
            )
            .await;
        }
    }
}

const NESTED_QUERY: &str = r#"query ($prefix: String) {
  TestDevice(name__value: $prefix, partial_match: true) {
    count
    edges { node { id __typename name { value }
      site { node { id display_label name { value } } properties { is_protected } }
      tags { count edges { node { id hfid name { value } } } }
    } }
  }
}"#;

async fn nested_reads(harness: &Harness, prefix: &str) -> (usize, Value) {
    harness.store.reset();
    let (status, body) = harness
        .post_json(
            "/graphql/main",
            json!({"query": NESTED_QUERY, "variables": {"prefix": prefix}}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    (harness.store.reads.load(Ordering::SeqCst), body)
}

#[tokio::test]
async fn reads_are_bounded_whatever_the_number_of_nodes() {
    let harness = harness().await;
    harness.populate(3, "small").await;
    harness.populate(40, "large").await;
    // The first request of the document compiles its plan; both measured ones then run it
    // (alone: debug builds would otherwise answer through the executor as well).
    nested_reads(&harness, "no-such-dev").await;
    harness.state.queries.set_plan_checks(false);
    let (small_reads, small) = nested_reads(&harness, "small-dev").await;
    let (large_reads, large) = nested_reads(&harness, "large-dev").await;
    assert_eq!(small["data"]["TestDevice"]["count"], json!(3));
    assert_eq!(large["data"]["TestDevice"]["count"], json!(40));
    let first = &large["data"]["TestDevice"]["edges"][0]["node"];
    assert_eq!(first["site"]["node"]["name"]["value"], json!("large-site"));
    assert_eq!(first["tags"]["count"], json!(2));
    assert_eq!(
        small_reads, large_reads,
        "reads grew with the number of nodes"
    );
    assert!(large_reads <= 8, "{large_reads} reads for one query");
}

/// Nested filters of relationship fields are evaluated by the engine over each level's peers,
/// once per level and filter, whatever the number of nodes.
#[tokio::test]
async fn nested_filters_are_evaluated_by_the_engine_once_per_level() {
    let harness = harness().await;
    harness.populate(3, "nf").await;
    harness.populate(30, "nfl").await;
    let query = |prefix: &str| {
        format!(
            r#"{{ TestDevice(name__value: "{prefix}-dev", partial_match: true) {{ count edges {{ node {{ name {{ value }}
                 red: tags(name__value: "{prefix}-red") {{ count edges {{ node {{ name {{ value }} }} }} }}
                 both: tags(name__values: ["{prefix}-red", "{prefix}-blue"], limit: 1) {{ count edges {{ node {{ name {{ value }} }} }} }}
                 none: tags(name__value: "no-such-tag") {{ count }}
                 visible: tags(name__is_visible: true) {{ count }}
                 all: tags {{ count }} }} }} }} }}"#
        )
    };
    let small = harness.gql(&query("nf")).await;
    let devices = small["TestDevice"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{small}"));
    assert_eq!(devices.len(), 3, "{small}");
    for device in devices {
        let node = &device["node"];
        assert_eq!(node["red"]["count"], json!(1), "{small}");
        assert_eq!(
            node["red"]["edges"][0]["node"]["name"]["value"],
            json!("nf-red")
        );
        assert_eq!(node["both"]["count"], json!(2));
        assert_eq!(
            node["both"]["edges"].as_array().map(Vec::len),
            Some(1),
            "paging applies after the filter"
        );
        assert_eq!(node["none"]["count"], json!(0));
        assert_eq!(node["visible"]["count"], json!(2));
        assert_eq!(node["all"]["count"], json!(2));
    }
    // By id, with the id of one tag.
    let red = harness
        .gql(r#"{ BuiltinTag(name__value: "nf-red") { edges { node { id } } } }"#)
        .await;
    let red = red["BuiltinTag"]["edges"][0]["node"]["id"].clone();
    let by_id = harness
        .gql(&format!(
            r#"{{ TestDevice(name__value: "nf-dev-000") {{ edges {{ node {{ tags(ids: [{red}]) {{ count }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        by_id["TestDevice"]["edges"][0]["node"]["tags"]["count"],
        json!(1),
        "{by_id}"
    );
    // A filter the peer kind does not have is an error, not an empty answer.
    let body = harness
        .send(
            r#"{ TestDevice { edges { node { tags(name__value: 1) { count } } } } }"#,
            json!({}),
        )
        .await;
    assert!(body.contains("\"errors\""), "{body}");

    // Reads: the same with 3 and with 30 devices.
    harness.state.queries.set_plan_checks(false);
    harness.store.reset();
    harness.gql(&query("nf")).await;
    let small_reads = harness.store.reads.load(Ordering::SeqCst);
    harness.store.reset();
    let large = harness.gql(&query("nfl")).await;
    let large_reads = harness.store.reads.load(Ordering::SeqCst);
    assert_eq!(large["TestDevice"]["count"], json!(30));
    assert_eq!(
        small_reads, large_reads,
        "reads grew with the number of nodes"
    );
}

#[tokio::test]
async fn unselected_attributes_are_not_read() {
    let harness = harness().await;
    harness.populate(2, "sel").await;
    let (_, _) = nested_reads(&harness, "sel-dev").await;
    let seen = harness
        .store
        .attributes
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    assert!(seen.iter().any(|a| a == "name"));
    assert!(
        !seen.iter().any(|a| a == "description"),
        "description was read: {seen:?}"
    );
}

#[tokio::test]
async fn node_query_shapes() {
    let harness = harness().await;
    harness.populate(2, "shape").await;
    let data = harness
        .gql(
            r#"{ TestDevice(offset: 1, limit: 5) { count edges { node { id hfid display_label _updated_at __typename
                 role { value label color } address { value ip prefixlen netmask }
                 asn { value is_default } } } } }"#,
        )
        .await;
    let page = &data["TestDevice"];
    assert_eq!(page["count"], json!(2));
    let edges = page["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 1);
    let node = &edges[0]["node"];
    assert_eq!(node["hfid"], json!(["shape-dev-001"]));
    assert_eq!(node["__typename"], json!("TestDevice"));
    assert_eq!(node["asn"], json!({"value": null, "is_default": true}));

    let update = harness
        .gql(&format!(
            r#"mutation {{ TestDeviceUpdate(data: {{id: "{}", role: {{value: "edge"}}, address: {{value: "10.0.0.1/24"}}, asn: {{value: 65001}}}}) {{ ok object {{ role {{ value label color }} address {{ ip prefixlen netmask }} asn {{ value }} }} }} }}"#,
            node["id"].as_str().unwrap_or_default()
        ))
        .await;
    let object = &update["TestDeviceUpdate"]["object"];
    assert_eq!(
        object["role"],
        json!({"value": "edge", "label": "Edge", "color": "#ff0000"})
    );
    assert_eq!(
        object["address"],
        json!({"ip": "10.0.0.1", "prefixlen": 24, "netmask": "255.255.255.0"})
    );
    assert_eq!(object["asn"]["value"], json!(65001));

    // Beyond the end: empty edges, the total still right.
    let data = harness
        .gql("{ TestDevice(offset: 10, limit: 5) { count edges { node { id } } } }")
        .await;
    assert_eq!(data["TestDevice"], json!({"count": 2, "edges": []}));
}

#[tokio::test]
async fn generic_queries_answer_concrete_types() {
    let harness = harness().await;
    harness.populate(1, "gen").await;
    harness
        .create("TestCable", r#"{name: {value: "gen-cable"}}"#)
        .await;
    let data = harness
        .gql(
            r#"{ TestEquipment(name__value: "gen", partial_match: true) { count edges { node { __typename name { value }
                 ... on TestDevice { __alias__TestDevice__site: site { node { display_label } } } } } } }"#,
        )
        .await;
    let mut kinds: Vec<String> = data["TestEquipment"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            e["node"]["__typename"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["TestCable", "TestDevice"]);
    let device = data["TestEquipment"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|e| e["node"]["__typename"] == json!("TestDevice"))
        .unwrap_or_default();
    assert_eq!(
        device["node"]["__alias__TestDevice__site"]["node"]["display_label"],
        json!("gen-site")
    );
}

#[tokio::test]
async fn errors_are_json() {
    let harness = harness().await;
    let (status, body) = harness
        .post("/graphql/nope", "{ TestDevice { count } }", true)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope"))
    );

    let (status, body) = harness
        .post("/graphql/feature%2Fx", "{ TestDevice { count } }", true)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("feature/x")),
        "{body}"
    );

    let (status, body) = harness
        .post("/graphql/main", "{ TestDevice { count ", true)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"][0]["message"].is_string());
    assert!(body["errors"][0]["locations"].is_array());

    // Documents nested tens of thousands of levels deep (which overflowed the parser's stack
    // and killed the server) are refused with an error, and the server goes on.
    for deep in [
        format!(
            "query ($a: {}Int{}) {{ TestDevice {{ count }} }}",
            "[".repeat(30_000),
            "]".repeat(30_000)
        ),
        format!(
            "{{ TestDevice(x: {}1{}) }}",
            "[".repeat(30_000),
            "]".repeat(30_000)
        ),
        format!("{}{}", "{ a ".repeat(30_000), "}".repeat(30_000)),
    ] {
        let (status, body) = harness.post("/graphql/main", &deep, true).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("levels deep")),
            "{body}"
        );
    }
    let (status, _) = harness
        .post("/graphql/main", "{ TestDevice { count } }", true)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = harness
        .post("/graphql/main", "{ NoSuchKind { count } }", true)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NoSuchKind"))
    );

    // Mutations need an account.
    let (status, body) = harness
        .post(
            "/graphql/main",
            r#"mutation { BuiltinTagCreate(data: {name: {value: "x"}}) { ok } }"#,
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errors"][0]["message"].is_string());

    // Bad values name the field and change nothing.
    let (_, body) = harness
        .post(
            "/graphql/main",
            r#"mutation { TestSiteCreate(data: {description: {value: "no name"}}) { ok } }"#,
            true,
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("name")),
        "{body}"
    );
    let data = harness.gql("{ TestSite { count } }").await;
    assert_eq!(data["TestSite"]["count"], json!(0));
}

#[tokio::test]
async fn time_travel_reads_the_past() {
    let harness = harness().await;
    let id = harness
        .create(
            "TestSite",
            r#"{name: {value: "tt"}, description: {value: "before"}}"#,
        )
        .await;
    let before = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    harness
        .gql(&format!(
            r#"mutation {{ TestSiteUpdate(data: {{id: "{id}", description: {{value: "after"}}}}) {{ ok }} }}"#
        ))
        .await;
    let query = "{ TestSite { edges { node { description { value } } } } }";
    let now = harness.gql(query).await;
    assert_eq!(
        now["TestSite"]["edges"][0]["node"]["description"]["value"],
        json!("after")
    );
    let at = before.to_string().replace(':', "%3A");
    let (status, past) = harness
        .post(&format!("/graphql/main?at={at}"), query, false)
        .await;
    assert_eq!(status, StatusCode::OK, "{past}");
    assert_eq!(
        past["data"]["TestSite"]["edges"][0]["node"]["description"]["value"],
        json!("before")
    );
}

#[tokio::test]
async fn relationship_add_remove_and_relationship_query() {
    let harness = harness().await;
    let site = harness
        .create("TestSite", r#"{name: {value: "rel"}}"#)
        .await;
    let tag = harness
        .create("BuiltinTag", r#"{name: {value: "t1"}}"#)
        .await;
    let device = harness
        .create(
            "TestDevice",
            &format!(r#"{{name: {{value: "rel-dev"}}, site: {{id: "{site}"}}}}"#),
        )
        .await;
    harness
        .gql(&format!(
            r#"mutation {{ RelationshipAdd(data: {{id: "{device}", name: "tags", nodes: [{{id: "{tag}"}}]}}) {{ ok }} }}"#
        ))
        .await;
    let data = harness
        .gql(&format!(
            r#"{{ TestDevice(ids: ["{device}"]) {{ edges {{ node {{ tags {{ count }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        data["TestDevice"]["edges"][0]["node"]["tags"]["count"],
        json!(1)
    );
    let data = harness
        .gql(&format!(
            r#"{{ TestSite(ids: ["{site}"]) {{ edges {{ node {{ devices {{ edges {{ node {{ id }} }} }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        data["TestSite"]["edges"][0]["node"]["devices"]["edges"][0]["node"]["id"],
        json!(device)
    );
    let identifier = "testdevice__testsite";
    let data = harness
        .gql(&format!(
            r#"{{ Relationship(ids: ["{identifier}"]) {{ count edges {{ node {{ identifier peers {{ id kind }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(data["Relationship"]["count"], json!(1), "{data}");
    harness
        .gql(&format!(
            r#"mutation {{ RelationshipRemove(data: {{id: "{device}", name: "tags", nodes: [{{id: "{tag}"}}]}}) {{ ok }} }}"#
        ))
        .await;
    let data = harness
        .gql(&format!(
            r#"{{ TestDevice(ids: ["{device}"]) {{ edges {{ node {{ tags {{ count }} }} }} }} }}"#
        ))
        .await;
    assert_eq!(
        data["TestDevice"]["edges"][0]["node"]["tags"]["count"],
        json!(0)
    );
}

#[tokio::test]
async fn fixed_fields_and_expand() {
    let harness = harness().await;
    harness.create("TestSite", r#"{name: {value: "fx"}}"#).await;
    let data = harness
        .gql(
            "{ InfrahubInfo { version deployment_id } InfrahubStatus { summary { schema_hash_synced } }
               Branch { id name is_default status graph_version sync_with_git has_schema_changes branched_from }
               AccountProfile { id display_label __typename name { value } } }",
        )
        .await;
    assert_eq!(data["InfrahubInfo"]["deployment_id"], json!("deployment"));
    assert_eq!(
        data["InfrahubStatus"]["summary"]["schema_hash_synced"],
        json!(true)
    );
    assert_eq!(data["Branch"][0]["name"], json!("main"));
    assert_eq!(data["Branch"][0]["status"], json!("OPEN"));
    assert_eq!(data["AccountProfile"]["name"]["value"], json!("admin"));
    assert_eq!(data["AccountProfile"]["__typename"], json!("CoreAccount"));

    let data = harness
        .gql(
            "{ TestSite { edges { node @expand(exclude: [\"description\"]) { display_label } } } }",
        )
        .await;
    let node = &data["TestSite"]["edges"][0]["node"];
    assert_eq!(node["__typename"], json!("TestSite"));
    assert!(node["id"].is_string());
    assert_eq!(node["name"]["value"], json!("fx"));
    assert!(node.get("description").is_none());
}

#[tokio::test]
async fn branches_through_graphql() {
    let harness = harness().await;
    let data = harness
        .gql(
            r#"mutation { BranchCreate(wait_until_completion: true, data: {name: "feature/x", description: "work", sync_with_git: false}) {
                 ok object { id name description origin_branch branched_from is_default sync_with_git has_schema_changes graph_version status } } }"#,
        )
        .await;
    let object = &data["BranchCreate"]["object"];
    assert_eq!(object["name"], json!("feature/x"));
    assert_eq!(object["status"], json!("OPEN"));
    assert_eq!(object["is_default"], json!(false));
    // A node created on the branch is invisible on main until the merge.
    let (status, body) = harness
        .post(
            "/graphql/feature%2Fx",
            r#"mutation { TestSiteCreate(data: {name: {value: "branch-site"}}) { ok object { id } } }"#,
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let count = |data: &Value| data["TestSite"]["count"].clone();
    assert_eq!(
        count(&harness.gql("{ TestSite { count } }").await),
        json!(0)
    );
    let (_, on_branch) = harness
        .post("/graphql/feature%2Fx", "{ TestSite { count } }", true)
        .await;
    assert_eq!(count(&on_branch["data"]), json!(1));
    let data = harness
        .gql(r#"{ Branch { name } one: Branch(name: "feature/x") { name description } }"#)
        .await;
    assert_eq!(data["Branch"].as_array().map(Vec::len), Some(2));
    assert_eq!(data["one"][0]["description"], json!("work"));
    harness
        .gql(r#"mutation { BranchValidate(data: {name: "feature/x"}) { ok } }"#)
        .await;
    harness
        .gql(r#"mutation { BranchMerge(data: {name: "feature/x"}) { ok object { name status } } }"#)
        .await;
    assert_eq!(
        count(&harness.gql("{ TestSite { count } }").await),
        json!(1)
    );
    harness
        .gql(r#"mutation { BranchDelete(data: {name: "feature/x"}) { ok } }"#)
        .await;
    let data = harness.gql("{ Branch { name } }").await;
    assert_eq!(data["Branch"], json!([{"name": "main"}]));
    // Bad names are refused with the reason.
    let (_, body) = harness
        .post(
            "/graphql/main",
            r#"mutation { BranchCreate(data: {name: "a b"}) { ok } }"#,
            true,
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid")),
        "{body}"
    );
}

#[tokio::test]
async fn account_tokens() {
    let harness = harness().await;
    let create = r#"mutation { InfrahubAccountTokenCreate(data: {name: "ci"}) { ok object { id token { value } } } }"#;
    // As upstream, an API token cannot mint more tokens: a login session is needed.
    let (status, body) = harness.post("/graphql/main", create, true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["errors"][0]["message"],
        "This operation requires authentication with a JWT token"
    );
    let access = harness.login().await;
    let data = harness.gql_with(create, &access).await;
    let token = data["InfrahubAccountTokenCreate"]["object"]["token"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = data["InfrahubAccountTokenCreate"]["object"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(token.len(), 36);
    let data = harness
        .gql("{ InfrahubAccountToken { count edges { node { id name } } } }")
        .await;
    let names: Vec<Value> = data["InfrahubAccountToken"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["node"]["name"].clone())
        .collect();
    assert!(names.contains(&json!("ci")), "{data}");
    // The token value is never listed.
    assert!(!data.to_string().contains(&token));
    harness
        .gql_with(
            &format!(r#"mutation {{ InfrahubAccountTokenDelete(data: {{id: "{id}"}}) {{ ok }} }}"#),
            &access,
        )
        .await;
    let data = harness.gql("{ InfrahubAccountToken { count } }").await;
    assert_eq!(data["InfrahubAccountToken"]["count"], json!(1));
}

#[tokio::test]
async fn sdl_is_served() {
    let harness = harness().await;
    let response = harness
        .app
        .clone()
        .oneshot(
            Request::get("/schema.graphql?branch=main")
                .body(Body::empty())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&bytes);
    for needle in [
        "type TestDevice implements",
        "interface TestEquipment",
        "type PaginatedTestDevice",
        "type NestedEdgedTestSite",
        "input TestDeviceCreateInput",
        "scalar GenericScalar",
        "scalar DateTime",
    ] {
        assert!(text.contains(needle), "missing `{needle}`");
    }
}

#[tokio::test]
async fn hierarchies_answer_ancestors_and_descendants() {
    let harness = harness().await;
    let schema = json!({"schemas": [{"version": "1.0",
    "generics": [{"name": "Generic", "namespace": "Loc", "hierarchical": true,
        "human_friendly_id": ["name__value"], "display_label": "name__value",
        "attributes": [{"name": "name", "kind": "Text", "unique": true}]}],
    "nodes": [
        {"name": "Region", "namespace": "Loc", "inherit_from": ["LocGeneric"], "parent": "", "children": "LocCountry"},
        {"name": "Country", "namespace": "Loc", "inherit_from": ["LocGeneric"], "parent": "LocRegion", "children": "LocCity"},
        {"name": "City", "namespace": "Loc", "inherit_from": ["LocGeneric"], "parent": "LocCountry", "children": ""}
    ]}]});
    let (status, body) = harness
        .post_json("/api/schema/load?branch=main", schema, true)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let region = harness
        .create("LocRegion", r#"{name: {value: "europe"}}"#)
        .await;
    let country = harness
        .create(
            "LocCountry",
            &format!(r#"{{name: {{value: "france"}}, parent: {{id: "{region}"}}}}"#),
        )
        .await;
    for city in ["paris", "lyon"] {
        harness
            .create(
                "LocCity",
                &format!(r#"{{name: {{value: "{city}"}}, parent: {{id: "{country}"}}}}"#),
            )
            .await;
    }
    let data = harness
        .gql(
            r#"{ LocCity(name__value: "paris") { edges { node { name { value }
                 ancestors { count edges { node { __typename name { value } } } } } } } }"#,
        )
        .await;
    let ancestors = &data["LocCity"]["edges"][0]["node"]["ancestors"];
    assert_eq!(ancestors["count"], json!(2), "{data}");
    assert_eq!(
        ancestors["edges"][0]["node"]["__typename"],
        json!("LocCountry")
    );
    assert_eq!(
        ancestors["edges"][1]["node"]["name"]["value"],
        json!("europe")
    );
    let data = harness
        .gql(
            r#"{ LocRegion { edges { node { descendants { count edges { node { __typename } } }
                 cities: descendants(name__value: "lyon") { count } } } } }"#,
        )
        .await;
    let node = &data["LocRegion"]["edges"][0]["node"];
    assert_eq!(node["descendants"]["count"], json!(3), "{data}");
    assert_eq!(node["cities"]["count"], json!(1));
}

#[tokio::test]
async fn diff_conflicts_are_resolved_through_graphql() {
    let harness = harness().await;
    let site = harness
        .create(
            "TestSite",
            r#"{name: {value: "c-site"}, description: {value: "base"}}"#,
        )
        .await;
    harness
        .gql(r#"mutation { BranchCreate(data: {name: "conflicted"}) { ok } }"#)
        .await;
    let update = |value: &str| {
        format!(
            r#"mutation {{ TestSiteUpdate(data: {{id: "{site}", description: {{value: "{value}"}}}}) {{ ok }} }}"#
        )
    };
    let (_, body) = harness
        .post("/graphql/conflicted", &update("branch"), true)
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    harness.gql(&update("main")).await;
    let (_, body) = harness
        .post(
            "/graphql/conflicted",
            r#"{ DiffTree(branch: "conflicted", filters: {status: {includes: [UPDATED]}}) { num_conflicts
                 nodes { uuid status contains_conflict attributes { name conflict { uuid base_branch_value diff_branch_value selected_branch } } } } }"#,
            true,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let tree = &body["data"]["DiffTree"];
    assert_eq!(tree["num_conflicts"], json!(1), "{body}");
    let conflict = tree["nodes"][0]["attributes"][0]["conflict"].clone();
    assert_eq!(conflict["base_branch_value"], json!("main"));
    assert_eq!(conflict["diff_branch_value"], json!("branch"));
    let (_, body) = harness
        .post(
            "/graphql/main",
            r#"mutation { BranchMerge(data: {name: "conflicted"}) { ok } }"#,
            true,
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("conflict")),
        "{body}"
    );
    harness
        .gql(&format!(
            r#"mutation {{ ResolveDiffConflict(data: {{conflict_id: "{}", selected_branch: DIFF_BRANCH}}) {{ ok }} }}"#,
            conflict["uuid"].as_str().unwrap_or_default()
        ))
        .await;
    harness
        .gql(r#"mutation { BranchMerge(data: {name: "conflicted"}) { ok } }"#)
        .await;
    let data = harness
        .gql("{ TestSite { edges { node { description { value } } } } }")
        .await;
    assert_eq!(
        data["TestSite"]["edges"][0]["node"]["description"]["value"],
        json!("branch")
    );
}

#[tokio::test]
async fn a_validated_document_is_still_checked_against_each_requests_variables() {
    let harness = harness().await;
    harness.populate(3, "val").await;
    let query = "query Page($offset: Int!, $limit: Int!) { TestDevice(offset: $offset, limit: $limit) { count edges { node { id } } } }";
    let page = |offset: Value, limit: Value| json!({"query": query, "variables": {"offset": offset, "limit": limit}});
    // The same document twice: the second run skips the rules and answers the same way.
    for _ in 0..2 {
        let (status, body) = harness
            .post_json("/graphql/main", page(json!(1), json!(1)), true)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["TestDevice"]["count"], json!(3), "{body}");
        assert_eq!(
            body["data"]["TestDevice"]["edges"].as_array().map(Vec::len),
            Some(1)
        );
    }
    // Values the declared types refuse are still reported, whatever passed before.
    for (offset, limit) in [(json!("1"), json!(1)), (json!(1), json!(true))] {
        let (_, body) = harness
            .post_json("/graphql/main", page(offset.clone(), limit.clone()), true)
            .await;
        assert!(
            body["errors"][0]["message"].is_string() && body["data"].is_null(),
            "offset {offset}, limit {limit}: {body}"
        );
    }
    let lookup = "query Find($name: String!) { TestDevice(name__value: $name) { count } }";
    let find = |name: Value| json!({"query": lookup, "variables": {"name": name}});
    for _ in 0..2 {
        let (_, body) = harness
            .post_json("/graphql/main", find(json!("no-such-device")), true)
            .await;
        assert_eq!(body["data"]["TestDevice"]["count"], json!(0), "{body}");
    }
    let (_, body) = harness
        .post_json("/graphql/main", find(json!(7)), true)
        .await;
    assert!(
        body["errors"][0]["message"].is_string(),
        "a number for a String! variable: {body}"
    );
    // A document that fails validation fails every time.
    for _ in 0..2 {
        let (_, body) = harness
            .post(
                "/graphql/main",
                "query { TestDevice { edges { node { no_such_field } } } }",
                true,
            )
            .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no_such_field")),
            "{body}"
        );
    }
}

/// Documents the compiled plan answers, with their variables: every shape it knows.
const DIRECT_DOCUMENTS: &[(&str, &str)] = &[
    (
        "query ($prefix: String) { TestDevice(name__value: $prefix, partial_match: true) { count edges { node { id __typename name { value } site { node { id display_label name { value } } properties { is_protected } } tags { count edges { node { id hfid name { value } } } } } } } }",
        r#"{"prefix": "cmp-dev"}"#,
    ),
    (
        "{ all: TestDevice(limit: 3, offset: 1) { __typename total: count edges { __typename node { __typename key: id hfid display_label _updated_at asn { value __typename } address { value is_default is_from_profile is_inherited is_protected is_visible updated_at id __typename } role { value } description { value is_default } } } } }",
        "{}",
    ),
    (
        "query ($limit: Int = 2) { TestDevice(limit: $limit, order: {disable: true}) { edges { node { site { __typename node { __typename hfid } properties { __typename is_visible is_protected updated_at } } tags { __typename edges { __typename properties { is_visible updated_at } node { display_label } } } } } } }",
        "{}",
    ),
    (
        "query ($ids: [ID]) { TestEquipment(ids: $ids) { count edges { node { __typename id name { value } display_label } } } TestSite { count } }",
        r#"{"ids": ["00000000-0000-0000-0000-000000000000"]}"#,
    ),
    (
        "{ TestEquipment(name__values: [\"cmp-dev-001\", \"cmp-cable\"]) { count edges { node { __typename id name { value } } } } TestSite { edges { node { name { value } devices { count edges { node { name { value } asn { value } } } } } } } }",
        "{}",
    ),
    (
        "query Named($name: String!) { TestCable(name__value: $name) { edges { node { id name { value } } } } }",
        r#"{"name": "cmp-cable"}"#,
    ),
    (
        "{ TestDevice(limit: 2) { edges { node { description { value source { id display_label __typename } owner { __typename id } } site { node { id } properties { is_protected updated_at source { id display_label __typename } owner { id display_label __typename } } } tags { edges { node { id } properties { owner { id } source { display_label } } } } } } } }",
        "{}",
    ),
];

/// Documents the compiled plan leaves to the executor (and their answers stay right).
const GENERAL_DOCUMENTS: &[&str] = &[
    "{ TestDevice { edges { node { ... on TestDevice { name { value } } } } } }",
    "{ TestDevice { edges { node { name @include(if: true) { value } } } } }",
    "{ TestDevice { edges { node { role { value label color } } } } }",
    "{ TestDevice { edges { node { address { ip prefixlen } } } } }",
    "{ TestDevice { edges { node { tags(name__value: \"cmp-red\") { count } } } } }",
    "{ TestDevice { permissions { count } } }",
    "{ __typename TestDevice { count } }",
    "{ TestDevice { count } TestDevice { count } }",
];

#[tokio::test]
async fn a_compiled_plan_answers_exactly_as_the_executor() {
    let harness = harness().await;
    harness.populate(4, "cmp").await;
    harness
        .create("TestCable", "{name: {value: \"cmp-cable\"}}")
        .await;
    let accounts = harness
        .gql("{ CoreAccount { edges { node { id } } } }")
        .await;
    let admin = accounts["CoreAccount"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no account: {accounts}"))
        .to_string();
    harness
        .gql(&format!(r#"mutation {{ TestDeviceUpdate(data: {{hfid: ["cmp-dev-001"], asn: {{value: 65001}}, role: {{value: "edge"}}, address: {{value: "10.0.0.1/24"}}, description: {{value: "changed", is_protected: true, source: "{admin}", owner: "{admin}"}}, site: {{hfid: ["cmp-site"], _relation__source: "{admin}", _relation__owner: "{admin}"}}}}) {{ ok }} }}"#))
        .await;
    let direct_before = harness.state.queries.planned_answers();
    for (query, variables) in DIRECT_DOCUMENTS {
        let variables: Value = serde_json::from_str(variables).unwrap_or_else(|e| panic!("{e}"));
        let body = json!({"query": query, "variables": variables});
        // The first run validates the document through the general executor; the second is
        // answered by a plan.
        let (status, general) = harness.post_raw("/graphql/main", body.clone(), true).await;
        assert_eq!(status, StatusCode::OK);
        let before = harness.state.queries.planned_answers();
        let (status, direct) = harness.post_raw("/graphql/main", body, true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            harness.state.queries.planned_answers(),
            before + 1,
            "not answered by a plan: {query}"
        );
        let parsed: Value = serde_json::from_slice(&direct).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.get("errors").is_none(), "{parsed}");
        let expected: Value = serde_json::from_slice(&general).unwrap_or_else(|e| panic!("{e}"));
        // The general executor orders root fields as they complete (they run concurrently);
        // the direct one keeps the document's order. Below the root, the bytes are the same.
        assert_eq!(parsed, expected, "{query}");
        let roots = expected["data"].as_object().map_or(0, |m| m.len());
        if roots == 1 {
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&general),
                "{query}"
            );
        } else {
            let keys: Vec<&String> = parsed["data"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            let mut in_document: Vec<&String> = keys.clone();
            in_document.sort_by_key(|k| query.find(k.as_str()));
            assert_eq!(keys, in_document, "root fields in document order");
        }
    }
    assert_eq!(
        harness.state.queries.planned_answers(),
        direct_before + DIRECT_DOCUMENTS.len() as u64
    );
    // Time travel goes the same way.
    let at = infrahub_graph::Timestamp::now().to_string();
    let query = json!({"query": DIRECT_DOCUMENTS[1].0});
    let path = format!("/graphql/main?at={at}");
    let (_, general) = harness.post_raw(&path, query.clone(), true).await;
    let (_, direct) = harness.post_raw(&path, query, true).await;
    assert_eq!(
        String::from_utf8_lossy(&direct),
        String::from_utf8_lossy(&general)
    );

    let direct_before = harness.state.queries.planned_answers();
    for query in GENERAL_DOCUMENTS {
        let body = json!({"query": query});
        let (_, first) = harness.post_raw("/graphql/main", body.clone(), true).await;
        let (_, second) = harness.post_raw("/graphql/main", body, true).await;
        assert_eq!(first, second, "{query}");
        let parsed: Value = serde_json::from_slice(&second).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.get("data").is_some(), "{query}: {parsed}");
    }
    assert_eq!(
        harness.state.queries.planned_answers(),
        direct_before,
        "documents the compiled plan does not know went to it"
    );
}

/// The same document with `id` selected twice: it has no shape, so the general executor
/// validates and runs it whatever ran before.
fn general_twin(query: &str) -> String {
    let twin = query.replacen(" id ", " id id ", 1);
    assert_ne!(twin, query);
    twin
}

#[tokio::test]
async fn documents_with_other_inline_values_run_the_same_plan_and_answer_alike() {
    let harness = harness().await;
    harness.populate(3, "lit").await;
    let counted = || harness.state.queries.planned_answers();

    // What the SDK's `get` sends: the filter inline, paging in variables.
    let get = |name: &str| {
        format!(
            "query Get_TestDevice ($offset: Int!, $limit: Int!) {{ TestDevice(name__value: \"{name}\", offset: $offset, limit: $limit) {{ count edges {{ node {{ id hfid display_label __typename name {{ value }} asn {{ value }} site {{ node {{ id hfid display_label __typename }} }} }} }} }} }}"
        )
    };
    let paging = json!({"offset": 0, "limit": 50});
    harness.send(&get("lit-dev-000"), paging.clone()).await;
    for name in ["lit-dev-001", "lit-dev-002", "no-such-device"] {
        let before = counted();
        let direct = harness.send(&get(name), paging.clone()).await;
        assert_eq!(counted(), before + 1, "not answered by a plan: {name}");
        let general = harness
            .send(&general_twin(&get(name)), paging.clone())
            .await;
        assert_eq!(counted(), before + 1, "the twin went to the compiled plan");
        assert_eq!(direct, general, "{name}");
        assert!(!direct.contains("\"errors\""), "{direct}");
    }

    // What the SDK's create and update send: every value inline.
    let create = |name: &str, asn: &str| {
        format!(
            "mutation {{ TestDeviceCreate(data: {{ name: {{ value: \"{name}\" }}, asn: {{ value: {asn} }}, site: {{ hfid: [\"lit-site\"] }} }}) {{ ok object {{ id name {{ value }} asn {{ value }} }} }} }}"
        )
    };
    let before = counted();
    let first = harness.send(&create("lit-new-0", "65000"), json!({})).await;
    assert!(first.contains("\"ok\":true"), "{first}");
    let second = harness.send(&create("lit-new-1", "65001"), json!({})).await;
    assert_eq!(
        counted(),
        before + 1,
        "the second create was not answered by a plan"
    );
    assert!(second.contains("\"value\":65001"), "{second}");
    assert!(second.contains("\"lit-new-1\""), "{second}");
    // A literal of another class is validated again (and these are refused).
    for (index, asn) in ["\"12\"", "\"twelve\"", "1.5"].into_iter().enumerate() {
        let before = counted();
        let body = harness
            .send(&create(&format!("lit-class-{index}"), asn), json!({}))
            .await;
        assert_eq!(counted(), before, "validated as another class: {asn}");
        assert!(body.contains("\"errors\""), "{asn}: {body}");
    }
    // An error answered by a plan is the general executor's (a duplicate unique name).
    let before = counted();
    let direct = harness.send(&create("lit-new-0", "65002"), json!({})).await;
    assert_eq!(counted(), before + 1, "not answered by a plan");
    let general = harness
        .send(&general_twin(&create("lit-new-0", "65002")), json!({}))
        .await;
    assert_eq!(direct, general);
    assert!(direct.contains("\"errors\""), "{direct}");
    let count = harness
        .gql("{ TestDevice(name__value: \"lit-new-0\") { count } }")
        .await;
    assert_eq!(count["TestDevice"]["count"], json!(1));

    // A string is no Int, whatever validated before.
    harness
        .send("{ TestDevice(limit: 2) { count } }", json!({}))
        .await;
    let body = harness
        .send("{ TestDevice(limit: \"2\") { count } }", json!({}))
        .await;
    assert!(body.contains("\"errors\""), "{body}");
}

#[tokio::test]
async fn compiled_plans_run_node_mutations_as_the_executor() {
    let harness = harness().await;
    harness.populate(2, "mut").await;
    let counted = || harness.state.queries.planned_answers();

    // The same update twice: the general executor validates it, the direct one repeats it.
    let update = "mutation ($name: String!, $text: String) { TestDeviceUpdate(data: {hfid: [$name], description: {value: $text, is_protected: true}}) { __typename ok object { __typename id hfid display_label name { value } description { value is_protected is_default } site { node { id display_label } properties { is_protected } } tags { count edges { node { name { value } } } } } } }";
    let variables = json!({"name": "mut-dev-000", "text": "updated"});
    let general = harness.send(update, variables.clone()).await;
    let before = counted();
    let direct = harness.send(update, variables).await;
    assert_eq!(counted(), before + 1, "not answered by a plan");
    assert_eq!(direct, general);
    assert!(direct.contains("\"updated\""), "{direct}");

    // Creates: the answers differ only by the node's id and name.
    let create = "mutation ($name: String!) { TestSiteCreate(data: {name: {value: $name}, description: {value: \"new\"}}) { ok object { id name { value } description { value } display_label } } }";
    let first = harness.send(create, json!({"name": "mut-new-1"})).await;
    let before = counted();
    let second = harness.send(create, json!({"name": "mut-new-2"})).await;
    assert_eq!(counted(), before + 1, "not answered by a plan");
    let shape = |body: &str| {
        let mut value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}"));
        let object = &mut value["data"]["TestSiteCreate"]["object"];
        assert!(
            object["id"].as_str().is_some_and(|id| id.len() == 36),
            "{body}"
        );
        object["id"] = json!("<id>");
        let name = object["name"]["value"].take();
        assert_eq!(object["display_label"].take(), name);
        value.to_string()
    };
    assert_eq!(shape(&second), shape(&first));

    // An error is answered as the general executor answers it, and the mutation runs once.
    let before = counted();
    let refused = harness.send(create, json!({"name": "mut-new-1"})).await;
    assert_eq!(counted(), before + 1, "not answered by a plan");
    // The same document with a field selected twice has no shape: the general executor runs it.
    let general_error = harness
        .send(
            &create.replacen("{ ok ", "{ ok ok ", 1),
            json!({"name": "mut-new-1"}),
        )
        .await;
    assert_eq!(refused, general_error);
    assert!(refused.contains("\"errors\""), "{refused}");
    let sites = harness
        .gql("{ TestSite(name__value: \"mut-new-1\") { count } }")
        .await;
    assert_eq!(sites["TestSite"]["count"], json!(1));

    // Deletes.
    let delete = "mutation ($name: String!) { TestDeviceDelete(data: {hfid: [$name]}) { ok } }";
    let general = harness.send(delete, json!({"name": "mut-dev-000"})).await;
    let before = counted();
    let direct = harness.send(delete, json!({"name": "mut-dev-001"})).await;
    assert_eq!(counted(), before + 1, "not answered by a plan");
    assert_eq!(direct, general);
    let devices = harness.gql("{ TestDevice { count } }").await;
    assert_eq!(devices["TestDevice"]["count"], json!(0));

    // Anything else goes through the general executor.
    let before = counted();
    for (index, query) in [
        "mutation ($a: String!, $b: String!) { a: BuiltinTagCreate(data: {name: {value: $a}}) { ok } b: BuiltinTagCreate(data: {name: {value: $b}}) { ok } }",
        "mutation ($a: String!, $b: String!) { BuiltinTagCreate(context: {}, data: {name: {value: $a}, description: {value: $b}}) { ok } }",
    ]
    .into_iter()
    .enumerate()
    {
        for round in 0..2 {
            let names = json!({"a": format!("tag-{index}-{round}-a"), "b": format!("tag-{index}-{round}-b")});
            let body = harness.send(query, names).await;
            assert!(!body.contains("\"errors\""), "{query}: {body}");
        }
    }
    assert_eq!(counted(), before, "went to the compiled plan");
}
