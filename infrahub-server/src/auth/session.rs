//! Login sessions: password login, access-token refresh and logout.
//!
//! Each login creates an `InternalRefreshToken` node whose id is the session id carried by both
//! tokens; refreshing needs that node to still exist, and logging out deletes it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use infrahub_core::ErrorKind;
use infrahub_core::engine::{
    AttributeInput, Engine, Fields, NodeInput, NodeRef, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_graph::{NodeId, Timestamp};
use serde::Serialize;
use serde_json::Value;

use super::jwt::{Claims, TokenType, decode_token, encode_token, unauthorized};
use super::{ACCOUNT_KIND, active_account, default_view, is_active, storage_error};
use crate::app::ApiError;
use crate::state::AppState;

/// Kind of the nodes recording login sessions.
const SESSION_KIND: &str = "InternalRefreshToken";

/// The answer of a password login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// Access token, valid `security.access_token_lifetime` seconds.
    pub access_token: String,
    /// Refresh token, valid `security.refresh_token_lifetime` seconds or until logout.
    pub refresh_token: String,
}

/// Checks `username` and `password` and opens a session: creates its `InternalRefreshToken`
/// node and returns an access and a refresh token for it.
///
/// # Errors
///
/// As upstream: 404 `That login user doesn't exist in the system` for an unknown account, 401
/// `This account is not allowed to login` for an inactive one, 401 `Incorrect password`. A 500
/// when the database cannot be read or written.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<TokenPair, ApiError> {
    // The initial admin password may still be hashing after a first start.
    state.engine.settle().await.map_err(storage_error)?;
    let args = QueryArgs {
        filters: BTreeMap::from([("name__value".to_string(), Value::from(username))]),
        limit: Some(1),
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: Some(vec!["password".to_string(), "status".to_string()]),
        relationships: Vec::new(),
    };
    let (accounts, _) = state
        .engine
        .query(&default_view(state), ACCOUNT_KIND, &args, &fields)
        .await
        .map_err(storage_error)?;
    let account = accounts.into_iter().next().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "That login user doesn't exist in the system",
        )
    })?;
    if !is_active(account.value("status")) {
        return Err(unauthorized("This account is not allowed to login"));
    }
    let stored_hash = account
        .value("password")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let password = password.to_string();
    // bcrypt takes tens of milliseconds by design: keep it off the async workers.
    let valid =
        tokio::task::spawn_blocking(move || Engine::verify_password(&stored_hash, &password))
            .await
            .map_err(|error| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("password check failed: {error}"),
                )
            })?;
    if !valid {
        return Err(unauthorized("Incorrect password"));
    }
    let account_id = account.id.to_string();
    let session_id = create_session(state, &account_id).await?;
    let security = &state.settings.security;
    Ok(TokenPair {
        access_token: encode_token(
            &state.jwt_secret,
            &Claims::new(
                TokenType::Access,
                &account_id,
                &session_id,
                security.access_token_lifetime,
            ),
        )?,
        refresh_token: encode_token(
            &state.jwt_secret,
            &Claims::new(
                TokenType::Refresh,
                &account_id,
                &session_id,
                security.refresh_token_lifetime,
            ),
        )?,
    })
}

async fn create_session(state: &AppState, account_id: &str) -> Result<String, ApiError> {
    let lifetime = state.settings.security.refresh_token_lifetime;
    let micros = i64::try_from(lifetime)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    let expiration = Timestamp::now().plus_micros(micros);
    let mut input = NodeInput::default();
    input.attributes.insert(
        "expiration".to_string(),
        AttributeInput::value(Value::from(expiration.to_string())),
    );
    input.relationships.insert(
        "account".to_string(),
        RelationshipInput::One(Some(PeerInput::id(account_id))),
    );
    let created = state
        .engine
        .create(state.engine.default_branch(), SESSION_KIND, input)
        .await
        .map_err(storage_error)?;
    Ok(created.node.id.to_string())
}

/// Whether login session `session_id` (an `InternalRefreshToken` node) still exists.
///
/// Errors: a 401 for an id that is no node id, a 500 when the database cannot be read.
pub(super) async fn session_exists(state: &AppState, session_id: &str) -> Result<bool, ApiError> {
    let session: NodeId = session_id
        .parse()
        .map_err(|_| unauthorized("Invalid token"))?;
    let sessions = state
        .engine
        .get(
            &default_view(state),
            SESSION_KIND,
            &[session],
            &Fields::minimal(),
        )
        .await
        .map_err(storage_error)?;
    Ok(!sessions.is_empty())
}

/// Issues a new access token for the session of `refresh_token`.
///
/// # Errors
///
/// A 401 [`ApiError`]: `Expired Signature`, `Invalid token`, a token that is not a refresh
/// token, an inactive account, or `The provided refresh token has been invalidated in the
/// database` once the session was closed by a logout.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<String, ApiError> {
    let claims = decode_token(&state.jwt_secret, refresh_token, TokenType::Refresh)?;
    active_account(state, &claims.sub).await?;
    if !session_exists(state, &claims.session_id).await? {
        return Err(unauthorized(
            "The provided refresh token has been invalidated in the database",
        ));
    }
    encode_token(
        &state.jwt_secret,
        &Claims::new(
            TokenType::Access,
            &claims.sub,
            &claims.session_id,
            state.settings.security.access_token_lifetime,
        ),
    )
}

/// Closes the session of `access_token`: its refresh token and every access token of the
/// session stop working (upstream's access tokens stay valid until they expire).
///
/// # Errors
///
/// A 401 [`ApiError`] for an access token that is expired or not valid; a 500 when the
/// session cannot be deleted.
pub async fn logout(state: &AppState, access_token: &str) -> Result<(), ApiError> {
    let claims = decode_token(&state.jwt_secret, access_token, TokenType::Access)?;
    if claims.session_id.parse::<NodeId>().is_err() {
        // Not a session this server could have stored: nothing to close.
        return Ok(());
    }
    let reference = NodeRef {
        id: Some(claims.session_id),
        hfid: None,
    };
    match state
        .engine
        .delete(state.engine.default_branch(), SESSION_KIND, &reference)
        .await
    {
        Ok(_) => Ok(()),
        // Already closed (or never stored): nothing to do.
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(storage_error(error)),
    }
}
