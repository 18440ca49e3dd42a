//! `/api/storage`: upload content or files to the object store and read objects back.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

use super::body::{BodyFields, JsonBody};
use super::error::{RestError, detail};
use crate::app::{ApiError, AppState};
use crate::auth::{Authenticated, Caller};

/// Longest accepted identifier.
const IDENTIFIER_MAX_LENGTH: usize = 255;

/// The object-store location of `identifier`: one path segment of letters, digits, `.`, `_`
/// and `-`, not starting with a dot (identifiers the server hands out are UUIDs).
fn location(identifier: &str) -> Result<ObjectPath, ApiError> {
    let valid = !identifier.is_empty()
        && identifier.len() <= IDENTIFIER_MAX_LENGTH
        && !identifier.starts_with('.')
        && identifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{identifier}` is not a storage identifier: use the identifier an upload returned"
            ),
        ));
    }
    Ok(ObjectPath::from(identifier))
}

/// `GET /api/storage/object/{identifier}`: the raw content; 404 when there is none.
pub(super) async fn get_object(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, RestError> {
    let path = location(&identifier)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("storage object `{identifier}` not found"),
        )
    };
    let stored = match state.objects.get(&path).await {
        Ok(stored) => stored,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found().into()),
        Err(error) => return Err(storage_failure(&error).into()),
    };
    let bytes = match stored.bytes().await {
        Ok(bytes) => bytes,
        // Deleted between the lookup and the read.
        Err(object_store::Error::NotFound { .. }) => return Err(not_found().into()),
        Err(error) => return Err(storage_failure(&error).into()),
    };
    // Like upstream, the content is answered as is, without a content type.
    Ok(Response::new(Body::from(bytes)))
}

/// `POST /api/storage/upload/content` with `{"content": "<text>"}`: stores the UTF-8 bytes
/// and answers `{identifier, checksum}` (MD5, hex).
pub(super) async fn upload_content(
    State(state): State<Arc<AppState>>,
    _caller: Authenticated,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, RestError> {
    let mut fields = BodyFields::new(body.as_ref(), true);
    let content = fields.string("content");
    fields.finish()?;
    let content = content.unwrap_or_default().as_bytes().to_vec();
    Ok(Json(store(&state, Bytes::from(content)).await?))
}

/// `POST /api/storage/upload/file` with a multipart `file` part: stores its bytes and answers
/// `{identifier, checksum}`.
pub(super) async fn upload_file(
    State(state): State<Arc<AppState>>,
    _caller: Authenticated,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, RestError> {
    let missing = || {
        RestError::Invalid(vec![detail(
            "missing",
            vec![json!("body"), json!("file")],
            "Field required",
            Value::Null,
        )])
    };
    // A body that is not multipart has no `file` part, as FastAPI reports it.
    let mut multipart = multipart.map_err(|_| missing())?;
    loop {
        let field = multipart.next_field().await.map_err(|error| {
            ApiError::new(
                error.status(),
                format!("invalid multipart body: {}", error.body_text()),
            )
        })?;
        let Some(field) = field else {
            return Err(missing());
        };
        if field.name() == Some("file") {
            let content = field.bytes().await.map_err(|error| {
                ApiError::new(
                    error.status(),
                    format!("invalid multipart body: {}", error.body_text()),
                )
            })?;
            return Ok(Json(store(&state, content).await?));
        }
    }
}

/// Stores `content` under a new time-ordered identifier.
async fn store(state: &AppState, content: Bytes) -> Result<Value, ApiError> {
    let identifier = uuid::Uuid::now_v7().to_string();
    let checksum = hex(&Md5::digest(&content));
    state
        .objects
        .put(
            &ObjectPath::from(identifier.as_str()),
            PutPayload::from(content),
        )
        .await
        .map_err(|error| storage_failure(&error))?;
    Ok(json!({"identifier": identifier, "checksum": checksum}))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn storage_failure(error: &object_store::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("object store: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_leave_the_store() {
        assert!(location("0190a6e1-7c1a-7c3e-8000-0123456789ab").is_ok());
        assert!(location("artifact_1.txt").is_ok());
        for bad in ["", "..", "../secret", "a/b", ".hidden", "a b"] {
            assert!(location(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn checksums_are_md5_hex() {
        assert_eq!(
            hex(&Md5::digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
