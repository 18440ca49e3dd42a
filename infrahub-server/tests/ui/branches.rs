//! The branch pages: the list and the create form, the branch page with its diff tree,
//! conflicts resolved in place, validate, rebase, merge and delete, and the hostile cases.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::common::*;

/// Creates a site on `branch`; returns its id.
async fn create_site(server: &TestServer, branch: &str, name: &str, description: &str) -> String {
    let data = server
        .admin_graphql(
            branch,
            "mutation($name: String, $description: String) { LocationSiteCreate(data: \
             {name: {value: $name}, description: {value: $description}}) { object { id } } }",
            json!({"name": name, "description": description}),
        )
        .await;
    data["LocationSiteCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sets a site's description on `branch`.
async fn set_description(server: &TestServer, branch: &str, id: &str, description: &str) {
    server
        .admin_graphql(
            branch,
            "mutation($id: String!, $description: String) { LocationSiteUpdate(data: \
             {id: $id, description: {value: $description}}) { ok } }",
            json!({"id": id, "description": description}),
        )
        .await;
}

/// The description of the site `id` on `branch`.
async fn description(server: &TestServer, branch: &str, id: &str) -> Value {
    let data = server
        .admin_graphql(
            branch,
            "query($ids: [ID]) { LocationSite(ids: $ids) { edges { node { description { value } } } } }",
            json!({"ids": [id]}),
        )
        .await;
    data["LocationSite"]["edges"][0]["node"]["description"]["value"].clone()
}

/// The names of the branches.
async fn branch_names(server: &TestServer) -> Vec<String> {
    let data = server
        .admin_graphql("main", "query { Branch { name } }", json!({}))
        .await;
    data["Branch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

/// The ids of the conflicts of `branch`'s diff.
async fn conflict_ids(server: &TestServer, branch: &str) -> Vec<String> {
    let data = server
        .admin_graphql(
            "main",
            "query($branch: String) { DiffTree(branch: $branch) { nodes { attributes { \
             conflict { uuid } } } } }",
            json!({"branch": branch}),
        )
        .await;
    let mut ids = Vec::new();
    for node in data["DiffTree"]["nodes"].as_array().unwrap() {
        for attribute in node["attributes"].as_array().unwrap() {
            if let Some(id) = attribute["conflict"]["uuid"].as_str() {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

#[tokio::test]
async fn a_branch_is_created_changed_reviewed_resolved_and_merged_through_the_pages() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let site = create_site(&server, "main", "paris", "old desc").await;
    let mut admin = server.admin().await;

    // The list shows the default branch and the create form.
    let list = admin.get("/branches").await;
    let body = list.ok();
    assert!(body.contains("<h1>Branches</h1>"), "{body}");
    assert!(
        body.contains(r#"href="&#x2f;branches&#x2f;main""#),
        "{body}"
    );
    assert!(body.contains(r#"name="sync_with_git""#));

    // Create a branch whose name holds a `/`: its page, on it.
    let created = admin
        .post_form(
            "/branches",
            &[
                ("name", "feature/a"),
                ("description", "Move <b>paris</b>"),
                ("sync_with_git", "true"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(
        created.location(),
        "/branches/feature%2Fa?branch=feature%2Fa&done=created"
    );
    let page = admin.get(created.location()).await;
    let body = page.ok();
    assert!(body.contains("Branch created."), "{body}");
    assert!(
        body.contains("Move &lt;b&gt;paris&lt;&#x2f;b&gt;"),
        "{body}"
    );
    assert!(!body.contains("<b>paris</b>"));
    assert!(body.contains("No changes"), "{body}");
    // The same page with the `/` unencoded.
    assert!(
        admin
            .get("/branches/feature/a")
            .await
            .ok()
            .contains("feature&#x2f;a")
    );
    let data = server
        .admin_graphql(
            "main",
            "query { Branch(name: \"feature/a\") { sync_with_git description } }",
            json!({}),
        )
        .await;
    assert_eq!(data["Branch"][0]["sync_with_git"], json!(true));

    // Change data on the branch: a new device at paris, paris's description.
    server
        .admin_graphql(
            "feature/a",
            "mutation($site: String!) { InfraDeviceCreate(data: {name: {value: \"r1\"}, \
             site: {id: $site}}) { ok } }",
            json!({"site": site}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let before_description = infrahub_graph::Timestamp::now().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    set_description(&server, "feature/a", &site, "branch desc").await;

    let refreshed = admin
        .post_form("/branches/feature%2Fa", &[("action", "refresh")])
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::SEE_OTHER,
        "{}",
        refreshed.body
    );
    assert_eq!(refreshed.location(), "/branches/feature%2Fa?done=refreshed");
    let page = admin.get("/branches/feature%2Fa").await;
    let body = page.ok();
    assert!(body.contains(r#"<details class="diff-node""#), "{body}");
    assert!(
        body.contains(r#"<span class="badge badge-added">added</span>"#),
        "{body}"
    );
    assert!(body.contains("InfraDevice"), "{body}");
    assert!(body.contains("<strong>r1</strong>"), "{body}");
    assert!(
        body.contains(r#"<span class="diff-new">r1</span>"#),
        "{body}"
    );
    // The flags every creation sets are left out.
    assert!(!body.contains("<td>protected</td>"), "{body}");
    assert!(
        body.contains(r#"<span class="diff-old">old desc</span>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<span class="diff-new">branch desc</span>"#),
        "{body}"
    );
    // The relationship: paris as the device's site, r1 as a peer of paris.
    assert!(body.contains("peer added"), "{body}");
    assert!(body.contains("paris"), "{body}");
    assert!(
        body.contains("&#x2f;objects&#x2f;InfraDevice&#x2f;")
            && body.contains("branch=feature%2Fa"),
        "{body}"
    );
    assert!(body.contains("1 added"), "{body}");
    // The link opens the device on the branch.
    let start = body
        .find(r#"href="&#x2f;objects&#x2f;InfraDevice&#x2f;"#)
        .unwrap()
        + 6;
    let end = start + body[start..].find('"').unwrap();
    let link = body[start..end]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let body = body.to_string();
    assert!(admin.get(&link).await.ok().contains("r1"), "{link}");
    assert!(
        body.contains(r#"data-confirm="Delete the branch feature&#x2f;a"#),
        "{body}"
    );

    // Only the nodes added, only the removed.
    let body = admin
        .get("/branches/feature%2Fa?status=added")
        .await
        .ok()
        .to_string();
    assert!(body.contains("<strong>r1</strong>"), "{body}");
    assert!(!body.contains("<strong>paris</strong>"), "{body}");
    let body = admin
        .get("/branches/feature%2Fa?status=REMOVED")
        .await
        .ok()
        .to_string();
    assert!(body.contains("No node is removed"), "{body}");

    // As of before the description changed: the device only, and no form.
    let past = admin
        .get(&format!(
            "/branches/feature%2Fa?at={}",
            encode(&before_description)
        ))
        .await;
    let body = past.ok();
    assert!(body.contains("<strong>r1</strong>"), "{body}");
    assert!(!body.contains("branch desc"), "{body}");
    assert!(!body.contains(r#"name="action""#), "{body}");

    // The same attribute changed on main: a conflict, shown with both values.
    set_description(&server, "main", &site, "main desc").await;
    let body = admin.get("/branches/feature%2Fa").await.ok().to_string();
    assert!(body.contains("badge-conflict"), "{body}");
    assert!(body.contains("<code>main desc</code>"), "{body}");
    assert!(body.contains("<code>branch desc</code>"), "{body}");
    assert!(body.contains("unresolved"), "{body}");

    // Merging is refused while the conflict is unresolved: the page says why.
    let refused = admin
        .post_form("/branches/feature%2Fa", &[("action", "merge")])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("banner-error"), "{}", refused.body);
    assert!(
        refused.body.to_lowercase().contains("conflict"),
        "{}",
        refused.body
    );
    assert_eq!(
        description(&server, "main", &site).await,
        json!("main desc")
    );
    let validated = admin
        .post_form("/branches/feature%2Fa", &[("action", "validate")])
        .await;
    assert_eq!(validated.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(validated.body.contains("conflict"), "{}", validated.body);

    // Resolve it through the form: the branch's value wins.
    let ids = conflict_ids(&server, "feature/a").await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(body.contains(&format!(r#"name="conflict_id" value="{}""#, ids[0])));
    let resolved = admin
        .post_form(
            "/branches/feature%2Fa",
            &[
                ("action", "resolve"),
                ("conflict_id", &ids[0]),
                ("selected_branch", "DIFF_BRANCH"),
            ],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
    let body = admin.get(resolved.location()).await.ok().to_string();
    assert!(body.contains("Conflict resolution saved."), "{body}");
    assert!(
        body.contains("<strong>feature&#x2f;a</strong> wins"),
        "{body}"
    );

    // Merge through the form: the result on the page, the data on main.
    let merged = admin
        .post_form("/branches/feature%2Fa", &[("action", "merge")])
        .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.body);
    let body = admin.get(merged.location()).await.ok().to_string();
    assert!(body.contains("Branch merged into main."), "{body}");
    assert_eq!(
        description(&server, "main", &site).await,
        json!("branch desc")
    );
    let devices = server
        .admin_graphql(
            "main",
            "query { InfraDevice { edges { node { name { value } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        devices["InfraDevice"]["edges"][0]["node"]["name"]["value"],
        json!("r1")
    );
}

#[tokio::test]
async fn a_branch_is_validated_rebased_and_deleted_through_the_pages() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let mut admin = server.admin().await;
    let first = create_site(&server, "main", "first", "").await;
    let second = create_site(&server, "main", "second", "").await;
    let device = server
        .admin_graphql(
            "main",
            "mutation($site: String!) { InfraDeviceCreate(data: {name: {value: \"d1\"}, \
             site: {id: $site}}) { object { id } } }",
            json!({"site": first}),
        )
        .await;
    let device = device["InfraDeviceCreate"]["object"]["id"]
        .as_str()
        .unwrap();
    let created = admin.post_form("/branches", &[("name", "rebase-me")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    create_site(&server, "rebase-me", "lyon", "on the branch").await;

    // The device moves to the second site on the branch: one peer removed, one added.
    server
        .admin_graphql(
            "rebase-me",
            "mutation($id: String!, $site: String!) { InfraDeviceUpdate(data: \
             {id: $id, site: {id: $site}}) { ok } }",
            json!({"id": device, "site": second}),
        )
        .await;
    let body = admin.get("/branches/rebase-me").await.ok().to_string();
    assert!(
        body.contains(r#"<span class="badge badge-removed">peer removed</span>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<span class="badge badge-added">peer added</span>"#),
        "{body}"
    );
    assert!(body.contains("<strong>d1</strong>"), "{body}");

    let validated = admin
        .post_form("/branches/rebase-me", &[("action", "validate")])
        .await;
    assert_eq!(
        validated.status,
        StatusCode::SEE_OTHER,
        "{}",
        validated.body
    );
    assert!(
        admin
            .get(validated.location())
            .await
            .ok()
            .contains("Branch validated: no conflict with main.")
    );

    // Main moves on; the rebase moves the branch point.
    let before = server
        .admin_graphql(
            "main",
            "query { Branch(name: \"rebase-me\") { branched_from } }",
            json!({}),
        )
        .await;
    create_site(&server, "main", "nantes", "on main").await;
    let rebased = admin
        .post_form("/branches/rebase-me", &[("action", "rebase")])
        .await;
    assert_eq!(rebased.status, StatusCode::SEE_OTHER, "{}", rebased.body);
    let body = admin.get(rebased.location()).await.ok().to_string();
    assert!(body.contains("Branch rebased on main."), "{body}");
    assert!(body.contains("lyon"), "{body}");
    let after = server
        .admin_graphql(
            "main",
            "query { Branch(name: \"rebase-me\") { branched_from } }",
            json!({}),
        )
        .await;
    assert_ne!(before, after);
    let sites = server
        .admin_graphql("rebase-me", "query { LocationSite { count } }", json!({}))
        .await;
    assert_eq!(sites["LocationSite"]["count"], json!(4));

    // A node removed on the branch.
    let nantes = server
        .admin_graphql(
            "rebase-me",
            "query { LocationSite(name__value: \"nantes\") { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let nantes = nantes["LocationSite"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap();
    server
        .admin_graphql(
            "rebase-me",
            "mutation($id: String!) { LocationSiteDelete(data: {id: $id}) { ok } }",
            json!({"id": nantes}),
        )
        .await;
    let body = admin.get("/branches/rebase-me").await.ok().to_string();
    assert!(
        body.contains(r#"<span class="badge badge-removed">removed</span>"#),
        "{body}"
    );
    assert!(body.contains("<strong>nantes</strong>"), "{body}");

    // Delete, from the page that is on the branch: back to the list, on main.
    let page = admin.get("/branches/rebase-me?branch=rebase-me").await;
    assert!(
        page.ok()
            .contains(r#"data-confirm="Delete the branch rebase-me"#)
    );
    let deleted = admin
        .post_form(
            "/branches/rebase-me?branch=rebase-me",
            &[("action", "delete")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(deleted.location(), "/branches?done=deleted");
    let body = admin.get(deleted.location()).await.ok().to_string();
    assert!(body.contains("Branch deleted."), "{body}");
    assert!(
        !body.contains(r#"href="&#x2f;branches&#x2f;rebase-me""#),
        "{body}"
    );
    assert_eq!(branch_names(&server).await, vec!["main".to_string()]);
    assert_eq!(
        admin.get("/branches/rebase-me").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_default_branch_page_offers_no_merge_rebase_or_delete() {
    let server = server().await;
    let mut admin = server.admin().await;
    let body = admin.get("/branches/main").await.ok().to_string();
    assert!(body.contains("This is the default branch"), "{body}");
    for action in ["merge", "rebase", "delete", "validate", "refresh"] {
        assert!(
            !body.contains(&format!(r#"name="action" value="{action}""#)),
            "{action}: {body}"
        );
    }
}

#[tokio::test]
async fn hostile_and_invalid_branch_requests_change_nothing() {
    let server = server().await;
    let mut admin = server.admin().await;

    // Another site's form.
    let forged = admin
        .post_form_from(
            "/branches",
            &[("name", "evil")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // No session: the login page.
    let mut anonymous = server.anonymous();
    let answer = anonymous.post_form("/branches", &[("name", "anon")]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        answer.location().starts_with("/login?next="),
        "{}",
        answer.location()
    );
    assert_eq!(branch_names(&server).await, vec!["main".to_string()]);
    // Anonymous visitors read, without forms.
    let body = anonymous.get("/branches").await.ok().to_string();
    assert!(!body.contains(r#"name="sync_with_git""#), "{body}");
    assert!(
        !anonymous
            .get("/branches/main")
            .await
            .ok()
            .contains(r#"name="action""#)
    );

    // An invalid name: the API's error next to the field, nothing created.
    let invalid = admin
        .post_form(
            "/branches",
            &[("name", "bad name.."), ("description", "kept")],
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    assert!(
        invalid
            .body
            .contains(r#"class="field-error" id="name-error""#),
        "{}",
        invalid.body
    );
    assert!(invalid.body.contains("is invalid"), "{}", invalid.body);
    assert!(
        invalid.body.contains(r#"value="bad name..""#),
        "{}",
        invalid.body
    );
    assert!(invalid.body.contains(r#"value="kept""#));
    assert_eq!(branch_names(&server).await, vec!["main".to_string()]);
    // A name taken.
    let taken = admin.post_form("/branches", &[("name", "main")]).await;
    assert_eq!(
        taken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        taken.body
    );
    assert!(taken.body.contains("field-error"));

    // Unknown branches and actions.
    assert_eq!(
        admin.get("/branches/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.get("/branches/no%2Fpe").await.status,
        StatusCode::NOT_FOUND
    );
    let unknown = admin
        .post_form("/branches/nope", &[("action", "merge")])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);

    // HTML in a description is shown as text.
    let created = admin
        .post_form(
            "/branches",
            &[
                ("name", "xss-1"),
                ("description", "<script>alert(1)</script>"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let list = admin.get("/branches").await.ok().to_string();
    assert!(
        list.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{list}"
    );
    assert!(!list.contains("<script>alert"));
    let page = admin.get("/branches/xss-1").await.ok().to_string();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    let bad = admin
        .post_form("/branches/xss-1", &[("action", "explode")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let forged = admin
        .post_form_from(
            "/branches/xss-1",
            &[("action", "delete")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let anonymous_delete = anonymous
        .post_form("/branches/xss-1", &[("action", "delete")])
        .await;
    assert_eq!(anonymous_delete.status, StatusCode::SEE_OTHER);
    assert!(branch_names(&server).await.contains(&"xss-1".to_string()));

    // Time travel: read-only pages, writes refused.
    let at = "2030-01-01T00:00:00Z";
    let body = admin
        .get(&format!("/branches?at={at}"))
        .await
        .ok()
        .to_string();
    assert!(!body.contains(r#"name="sync_with_git""#), "{body}");
    let body = admin
        .get(&format!("/branches/xss-1?at={at}"))
        .await
        .ok()
        .to_string();
    assert!(!body.contains(r#"name="action""#), "{body}");
    let refused = admin
        .post_form(&format!("/branches?at={at}"), &[("name", "past")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let refused = admin
        .post_form(&format!("/branches/xss-1?at={at}"), &[("action", "delete")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let names = branch_names(&server).await;
    assert!(names.contains(&"xss-1".to_string()) && !names.contains(&"past".to_string()));
}
