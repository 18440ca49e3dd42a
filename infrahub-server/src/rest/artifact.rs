//! Artifacts over REST, as upstream:
//!
//! - `GET /api/artifact/{artifact_id}?branch=&at=`: the artifact's content from the object
//!   store, with its `content_type` (the caller needs `view` on `CoreArtifact`).
//! - `POST /api/artifact/generate/{definition_id}?branch=` with `{"nodes": [artifact ids]}`
//!   (optional): submits the generation of the definition's artifacts (all, or those listed)
//!   and answers `null`; needs `create` and `update` on `CoreArtifact`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use infrahub_core::engine::Fields;
use infrahub_core::permissions::{object_identifier, required_decision};
use infrahub_graph::{BranchView, NodeId};
use object_store::ObjectStoreExt;
use serde_json::Value;

use super::body::{BodyFields, JsonBody, Params};
use super::branch_schema;
use super::error::{RestError, engine_error};
use crate::app::{ApiError, AppState};
use crate::auth::{Authenticated, Caller};

const ARTIFACT: &str = "CoreArtifact";
const ARTIFACT_DEFINITION: &str = "CoreArtifactDefinition";
/// The most artifact ids one generation request may list.
const MAX_NODES: usize = 10_000;

fn forbidden(action: &str, on_default: bool) -> RestError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "You do not have one of the following permissions: {}",
            object_identifier(ARTIFACT, action, required_decision(on_default))
        ),
    )
    .into()
}

/// `GET /api/artifact/{artifact_id}`.
pub(super) async fn get_artifact(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(artifact_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let (branch, view) = super::request_view(&state, &params)?;
    let permissions = crate::auth::caller_permissions(&state, caller.0.as_ref()).await?;
    let on_default = branch == state.engine.default_branch();
    if !permissions.allows_object(ARTIFACT, "view", on_default) {
        return Err(forbidden("view", on_default));
    }
    let not_found = || -> RestError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("artifact `{artifact_id}` not found on branch `{branch}`"),
        )
        .into()
    };
    let Ok(id) = artifact_id.parse::<NodeId>() else {
        return Err(not_found());
    };
    let fields = Fields {
        attributes: Some(vec!["storage_id".to_owned(), "content_type".to_owned()]),
        relationships: Vec::new(),
    };
    let artifact = state
        .engine
        .get(&view, ARTIFACT, &[id], &fields)
        .await
        .map_err(|error| engine_error(&error))?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    let Some(storage_id) = artifact.value("storage_id").as_str().map(str::to_owned) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("artifact `{artifact_id}` has no content yet"),
        )
        .into());
    };
    let path = object_store::path::Path::from(storage_id.as_str());
    let bytes = match state.objects.get(&path).await {
        Ok(stored) => stored.bytes().await,
        Err(error) => Err(error),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("the content of artifact `{artifact_id}` is not in the object store"),
            )
            .into());
        }
        Err(error) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("reading the object store: {error}"),
            )
            .into());
        }
    };
    let content_type = artifact
        .value("content_type")
        .as_str()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// `POST /api/artifact/generate/{definition_id}`.
pub(super) async fn generate(
    State(state): State<Arc<AppState>>,
    Authenticated(account): Authenticated,
    Path(definition_id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Response, RestError> {
    let (branch, _) = branch_schema(&state, &params)?;
    let mut fields = BodyFields::new(body.as_ref(), false);
    let nodes = fields.optional_array("nodes").cloned();
    fields.finish()?;
    let nodes: Option<Vec<String>> = match nodes {
        None => None,
        Some(items) => {
            if items.len() > MAX_NODES {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("`nodes` holds at most {MAX_NODES} artifact ids"),
                )
                .into());
            }
            Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            RestError::from(ApiError::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "`nodes` must be a list of artifact ids",
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    };
    submit_generation(&state, &account, &branch, &definition_id, nodes).await?;
    Ok(Json(Value::Null).into_response())
}

/// Submits the generation of the artifacts of definition `definition_id` on `branch` (all, or
/// the artifacts `nodes` names) as `account`, which needs `create` and `update` on
/// `CoreArtifact`; the task's id.
pub(crate) async fn submit_generation(
    state: &Arc<AppState>,
    account: &crate::account::Account,
    branch: &str,
    definition_id: &str,
    nodes: Option<Vec<String>>,
) -> Result<String, RestError> {
    let permissions = crate::auth::permission_set(state, account).await?;
    let on_default = branch == state.engine.default_branch();
    for action in ["create", "update"] {
        if !permissions.allows_object(ARTIFACT, action, on_default) {
            return Err(forbidden(action, on_default));
        }
    }
    let view = BranchView::now(branch);
    let fields = Fields {
        attributes: Some(vec!["name".to_owned()]),
        relationships: Vec::new(),
    };
    let definition = match definition_id.parse::<NodeId>() {
        Ok(id) => state
            .engine
            .get(&view, ARTIFACT_DEFINITION, &[id], &fields)
            .await
            .map_err(|error| engine_error(&error))?
            .into_iter()
            .next(),
        Err(_) => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("artifact definition `{definition_id}` not found on branch `{branch}`"),
        )
    })?;
    let mut submission = infrahub_worker::workflows::generate_submission(
        &definition.id.to_string(),
        definition.value("name").as_str(),
        branch,
    );
    // An empty list means every artifact, as the SDK's `generate()` sends it.
    if let Some(nodes) = nodes.filter(|nodes| !nodes.is_empty()) {
        submission.parameters["limit"] = Value::from(nodes);
    }
    submission.account = Some(account.id.clone());
    let task = state.tasks.submit(submission).await.map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("submitting the generation: {error}"),
        )
    })?;
    Ok(task.id)
}
