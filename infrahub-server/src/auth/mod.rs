//! Authentication: which account a request acts as.
//!
//! Requests prove who they are the way upstream Infrahub accepts it, checked in this order:
//!
//! 1. `X-INFRAHUB-KEY: <token>`: an API token, the `token` of an `InternalAccountToken` node of
//!    the default branch whose `expiration`, when set, is in the future;
//! 2. `Authorization: Bearer <jwt>`, or else the `access_token` cookie: an access token issued
//!    by `POST /api/auth/login` or `/api/auth/refresh` (see [`jwt`]).
//!
//! Either way the account must exist and have status `active`, and an access token's login
//! session must still be open (a logout ends it). A request without credentials is anonymous;
//! the [`Caller`] and [`Authenticated`] extractors apply the anonymous-access rule.
//! Credentials that were checked are remembered until the next change to accounts, tokens,
//! sessions or permissions (see [`AuthCache`]): a client hammering the server with one API
//! token costs no database read per request, and a revocation takes effect on the next one.
//!
//! # Examples
//!
//! ```no_run
//! # async fn example(state: std::sync::Arc<infrahub_server::app::AppState>) -> Result<(), infrahub_server::app::ApiError> {
//! use axum::http::HeaderMap;
//! use infrahub_server::auth::{authenticate, login};
//!
//! let tokens = login(&state, "admin", "infrahub").await?;
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     "authorization",
//!     format!("Bearer {}", tokens.access_token).parse().expect("ASCII token"),
//! );
//! let account = authenticate(&state, &headers).await?.expect("authenticated");
//! assert_eq!(account.name, "admin");
//! # Ok(())
//! # }
//! ```

mod cache;
mod extract;
pub mod jwt;
mod permissions;
mod session;

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode, header};
use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_graph::{BranchView, NodeId, Timestamp};
use serde_json::Value;

use crate::account::{Account, AuthMethod};
use crate::app::ApiError;
use crate::state::AppState;

pub use cache::AuthCache;
pub(crate) use cache::concerns_credentials;
pub use extract::{Authenticated, Caller};
pub use jwt::{Claims, EXPIRED_SIGNATURE, TokenType, decode_token, encode_token};
pub(crate) use permissions::{
    OperationAccess, authorize_operation, caller_permission_nodes, check_mutation,
};
pub use permissions::{
    caller_permissions, decision, has_global_permission, permission_set, require_global_permission,
};
pub use session::{TokenPair, login, logout, refresh};

use cache::{AccountEntry, TokenEntry};
use jwt::{unauthorized, unix_now};

/// What every worker key starts with.
const WORKER_KEY_PREFIX: &str = "infrahub-worker-";

/// The API token the server hands to the SDK client of the Python code its tasks run
/// (generators, checks, transforms): `infrahub-worker-` and the HMAC-SHA256 of a fixed label
/// under the deployment's secret key (`security.secret_key`), so every process sharing that
/// key accepts it and nobody without the key can make it. It acts as the server itself
/// (every permission), as upstream's agent account does.
pub fn worker_key(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let pad = |byte: u8| key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(b"infrahub-rs worker key v1")
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    let mut text = String::from(WORKER_KEY_PREFIX);
    for byte in outer {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Compares two strings in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Header carrying an API token.
pub const API_KEY_HEADER: &str = "x-infrahub-key";
/// Cookie carrying the access token in browsers.
pub const ACCESS_TOKEN_COOKIE: &str = "access_token";
/// Cookie carrying the refresh token in browsers.
pub const REFRESH_TOKEN_COOKIE: &str = "refresh_token";

/// Kind of the nodes holding API tokens.
const ACCOUNT_TOKEN_KIND: &str = "InternalAccountToken";
/// Kind every account inherits.
const ACCOUNT_KIND: &str = "CoreGenericAccount";

/// Finds the account `headers` authenticate as: an API token in `X-INFRAHUB-KEY`, else an
/// access token in `Authorization: Bearer` or the `access_token` cookie. `Ok(None)` when the
/// request carries no credentials.
///
/// # Errors
///
/// A 401 [`ApiError`] when credentials are present but not valid: `Expired Signature` for an
/// expired access token, `Invalid token` for an unknown or expired API token or a malformed
/// JWT, `This account has been deactivated` for an account whose status is not `active`. A 500
/// when the database cannot be read.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Account>, ApiError> {
    if let Some(token) = api_key(headers)? {
        if token.starts_with(WORKER_KEY_PREFIX) && same(token, &worker_key(&state.jwt_secret)) {
            return Ok(Some(Account::internal()));
        }
        let entry = api_token(state, token).await?;
        let account = active_account(state, &entry.account_id).await?;
        return Ok(Some(Account {
            id: entry.account_id,
            name: account.name,
            method: AuthMethod::ApiToken,
        }));
    }
    if let Some(token) = access_token(headers) {
        let claims = decode_token(&state.jwt_secret, &token, TokenType::Access)?;
        open_session(state, &claims.session_id).await?;
        let account = active_account(state, &claims.sub).await?;
        return Ok(Some(Account {
            id: claims.sub,
            name: account.name,
            method: AuthMethod::AccessToken,
        }));
    }
    Ok(None)
}

/// Refuses a request that changes something (any method but `GET`, `HEAD` and `OPTIONS`) and
/// is authenticated only by the session cookie, unless its `Origin` (or else `Referer`) is
/// this server (the `Host` it was sent to) or one of `api.cors_allow_origins`: another site's
/// page cannot make a logged-in browser write. Requests with an `Authorization` or
/// `X-INFRAHUB-KEY` header are not concerned (a browser never adds those cross-site).
///
/// # Errors
///
/// A 403 [`ApiError`] saying why.
pub fn check_cookie_origin(
    state: &AppState,
    method: &axum::http::Method,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    use axum::http::Method;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let by_cookie_only = bearer_token(headers).is_none()
        && headers.get(API_KEY_HEADER).is_none()
        && cookie(headers, ACCESS_TOKEN_COOKIE).is_some();
    if safe || !by_cookie_only {
        return Ok(());
    }
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let origin = header(header::ORIGIN).or_else(|| {
        // A Referer carries a path: keep its scheme and authority.
        header(header::REFERER).map(|referer| {
            let after_scheme = referer.find("://").map_or(0, |i| i + 3);
            let end = referer[after_scheme..]
                .find('/')
                .map_or(referer.len(), |i| after_scheme + i);
            referer[..end].to_string()
        })
    });
    let Some(origin) = origin else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a request authenticated by the session cookie must say where it comes from (Origin header)",
        ));
    };
    let host = header(header::HOST).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
    let allowed = (!host.is_empty() && origin_host.eq_ignore_ascii_case(&host))
        || state
            .settings
            .api
            .cors_allow_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(&origin));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cross-site request refused: a request from `{origin}` cannot use the session cookie of this server (allow the origin in api.cors_allow_origins)"
            ),
        ))
    }
}

/// The API token in `X-INFRAHUB-KEY`, if any; an empty header counts as absent.
fn api_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(API_KEY_HEADER) {
        None => Ok(None),
        Some(value) => match value.to_str() {
            Ok("") => Ok(None),
            Ok(token) => Ok(Some(token)),
            Err(_) => Err(unauthorized("Invalid token")),
        },
    }
}

/// The credentials of `Authorization: Bearer <credentials>`, if the header uses that scheme.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|value| !value.is_empty())
}

/// The access token of a request: `Authorization: Bearer`, else the `access_token` cookie.
pub(crate) fn access_token(headers: &HeaderMap) -> Option<String> {
    bearer_token(headers)
        .map(str::to_string)
        .or_else(|| cookie(headers, ACCESS_TOKEN_COOKIE))
}

/// A 500 error for a database read or write the authentication layer could not do.
pub(crate) fn storage_error(error: infrahub_core::Error) -> ApiError {
    let status = if error.kind() == infrahub_core::ErrorKind::Unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    ApiError::new(status, format!("cannot check credentials: {error}"))
}

/// The view of the default branch, where accounts and tokens live.
pub(crate) fn default_view(state: &AppState) -> BranchView {
    BranchView::now(state.engine.default_branch())
}

/// Resolves an API token to its account and expiry, from the cache or the database.
async fn api_token(state: &AppState, token: &str) -> Result<TokenEntry, ApiError> {
    let entry = match state.auth_cache.token(token) {
        Some(entry) => entry,
        None => {
            let epoch = state.auth_cache.epoch();
            let entry = lookup_token(state, token)
                .await?
                .ok_or_else(|| unauthorized("Invalid token"))?;
            state.auth_cache.store_token(token, entry.clone(), epoch);
            entry
        }
    };
    if entry.expires_at.is_some_and(|expiry| expiry <= unix_now()) {
        return Err(unauthorized("Invalid token"));
    }
    Ok(entry)
}

async fn lookup_token(state: &AppState, token: &str) -> Result<Option<TokenEntry>, ApiError> {
    let args = QueryArgs {
        filters: BTreeMap::from([("token__value".to_string(), Value::from(token))]),
        limit: Some(1),
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: Some(vec!["expiration".to_string()]),
        relationships: vec!["account".to_string()],
    };
    let (nodes, _) = state
        .engine
        .query(&default_view(state), ACCOUNT_TOKEN_KIND, &args, &fields)
        .await
        .map_err(storage_error)?;
    let Some(node) = nodes.first() else {
        return Ok(None);
    };
    let Some(account) = node.peers("account").first() else {
        return Ok(None);
    };
    let expires_at = match node.value("expiration") {
        Value::Null => None,
        // An expiry that cannot be read is treated as past: the token is refused.
        Value::String(text) => Some(
            Timestamp::parse(text)
                .map(|at| at.as_micros().div_euclid(1_000_000))
                .unwrap_or(i64::MIN),
        ),
        _ => Some(i64::MIN),
    };
    Ok(Some(TokenEntry {
        account_id: account.id.to_string(),
        expires_at,
    }))
}

/// The name and status of account `account_id`, from the cache or the database; refuses
/// accounts that do not exist or are not active.
pub(crate) async fn active_account(
    state: &AppState,
    account_id: &str,
) -> Result<AccountEntry, ApiError> {
    let entry = match state.auth_cache.account(account_id) {
        Some(entry) => entry,
        None => {
            let epoch = state.auth_cache.epoch();
            let entry = lookup_account(state, account_id).await?;
            state
                .auth_cache
                .store_account(account_id, entry.clone(), epoch);
            entry
        }
    };
    if !entry.active {
        return Err(unauthorized("This account has been deactivated"));
    }
    Ok(entry)
}

async fn lookup_account(state: &AppState, account_id: &str) -> Result<AccountEntry, ApiError> {
    let id: NodeId = account_id
        .parse()
        .map_err(|_| unauthorized("Invalid token"))?;
    let fields = Fields {
        attributes: Some(vec!["name".to_string(), "status".to_string()]),
        relationships: Vec::new(),
    };
    let nodes = state
        .engine
        .get(&default_view(state), ACCOUNT_KIND, &[id], &fields)
        .await
        .map_err(storage_error)?;
    let node = nodes.first().ok_or_else(|| {
        unauthorized(format!(
            "account `{account_id}` of this token no longer exists"
        ))
    })?;
    Ok(AccountEntry {
        name: node.value("name").as_str().unwrap_or_default().to_string(),
        active: is_active(node.value("status")),
    })
}

/// Fails unless login session `session_id` (an `InternalRefreshToken` node) still exists:
/// after a logout, the session's access tokens stop working at once.
async fn open_session(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    if state.auth_cache.session_exists(session_id) {
        return Ok(());
    }
    let epoch = state.auth_cache.epoch();
    if !session::session_exists(state, session_id).await? {
        return Err(unauthorized(SESSION_CLOSED));
    }
    state.auth_cache.store_session(session_id, epoch);
    Ok(())
}

/// The message of a 401 answered for an access token whose session was closed.
pub const SESSION_CLOSED: &str =
    "The session of this token has been closed (logout); sign in again";

/// Whether an account `status` value allows signing in.
pub(crate) fn is_active(status: &Value) -> bool {
    status.as_str() == Some("active")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn bearer_credentials_are_read_like_fastapi() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_found_among_several() {
        let map = headers(&[
            ("cookie", "theme=dark; access_token=a.b.c"),
            ("cookie", "refresh_token=\"r.s.t\""),
        ]);
        assert_eq!(cookie(&map, ACCESS_TOKEN_COOKIE).as_deref(), Some("a.b.c"));
        assert_eq!(cookie(&map, REFRESH_TOKEN_COOKIE).as_deref(), Some("r.s.t"));
        assert_eq!(cookie(&map, "missing"), None);
        // The header wins over the cookie.
        let both = headers(&[
            ("cookie", "access_token=cookie"),
            ("authorization", "Bearer header"),
        ]);
        assert_eq!(access_token(&both).as_deref(), Some("header"));
    }

    #[test]
    fn an_empty_api_key_header_is_no_credential() {
        assert!(matches!(
            api_key(&headers(&[("x-infrahub-key", "")])),
            Ok(None)
        ));
        assert!(matches!(
            api_key(&headers(&[("X-INFRAHUB-KEY", "tok")])),
            Ok(Some("tok"))
        ));
    }

    #[test]
    fn only_active_accounts_may_sign_in() {
        assert!(is_active(&Value::from("active")));
        assert!(!is_active(&Value::from("inactive")));
        assert!(!is_active(&Value::Null));
    }
}
