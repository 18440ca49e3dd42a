//! `GET /api/diff/files?branch=&time_from=&time_to=`: for each repository whose imported
//! commit on `branch` differs from its commit on the default branch, the files the branch's
//! commit changes, as upstream answers it:
//! `{<branch>: {<repository id>: {branch, id, display_name, commit_from, commit_to, files:
//! [{branch, location, action}]}}}` with `action` `added`, `removed` or `updated`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infrahub_graph::{BranchView, Timestamp};
use infrahub_worker::repositories::GENERIC_REPOSITORY;
use serde_json::{Map, Value, json};

use super::body::Params;
use super::branch_schema;
use super::error::RestError;
use crate::app::{ApiError, AppState};
use crate::auth::Caller;

fn time(params: &Params, name: &str) -> Result<Option<Timestamp>, RestError> {
    match params.get(name).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Timestamp::parse(text).map(Some).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid `{name}`: {error}"),
            )
            .into()
        }),
    }
}

/// `GET /api/diff/files`.
pub(super) async fn files(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    params: Params,
) -> Result<Response, RestError> {
    let (branch, _) = branch_schema(&state, &params)?;
    let default = state.engine.default_branch().to_owned();
    let time_from = time(&params, "time_from")?;
    let time_to = time(&params, "time_to")?;
    let mut answer = Map::new();
    if branch == default {
        answer.insert(branch, json!({}));
        return Ok(Json(Value::Object(answer)).into_response());
    }
    let view_to = match time_to {
        Some(at) => BranchView::at(&branch, at),
        None => BranchView::now(&branch),
    };
    let view_from = match time_from {
        Some(at) => BranchView::at(&default, at),
        None => BranchView::now(&default),
    };
    let unavailable = |error: infrahub_worker::Error| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.message().to_owned())
    };
    let records = state
        .repositories
        .list(&branch, GENERIC_REPOSITORY)
        .await
        .map_err(unavailable)?;
    let mut repositories = Map::new();
    for record in records {
        let Some(commit_to) = state
            .repositories
            .record(&view_to, &record.id)
            .await
            .ok()
            .and_then(|r| r.commit)
        else {
            continue;
        };
        let commit_from = state
            .repositories
            .record(&view_from, &record.id)
            .await
            .ok()
            .and_then(|r| r.commit);
        let Some(commit_from) = commit_from.filter(|from| *from != commit_to) else {
            continue;
        };
        let remote = state
            .repositories
            .remote(&record)
            .await
            .map_err(unavailable)?;
        let (from, to) = (commit_from.clone(), commit_to.clone());
        let changed = state
            .repositories
            .with_mirror(&record, remote, false, move |mirror| {
                if !mirror.has_commit(&from) || !mirror.has_commit(&to) {
                    mirror.fetch()?;
                }
                mirror.changed_files(&from, &to)
            })
            .await
            .map_err(unavailable)?
            .map_err(|error| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.message().to_owned())
            })?;
        let files: Vec<Value> = changed
            .into_iter()
            .map(|(location, action)| {
                json!({"branch": branch, "location": location, "action": action})
            })
            .collect();
        repositories.insert(
            record.id.clone(),
            json!({
                "branch": branch,
                "id": record.id,
                "display_name": record.name,
                "commit_from": commit_from,
                "commit_to": commit_to,
                "files": files,
            }),
        );
    }
    answer.insert(branch, Value::Object(repositories));
    Ok(Json(Value::Object(answer)).into_response())
}
