//! Global permissions of an account: account → `CoreAccountGroup` membership → roles →
//! `CoreGlobalPermission` nodes, resolved as upstream resolves them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_graph::NodeId;
use serde_json::Value;

use super::{default_view, storage_error};
use crate::account::Account;
use crate::app::ApiError;
use crate::state::AppState;

/// The `decision` of a permission: a bit set, as upstream stores it.
pub mod decision {
    /// Denies the action everywhere; wins over any grant of the same action.
    pub const DENY: i64 = 1;
    /// Allows the action on the default branch.
    pub const ALLOW_DEFAULT: i64 = 2;
    /// Allows the action on other branches.
    pub const ALLOW_OTHER: i64 = 4;
    /// Allows the action everywhere.
    pub const ALLOW_ALL: i64 = 6;
}

/// The global action that grants every permission.
const SUPER_ADMIN: &str = "super_admin";

/// Whether `account` holds global permission `action` (`manage_schema`, `edit_default_branch`,
/// ...) with every bit of `required` (a [`decision`] such as `ALLOW_DEFAULT`), and no deny of
/// that action; an account holding `super_admin` (not denied) holds every permission.
/// Anonymous callers hold none.
///
/// # Errors
///
/// A 500 [`ApiError`] when the database cannot be read.
pub async fn has_global_permission(
    state: &AppState,
    account: Option<&Account>,
    action: &str,
    required: i64,
) -> Result<bool, ApiError> {
    let Some(account) = account else {
        return Ok(false);
    };
    let granted = global_permissions(state, account).await?;
    let holds = |wanted: &str, bits: i64| {
        let decisions: Vec<i64> = granted
            .iter()
            .filter(|(name, _)| name == wanted)
            .map(|(_, decision)| *decision)
            .collect();
        !decisions.contains(&decision::DENY)
            && decisions.iter().any(|decision| decision & bits == bits)
    };
    Ok(holds(SUPER_ADMIN, decision::ALLOW_DEFAULT) || holds(action, required))
}

/// Fails with upstream's 403 unless `account` holds `action` for `branch`: `ALLOW_DEFAULT` on
/// the default branch, `ALLOW_OTHER` elsewhere.
///
/// # Errors
///
/// A 403 [`ApiError`] naming what is not allowed; a 500 when the database cannot be read.
pub async fn require_global_permission(
    state: &AppState,
    account: &Account,
    action: &str,
    branch: &str,
) -> Result<(), ApiError> {
    let required = if branch == state.engine.default_branch() {
        decision::ALLOW_DEFAULT
    } else {
        decision::ALLOW_OTHER
    };
    if has_global_permission(state, Some(account), action, required).await? {
        return Ok(());
    }
    let message = match action {
        "edit_default_branch" => "You are not allowed to change data in the default branch".into(),
        "manage_schema" => "You are not allowed to manage the schema".into(),
        "merge_branch" => "You are not allowed to merge a branch".into(),
        "manage_accounts" => "You are not allowed to manage user accounts, groups or roles".into(),
        "manage_permissions" => "You are not allowed to manage permissions".into(),
        "manage_repositories" => "You are not allowed to manage repositories".into(),
        other => {
            let decision = if required == decision::ALLOW_DEFAULT {
                "allow_default"
            } else {
                "allow_other"
            };
            format!("You do not have the following permission: global:{other}:{decision}")
        }
    };
    Err(ApiError::new(StatusCode::FORBIDDEN, message))
}

/// The (action, decision) pairs of every global permission `account` holds through its
/// groups' roles.
async fn global_permissions(
    state: &AppState,
    account: &Account,
) -> Result<Vec<(String, i64)>, ApiError> {
    let view = default_view(state);
    let engine = &state.engine;
    let groups_args = QueryArgs {
        filters: BTreeMap::from([(
            "members__ids".to_string(),
            Value::from(vec![account.id.clone()]),
        )]),
        ..QueryArgs::default()
    };
    let (groups, _) = engine
        .query(&view, "CoreAccountGroup", &groups_args, &links("roles"))
        .await
        .map_err(storage_error)?;
    let roles = peer_ids(&groups, "roles");
    if roles.is_empty() {
        return Ok(Vec::new());
    }
    let roles = engine
        .get(&view, "CoreAccountRole", &roles, &links("permissions"))
        .await
        .map_err(storage_error)?;
    let permissions = peer_ids(&roles, "permissions");
    if permissions.is_empty() {
        return Ok(Vec::new());
    }
    let fields = Fields {
        attributes: Some(vec!["action".to_string(), "decision".to_string()]),
        relationships: Vec::new(),
    };
    // Only `CoreGlobalPermission` nodes are returned; object permissions are left out.
    let permissions = engine
        .get(&view, "CoreGlobalPermission", &permissions, &fields)
        .await
        .map_err(storage_error)?;
    Ok(permissions
        .iter()
        .filter_map(|permission| {
            let action = permission.value("action").as_str()?.to_string();
            let decision = permission.value("decision").as_i64()?;
            Some((action, decision))
        })
        .collect())
}

/// Fields reading only relationship `name`.
fn links(name: &str) -> Fields {
    Fields {
        attributes: Some(Vec::new()),
        relationships: vec![name.to_string()],
    }
}

fn peer_ids(nodes: &[infrahub_core::engine::Node], relationship: &str) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = nodes
        .iter()
        .flat_map(|node| node.peers(relationship).iter().map(|peer| peer.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
