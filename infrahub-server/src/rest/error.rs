//! Errors of the REST handlers: upstream's envelope for failures, FastAPI's `{"detail": [...]}`
//! for requests whose shape is wrong, and the status each engine error maps to.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infrahub_core::ErrorKind;
use serde_json::{Value, json};

use crate::app::ApiError;

/// An error answered by a REST handler.
#[derive(Debug)]
pub enum RestError {
    /// Upstream's envelope, `{"data": null, "errors": [{"message", "extensions": {"code"}}]}`.
    Api(ApiError),
    /// 422 `{"detail": [{"type", "loc", "msg", "input"}, ...]}`: the body or a parameter does
    /// not have the expected shape, reported as FastAPI (pydantic) reports it.
    Invalid(Vec<Value>),
}

impl From<ApiError> for RestError {
    fn from(error: ApiError) -> Self {
        RestError::Api(error)
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        match self {
            RestError::Api(error) => error.into_response(),
            RestError::Invalid(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": detail })),
            )
                .into_response(),
        }
    }
}

/// Largest `input` echoed in a `detail` entry, in bytes of JSON; a larger one is replaced by
/// its start and its size.
const ECHOED_INPUT: usize = 1024;

/// One entry of a FastAPI `detail` list.
pub(crate) fn detail(kind: &str, loc: Vec<Value>, msg: &str, input: Value) -> Value {
    let text = input.to_string();
    let input = if text.len() > ECHOED_INPUT {
        Value::String(infrahub_core::bounded_message(&format!(
            "{}… ({} bytes)",
            text.chars().take(80).collect::<String>(),
            text.len()
        )))
    } else {
        input
    };
    json!({"type": kind, "loc": loc, "msg": infrahub_core::bounded_message(msg), "input": input})
}

/// The status an engine error is answered with, and its message.
pub(crate) fn engine_error(error: &infrahub_core::Error) -> ApiError {
    let status = match error.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidSchema | ErrorKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Uniqueness | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, error.message())
}

/// The 400 answered for a `branch` parameter naming no branch (the SDK turns it into
/// `BranchNotFoundError`).
pub(crate) fn branch_not_found(branch: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("branch `{branch}` not found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_http_statuses() {
        let status = |kind| {
            engine_error(&infrahub_core::Error::new(kind, "x"))
                .into_response()
                .status()
        };
        assert_eq!(status(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status(ErrorKind::Validation),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(ErrorKind::InvalidSchema),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status(ErrorKind::Uniqueness), StatusCode::CONFLICT);
        assert_eq!(
            status(ErrorKind::Storage),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(ErrorKind::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn invalid_requests_use_the_fastapi_body() {
        let response = RestError::Invalid(vec![detail(
            "missing",
            vec![json!("body"), json!("password")],
            "Field required",
            json!({"username": "a"}),
        )])
        .into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["detail"][0]["loc"], json!(["body", "password"]));
        assert_eq!(value["detail"][0]["msg"], "Field required");
    }
}
