//! The GraphQL API: a schema generated from each branch's schema (cached by schema hash),
//! queries that load exactly what the document selects in a bounded number of store reads,
//! and the mutations the SDK sends.
//!
//! A request goes: `http` (content type, credentials, anonymous rule) → [`parsed`] (the parsed
//! document, cached by text; `parse`, this crate's parser, with `shape` keys) → `limits` (the
//! work the document asks for, and name lengths) → the permission checks of mutations
//! (`crate::auth`) → `expand` (the `@expand` directive) → `direct` (plain node queries and node
//! mutations of documents `validated` before, written straight to JSON) or async-graphql's
//! executor over the generated schema.
//!
//! Layout:
//! - [`cache`]: generated schemas by branch schema (and the check that a schema load's
//!   candidate builds);
//! - `build`: the generated types (objects, interfaces, inputs, root fields);
//! - `derived`: values computed for the API (display labels, hfids);
//! - `load`: planning reads from the selection and loading nodes level by level;
//! - `values`: the objects resolvers hand to each other;
//! - `mutation`: mutation inputs and resolvers;
//! - `fixed`: fields that do not depend on the schema (`InfrahubInfo`, `Branch`, ...);
//! - `limits`: depth, fields, aliases, introspection and name bounds of a document;
//! - `parse`, `shape`, [`parsed`], `validated`: parsing, document shapes, caches;
//! - `direct`: the direct executor;
//! - `expand`: the `@expand` directive;
//! - `http`: the axum routes.

mod build;
pub mod cache;
mod derived;
mod direct;
mod expand;
mod fixed;
mod http;
mod limits;
mod load;
mod mutation;
mod parse;
pub mod parsed;
mod shape;
mod validated;
mod values;

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::http::StatusCode;
use infrahub_graph::{BranchView, Timestamp};
use serde_json::{Value, json};

use crate::account::Account;
use crate::app::ApiError;
use crate::state::AppState;

pub use cache::SchemaCache;
pub use http::routes;
pub use parsed::QueryCache;

/// A GraphQL request body.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct GraphqlRequest {
    /// The document.
    #[serde(default)]
    pub query: String,
    /// Variables, by name.
    #[serde(default)]
    pub variables: Option<Value>,
    /// The operation to run when the document holds several.
    #[serde(default, rename = "operationName")]
    pub operation_name: Option<String>,
}

/// What every resolver of one request shares.
pub(crate) struct RequestContext {
    /// The server state.
    pub state: Arc<AppState>,
    /// Branch and instant the request reads.
    pub view: BranchView,
    /// The schema of that branch at that instant.
    pub schema: Arc<infrahub_core::schema::SchemaBranch>,
    /// The account the request acts as.
    pub account: Option<Account>,
}

/// Runs a GraphQL request on `branch`, reading as of `at` (an ISO-8601 or relative time;
/// ignored for mutations) as `account`, and returns the response body
/// `{"data": ..., "errors": [...]}`.
///
/// Errors: an unknown branch (404), an invalid `at` (400), a mutation without an account
/// (401). Errors inside the document (syntax, validation, resolvers) are part of the body.
pub async fn execute(
    state: &Arc<AppState>,
    branch: &str,
    at: Option<&str>,
    request: GraphqlRequest,
    account: Option<Account>,
) -> Result<Value, ApiError> {
    run(state, branch, at, request.into_request(), account).await
}

impl GraphqlRequest {
    /// The request as the GraphQL engine takes it.
    pub(crate) fn into_request(self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query);
        if let Some(name) = self.operation_name.filter(|n| !n.is_empty()) {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables.filter(|v| !v.is_null()) {
            request = request.variables(Variables::from_json(variables));
        }
        request
    }
}

/// Runs a parsed-from-HTTP request (JSON or multipart with uploads); see [`execute`].
pub(crate) async fn run(
    state: &Arc<AppState>,
    branch: &str,
    at: Option<&str>,
    gql: async_graphql::Request,
    account: Option<Account>,
) -> Result<Value, ApiError> {
    let response = run_raw(state, branch, at, gql, account).await?;
    serde_json::to_value(&response)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// A response body: the engine's response, or errors raised before execution.
pub(crate) enum Answer {
    /// The result of executing the document.
    Executed(async_graphql::Response),
    /// The document could not be parsed or rewritten.
    Rejected(Vec<ServerError>),
    /// The JSON body written by the direct executor (plain node queries, node mutations).
    Direct(Vec<u8>),
}

impl serde::Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Executed(response) => response.serialize(serializer),
            Answer::Rejected(errors) => errors_body(errors.clone()).serialize(serializer),
            Answer::Direct(body) => serde_json::from_slice::<Value>(body)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
        }
    }
}

/// Like [`run`], without building a JSON tree of the answer (serialized straight to bytes by
/// the HTTP layer).
pub(crate) async fn run_raw(
    state: &Arc<AppState>,
    branch: &str,
    at: Option<&str>,
    mut gql: async_graphql::Request,
    account: Option<Account>,
) -> Result<Answer, ApiError> {
    let engine = &state.engine;
    if engine.schema(branch).is_err() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Branch: {branch} not found."),
        ));
    }
    let operation_name = gql.operation_name.clone();
    if let Err(error) = state.queries.prepare(&mut gql) {
        return Ok(Answer::Rejected(vec![error]));
    }
    let limits = limits::Limits::from_settings(&state.settings.api);
    let operation = match gql.parsed_query() {
        Ok(document) => {
            if let Err(error) = limits::check(document, &limits) {
                return Ok(Answer::Rejected(vec![error]));
            }
            operation_type(document, operation_name.as_deref())
        }
        Err(error) => return Ok(Answer::Rejected(vec![error])),
    };
    let is_mutation = operation == Some(OperationType::Mutation);
    if is_mutation && account.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication is required to perform this operation",
        ));
    }
    let view = match at.filter(|a| !a.is_empty() && !is_mutation) {
        Some(text) => {
            let at = Timestamp::parse(text).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("invalid `at` value: {e}"))
            })?;
            BranchView::at(branch, at)
        }
        None => BranchView::now(branch),
    };
    let schema = engine
        .schema_for(&view)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if is_mutation && let Some(account) = &account {
        let fields = match gql.parsed_query() {
            Ok(document) => mutation_fields(document, operation_name.as_deref()),
            Err(error) => return Ok(Answer::Rejected(vec![error])),
        };
        crate::auth::check_mutation(state, account, branch, &schema, &fields).await?;
    }
    if let Err(error) = expand::apply(&mut gql, &schema) {
        return Ok(Answer::Rejected(vec![error]));
    }
    let generated = state
        .graphql
        .get(&schema)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let context = RequestContext {
        state: Arc::clone(state),
        view,
        schema,
        account,
    };
    // Plain node queries and node mutations that passed validation before are answered
    // directly.
    if generated
        .validated
        .passed(&gql.query, operation_name.as_deref())
    {
        let variables = std::mem::take(&mut gql.variables);
        let body = match gql.parsed_query() {
            Ok(document) if validated::variables_are_simple(document, &variables) => {
                direct::run(&context, document, operation_name.as_deref(), &variables).await
            }
            _ => None,
        };
        gql.variables = variables;
        if let Some(body) = body {
            state.queries.note_direct_answer();
            return Ok(Answer::Direct(body));
        }
    }
    let mut response = generated.schema.execute(gql.data(context)).await;
    for error in &mut response.errors {
        error.message = infrahub_core::bounded_message(&error.message);
    }
    Ok(Answer::Executed(response))
}

/// The response body for errors raised before execution.
fn errors_body(mut errors: Vec<ServerError>) -> Value {
    for error in &mut errors {
        error.message = infrahub_core::bounded_message(&error.message);
    }
    json!({"data": null, "errors": errors})
}

/// The names of the root fields of the mutation a request runs (through fragments, aliases
/// set aside), each once.
fn mutation_fields(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Vec<String> {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn collect(
        document: &async_graphql::parser::types::ExecutableDocument,
        set: &SelectionSet,
        seen_fragments: &mut Vec<String>,
        out: &mut Vec<String>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.to_string();
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    collect(
                        document,
                        &fragment.node.selection_set.node,
                        seen_fragments,
                        out,
                    );
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = spread.node.fragment_name.node.to_string();
                    if seen_fragments.contains(&fragment) {
                        continue;
                    }
                    if let Some(definition) = document.fragments.get(fragment.as_str()) {
                        seen_fragments.push(fragment);
                        collect(
                            document,
                            &definition.node.selection_set.node,
                            seen_fragments,
                            out,
                        );
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(operation) = selected_operation(document, name) {
        collect(
            document,
            &operation.node.selection_set.node,
            &mut Vec::new(),
            &mut out,
        );
    }
    out
}

/// The operation a request runs: the one named, or the only one.
fn selected_operation<'d>(
    document: &'d async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>> {
    use async_graphql::parser::types::DocumentOperations;
    match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name),
            None if ops.len() == 1 => ops.values().next(),
            None => None,
        },
    }
}

/// The type of the operation a request runs, if it can be told.
fn operation_type(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    selected_operation(document, name).map(|op| op.node.ty)
}
