//! Git repositories through the GraphQL API, on repositories the tests build with git2:
//! `CoreRepositoryCreate` checks the remote before writing and imports the default branch as a
//! task (schemas, queries, Jinja2 transforms, artifact definitions, with their repository and
//! status fields); a pushed commit is imported by the periodic synchronisation, one that
//! breaks `.infrahub.yml` fails the import naming the file and leaves what was imported;
//! read-only repositories import the commit their `ref` names and follow a changed `ref`;
//! `InfrahubRepositoryConnectivity` and `InfrahubRepositoryProcess`; credentials never show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use git2::{Repository, Signature};
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_graph::{EmbeddedGraph, GraphStore};
use infrahub_server::AppState;
use infrahub_server::config::Settings;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";

fn temp(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "infrahub-repositories-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Commits `files` (path, content; `None` deletes) on `branch` of `repo`.
fn commit(
    repo: &Repository,
    branch: &str,
    files: &[(&str, Option<&str>)],
    message: &str,
) -> String {
    let workdir = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (path, content) in files {
        let full = workdir.join(path);
        match content {
            Some(content) => {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, content).unwrap();
                index.add_path(Path::new(path)).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&full);
                index.remove_path(Path::new(path)).unwrap();
            }
        }
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = Signature::now("test", "test@example.com").unwrap();
    let reference = format!("refs/heads/{branch}");
    let parent = repo
        .find_reference(&reference)
        .ok()
        .and_then(|r| r.target())
        .map(|oid| repo.find_commit(oid).unwrap());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some(&reference),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )
    .unwrap()
    .to_string()
}

const MANIFEST: &str = "\
schemas:
  - schemas
queries:
  - name: device_names
    file_path: queries/device_names.gql
  - name: device_count
    file_path: queries/device_count.gql
jinja2_transforms:
  - name: device_list
    description: every device, one a line
    query: device_names
    template_path: templates/devices.j2
artifact_definitions:
  - name: device-list
    artifact_name: devices
    parameters: {}
    content_type: text/plain
    targets: all-devices
    transformation: device_list
";

const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Lab
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text, unique: true}
"#;

/// A source repository with the manifest above on `main`; its path and first commit.
fn source() -> (PathBuf, Repository, String) {
    let dir = temp("source");
    let repo = Repository::init(&dir).unwrap();
    let first = commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(MANIFEST)),
            ("schemas/lab.yml", Some(SCHEMA)),
            (
                "queries/device_names.gql",
                Some("query { LabDevice { edges { node { name { value } } } } }"),
            ),
            (
                "queries/device_count.gql",
                Some("query { LabDevice { count } }"),
            ),
            (
                "templates/devices.j2",
                Some("{% for e in data.LabDevice.edges %}{{ e.node.name.value }}\n{% endfor %}"),
            ),
        ],
        "first",
    );
    (dir, repo, first)
}

struct Harness {
    app: axum::Router,
    state: Arc<AppState>,
}

async fn harness(sync_interval: u64) -> Harness {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory().unwrap());
    let options = EngineOptions {
        admin_token: Some(TOKEN.into()),
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    let engine = Engine::open(store, options).await.unwrap();
    let mut settings = Settings::default();
    settings.main.data_dir = temp("data");
    settings.git.sync_interval = sync_interval;
    let state = AppState::new(
        settings,
        "deployment".into(),
        Arc::new(engine),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    state.mark_ready();
    Harness {
        app: infrahub_server::app::router(Arc::clone(&state)),
        state,
    }
}

impl Harness {
    async fn answer_on(&self, branch: &str, query: &str) -> Value {
        let request = Request::post(format!("/graphql/{branch}"))
            .header("content-type", "application/json")
            .header("X-INFRAHUB-KEY", TOKEN)
            .body(Body::from(json!({"query": query}).to_string()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn gql_on(&self, branch: &str, query: &str) -> Value {
        let body = self.answer_on(branch, query).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    async fn gql(&self, query: &str) -> Value {
        self.gql_on("main", query).await
    }

    async fn error(&self, query: &str) -> String {
        let body = self.answer_on("main", query).await;
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {body}"))
            .to_owned()
    }

    /// The repository named `name` on `branch`, with its status fields.
    async fn repository(&self, branch: &str, name: &str) -> Value {
        let data = self
            .gql_on(
                branch,
                &format!(
                    r#"{{ CoreGenericRepository(name__value: "{name}") {{ edges {{ node {{
                        id __typename location {{ value }} internal_status {{ value }}
                        sync_status {{ value }} operational_status {{ value }}
                        ... on CoreRepository {{ commit {{ value }} default_branch {{ value }} }}
                        ... on CoreReadOnlyRepository {{ commit {{ value }} ref {{ value }} }}
                    }} }} }} }}"#
                ),
            )
            .await;
        data["CoreGenericRepository"]["edges"][0]["node"].clone()
    }

    /// Waits until every task of node `id` is final; returns them, newest first.
    async fn settled_tasks(&self, id: &str) -> Vec<Value> {
        for _ in 0..1_000 {
            let data = self
                .gql(&format!(
                    r#"{{ InfrahubTask(related_node__ids: ["{id}"], limit: 100) {{ edges {{ node {{
                        id workflow state parameters logs {{ edges {{ node {{ message severity }} }} }}
                    }} }} }} }}"#
                ))
                .await;
            let tasks: Vec<Value> = data["InfrahubTask"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect();
            let done = !tasks.is_empty()
                && tasks.iter().all(|t| {
                    ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
                        .contains(&t["state"].as_str().unwrap_or_default())
                });
            if done {
                return tasks;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the tasks of {id} never finished");
    }

    /// Adds read-write repository `name` at `location` and waits for its import, which must
    /// succeed; its id.
    async fn add_repository(&self, name: &str, location: &str) -> String {
        let created = self
            .gql(&format!(
                r#"mutation {{ CoreRepositoryCreate(data: {{
                    name: {{value: "{name}"}}, location: {{value: "{location}"}}
                }}) {{ object {{ id }} }} }}"#
            ))
            .await;
        let id = created["CoreRepositoryCreate"]["object"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tasks = self.settled_tasks(&id).await;
        assert_eq!(tasks[0]["state"], "COMPLETED", "{}", log_text(&tasks[0]));
        id
    }

    /// The id of the first node of `kind`.
    async fn first_id(&self, kind: &str) -> String {
        self.gql(&format!("{{ {kind} {{ edges {{ node {{ id }} }} }} }}"))
            .await[kind]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no {kind}"))
            .to_owned()
    }

    /// Posts form `body` to `uri` as the admin: the status and the `Location` header.
    async fn form_post(&self, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-INFRAHUB-KEY", TOKEN)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location)
    }

    /// `GET uri` as the admin: the status and the body as text.
    async fn get(&self, uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri)
            .header("X-INFRAHUB-KEY", TOKEN)
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn names(&self, branch: &str, kind: &str) -> Vec<String> {
        let data = self
            .gql_on(
                branch,
                &format!("{{ {kind} {{ edges {{ node {{ name {{ value }} }} }} }} }}"),
            )
            .await;
        let mut names: Vec<String> = data[kind]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"]["value"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    async fn count(&self, kind: &str) -> u64 {
        self.gql(&format!("{{ {kind} {{ count }} }}")).await[kind]["count"]
            .as_u64()
            .unwrap()
    }
}

fn log_text(task: &Value) -> String {
    task["logs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["message"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_repository_is_imported_and_follows_new_commits() {
    let h = harness(1).await;
    let (dir, repo, first) = source();
    h.gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { ok } }"#)
        .await;

    let created = h
        .gql(&format!(
            r#"mutation {{ CoreRepositoryCreate(data: {{
                name: {{value: "lab"}}, location: {{value: "file://{}"}},
                description: {{value: "lab content"}}, default_branch: {{value: ""}}
            }}) {{ ok object {{ id }} }} }}"#,
            dir.display()
        ))
        .await;
    let id = created["CoreRepositoryCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks = h.settled_tasks(&id).await;
    let add = tasks
        .iter()
        .find(|t| t["workflow"] == "git-repository-add-read-write")
        .expect("the add task");
    assert_eq!(add["state"], "COMPLETED", "{}", log_text(add));

    let record = h.repository("main", "lab").await;
    assert_eq!(record["__typename"], "CoreRepository");
    assert_eq!(record["commit"]["value"], first);
    assert_eq!(record["default_branch"]["value"], "main");
    assert_eq!(record["internal_status"]["value"], "active");
    assert_eq!(record["sync_status"]["value"], "in-sync");
    assert_eq!(record["operational_status"]["value"], "online");

    // What the manifest declares is there, linked to the repository.
    assert_eq!(
        h.names("main", "CoreGraphQLQuery").await,
        ["device_count", "device_names"]
    );
    let transform = h
        .gql(
            r#"{ CoreTransformJinja2 { edges { node { name { value source { id } is_protected }
                template_path { value } description { value }
                query { node { name { value } } } repository { node { id } } } } } }"#,
        )
        .await;
    let node = &transform["CoreTransformJinja2"]["edges"][0]["node"];
    assert_eq!(node["name"]["value"], "device_list");
    assert_eq!(node["name"]["source"]["id"], id);
    assert_eq!(node["name"]["is_protected"], true);
    assert_eq!(node["template_path"]["value"], "templates/devices.j2");
    assert_eq!(node["query"]["node"]["name"]["value"], "device_names");
    assert_eq!(node["repository"]["node"]["id"], id);
    let definition = h
        .gql(
            r#"{ CoreArtifactDefinition { edges { node { name { value } artifact_name { value }
                content_type { value } targets { node { display_label } }
                transformation { node { display_label } } } } } }"#,
        )
        .await;
    let node = &definition["CoreArtifactDefinition"]["edges"][0]["node"];
    assert_eq!(node["artifact_name"]["value"], "devices");
    assert_eq!(node["targets"]["node"]["display_label"], "all-devices");
    // The schema is loaded: its kind can be used.
    h.gql(r#"mutation { LabDeviceCreate(data: {name: {value: "sw1"}}) { ok } }"#)
        .await;
    h.gql(r#"mutation { LabDeviceCreate(data: {name: {value: "sw2"}}) { ok } }"#)
        .await;

    // The transform renders over REST from the repository's commit.
    let (status, text) = h.get("/api/transform/jinja2/device_list").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "sw1\nsw2\n");
    let (status, _) = h.get("/api/transform/jinja2/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = h.get("/api/transform/python/device_list").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    // Files of the repository, at its commit or another one; nothing outside it.
    let (status, text) = h.get(&format!("/api/file/{id}/templates/devices.j2")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.starts_with("{% for e in data.LabDevice.edges %}"),
        "{text}"
    );
    let (status, text) = h
        .get(&format!("/api/file/lab/schemas/lab.yml?commit={first}"))
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, SCHEMA));
    let (status, _) = h.get(&format!("/api/file/{id}/templates/none.j2")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = h
        .get(&format!("/api/file/{id}/templates/../../etc/passwd"))
        .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status} {text}"
    );
    let (status, text) = h.get(&format!("/api/file/{id}/%2E%2E/secret")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, _) = h.get(&format!("/api/file/{id}/x?commit=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get("/api/file/unknown-repository/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A pushed commit is found by the periodic synchronisation and imported: a query changes,
    // one goes (with nothing using it), a transform is renamed.
    let manifest = MANIFEST
        .replace(
            "  - name: device_count\n    file_path: queries/device_count.gql\n",
            "",
        )
        .replace("name: device_list", "name: device_lines")
        .replace(
            "transformation: device_list",
            "transformation: device_lines",
        );
    let second = commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(&manifest)),
            ("queries/device_count.gql", None),
            (
                "queries/device_names.gql",
                Some("query { LabDevice { count edges { node { name { value } } } } }"),
            ),
        ],
        "second",
    );
    let mut imported = false;
    for _ in 0..300 {
        if h.repository("main", "lab").await["commit"]["value"] == second.as_str() {
            imported = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(imported, "the pushed commit was not imported");
    h.settled_tasks(&id).await;
    assert_eq!(h.names("main", "CoreGraphQLQuery").await, ["device_names"]);
    assert_eq!(
        h.names("main", "CoreTransformJinja2").await,
        ["device_lines"]
    );
    let query = h
        .gql(r#"{ CoreGraphQLQuery { edges { node { query { value } } } } }"#)
        .await;
    assert!(
        query["CoreGraphQLQuery"]["edges"][0]["node"]["query"]["value"]
            .as_str()
            .unwrap()
            .contains("count")
    );

    // A commit that breaks the manifest fails its import, naming the file and line; what was
    // imported stays, and the commit is not retried every period.
    let third = commit(
        &repo,
        "main",
        &[(
            ".infrahub.yml",
            Some("queries:\n  - name: x\n    flie_path: y.gql\n"),
        )],
        "broken",
    );
    let mut failed = None;
    for _ in 0..300 {
        let record = h.repository("main", "lab").await;
        if record["sync_status"]["value"] == "error-import" {
            failed = Some(record);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record = failed.expect("the broken commit was not reported");
    assert_eq!(
        record["commit"]["value"], second,
        "the commit stays the last good one"
    );
    let tasks = h.settled_tasks(&id).await;
    let failure = tasks
        .iter()
        .find(|t| t["state"] == "FAILED")
        .expect("a failed import task");
    assert_eq!(failure["parameters"]["commit"], third);
    let log = log_text(failure);
    assert!(log.contains(".infrahub.yml:3"), "{log}");
    assert!(log.contains("flie_path"), "{log}");
    assert_eq!(h.names("main", "CoreGraphQLQuery").await, ["device_names"]);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let again = h.settled_tasks(&id).await;
    assert_eq!(
        again.len(),
        tasks.len(),
        "a commit that failed is not imported again every period"
    );

    // InfrahubRepositoryConnectivity and InfrahubRepositoryProcess.
    let connectivity = h
        .gql(&format!(
            r#"mutation {{ InfrahubRepositoryConnectivity(data: {{id: "{id}"}}) {{ ok message }} }}"#
        ))
        .await;
    assert_eq!(connectivity["InfrahubRepositoryConnectivity"]["ok"], true);
    let fixed = commit(
        &repo,
        "main",
        &[(".infrahub.yml", Some(&manifest))],
        "fixed",
    );
    h.gql(r#"mutation { InfrahubRepositoryProcess(data: {id: "lab"}) { ok } }"#)
        .await;
    let tasks = h.settled_tasks(&id).await;
    assert!(
        tasks
            .iter()
            .any(|t| t["workflow"] == "git-repository-import-object" && t["state"] == "COMPLETED"),
        "{tasks:?}"
    );
    // The synchronisation catches the fixed commit too.
    for _ in 0..300 {
        if h.repository("main", "lab").await["commit"]["value"] == fixed.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record = h.repository("main", "lab").await;
    assert_eq!(record["commit"]["value"], fixed);
    assert_eq!(record["sync_status"]["value"], "in-sync");

    // A new Git branch becomes an Infrahub branch with sync_with_git, and its commit is
    // imported there; the default branch keeps its content.
    let base = repo
        .find_commit(git2::Oid::from_str(&fixed).unwrap())
        .unwrap();
    repo.branch("feature-x", &base, true).unwrap();
    let mut index = repo.index().unwrap();
    index.read_tree(&base.tree().unwrap()).unwrap();
    index.write().unwrap();
    let feature = commit(
        &repo,
        "feature-x",
        &[(
            "queries/device_names.gql",
            Some("query { LabDevice { edges { node { id name { value } } } } }"),
        )],
        "feature",
    );
    let mut synced = false;
    for _ in 0..300 {
        let branches = h.gql("{ Branch { name } }").await;
        if !branches["Branch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "feature-x")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let body = h
            .answer_on(
                "feature-x",
                r#"{ CoreRepository(name__value: "lab") { edges { node { commit { value } } } } }"#,
            )
            .await;
        if body["data"]["CoreRepository"]["edges"][0]["node"]["commit"]["value"] == feature.as_str()
        {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(synced, "the Git branch was not imported");
    let branches = h.gql("{ Branch { name sync_with_git } }").await;
    assert!(
        branches["Branch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "feature-x" && b["sync_with_git"] == true),
        "{branches}"
    );
    let query_text = |data: Value| {
        data["CoreGraphQLQuery"]["edges"][0]["node"]["query"]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let on_branch = h
        .gql_on(
            "feature-x",
            r#"{ CoreGraphQLQuery(name__value: "device_names") { edges { node { query { value } } } } }"#,
        )
        .await;
    assert!(query_text(on_branch).contains("node { id name"));
    let on_main = h
        .gql(r#"{ CoreGraphQLQuery(name__value: "device_names") { edges { node { query { value } } } } }"#)
        .await;
    assert!(!query_text(on_main).contains("node { id name"));

    // Deleting the repository removes what it owns and this process's mirror.
    let mirror = h
        .state
        .settings
        .git_options()
        .repositories_directory
        .join(&id);
    assert!(mirror.exists());
    h.gql(&format!(
        r#"mutation {{ CoreRepositoryDelete(data: {{id: "{id}"}}) {{ ok }} }}"#
    ))
    .await;
    assert!(
        !mirror.exists(),
        "the mirror is removed with the repository"
    );
    assert_eq!(h.count("CoreTransformJinja2").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_does_not_answer_is_refused_before_anything_is_written() {
    let h = harness(3_600).await;
    let missing = temp("missing");
    let error = h
        .error(&format!(
            r#"mutation {{ CoreRepositoryCreate(data: {{
                name: {{value: "nowhere"}}, location: {{value: "file://{}/none"}}
            }}) {{ ok }} }}"#,
            missing.display()
        ))
        .await;
    assert!(error.starts_with("location: "), "{error}");
    let error = h
        .error(
            r#"mutation { CoreRepositoryCreate(data: {
                name: {value: "ssh"}, location: {value: "ssh://git@example.com/x.git"}
            }) { ok } }"#,
        )
        .await;
    assert!(
        error.contains("only https://, http://, git://, file://"),
        "{error}"
    );

    // A credential's password never shows, whatever fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    h.gql(
        r#"mutation { CorePasswordCredentialCreate(data: {name: {value: "git-cred"},
            username: {value: "alice"}, password: {value: "s3cret-t0ken"}}) { ok } }"#,
    )
    .await;
    let body = h
        .answer_on(
            "main",
            &format!(
                r#"mutation {{ CoreRepositoryCreate(data: {{
                    name: {{value: "private"}},
                    location: {{value: "http://bob:hunter2@127.0.0.1:{port}/x.git"}},
                    credential: {{id: "git-cred"}}
                }}) {{ ok }} }}"#
            ),
        )
        .await;
    let text = body.to_string();
    assert!(body["errors"][0]["message"].is_string(), "{text}");
    assert!(
        !text.contains("s3cret-t0ken") && !text.contains("hunter2"),
        "{text}"
    );
    assert_eq!(h.count("CoreGenericRepository").await, 0);
    let tasks = h.gql("{ InfrahubTask { count } }").await;
    assert_eq!(tasks["InfrahubTask"]["count"], 0, "no task was submitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_repository_imports_the_commit_its_ref_names() {
    let h = harness(3_600).await;
    let (dir, repo, first) = source();
    h.gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { ok } }"#)
        .await;
    let head = repo
        .find_commit(git2::Oid::from_str(&first).unwrap())
        .unwrap();
    repo.tag_lightweight("v1", head.as_object(), false).unwrap();
    // `main` moves on with a broken manifest: the tag is what gets imported.
    commit(
        &repo,
        "main",
        &[(".infrahub.yml", Some("nope: 1\n"))],
        "later",
    );

    let created = h
        .gql(&format!(
            r#"mutation {{ CoreReadOnlyRepositoryCreate(data: {{
                name: {{value: "lab-ro"}}, location: {{value: "{}"}}, ref: {{value: "v1"}}
            }}) {{ ok object {{ id }} }} }}"#,
            dir.display()
        ))
        .await;
    let id = created["CoreReadOnlyRepositoryCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks = h.settled_tasks(&id).await;
    assert_eq!(tasks[0]["workflow"], "git-repository-add-read-only");
    assert_eq!(tasks[0]["state"], "COMPLETED", "{}", log_text(&tasks[0]));
    let record = h.repository("main", "lab-ro").await;
    assert_eq!(record["commit"]["value"], first);
    assert_eq!(record["ref"]["value"], "v1");
    assert_eq!(
        h.names("main", "CoreGraphQLQuery").await,
        ["device_count", "device_names"]
    );

    // A new ref is pulled: here one whose manifest is broken, which fails the import and
    // leaves the imported commit.
    h.gql(&format!(
        r#"mutation {{ CoreReadOnlyRepositoryUpdate(data: {{id: "{id}", ref: {{value: "main"}}}}) {{ ok }} }}"#
    ))
    .await;
    let tasks = h.settled_tasks(&id).await;
    let pull = tasks
        .iter()
        .find(|t| t["workflow"] == "git-repository-pull-read-only")
        .expect("a pull task");
    assert_eq!(pull["state"], "FAILED");
    assert!(
        log_text(pull).contains(".infrahub.yml"),
        "{}",
        log_text(pull)
    );
    let record = h.repository("main", "lab-ro").await;
    assert_eq!(record["sync_status"]["value"], "error-import");
    assert_eq!(record["commit"]["value"], first);

    // A template that does not parse fails the import, naming the template and line.
    let broken = commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(MANIFEST)),
            (
                "templates/devices.j2",
                Some("{% for e in data.LabDevice.edges %}\n{{ e.node.name.value }\n"),
            ),
        ],
        "broken template",
    );
    h.gql(&format!(
        r#"mutation {{ CoreReadOnlyRepositoryUpdate(data: {{id: "{id}", ref: {{value: "{broken}"}}}}) {{ ok }} }}"#
    ))
    .await;
    let tasks = h.settled_tasks(&id).await;
    let log = tasks
        .iter()
        .filter(|t| t["parameters"]["ref"] == broken.as_str())
        .map(log_text)
        .next()
        .expect("the pull of the broken template");
    assert!(log.contains("templates/devices.j2:2"), "{log}");

    // On a branch the repository follows another ref: /api/diff/files lists what changed.
    h.gql(r#"mutation { BranchCreate(data: {name: "other-ref"}) { ok } }"#)
        .await;
    // Branch `release` of the repository: `first` plus one file.
    let base = repo
        .find_commit(git2::Oid::from_str(&first).unwrap())
        .unwrap();
    repo.branch("release", &base, true).unwrap();
    let mut index = repo.index().unwrap();
    index.read_tree(&base.tree().unwrap()).unwrap();
    index.write().unwrap();
    let next = commit(
        &repo,
        "release",
        &[("templates/extra.j2", Some("extra"))],
        "release",
    );
    h.gql_on(
        "other-ref",
        &format!(
            r#"mutation {{ CoreReadOnlyRepositoryUpdate(data: {{id: "{id}", ref: {{value: "{first}"}}}}) {{ ok }} }}"#
        ),
    )
    .await;
    h.settled_tasks(&id).await;
    let (status, body) = h.get("/api/diff/files?branch=other-ref").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let diff: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(diff["other-ref"], json!({}), "same commit on both: {diff}");
    h.gql_on(
        "other-ref",
        &format!(
            r#"mutation {{ CoreReadOnlyRepositoryUpdate(data: {{id: "{id}", ref: {{value: "release"}}}}) {{ ok }} }}"#
        ),
    )
    .await;
    h.settled_tasks(&id).await;
    let (status, body) = h.get("/api/diff/files?branch=other-ref").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let diff: Value = serde_json::from_str(&body).unwrap();
    let entry = &diff["other-ref"][&id];
    assert_eq!(entry["commit_from"], first, "{diff}");
    assert_eq!(entry["commit_to"], next, "{diff}");
    assert_eq!(entry["display_name"], "lab-ro");
    assert_eq!(
        entry["files"],
        json!([{"branch": "other-ref", "location": "templates/extra.j2", "action": "added"}]),
        "{diff}"
    );
    let (status, _) = h.get("/api/diff/files?branch=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // On another branch the repository is `staging`.
    h.gql(r#"mutation { BranchCreate(data: {name: "feature"}) { ok } }"#)
        .await;
    let (dir2, _repo2, _) = source();
    h.gql_on(
        "feature",
        &format!(
            r#"mutation {{ CoreReadOnlyRepositoryCreate(data: {{
                name: {{value: "lab-ro-2"}}, location: {{value: "file://{}"}}
            }}) {{ ok }} }}"#,
            dir2.display()
        ),
    )
    .await;
    let record = h.repository("feature", "lab-ro-2").await;
    assert_eq!(record["internal_status"]["value"], "staging");
}

const ARTIFACT_MANIFEST: &str = "\
schemas: [schemas]
queries:
  - name: device_config
    file_path: queries/device_config.gql
jinja2_transforms:
  - name: device_config
    query: device_config
    template_path: templates/config.j2
artifact_definitions:
  - name: device-config
    artifact_name: startup-config
    parameters: {name: name__value}
    content_type: text/plain
    targets: all-devices
    transformation: device_config
";

const ARTIFACT_SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Lab
    inherit_from: [CoreArtifactTarget]
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
"#;

/// The artifacts of `definition`, by target name: (id, status, checksum, storage_id).
async fn artifacts(h: &Harness) -> BTreeMap<String, (String, String, String, String)> {
    let data = h
        .gql(
            r#"{ CoreArtifact { edges { node { id status { value } checksum { value }
                storage_id { value } content_type { value } object { node { display_label } } } } } }"#,
        )
        .await;
    data["CoreArtifact"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            assert_eq!(n["content_type"]["value"], "text/plain");
            (
                text(&n["object"]["node"]["display_label"]),
                (
                    text(&n["id"]),
                    text(&n["status"]["value"]),
                    text(&n["checksum"]["value"]),
                    text(&n["storage_id"]["value"]),
                ),
            )
        })
        .collect()
}

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Harness {
    async fn post(&self, uri: &str, body: Value, authenticated: bool) -> (StatusCode, String) {
        let mut request = Request::post(uri).header("content-type", "application/json");
        if authenticated {
            request = request.header("X-INFRAHUB-KEY", TOKEN);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Waits until the newest generation of definition `id` started after `after` tasks is
    /// final; returns it.
    async fn generation(&self, id: &str, after: usize) -> Value {
        for _ in 0..1_000 {
            let tasks = self.settled_tasks(id).await;
            if tasks.len() > after {
                return tasks[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no new generation of {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_generated_per_target_and_follow_the_template() {
    let h = harness(1).await;
    let dir = temp("artifacts");
    let repo = Repository::init(&dir).unwrap();
    commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(ARTIFACT_MANIFEST)),
            ("schemas/lab.yml", Some(ARTIFACT_SCHEMA)),
            (
                "queries/device_config.gql",
                Some(
                    "query ($name: String!) { LabDevice(name__value: $name) { edges { node { name { value } } } } }",
                ),
            ),
            (
                "templates/config.j2",
                Some(
                    "{% for e in data.LabDevice.edges %}\nhostname {{ e.node.name.value }}\n{% endfor %}\n",
                ),
            ),
            ("README.md", Some("lab")),
        ],
        "first",
    );
    let group = h
        .gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { object { id } } }"#)
        .await["CoreStandardGroupCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let repository = h
        .add_repository("configs", &format!("file://{}", dir.display()))
        .await;
    let definition = h.first_id("CoreArtifactDefinition").await;
    let generations = h.settled_tasks(&definition).await.len();

    // Two devices join the group; a generation request renders one artifact each.
    let mut members = Vec::new();
    for name in ["sw1", "sw2"] {
        let created = h
            .gql(&format!(
                r#"mutation {{ LabDeviceCreate(data: {{name: {{value: "{name}"}}}}) {{ object {{ id }} }} }}"#
            ))
            .await;
        members.push(format!(
            r#"{{id: "{}"}}"#,
            created["LabDeviceCreate"]["object"]["id"].as_str().unwrap()
        ));
    }
    h.gql(&format!(
        r#"mutation {{ CoreStandardGroupUpdate(data: {{id: "{group}", members: [{}]}}) {{ ok }} }}"#,
        members.join(", ")
    ))
    .await;
    let (status, body) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({"nodes": []}),
            true,
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "null"));
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    let first = artifacts(&h).await;
    assert_eq!(first.len(), 2, "{first:?}");
    for name in ["sw1", "sw2"] {
        let (id, status, checksum, storage_id) =
            first.get(name).unwrap_or_else(|| panic!("{first:?}"));
        assert_eq!(status, "Ready");
        let expected = format!("hostname {name}\n");
        assert_eq!(checksum, &md5_hex(&expected));
        assert!(storage_id.starts_with("artifact-"), "{storage_id}");
        let (code, content) = h.get(&format!("/api/artifact/{id}")).await;
        assert_eq!((code, content), (StatusCode::OK, expected));
    }
    let (code, _) = h.get("/api/artifact/not-an-id").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The web pages: an artifact shows its content, a definition links to its tasks.
    let (code, page) = h
        .get(&format!("/objects/CoreArtifact/{}", first["sw1"].0))
        .await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(page.contains("<h2>Content</h2>"), "{page}");
    assert!(page.contains("hostname sw1"), "{page}");
    // A link to the raw content (the page escapes `/` as `&#x2f;`).
    let raw = format!("/api/artifact/{}", first["sw1"].0).replace('/', "&#x2f;");
    assert!(page.contains(&raw), "a link to the raw content: {page}");
    let (code, page) = h.get(&format!("/tasks?related_node={definition}")).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(
        page.contains("Generating the artifacts of device-config"),
        "{page}"
    );
    assert!(
        !page.contains("Adding repository"),
        "only the definition's tasks: {page}"
    );

    // The pages offer the actions: a definition generates its artifacts (to the task's page),
    // a repository checks its remote and imports again.
    let (code, page) = h
        .get(&format!("/objects/CoreArtifactDefinition/{definition}"))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("Generate artifacts"), "{page}");
    let generations = h.settled_tasks(&definition).await.len();
    let (code, location) = h
        .form_post(
            &format!("/objects/CoreArtifactDefinition/{definition}/action"),
            "action=generate",
        )
        .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/tasks/"), "{location}");
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    let (code, page) = h
        .get(&format!("/objects/CoreRepository/{repository}"))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("Check connectivity") && page.contains("Import again"),
        "{page}"
    );
    let (code, location) = h
        .form_post(
            &format!("/objects/CoreRepository/{repository}/action"),
            "action=connectivity",
        )
        .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let (_, page) = h.get(&location).await;
    assert!(page.contains("its location and credentials work"), "{page}");
    let (code, _) = h
        .form_post(
            &format!("/objects/CoreRepository/{repository}/action"),
            "action=generate",
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "not an action of a repository"
    );
    let (code, location) = h
        .form_post(
            &format!("/objects/CoreRepository/{repository}/action"),
            "action=import",
        )
        .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert!(location.contains("done=import"), "{location}");
    // The import, then the generation it submits, finish before going on.
    h.settled_tasks(&repository).await;
    h.settled_tasks(&definition).await;

    // A commit that changes nothing the artifacts use: they are generated again and left as
    // they are.
    let generations = h.settled_tasks(&definition).await.len();
    commit(&repo, "main", &[("README.md", Some("lab, v2"))], "readme");
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    assert!(
        log_text(&task).contains("0 created, 0 updated, 2 unchanged, 0 failed"),
        "{}",
        log_text(&task)
    );
    assert_eq!(artifacts(&h).await, first);

    // A commit that changes the template: every artifact follows.
    let generations = h.settled_tasks(&definition).await.len();
    commit(
        &repo,
        "main",
        &[(
            "templates/config.j2",
            Some(
                "{% for e in data.LabDevice.edges %}\nhostname {{ e.node.name.value | upper }}\n{% endfor %}\n",
            ),
        )],
        "upper",
    );
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    let second = artifacts(&h).await;
    for name in ["sw1", "sw2"] {
        assert_eq!(second[name].0, first[name].0, "the same artifact node");
        assert_ne!(second[name].3, first[name].3, "new content");
        let (_, content) = h.get(&format!("/api/artifact/{}", second[name].0)).await;
        assert_eq!(content, format!("hostname {}\n", name.to_uppercase()));
    }

    // A generation limited to one artifact renders only that one.
    let generations = h.settled_tasks(&definition).await.len();
    let (status, _) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({"nodes": [second["sw1"].0]}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let task = h.generation(&definition, generations).await;
    assert!(
        log_text(&task).contains("Generating 1 artifact(s)"),
        "{}",
        log_text(&task)
    );
    let (status, _) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({"nodes": "all"}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("id-{i}")).collect();
    let generations = h.settled_tasks(&definition).await.len();
    let (status, body) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({ "nodes": too_many }),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("at most 10000"), "{body}");
    assert_eq!(
        h.settled_tasks(&definition).await.len(),
        generations,
        "a refused request submits nothing"
    );
}

const FRAGMENT_MANIFEST: &str = "
queries:
  - name: tag_names
    file_path: queries/tag_names.gql
graphql_fragments:
  - name: tag fields
    file_path: fragments
jinja2_transforms:
  - name: tag_list
    query: tag_names
    template_path: templates/tags.j2
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_get_the_fragments_they_spread_from_the_fragment_files() {
    let h = harness(1).await;
    let dir = temp("fragments");
    let repo = Repository::init(&dir).unwrap();
    commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(FRAGMENT_MANIFEST)),
            (
                "queries/tag_names.gql",
                Some("query { BuiltinTag { edges { node { ...TagName } } } }"),
            ),
            (
                "fragments/names.gql",
                Some(
                    "# The name of a tag.\nfragment TagName on BuiltinTag { name { value } ...TagId }\n",
                ),
            ),
            (
                "fragments/ids.gql",
                Some("fragment TagId on BuiltinTag { id }\n"),
            ),
            // Not a .gql file, and one in a subdirectory: neither is read.
            ("fragments/README.md", Some("fragment {")),
            ("fragments/old/broken.gql", Some("fragment {")),
            (
                "templates/tags.j2",
                Some("{% for e in data.BuiltinTag.edges %}{{ e.node.name.value }};{% endfor %}"),
            ),
        ],
        "first",
    );
    h.gql(r#"mutation { BuiltinTagCreate(data: {name: {value: "red"}}) { ok } }"#)
        .await;
    let repository = h
        .add_repository("fragments", &format!("file://{}", dir.display()))
        .await;
    // The stored query stands alone: it holds the two fragments, dependencies first.
    let stored = h
        .gql(r#"{ CoreGraphQLQuery(name__value: "tag_names") { edges { node { query { value } } } } }"#)
        .await;
    let text = stored["CoreGraphQLQuery"]["edges"][0]["node"]["query"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        text,
        "query { BuiltinTag { edges { node { ...TagName } } } }\n\nfragment TagId on BuiltinTag { id }\n\nfragment TagName on BuiltinTag { name { value } ...TagId }\n"
    );
    let (status, body) = h.get("/api/transform/jinja2/tag_list").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "red;"));

    // A spread of a fragment no file defines fails the import, naming the query and fragment.
    commit(
        &repo,
        "main",
        &[(
            "queries/tag_names.gql",
            Some("query { BuiltinTag { edges { node { ...TagLabel } } } }"),
        )],
        "missing fragment",
    );
    for _ in 0..1_000 {
        if h.repository("main", "fragments").await["sync_status"]["value"] == "error-import" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tasks = h.settled_tasks(&repository).await;
    let logs: String = tasks.iter().map(log_text).collect::<Vec<_>>().join("\n");
    assert!(
        logs.contains("query `tag_names` (queries/tag_names.gql): Fragment 'TagLabel' not found."),
        "{logs}"
    );
    // Nothing changed: the query is still the first one.
    let stored = h
        .gql(r#"{ CoreGraphQLQuery(name__value: "tag_names") { edges { node { query { value } } } } }"#)
        .await;
    assert_eq!(
        stored["CoreGraphQLQuery"]["edges"][0]["node"]["query"]["value"],
        json!(text)
    );
}

/// A `git daemon` serving the repositories under `base` on a free 127.0.0.1 port; killed on
/// drop.
struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        // `git daemon` would run git-daemon as its child: killing it would leave the server.
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git is needed by these tests");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
        let mut child = std::process::Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg("--informative-errors")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git-daemon starts (git is needed by these tests)");
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return GitDaemon { child, port };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("git daemon did not listen on port {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_served_over_the_git_protocol_is_imported_and_followed() {
    let h = harness(1).await;
    let (dir, repo, first) = source();
    let base = dir.parent().unwrap().to_path_buf();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let daemon = GitDaemon::start(&base);
    h.gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { ok } }"#)
        .await;
    let location = format!("git://127.0.0.1:{}/{name}", daemon.port);
    let id = h.add_repository("over-the-network", &location).await;
    let record = h.repository("main", "over-the-network").await;
    assert_eq!(record["commit"]["value"], json!(first));
    assert_eq!(record["operational_status"]["value"], "online");
    assert_eq!(
        h.names("main", "CoreTransformJinja2").await,
        ["device_list"]
    );

    // A new commit is fetched over the network by the periodic synchronisation.
    let second = commit(
        &repo,
        "main",
        &[(
            "templates/devices.j2",
            Some("{% for e in data.LabDevice.edges %}- {{ e.node.name.value }}\n{% endfor %}"),
        )],
        "dashes",
    );
    let mut seen = Value::Null;
    for _ in 0..1_000 {
        seen = h.repository("main", "over-the-network").await["commit"]["value"].clone();
        if seen == json!(second) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, json!(second));

    // With the server gone, the connectivity check says so.
    drop(daemon);
    let answer = h
        .gql(&format!(
            r#"mutation {{ InfrahubRepositoryConnectivity(data: {{id: "{id}"}}) {{ ok message }} }}"#
        ))
        .await;
    assert_eq!(
        answer["InfrahubRepositoryConnectivity"]["ok"], false,
        "{answer}"
    );
}

/// Pushes `refspecs` of `repo` to the bare repository at `url`.
fn publish(repo: &Repository, url: &str, refspecs: &[&str]) {
    repo.remote_anonymous(url)
        .unwrap()
        .push(refspecs, None)
        .unwrap();
}

fn bare_head(bare: &Repository, branch: &str) -> Option<String> {
    bare.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
        .map(|oid| oid.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_git_branch_becomes_a_git_branch_and_merges_back() {
    let h = harness(1).await;
    let (_dir, repo, first) = source();
    // The remote is a bare repository, as on a Git server.
    let bare_dir = temp("bare");
    let bare = Repository::init_bare(&bare_dir).unwrap();
    let url = format!("file://{}", bare_dir.display());
    publish(&repo, &url, &["+refs/heads/main:refs/heads/main"]);
    h.gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { ok } }"#)
        .await;
    let id = h.add_repository("synced", &url).await;

    // An Infrahub branch with sync_with_git: its Git branch is created at main's commit.
    h.gql(r#"mutation { BranchCreate(data: {name: "feature", sync_with_git: true}) { ok } }"#)
        .await;
    let mut pushed = None;
    for _ in 0..1_000 {
        pushed = bare_head(&bare, "feature");
        if pushed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pushed.as_deref(), Some(first.as_str()));
    let tasks = h.settled_tasks(&id).await;
    let create = tasks
        .iter()
        .find(|t| t["workflow"] == "git-repositories-create-branch")
        .expect("the Git branch task");
    assert_eq!(create["state"], "COMPLETED", "{}", log_text(create));
    assert_eq!(
        h.repository("feature", "synced").await["commit"]["value"],
        json!(first)
    );
    // A branch without sync_with_git stays out of Git.
    h.gql(r#"mutation { BranchCreate(data: {name: "local-only"}) { ok } }"#)
        .await;

    // Git moves on in both branches: the feature branch changes the template, main the README.
    repo.branch(
        "feature",
        &repo.find_commit(first.parse().unwrap()).unwrap(),
        false,
    )
    .unwrap();
    let feature = commit(
        &repo,
        "feature",
        &[(
            "templates/devices.j2",
            Some("{% for e in data.LabDevice.edges %}* {{ e.node.name.value }}\n{% endfor %}"),
        )],
        "stars",
    );
    let main = commit(
        &repo,
        "main",
        &[("README.md", Some("main moved"))],
        "readme",
    );
    publish(
        &repo,
        &url,
        &[
            "refs/heads/feature:refs/heads/feature",
            "refs/heads/main:refs/heads/main",
        ],
    );
    // The synchronisation imports each Git branch into its Infrahub branch.
    for (branch, expected) in [("feature", &feature), ("main", &main)] {
        let mut seen = Value::Null;
        for _ in 0..1_000 {
            seen = h.repository(branch, "synced").await["commit"]["value"].clone();
            if seen == json!(expected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, json!(expected), "{branch}");
    }
    assert!(bare_head(&bare, "local-only").is_none());

    // Merging the Infrahub branch merges the Git branch into main (a merge commit: both
    // moved), pushes it and imports it into main; the artifact definitions generate again.
    let definition = h.first_id("CoreArtifactDefinition").await;
    let generations = h.settled_tasks(&definition).await.len();
    h.gql(r#"mutation { BranchMerge(data: {name: "feature"}) { ok } }"#)
        .await;
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    let mut merged = None;
    for _ in 0..1_000 {
        merged = bare_head(&bare, "main").filter(|head| head != &main);
        if merged.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let merged = merged.expect("main moved");
    let merge_commit = bare.find_commit(merged.parse().unwrap()).unwrap();
    let parents: Vec<String> = merge_commit.parent_ids().map(|p| p.to_string()).collect();
    assert_eq!(parents, [main.clone(), feature.clone()]);
    let mut seen = Value::Null;
    for _ in 0..1_000 {
        seen = h.repository("main", "synced").await["commit"]["value"].clone();
        if seen == json!(merged) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, json!(merged));
    let (status, _) = h.get("/api/transform/jinja2/device_list").await;
    assert_eq!(status, StatusCode::OK);
    let (_, readme) = h.get(&format!("/api/file/{id}/README.md")).await;
    assert_eq!(readme, "main moved");
    let (_, template) = h.get(&format!("/api/file/{id}/templates/devices.j2")).await;
    assert!(template.contains("* {{"), "{template}");
}

const ROLE_SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Lab
    inherit_from: [CoreArtifactTarget]
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: role, kind: Text, optional: true}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_follows_a_change_to_the_data_it_was_rendered_from() {
    let h = harness(1).await;
    let dir = temp("artifact-data");
    let repo = Repository::init(&dir).unwrap();
    commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", Some(ARTIFACT_MANIFEST)),
            ("schemas/lab.yml", Some(ROLE_SCHEMA)),
            (
                "queries/device_config.gql",
                Some(
                    "query ($name: String!) { LabDevice(name__value: $name) { edges { node { name { value } role { value } } } } }",
                ),
            ),
            (
                "templates/config.j2",
                Some(
                    "{% for e in data.LabDevice.edges %}\nhostname {{ e.node.name.value }}\n{% if e.node.role.value %}role {{ e.node.role.value }}\n{% endif %}{% endfor %}\n",
                ),
            ),
        ],
        "first",
    );
    let group = h
        .gql(r#"mutation { CoreStandardGroupCreate(data: {name: {value: "all-devices"}}) { object { id } } }"#)
        .await["CoreStandardGroupCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.add_repository("configs", &format!("file://{}", dir.display()))
        .await;
    let definition = h.first_id("CoreArtifactDefinition").await;
    let mut devices = BTreeMap::new();
    for name in ["sw1", "sw2"] {
        let created = h
            .gql(&format!(
                r#"mutation {{ LabDeviceCreate(data: {{name: {{value: "{name}"}}}}) {{ object {{ id }} }} }}"#
            ))
            .await;
        devices.insert(
            name,
            created["LabDeviceCreate"]["object"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    h.gql(&format!(
        r#"mutation {{ CoreStandardGroupUpdate(data: {{id: "{group}", members: [{{id: "{}"}}, {{id: "{}"}}]}}) {{ ok }} }}"#,
        devices["sw1"], devices["sw2"]
    ))
    .await;
    let generations = h.settled_tasks(&definition).await.len();
    let (status, _) = h
        .post(
            &format!("/api/artifact/generate/{definition}"),
            json!({}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    let first = artifacts(&h).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let groups = h
        .gql("{ CoreGraphQLQueryGroup { edges { node { name { value } members { edges { node { id } } } subscribers { edges { node { id } } } } } } }")
        .await;
    // The query selects no id: each group still holds its device (and its artifact
    // subscribes to it).
    for group in groups["CoreGraphQLQueryGroup"]["edges"].as_array().unwrap() {
        assert_eq!(
            group["node"]["members"]["edges"].as_array().map(Vec::len),
            Some(1),
            "{groups}"
        );
        assert_eq!(
            group["node"]["subscribers"]["edges"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "{groups}"
        );
    }
    // Generation wrote nothing that counts as a change: no generation follows by itself.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let generations = h.settled_tasks(&definition).await.len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(h.settled_tasks(&definition).await.len(), generations);

    // sw1's role changes: its artifact, and only it, is generated again.
    h.gql(&format!(
        r#"mutation {{ LabDeviceUpdate(data: {{id: "{}", role: {{value: "leaf"}}}}) {{ ok }} }}"#,
        devices["sw1"]
    ))
    .await;
    let task = h.generation(&definition, generations).await;
    assert_eq!(task["state"], "COMPLETED", "{}", log_text(&task));
    assert!(
        log_text(&task).contains("Generating 1 artifact(s)"),
        "{}",
        log_text(&task)
    );
    let second = artifacts(&h).await;
    let (_, content) = h.get(&format!("/api/artifact/{}", second["sw1"].0)).await;
    assert_eq!(content, "hostname sw1\nrole leaf\n");
    assert_eq!(second["sw2"], first["sw2"], "sw2 is untouched");
    // A change to data no artifact read regenerates nothing.
    let generations = h.settled_tasks(&definition).await.len();
    h.gql(r#"mutation { BuiltinTagCreate(data: {name: {value: "unrelated"}}) { ok } }"#)
        .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(h.settled_tasks(&definition).await.len(), generations);
}
