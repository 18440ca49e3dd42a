//! The account page: who is signed in, and their API tokens.
//!
//! - `GET /profile`: the account (`AccountProfile`), its groups and roles, its tokens
//!   (`InfrahubAccountToken`: name, expiration and id; never a token's value);
//! - `POST /profile/tokens` (form `name`, `expiration`): `InfrahubAccountTokenCreate`; the answer
//!   is the page itself with the new token's value, shown this once (pages are `no-store`);
//! - `POST /profile/tokens/{id}/delete`: `InfrahubAccountTokenDelete`, then back to the page.
//!
//! Every route needs a signed-in account: an anonymous visitor is sent to the login page.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::{Page, UiError, form_pairs};
use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[(
    "account_profile.html",
    include_str!("templates/account_profile.html"),
)];

/// The routes of the account page.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/profile", get(profile))
        .route("/profile/tokens", post(create_token))
        .route("/profile/tokens/{id}/delete", post(delete_token))
}

/// Tokens listed per page.
const TOKENS_PER_PAGE: usize = 50;
/// Longest token name the form accepts.
const MAX_TOKEN_NAME: usize = 255;

/// The parameters of the account page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ProfileParams {
    /// The first token listed.
    #[serde(default)]
    offset: usize,
    /// What the previous form post did (`token-deleted`).
    #[serde(default)]
    done: Option<String>,
}

/// The account's details, groups and roles.
const PROFILE_QUERY: &str = "query { AccountProfile { id display_label __typename \
     name { value } label { value } description { value } account_type { value } \
     status { value } member_of_groups { edges { node { id display_label __typename \
     ... on CoreAccountGroup { roles { edges { node { id display_label } } } } } } } } }";

/// The account's tokens, a page of them.
const TOKENS_QUERY: &str = "query($limit: Int, $offset: Int) { \
     InfrahubAccountToken(limit: $limit, offset: $offset) { \
     count edges { node { id name expiration } } } }";

/// What the account page shows besides the account: a form's values and errors, a token just
/// created, a notice.
#[derive(Debug, Default)]
struct PageExtras {
    /// The create form's values, shown again with its errors.
    form: Map<String, Value>,
    /// Errors by field name (`name`, `expiration`), and `form` for the form as a whole.
    errors: Map<String, Value>,
    /// The token just created: id, name, expiration and value.
    created: Option<Value>,
    /// A message about the last action.
    notice: Option<String>,
    /// Why the last action failed (a token that could not be deleted).
    error: Option<String>,
}

/// Refuses anonymous visitors (the login page, then back here).
fn signed_in(page: &Page) -> Result<(), UiError> {
    if page.account.is_none() {
        return Err(UiError::Login(page.uri.clone()));
    }
    Ok(())
}

/// Renders the account page with `extras`, answering `status`.
async fn render_profile(
    page: &Page,
    offset: usize,
    extras: PageExtras,
    status: StatusCode,
) -> Result<Response, UiError> {
    // An account whose roles do not let it read accounts still sees its name and tokens.
    let (profile, profile_errors) = page.graphql_result(PROFILE_QUERY, json!({})).await?;
    let account = &profile["AccountProfile"];
    let (id, name) = page
        .account
        .as_ref()
        .map(|a| (a.id.clone(), a.name.clone()))
        .unwrap_or_default();
    let mut groups = Vec::new();
    let mut roles: Vec<Value> = Vec::new();
    for edge in account["member_of_groups"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let group = &edge["node"];
        groups.push(json!({
            "id": group["id"],
            "label": group["display_label"],
            "kind": group["__typename"],
        }));
        for role in group["roles"]["edges"].as_array().into_iter().flatten() {
            let role = json!({"id": role["node"]["id"], "label": role["node"]["display_label"]});
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    let tokens = page
        .graphql(
            TOKENS_QUERY,
            json!({"limit": TOKENS_PER_PAGE, "offset": offset}),
        )
        .await?;
    let tokens = &tokens["InfrahubAccountToken"];
    let list: Vec<Value> = tokens["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| {
            let node = &edge["node"];
            let expiration = node["expiration"].as_str();
            let expired = expiration
                .and_then(|e| infrahub_graph::Timestamp::parse(e).ok())
                .is_some_and(|e| e <= infrahub_graph::Timestamp::now());
            json!({
                "id": node["id"],
                "name": node["name"],
                "expiration": expiration,
                "expired": expired,
            })
        })
        .collect();
    page.render_status(
        status,
        "account_profile.html",
        json!({
            "account": {
                "id": id,
                "kind": account["__typename"],
                "display_label": account["display_label"],
                "name": account["name"]["value"].as_str().unwrap_or(&name),
                "label": account["label"]["value"],
                "description": account["description"]["value"],
                "account_type": account["account_type"]["value"],
                "status": account["status"]["value"],
            },
            "details_error": (!profile_errors.is_empty()).then(|| profile_errors.join("; ")),
            "groups": groups,
            "roles": roles,
            "tokens": list,
            "token_count": tokens["count"],
            "offset": offset,
            "limit": TOKENS_PER_PAGE,
            "form": extras.form,
            "errors": extras.errors,
            "created": extras.created,
            "notice": extras.notice,
            "error": extras.error,
        }),
    )
    .await
}

/// `GET /profile`: the signed-in account and its tokens.
pub(super) async fn profile(
    page: Page,
    Query(params): Query<ProfileParams>,
) -> Result<Response, UiError> {
    signed_in(&page)?;
    let notice = match params.done.as_deref() {
        Some("token-deleted") => Some("The token was deleted: it no longer opens the API.".into()),
        _ => None,
    };
    let extras = PageExtras {
        notice,
        ..PageExtras::default()
    };
    render_profile(&page, params.offset, extras, StatusCode::OK).await
}

/// The expiration a form sends (`datetime-local`, read as UTC) as the API takes it; other
/// text is passed on for the API to judge.
fn expiration_value(text: &str) -> String {
    let text = text.trim();
    // `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`: what a datetime-local input sends.
    let local = text.len() >= 16
        && text.is_char_boundary(16)
        && text.as_bytes().get(10) == Some(&b'T')
        && !text.ends_with('Z')
        && !text[10..].contains(['+', '-']);
    if local {
        let seconds = if text.len() == 16 { ":00" } else { "" };
        format!("{text}{seconds}Z")
    } else {
        text.to_string()
    }
}

/// `POST /profile/tokens` (form `name`, `expiration`): creates a token of the signed-in account
/// and shows its value once; the form again with the reason when the API refuses.
pub(super) async fn create_token(page: Page, body: Bytes) -> Result<Response, UiError> {
    signed_in(&page)?;
    page.check_writable()?;
    let fields = form_pairs(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let (name, expiration) = (field("name"), field("expiration"));
    let mut extras = PageExtras::default();
    let name_chars = name.chars().count();
    if name_chars > MAX_TOKEN_NAME {
        extras.errors.insert(
            "name".into(),
            json!(format!(
                "The name is {name_chars} characters long: at most {MAX_TOKEN_NAME}."
            )),
        );
    }
    let mut data = json!({});
    if !name.is_empty() {
        data["name"] = json!(name);
    }
    if !expiration.is_empty() {
        let value = expiration_value(&expiration);
        match infrahub_graph::Timestamp::parse(&value) {
            Ok(at) if at <= infrahub_graph::Timestamp::now() => {
                extras.errors.insert(
                    "expiration".into(),
                    json!("The expiration is in the past: choose a later time (UTC)."),
                );
            }
            _ => data["expiration"] = json!(value),
        }
    }
    // The name is shown again in full only when it is short enough to be kept.
    let keep_name = if name_chars > MAX_TOKEN_NAME {
        String::new()
    } else {
        name.clone()
    };
    extras.form.insert("name".into(), json!(keep_name));
    extras.form.insert("expiration".into(), json!(expiration));
    if !extras.errors.is_empty() {
        return render_profile(&page, 0, extras, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let (result, errors) = page
        .graphql_result(
            "mutation($data: InfrahubAccountTokenCreateInput!) { \
             InfrahubAccountTokenCreate(data: $data) { ok object { id token { value } } } }",
            json!({ "data": data }),
        )
        .await?;
    let created = &result["InfrahubAccountTokenCreate"]["object"];
    match created["token"]["value"].as_str() {
        Some(value) if errors.is_empty() => {
            extras.form = Map::new();
            extras.created = Some(json!({
                "id": created["id"],
                "name": data.get("name"),
                "expiration": data.get("expiration"),
                "value": value,
            }));
            render_profile(&page, 0, extras, StatusCode::OK).await
        }
        _ => {
            let message = if errors.is_empty() {
                "The token was not created (no value returned).".to_string()
            } else {
                errors.join("; ")
            };
            let target = if message.contains("expiration") {
                "expiration"
            } else if message.contains("name") {
                "name"
            } else {
                "form"
            };
            extras.errors.insert(target.into(), json!(message));
            render_profile(&page, 0, extras, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /profile/tokens/{id}/delete`: deletes one of the signed-in account's tokens; a token
/// of another account, or none, is refused as the API refuses it.
pub(super) async fn delete_token(page: Page, Path(id): Path<String>) -> Result<Response, UiError> {
    signed_in(&page)?;
    page.check_writable()?;
    let (_, errors) = page
        .graphql_result(
            "mutation($data: InfrahubAccountTokenDeleteInput!) { \
             InfrahubAccountTokenDelete(data: $data) { ok } }",
            json!({"data": {"id": id}}),
        )
        .await?;
    if errors.is_empty() {
        return Ok(page.redirect("/profile", &[("done", "token-deleted")]));
    }
    let extras = PageExtras {
        error: Some(errors.join("; ")),
        ..PageExtras::default()
    };
    render_profile(&page, 0, extras, StatusCode::NOT_FOUND).await
}

#[cfg(test)]
mod tests {
    use super::expiration_value;

    #[test]
    fn datetime_local_values_are_read_as_utc() {
        assert_eq!(expiration_value("2030-01-02T03:04"), "2030-01-02T03:04:00Z");
        assert_eq!(
            expiration_value(" 2030-01-02T03:04:05 "),
            "2030-01-02T03:04:05Z"
        );
        assert_eq!(
            expiration_value("2030-01-02T03:04:05Z"),
            "2030-01-02T03:04:05Z"
        );
        assert_eq!(
            expiration_value("2030-01-02T03:04:05+02:00"),
            "2030-01-02T03:04:05+02:00"
        );
        assert_eq!(expiration_value("not-a-date"), "not-a-date");
        assert_eq!(expiration_value("ééééééééééééééé"), "ééééééééééééééé");
    }
}
