//! TEMPORARY: API-token authentication only, replaced by the full auth module.

use axum::http::{HeaderMap, StatusCode};
use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_graph::BranchView;
use serde_json::json;

use crate::account::{Account, AuthMethod};
use crate::app::ApiError;
use crate::state::AppState;

/// Authenticates a request from its headers.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Account>, ApiError> {
    let Some(token) = headers.get("x-infrahub-key").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let engine = &state.engine;
    let view = BranchView::now(engine.default_branch());
    let mut args = QueryArgs::default();
    args.filters.insert("token__value".into(), json!(token));
    let fields = Fields {
        attributes: Some(vec![]),
        relationships: vec!["account".into()],
    };
    let (nodes, _) = engine
        .query(&view, "InternalAccountToken", &args, &fields)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let Some(account) = nodes.first().and_then(|n| n.peers("account").first()) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token"));
    };
    Ok(Some(Account {
        id: account.id.to_string(),
        name: String::new(),
        method: AuthMethod::ApiToken,
    }))
}
