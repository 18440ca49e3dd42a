//! The HTTP application: routes, shared state and the JSON error envelope.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

pub use crate::state::AppState;

/// The version this server reports in `/api/info` and `InfrahubInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the router with every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    let body_seconds = state.settings.api.request_body_timeout;
    Router::new()
        .route("/api/info", get(info))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(crate::graphql::routes())
        .merge(crate::rest::routes())
        .merge(crate::ui::routes(Arc::clone(&state)))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::deadline::limit_body_time(body_seconds, request, next)
        }))
        .with_state(state)
}

async fn info(
    State(state): State<Arc<AppState>>,
    _caller: crate::auth::Caller,
) -> Json<serde_json::Value> {
    Json(json!({"deployment_id": state.deployment_id, "version": VERSION}))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is starting").into_response()
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for `{}`", uri.path()),
    )
    .into_response()
}

/// An error answered in upstream's REST envelope:
/// `{"data": null, "errors": [{"message": ..., "extensions": {"code": <status>}}]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with an HTTP status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: infrahub_core::bounded_message(&message.into()),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "data": null,
            "errors": [{"message": self.message, "extensions": {"code": self.status.as_u16()}}],
        });
        (self.status, Json(body)).into_response()
    }
}
