//! The branch pages: the list of branches with the form that creates one (`/branches`), and
//! the page of one branch (`/branches/{name}`, names may hold `/`): its details, its diff
//! against the default branch as a tree of changed nodes with their conflicts (resolved in
//! place), the work in flight on it (its tasks), and the refresh, validate, rebase, merge and
//! delete actions.
//!
//! Every read and write is a GraphQL document run through [`Page::graphql`] with the user's
//! values as variables: `Branch`, `DiffTree`, `DiffTreeSummary`,
//! `InfrahubTaskBranchStatus`, `BranchCreate`,
//! `DiffUpdate`, `ResolveDiffConflict`, `BranchValidate`, `BranchRebase`, `BranchMerge` and
//! `BranchDelete`. A successful action redirects to the page it changed with a notice
//! (post/redirect/get); a refused one shows the page again with the API's errors.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Page, UiError, encode, form_pairs};
use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "branch_list.html",
        include_str!("templates/branch_list.html"),
    ),
    (
        "branch_page.html",
        include_str!("templates/branch_page.html"),
    ),
];

/// The routes of the branch pages.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/branches", get(list).post(create))
        .route("/branches/{*name}", get(show).post(act))
}

/// The fields of a branch that the pages show.
const BRANCH_FIELDS: &str = "id name description origin_branch branched_from created_at \
     sync_with_git is_default has_schema_changes status";

/// The counts of a diff.
const COUNT_FIELDS: &str = "num_added num_updated num_removed num_conflicts";

/// The fields of a conflict.
const CONFLICT_FIELDS: &str = "conflict { uuid base_branch_action base_branch_value \
     base_branch_label diff_branch_action diff_branch_value diff_branch_label selected_branch \
     resolvable }";

/// The statuses a diff can be filtered by (`?status=`).
const STATUSES: [&str; 3] = ["ADDED", "UPDATED", "REMOVED"];

/// Changed nodes shown per page of a diff.
const DIFF_PAGE: usize = 100;

/// The path of a branch's page (its name percent-encoded as one segment).
fn branch_path(name: &str) -> String {
    format!("/branches/{}", encode(name))
}

/// A query parameter of the page's address.
fn query_param(page: &Page, name: &str) -> Option<String> {
    let query = page.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_pairs(query)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The notice of a finished action (`?done=`): fixed texts, never echoed from the address.
fn notice(page: &Page) -> Option<String> {
    let default = page.state.engine.default_branch();
    let text = match query_param(page, "done")?.as_str() {
        "created" => "Branch created.".to_string(),
        "refreshed" => "Diff refreshed.".to_string(),
        "resolved" => "Conflict resolution saved.".to_string(),
        "validated" => format!("Branch validated: no conflict with {default}."),
        "rebased" => format!("Branch rebased on {default}."),
        "merged" => format!("Branch merged into {default}."),
        "deleted" => "Branch deleted.".to_string(),
        _ => return None,
    };
    Some(text)
}

/// A form body's value, empty when absent.
fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// `GET /branches`: every branch, and the form that creates one.
async fn list(page: Page) -> Result<Response, UiError> {
    let form = json!({"name": "", "description": "", "sync_with_git": false});
    render_list(&page, StatusCode::OK, form, Map::new(), Vec::new()).await
}

/// Renders the list of branches with the create form's values and errors.
async fn render_list(
    page: &Page,
    status: StatusCode,
    form: Value,
    errors: Map<String, Value>,
    form_errors: Vec<String>,
) -> Result<Response, UiError> {
    let data = page
        .graphql(
            &format!("query {{ Branch {{ {BRANCH_FIELDS} }} }}"),
            json!({}),
        )
        .await?;
    let mut branches: Vec<Value> = data["Branch"].as_array().cloned().unwrap_or_default();
    // The default branch first, then by name.
    branches.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                !v["is_default"].as_bool().unwrap_or(false),
                v["name"].as_str().unwrap_or_default().to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    for branch in &mut branches {
        let path = branch_path(branch["name"].as_str().unwrap_or_default());
        if let Value::Object(map) = branch {
            map.insert("path".into(), Value::String(path));
        }
    }
    page.render_status(
        status,
        "branch_list.html",
        json!({
            "branches": branches,
            "form": form,
            "errors": errors,
            "form_errors": form_errors,
            "notice": notice(page),
        }),
    )
    .await
}

/// `POST /branches`: creates a branch (`BranchCreate`) and goes to its page, on it; shows the
/// form again with the API's errors when refused.
async fn create(page: Page, body: Bytes) -> Result<Response, UiError> {
    page.check_writable()?;
    let fields = form_pairs(&String::from_utf8_lossy(&body));
    let name = field(&fields, "name");
    let description = field(&fields, "description");
    let sync_with_git = matches!(field(&fields, "sync_with_git").as_str(), "true" | "on");
    let mut data = json!({"name": name, "sync_with_git": sync_with_git});
    if !description.is_empty() {
        data["description"] = Value::String(description.clone());
    }
    let (answer, errors) = page
        .graphql_result(
            "mutation($data: BranchCreateInput!) { \
             BranchCreate(data: $data, wait_until_completion: true) { ok object { name } } }",
            json!({ "data": data }),
        )
        .await?;
    let created = answer["BranchCreate"]["object"]["name"].as_str();
    match created {
        Some(created) if errors.is_empty() => Ok(page.redirect(
            &branch_path(created),
            &[("branch", created), ("done", "created")],
        )),
        _ => {
            let (mut field_errors, mut form_errors) = (Map::new(), Vec::new());
            let errors = if errors.is_empty() {
                vec!["The branch was not created.".to_string()]
            } else {
                errors
            };
            for error in errors {
                // Permissions are about the account; everything else the API checks of a new
                // branch is about its name (syntax, length, taken).
                if error.to_lowercase().contains("permission") {
                    form_errors.push(error);
                } else {
                    field_errors.insert("name".into(), Value::String(error));
                }
            }
            let form = json!({
                "name": name,
                "description": description,
                "sync_with_git": sync_with_git,
            });
            let status = if form_errors.is_empty() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::FORBIDDEN
            };
            render_list(&page, status, form, field_errors, form_errors).await
        }
    }
}

/// `GET /branches/{name}`: the branch's page.
async fn show(page: Page, Path(name): Path<String>) -> Result<Response, UiError> {
    render_branch(&page, &name, StatusCode::OK, Vec::new()).await
}

/// Renders the page of branch `name` with `errors` (of a refused action).
async fn render_branch(
    page: &Page,
    name: &str,
    status: StatusCode,
    errors: Vec<String>,
) -> Result<Response, UiError> {
    let data = page
        .graphql(
            &format!("query($name: String) {{ Branch(name: $name) {{ {BRANCH_FIELDS} }} }}"),
            json!({ "name": name }),
        )
        .await?;
    let Some(branch) = data["Branch"]
        .as_array()
        .and_then(|list| list.iter().find(|b| b["name"] == name))
        .cloned()
    else {
        return Err(UiError::not_found(format!("Branch {name} not found.")));
    };
    let offset: usize = query_param(page, "offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    // `?status=`: the nodes added, updated or removed only.
    let shown = query_param(page, "status")
        .map(|s| s.to_uppercase())
        .filter(|s| STATUSES.contains(&s.as_str()));
    let (mut summary, mut nodes, mut more) = (Value::Null, Vec::new(), false);
    if branch["is_default"] != Value::Bool(true) {
        // Time travel: the diff as of then.
        let to = page
            .at
            .as_deref()
            .and_then(|at| infrahub_graph::Timestamp::parse(at).ok())
            .map(|at| at.to_string());
        let property = "properties { property_type previous_value new_value previous_label \
                        new_label status }";
        let query = format!(
            "query($name: String, $to: DateTime, $filters: DiffTreeQueryFilters, $limit: Int, \
             $offset: Int) {{ \
             DiffTreeSummary(branch: $name, to_time: $to) {{ {COUNT_FIELDS} from_time to_time }} \
             DiffTree(branch: $name, to_time: $to, filters: $filters, limit: $limit, \
             offset: $offset) {{ nodes {{ \
               uuid kind label status contains_conflict {COUNT_FIELDS} {CONFLICT_FIELDS} \
               attributes {{ name status contains_conflict {CONFLICT_FIELDS} {property} }} \
               relationships {{ name label cardinality status contains_conflict \
                 elements {{ peer_id peer_label status contains_conflict {CONFLICT_FIELDS} \
                   {property} }} }} }} }} }}"
        );
        let filters = shown
            .as_ref()
            .map(|status| json!({"status": {"includes": [status]}}));
        let diff = page
            .graphql(
                &query,
                json!({
                    "name": name,
                    "to": to,
                    "filters": filters,
                    "limit": DIFF_PAGE + 1,
                    "offset": offset,
                }),
            )
            .await?;
        summary = diff["DiffTreeSummary"].clone();
        nodes = diff["DiffTree"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        more = nodes.len() > DIFF_PAGE;
        nodes.truncate(DIFF_PAGE);
        nodes.iter_mut().for_each(quiet_defaults);
    }
    // The database-changing tasks still running on the branch.
    let in_flight = super::tasks::branch_status(page, name).await?;
    let path = branch_path(name);
    let shown_text = shown.clone().unwrap_or_default();
    let page_link = |offset: usize| {
        let mut extra = vec![("offset", offset.to_string())];
        if shown.is_some() {
            extra.push(("status", shown_text.clone()));
        }
        let extra: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
        page.link(&path, &extra)
    };
    let pages = json!({
        "offset": offset,
        "previous": (offset > 0).then(|| page_link(offset.saturating_sub(DIFF_PAGE))),
        "next": more.then(|| page_link(offset + DIFF_PAGE)),
    });
    page.render_status(
        status,
        "branch_page.html",
        json!({
            "branch": branch,
            "path": path,
            "summary": summary,
            "nodes": nodes,
            "pages": pages,
            "shown": shown,
            "in_flight": in_flight,
            "errors": errors,
            "notice": notice(page),
        }),
    )
    .await
}

/// Leaves out of a diff node what every creation writes: the default flags (not protected,
/// visible) of added attributes and relationship peers, and added attributes left empty.
fn quiet_defaults(node: &mut Value) {
    let is_default_flag = |property: &Value| {
        property["conflict"].is_null()
            && matches!(
                (
                    property["property_type"].as_str(),
                    property["new_value"].as_str()
                ),
                (Some("IS_PROTECTED"), Some("false")) | (Some("IS_VISIBLE"), Some("true"))
            )
    };
    let quiet = |item: &mut Value| {
        if item["status"] == "ADDED"
            && let Some(properties) = item["properties"].as_array_mut()
        {
            properties.retain(|p| !is_default_flag(p));
        }
    };
    if let Some(attributes) = node["attributes"].as_array_mut() {
        attributes.iter_mut().for_each(quiet);
        attributes.retain(|a| {
            a["status"] != "ADDED"
                || !a["conflict"].is_null()
                || a["properties"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| !p["new_value"].is_null()))
        });
    }
    for relationship in node["relationships"].as_array_mut().into_iter().flatten() {
        for element in relationship["elements"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            quiet(element);
        }
    }
}

/// `POST /branches/{name}`: the action named by the form's `action` field: `refresh`
/// (`DiffUpdate`), `resolve` (`ResolveDiffConflict` with `conflict_id` and
/// `selected_branch`), `validate`, `rebase`, `merge` or `delete`. Done: back to the page with
/// a notice; refused: the page with the API's errors.
async fn act(page: Page, Path(name): Path<String>, body: Bytes) -> Result<Response, UiError> {
    page.check_writable()?;
    let fields = form_pairs(&String::from_utf8_lossy(&body));
    let action = field(&fields, "action");
    let (query, variables, done) = match action.as_str() {
        "refresh" => (
            "mutation($data: DiffUpdateInput!) { \
             DiffUpdate(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"branch": name}}),
            "refreshed",
        ),
        "resolve" => (
            "mutation($data: ResolveDiffConflictInput!) { \
             ResolveDiffConflict(data: $data) { ok } }",
            json!({"data": {
                "conflict_id": field(&fields, "conflict_id"),
                "selected_branch": field(&fields, "selected_branch"),
            }}),
            "resolved",
        ),
        "validate" => (
            "mutation($data: BranchNameInput!) { \
             BranchValidate(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"name": name}}),
            "validated",
        ),
        "rebase" => (
            "mutation($data: BranchNameInput!) { \
             BranchRebase(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"name": name}}),
            "rebased",
        ),
        "merge" => (
            "mutation($data: BranchNameInput!) { \
             BranchMerge(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"name": name}}),
            "merged",
        ),
        "delete" => (
            "mutation($data: BranchNameInput!) { \
             BranchDelete(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"name": name}}),
            "deleted",
        ),
        _ => {
            return Err(UiError::bad_request(
                "`action` must be one of refresh, resolve, validate, rebase, merge, delete",
            ));
        }
    };
    let (_, errors) = page.graphql_result(query, variables).await?;
    if !errors.is_empty() {
        let status = if errors.iter().any(|e| e.contains("permission")) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return render_branch(&page, &name, status, errors).await;
    }
    if done == "deleted" {
        // The list of branches, on the branch the page was on unless that is the one deleted.
        if page.branch == name {
            let to = super::with_query("/branches", &[("done".into(), done.into())]);
            return Ok(Redirect::to(&to).into_response());
        }
        return Ok(page.redirect("/branches", &[("done", done)]));
    }
    let anchor = match done {
        "resolved" => "#changes",
        _ => "",
    };
    let to = page.redirect(&branch_path(&name), &[("done", done)]);
    Ok(with_anchor(to, anchor))
}

/// `response` (a redirect) with `anchor` appended to its `Location`.
fn with_anchor(mut response: Response, anchor: &str) -> Response {
    if anchor.is_empty() {
        return response;
    }
    let location = response
        .headers()
        .get(axum::http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{v}{anchor}"));
    if let Some(location) = location
        && let Ok(value) = axum::http::HeaderValue::from_str(&location)
    {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    response
}
