//! `/api/storage/files/...`: the file of a node whose kind inherits `CoreFileObject`, by node
//! id, by the file's `storage_id`, or by the node's kind and human-friendly id, as upstream
//! 1.11 serves it (what the SDK's `download_file` reads). The caller needs the `view`
//! permission of the node's kind; the answer carries the file's media type and a
//! `Content-Disposition` naming it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use infrahub_core::engine::{FILE_OBJECT, Fields, NodeRef, QueryArgs};
use infrahub_graph::BranchView;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::json;

use super::body::Params;
use super::error::RestError;
use crate::app::{ApiError, AppState};
use crate::auth::Caller;

fn not_found(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, what.to_string())
}

/// The branch (`branch`, see [`super::branch_schema`]) and instant (`at`) a download reads.
fn view_of(state: &AppState, params: &Params) -> Result<BranchView, RestError> {
    Ok(super::request_view(state, params)?.1)
}

/// The answer for the file of node `id` on `view`, once the caller may see it.
async fn answer(
    state: &AppState,
    caller: &Caller,
    view: &BranchView,
    id: infrahub_graph::NodeId,
    preview: bool,
) -> Result<Response, RestError> {
    let node = state
        .engine
        .get_any(view, &[id], &Fields::default())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .pop()
        .ok_or_else(|| not_found(&format!("Unable to find the node {id} in the database.")))?;
    let schema = state
        .engine
        .schema(&view.branch)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let carries_file = schema
        .get(&node.kind)
        .is_some_and(|m| m.inherit_from.iter().any(|g| g == FILE_OBJECT));
    if !carries_file {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("'{}' is not a file object", node.kind),
        )
        .into());
    }
    let permissions = crate::auth::caller_permissions(state, caller.0.as_ref()).await?;
    let on_default = view.branch == state.engine.default_branch();
    if !permissions.allows_object(&node.kind, "view", on_default) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "You do not have one of the following permissions: {}",
                infrahub_core::permissions::object_identifier(
                    &node.kind,
                    "view",
                    infrahub_core::permissions::required_decision(on_default),
                )
            ),
        )
        .into());
    }
    let text = |name: &str| node.value(name).as_str().unwrap_or_default().to_string();
    let storage_id = text("storage_id");
    let stored = state
        .objects
        .get(&ObjectPath::from(storage_id.as_str()))
        .await
        .map_err(|_| not_found(&format!("the file of {id} is not in the object store")))?;
    let bytes = stored.bytes().await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("object store: {e}"),
        )
    })?;
    let mut response = Response::new(Body::from(bytes));
    let media_type = text("file_type");
    if let Ok(value) = HeaderValue::from_str(if media_type.is_empty() {
        "application/octet-stream"
    } else {
        &media_type
    }) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&text("file_name"), preview)) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A `Content-Disposition` naming `name` safely: control characters dropped, quotes and
/// semicolons replaced, at most 255 characters, an ASCII `filename` and the exact name
/// percent-encoded in `filename*`.
fn content_disposition(name: &str, preview: bool) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '"' => '\'',
            ';' => '_',
            other => other,
        })
        .take(255)
        .collect();
    let ascii: String = clean
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let encoded: String = clean
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = if preview { "inline" } else { "attachment" };
    format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn preview_of(params: &Params) -> bool {
    params.get("preview") == Some("true")
}

/// `GET /api/storage/files/{node_id}`.
pub(super) async fn by_node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(node_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let view = view_of(&state, &params)?;
    let id = node_id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{node_id}` is not a node id"),
        )
    })?;
    answer(&state, &caller, &view, id, preview_of(&params)).await
}

/// `GET /api/storage/files/by-storage-id/{storage_id}`.
pub(super) async fn by_storage_id(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(storage_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let view = view_of(&state, &params)?;
    let mut args = QueryArgs::default();
    args.filters
        .insert("storage_id__value".into(), json!(storage_id));
    args.limit = Some(1);
    let (nodes, _) = state
        .engine
        .query(&view, FILE_OBJECT, &args, &Fields::minimal())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let node = nodes
        .first()
        .ok_or_else(|| not_found(&format!("no file object holds `{storage_id}`")))?;
    answer(&state, &caller, &view, node.id, preview_of(&params)).await
}

/// `GET /api/storage/files/by-hfid/{kind}?hfid=...&hfid=...`.
pub(super) async fn by_hfid(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(kind): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let hfid: Vec<String> = params
        .0
        .iter()
        .filter(|(k, _)| k == "hfid")
        .map(|(_, v)| v.clone())
        .collect();
    if hfid.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "`hfid` is required").into());
    }
    let view = view_of(&state, &params)?;
    let carries_file = state.engine.schema(&view.branch).is_ok_and(|schema| {
        schema
            .get(&kind)
            .is_some_and(|m| m.inherit_from.iter().any(|g| g == FILE_OBJECT))
    });
    if !carries_file {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("'{kind}' is not a file object"),
        )
        .into());
    }
    let reference = NodeRef {
        id: None,
        hfid: Some(hfid),
    };
    let id = state
        .engine
        .resolve(&view, &kind, &reference)
        .await
        .map_err(|e| not_found(e.message()))?;
    answer(&state, &caller, &view, id, preview_of(&params)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_break_the_header() {
        assert_eq!(
            content_disposition("a\"b;c\r\nd.txt", false),
            "attachment; filename=\"a'b_cd.txt\"; filename*=UTF-8''a%27b_cd.txt"
        );
        assert_eq!(
            content_disposition("é.pdf", true),
            "inline; filename=\"_.pdf\"; filename*=UTF-8''%C3%A9.pdf"
        );
    }
}
