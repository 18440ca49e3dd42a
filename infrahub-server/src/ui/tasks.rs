//! The task pages: the list of tasks with its filters (`/tasks`), the page of one task
//! (`/tasks/{id}`) with its parameters, error and log and the cancel and retry actions, and the
//! work in flight that the branch page shows ([`branch_status`]).
//!
//! Every read and write is a GraphQL document run through [`Page::graphql`] with the user's
//! values as variables: `InfrahubTask`, `InfrahubTaskBranchStatus`, `InfrahubTaskCancel` and
//! `InfrahubTaskRetry`. A successful action redirects with a notice (post/redirect/get); a
//! refused one shows the task's page again with the API's errors.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use infrahub_worker::TaskState;
use serde_json::{Value, json};

use super::{Page, UiError, encode, form_pairs, with_query};
use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("task_list.html", include_str!("templates/task_list.html")),
    ("task_page.html", include_str!("templates/task_page.html")),
];

/// The routes of the task pages.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tasks", get(list))
        .route("/tasks/{id}", get(show).post(act))
}

/// Tasks per page of the list.
const TASK_PAGE: usize = 50;
/// Log lines per page of a task.
const LOG_PAGE: usize = 1_000;
/// Largest `offset` or `log_offset` accepted.
const MAX_OFFSET: usize = 10_000_000;
/// Longest filter text.
const MAX_TEXT: usize = 256;

/// The fields of a task in the list (and in the branch's work in flight).
const LIST_FIELDS: &str =
    "id title workflow branch state conclusion progress created_at updated_at";

/// The fields of a task on its page.
const TASK_FIELDS: &str = "id title workflow branch state conclusion progress created_at \
     updated_at start_time parameters tags related_nodes { id kind } \
     available_actions { action available unavailability_reason } \
     error { status_class message remediation }";

/// The path of a task's page.
fn task_path(id: &str) -> String {
    format!("/tasks/{}", encode(id))
}

/// The query parameters of the page's address.
fn query_pairs(page: &Page) -> Vec<(String, String)> {
    form_pairs(page.uri.split_once('?').map(|(_, q)| q).unwrap_or_default())
}

/// The value of the query parameter `name`, trimmed (empty when absent).
fn param(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// A non-negative integer parameter, `0` when absent or invalid, at most [`MAX_OFFSET`].
fn offset_param(pairs: &[(String, String)], name: &str) -> usize {
    param(pairs, name)
        .parse::<usize>()
        .map_or(0, |v| v.min(MAX_OFFSET))
}

/// The notice of a finished action (`?done=`): fixed texts, never echoed from the address.
fn notice(pairs: &[(String, String)]) -> Option<&'static str> {
    match param(pairs, "done").as_str() {
        "cancelled" => Some("Cancellation requested."),
        "retried" => Some("Task retried: this is the new task."),
        _ => None,
    }
}

/// The badge class of a state.
fn state_class(state: &str) -> &'static str {
    match state {
        "COMPLETED" => "badge-added",
        "FAILED" | "CRASHED" => "badge-conflict",
        "RUNNING" | "CANCELLING" => "badge-updated",
        "CANCELLED" => "badge-removed",
        _ => "",
    }
}

/// A task as the templates show it: its path, its state's badge class and its progress as a
/// percentage added.
fn task_view(mut task: Value) -> Value {
    let path = task_path(task["id"].as_str().unwrap_or_default());
    let class = state_class(task["state"].as_str().unwrap_or_default());
    let progress = task["progress"]
        .as_f64()
        .map(|p| format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0)));
    if let Value::Object(map) = &mut task {
        map.insert("path".into(), json!(path));
        map.insert("state_class".into(), json!(class));
        map.insert("progress_text".into(), json!(progress));
    }
    task
}

/// The page of the task list, with the `branch` of its address a filter: a branch that no
/// longer exists (its tasks remain) leaves the page on the default branch instead of a 404.
struct ListPage {
    page: Page,
    /// The `branch` filter (empty: every branch).
    branch: String,
}

impl FromRequestParts<Arc<AppState>> for ListPage {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let original = parts.uri.clone();
        let pairs = form_pairs(original.query().unwrap_or_default());
        let branch = param(&pairs, "branch");
        if !branch.is_empty() && state.engine.schema(&branch).is_err() {
            let kept: Vec<(String, String)> =
                pairs.into_iter().filter(|(n, _)| n != "branch").collect();
            parts.uri = with_query(original.path(), &kept)
                .parse::<Uri>()
                .map_err(|e| UiError::bad_request(e.to_string()))?;
        }
        let page = Page::from_request_parts(parts, state).await;
        parts.uri = original;
        let mut page = page?;
        page.uri = parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        );
        Ok(ListPage { page, branch })
    }
}

/// `GET /tasks`: the tasks, newest first, filtered by `state`, `workflow`, `branch` and `q`
/// (in the title), by pages of [`TASK_PAGE`] (`offset`).
async fn list(ListPage { page, branch }: ListPage) -> Result<Response, UiError> {
    let pairs = query_pairs(&page);
    let offset = offset_param(&pairs, "offset");
    let state = param(&pairs, "state").to_uppercase();
    let workflow = param(&pairs, "workflow");
    let q = param(&pairs, "q");
    // Ours: the tasks of one node (a repository's imports, a definition's generations).
    let related_node = param(&pairs, "related_node");
    for (name, value) in [
        ("workflow", &workflow),
        ("branch", &branch),
        ("q", &q),
        ("related_node", &related_node),
    ] {
        if value.chars().count() > MAX_TEXT {
            return Err(UiError::bad_request(format!(
                "`{name}` is longer than {MAX_TEXT} characters"
            )));
        }
    }
    if !state.is_empty() && state.parse::<TaskState>().is_err() {
        return Err(UiError::bad_request(format!(
            "`state` must be one of {}",
            TaskState::ALL.map(TaskState::as_str).join(", ")
        )));
    }
    let optional = |text: &str| (!text.is_empty()).then(|| text.to_string());
    let data = page
        .graphql(
            &format!(
                "query($limit: Int, $offset: Int, $state: [TaskState], $workflow: [String], \
                 $branch: String, $q: String, $related: [String]) {{ InfrahubTask(limit: $limit, \
                 offset: $offset, state: $state, workflow: $workflow, branch: $branch, q: $q, \
                 related_node__ids: $related) {{ count \
                 edges {{ node {{ {LIST_FIELDS} }} }} }} }}"
            ),
            json!({
                "limit": TASK_PAGE,
                "offset": offset,
                "state": optional(&state).map(|s| vec![s]),
                "workflow": optional(&workflow).map(|w| vec![w]),
                "branch": optional(&branch),
                "q": optional(&q),
                "related": optional(&related_node).map(|n| vec![n]),
            }),
        )
        .await?;
    let total = data["InfrahubTask"]["count"].as_u64().unwrap_or(0);
    let tasks: Vec<Value> = data["InfrahubTask"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| task_view(edge["node"].clone()))
        .collect();
    // The address of this list with its filters, for the pager.
    let filters = [
        ("state", state.as_str()),
        ("workflow", workflow.as_str()),
        ("branch", branch.as_str()),
        ("q", q.as_str()),
        ("related_node", related_node.as_str()),
    ];
    let kept: Vec<(&str, &str)> = filters.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    // The page's branch is the `branch` filter (or the default branch): `link` replaces it.
    let base = page.link("/tasks", &kept);
    page.render(
        "task_list.html",
        json!({
            "tasks": tasks,
            "total": total,
            "offset": offset,
            "limit": TASK_PAGE,
            "base": base,
            "states": TaskState::ALL.map(TaskState::as_str),
            "filter": {"state": state, "workflow": workflow, "branch": branch, "q": q, "related_node": related_node},
            "filtered": !kept.is_empty(),
        }),
    )
    .await
}

/// `GET /tasks/{id}`: the task's page.
async fn show(page: Page, Path(id): Path<String>) -> Result<Response, UiError> {
    render_task(&page, &id, StatusCode::OK, Vec::new()).await
}

/// Renders the page of task `id` with `errors` (of a refused action).
async fn render_task(
    page: &Page,
    id: &str,
    status: StatusCode,
    errors: Vec<String>,
) -> Result<Response, UiError> {
    let pairs = query_pairs(page);
    let log_offset = offset_param(&pairs, "log_offset");
    let data = page
        .graphql(
            &format!(
                "query($ids: [String], $log_limit: Int, $log_offset: Int) {{ \
                 InfrahubTask(ids: $ids, limit: 1, log_limit: $log_limit, \
                 log_offset: $log_offset) {{ edges {{ node {{ {TASK_FIELDS} \
                 logs {{ count edges {{ node {{ message severity timestamp }} }} }} }} }} }} }}"
            ),
            json!({"ids": [id], "log_limit": LOG_PAGE, "log_offset": log_offset}),
        )
        .await?;
    let Some(task) = data["InfrahubTask"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|e| e["node"]["id"] == id))
        .map(|e| e["node"].clone())
    else {
        return Err(UiError::not_found(format!("Task {id} not found.")));
    };
    let available = |action: &str| {
        task["available_actions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["action"] == action && a["available"] == true)
    };
    let (can_cancel, can_retry) = (available("CANCEL"), available("RETRY"));
    let parameters = if task["parameters"].is_null() {
        None
    } else {
        serde_json::to_string_pretty(&task["parameters"]).ok()
    };
    let logs: Vec<Value> = task["logs"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| edge["node"].clone())
        .collect();
    let log_count = task["logs"]["count"].as_u64().unwrap_or(0);
    let log_count = usize::try_from(log_count).unwrap_or(usize::MAX);
    let path = task_path(id);
    let log_link = |offset: usize| page.link(&path, &[("log_offset", &offset.to_string())]);
    let log_pages = json!({
        "count": log_count,
        "first": if logs.is_empty() { 0 } else { log_offset + 1 },
        "last": log_offset + logs.len(),
        "previous": (log_offset > 0).then(|| log_link(log_offset.saturating_sub(LOG_PAGE))),
        "next": (log_offset + logs.len() < log_count && !logs.is_empty())
            .then(|| log_link(log_offset + LOG_PAGE)),
    });
    let related: Vec<Value> = task["related_nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            let (kind, node_id) = (
                node["kind"].as_str().unwrap_or_default(),
                node["id"].as_str().unwrap_or_default(),
            );
            let path = (!kind.is_empty())
                .then(|| format!("/objects/{}/{}", encode(kind), encode(node_id)));
            json!({"id": node_id, "kind": kind, "path": path})
        })
        .collect();
    let task = task_view(task);
    page.render_status(
        status,
        "task_page.html",
        json!({
            "task": task,
            "path": path,
            "parameters": parameters,
            "related": related,
            "logs": logs,
            "log_pages": log_pages,
            "can_cancel": can_cancel,
            "can_retry": can_retry,
            "errors": errors,
            "notice": notice(&pairs),
        }),
    )
    .await
}

/// A form body's value, empty when absent.
fn field(fields: &[(String, String)], name: &str) -> String {
    param(fields, name)
}

/// `POST /tasks/{id}`: the action named by the form's `action` field: `cancel`
/// (`InfrahubTaskCancel`, back to the task with a notice) or `retry` (`InfrahubTaskRetry`, to
/// the new task with a notice); refused: the task's page with the API's errors.
async fn act(page: Page, Path(id): Path<String>, body: Bytes) -> Result<Response, UiError> {
    page.check_writable()?;
    let fields = form_pairs(&String::from_utf8_lossy(&body));
    let (mutation, done) = match field(&fields, "action").as_str() {
        "cancel" => ("InfrahubTaskCancel", "cancelled"),
        "retry" => ("InfrahubTaskRetry", "retried"),
        _ => {
            return Err(UiError::bad_request(
                "`action` must be one of cancel, retry",
            ));
        }
    };
    let (answer, errors) = page
        .graphql_result(
            &format!(
                "mutation($data: InfrahubTaskIdInput!) {{ \
                 {mutation}(data: $data) {{ ok task {{ id }} }} }}"
            ),
            json!({"data": {"id": id}}),
        )
        .await?;
    let target = answer[mutation]["task"]["id"].as_str();
    match target {
        Some(target) if errors.is_empty() => {
            Ok(page.redirect(&task_path(target), &[("done", done)]))
        }
        _ => {
            let errors = if errors.is_empty() {
                vec!["The task was not changed.".to_string()]
            } else {
                errors
            };
            let status = if errors.iter().any(|e| e.contains("permission")) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            render_task(&page, &id, status, errors).await
        }
    }
}

/// The database-changing tasks still in flight on `branch` (`InfrahubTaskBranchStatus`), for
/// the branch page.
pub(super) async fn branch_status(page: &Page, branch: &str) -> Result<Vec<Value>, UiError> {
    let data = page
        .graphql(
            &format!(
                "query($branch: String) {{ InfrahubTaskBranchStatus(branch: $branch) {{ \
                 edges {{ node {{ {LIST_FIELDS} }} }} }} }}"
            ),
            json!({ "branch": branch }),
        )
        .await?;
    Ok(data["InfrahubTaskBranchStatus"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| task_view(edge["node"].clone()))
        .collect())
}
