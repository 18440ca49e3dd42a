//! The task pages: the list of the tasks branch operations run, with its filters and pages; a
//! task's page with its parameters, log and error; retry and cancel from the page; the work in
//! flight on the branch page; and the hostile cases (anonymous and cross-site posts, HTML in a
//! title or a log line, unknown tasks).

use std::time::Duration;

use axum::http::StatusCode;
use infrahub_worker::{NewTask, RelatedNode, Severity, TaskRecord, TaskState, WorkflowType};
use serde_json::{Value, json};

use super::common::*;

/// Creates a branch through `BranchCreate`, waiting for its task.
async fn create_branch(server: &TestServer, name: &str) {
    server
        .admin_graphql(
            "main",
            "mutation($data: BranchCreateInput!) { \
             BranchCreate(data: $data, wait_until_completion: true) { ok } }",
            json!({"data": {"name": name}}),
        )
        .await;
}

/// The task `id` as `InfrahubTask` answers it.
async fn task(server: &TestServer, id: &str) -> Value {
    let data = server
        .admin_graphql(
            "main",
            "query($ids: [String]) { InfrahubTask(ids: $ids) { edges { node { id state workflow \
             title error { message } } } } }",
            json!({"ids": [id]}),
        )
        .await;
    data["InfrahubTask"]["edges"][0]["node"].clone()
}

/// Waits until task `id` is final; returns it.
async fn wait(server: &TestServer, id: &str) -> Value {
    for _ in 0..500 {
        let task = task(server, id).await;
        let state = task["state"].as_str().unwrap_or_default();
        if ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"].contains(&state) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {id} never finished");
}

/// The id of the newest task of `workflow` on `branch`.
async fn task_of(server: &TestServer, workflow: &str, branch: &str) -> String {
    let data = server
        .admin_graphql(
            "main",
            "query($w: [String], $b: String) { InfrahubTask(workflow: $w, branch: $b, limit: 1) \
             { edges { node { id } } } }",
            json!({"w": [workflow], "b": branch}),
        )
        .await;
    data["InfrahubTask"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {workflow} task on {branch}: {data}"))
        .to_string()
}

/// Records a pending task nobody takes (not queued).
async fn pending_task(server: &TestServer, title: &str, branch: &str) -> TaskRecord {
    server
        .state
        .tasks
        .store()
        .create(NewTask {
            id: None,
            title: title.into(),
            workflow: "branch-rebase".into(),
            workflow_type: WorkflowType::Core,
            database_change: true,
            state: TaskState::Pending,
            parameters: json!({"branch": branch, "note": "<i>kept</i>"}),
            branch: Some(branch.into()),
            related_nodes: vec![RelatedNode {
                id: "0b7f0a57-0000-4000-8000-00000000abcd".into(),
                kind: "LocationSite".into(),
            }],
            account: None,
        })
        .await
        .unwrap()
}

/// The number of rows of the task table of a list page.
fn rows(body: &str) -> usize {
    let Some(start) = body.find("<tbody>") else {
        return 0;
    };
    let end = body[start..].find("</tbody>").unwrap() + start;
    body[start..end].matches("<tr>").count()
}

#[tokio::test]
async fn the_task_list_shows_branch_operations_with_filters_and_pages() {
    let server = server().await;
    for i in 0..52 {
        create_branch(&server, &format!("bulk-{i:02}")).await;
    }
    let mut admin = server.admin().await;

    // The first page: 50 tasks, newest first, the count and a link to the next page.
    let body = admin.get("/tasks").await.ok().to_string();
    assert!(body.contains("<h1>Tasks"), "{body}");
    assert_eq!(rows(&body), 50, "{body}");
    assert!(body.contains("1–50 of 52"), "{body}");
    assert!(body.contains("Create branch bulk-51"), "{body}");
    assert!(!body.contains("Create branch bulk-01<"), "{body}");
    let table = &body[body.find("<tbody>").unwrap()..];
    assert!(
        table.find("Create branch bulk-51").unwrap() < table.find("Create branch bulk-50").unwrap(),
        "newest first: {table}"
    );
    assert!(body.contains("<code>create-branch</code>"), "{body}");
    assert!(
        body.contains(r#"class="badge badge-added">completed"#),
        "{body}"
    );
    assert!(body.contains("success"), "{body}");
    assert!(body.contains("100%"), "{body}");
    assert!(body.contains(r#"offset=50" rel="next""#), "{body}");
    assert!(!body.contains(r#"rel="prev""#), "{body}");
    // Each title links to the task's page.
    let newest = task_of(&server, "create-branch", "bulk-51").await;
    assert!(
        body.contains(&format!(r#"href="&#x2f;tasks&#x2f;{newest}""#)),
        "{body}"
    );
    // The menu offers the page.
    assert!(body.contains(r#"aria-current="page">Tasks</a>"#), "{body}");

    // The second page.
    let body = admin.get("/tasks?offset=50").await.ok().to_string();
    assert_eq!(rows(&body), 2, "{body}");
    assert!(body.contains("51–52 of 52"), "{body}");
    assert!(body.contains("Create branch bulk-00"), "{body}");
    assert!(body.contains(r#"offset=0" rel="prev""#), "{body}");
    assert!(!body.contains(r#"rel="next""#), "{body}");
    // Past the end.
    let body = admin.get("/tasks?offset=500").await.ok().to_string();
    assert!(body.contains("No tasks on this page"), "{body}");

    // Filters: branch, title, workflow, state; the filters are kept by the pager.
    let body = admin.get("/tasks?branch=bulk-07").await.ok().to_string();
    assert_eq!(rows(&body), 1, "{body}");
    assert!(body.contains("Create branch bulk-07"), "{body}");
    assert!(body.contains(r#"id="filter-branch" type="text" name="branch" value="bulk-07""#));
    let body = admin.get("/tasks?q=bulk-1").await.ok().to_string();
    assert_eq!(rows(&body), 10, "{body}");
    let body = admin
        .get("/tasks?workflow=create-branch&state=COMPLETED")
        .await
        .ok()
        .to_string();
    assert_eq!(rows(&body), 50, "{body}");
    assert!(
        body.contains(r#"<option value="COMPLETED" selected>"#),
        "{body}"
    );
    assert!(body.contains("offset=50\" rel=\"next\""), "{body}");
    assert!(
        body.contains("state=COMPLETED&amp;workflow=create-branch&amp;offset=50"),
        "the pager keeps the filters: {body}"
    );
    for empty in [
        "/tasks?state=PENDING",
        "/tasks?workflow=branch-rebase",
        "/tasks?q=nothing-like-this",
    ] {
        let body = admin.get(empty).await.ok().to_string();
        assert_eq!(rows(&body), 0, "{empty}: {body}");
        assert!(body.contains("No task matches"), "{empty}: {body}");
    }
    // A state that is none: refused.
    assert_eq!(
        admin.get("/tasks?state=DONE").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        admin
            .get(&format!("/tasks?q={}", "x".repeat(300)))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The tasks of a deleted branch remain listed by its name.
    server
        .admin_graphql(
            "main",
            "mutation { BranchDelete(data: {name: \"bulk-03\"}, wait_until_completion: true) { ok } }",
            json!({}),
        )
        .await;
    let answer = admin.get("/tasks?branch=bulk-03").await;
    let body = answer.ok();
    assert!(body.contains("Create branch bulk-03"), "{body}");
    assert!(rows(body) >= 2, "create and delete: {body}");

    // Anonymous visitors read the list (anonymous access is on by default).
    let mut anonymous = server.anonymous();
    assert_eq!(rows(anonymous.get("/tasks").await.ok()), 50);
}

#[tokio::test]
async fn a_task_page_shows_parameters_log_and_error_and_is_retried_from_the_page() {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let site = server
        .admin_graphql(
            "main",
            r#"mutation { LocationSiteCreate(data: {name: {value: "contested"}}) { object { id } } }"#,
            json!({}),
        )
        .await["LocationSiteCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    create_branch(&server, "c-1").await;
    let mut admin = server.admin().await;

    // A task that completed: its parameters, its log, no action.
    let created = task_of(&server, "create-branch", "c-1").await;
    let body = admin
        .get(&format!("/tasks/{created}"))
        .await
        .ok()
        .to_string();
    assert!(body.contains("<h1>Create branch c-1"), "{body}");
    assert!(body.contains(&format!("<code>{created}</code>")), "{body}");
    assert!(body.contains("&quot;name&quot;: &quot;c-1&quot;"), "{body}");
    assert!(body.contains(r#"<pre class="objects-value task-parameters">{"#));
    assert!(body.contains(r#"class="table task-log""#), "{body}");
    assert!(body.contains(r#"<td class="log-message">"#), "{body}");
    assert!(
        body.contains(r#"href="&#x2f;branches&#x2f;c-1""#),
        "the branch links to its page: {body}"
    );
    assert!(!body.contains(r#"name="action""#), "{body}");

    // A conflict: the validation fails in the background.
    for (branch, text) in [("main", "from main"), ("c-1", "from branch")] {
        server
            .admin_graphql(
                branch,
                "mutation($id: String!, $d: String) { LocationSiteUpdate(data: \
                 {id: $id, description: {value: $d}}) { ok } }",
                json!({"id": site, "d": text}),
            )
            .await;
    }
    let data = server
        .admin_graphql(
            "main",
            r#"mutation { BranchValidate(wait_until_completion: false, data: {name: "c-1"}) { ok task { id } } }"#,
            json!({}),
        )
        .await;
    let failed = data["BranchValidate"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(wait(&server, &failed).await["state"], "FAILED");
    let message = "Branch c-1 has 1 conflict(s) with the default branch";
    let body = admin
        .get(&format!("/tasks/{failed}"))
        .await
        .ok()
        .to_string();
    assert!(
        body.contains(r#"class="banner banner-error task-error""#),
        "{body}"
    );
    assert!(body.contains(message), "{body}");
    assert!(
        body.contains(r#"class="badge badge-conflict">failed"#),
        "{body}"
    );
    assert!(body.contains("<dd>failure</dd>"), "{body}");
    assert!(
        body.contains(r#"<tr class="log-error">"#),
        "the error is logged: {body}"
    );
    assert!(body.contains(r#"name="action" value="retry""#), "{body}");
    assert!(!body.contains(r#"name="action" value="cancel""#), "{body}");
    // The list filtered by state shows it.
    let list = admin.get("/tasks?state=FAILED").await.ok().to_string();
    assert_eq!(rows(&list), 1, "{list}");
    assert!(list.contains("<td>failure</td>"), "{list}");

    // Anonymous visitors see no button and cannot retry.
    let mut anonymous = server.anonymous();
    let body = anonymous
        .get(&format!("/tasks/{failed}"))
        .await
        .ok()
        .to_string();
    assert!(body.contains(message));
    assert!(!body.contains(r#"name="action""#), "{body}");
    let refused = anonymous
        .post_form(&format!("/tasks/{failed}"), &[("action", "retry")])
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(
        refused.location().starts_with("/login?next="),
        "{}",
        refused.location()
    );
    // Nor can another site.
    let forged = admin
        .post_form_from(
            &format!("/tasks/{failed}"),
            &[("action", "retry")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let failures = server
        .admin_graphql(
            "main",
            r#"{ InfrahubTask(workflow: ["branch-validate"]) { count } }"#,
            json!({}),
        )
        .await;
    assert_eq!(failures["InfrahubTask"]["count"], 1, "nothing retried");

    // Retry: a new task, and its page.
    let retried = admin
        .post_form(&format!("/tasks/{failed}"), &[("action", "retry")])
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    let location = retried.location().to_string();
    assert!(location.starts_with("/tasks/"), "{location}");
    assert!(location.ends_with("?done=retried"), "{location}");
    let new_id = location
        .trim_start_matches("/tasks/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new_id, failed);
    let again = task(&server, &new_id).await;
    assert_eq!(again["workflow"], "branch-validate", "{again}");
    let body = admin.get(&location).await.ok().to_string();
    assert!(
        body.contains("Task retried: this is the new task."),
        "{body}"
    );
    assert!(body.contains(&format!("<code>{new_id}</code>")), "{body}");
    // The retried task fails again; retrying a completed task is refused on the page.
    wait(&server, &new_id).await;
    let refused = admin
        .post_form(&format!("/tasks/{created}"), &[("action", "retry")])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("The action was refused"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("only a failed, cancelled or crashed task can be retried"),
        "{}",
        refused.body
    );
    // An unknown action.
    let bad = admin
        .post_form(&format!("/tasks/{failed}"), &[("action", "explode")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_pending_task_is_in_flight_on_its_branch_and_cancelled_from_its_page() {
    let server = server().await;
    create_branch(&server, "s-1").await;
    let title = "Rebase <script>alert(1)</script> s-1";
    let pending = pending_task(&server, title, "s-1").await;
    let store = server.state.tasks.store();
    store
        .append_logs(
            &pending.id,
            vec![(
                Severity::Warning,
                "<img src=x onerror=alert(2)>".to_string(),
            )],
        )
        .await
        .unwrap();
    let mut admin = server.admin().await;
    let path = format!("/tasks/{}", pending.id);

    // The branch page lists the work in flight and links to the branch's tasks.
    let body = admin.get("/branches/s-1").await.ok().to_string();
    assert!(body.contains("Work in flight"), "{body}");
    assert!(
        body.contains(&format!(r#"href="&#x2f;tasks&#x2f;{}""#, pending.id)),
        "{body}"
    );
    assert!(
        body.contains(r#"href="&#x2f;tasks?branch=s-1">Tasks of this branch</a>"#),
        "{body}"
    );
    assert!(body.contains("Rebase &lt;script&gt;"), "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    let main = admin.get("/branches/main").await.ok().to_string();
    assert!(!main.contains("Work in flight"), "{main}");

    // Its page: HTML in the title, the parameters and the log is text; the related node links.
    let body = admin.get(&path).await.ok().to_string();
    assert!(
        body.contains("Rebase &lt;script&gt;alert(1)&lt;&#x2f;script&gt; s-1"),
        "{body}"
    );
    assert!(
        body.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{body}"
    );
    assert!(body.contains("&lt;i&gt;kept&lt;&#x2f;i&gt;"), "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(!body.contains("<i>kept"), "{body}");
    assert!(
        body.contains(
            r#"href="&#x2f;objects&#x2f;LocationSite&#x2f;0b7f0a57-0000-4000-8000-00000000abcd""#
        ),
        "{body}"
    );
    assert!(body.contains(r#"class="badge ">pending"#), "{body}");
    assert!(body.contains(r#"name="action" value="cancel""#), "{body}");
    assert!(!body.contains(r#"name="action" value="retry""#), "{body}");
    let list = admin.get("/tasks").await.ok().to_string();
    assert!(list.contains("Rebase &lt;script&gt;"), "{list}");
    assert!(!list.contains("<script>alert"), "{list}");

    // Anonymous visitors see no button and cannot cancel; nor can another site.
    let mut anonymous = server.anonymous();
    let body = anonymous.get(&path).await.ok().to_string();
    assert!(!body.contains(r#"name="action""#), "{body}");
    let refused = anonymous.post_form(&path, &[("action", "cancel")]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.location().starts_with("/login?next="));
    let forged = admin
        .post_form_from(&path, &[("action", "cancel")], Some("https://evil.example"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A page of the past offers no action and takes none.
    let past = format!("{path}?at=2030-01-01T00:00:00Z");
    let body = admin.get(&past).await.ok().to_string();
    assert!(body.contains("read-only"), "{body}");
    assert!(!body.contains(r#"name="action""#), "{body}");
    let refused = admin.post_form(&past, &[("action", "cancel")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(task(&server, &pending.id).await["state"], "PENDING");

    // Cancel: back to the page with a notice, the task cancelled, nothing in flight.
    let cancelled = admin.post_form(&path, &[("action", "cancel")]).await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    assert_eq!(cancelled.location(), format!("{path}?done=cancelled"));
    assert_eq!(task(&server, &pending.id).await["state"], "CANCELLED");
    let body = admin.get(cancelled.location()).await.ok().to_string();
    assert!(body.contains("Cancellation requested."), "{body}");
    assert!(
        body.contains(r#"class="badge badge-removed">cancelled"#),
        "{body}"
    );
    assert!(!body.contains(r#"name="action" value="cancel""#), "{body}");
    assert!(body.contains(r#"name="action" value="retry""#), "{body}");
    let body = admin.get("/branches/s-1").await.ok().to_string();
    assert!(!body.contains("Work in flight"), "{body}");
    // Cancelling again: the API's error on the page.
    let again = admin.post_form(&path, &[("action", "cancel")]).await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.body
    );
    assert!(again.body.contains("already CANCELLED"), "{}", again.body);
    // A notice is never echoed from the address.
    let body = admin
        .get(&format!("{path}?done=%3Cb%3Ehi%3C%2Fb%3E"))
        .await
        .ok()
        .to_string();
    assert!(
        !body.contains("hi</b>") && !body.contains("&lt;b&gt;hi"),
        "{body}"
    );
}

#[tokio::test]
async fn a_long_log_is_paged_and_unknown_tasks_are_not_found() {
    let server = server().await;
    create_branch(&server, "p-1").await;
    let pending = pending_task(&server, "Long log", "p-1").await;
    let lines: Vec<(Severity, String)> = (0..1001)
        .map(|i| (Severity::Info, format!("line number {i:04}")))
        .collect();
    server
        .state
        .tasks
        .store()
        .append_logs(&pending.id, lines)
        .await
        .unwrap();
    let mut admin = server.admin().await;
    let path = format!("/tasks/{}", pending.id);
    let body = admin.get(&path).await.ok().to_string();
    assert!(body.contains("1–1000 of 1001 lines"), "{body}");
    assert!(body.contains("line number 0999"), "{body}");
    assert!(!body.contains("line number 1000"), "{body}");
    assert!(body.contains(r#"log_offset=1000" rel="next""#), "{body}");
    let body = admin
        .get(&format!("{path}?log_offset=1000"))
        .await
        .ok()
        .to_string();
    assert!(body.contains("1001–1001 of 1001 line"), "{body}");
    assert!(body.contains("line number 1000"), "{body}");
    assert!(!body.contains("line number 0999"), "{body}");
    assert!(body.contains(r#"log_offset=0" rel="prev""#), "{body}");

    // Unknown tasks: the 404 page, for reads and for actions.
    for id in [
        "0b7f0a57-0000-4000-8000-000000000001",
        "not-a-task",
        "%3Cscript%3E",
    ] {
        let answer = admin.get(&format!("/tasks/{id}")).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{id}: {}",
            answer.body
        );
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
    }
    let answer = admin
        .post_form(
            "/tasks/0b7f0a57-0000-4000-8000-000000000001",
            &[("action", "cancel")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
}
