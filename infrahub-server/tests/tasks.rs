//! Tasks through the GraphQL API: branch mutations and `DiffUpdate` run as tasks, waited for
//! or in the background (`task { id }`), `InfrahubTask` with its filters, paging and logs,
//! `InfrahubTaskBranchStatus`, and the cancel and retry mutations.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_core::schema::SchemaFile;
use infrahub_graph::{EmbeddedGraph, GraphStore};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use infrahub_worker::{NewTask, TaskState, WorkflowType};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Test
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
"#;

const TASK_FIELDS: &str = "id title conclusion state progress workflow branch created_at \
    updated_at parameters tags start_time related_nodes { id kind } \
    available_actions { action available unavailability_reason } \
    error { status_class message remediation }";

struct Harness {
    app: axum::Router,
    state: Arc<AppState>,
}

async fn harness() -> Harness {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory().unwrap());
    let options = EngineOptions {
        admin_token: Some(TOKEN.into()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options).await.unwrap();
    let file = SchemaFile::from_yaml(SCHEMA, Some("test.yml")).unwrap();
    engine.load_schema("main", vec![file], false).await.unwrap();
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
        state,
    }
}

impl Harness {
    /// The whole answer to `query` on `branch` (`errors` included).
    async fn answer_on(&self, branch: &str, query: &str, authenticated: bool) -> Value {
        let mut request =
            Request::post(format!("/graphql/{branch}")).header("content-type", "application/json");
        if authenticated {
            request = request.header("X-INFRAHUB-KEY", TOKEN);
        }
        let request = request
            .body(Body::from(json!({"query": query}).to_string()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status() == StatusCode::OK,
            authenticated,
            "{}",
            response.status()
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn answer(&self, query: &str) -> Value {
        self.answer_on("main", query, true).await
    }

    async fn gql_on(&self, branch: &str, query: &str) -> Value {
        let body = self.answer_on(branch, query, true).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    async fn gql(&self, query: &str) -> Value {
        self.gql_on("main", query).await
    }

    async fn error(&self, query: &str) -> String {
        let body = self.answer(query).await;
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {body}"))
            .to_owned()
    }

    async fn task(&self, id: &str, extra: &str) -> Value {
        let data = self
            .gql(&format!(
                r#"{{ InfrahubTask(ids: ["{id}"]) {{ count edges {{ node {{ {TASK_FIELDS} {extra} }} }} }} }}"#
            ))
            .await;
        assert_eq!(data["InfrahubTask"]["count"], 1, "{data}");
        data["InfrahubTask"]["edges"][0]["node"].clone()
    }

    /// Polls task `id` as the SDK's `wait_for_completion` does, until it is final.
    async fn wait(&self, id: &str) -> Value {
        for _ in 0..500 {
            let task = self
                .task(
                    id,
                    "logs { count edges { node { message severity timestamp } } }",
                )
                .await;
            let state = task["state"].as_str().unwrap_or_default();
            if ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"].contains(&state) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {id} never finished");
    }

    async fn site(&self, branch: &str, name: &str) -> String {
        let data = self
            .gql_on(
                branch,
                &format!(
                    r#"mutation {{ TestSiteCreate(data: {{name: {{value: "{name}"}}}}) {{ object {{ id }} }} }}"#
                ),
            )
            .await;
        data["TestSiteCreate"]["object"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn a_background_branch_create_returns_a_task_that_completes_with_its_log() {
    let h = harness().await;
    let data = h
        .gql(r#"mutation { BranchCreate(wait_until_completion: false, data: {name: "bg-1", sync_with_git: false}) { ok task { id } } }"#)
        .await;
    assert_eq!(data["BranchCreate"]["ok"], true);
    let id = data["BranchCreate"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let task = h.wait(&id).await;
    assert_eq!(task["state"], "COMPLETED", "{task}");
    assert_eq!(task["conclusion"], "success");
    assert_eq!(task["workflow"], "create-branch");
    assert_eq!(task["branch"], "bg-1");
    assert_eq!(task["title"], "Create branch bg-1");
    assert_eq!(task["progress"], 1.0);
    assert_eq!(task["parameters"]["name"], "bg-1");
    assert!(task["start_time"].is_string());
    assert!(infrahub_graph::Timestamp::parse(task["created_at"].as_str().unwrap()).is_ok());
    let tags: Vec<&str> = task["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&"infrahub.app/branch/bg-1"), "{tags:?}");
    assert!(tags.contains(&"infrahub.app/database-change"), "{tags:?}");
    assert_eq!(task["logs"]["count"], 2);
    assert_eq!(
        task["logs"]["edges"][0]["node"]["message"],
        "Creating branch bg-1"
    );
    assert_eq!(task["logs"]["edges"][0]["node"]["severity"], "info");
    assert_eq!(
        task["available_actions"],
        json!([
            {"action": "RETRY", "available": false, "unavailability_reason": "only a failed, cancelled or crashed task can be retried"},
            {"action": "CANCEL", "available": false, "unavailability_reason": "the task has finished or is being cancelled"}
        ])
    );
    assert!(task["error"].is_null());
    let branches = h.gql(r#"{ Branch(name: "bg-1") { name } }"#).await;
    assert_eq!(branches["Branch"][0]["name"], "bg-1");
    // The deprecated flag also runs in the background.
    let data = h
        .gql(r#"mutation { BranchCreate(background_execution: true, data: {name: "bg-2"}) { ok task { id } } }"#)
        .await;
    assert!(data["BranchCreate"]["task"]["id"].is_string());
}

#[tokio::test]
async fn waited_branch_operations_answer_without_a_task_and_are_recorded() {
    let h = harness().await;
    let data = h
        .gql(r#"mutation { BranchCreate(data: {name: "w-1", description: "waited"}) { ok task { id } object { name description } } }"#)
        .await;
    assert!(data["BranchCreate"]["task"].is_null());
    assert_eq!(data["BranchCreate"]["object"]["description"], "waited");
    h.site("w-1", "on-branch").await;
    let merge = h
        .gql(r#"mutation { BranchMerge(data: {name: "w-1"}) { ok task { id } object { name } } }"#)
        .await;
    assert!(merge["BranchMerge"]["task"].is_null());
    let sites = h.gql("{ TestSite { count } }").await;
    assert_eq!(sites["TestSite"]["count"], 1);
    let tasks = h
        .gql(r#"{ InfrahubTask(branch: "w-1") { count edges { node { workflow state } } } }"#)
        .await;
    assert_eq!(tasks["InfrahubTask"]["count"], 2);
    assert_eq!(
        tasks["InfrahubTask"]["edges"],
        json!([
            {"node": {"workflow": "merge-branch-mutation", "state": "COMPLETED"}},
            {"node": {"workflow": "create-branch", "state": "COMPLETED"}}
        ])
    );
    // A refusal found before submitting answers at once and records nothing.
    let error = h
        .error(r#"mutation { BranchCreate(data: {name: "w-1"}) { ok } }"#)
        .await;
    assert_eq!(error, "The branch w-1 already exists");
    let error = h
        .error(r#"mutation { BranchMerge(wait_until_completion: false, data: {name: "nope"}) { ok } }"#)
        .await;
    assert!(error.contains("nope"), "{error}");
    let all = h.gql("{ InfrahubTask { count } }").await;
    assert_eq!(all["InfrahubTask"]["count"], 2);
}

#[tokio::test]
async fn a_background_merge_answers_the_branch_and_its_task_finishes_the_merge() {
    let h = harness().await;
    h.gql(r#"mutation { BranchCreate(data: {name: "m-1"}) { ok } }"#)
        .await;
    h.site("m-1", "merged-site").await;
    let data = h
        .gql(r#"mutation { BranchMerge(wait_until_completion: false, data: {name: "m-1"}) { ok task { id } object { name } } }"#)
        .await;
    assert_eq!(data["BranchMerge"]["object"]["name"], "m-1");
    let id = data["BranchMerge"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = h.wait(&id).await;
    assert_eq!(task["state"], "COMPLETED", "{task}");
    let sites = h
        .gql(r#"{ TestSite(name__value: "merged-site") { count } }"#)
        .await;
    assert_eq!(sites["TestSite"]["count"], 1);
}

#[tokio::test]
async fn a_failed_background_task_is_visible_with_its_log_and_can_be_retried() {
    let h = harness().await;
    let id = h.site("main", "contested").await;
    h.gql(r#"mutation { BranchCreate(data: {name: "c-1"}) { ok } }"#)
        .await;
    for (branch, text) in [("main", "from main"), ("c-1", "from branch")] {
        h.gql_on(
            branch,
            &format!(
                r#"mutation {{ TestSiteUpdate(data: {{id: "{id}", description: {{value: "{text}"}}}}) {{ ok }} }}"#
            ),
        )
        .await;
    }
    let data = h
        .gql(r#"mutation { BranchValidate(wait_until_completion: false, data: {name: "c-1"}) { ok task { id } } }"#)
        .await;
    let task_id = data["BranchValidate"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = h.wait(&task_id).await;
    assert_eq!(task["state"], "FAILED", "{task}");
    assert_eq!(task["conclusion"], "failure");
    let message = "Branch c-1 has 1 conflict(s) with the default branch";
    assert_eq!(task["error"]["message"], message);
    assert_eq!(task["error"]["status_class"], "failed");
    let logs = task["logs"]["edges"].as_array().unwrap();
    assert_eq!(logs.last().unwrap()["node"]["message"], message);
    assert_eq!(logs.last().unwrap()["node"]["severity"], "error");
    assert_eq!(task["available_actions"][0]["available"], true);
    // Waiting, the same failure is the mutation's error.
    let error = h
        .error(r#"mutation { BranchValidate(data: {name: "c-1"}) { ok } }"#)
        .await;
    assert_eq!(error, message);
    let retried = h
        .gql(&format!(
            r#"mutation {{ InfrahubTaskRetry(data: {{id: "{task_id}"}}) {{ ok task {{ id }} }} }}"#
        ))
        .await;
    let new_id = retried["InfrahubTaskRetry"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, task_id);
    let again = h.wait(&new_id).await;
    assert_eq!(again["workflow"], "branch-validate");
    assert_eq!(again["state"], "FAILED");
    let merged = h
        .gql(r#"{ InfrahubTask(state: [COMPLETED]) { edges { node { id } } } }"#)
        .await;
    let completed = merged["InfrahubTask"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let error = h
        .error(&format!(
            r#"mutation {{ InfrahubTaskRetry(data: {{id: "{completed}"}}) {{ ok }} }}"#
        ))
        .await;
    assert!(
        error.contains("only a failed, cancelled or crashed task can be retried"),
        "{error}"
    );
}

#[tokio::test]
async fn task_lists_filter_page_and_bound_their_arguments() {
    let h = harness().await;
    for i in 0..6 {
        h.gql(&format!(
            r#"mutation {{ BranchCreate(data: {{name: "list-{i}"}}) {{ ok }} }}"#
        ))
        .await;
    }
    let data = h
        .gql(r#"{ InfrahubTask(limit: 4, offset: 1) { count edges { node { branch } } } }"#)
        .await;
    assert_eq!(data["InfrahubTask"]["count"], 6);
    let branches: Vec<&str> = data["InfrahubTask"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["branch"].as_str().unwrap())
        .collect();
    assert_eq!(branches, ["list-4", "list-3", "list-2", "list-1"]);
    let checks = [
        (
            r#"{ InfrahubTask(workflow: ["create-branch"]) { count } }"#,
            6,
        ),
        (
            r#"{ InfrahubTask(workflow: ["branch-rebase"]) { count } }"#,
            0,
        ),
        (
            r#"{ InfrahubTask(state: [RUNNING, PENDING]) { count } }"#,
            0,
        ),
        (r#"{ InfrahubTask(branch: "list-2") { count } }"#, 1),
        (r#"{ InfrahubTask(q: "branch list-5") { count } }"#, 1),
        (r#"{ InfrahubTask(related_node__ids: ["x"]) { count } }"#, 0),
        (r#"{ InfrahubTask(ids: ["not-a-uuid"]) { count } }"#, 0),
        (
            r#"{ InfrahubTaskBranchStatus(branch: "list-2") { count } }"#,
            0,
        ),
        (
            r#"{ InfrahubTask(since: "2000-01-01T00:00:00Z") { count } }"#,
            6,
        ),
        (
            r#"{ InfrahubTask(until: "2000-01-01T00:00:00Z") { count } }"#,
            0,
        ),
        (
            r#"{ InfrahubTask(since: "1h", until: "2999-01-01") { count } }"#,
            6,
        ),
    ];
    for (query, count) in checks {
        let data = h.gql(query).await;
        let field = data.as_object().unwrap().values().next().unwrap();
        assert_eq!(field["count"], count, "{query}: {data}");
    }
    for (query, message) in [
        (
            "{ InfrahubTask(limit: 10001) { count } }",
            "`limit` must be between 0 and 10000",
        ),
        (
            "{ InfrahubTask(limit: -1) { count } }",
            "`limit` must be between 0 and 10000",
        ),
        (
            "{ InfrahubTask(log_limit: 10001) { count } }",
            "`log_limit` must be between 0 and 10000",
        ),
    ] {
        assert_eq!(h.error(query).await, message, "{query}");
    }
    assert!(
        !h.error("{ InfrahubTask(state: [DONE]) { count } }")
            .await
            .is_empty()
    );
    assert!(
        h.error(r#"{ InfrahubTask(since: "yesterday-ish") { count } }"#)
            .await
            .starts_with("`since`: ")
    );
    // The SDK's diagnostic fragment validates against the interface.
    let data = h
        .gql("{ InfrahubTask(limit: 1) { edges { node { id ... on WebhookDeliveryTask { http_request { url headers } http_response { status_code body latency_ms } } } } } }")
        .await;
    assert!(data["InfrahubTask"]["edges"][0]["node"]["id"].is_string());
}

#[tokio::test]
async fn branch_status_lists_work_in_flight_and_cancel_ends_it() {
    let h = harness().await;
    h.gql(r#"mutation { BranchCreate(data: {name: "s-1"}) { ok } }"#)
        .await;
    // A task nobody has taken yet (recorded without being queued).
    let pending = h
        .state
        .tasks
        .store()
        .create(NewTask {
            id: None,
            title: "Rebase branch s-1".into(),
            workflow: "branch-rebase".into(),
            workflow_type: WorkflowType::Core,
            database_change: true,
            state: TaskState::Pending,
            parameters: json!({"branch": "s-1"}),
            branch: Some("s-1".into()),
            related_nodes: Vec::new(),
            account: None,
        })
        .await
        .unwrap();
    let status = h
        .gql(r#"{ InfrahubTaskBranchStatus(branch: "s-1") { count edges { node { id state } } } }"#)
        .await;
    assert_eq!(status["InfrahubTaskBranchStatus"]["count"], 1);
    assert_eq!(
        status["InfrahubTaskBranchStatus"]["edges"][0]["node"]["id"],
        pending.id
    );
    let task = h.task(&pending.id, "").await;
    assert_eq!(task["available_actions"][1]["available"], true);
    // Cancelling needs an account (401).
    let anonymous = h
        .answer_on(
            "main",
            &format!(
                r#"mutation {{ InfrahubTaskCancel(data: {{id: "{}"}}) {{ ok }} }}"#,
                pending.id
            ),
            false,
        )
        .await;
    assert!(anonymous.get("errors").is_some(), "{anonymous}");
    let cancel = h
        .gql(&format!(
            r#"mutation {{ InfrahubTaskCancel(data: {{id: "{}"}}) {{ ok task {{ id }} }} }}"#,
            pending.id
        ))
        .await;
    assert_eq!(cancel["InfrahubTaskCancel"]["ok"], true);
    let task = h.task(&pending.id, "").await;
    assert_eq!(task["state"], "CANCELLED");
    let status = h
        .gql(r#"{ InfrahubTaskBranchStatus(branch: "s-1") { count } }"#)
        .await;
    assert_eq!(status["InfrahubTaskBranchStatus"]["count"], 0);
    let error = h
        .error(&format!(
            r#"mutation {{ InfrahubTaskCancel(data: {{id: "{}"}}) {{ ok }} }}"#,
            pending.id
        ))
        .await;
    assert!(error.contains("already CANCELLED"), "{error}");
    let error = h
        .error(r#"mutation { InfrahubTaskCancel(data: {id: "0b7f0a57-0000-4000-8000-000000000001"}) { ok } }"#)
        .await;
    assert!(error.contains("not found"), "{error}");
}

#[tokio::test]
async fn diff_update_runs_in_the_background_unless_asked_to_wait() {
    let h = harness().await;
    h.gql(r#"mutation { BranchCreate(data: {name: "d-1"}) { ok } }"#)
        .await;
    h.site("d-1", "diffed").await;
    let data = h
        .gql(r#"mutation { DiffUpdate(data: {branch: "d-1"}) { ok task { id } } }"#)
        .await;
    let id = data["DiffUpdate"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = h.wait(&id).await;
    assert_eq!(task["state"], "COMPLETED", "{task}");
    assert_eq!(task["workflow"], "diff-update");
    let waited = h
        .gql(r#"mutation { DiffUpdate(wait_until_completion: true, data: {branch: "d-1"}) { ok task { id } } }"#)
        .await;
    assert!(waited["DiffUpdate"]["task"].is_null());
    let error = h
        .error(r#"mutation { DiffUpdate(data: {branch: "missing"}) { ok } }"#)
        .await;
    assert!(error.contains("missing"), "{error}");
}
