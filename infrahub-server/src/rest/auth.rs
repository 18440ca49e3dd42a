//! `POST /api/auth/login`, `/api/auth/refresh` and `/api/auth/logout`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{BodyFields, JsonBody};
use super::error::RestError;
use crate::app::{ApiError, AppState};
use crate::auth::jwt::unauthorized;
use crate::auth::{
    self, ACCESS_TOKEN_COOKIE, REFRESH_TOKEN_COOKIE, access_token, bearer_token, cookie,
};

/// `Set-Cookie` value of an http-only cookie, as upstream sets them.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: u64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; Max-Age={max_age}; Path=/; SameSite=lax"
    ))
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot set cookie `{name}`"),
        )
    })
}

/// `Set-Cookie` value that removes a cookie.
pub(crate) fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=\"\"; Max-Age=0; Path=/; SameSite=lax"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0; Path=/"))
}

/// `POST /api/auth/login` with `{"username", "password"}`: 200 `{access_token, refresh_token}`
/// and the same tokens as http-only cookies.
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody,
) -> Result<Response, RestError> {
    let mut fields = BodyFields::new(body.as_ref(), true);
    let username = fields.string("username");
    let password = fields.string("password");
    fields.finish()?;
    // Both are present once `finish` accepted the body.
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    let tokens = auth::login(&state, username, password).await?;
    let security = &state.settings.security;
    let mut response = Json(&tokens).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            ACCESS_TOKEN_COOKIE,
            &tokens.access_token,
            security.access_token_lifetime,
        )?,
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            REFRESH_TOKEN_COOKIE,
            &tokens.refresh_token,
            security.refresh_token_lifetime,
        )?,
    );
    Ok(response)
}

/// `POST /api/auth/refresh` with the refresh token in `Authorization: Bearer` (or the
/// `refresh_token` cookie): 200 `{access_token}` and the access-token cookie.
pub(super) async fn refresh(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let token = bearer_token(&headers)
        .map(str::to_string)
        .or_else(|| cookie(&headers, REFRESH_TOKEN_COOKIE))
        .ok_or_else(|| {
            unauthorized("A JWT refresh token is required to perform this operation.")
        })?;
    let access = auth::refresh(&state, &token).await?;
    let mut response = Json(json!({ "access_token": access })).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            ACCESS_TOKEN_COOKIE,
            &access,
            state.settings.security.access_token_lifetime,
        )?,
    );
    Ok(response)
}

/// `POST /api/auth/logout` with an access token: closes its session (its refresh token stops
/// working) and clears the cookies; answers `null`.
pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let token = access_token(&headers)
        .ok_or_else(|| unauthorized("A JWT access token is required to perform this operation."))?;
    auth::logout(&state, &token).await?;
    let mut response = Json(Value::Null).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(ACCESS_TOKEN_COOKIE));
    headers.append(header::SET_COOKIE, clear_cookie(REFRESH_TOKEN_COOKIE));
    Ok(response)
}
