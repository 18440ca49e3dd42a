//! The web frontend end to end in Debian's headless Chromium, through chromedriver: the real
//! `infrahub` binary on a free port, a user signing in and working through the pages with the
//! keyboard and the mouse. Every page visited fails the test on a browser console error or a
//! request answered with an error status; screenshots of the main pages are written under
//! `.build/ui-screenshots/` on each run.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages, installed by `scripts/test.sh`):
//! without them the test skips, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`.

#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use webdriver::{Browser, Process, free_port, http, http_with, wait_for_port};

const ADMIN_TOKEN: &str = "06438eb2-8019-4776-878c-0941b1f1d1ec";
const ADMIN_PASSWORD: &str = "infrahub";

/// The server under test, stopped and its data removed on drop.
struct Server {
    port: u16,
    _process: Process,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn start() -> Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("infrahub-ui-browser-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let child = Command::new(env!("CARGO_BIN_EXE_infrahub"))
            .args(["server", "start", "--listen", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .env("INFRAHUB_DATA_DIR", &dir)
            .env("INFRAHUB_INITIAL_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("INFRAHUB_INITIAL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("INFRAHUB_LOG_LEVEL", "warning")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the infrahub binary starts");
        let process = Process(child);
        wait_for_port(port, "infrahub");
        let deadline = Instant::now() + Duration::from_secs(60);
        while http("GET", port, "/ready", None).0 != 200 {
            assert!(Instant::now() < deadline, "the server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            port,
            _process: process,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends an API request as the admin; returns the JSON answer.
    fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = http_with(
            method,
            self.port,
            path,
            &[("X-INFRAHUB-KEY", ADMIN_TOKEN)],
            Some(&body),
        );
        let answer: Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(status, 200, "{path}: {answer}");
        assert!(answer.get("errors").is_none(), "{path}: {answer}");
        answer
    }

    /// Runs a GraphQL document as the admin on `branch`.
    fn graphql(&self, branch: &str, query: &str) -> Value {
        self.api(
            "POST",
            &format!("/graphql/{branch}"),
            json!({ "query": query }),
        )["data"]
            .clone()
    }
}

/// The screenshot directory: `.build/ui-screenshots` of the repository.
fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".build")
        .join("ui-screenshots")
}

/// Checks the page the browser shows: loaded, no console error, no request answered with an
/// error status; writes its screenshot when `name` is given.
fn check_page(browser: &Browser, name: Option<&str>) {
    check_page_answered(browser, name, 200);
}

/// Like [`check_page`] for a form shown again with its errors: the document itself answered
/// 422 (which the console reports once); nothing else may fail.
fn check_form_errors(browser: &Browser, name: Option<&str>) {
    check_page_answered(browser, name, 422);
}

fn check_page_answered(browser: &Browser, name: Option<&str>, document_status: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.script("return document.readyState;", json!([])) != "complete" {
        assert!(Instant::now() < deadline, "{} did not load", browser.url());
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = browser.url();
    let expected = format!(
        "{url} - Failed to load resource: the server responded with a status of {document_status}"
    );
    let errors: Vec<(String, String)> = browser
        .console()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE" || level == "ERROR")
        .filter(|(_, message)| document_status == 200 || !message.starts_with(&expected))
        .collect();
    assert!(
        errors.is_empty(),
        "console errors on {}: {errors:?}",
        browser.url()
    );
    let failed = browser.script(
        "return performance.getEntries()
            .filter(e => (e.entryType === 'navigation' || e.entryType === 'resource')
                && e.responseStatus >= 400
                && !(e.entryType === 'navigation' && e.responseStatus === arguments[0]))
            .map(e => e.name + ' ' + e.responseStatus);",
        json!([document_status]),
    );
    assert_eq!(failed, json!([]), "failed requests on {}", browser.url());
    if let Some(name) = name {
        browser.screenshot(&screenshots().join(format!("{name}.png")));
    }
}

/// Clicks `selector` (a submit button) and waits until the browser shows the next document, so
/// that the checks that follow read the answer, not the page the form was on.
fn submit(browser: &Browser, selector: &str) {
    let before = browser.script("return performance.timeOrigin;", json!([]));
    browser.find(selector).click();
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.script("return performance.timeOrigin;", json!([])) == before {
        assert!(
            Instant::now() < deadline,
            "{selector} did not load a new page"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens `path` and checks the page.
fn visit(browser: &Browser, server: &Server, path: &str, name: Option<&str>) {
    browser.go(&server.url(path));
    check_page(browser, name);
}

fn network_schema() -> Value {
    json!({"schemas": [{
        "version": "1.0",
        "nodes": [
            {"name": "Site", "namespace": "Location", "label": "Site",
             "human_friendly_id": ["name__value"], "display_label": "{{ name__value }}",
             "attributes": [{"name": "name", "kind": "Text", "unique": true}]},
            {"name": "Device", "namespace": "Infra", "label": "Device",
             "human_friendly_id": ["name__value"], "display_label": "{{ name__value }}",
             "attributes": [
                {"name": "name", "kind": "Text", "unique": true},
                {"name": "description", "kind": "Text", "optional": true},
                {"name": "role", "kind": "Dropdown", "optional": true,
                 "choices": [{"name": "edge", "label": "Edge"}, {"name": "core", "label": "Core"}]}
             ],
             "relationships": [
                {"name": "site", "peer": "LocationSite", "cardinality": "one", "optional": false, "kind": "Attribute"}
             ]}
        ]
    }]})
}

#[test]
fn a_user_works_through_the_frontend_in_chromium() {
    if !webdriver::available() {
        assert!(
            std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "chromium and chromedriver are required (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium or chromedriver is not installed");
        return;
    }
    let server = Server::start();
    server.api("POST", "/api/schema/load", network_schema());
    server.graphql(
        "main",
        r#"mutation { LocationSiteCreate(data: {name: {value: "atl1"}}) { ok } }"#,
    );
    let browser = Browser::start(1280, 720);

    // Sign in.
    visit(&browser, &server, "/", None);
    visit(&browser, &server, "/login?next=/", Some("login"));
    browser.find("#username").fill("admin");
    browser.find("#password").fill(ADMIN_PASSWORD);
    submit(&browser, "form[action='/login'] button[type=submit]");
    check_page(&browser, Some("home"));
    assert!(browser.text("h1").contains("Welcome, admin"));

    // Keyboard: the first Tab reaches the skip link, whose focus is visible.
    browser.script(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        json!([]),
    );
    browser.keys("\u{E004}");
    let focused = browser.script(
        "const e = document.activeElement; const s = getComputedStyle(e);
         return [e.className, s.outlineStyle, s.outlineWidth];",
        json!([]),
    );
    assert_eq!(focused[0], "skip-link", "{focused}");
    assert_ne!(focused[1], "none", "focus is visible: {focused}");

    // Dark theme.
    browser.find("[data-theme-toggle]").click();
    let theme = browser.script(
        "return document.documentElement.getAttribute('data-theme');",
        json!([]),
    );
    assert!(theme == "dark" || theme == "light", "{theme}");
    if theme == "light" {
        browser.find("[data-theme-toggle]").click();
    }
    check_page(&browser, Some("home-dark"));
    browser.find("[data-theme-toggle]").click();

    // Global search.
    browser.find("#global-search").fill("atl");
    browser.keys("\u{E007}");
    check_page(&browser, Some("search"));
    assert!(
        browser.text("main").contains("atl1"),
        "{}",
        browser.text("main")
    );

    // Create a device through its form: a server-side error first (no site), then valid.
    let before_device = server.graphql("main", "query { InfrahubInfo { version } }");
    assert!(before_device.is_object());
    let before = now_iso();
    visit(
        &browser,
        &server,
        "/objects/InfraDevice",
        Some("list-empty"),
    );
    assert!(browser.count(".empty-state") > 0, "the empty state shows");
    visit(
        &browser,
        &server,
        "/objects/InfraDevice/new",
        Some("device-form"),
    );
    browser.find("#field-name").fill("atl1-edge1");
    browser.find("#field-description").fill("first edge");
    submit(&browser, ".objects-form button[type=submit]");
    check_form_errors(&browser, Some("device-form-error"));
    assert!(
        browser.count(".field-error") > 0,
        "the missing site is reported next to its field: {}",
        browser.text("main")
    );
    choose(&browser, "#field-site", "atl1");
    choose(&browser, "#field-role", "Edge");
    submit(&browser, ".objects-form button[type=submit]");
    check_page(&browser, Some("device-detail"));
    let device_url = browser.url();
    let device_id = device_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap_or_default()
        .to_string();
    assert!(browser.text("main").contains("atl1-edge1"));
    assert!(browser.text("main").contains("first edge"));

    // Find it in the list and by search.
    visit(&browser, &server, "/objects/InfraDevice", Some("list"));
    assert!(browser.text("table").contains("atl1-edge1"));
    visit(&browser, &server, "/search?q=edge1", None);
    assert!(browser.text("main").contains("atl1-edge1"));

    // Open a branch and edit the device there.
    visit(&browser, &server, "/branches", Some("branches"));
    browser.find("#branch-name").fill("change-1");
    browser.find("#branch-description").fill("rename the edge");
    submit(&browser, ".branch-create button[type=submit]");
    check_page(&browser, Some("branch-new"));
    visit(
        &browser,
        &server,
        &format!("/objects/InfraDevice/{device_id}/edit?branch=change-1"),
        None,
    );
    browser
        .find("#field-description")
        .fill("edge on the branch");
    submit(&browser, ".objects-form button[type=submit]");
    check_page(&browser, None);
    assert!(browser.text("main").contains("edge on the branch"));

    // The same attribute changed on main: a conflict.
    server.graphql(
        "main",
        &format!(
            r#"mutation {{ InfraDeviceUpdate(data: {{id: "{device_id}", description: {{value: "edge on main"}}}}) {{ ok }} }}"#
        ),
    );

    // The branch page: refresh the diff, see the change and the conflict, resolve it.
    visit(&browser, &server, "/branches/change-1", None);
    submit(&browser, "form input[name=action][value=refresh] + button");
    check_page(&browser, Some("branch-diff"));
    let page = browser.text("main");
    assert!(page.contains("atl1-edge1"), "{page}");
    assert!(page.contains("edge on the branch"), "{page}");
    assert!(
        browser.count(".conflict-form") > 0,
        "a conflict to resolve: {page}"
    );
    submit(&browser, ".conflict-form button[value=DIFF_BRANCH]");
    check_page(&browser, Some("branch-conflict-resolved"));
    assert!(browser.text("main").contains("resolved"));

    // Merge, and see the result on main.
    let merge_origin = browser.script("return performance.timeOrigin;", json!([]));
    browser
        .find("form input[name=action][value=merge] + button")
        .click();
    browser.accept_dialog();
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.script("return performance.timeOrigin;", json!([])) == merge_origin {
        assert!(
            Instant::now() < deadline,
            "the merge did not load a new page"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    check_page(&browser, Some("branch-merged"));
    visit(
        &browser,
        &server,
        &format!("/objects/InfraDevice/{device_id}"),
        None,
    );
    assert!(
        browser.text("main").contains("edge on the branch"),
        "{}",
        browser.text("main")
    );

    // The past: before the device existed, read-only.
    visit(
        &browser,
        &server,
        &format!("/objects/InfraDevice?at={before}"),
        Some("time-travel"),
    );
    assert!(browser.text("main").contains("read-only"));
    assert!(!browser.text("main").contains("atl1-edge1"));
    assert_eq!(
        browser.count("a[href*='/new']"),
        0,
        "no create button in the past"
    );

    // The tasks the branch operations ran, and the page of one (its log).
    visit(&browser, &server, "/tasks", Some("tasks"));
    let tasks = browser.text("table");
    assert!(tasks.contains("Create branch change-1"), "{tasks}");
    assert!(tasks.contains("completed"), "{tasks}");
    submit(&browser, ".task-table tbody tr:first-child a");
    check_page(&browser, Some("task"));
    assert!(browser.url().contains("/tasks/"), "{}", browser.url());
    assert!(
        browser.count(".task-log tbody tr") > 0,
        "{}",
        browser.text("main")
    );
    assert!(browser.text("main").contains("Parameters"));

    // Schema browser and GraphQL sandbox.
    visit(&browser, &server, "/schema", Some("schema"));
    visit(
        &browser,
        &server,
        "/schema/InfraDevice",
        Some("schema-kind"),
    );
    assert!(browser.text("main").contains("site"));
    visit(&browser, &server, "/graphql", Some("sandbox"));

    // An API token from the account page, usable on the API.
    visit(&browser, &server, "/profile", Some("profile"));
    browser.find("#name").fill("ci-token");
    submit(
        &browser,
        "form[action='/profile/tokens'] button[type=submit]",
    );
    check_page(&browser, Some("token-created"));
    let token = browser
        .script(
            "const e = document.querySelector('#new-token-value');
             return e ? e.value.trim() : '';",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !token.is_empty(),
        "the new token is shown: {}",
        browser.text("main")
    );
    let (status, _) = http_with(
        "GET",
        server.port,
        "/api/info",
        &[("X-INFRAHUB-KEY", token.as_str())],
        None,
    );
    assert_eq!(
        status, 200,
        "the token created in the browser works on the API"
    );

    // A Git repository's page: its remote checked, its commit imported again.
    let source = std::env::temp_dir().join(format!("infrahub-ui-browser-git-{}", server.port));
    let _ = std::fs::remove_dir_all(&source);
    std::fs::create_dir_all(source.join("queries")).unwrap();
    std::fs::write(
        source.join(".infrahub.yml"),
        "queries:\n  - {name: sites, file_path: queries/sites.gql}\n",
    )
    .unwrap();
    std::fs::write(
        source.join("queries/sites.gql"),
        "query { LocationSite { count } }\n",
    )
    .unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    ] {
        let status = Command::new("git")
            .arg("-C")
            .arg(&source)
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }
    let created = server.graphql(
        "main",
        &format!(
            r#"mutation {{ CoreRepositoryCreate(data: {{name: {{value: "browser-repo"}},
                location: {{value: "file://{}"}}}}) {{ object {{ id }} }} }}"#,
            source.display()
        ),
    );
    let repository = created["CoreRepositoryCreate"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data = server.graphql(
            "main",
            r#"{ CoreGraphQLQuery(name__value: "sites") { count } }"#,
        );
        if data["CoreGraphQLQuery"]["count"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the repository was not imported");
        std::thread::sleep(Duration::from_millis(100));
    }
    visit(
        &browser,
        &server,
        &format!("/objects/CoreRepository/{repository}"),
        Some("repository"),
    );
    submit(
        &browser,
        "form:has(input[value='connectivity']) button[type=submit]",
    );
    check_page(&browser, Some("repository-connectivity"));
    assert!(
        browser
            .text("main")
            .contains("its location and credentials work"),
        "{}",
        browser.text("main")
    );
    submit(
        &browser,
        "form:has(input[value='import']) button[type=submit]",
    );
    check_page(&browser, None);
    assert!(
        browser.text("main").contains("import of the repository"),
        "{}",
        browser.text("main")
    );
    let _ = std::fs::remove_dir_all(&source);

    // Responsive down to 1280x720 already; sign out.
    submit(&browser, ".account button[type=submit]");
    check_page(&browser, None);
    assert!(browser.url().contains("/login"));
}

/// Picks the option of the select `selector` whose text contains `text`, by clicking it.
fn choose(browser: &Browser, selector: &str, text: &str) {
    let index = browser.script(
        "const s = document.querySelector(arguments[0]);
         return Array.from(s.options).findIndex(o => o.text.includes(arguments[1]));",
        json!([selector, text]),
    );
    let index = index.as_i64().unwrap_or(-1);
    assert!(index >= 0, "no option `{text}` in {selector}");
    browser
        .find(&format!("{selector} option:nth-child({})", index + 1))
        .click();
}

/// The present instant as ISO-8601 (UTC), for `?at=`.
fn now_iso() -> String {
    let now = infrahub_graph::Timestamp::now().to_string();
    std::thread::sleep(Duration::from_millis(20));
    now
}
