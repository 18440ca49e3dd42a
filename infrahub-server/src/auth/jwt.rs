//! Access and refresh tokens: HS256 JWTs with upstream Infrahub's claims, so tokens issued by
//! either server are accepted by the other when they share `security.secret_key`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::app::ApiError;

/// The message of a 401 answered for an expired token; the SDK refreshes its access token
/// when it reads exactly this text.
pub const EXPIRED_SIGNATURE: &str = "Expired Signature";

/// What a token is for (the `type` claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Authenticates API requests.
    Access,
    /// Obtains new access tokens from `POST /api/auth/refresh`.
    Refresh,
}

/// The claims of an access or refresh token, named as upstream names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not valid before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Always `false`: no token is "fresh" in upstream's sense.
    pub fresh: bool,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// Id of the `InternalRefreshToken` node of the login session.
    pub session_id: String,
}

impl Claims {
    /// Claims for a token of `token_type` for `account_id` in `session_id`, valid from now for
    /// `lifetime_seconds`.
    pub fn new(
        token_type: TokenType,
        account_id: &str,
        session_id: &str,
        lifetime_seconds: u64,
    ) -> Claims {
        let now = unix_now();
        Claims {
            sub: account_id.to_string(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(lifetime_seconds).unwrap_or(i64::MAX)),
            fresh: false,
            token_type,
            session_id: session_id.to_string(),
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Signs `claims` with `secret` (HS256).
///
/// # Errors
///
/// A 500 [`ApiError`] if signing fails, which only a broken crypto backend can cause.
pub fn encode_token(secret: &[u8], claims: &Claims) -> Result<String, ApiError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot sign a token: {error}"),
        )
    })
}

/// Checks the signature and validity period of `token` and that it is a token of `expected`
/// type; returns its claims.
///
/// # Errors
///
/// A 401 [`ApiError`]: `Expired Signature` for an expired token (what the SDK waits for to
/// refresh), `Invalid token` for a token that is malformed, badly signed or not yet valid, and
/// upstream's "current token is not an access/refresh token" for a token of the other type.
pub fn decode_token(secret: &[u8], token: &str, expected: TokenType) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Upstream (PyJWT) allows no clock leeway.
    validation.leeway = 0;
    validation.validate_nbf = true;
    let claims =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|error| match error.kind() {
                JwtErrorKind::ExpiredSignature => unauthorized(EXPIRED_SIGNATURE),
                _ => unauthorized("Invalid token"),
            })?
            .claims;
    if claims.token_type != expected {
        return Err(unauthorized(match expected {
            TokenType::Access => "Invalid token, current token is not an access token",
            TokenType::Refresh => "Invalid token, current token is not a refresh token",
        }));
    }
    Ok(claims)
}

/// A 401 error with `message`.
pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    async fn message(error: ApiError) -> (StatusCode, String) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (
            status,
            value["errors"][0]["message"].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn a_token_round_trips_with_upstream_claim_names() {
        let claims = Claims::new(TokenType::Access, "account-1", "session-1", 60);
        let token = encode_token(SECRET, &claims).unwrap();
        assert_eq!(
            decode_token(SECRET, &token, TokenType::Access).unwrap(),
            claims
        );
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["sub", "iat", "nbf", "exp", "fresh", "type", "session_id"]
        );
        assert_eq!(json["type"], "access");
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[tokio::test]
    async fn expired_tokens_say_expired_signature() {
        let mut claims = Claims::new(TokenType::Access, "a", "s", 60);
        claims.exp = unix_now() - 10;
        let token = encode_token(SECRET, &claims).unwrap();
        let error = decode_token(SECRET, &token, TokenType::Access).unwrap_err();
        assert_eq!(
            message(error).await,
            (StatusCode::UNAUTHORIZED, EXPIRED_SIGNATURE.to_string())
        );
    }

    #[tokio::test]
    async fn wrong_key_type_or_shape_is_an_invalid_token() {
        let claims = Claims::new(TokenType::Refresh, "a", "s", 60);
        let token = encode_token(SECRET, &claims).unwrap();
        let (status, text) = message(
            decode_token(
                b"another key of enough length......",
                &token,
                TokenType::Refresh,
            )
            .unwrap_err(),
        )
        .await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::UNAUTHORIZED, "Invalid token")
        );
        let (_, text) = message(decode_token(SECRET, &token, TokenType::Access).unwrap_err()).await;
        assert_eq!(text, "Invalid token, current token is not an access token");
        let (_, text) =
            message(decode_token(SECRET, "garbage", TokenType::Access).unwrap_err()).await;
        assert_eq!(text, "Invalid token");
    }

    #[tokio::test]
    async fn tokens_not_yet_valid_are_rejected() {
        let mut claims = Claims::new(TokenType::Access, "a", "s", 600);
        claims.nbf = unix_now() + 300;
        let token = encode_token(SECRET, &claims).unwrap();
        let (_, text) = message(decode_token(SECRET, &token, TokenType::Access).unwrap_err()).await;
        assert_eq!(text, "Invalid token");
    }
}
