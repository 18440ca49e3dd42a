//! Signing in and out, the layout, assets and the global search.

use axum::http::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn sign_in_renders_pages_and_sign_out_closes_the_session() {
    let server = server_with(|s| s.main.allow_anonymous_access = false).await;
    let mut anonymous = server.anonymous();
    let answer = anonymous.get("/search?q=1").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login?next=%2Fsearch%3Fq%3D1");
    let login = anonymous.get("/login").await;
    assert!(login.ok().contains("Sign in to Infrahub"));

    let mut wrong = server.anonymous();
    let refused = wrong
        .post_form("/login", &[("username", "admin"), ("password", "nope")])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("Invalid username or password."));
    assert!(wrong.cookies.is_empty());

    let mut admin = server.admin().await;
    let home = admin.get("/").await;
    let body = home.ok();
    assert!(body.contains("Welcome, admin"), "{body}");
    assert!(body.contains("Sign out"));
    let csp = home.headers.get("content-security-policy").unwrap();
    assert!(csp.to_str().unwrap().contains("script-src 'self'"));

    // Another site's page cannot sign the browser out (or post anything else).
    let forged = admin
        .post_form_from("/logout", &[], Some("https://evil.example"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(admin.get("/").await.ok().contains("Welcome, admin"));

    let out = admin.post_form("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(admin.cookies.is_empty());
    assert_eq!(admin.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_sign_in_form_from_another_site_is_refused() {
    let server = server().await;
    let mut browser = server.anonymous();
    let answer = browser
        .post_form_from(
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(browser.cookies.is_empty());
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_from_the_refresh_cookie() {
    let server = server().await;
    let mut admin = server.admin().await;
    // Replace the access token by one that expired.
    let claims = infrahub_server::auth::decode_token(
        b"test-secret-key-of-at-least-32-bytes!",
        &admin
            .cookies
            .iter()
            .find(|(n, _)| n == "access_token")
            .unwrap()
            .1,
        infrahub_server::auth::TokenType::Access,
    )
    .unwrap();
    let mut expired = claims.clone();
    expired.iat -= 7200;
    expired.nbf -= 7200;
    expired.exp = expired.iat + 60;
    let token =
        infrahub_server::auth::encode_token(b"test-secret-key-of-at-least-32-bytes!", &expired)
            .unwrap();
    admin.cookies.retain(|(n, _)| n != "access_token");
    admin.cookies.push(("access_token".into(), token.clone()));
    let answer = admin.get("/").await;
    assert!(answer.ok().contains("Welcome, admin"));
    let renewed = admin
        .cookies
        .iter()
        .find(|(n, _)| n == "access_token")
        .unwrap();
    assert_ne!(renewed.1, token, "a new access token cookie was set");
}

#[tokio::test]
async fn assets_are_served_under_their_hash_and_compressed() {
    let server = server().await;
    let mut browser = server.anonymous();
    let page = browser.get("/login").await;
    let css = page
        .body
        .split('"')
        .find(|part| part.contains("app.css"))
        .unwrap()
        .replace("&#x2f;", "/");
    let answer = browser.get(&css).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let stale = browser.get("/static/0000/app.css").await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
    let request = axum::http::Request::get(&css)
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let gzipped = server.send(request).await;
    assert_eq!(gzipped.headers["content-encoding"], "gzip");
}

#[tokio::test]
async fn search_finds_nodes_by_id_and_by_value_and_bounds_its_input() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let data = server
        .admin_graphql(
            "main",
            r#"mutation { LocationSiteCreate(data: {name: {value: "paris-<b>1</b>"}}) { object { id } } }"#,
            json!({}),
        )
        .await;
    let id = data["LocationSiteCreate"]["object"]["id"].as_str().unwrap();
    let mut admin = server.admin().await;
    let by_value = admin.get("/search?q=paris").await;
    let body = by_value.ok();
    assert!(
        body.contains("paris-&lt;b&gt;1&lt;&#x2f;b&gt;"),
        "escaped: {body}"
    );
    assert!(body.contains(id));
    let by_id = admin.get(&format!("/search?q={id}")).await;
    assert!(by_id.ok().contains("LocationSite"));
    let nothing = admin.get("/search?q=zzz-none").await;
    assert!(nothing.ok().contains("Nothing found"));
    let long = "x".repeat(300);
    let refused = admin.get(&format!("/search?q={long}")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_branches_and_invalid_times_are_clear_errors() {
    let server = server().await;
    let mut admin = server.admin().await;
    let answer = admin.get("/?branch=nope").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("Branch nope not found."));
    let answer = admin.get("/?at=yesterday-ish").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("invalid `at` value"));
    let past = admin.get("/?at=1h").await;
    assert!(past.ok().contains("read-only"));
}
