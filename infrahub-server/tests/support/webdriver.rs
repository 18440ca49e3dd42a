//! A small W3C WebDriver client for the browser tests and the frontend benchmark: drives
//! Debian's headless Chromium through `chromedriver` over HTTP/1.1 on loopback.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs the browser and its driver.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian installs the driver.
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A free port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.1 exchange: returns the status and the body.
pub(crate) fn http(method: &str, port: u16, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
    http_with(method, port, path, &[], body)
}

/// One HTTP/1.1 exchange with extra headers: returns the status and the body.
pub(crate) fn http_with(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Vec<u8>) {
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\n{extra}Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    // Read the header block, then exactly the body it announces (the driver may keep the
    // connection open whatever `Connection` says).
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let read = stream.read(&mut chunk).expect("read");
        assert!(read > 0, "the connection closed before the headers ended");
        raw.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let length = head.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let mut body = raw[split + 4..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let read = stream.read(&mut chunk).expect("read");
                assert!(read > 0, "the connection closed before the body ended");
                body.extend_from_slice(&chunk[..read]);
            }
            body.truncate(length);
        }
        None => {
            stream.read_to_end(&mut body).expect("read");
            if head.contains("transfer-encoding: chunked") {
                body = dechunk(&body);
            }
        }
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

/// Waits until something listens on `port`.
pub(crate) fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
pub(crate) struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A browser session.
pub(crate) struct Browser {
    port: u16,
    session: String,
    _driver: Process,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            "DELETE",
            self.port,
            &format!("/session/{}", self.session),
            None,
        );
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether the browser and its driver are installed.
pub(crate) fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width`x`height` with a fresh profile.
    pub(crate) fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Process(driver);
        wait_for_port(port, "chromedriver");
        let profile = std::env::temp_dir().join(format!("infrahub-chromium-{port}"));
        let _ = std::fs::remove_dir_all(&profile);
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "unhandledPromptBehavior": "ignore",
        }}});
        let (status, body) = http("POST", port, "/session", Some(&capabilities));
        let answer: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(status, 200, "new session: {answer}");
        let session = answer["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Browser {
            port,
            session,
            _driver: driver,
            profile,
        }
    }

    /// A session command; panics with the driver's message on failure.
    pub(crate) fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = http(
            method,
            self.port,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    /// Accepts the open `confirm()` dialog, waiting up to 5 s for it.
    pub(crate) fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, _) = http(
                "POST",
                self.port,
                &format!("/session/{}/alert/accept", self.session),
                Some(&json!({})),
            );
            if status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no dialog opened on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens `url`.
    pub(crate) fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current address.
    pub(crate) fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector, waiting up to 5 s for it.
    pub(crate) fn find(&self, selector: &str) -> Element<'_> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, answer) = http(
                "POST",
                self.port,
                &format!("/session/{}/element", self.session),
                Some(&json!({"using": "css selector", "value": selector})),
            );
            if status == 200 {
                let answer: Value = serde_json::from_slice(&answer).expect("JSON");
                let id = answer["value"][ELEMENT_KEY]
                    .as_str()
                    .expect("an element")
                    .to_string();
                return Element { browser: self, id };
            }
            assert!(
                Instant::now() < deadline,
                "no element `{selector}` on {}: {}",
                self.url(),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many elements match a CSS selector.
    pub(crate) fn count(&self, selector: &str) -> usize {
        self.command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": selector})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// The text of the first element matching `selector`.
    pub(crate) fn text(&self, selector: &str) -> String {
        let answer = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([selector]),
        );
        answer.as_str().unwrap_or_default().to_string()
    }

    /// Runs a script in the page; returns its value.
    pub(crate) fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Sends keys to the focused element.
    pub(crate) fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.command(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.command("DELETE", "/actions", None);
    }

    /// The browser console's entries since the last call (level, message).
    pub(crate) fn console(&self) -> Vec<(String, String)> {
        let entries = self.command("POST", "/se/log", Some(json!({"type": "browser"})));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Writes a PNG screenshot of the window to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let data = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }
}

/// An element of the page.
pub(crate) struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    /// Clicks it.
    pub(crate) fn click(&self) {
        self.browser.command(
            "POST",
            &format!("/element/{}/click", self.id),
            Some(json!({})),
        );
    }

    /// Clears it and types `text`.
    pub(crate) fn fill(&self, text: &str) {
        self.browser.command(
            "POST",
            &format!("/element/{}/clear", self.id),
            Some(json!({})),
        );
        self.type_text(text);
    }

    /// Types `text` into it.
    pub(crate) fn type_text(&self, text: &str) {
        self.browser.command(
            "POST",
            &format!("/element/{}/value", self.id),
            Some(json!({ "text": text })),
        );
    }

    /// Its visible text.
    pub(crate) fn text(&self) -> String {
        self.browser
            .command("GET", &format!("/element/{}/text", self.id), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}
