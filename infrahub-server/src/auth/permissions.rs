//! What an account may do: its permissions (account → `CoreAccountGroup` membership → roles →
//! `CoreGlobalPermission` and `CoreObjectPermission` nodes), resolved by
//! [`infrahub_core::permissions`], and the checks upstream's GraphQL permission checkers make
//! before a mutation runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use infrahub_core::engine::{Fields, Node, QueryArgs};
use infrahub_core::permissions::{
    GlobalPermission, ObjectPermission, PermissionSet, object_identifier, required_decision,
};
use infrahub_core::schema::SchemaBranch;
use infrahub_graph::NodeId;
use serde_json::Value;

use super::{default_view, storage_error};
use crate::account::{Account, AuthMethod};
use crate::app::ApiError;
use crate::state::AppState;

pub use infrahub_core::permissions::decision;

/// Mutations any account may run on the default branch without `edit_default_branch`, as
/// upstream.
const DEFAULT_BRANCH_EXEMPT: [&str; 8] = [
    "BranchCreate",
    "BranchDelete",
    "BranchRebase",
    "DiffUpdate",
    "InfrahubAccountSelfUpdate",
    "InfrahubAccountTokenCreate",
    "InfrahubAccountTokenDelete",
    "InfrahubSetPreferences",
];

/// Mutations that act on the caller's own account and need a login session (JWT), not an API
/// token, as upstream.
const SELF_SERVICE: [&str; 3] = [
    "InfrahubAccountSelfUpdate",
    "InfrahubAccountTokenCreate",
    "InfrahubAccountTokenDelete",
];

/// The permissions of `account`, from the cache or the database.
///
/// # Errors
///
/// A 500 [`ApiError`] when the database cannot be read.
pub async fn permission_set(
    state: &AppState,
    account: &Account,
) -> Result<Arc<PermissionSet>, ApiError> {
    if account.method == AuthMethod::Internal {
        use infrahub_core::permissions::{GlobalPermission, SUPER_ADMIN};
        return Ok(Arc::new(PermissionSet {
            global: vec![GlobalPermission {
                action: SUPER_ADMIN.to_owned(),
                decision: decision::ALLOW_ALL,
            }],
            object: Vec::new(),
        }));
    }
    if let Some(cached) = state.auth_cache.permissions(&account.id) {
        return Ok(cached);
    }
    let epoch = state.auth_cache.epoch();
    let set = Arc::new(load_permissions(state, Some(account)).await?);
    state
        .auth_cache
        .store_permissions(&account.id, Arc::clone(&set), epoch);
    Ok(set)
}

/// The cache key of the anonymous caller's permissions (no account id is empty).
const ANONYMOUS: &str = "";

/// The permissions of the caller: `account`'s, or for a request without credentials those of
/// the anonymous access role (`main.anonymous_access_role`), from the cache or the database.
///
/// # Errors
///
/// A 500 [`ApiError`] when the database cannot be read.
pub async fn caller_permissions(
    state: &AppState,
    account: Option<&Account>,
) -> Result<Arc<PermissionSet>, ApiError> {
    if let Some(account) = account {
        return permission_set(state, account).await;
    }
    if let Some(cached) = state.auth_cache.permissions(ANONYMOUS) {
        return Ok(cached);
    }
    let epoch = state.auth_cache.epoch();
    let set = Arc::new(load_permissions(state, None).await?);
    state
        .auth_cache
        .store_permissions(ANONYMOUS, Arc::clone(&set), epoch);
    Ok(set)
}

/// Whether `account` holds global permission `action` (`manage_schema`, ...) or `super_admin`,
/// and no deny of it. Anonymous callers hold none.
///
/// # Errors
///
/// A 500 [`ApiError`] when the database cannot be read.
pub async fn has_global_permission(
    state: &AppState,
    account: Option<&Account>,
    action: &str,
) -> Result<bool, ApiError> {
    match account {
        Some(account) => Ok(permission_set(state, account).await?.has_global(action)),
        None => Ok(false),
    }
}

/// Fails with upstream's 403 unless `account` holds global permission `action`.
///
/// # Errors
///
/// A 403 [`ApiError`] naming what is not allowed; a 500 when the database cannot be read.
pub async fn require_global_permission(
    state: &AppState,
    account: &Account,
    action: &str,
) -> Result<(), ApiError> {
    if has_global_permission(state, Some(account), action).await? {
        return Ok(());
    }
    Err(forbidden(global_denial(action)))
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// Upstream's message refusing global permission `action`.
fn global_denial(action: &str) -> String {
    match action {
        "edit_default_branch" => "You are not allowed to change data in the default branch".into(),
        "merge_branch" => "You are not allowed to merge a branch".into(),
        "rebase_branch" => "You are not allowed to rebase a branch".into(),
        "manage_schema" => "You are not allowed to manage the schema".into(),
        "manage_accounts" => "You are not allowed to manage user accounts, groups or roles".into(),
        "manage_permissions" => "You are not allowed to manage permissions".into(),
        "manage_repositories" => "You are not allowed to manage repositories".into(),
        other => format!("You do not have the following permission: global:{other}:allow_all"),
    }
}

/// What a GraphQL operation asks to do, as authorization sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OperationAccess<'a> {
    /// Query, mutation or subscription.
    pub operation: async_graphql::parser::types::OperationType,
    /// The names of its root fields, each once (aliases set aside, through fragments).
    pub root_fields: &'a [String],
    /// The kinds whose attributes or relationships it reads, each once (for a mutation, in
    /// the node it answers).
    pub kinds_read: &'a [String],
    /// Whether it reads the links between roles and permissions (`manage_permissions`).
    pub reads_permission_links: bool,
}

/// The one place every GraphQL operation is authorized before it runs, whichever path answers
/// it (a compiled plan or async-graphql's executor): mutations need an account and the
/// permissions [`check_mutation`] lists; queries need the `view` object permission of every
/// kind they read (for requests without credentials, the anonymous access role's). Checks that depend on
/// stored data (the concrete kind of a node mutated through a generic, the peers of a
/// relationship mutation) are made by the mutations themselves with [`check_mutation`].
///
/// Returns the caller's permissions (loaded once per request, from the cache), for the
/// `permissions` fields.
///
/// # Errors
///
/// A 401 [`ApiError`] for a mutation without an account; what [`check_mutation`] reports; a 403
/// naming the missing permissions.
pub(crate) async fn authorize_operation(
    state: &AppState,
    account: Option<&Account>,
    branch: &str,
    schema: &SchemaBranch,
    access: OperationAccess<'_>,
) -> Result<Arc<PermissionSet>, ApiError> {
    use async_graphql::parser::types::OperationType;
    let mutation = access.operation == OperationType::Mutation;
    if mutation && account.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication is required to perform this operation",
        ));
    }
    let permissions = caller_permissions(state, account).await?;
    let on_default = branch == state.engine.default_branch();
    // The object action each kind read needs: `view`, or for a mutation `update` on the
    // other kinds its answer reads (as upstream), the mutated kinds being checked apart.
    let (action, exempt): (&str, Vec<String>) = match account {
        Some(account) if mutation => {
            check_mutation_with(
                state,
                &permissions,
                account,
                branch,
                schema,
                access.root_fields,
            )?;
            let mutated = access
                .root_fields
                .iter()
                .filter_map(|field| mutated_kind(schema, field).map(|(kind, _)| kind))
                .collect();
            ("update", mutated)
        }
        _ => {
            if access.reads_permission_links && !permissions.has_global("manage_permissions") {
                return Err(forbidden(global_denial("manage_permissions")));
            }
            ("view", Vec::new())
        }
    };
    let missing: Vec<String> = access
        .kinds_read
        .iter()
        .filter(|kind| {
            !exempt.contains(kind) && !permissions.allows_object(kind, action, on_default)
        })
        .map(|kind| object_identifier(kind, action, required_decision(on_default)))
        .collect();
    match missing.as_slice() {
        [] => Ok(permissions),
        // Upstream words mutation refusals with the plural form, one permission or several.
        _ if mutation => Err(forbidden(format!(
            "You do not have one of the following permissions: {}",
            missing.join(" | ")
        ))),
        _ => Err(missing_permissions(&missing)),
    }
}

/// Upstream's refusal naming the object permissions a read lacks.
fn missing_permissions(missing: &[String]) -> ApiError {
    forbidden(match missing {
        [one] => format!("You do not have the following permission: {one}"),
        many => format!(
            "You do not have one of the following permissions: {}",
            many.join(" | ")
        ),
    })
}

/// Checks that `account` may run mutations `fields` (the root field names of the operation)
/// on `branch` with `schema`, as upstream's permission checkers do before a mutation runs:
///
/// - super admins may do everything;
/// - on the default branch, `edit_default_branch`, unless every mutation is one of the few
///   that upstream exempts (`BranchCreate`, `InfrahubAccountSelfUpdate`, ...);
/// - `BranchMerge` needs `merge_branch`, `BranchRebase` needs `rebase_branch`;
/// - a mutation of an account, group or role kind needs `manage_accounts`, of a repository
///   kind `manage_repositories`, of a permission kind or a role `manage_permissions`;
/// - `<Kind>Create`, `Update`, `Delete` (`Upsert`: create and update) need the object
///   permission of that action on the kind for the branch;
/// - the self-service account mutations need a login session, not an API token.
///
/// # Errors
///
/// A 403 [`ApiError`] with upstream's message; a 500 when the database cannot be read.
pub(crate) async fn check_mutation(
    state: &AppState,
    account: &Account,
    branch: &str,
    schema: &SchemaBranch,
    fields: &[String],
) -> Result<(), ApiError> {
    let permissions = permission_set(state, account).await?;
    check_mutation_with(state, &permissions, account, branch, schema, fields)
}

/// [`check_mutation`] with `account`'s permissions already loaded.
fn check_mutation_with(
    state: &AppState,
    permissions: &PermissionSet,
    account: &Account,
    branch: &str,
    schema: &SchemaBranch,
    fields: &[String],
) -> Result<(), ApiError> {
    if account.method != AuthMethod::AccessToken
        && fields.iter().any(|f| SELF_SERVICE.contains(&f.as_str()))
    {
        return Err(forbidden(
            "This operation requires authentication with a JWT token",
        ));
    }
    if permissions.is_super_admin() {
        return Ok(());
    }
    let on_default = branch == state.engine.default_branch();
    let require = |action: &str| {
        if permissions.has_global(action) {
            Ok(())
        } else {
            Err(forbidden(global_denial(action)))
        }
    };
    if on_default
        && !fields
            .iter()
            .all(|f| DEFAULT_BRANCH_EXEMPT.contains(&f.as_str()))
    {
        require("edit_default_branch")?;
    }
    for field in fields {
        match field.as_str() {
            "BranchMerge" => require("merge_branch")?,
            "BranchRebase" => require("rebase_branch")?,
            "InfrahubRepositoryProcess" | "InfrahubRepositoryConnectivity" => {
                require("manage_repositories")?;
            }
            _ => {}
        }
    }
    let mut wanted = Vec::new();
    for field in fields {
        let Some((kind, actions)) = mutated_kind(schema, field) else {
            continue;
        };
        let inherits = schema
            .get(&kind)
            .map(|m| m.inherit_from.clone())
            .unwrap_or_default();
        let is = |target: &str| kind == target || inherits.iter().any(|g| g == target);
        if is("CoreGenericAccount") || is("CoreAccountGroup") || is("CoreAccountRole") {
            require("manage_accounts")?;
        }
        if is("CoreGenericRepository") {
            require("manage_repositories")?;
        }
        if is("CoreBasePermission") || is("CoreAccountRole") {
            require("manage_permissions")?;
        }
        for action in actions {
            wanted.push((kind.clone(), *action));
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(kind, action)| !permissions.allows_object(kind, action, on_default))
        .map(|(kind, action)| object_identifier(kind, action, required_decision(on_default)))
        .collect();
    if !missing.is_empty() {
        return Err(forbidden(format!(
            "You do not have one of the following permissions: {}",
            missing.join(" | ")
        )));
    }
    Ok(())
}

/// The kind a `<Kind><Action>` mutation writes and the object actions it needs, when the
/// name is such a mutation of a kind of `schema`.
fn mutated_kind(schema: &SchemaBranch, field: &str) -> Option<(String, &'static [&'static str])> {
    const SUFFIXES: [(&str, &[&str]); 4] = [
        ("Create", &["create"]),
        ("Update", &["update"]),
        ("Delete", &["delete"]),
        ("Upsert", &["create", "update"]),
    ];
    SUFFIXES.iter().find_map(|(suffix, actions)| {
        let kind = field.strip_suffix(suffix)?;
        schema.has(kind).then(|| (kind.to_string(), *actions))
    })
}

/// Every global and object permission the caller holds through its roles (an account's
/// groups' roles, or the anonymous access role; none when it does not exist).
async fn load_permissions(
    state: &AppState,
    account: Option<&Account>,
) -> Result<PermissionSet, ApiError> {
    role_permissions(state, caller_roles(state, account).await?).await
}

/// The roles the caller acts with: those of `account`'s groups, or the anonymous access role
/// for requests without credentials.
async fn caller_roles(
    state: &AppState,
    account: Option<&Account>,
) -> Result<Vec<NodeId>, ApiError> {
    let view = default_view(state);
    let (kind, filter, value, fields) = match account {
        Some(account) => (
            "CoreAccountGroup",
            "members__ids",
            Value::from(vec![account.id.clone()]),
            links("roles"),
        ),
        None => (
            "CoreAccountRole",
            "name__value",
            Value::from(state.settings.main.anonymous_access_role.clone()),
            Fields::minimal(),
        ),
    };
    let args = QueryArgs {
        filters: BTreeMap::from([(filter.to_string(), value)]),
        ..QueryArgs::default()
    };
    let (found, _) = state
        .engine
        .query(&view, kind, &args, &fields)
        .await
        .map_err(storage_error)?;
    Ok(match account {
        Some(_) => peer_ids(&found, "roles"),
        None => found.iter().map(|role| role.id).collect(),
    })
}

/// The global and object permission nodes the caller holds through its roles (see
/// [`caller_roles`]), with every attribute.
pub(crate) async fn caller_permission_nodes(
    state: &AppState,
    account: Option<&Account>,
) -> Result<(Vec<Node>, Vec<Node>), ApiError> {
    let roles = caller_roles(state, account).await?;
    permission_nodes(state, roles).await
}

/// The global and object permission nodes the roles `roles` hold.
async fn permission_nodes(
    state: &AppState,
    roles: Vec<NodeId>,
) -> Result<(Vec<Node>, Vec<Node>), ApiError> {
    if roles.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let view = default_view(state);
    let engine = &state.engine;
    let roles = engine
        .get(&view, "CoreAccountRole", &roles, &links("permissions"))
        .await
        .map_err(storage_error)?;
    let permissions = peer_ids(&roles, "permissions");
    if permissions.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let all = Fields::default();
    let globals = engine
        .get(&view, "CoreGlobalPermission", &permissions, &all)
        .await
        .map_err(storage_error)?;
    let objects = engine
        .get(&view, "CoreObjectPermission", &permissions, &all)
        .await
        .map_err(storage_error)?;
    Ok((globals, objects))
}

/// Every global and object permission the roles `roles` hold.
async fn role_permissions(state: &AppState, roles: Vec<NodeId>) -> Result<PermissionSet, ApiError> {
    let (globals, objects) = permission_nodes(state, roles).await?;
    let global = globals
        .iter()
        .filter_map(|permission| {
            Some(GlobalPermission {
                action: permission.value("action").as_str()?.to_string(),
                decision: permission.value("decision").as_i64()?,
            })
        })
        .collect();
    let object = objects
        .iter()
        .filter_map(|permission| {
            Some(ObjectPermission {
                namespace: permission.value("namespace").as_str()?.to_string(),
                name: permission.value("name").as_str()?.to_string(),
                action: permission.value("action").as_str()?.to_string(),
                decision: permission.value("decision").as_i64()?,
            })
        })
        .collect();
    Ok(PermissionSet { global, object })
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
