//! Request extractors that authenticate the caller and apply the anonymous-access rule.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;

use super::jwt::unauthorized;
use super::{authenticate, check_cookie_origin};
use crate::account::Account;
use crate::app::ApiError;
use crate::state::AppState;

/// Message of the 401 answered to an anonymous request that needs an account.
pub(crate) const AUTHENTICATION_REQUIRED: &str = "Authentication is required";

/// The caller of a request, anonymous when allowed: as upstream, a request without
/// credentials passes only if it is a `GET`, `HEAD` or `OPTIONS` and
/// `main.allow_anonymous_access` is on. Invalid credentials are always refused.
///
/// The rejection is a 401 [`ApiError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(pub Option<Account>);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let account = authenticate(state, &parts.headers).await?;
        if account.is_some() {
            check_cookie_origin(state, &parts.method, &parts.headers)?;
            return Ok(Caller(account));
        }
        let read = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if read && state.settings.main.allow_anonymous_access {
            Ok(Caller(None))
        } else {
            Err(unauthorized(AUTHENTICATION_REQUIRED))
        }
    }
}

/// An authenticated caller, whatever the method and the anonymous-access setting.
///
/// The rejection is a 401 [`ApiError`]: `Authentication is required` without credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated(pub Account);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let account = authenticate(state, &parts.headers)
            .await?
            .ok_or_else(|| unauthorized(AUTHENTICATION_REQUIRED))?;
        check_cookie_origin(state, &parts.method, &parts.headers)?;
        Ok(Authenticated(account))
    }
}
