//! The GraphQL routes: `POST /graphql`, `POST /graphql/{branch}` (the branch may contain `/`,
//! percent-encoded or not), `?at=` time travel, and `GET /schema.graphql?branch=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{GraphqlRequest, run_raw};
use crate::app::ApiError;
use crate::state::AppState;

/// The GraphQL routes.
pub fn routes() -> Router<Arc<AppState>> {
    // The body is read in `read_body`, within a limit that depends on its type.
    let unlimited = axum::extract::DefaultBodyLimit::disable;
    Router::new()
        .route("/graphql", post(default_branch).layer(unlimited()))
        .route("/graphql/", post(default_branch).layer(unlimited()))
        .route("/graphql/{*branch}", post(on_branch).layer(unlimited()))
        .route("/schema.graphql", get(sdl))
}

/// Largest JSON request body (axum's default limit, kept for documents).
const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Reads a request body: a multipart one (a file upload) up to `files::MAX_FILE_SIZE` and a
/// little more for its other parts, any other up to [`JSON_BODY_LIMIT`]; a longer one is
/// refused (413) once the limit is reached, without reading the rest.
async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, Response> {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let limit = if multipart {
        super::files::MAX_FILE_SIZE + 1024 * 1024
    } else {
        JSON_BODY_LIMIT
    };
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
        .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut read = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {error}"),
            )
            .into_response()
        })?;
        if read.len() + chunk.len() > limit {
            return Err(too_large());
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(read))
}

async fn default_branch(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let branch = state.engine.default_branch().to_string();
    handle(state, branch, params, headers, body).await
}

async fn on_branch(
    State(state): State<Arc<AppState>>,
    Path(branch): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    handle(state, branch, params, headers, body).await
}

async fn handle(
    state: Arc<AppState>,
    branch: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let multipart = essence == "multipart/form-data";
    if essence != "application/json" && !multipart {
        // As upstream; a plain-text body is also what a cross-site form can send.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "Content-type must be application/json or multipart/form-data",
        )
        .into_response();
    }
    let account = match crate::auth::authenticate(&state, &headers).await {
        Ok(account) => account,
        Err(error) => return error.into_response(),
    };
    if account.is_some()
        && let Err(error) =
            crate::auth::check_cookie_origin(&state, &axum::http::Method::POST, &headers)
    {
        return error.into_response();
    }
    if account.is_none() && !state.settings.main.allow_anonymous_access {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication is required to perform this operation",
        )
        .into_response();
    }
    let request = if multipart {
        match async_graphql::http::receive_body(
            Some(content_type),
            futures::io::Cursor::new(body.to_vec()),
            async_graphql::http::MultipartOptions::default()
                .max_num_files(1)
                .max_file_size(super::files::MAX_FILE_SIZE),
        )
        .await
        {
            Ok(request) => request,
            Err(error) => {
                return ApiError::new(StatusCode::BAD_REQUEST, error.to_string()).into_response();
            }
        }
    } else {
        let parsed: GraphqlRequest = match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(error) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body must be a JSON object with a `query`: {error}"),
                )
                .into_response();
            }
        };
        parsed.into_request()
    };
    match run_raw(
        &state,
        &branch,
        params.get("at").map(String::as_str),
        request,
        account,
    )
    .await
    {
        Ok(super::Answer::Planned(body)) => {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn sdl(
    State(state): State<Arc<AppState>>,
    _caller: crate::auth::Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let branch = params
        .get("branch")
        .cloned()
        .unwrap_or_else(|| state.engine.default_branch().to_string());
    let Ok(schema) = state.engine.schema(&branch) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Branch: {branch} not found."),
        )
        .into_response();
    };
    match state.graphql.get(&schema) {
        Ok(generated) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            generated.schema.sdl(),
        )
            .into_response(),
        Err(error) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
        }
    }
}
