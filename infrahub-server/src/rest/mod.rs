//! The REST API under `/api`, with upstream Infrahub's paths, shapes and status codes.
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/auth/login`, `/refresh`, `/logout` | tokens, see [`crate::auth`] |
//! | `GET /api/config` | public configuration |
//! | `GET /api/menu?branch=` | navigation menu |
//! | `GET /api/schema?branch=&namespaces=` | the branch's schema; 400 for an unknown branch |
//! | `GET /api/schema/summary?branch=` | schema hashes |
//! | `GET /api/schema/{kind}?branch=` | one model; 422 for an unknown kind |
//! | `POST /api/schema/load?branch=` | load schema files: `{hash, previous_hash, diff, schema_updated}` |
//! | `POST /api/schema/check?branch=` | 202 `{diff}`, or 422 |
//! | `GET`, `POST /api/query/{query_id}?branch=&at=` | run a stored `CoreGraphQLQuery` |
//! | `POST /api/storage/upload/content`, `/upload/file` | `{identifier, checksum}` |
//! | `GET /api/storage/object/{identifier}` | stored content |
//! | `GET /api/storage/files/{node_id}`, `/by-storage-id/{id}`, `/by-hfid/{kind}?hfid=` | a file object's content |
//! | `GET /api/diff/files?branch=&time_from=&time_to=` | files each repository's branch commit changes |
//! | `GET /api/artifact/{artifact_id}?branch=&at=` | an artifact's content, with its content type |
//! | `POST /api/artifact/generate/{definition_id}?branch=` | `{"nodes"?: [...]}`: generation submitted, `null` |
//! | `GET /api/transform/jinja2/{transform_id}?branch=&at=&<variable>=` | a Jinja2 transform rendered, `text/plain` |
//! | `GET /api/transform/python/{transform_id}?branch=&at=&<variable>=` | a Python transform's JSON result |
//! | `GET /api/file/{repository_id}/{file_path}?branch=&at=&commit=` | a repository file, `text/plain` |
//! | `GET /api/openapi.json` | OpenAPI description of these routes |
//!
//! Failures use upstream's envelope `{"data": null, "errors": [{"message", "extensions":
//! {"code"}}]}`; requests of the wrong shape get FastAPI's 422 `{"detail": [...]}`. Reads
//! (`GET`) are open to anonymous callers when `main.allow_anonymous_access` is on (the
//! default); every other method needs credentials. `/api/config`, `/api/openapi.json` and the
//! auth endpoints are always public.

pub(crate) mod artifact;
pub(crate) mod auth;
mod body;
mod config;
mod diff_files;
pub(crate) mod error;
mod files;
pub(crate) mod menu;
mod openapi;
pub(crate) mod query;
mod query_group;

/// Records a stored query's answer in its query group (see `query_group`), for tasks.
pub(crate) async fn record_query_group(
    state: &std::sync::Arc<crate::app::AppState>,
    branch: &str,
    query: &str,
    variables: &serde_json::Map<String, serde_json::Value>,
    nodes: &std::collections::BTreeSet<String>,
    subscribers: &[String],
) -> Result<(), String> {
    query_group::record(state, branch, query, variables, nodes, subscribers)
        .await
        .map_err(|error| match error {
            error::RestError::Api(error) => error.message().to_owned(),
            error::RestError::Invalid(detail) => serde_json::Value::Array(detail).to_string(),
        })
}
mod schema;
mod storage;
mod transform;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use infrahub_core::schema::SchemaBranch;

pub use error::RestError;
pub use schema::SchemaDocCache;

use crate::app::{ApiError, AppState};
use body::Params;
use error::branch_not_found;

/// Largest body accepted by schema loads and uploads (other routes keep axum's 2 MiB).
pub const LARGE_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The REST routes; merge them into the application router.
///
/// # Examples
///
/// ```no_run
/// # fn example(state: std::sync::Arc<infrahub_server::app::AppState>) {
/// let app: axum::Router = axum::Router::new()
///     .merge(infrahub_server::rest::routes())
///     .with_state(state);
/// # }
/// ```
pub fn routes() -> Router<Arc<AppState>> {
    let large = || DefaultBodyLimit::max(LARGE_BODY_LIMIT);
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/config", get(config::get_config))
        .route("/api/menu", get(menu::get_menu))
        .route("/api/schema", get(schema::get_schema))
        .route("/api/schema/summary", get(schema::summary))
        .route("/api/schema/load", post(schema::load).layer(large()))
        .route("/api/schema/check", post(schema::check).layer(large()))
        .route("/api/schema/{schema_kind}", get(schema::get_kind))
        .route(
            "/api/query/{query_id}",
            get(query::get_query).post(query::post_query),
        )
        .route("/api/storage/object/{identifier}", get(storage::get_object))
        .route("/api/storage/files/{node_id}", get(files::by_node))
        .route(
            "/api/storage/files/by-storage-id/{storage_id}",
            get(files::by_storage_id),
        )
        .route("/api/storage/files/by-hfid/{kind}", get(files::by_hfid))
        .route(
            "/api/storage/upload/content",
            post(storage::upload_content).layer(large()),
        )
        .route(
            "/api/storage/upload/file",
            post(storage::upload_file).layer(large()),
        )
        .route("/api/artifact/{artifact_id}", get(artifact::get_artifact))
        .route("/api/diff/files", get(diff_files::files))
        .route(
            "/api/artifact/generate/{definition_id}",
            post(artifact::generate),
        )
        .route(
            "/api/transform/jinja2/{transform_id}",
            get(transform::jinja2),
        )
        .route(
            "/api/transform/python/{transform_id}",
            get(transform::python),
        )
        .route(
            "/api/file/{repository_id}/{*file_path}",
            get(transform::file),
        )
        .route("/api/openapi.json", get(openapi::get_openapi))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A known path asked with a method it does not serve: 405 in the JSON envelope.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on `{}`", uri.path()),
    )
}

/// The branch (see [`branch_schema`]) and instant (`?at=`, now when absent) a request reads;
/// 400 for an invalid `at`.
pub(crate) fn request_view(
    state: &AppState,
    params: &Params,
) -> Result<(String, infrahub_graph::BranchView), RestError> {
    use infrahub_graph::{BranchView, Timestamp};
    let (branch, _) = branch_schema(state, params)?;
    let view = match params.get("at").filter(|text| !text.is_empty()) {
        None => BranchView::now(&branch),
        Some(text) => BranchView::at(
            &branch,
            Timestamp::parse(text).map_err(|error| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("invalid `at`: {error}"),
                )
            })?,
        ),
    };
    Ok((branch, view))
}

/// The branch a request names in `?branch=` (the default branch when absent or empty) and
/// its current schema; 400 when there is no such branch.
pub(crate) fn branch_schema(
    state: &AppState,
    params: &Params,
) -> Result<(String, Arc<SchemaBranch>), RestError> {
    let branch = params
        .get("branch")
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| state.engine.default_branch())
        .to_string();
    match state.engine.schema(&branch) {
        Ok(schema) => Ok((branch, schema)),
        Err(error) if error.kind() == infrahub_core::ErrorKind::NotFound => {
            Err(branch_not_found(&branch).into())
        }
        Err(error) => Err(error::engine_error(&error).into()),
    }
}
