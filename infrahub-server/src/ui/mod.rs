//! The web frontend: pages rendered on the server from minijinja templates, with a little
//! hand-written JavaScript, served by the same binary as the API (design:
//! docs/adr/0003-web-frontend.md).
//!
//! Every page reads and writes through the GraphQL engine the API serves, as the signed-in
//! account ([`Page::graphql`]): the same validation, permissions and events as a client of the
//! API, no second path for writes. Sessions are the API's own: the `access_token` and
//! `refresh_token` cookies that `POST /api/auth/login` sets, renewed from the refresh token
//! when the access token has expired ([`session`]). Forms post back to the server; a write
//! authenticated by the cookie must come from this server's own pages (the `Origin` check of
//! [`crate::auth::check_cookie_origin`]), and pages forbid inline scripts and styles and
//! framing (`Content-Security-Policy`).
//!
//! Layout:
//! - [`assets`]: the stylesheet, the script and the icon, compiled into the binary and served
//!   under a content hash;
//! - [`session`]: login, logout and the renewal of expired access tokens;
//! - `home`: the home page and the global search;
//! - one module per group of pages, each with its templates (`templates/`).
//!
//! Every page takes `?branch=` (default: the default branch) and `?at=` (time travel: the page
//! shows the data as of then, read-only).

mod account;
mod assets;
mod branches;
mod home;
mod objects;
mod schema;
mod session;
mod tasks;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde_json::{Value, json};

use crate::account::Account;
use crate::app::{ApiError, VERSION};
use crate::graphql::GraphqlRequest;
use crate::state::AppState;

/// The routes of the web frontend.
pub(crate) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(home::search))
        .route(
            "/login",
            get(session::login_page).post(session::login_submit),
        )
        .route("/logout", post(session::logout))
        .route("/static/{hash}/{file}", get(assets::serve))
        .merge(account::routes())
        .merge(home::routes())
        .merge(branches::routes())
        .merge(objects::routes())
        .merge(schema::routes())
        .merge(tasks::routes())
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::renew_access,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(tower_http::compression::CompressionLayer::new())
}

/// The `Content-Security-Policy` of every page: scripts, styles, images and connections from
/// this server only, no inline script or style, no framing, forms posted here only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The templates of every page, by name, compiled into the binary.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        environment(|name, error| {
            // The templates are part of the binary: one that does not parse is a bug that the
            // unit test `every_template_parses` catches.
            tracing::error!(template = name, %error, "web frontend template does not parse");
        })
    })
}

/// The template environment: every group's templates (`on_error` called for one that does not
/// parse) and the functions and filters they use.
fn environment(mut on_error: impl FnMut(&str, minijinja::Error)) -> Environment<'static> {
    let mut env = Environment::new();
    let groups: [&[(&str, &str)]; 7] = [
        TEMPLATES,
        account::TEMPLATES,
        branches::TEMPLATES,
        home::TEMPLATES,
        objects::TEMPLATES,
        schema::TEMPLATES,
        tasks::TEMPLATES,
    ];
    env.add_function("href", href);
    env.add_function("asset", assets::url);
    env.add_filter("urlencode_part", urlencode_part);
    for (name, source) in groups.into_iter().flatten() {
        if let Err(error) = env.add_template(name, source) {
            on_error(name, error);
        }
    }
    env
}

/// The layout and the pages shared by every module.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// `href(path, **params)` in a template: `path` with the page's `branch` and `at` kept (from
/// the `ui.keep` pairs of the context), then `params` (a `none` value leaves a pair out).
fn href(
    state: &minijinja::State<'_, '_>,
    path: String,
    params: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(keep) = state.lookup("ui").and_then(|ui| ui.get_attr("keep").ok())
        && let Ok(iter) = keep.try_iter()
    {
        for pair in iter {
            let name = pair.get_item(&minijinja::Value::from(0))?;
            let value = pair.get_item(&minijinja::Value::from(1))?;
            pairs.push((name.to_string(), value.to_string()));
        }
    }
    for name in params.args() {
        let value: minijinja::Value = params.get(name)?;
        pairs.retain(|(n, _)| n != name);
        if !value.is_none() && !value.is_undefined() {
            pairs.push((name.to_string(), value.to_string()));
        }
    }
    Ok(with_query(&path, &pairs))
}

/// `path?name=value&...` with both percent-encoded.
pub(crate) fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect();
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{}", query.join("&"))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn urlencode_part(value: String) -> String {
    encode(&value)
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) enum UiError {
    /// Not signed in: go to the login page, then back to this path.
    Login(String),
    /// An error page with a status and a message.
    Page(StatusCode, String),
}

impl UiError {
    /// A 404 page.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        UiError::Page(StatusCode::NOT_FOUND, message.into())
    }

    /// A 400 page.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        UiError::Page(StatusCode::BAD_REQUEST, message.into())
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        UiError::Page(error.status(), error.message().to_string())
    }
}

impl From<crate::rest::error::RestError> for UiError {
    fn from(error: crate::rest::error::RestError) -> Self {
        match error {
            crate::rest::error::RestError::Api(error) => error.into(),
            crate::rest::error::RestError::Invalid(detail) => {
                UiError::Page(StatusCode::BAD_REQUEST, Value::Array(detail).to_string())
            }
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login(next) => {
                Redirect::to(&with_query("/login", &[("next".into(), next)])).into_response()
            }
            UiError::Page(status, message) => {
                let context = json!({
                    "status": status.as_u16(),
                    "reason": status.canonical_reason().unwrap_or("Error"),
                    "message": message,
                    "ui": {"keep": [], "bare": true, "version": VERSION},
                });
                let body = render_template("error.html", &context)
                    .unwrap_or_else(|error| format!("{status}: {message} ({error})"));
                (status, Html(body)).into_response()
            }
        }
    }
}

/// Renders `name` with `context`.
pub(crate) fn render_template(name: &str, context: &Value) -> Result<String, String> {
    templates()
        .get_template(name)
        .and_then(|template| {
            template.render(minijinja::Value::from(minijinja::value::Serde(context)))
        })
        .map_err(|error| {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            message
        })
}

/// One request for a page: who asks, on which branch, as of when.
pub(crate) struct Page {
    /// The server state.
    pub state: Arc<AppState>,
    /// The signed-in account; `None` when anonymous access is allowed and nobody signed in.
    pub account: Option<Account>,
    /// The branch the page reads and writes (`?branch=`).
    pub branch: String,
    /// The instant the page reads (`?at=`); pages are read-only then.
    pub at: Option<String>,
    /// The path and query of the request.
    pub uri: String,
}

impl FromRequestParts<Arc<AppState>> for Page {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let uri = parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        );
        let account = match crate::auth::authenticate(state, &parts.headers).await {
            Ok(account) => account,
            Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
                return Err(UiError::Login(uri));
            }
            Err(error) => return Err(error.into()),
        };
        if account.is_some() {
            crate::auth::check_cookie_origin(state, &parts.method, &parts.headers)?;
        } else if !state.settings.main.allow_anonymous_access || parts.method != "GET" {
            return Err(UiError::Login(uri));
        }
        let query = parts.uri.query().unwrap_or_default();
        let param = |name: &str| {
            form_pairs(query)
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty())
        };
        let branch = param("branch").unwrap_or_else(|| state.engine.default_branch().to_string());
        if state.engine.schema(&branch).is_err() {
            return Err(UiError::not_found(format!("Branch {branch} not found.")));
        }
        let at = param("at");
        if let Some(at) = &at {
            infrahub_graph::Timestamp::parse(at)
                .map_err(|e| UiError::bad_request(format!("invalid `at` value: {e}")))?;
        }
        Ok(Page {
            state: Arc::clone(state),
            account,
            branch,
            at,
            uri,
        })
    }
}

/// The `name=value` pairs of a query string or form body, decoded.
pub(crate) fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Decodes `+` and percent escapes (invalid escapes are kept as they are).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[allow(dead_code)] // Used by the pages of the next commits.
impl Page {
    /// Whether the page shows the past (and so offers no change).
    pub(crate) fn read_only(&self) -> bool {
        self.at.is_some() || self.account.is_none()
    }

    /// Refuses a change when the page shows the past or nobody is signed in.
    pub(crate) fn check_writable(&self) -> Result<(), UiError> {
        if self.at.is_some() {
            return Err(UiError::bad_request(
                "this page shows the past (`at`): changes are made on the present only",
            ));
        }
        if self.account.is_none() {
            return Err(UiError::Login(self.uri.clone()));
        }
        Ok(())
    }

    /// The `branch` and `at` pairs that links keep (the default branch is left out).
    pub(crate) fn keep(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if self.branch != self.state.engine.default_branch() {
            pairs.push(("branch".to_string(), self.branch.clone()));
        }
        if let Some(at) = &self.at {
            pairs.push(("at".to_string(), at.clone()));
        }
        pairs
    }

    /// `path` with this page's branch and time kept, then `extra`.
    pub(crate) fn link(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs = self.keep();
        for (name, value) in extra {
            pairs.retain(|(n, _)| n != name);
            pairs.push(((*name).to_string(), (*value).to_string()));
        }
        with_query(path, &pairs)
    }

    /// Runs a GraphQL document on this page's branch and instant as the signed-in account;
    /// returns `data` and the messages of any `errors`.
    pub(crate) async fn graphql_result(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<(Value, Vec<String>), UiError> {
        let is_mutation = query.trim_start().starts_with("mutation");
        let at = if is_mutation {
            None
        } else {
            self.at.as_deref()
        };
        let request = GraphqlRequest {
            query: query.to_string(),
            variables: Some(variables),
            operation_name: None,
        };
        let mut body =
            crate::graphql::execute(&self.state, &self.branch, at, request, self.account.clone())
                .await?;
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown error")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((
            body.get_mut("data").map(Value::take).unwrap_or(Value::Null),
            errors,
        ))
    }

    /// Like [`Page::graphql_result`], with any error shown as the page's error.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Result<Value, UiError> {
        let (data, errors) = self.graphql_result(query, variables).await?;
        if errors.is_empty() {
            Ok(data)
        } else {
            let status = if errors.iter().any(|e| e.contains("permission")) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(UiError::Page(status, errors.join("; ")))
        }
    }

    /// The values every page's layout reads (`ui` in templates).
    pub(crate) async fn layout(&self) -> Result<Value, UiError> {
        let schema = self
            .state
            .engine
            .schema(&self.branch)
            .map_err(|e| UiError::not_found(e.to_string()))?;
        let mut menu = crate::rest::menu::menu_sections(
            &self.state,
            self.account.as_ref(),
            &self.branch,
            &schema,
        )
        .await?;
        let branches: Vec<String> = self
            .state
            .engine
            .branches()
            .await
            .map_err(|e| UiError::Page(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .into_iter()
            .map(|b| b.name)
            .collect();
        let path = self.uri.split('?').next().unwrap_or("/").to_string();
        let keep: Vec<[String; 2]> = self.keep().into_iter().map(|(n, v)| [n, v]).collect();
        if let Value::Object(sections) = &mut menu {
            for items in sections.values_mut() {
                mark_menu(items, &path);
            }
        }
        let at_input = self.at.as_deref().and_then(|at| {
            infrahub_graph::Timestamp::parse(at)
                .ok()
                .map(|t| t.to_string().chars().take(19).collect::<String>())
        });
        Ok(json!({
            "at_input": at_input,
            "account": self.account.as_ref().map(|a| json!({"id": a.id, "name": a.name})),
            "branch": self.branch,
            "default_branch": self.state.engine.default_branch(),
            "branches": branches,
            "at": self.at,
            "read_only": self.read_only(),
            "menu": menu,
            "path": path,
            "uri": self.uri,
            "keep": keep,
            "version": VERSION,
        }))
    }

    /// Renders the page `template` with `context` (an object) and the layout's values.
    pub(crate) async fn render(&self, template: &str, context: Value) -> Result<Response, UiError> {
        self.render_status(StatusCode::OK, template, context).await
    }

    /// Like [`Page::render`], answering with `status` (a form shown again with its errors
    /// answers 422).
    pub(crate) async fn render_status(
        &self,
        status: StatusCode,
        template: &str,
        mut context: Value,
    ) -> Result<Response, UiError> {
        let layout = self.layout().await?;
        if let Value::Object(map) = &mut context {
            map.insert("ui".to_string(), layout);
        }
        let body = render_template(template, &context)
            .map_err(|e| UiError::Page(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        Ok((status, Html(body)).into_response())
    }

    /// A redirect (303, so that a form post becomes a `GET`) to `path` on this page's branch.
    pub(crate) fn redirect(&self, path: &str, extra: &[(&str, &str)]) -> Response {
        let mut pairs = self.keep();
        pairs.retain(|(n, _)| n != "at");
        for (name, value) in extra {
            pairs.retain(|(n, _)| n != name);
            pairs.push(((*name).to_string(), (*value).to_string()));
        }
        Redirect::to(&with_query(path, &pairs)).into_response()
    }
}

/// Pages of the menu that the frontend does not serve yet.
const UNSERVED_MENU_PATHS: &[&str] = &["/activities"];

/// Marks the menu entry of `path` `current` and the groups above it `open`, and leaves out
/// the entries of pages not served; returns whether `items` hold the current entry.
fn mark_menu(items: &mut Value, path: &str) -> bool {
    let Value::Array(entries) = items else {
        return false;
    };
    entries.retain(|entry| {
        entry
            .get("path")
            .and_then(Value::as_str)
            .is_none_or(|p| !UNSERVED_MENU_PATHS.contains(&p))
    });
    // Upstream's menu gives each top-level kind a first child that is the kind itself (so that
    // kinds placed under it nest there): a group holding only that child is shown as the link.
    for entry in entries.iter_mut() {
        let own_path = entry
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(Value::Array(children)) = entry.get_mut("children")
            && children.len() == 1
            && own_path.is_some()
            && children[0].get("path").and_then(Value::as_str) == own_path.as_deref()
        {
            children.clear();
        }
    }
    let mut found = false;
    for entry in entries.iter_mut() {
        let current = entry.get("path").and_then(Value::as_str) == Some(path);
        let below = entry
            .get_mut("children")
            .is_some_and(|c| mark_menu(c, path));
        // A group whose entries were all left out is left out too.
        let emptied = entry
            .get("children")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && entry
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty();
        if let Value::Object(map) = entry {
            map.insert("current".into(), Value::Bool(current));
            map.insert("open".into(), Value::Bool(below));
            map.insert("hidden".into(), Value::Bool(emptied));
        }
        found |= current || below;
    }
    entries.retain(|entry| entry.get("hidden") != Some(&Value::Bool(true)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut failures = Vec::new();
        environment(|name, error| failures.push(format!("{name}: {error}")));
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn menus_mark_the_current_page_and_drop_what_is_not_served() {
        let mut menu = json!([
            {"label": "Device", "path": "/objects/InfraDevice",
             "children": [{"label": "Device", "path": "/objects/InfraDevice", "children": []}]},
            {"label": "Site", "path": "/objects/LocationSite",
             "children": [
                {"label": "Site", "path": "/objects/LocationSite", "children": []},
                {"label": "Rack", "path": "/objects/LocationRack", "children": []}
             ]},
            {"label": "Activity", "path": "",
             "children": [{"label": "Activities", "path": "/activities", "children": []}]}
        ]);
        assert!(mark_menu(&mut menu, "/objects/LocationRack"));
        let entries = menu.as_array().unwrap();
        assert_eq!(
            entries.len(),
            2,
            "the group of unserved pages is left out: {menu}"
        );
        assert_eq!(entries[0]["children"], json!([]), "a kind alone is a link");
        assert_eq!(entries[1]["open"], true);
        assert_eq!(entries[1]["children"][1]["current"], true);
        assert_eq!(entries[1]["children"][0]["current"], false);
    }

    #[test]
    fn query_strings_round_trip() {
        let pairs = vec![
            ("branch".to_string(), "feature/a b".to_string()),
            ("q".to_string(), "x&y=z%+é".to_string()),
        ];
        let url = with_query("/objects/X", &pairs);
        assert_eq!(
            url,
            "/objects/X?branch=feature%2Fa%20b&q=x%26y%3Dz%25%2B%C3%A9"
        );
        let query = url.split_once('?').unwrap().1;
        assert_eq!(form_pairs(query), pairs);
        assert_eq!(
            form_pairs("a=%zz&b=%4"),
            vec![
                ("a".to_string(), "%zz".to_string()),
                ("b".to_string(), "%4".to_string())
            ]
        );
        assert_eq!(
            form_pairs("a=1+2"),
            vec![("a".to_string(), "1 2".to_string())]
        );
    }
}
