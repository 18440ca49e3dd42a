//! The schema browser and the GraphQL sandbox.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use super::common::*;

/// A generic with a description that looks like HTML, and a node that uses it.
fn endpoint_schema() -> Value {
    json!({"schemas": [{
        "version": "1.0",
        "generics": [
            {"name": "Endpoint", "namespace": "Testing", "label": "Endpoint",
             "description": "Ends <script>alert(1)</script> here",
             "attributes": [{"name": "address", "kind": "Text", "optional": true}],
             "relationships": [
                {"name": "site", "peer": "LocationSite", "cardinality": "one", "optional": true}
             ]}
        ],
        "nodes": [
            {"name": "Probe", "namespace": "Testing", "label": "Probe",
             "inherit_from": ["TestingEndpoint"],
             "attributes": [{"name": "name", "kind": "Text", "unique": true}]}
        ]
    }]})
}

/// `body` with the slashes minijinja escapes in attributes written plainly.
fn plain(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

/// Every `<script` tag of `body` loads a file (no inline script).
fn assert_no_inline_script(body: &str) {
    for tag in body.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or_default();
        assert!(open.contains("src="), "inline script: <script{open}>");
        assert!(
            tag.split_once('>').unwrap().1.starts_with("</script>"),
            "script with a body"
        );
    }
    assert!(!body.contains(" style="), "inline style");
    assert!(!body.contains(" onclick="), "inline handler");
}

#[tokio::test]
async fn the_schema_list_groups_kinds_by_namespace_and_filters_them() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let mut admin = server.admin().await;
    let list = admin.get("/schema").await;
    let body = &plain(list.ok());
    assert!(body.contains(r#"id="ns-Infra""#), "{body}");
    assert!(body.contains(r#"href="/schema/InfraDevice""#), "{body}");
    assert!(body.contains(r#"href="/schema/LocationSite""#));
    assert!(
        body.contains(r#"href="/schema/CoreGenericAccount""#),
        "generics too"
    );
    assert!(
        !body.contains(r#"href="/schema/ProfileInfraDevice""#),
        "no profiles by default"
    );
    assert_no_inline_script(body);

    let filtered = admin.get("/schema?q=device").await;
    let body = &plain(filtered.ok());
    assert!(body.contains(r#"href="/schema/InfraDevice""#));
    assert!(!body.contains(r#"href="/schema/LocationSite""#), "{body}");

    let generics = admin.get("/schema?category=generic").await;
    let body = &plain(generics.ok());
    assert!(body.contains(r#"href="/schema/CoreGenericAccount""#));
    assert!(!body.contains(r#"href="/schema/InfraDevice""#));
    let profiles = admin.get("/schema?category=profile&q=InfraDevice").await;
    assert!(plain(profiles.ok()).contains(r#"href="/schema/ProfileInfraDevice""#));

    let nothing = admin.get("/schema?q=zzz-nothing").await;
    assert!(nothing.ok().contains("No kind found"));
    let unknown = admin.get("/schema?category=widget").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let long = admin.get(&format!("/schema?q={}", "x".repeat(300))).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);

    // Anyone may read the schema, as through `GET /api/schema`.
    let mut anonymous = server.anonymous();
    assert!(anonymous.get("/schema").await.ok().contains("InfraDevice"));
}

#[tokio::test]
async fn a_kind_page_shows_properties_attributes_and_relationships() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let mut admin = server.admin().await;
    let page = admin.get("/schema/InfraDevice").await;
    let body = &plain(page.ok());
    assert!(
        body.contains(r#"href="/objects/InfraDevice""#),
        "object list link"
    );
    // Attributes, in order, with their choices and defaults.
    let name = body.find(r#"id="attribute-name""#).expect("name attribute");
    let role = body.find(r#"id="attribute-role""#).expect("role attribute");
    assert!(name < role, "ordered by order_weight");
    assert!(body.contains("<code>edge</code> (Edge)"), "choices");
    assert!(body.contains("<code>true</code>"), "default value");
    assert!(body.contains("Dropdown"));
    // Relationships, peers linked.
    let site = body
        .find(r#"id="relationship-site""#)
        .expect("site relationship");
    let row = &body[site..site + body[site..].find("</tr>").unwrap()];
    assert!(row.contains(r#"href="/schema/LocationSite""#), "{row}");
    assert!(row.contains("Attribute") && row.contains("one"), "{row}");
    assert!(body.contains(r#"id="relationship-interfaces""#));
    assert!(body.contains("Component"));
    // Properties.
    assert!(
        body.contains("<code>name__value</code>"),
        "human-friendly id"
    );
    assert!(body.contains("Order by"));
    assert!(
        body.contains(r#"href="/schema/ProfileInfraDevice""#),
        "profile link"
    );
    assert_no_inline_script(body);

    // The branch is kept in links.
    server
        .admin_graphql(
            "main",
            r#"mutation { BranchCreate(data: {name: "feature-1", sync_with_git: false}) { ok } }"#,
            json!({}),
        )
        .await;
    let on_branch = admin.get("/schema/InfraDevice?branch=feature-1").await;
    assert!(plain(on_branch.ok()).contains(r#"href="/schema/LocationSite?branch=feature-1""#));

    let unknown = admin.get("/schema/NoSuchKind").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("NoSuchKind"));
    let hostile = admin.get("/schema/%3Cscript%3E").await;
    assert_eq!(hostile.status, StatusCode::NOT_FOUND);
    assert!(!hostile.body.contains("<script>"), "{}", hostile.body);
}

#[tokio::test]
async fn a_generic_lists_the_kinds_using_it_and_descriptions_are_escaped() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    server.load_schema(&endpoint_schema()).await;
    let mut admin = server.admin().await;
    let generic = admin.get("/schema/TestingEndpoint").await;
    let body = &plain(generic.ok());
    assert!(body.contains("Used by"));
    assert!(body.contains(r#"href="/schema/TestingProbe""#), "{body}");
    assert!(!body.contains("<script>alert"), "description escaped");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );

    let node = admin.get("/schema/TestingProbe").await;
    let body = &plain(node.ok());
    assert!(
        body.contains(r#"href="/schema/TestingEndpoint""#),
        "inherit_from linked"
    );
    let address = body
        .find(r#"id="attribute-address""#)
        .expect("inherited attribute");
    let row = &body[address..address + body[address..].find("</tr>").unwrap()];
    assert!(
        row.contains(r#"href="/schema/TestingEndpoint""#),
        "inherited from: {row}"
    );
    let site = body
        .find(r#"id="relationship-site""#)
        .expect("inherited relationship");
    let row = &body[site..site + body[site..].find("</tr>").unwrap()];
    assert!(row.contains(r#"href="/schema/TestingEndpoint""#), "{row}");

    let list = admin.get("/schema?q=Testing").await;
    let body = &plain(list.ok());
    assert!(!body.contains("<script>alert"));
    assert!(body.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn the_sandbox_page_loads_its_script_and_the_api_keeps_post() {
    let server = server().await;
    let mut admin = server.admin().await;
    let page = admin.get("/graphql").await;
    let body = &plain(page.ok());
    assert!(body.contains("sandbox.js"), "{body}");
    assert!(body.contains("<noscript>"));
    assert!(body.contains(r#"id="sandbox-query""#));
    assert!(body.contains(r#"id="sandbox-variables""#));
    assert!(body.contains("InfrahubInfo"), "default document");
    assert!(body.contains("Runs as admin"));
    assert_no_inline_script(body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'"));

    // The script is served.
    let script = body
        .split('"')
        .find(|part| part.contains("sandbox.js"))
        .unwrap()
        .to_string();
    let served = admin.get(&script).await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.body.contains("credentials: \"same-origin\""));

    // A document given in the address opens the sandbox, escaped.
    let prefilled = admin
        .get("/graphql?query=query%20%7B%20Branch%20%7B%20name%20%7D%20%7D%3C%2Ftextarea%3E")
        .await;
    let body = &plain(prefilled.ok());
    assert!(
        body.contains("query { Branch { name } }&lt;/textarea&gt;"),
        "{body}"
    );

    // A page of the past runs its documents as of then.
    let past = admin.get("/graphql?at=2h").await;
    let body = plain(past.ok());
    assert!(body.contains(r#"data-at="2h""#), "{body}");
    assert!(body.contains("Reads as of 2h"));

    // The API's `POST /graphql` shares the path.
    let data = server
        .admin_graphql("main", "{ InfrahubInfo { version } }", json!({}))
        .await;
    assert!(data["InfrahubInfo"]["version"].is_string());
    let request = Request::post("/graphql")
        .header("X-INFRAHUB-KEY", ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"query": "{ InfrahubInfo { version } }"}"#))
        .unwrap();
    let answer = server.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("version"));

    // What the sandbox sends: the session cookie and this server's Origin.
    let cookie = admin
        .cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let request = Request::post("/graphql/main")
        .header(header::HOST, "infrahub.test")
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"query": "query($n: String) { Branch(name: $n) { name } }", "variables": {"n": "main"}})
                .to_string(),
        ))
        .unwrap();
    let answer = server.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains(r#""name":"main""#), "{}", answer.body);
}

#[tokio::test]
async fn the_sandbox_follows_the_anonymous_access_setting() {
    let open = server().await;
    let page = open.anonymous().get("/graphql").await;
    assert!(page.ok().contains("runs anonymously"));

    let closed = server_with(|s| s.main.allow_anonymous_access = false).await;
    let page = closed.anonymous().get("/graphql").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Fgraphql");
    let schema = closed.anonymous().get("/schema").await;
    assert_eq!(schema.status, StatusCode::SEE_OTHER);
}
