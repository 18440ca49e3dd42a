//! Repository content over REST, as upstream:
//!
//! - `GET /api/transform/jinja2/{transform_id}?branch=&at=&<variable>=...`: runs the
//!   transform's stored query (every other parameter is a string variable; a failing query
//!   answers 502 naming it) and renders its template from the repository's current commit
//!   with `{"data": <query data>}`; `text/plain`.
//! - `GET /api/transform/python/{transform_id}?branch=&at=&<variable>=...`: the same with a
//!   Python transform run in this process's Python pool; the JSON value it returns.
//! - `GET /api/file/{repository_id}/{file_path}?branch=&at=&commit=`: a file of the
//!   repository at `commit` (default: the repository's current commit); 403 for a path
//!   outside the repository, 404 for a missing file.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use infrahub_core::engine::{Fields, Node};
use infrahub_git::repository::RepositoryErrorKind;
use infrahub_graph::BranchView;
use infrahub_worker::repositories::{RenderFailure, RepositoryRecord};
use serde_json::{Map, Value, json};

use super::body::Params;
use super::error::{RestError, engine_error};
use super::query::{Stored, run_stored};
use super::request_view;
use crate::app::{ApiError, AppState};
use crate::auth::Caller;

/// Query-string parameters that are not variables of a transform's query.
const RESERVED: [&str; 2] = ["branch", "at"];

/// The node of `kind` whose id, else name, is `id_or_name`, through `view`.
async fn find_node(
    state: &AppState,
    view: &BranchView,
    kind: &str,
    id_or_name: &str,
    fields: &Fields,
) -> Result<Option<Node>, RestError> {
    state
        .engine
        .find(view, kind, id_or_name, fields)
        .await
        .map_err(|error| engine_error(&error).into())
}

/// The repository `id` through `view`, as the worker reads it.
async fn repository(
    state: &AppState,
    view: &BranchView,
    id: &str,
) -> Result<RepositoryRecord, RestError> {
    state
        .repositories
        .record(view, id)
        .await
        .map_err(|error| match error.kind() {
            infrahub_worker::ErrorKind::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, error.message().to_owned()).into()
            }
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.message().to_owned()).into(),
        })
}

fn text_response(text: Vec<u8>) -> Response {
    let content_type = if std::str::from_utf8(&text).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// A transform's failure, as upstream's `TransformError` (500).
fn transform_error(message: String) -> RestError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message).into()
}

/// What a transform request resolved: the transform, its repository at its commit, and its
/// query's data.
struct Resolved {
    branch: String,
    transform: Node,
    name: String,
    record: RepositoryRecord,
    commit: String,
    data: Value,
}

/// Finds transform `transform_id` of `kind`, its repository and commit, and runs its query
/// with the request's other parameters as variables; `Err(response)` for the query's 502.
async fn resolve(
    state: &Arc<AppState>,
    account: Option<crate::account::Account>,
    kind: &str,
    label: &str,
    transform_id: &str,
    params: &Params,
) -> Result<Result<Resolved, Response>, RestError> {
    let (branch, view) = request_view(state, params)?;
    let fields = Fields {
        attributes: None,
        relationships: vec!["query".to_owned(), "repository".to_owned()],
    };
    let transform = find_node(state, &view, kind, transform_id, &fields)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{label} transform `{transform_id}` not found on branch `{branch}`"),
            )
        })?;
    let name = transform
        .value("name")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (Some(query), Some(repository_peer)) = (
        transform.peers("query").first(),
        transform.peers("repository").first(),
    ) else {
        return Err(transform_error(format!(
            "transform `{name}` has no query or no repository"
        )));
    };
    let record = repository(state, &view, &repository_peer.id.to_string()).await?;
    let Some(commit) = record.commit.clone() else {
        return Err(transform_error(format!(
            "repository `{}` of transform `{name}` has no commit yet: its import has not finished or it failed (sync_status {})",
            record.name, record.sync_status
        )));
    };
    let mut variables = Map::new();
    for (key, value) in &params.0 {
        if !RESERVED.contains(&key.as_str()) {
            variables.insert(key.clone(), Value::String(value.clone()));
        }
    }
    let at = params.get("at").filter(|text| !text.is_empty());
    let data = match run_stored(
        state,
        account,
        &branch,
        at,
        &view,
        &query.id.to_string(),
        variables,
        false,
    )
    .await?
    {
        Stored::Data(data) => data,
        Stored::Failed(response) => return Ok(Err(response)),
    };
    Ok(Ok(Resolved {
        branch,
        transform,
        name,
        record,
        commit,
        data,
    }))
}

/// `GET /api/transform/jinja2/{transform_id}`.
pub(super) async fn jinja2(
    State(state): State<Arc<AppState>>,
    Caller(account): Caller,
    Path(transform_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let resolved = match resolve(
        &state,
        account,
        "CoreTransformJinja2",
        "Jinja2",
        &transform_id,
        &params,
    )
    .await?
    {
        Ok(resolved) => resolved,
        Err(response) => return Ok(response),
    };
    let Resolved {
        transform,
        name,
        record,
        commit,
        data,
        ..
    } = resolved;
    let template_path = transform
        .value("template_path")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rendered = state
        .repositories
        .render_jinja2(&record, &commit, &template_path, json!({ "data": data }))
        .await
        .map_err(|error| transform_error(error.message().to_owned()))?;
    match rendered {
        Ok(text) => Ok(text_response(text.into_bytes())),
        Err(failure) => Err(transform_error(match failure {
            RenderFailure::Template(error) => format!(
                "transform `{name}` (repository `{}`, commit {commit}): {error}",
                record.name
            ),
            RenderFailure::Repository(error) => format!(
                "transform `{name}`: repository `{}`: {}",
                record.name,
                error.message()
            ),
        })),
    }
}

/// `GET /api/transform/python/{transform_id}`: the JSON value the transform returns.
pub(super) async fn python(
    State(state): State<Arc<AppState>>,
    Caller(account): Caller,
    Path(transform_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let resolved = match resolve(
        &state,
        account,
        "CoreTransformPython",
        "Python",
        &transform_id,
        &params,
    )
    .await?
    {
        Ok(resolved) => resolved,
        Err(response) => return Ok(response),
    };
    let Resolved {
        branch,
        transform,
        name,
        record,
        commit,
        data,
    } = resolved;
    let text = |field: &str| {
        transform
            .value(field)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let timeout = std::time::Duration::from_secs(
        transform
            .value("timeout")
            .as_u64()
            .filter(|t| *t > 0)
            .unwrap_or(60),
    );
    let result = state
        .repositories
        .run_python_transform(
            &record,
            &commit,
            &text("file_path"),
            &text("class_name"),
            &branch,
            transform
                .value("convert_query_response")
                .as_bool()
                .unwrap_or(false),
            json!({ "data": data }),
            timeout,
        )
        .await
        .map_err(|error| transform_error(error.message().to_owned()))?;
    match result {
        Ok(value) => Ok(axum::Json(value).into_response()),
        Err(error) => Err(transform_error(format!(
            "transform `{name}` (repository `{}`, commit {commit}, {}): {error}",
            record.name,
            text("file_path")
        ))),
    }
}

/// `GET /api/file/{repository_id}/{file_path}`.
pub(super) async fn file(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path((repository_id, file_path)): Path<(String, String)>,
    params: Params,
) -> Result<Response, RestError> {
    let (_, view) = request_view(&state, &params)?;
    let record = repository(&state, &view, &repository_id).await?;
    let commit = match params.get("commit").filter(|c| !c.is_empty()) {
        Some(commit) => {
            if commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("`{commit}` is not a commit id (40 hexadecimal digits)"),
                )
                .into());
            }
            commit.to_ascii_lowercase()
        }
        None => record.commit.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "repository `{}` has no commit yet; give one with `commit=`",
                    record.name
                ),
            )
        })?,
    };
    let content = state
        .repositories
        .read_file(&record, &commit, &file_path)
        .await
        .map_err(|error| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.message().to_owned())
        })?;
    match content {
        Ok(bytes) => Ok(text_response(bytes)),
        Err(error) => {
            let status = match error.kind() {
                RepositoryErrorKind::NotFound => StatusCode::NOT_FOUND,
                RepositoryErrorKind::InvalidInput
                    if error.message().contains("is not a path inside") =>
                {
                    StatusCode::FORBIDDEN
                }
                RepositoryErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            Err(ApiError::new(status, error.message().to_owned()).into())
        }
    }
}
