//! `GET|POST /api/query/{query_id}`: runs a stored `CoreGraphQLQuery`, found by id or name.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_graph::{BranchView, NodeId};
use serde_json::{Map, Value, json};

use super::body::{BodyFields, JsonBody, Params};
use super::error::{RestError, engine_error};
use crate::account::Account;
use crate::app::{ApiError, AppState};
use crate::auth::Caller;
use crate::graphql::{self, GraphqlRequest};

/// Kind of the stored queries.
const QUERY_KIND: &str = "CoreGraphQLQuery";
/// Query-string parameters that are not variables of the query.
const RESERVED: [&str; 4] = ["branch", "at", "update_group", "subscribers"];

/// `GET /api/query/{query_id}?branch=&at=&<variable>=<value>...`: every parameter that is not
/// `branch`, `at`, `update_group` or `subscribers` is passed as a string variable.
pub(super) async fn get_query(
    State(state): State<Arc<AppState>>,
    Caller(account): Caller,
    Path(query_id): Path<String>,
    params: Params,
) -> Result<Response, RestError> {
    let mut variables = Map::new();
    for (name, value) in &params.0 {
        if !RESERVED.contains(&name.as_str()) {
            variables.insert(name.clone(), Value::String(value.clone()));
        }
    }
    run(&state, account, &query_id, &params, variables).await
}

/// `POST /api/query/{query_id}?branch=&at=` with an optional `{"variables": {...}}` body.
pub(super) async fn post_query(
    State(state): State<Arc<AppState>>,
    Caller(account): Caller,
    Path(query_id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Response, RestError> {
    let mut fields = BodyFields::new(body.as_ref(), false);
    let variables = fields.optional_object("variables").cloned();
    fields.finish()?;
    run(
        &state,
        account,
        &query_id,
        &params,
        variables.unwrap_or_default(),
    )
    .await
}

async fn run(
    state: &Arc<AppState>,
    account: Option<Account>,
    query_id: &str,
    params: &Params,
    variables: Map<String, Value>,
) -> Result<Response, RestError> {
    let (branch, view) = super::request_view(state, params)?;
    let update_group = params.flag("update_group")?;
    let subscribers = params.all("subscribers");
    if update_group {
        if account.is_none() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "update_group=true records the query's nodes in a CoreGraphQLQueryGroup: authentication is required",
            )
            .into());
        }
        if subscribers.len() > super::query_group::MAX_SUBSCRIBERS {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "at most {} subscribers per request",
                    super::query_group::MAX_SUBSCRIBERS
                ),
            )
            .into());
        }
    }
    let at = params.get("at").filter(|text| !text.is_empty());
    let group_params = update_group.then(|| variables.clone());
    match run_stored(
        state,
        account,
        &branch,
        at,
        &view,
        query_id,
        variables,
        update_group,
    )
    .await?
    {
        Stored::Data(mut data) => {
            if let Some(group_params) = group_params {
                let mut nodes = std::collections::BTreeSet::new();
                super::query_group::take_member_ids(&mut data, &mut nodes);
                super::query_group::record(
                    state,
                    &branch,
                    query_id,
                    &group_params,
                    &nodes,
                    &subscribers,
                )
                .await?;
            }
            Ok(Json(json!({ "data": data })).into_response())
        }
        Stored::Failed(response) => Ok(response),
    }
}

/// The outcome of a stored query.
pub(super) enum Stored {
    /// The query's `data`.
    Data(Value),
    /// The query failed: upstream's 502 answer naming the query in each message.
    Failed(Response),
}

/// Runs the stored query `query_id` (an id, else a name) through `view` as `account`; with
/// `track`, every node of the answer also carries its id under
/// [`super::query_group::MEMBER_ID`] (for the caller to take out).
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_stored(
    state: &Arc<AppState>,
    account: Option<Account>,
    branch: &str,
    at: Option<&str>,
    view: &BranchView,
    query_id: &str,
    variables: Map<String, Value>,
    track: bool,
) -> Result<Stored, RestError> {
    let (_, name, mut document) = find_query(state, view, query_id).await?;
    if track && let Some(tracked) = super::query_group::with_member_ids(&document) {
        document = tracked;
    }
    let request = GraphqlRequest {
        query: document,
        variables: Some(Value::Object(variables)),
        operation_name: None,
    };
    let response = graphql::execute(state, branch, at, request, account).await?;
    let errors = response
        .get("errors")
        .and_then(Value::as_array)
        .filter(|errors| !errors.is_empty());
    if let Some(errors) = errors {
        // Upstream answers failed stored queries with 502 and names the query in each message.
        let errors: Vec<Value> = errors
            .iter()
            .map(|error| {
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                json!({
                    "message": format!("GraphQLQuery {name}: {message}"),
                    "path": error.get("path").cloned().unwrap_or(Value::Null),
                    "locations": error.get("locations").cloned().unwrap_or(json!([])),
                    "extensions": {"code": StatusCode::BAD_GATEWAY.as_u16()},
                })
            })
            .collect();
        let body = json!({"data": null, "errors": errors});
        return Ok(Stored::Failed(
            (StatusCode::BAD_GATEWAY, Json(body)).into_response(),
        ));
    }
    Ok(Stored::Data(match response.get("data") {
        Some(Value::Null) | None => json!({}),
        Some(data) => data.clone(),
    }))
}

/// Runs the stored query `query_id` on `branch` for a task, as the server itself: the query's
/// `data` and, with `track`, the ids of the nodes it holds; or a message naming the query.
pub(crate) async fn run_for_task(
    state: &Arc<AppState>,
    branch: &str,
    query_id: &str,
    variables: Map<String, Value>,
    track: bool,
) -> Result<(Value, std::collections::BTreeSet<String>), String> {
    let view = BranchView::now(branch);
    let (_, name, mut document) =
        find_query(state, &view, query_id)
            .await
            .map_err(|error| match error {
                RestError::Api(error) => format!("GraphQLQuery {query_id}: {}", error.message()),
                RestError::Invalid(_) => format!("GraphQLQuery {query_id}: not found"),
            })?;
    if track && let Some(tracked) = super::query_group::with_member_ids(&document) {
        document = tracked;
    }
    let request = GraphqlRequest {
        query: document,
        variables: Some(Value::Object(variables)),
        operation_name: None,
    };
    let response = graphql::execute(state, branch, None, request, Some(Account::internal()))
        .await
        .map_err(|error| format!("GraphQLQuery {name}: {}", error.message()))?;
    if let Some(errors) = response
        .get("errors")
        .and_then(Value::as_array)
        .filter(|errors| !errors.is_empty())
    {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect();
        return Err(format!("GraphQLQuery {name}: {}", messages.join("; ")));
    }
    let mut data = response.get("data").cloned().unwrap_or(Value::Null);
    let mut nodes = std::collections::BTreeSet::new();
    if track {
        super::query_group::take_member_ids(&mut data, &mut nodes);
    }
    Ok((data, nodes))
}

/// The id, name and document of the stored query `query_id` (an id, else a name) through
/// `view`.
pub(super) async fn find_query(
    state: &AppState,
    view: &BranchView,
    query_id: &str,
) -> Result<(String, String, String), RestError> {
    let fields = Fields {
        attributes: Some(vec!["name".to_string(), "query".to_string()]),
        relationships: Vec::new(),
    };
    let mut found = Vec::new();
    if let Ok(id) = query_id.parse::<NodeId>() {
        found = state
            .engine
            .get(view, QUERY_KIND, &[id], &fields)
            .await
            .map_err(|error| engine_error(&error))?;
    }
    if found.is_empty() {
        let args = QueryArgs {
            filters: BTreeMap::from([("name__value".to_string(), Value::from(query_id))]),
            limit: Some(1),
            ..QueryArgs::default()
        };
        found = state
            .engine
            .query(view, QUERY_KIND, &args, &fields)
            .await
            .map_err(|error| engine_error(&error))?
            .0;
    }
    let node = found.first().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "GraphQL query `{query_id}` not found on branch `{}`",
                view.branch
            ),
        )
    })?;
    let text = |name: &str| node.value(name).as_str().unwrap_or_default().to_string();
    Ok((node.id.to_string(), text("name"), text("query")))
}
