//! The GraphQL API: a schema generated from each branch's schema (cached by schema hash),
//! queries that load exactly what the document selects in a bounded number of store reads,
//! and the mutations the SDK sends.
//!
//! Every request takes one path (design: docs/adr/0002-graphql-execution.md):
//! `http` (content type, credentials, anonymous rule) → `lex` (one pass over the text: its
//! shape, its literals, its nesting) → the operation compiled for that shape against the
//! branch's generated schema (`plan`), when there is one: authorization, literals and
//! variables bound, run, JSON written. Otherwise → the parsed document (async-graphql's
//! parser, cached by text in [`parsed`]) → `limits` (the work the document asks for, and name
//! lengths) → authorization → `expand` (the `@expand` directive) → async-graphql's executor
//! over the generated schema, which validates once per shape (`validated`); a document that
//! passed validation gets its plan compiled for the next request of its shape.
//! Authorization has one place, `crate::auth::authorize_operation`, on both branches of that
//! path.
//!
//! Layout:
//! - [`cache`]: generated schemas by branch schema (and the check that a schema load's
//!   candidate builds), each with its validated documents and compiled plans;
//! - `build`: the generated schema (scalars, inputs, and the value rules the lexer's literal
//!   classes follow), with the shared object types (`build::types`), the node fields and their
//!   resolvers (`build::nodes`) and the root query fields (`build::query`);
//! - `fields`: the field names, type names and values the generated schema and the plans
//!   share, defined once;
//! - `derived`: values computed for the API (display labels, hfids);
//! - `load`: planning reads from the selection and loading nodes level by level;
//! - `values`: the objects resolvers hand to each other;
//! - `mutation`: mutation inputs and resolvers;
//! - `fixed`: fields that do not depend on the schema (`InfrahubInfo`, `Branch`, ...), with
//!   the branch mutations, the current account, `Relationship` and the diff queries in modules
//!   of their own;
//! - `limits`: depth, fields, aliases, introspection and name bounds of a document;
//! - `lex`, [`parsed`], `validated`, `plan`: the lexer, parsed documents, validation once per
//!   shape, compiled operations;
//! - `expand`: the `@expand` directive;
//! - `http`: the axum routes.

mod access;
mod build;
pub mod cache;
mod derived;
mod expand;
mod fields;
pub(crate) mod files;
mod fixed;
mod http;
mod lex;
mod limits;
mod load;
mod mutation;
pub mod parsed;
mod plan;
mod repository;
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
    /// The caller's permissions, as the authorization of the request loaded them (for the
    /// `permissions` fields and the checks mutations make on stored data).
    pub permissions: Arc<infrahub_core::permissions::PermissionSet>,
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
    /// The JSON body written by a compiled plan.
    Planned(Vec<u8>),
}

impl serde::Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Executed(response) => response.serialize(serializer),
            Answer::Rejected(errors) => errors_body(errors.clone()).serialize(serializer),
            Answer::Planned(body) => serde_json::from_slice::<Value>(body)
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
    gql: async_graphql::Request,
    account: Option<Account>,
) -> Result<Answer, ApiError> {
    if !state.knows_branch(branch).await {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Branch: {branch} not found."),
        ));
    }
    let lexed = lex::lex(&gql.query);
    if lexed.too_deep {
        return Ok(Answer::Rejected(vec![ServerError::new(
            format!(
                "the document nests brackets more than {} levels deep",
                lex::MAX_NESTING
            ),
            None,
        )]));
    }
    if let Some(shape) = &lexed.shape {
        // Documents of one shape share their first token: a mutation's reads the present.
        let mutation = shape.starts_with("mutation ");
        let view = view_of(branch, at, mutation)?;
        let schema = schema_of(state, &view).await?;
        let generated = generated_of(state, &schema)?;
        if let Some(Some(plan)) = generated.plans.get(shape, gql.operation_name.as_deref())
            && plan.is_mutation() == mutation
            && let Some(bindings) = plan.bind(&lexed.literals, &gql.variables)
        {
            let access = crate::auth::OperationAccess {
                operation: plan.operation_type(),
                root_fields: plan.root_fields(),
                kinds_read: &plan.reads().kinds,
                reads_permission_links: plan.reads().permission_links,
            };
            let permissions =
                crate::auth::authorize_operation(state, account.as_ref(), branch, &schema, access)
                    .await?;
            // Debug builds answer each planned query twice, through the plan and through the
            // executor, at one instant.
            let check = !mutation && state.queries.plan_checks();
            let pinned = (check && at.is_none()).then(Timestamp::now);
            let view = pinned.map_or(view, |now| BranchView::at(branch, now));
            let context = RequestContext {
                state: Arc::clone(state),
                view,
                schema,
                account: account.clone(),
                permissions,
            };
            if let Some(body) = plan.run(&context, &bindings).await {
                state.queries.note_planned_answer();
                if check {
                    let pinned = pinned.map(|now| now.to_string());
                    let at = pinned.as_deref().or(at);
                    // The plan may run again below, still holding the first reading.
                    let relexed = lex::lex(&gql.query);
                    let general = run_general(state, branch, at, gql, account, relexed).await?;
                    if !answers_agree(&body, &general) {
                        // On a shared database a write committed with a timestamp before the
                        // pinned instant can become visible between the two reads: the plan
                        // answers again before the answers are called different.
                        let again = plan.run(&context, &bindings).await.unwrap_or(body.clone());
                        same_answers(&again, &general);
                    }
                }
                return Ok(Answer::Planned(body));
            }
        }
    }
    run_general(state, branch, at, gql, account, lexed).await
}

/// Answers a request through async-graphql's executor (see [`run_raw`]), compiling the plan of
/// its shape once it passed validation.
async fn run_general(
    state: &Arc<AppState>,
    branch: &str,
    at: Option<&str>,
    mut gql: async_graphql::Request,
    account: Option<Account>,
    lexed: lex::Lexed,
) -> Result<Answer, ApiError> {
    let operation_name = gql.operation_name.clone();
    let text = lexed.rewritten.as_deref().unwrap_or(&gql.query);
    let mut document = match state.queries.parse(text) {
        Ok(document) => document,
        Err(error) => return Ok(Answer::Rejected(vec![error])),
    };
    let limits = limits::Limits::from_settings(&state.settings.api);
    if let Err(error) = limits::check(&document, &limits) {
        return Ok(Answer::Rejected(vec![error]));
    }
    let operation = operation_type(&document, operation_name.as_deref());
    let is_mutation = operation == Some(OperationType::Mutation);
    let root_fields = root_fields(&document, operation_name.as_deref());
    let view = view_of(branch, at, is_mutation)?;
    let schema = schema_of(state, &view).await?;
    let reads = access::reads(&schema, &document, operation_name.as_deref());
    // (For mutations, the kinds read are those of the answered `object`.)
    let access = crate::auth::OperationAccess {
        operation: operation.unwrap_or(OperationType::Query),
        root_fields: &root_fields,
        kinds_read: &reads.kinds,
        reads_permission_links: reads.permission_links,
    };
    let permissions =
        crate::auth::authorize_operation(state, account.as_ref(), branch, &schema, access).await?;
    expand::apply(&gql.query, &mut document, &schema);
    let generated = generated_of(state, &schema)?;
    // The plan of the shape, compiled now (before the document goes to the executor) and kept
    // if the document passes validation.
    let compiled = match &lexed.shape {
        Some(shape)
            if generated
                .plans
                .get(shape, operation_name.as_deref())
                .is_none() =>
        {
            let plan = plan::compile(
                &schema,
                &document,
                operation_name.as_deref(),
                &lexed.literals,
            );
            Some((shape.clone(), plan.map(Arc::new)))
        }
        _ => None,
    };
    // Documents without a shape are remembered by their text, if it is short enough to keep.
    let text =
        (lexed.shape.is_none() && gql.query.len() <= lex::MAX_SHAPE_LEN).then(|| gql.query.clone());
    let identity = validated::DocumentIdentity {
        shape: lexed.shape,
        text,
        operation: operation_name.clone(),
        simple_variables: validated::variables_are_simple(&document, &gql.variables),
    };
    gql.set_parsed_query(document);
    let context = RequestContext {
        state: Arc::clone(state),
        view,
        schema,
        account,
        permissions,
    };
    let mut response = generated
        .schema
        .execute(gql.data(context).data(identity.clone()))
        .await;
    if let Some((shape, plan)) = compiled
        && generated.validated.passed(&identity)
    {
        generated.plans.insert(shape, operation_name, plan);
    }
    for error in &mut response.errors {
        error.message = infrahub_core::bounded_message(&error.message);
    }
    Ok(Answer::Executed(response))
}

/// The branch and instant a request reads: `at` (ignored for mutations), else the present.
fn view_of(branch: &str, at: Option<&str>, mutation: bool) -> Result<BranchView, ApiError> {
    match at.filter(|a| !a.is_empty() && !mutation) {
        Some(text) => {
            let at = Timestamp::parse(text).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("invalid `at` value: {e}"))
            })?;
            Ok(BranchView::at(branch, at))
        }
        None => Ok(BranchView::now(branch)),
    }
}

/// The schema of the branch at the instant `view` reads.
async fn schema_of(
    state: &AppState,
    view: &BranchView,
) -> Result<Arc<infrahub_core::schema::SchemaBranch>, ApiError> {
    state
        .engine
        .schema_for(view)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The generated GraphQL schema of `schema`.
fn generated_of(
    state: &AppState,
    schema: &Arc<infrahub_core::schema::SchemaBranch>,
) -> Result<Arc<cache::Generated>, ApiError> {
    state
        .graphql
        .get(schema)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Whether a plan's answer and the executor's are equal (as JSON values).
fn answers_agree(planned: &[u8], general: &Answer) -> bool {
    let planned: Option<Value> = serde_json::from_slice(planned).ok();
    let general = serde_json::to_value(general).ok();
    planned.is_some() && planned == general
}

/// In debug builds, checks a plan's answer against the executor's answer to the same request
/// (root fields may come in another order; everything else must be equal).
fn same_answers(planned: &[u8], general: &Answer) {
    let planned: Value = serde_json::from_slice(planned)
        .unwrap_or_else(|e| panic!("a plan wrote invalid JSON ({e})"));
    let general = serde_json::to_value(general)
        .unwrap_or_else(|e| panic!("the executor's answer does not serialize ({e})"));
    assert_eq!(
        planned, general,
        "a compiled plan and the executor answered differently"
    );
}

/// The response body for errors raised before execution.
fn errors_body(mut errors: Vec<ServerError>) -> Value {
    for error in &mut errors {
        error.message = infrahub_core::bounded_message(&error.message);
    }
    json!({"data": null, "errors": errors})
}

/// The names of the root fields of the operation a request runs (through fragments, aliases
/// set aside), each once.
fn root_fields(
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
pub(crate) fn selected_operation<'d>(
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
