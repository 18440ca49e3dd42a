//! The account page and its API tokens.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use super::common::*;

/// `body` with the slashes minijinja escapes in attributes written plainly.
fn plain(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

/// Runs `query` on the API with the API token `key`.
async fn with_key(server: &TestServer, key: &str, query: &str) -> Answer {
    let request = Request::post("/graphql")
        .header("X-INFRAHUB-KEY", key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    server.send(request).await
}

/// The names of the admin's tokens, through the API.
async fn admin_token_names(server: &TestServer) -> Vec<Value> {
    let data = server
        .admin_graphql(
            "main",
            "{ InfrahubAccountToken { edges { node { name } } } }",
            json!({}),
        )
        .await;
    data["InfrahubAccountToken"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].clone())
        .collect()
}

/// The value of the `value` attribute of the element `id` in `body`.
fn input_value(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!(r#"id="{id}""#))?;
    let tag = &body[start..start + body[start..].find('>')?];
    let value = tag.split(r#"value=""#).nth(1)?;
    Some(value.split('"').next()?.to_string())
}

/// The id shown after "Id <code>" in the new token's card.
fn created_token_id(body: &str) -> String {
    let card = &body[body.find("Token created").expect("token card")..];
    let code = card.split("Id <code>").nth(1).expect("token id");
    code.split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn a_token_is_shown_once_works_on_the_api_and_stops_when_deleted() {
    let server = server().await;
    let mut admin = server.admin().await;
    let page = admin.get("/profile").await;
    let body = plain(page.ok());
    assert!(body.contains("<dd>admin</dd>"), "{body}");
    assert!(body.contains("API tokens"));
    assert!(body.contains(r#"action="/profile/tokens""#));

    let created = admin
        .post_form(
            "/profile/tokens",
            &[("name", "ci-token"), ("expiration", "2099-01-01T10:00")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    let body = plain(&created.body);
    assert!(body.contains("Copy this token now"));
    let value = input_value(&body, "new-token-value").expect("token value");
    assert!(uuid::Uuid::parse_str(&value).is_ok(), "{value}");
    let id = created_token_id(&body);
    assert!(body.contains("2099-01-01T10:00:00Z"), "expiration as UTC");

    // The token opens the API as the admin.
    let answer = with_key(&server, &value, "{ AccountProfile { name { value } } }").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.contains(r#""value":"admin""#),
        "{}",
        answer.body
    );

    // The page lists it, without its value.
    let page = admin.get("/profile").await;
    let body = plain(page.ok());
    assert!(body.contains("ci-token"));
    assert!(body.contains(&id));
    assert!(!body.contains(&value), "the value is never shown again");
    assert!(!body.contains("Copy this token now"));

    // Deleting it closes the API to it.
    let deleted = admin
        .post_form(&format!("/profile/tokens/{id}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(deleted.location(), "/profile?done=token-deleted");
    let page = admin.get(deleted.location()).await;
    let body = page.ok();
    assert!(body.contains("The token was deleted"));
    assert!(!body.contains("ci-token"));
    let refused = with_key(&server, &value, "{ Branch { name } }").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
}

#[tokio::test]
async fn token_forms_from_elsewhere_or_anonymous_create_nothing() {
    let server = server().await;
    let before = admin_token_names(&server).await;
    let mut admin = server.admin().await;
    let forged = admin
        .post_form_from(
            "/profile/tokens",
            &[("name", "forged")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let no_origin = admin
        .post_form_from("/profile/tokens", &[("name", "forged")], None)
        .await;
    assert_eq!(no_origin.status, StatusCode::FORBIDDEN);

    let mut anonymous = server.anonymous();
    let page = anonymous.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Fprofile");
    let post = anonymous
        .post_form("/profile/tokens", &[("name", "anonymous")])
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert!(post.location().starts_with("/login"));
    let delete = anonymous.post_form("/profile/tokens/x/delete", &[]).await;
    assert_eq!(delete.status, StatusCode::SEE_OTHER);
    assert!(delete.location().starts_with("/login"));
    assert_eq!(admin_token_names(&server).await, before);
}

#[tokio::test]
async fn invalid_token_forms_say_why_and_create_nothing() {
    let server = server().await;
    let before = admin_token_names(&server).await;
    let mut admin = server.admin().await;

    let long = "n".repeat(10_000);
    let answer = admin.post_form("/profile/tokens", &[("name", &long)]).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains(r#"id="name-error""#),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("10000 characters long"));
    assert!(!answer.body.contains(&long), "the long name is not echoed");

    for bad in ["not-a-date", "2099-13-45T10:00", "<b>x</b>"] {
        let answer = admin
            .post_form(
                "/profile/tokens",
                &[("name", "bad-expiration"), ("expiration", bad)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            answer.body.contains(r#"id="expiration-error""#),
            "{bad}: {}",
            answer.body
        );
        assert!(!answer.body.contains("<b>x</b>"), "escaped");
        assert!(
            answer.body.contains(r#"value="bad-expiration""#),
            "form kept"
        );
    }
    let past = admin
        .post_form(
            "/profile/tokens",
            &[("name", "past"), ("expiration", "2001-01-01T10:00")],
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(past.body.contains("in the past"));

    assert_eq!(admin_token_names(&server).await, before);
}

#[tokio::test]
async fn another_accounts_token_cannot_be_deleted() {
    let server = server().await;
    server
        .admin_graphql(
            "main",
            r#"mutation { CoreAccountCreate(data: {name: {value: "bob"}, password: {value: "bob-password"}, account_type: {value: "User"}}) { object { id } } }"#,
            json!({}),
        )
        .await;
    let mut bob = server.sign_in("bob", "bob-password").await;
    let created = bob
        .post_form("/profile/tokens", &[("name", "bob-token")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let body = plain(&created.body);
    let value = input_value(&body, "new-token-value").expect("token value");
    let id = created_token_id(&body);
    assert!(plain(bob.get("/profile").await.ok()).contains("bob-token"));

    // The API refuses the admin's deletion of bob's token (signed in: token mutations need a
    // session, not an API key); the page gives the same answer.
    let mut admin = server.admin().await;
    let access = admin
        .cookies
        .iter()
        .find(|(n, _)| n == "access_token")
        .map(|(_, v)| v.clone())
        .unwrap();
    let request = Request::post("/graphql")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({
                "query": "mutation($id: String) { InfrahubAccountTokenDelete(data: {id: $id}) { ok } }",
                "variables": {"id": id},
            })
            .to_string(),
        ))
        .unwrap();
    let api: Value = serde_json::from_str(&server.send(request).await.body).unwrap();
    let message = api["errors"][0]["message"]
        .as_str()
        .expect("refused")
        .to_string();
    assert!(message.contains("Unable to find the token"), "{message}");

    let refused = admin
        .post_form(&format!("/profile/tokens/{id}/delete"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    assert!(
        plain(&refused.body).contains(&message),
        "{message}: {}",
        refused.body
    );
    let works = with_key(&server, &value, "{ AccountProfile { name { value } } }").await;
    assert!(works.body.contains(r#""value":"bob""#), "{}", works.body);

    // A token id that is not one is refused the same way.
    let garbage = admin
        .post_form("/profile/tokens/not-an-id/delete", &[])
        .await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    assert!(garbage.body.contains("not a token id"), "{}", garbage.body);
}
