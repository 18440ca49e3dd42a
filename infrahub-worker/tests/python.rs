//! The Python runner: repository classes described and run with the official SDK, user
//! exceptions with their traceback, prints kept out of the answers, timeouts that stop the
//! process (the next call gets a new one), parallel calls through the pool, and a clear
//! message without Python.
//!
//! Needs a Python with `infrahub-sdk` in `INFRAHUB_TEST_PYTHON` (scripts/test.sh sets it to its
//! virtualenv); without it these tests skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use infrahub_worker::python::{PythonError, PythonOptions, PythonRunner};
use serde_json::{Value, json};

fn python() -> Option<PathBuf> {
    match std::env::var("INFRAHUB_TEST_PYTHON") {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "INFRAHUB_TEST_PYTHON must name a Python with infrahub-sdk"
            );
            eprintln!("INFRAHUB_TEST_PYTHON is not set: skipping");
            None
        }
    }
}

const MODULE: &str = r#"
import time
from infrahub_sdk.transforms import InfrahubTransform


class Echo(InfrahubTransform):
    query = "devices"
    timeout = 7

    def transform(self, data):
        print("noise " * 1000)
        return {"seen": data, "branch": self.branch}


class Boom(InfrahubTransform):
    query = "devices"

    async def transform(self, data):
        raise ValueError("boom")


class Slow(InfrahubTransform):
    query = "devices"

    def transform(self, data):
        time.sleep(30)
        return "late"


class NotJson(InfrahubTransform):
    query = "devices"

    def transform(self, data):
        return {1, 2}
"#;

fn repository() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = std::env::temp_dir().join(format!("infrahub-python-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(root.join("transforms")).unwrap();
    std::fs::write(root.join("transforms/__init__.py"), "").unwrap();
    std::fs::write(root.join("transforms/echo.py"), MODULE).unwrap();
    root
}

fn request(root: &std::path::Path, op: &str, class: &str) -> Value {
    json!({
        "op": op,
        "root": root.display().to_string(),
        "file_path": "transforms/echo.py",
        "class_name": class,
        "branch": "feature",
        "data": {"data": {"InfraDevice": {"count": 2}}},
    })
}

#[tokio::test]
async fn classes_are_described_and_run_with_the_sdk() {
    let Some(executable) = python() else { return };
    let runner = PythonRunner::new(PythonOptions {
        executable,
        processes: 2,
    });
    let root = repository();
    let described = runner
        .call(request(&root, "describe", "Echo"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(described["query"], "devices");
    assert_eq!(described["timeout"], 7);

    // The transform gets the query's data unwrapped; its prints stay out of the answer.
    let result = runner
        .call(request(&root, "transform", "Echo"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        result,
        json!({"seen": {"InfraDevice": {"count": 2}}, "branch": "feature"})
    );

    // The user's exception, with its traceback; the process stays usable.
    let error = runner
        .call(request(&root, "transform", "Boom"), Duration::from_secs(60))
        .await
        .unwrap_err();
    let PythonError::Code { message, traceback } = error else {
        panic!("{error:?}")
    };
    assert_eq!(message, "ValueError: boom");
    assert!(traceback.unwrap_or_default().contains("echo.py"));
    let error = runner
        .call(
            request(&root, "transform", "NotJson"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not JSON"), "{error}");
    let error = runner
        .call(
            request(&root, "transform", "Missing"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("has no class Missing"),
        "{error}"
    );
    let mut outside = request(&root, "describe", "Echo");
    outside["file_path"] = json!("../../etc/passwd");
    let error = runner
        .call(outside, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not inside the repository"),
        "{error}"
    );

    // A call that outlives its timeout stops its process; the next call gets a new one.
    let started = Instant::now();
    let error = runner
        .call(request(&root, "transform", "Slow"), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(error, PythonError::Timeout(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(20));
    let result = runner
        .call(request(&root, "transform", "Echo"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(result["branch"], "feature");

    // Calls beyond the pool's size wait for a process, and all succeed.
    let calls =
        (0..6).map(|_| runner.call(request(&root, "transform", "Echo"), Duration::from_secs(60)));
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap()["branch"], "feature");
    }
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn without_python_every_call_says_so() {
    let runner = PythonRunner::new(PythonOptions {
        executable: PathBuf::from("/nonexistent/python3"),
        processes: 1,
    });
    let error = runner
        .call(json!({"op": "describe"}), Duration::from_secs(10))
        .await
        .unwrap_err();
    let PythonError::Unavailable(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("/nonexistent/python3") && message.contains("infrahub-sdk"),
        "{message}"
    );
}
