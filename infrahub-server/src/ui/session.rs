//! Signing in and out of the web frontend, and keeping the session alive.
//!
//! The session is the API's: `POST /login` checks the password as `POST /api/auth/login` does
//! and sets the same http-only cookies; an access token that has expired is renewed from the
//! refresh token cookie before the page runs ([`renew_access`]); `POST /logout` closes the
//! session (its refresh token stops working) and clears the cookies.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;

use super::{Page, UiError, form_pairs, render_template};
use crate::app::VERSION;
use crate::auth::{
    self, ACCESS_TOKEN_COOKIE, REFRESH_TOKEN_COOKIE, TokenType, bearer_token, cookie,
};
use crate::rest::auth::{clear_cookie, set_cookie};
use crate::state::AppState;

/// Longest login form body read.
const MAX_LOGIN_BODY: usize = 16 * 1024;

/// Where to go after signing in: `next` when it is a path of this server, else the home page.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control)
                && !path.starts_with("/login") =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_form(next: &str, username: &str, error: Option<&str>, status: StatusCode) -> Response {
    let context = json!({
        "next": next,
        "username": username,
        "error": error,
        "ui": {"keep": [], "bare": true, "version": VERSION},
    });
    match render_template("login.html", &context) {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => UiError::Page(StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}

/// `GET /login?next=`: the sign-in form.
pub(super) async fn login_page(request: Request) -> Response {
    let next = form_pairs(request.uri().query().unwrap_or_default())
        .into_iter()
        .find(|(n, _)| n == "next")
        .map(|(_, v)| v);
    login_form(&local_path(next.as_deref()), "", None, StatusCode::OK)
}

/// Whether a form post comes from a page of this server: its `Origin`, when the browser sends
/// one, names the `Host` it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// `POST /login` (form `username`, `password`, `next`): opens a session and goes to `next`, or
/// shows the form again with the reason.
pub(super) async fn login_submit(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if !same_origin(request.headers()) {
        return UiError::Page(
            StatusCode::FORBIDDEN,
            "the sign-in form must be posted from this server's own page".into(),
        )
        .into_response();
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_LOGIN_BODY).await else {
        return UiError::Page(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the sign-in form is larger than {MAX_LOGIN_BODY} bytes"),
        )
        .into_response();
    };
    let fields = form_pairs(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (username, password) = (field("username"), field("password"));
    let next = local_path(Some(&field("next")));
    if username.is_empty() || password.is_empty() {
        return login_form(
            &next,
            &username,
            Some("Enter a username and a password."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let tokens = match auth::login(&state, &username, &password).await {
        Ok(tokens) => tokens,
        Err(error) if error.status().is_client_error() => {
            // One message whether the account or the password was wrong.
            tracing::info!(%username, reason = error.message(), "web sign-in refused");
            return login_form(
                &next,
                &username,
                Some("Invalid username or password."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(error) => return UiError::from(error).into_response(),
    };
    let security = &state.settings.security;
    let cookies = [
        set_cookie(
            ACCESS_TOKEN_COOKIE,
            &tokens.access_token,
            security.access_token_lifetime,
        ),
        set_cookie(
            REFRESH_TOKEN_COOKIE,
            &tokens.refresh_token,
            security.refresh_token_lifetime,
        ),
    ];
    let mut response = Redirect::to(&next).into_response();
    for cookie in cookies {
        match cookie {
            Ok(value) => {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            Err(error) => return UiError::from(error).into_response(),
        }
    }
    response
}

/// `POST /logout`: closes the session and clears the cookies.
pub(super) async fn logout(page: Page, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, ACCESS_TOKEN_COOKIE)
        && let Err(error) = auth::logout(&page.state, &token).await
        && error.status().is_server_error()
    {
        return UiError::from(error).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(ACCESS_TOKEN_COOKIE));
    headers.append(header::SET_COOKIE, clear_cookie(REFRESH_TOKEN_COOKIE));
    response
}

/// Renews an expired access-token cookie from the refresh-token cookie before the page runs,
/// and sets the new one on the answer. Requests that carry their own credentials (an
/// `Authorization` or `X-INFRAHUB-KEY` header) are left alone.
pub(super) async fn renew_access(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let own_credentials =
        bearer_token(headers).is_some() || headers.contains_key(auth::API_KEY_HEADER);
    let expired = !own_credentials
        && cookie(headers, ACCESS_TOKEN_COOKIE).is_some_and(|token| {
            auth::decode_token(&state.jwt_secret, &token, TokenType::Access)
                .is_err_and(|e| e.message() == auth::EXPIRED_SIGNATURE)
        });
    let refresh = cookie(headers, REFRESH_TOKEN_COOKIE);
    let (true, Some(refresh)) = (expired, refresh) else {
        return next.run(request).await;
    };
    let Ok(access) = auth::refresh(&state, &refresh).await else {
        // The session is over: the page sends the browser to the login form.
        return next.run(request).await;
    };
    // The page reads the renewed token from the request's cookies.
    let rewritten: Vec<String> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.starts_with(&format!("{ACCESS_TOKEN_COOKIE}=")))
        .map(str::to_string)
        .chain([format!("{ACCESS_TOKEN_COOKIE}={access}")])
        .collect();
    request.headers_mut().remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&rewritten.join("; ")) {
        request.headers_mut().insert(header::COOKIE, value);
    }
    let mut response = next.run(request).await;
    if let Ok(value) = set_cookie(
        ACCESS_TOKEN_COOKIE,
        &access,
        state.settings.security.access_token_lifetime,
    ) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            local_path(Some("/objects/X?branch=b")),
            "/objects/X?branch=b"
        );
        for hostile in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/login?next=/x",
            "javascript:alert(1)",
            "/a\nb",
            "",
        ] {
            assert_eq!(local_path(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(local_path(None), "/");
    }
}
