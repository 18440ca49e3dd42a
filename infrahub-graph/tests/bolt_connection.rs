//! The Bolt connection layer against a real server (ArcadeDB in CI, started by
//! `scripts/start-arcadedb.sh`): parameters and rows, transactions, retries of write conflicts,
//! startup wait and authentication errors.
//!
//! The server is `INFRAHUB_TEST_BOLT_URL` (`bolt://user:password@host:port/database`). Unset,
//! the tests that need it say that they skip, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1` (CI),
//! where they fail. Each test works on its own label, so tests run in parallel on one database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use infrahub_graph::{BoltClient, BoltConfig, ErrorKind};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

/// The test server's settings, or `None` (after saying so) when the test should skip.
fn server_config(test: &str) -> Option<BoltConfig> {
    match std::env::var("INFRAHUB_TEST_BOLT_URL") {
        Ok(url) if !url.is_empty() => {
            let mut config = BoltConfig::from_url(&url).expect("INFRAHUB_TEST_BOLT_URL is valid");
            config.startup_wait = Duration::from_secs(20);
            Some(config)
        }
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "INFRAHUB_TEST_BOLT_URL is not set (start a server with scripts/start-arcadedb.sh)"
            )
        }
        _ => {
            eprintln!("skipping {test}: INFRAHUB_TEST_BOLT_URL is not set");
            None
        }
    }
}

/// A label no other test (or earlier run) uses.
fn unique_label(test: &str) -> String {
    format!("T_{test}_{}", uuid::Uuid::new_v4().simple())
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("parameters must be an object, not {other}"),
    }
}

async fn count(client: &BoltClient, label: &str) -> i64 {
    let rows = client
        .run(
            &format!("MATCH (n:{label}) RETURN count(n) AS c"),
            Map::new(),
        )
        .await
        .unwrap();
    rows[0]["c"].as_i64().unwrap()
}

#[tokio::test]
async fn parameters_of_every_json_type_round_trip() {
    let Some(config) = server_config("parameters_of_every_json_type_round_trip") else {
        return;
    };
    let client = BoltClient::connect(&config).await.unwrap();
    let big = "ü🚀x".repeat(64 * 1024 / 7 + 1);
    assert!(big.len() >= 64 * 1024);
    let value = json!({
        "null": null,
        "yes": true,
        "no": false,
        "max": i64::MAX,
        "min": i64::MIN,
        "zero": 0,
        "float": -1.25e-3,
        "unicode": "Grüße, 世界 — \u{1F680} \"quoted\" 'single' \\ back\nline",
        "empty": "",
        "big": big,
        "list": [1, "two", 3.5, null, [true, []], {"k": "v"}],
        "nested": {"a": {"b": {"c": [1, 2, 3], "d": {}}}},
    });
    let rows = client
        .run(
            "RETURN $value AS value",
            params(json!({ "value": value.clone() })),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["value"], value);

    // Stored as node properties (scalars and lists of scalars) and read back.
    let label = unique_label("types");
    let props = json!({
        "max": i64::MAX, "min": i64::MIN, "float": 0.1, "yes": true,
        "unicode": value["unicode"], "big": value["big"], "ints": [1, 2, i64::MAX], "strs": ["a", "é"],
    });
    client
        .run(
            &format!("CREATE (n:{label}) SET n = $props"),
            params(json!({ "props": props.clone() })),
        )
        .await
        .unwrap();
    let rows = client
        .run(&format!("MATCH (n:{label}) RETURN n"), Map::new())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for (key, expected) in props.as_object().unwrap() {
        assert_eq!(&rows[0]["n"][key], expected, "property {key}");
    }
}

#[tokio::test]
async fn a_failed_statement_writes_nothing() {
    let Some(config) = server_config("a_failed_statement_writes_nothing") else {
        return;
    };
    let client = BoltClient::connect(&config).await.unwrap();
    let label = unique_label("rollback");
    let create = format!("CREATE (n:{label} {{k: $k}}) RETURN n.k AS k");
    let err = client
        .transaction(|tx| {
            let create = create.clone();
            Box::pin(async move {
                let rows = tx.run(&create, params(json!({"k": 1}))).await?;
                assert_eq!(rows[0]["k"], json!(1));
                tx.run(&create, params(json!({"k": 2}))).await?;
                tx.run("UNWIND [1, 0] AS d RETURN 1 / d AS x", Map::new())
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bolt database at"), "{err}");
    assert_eq!(
        count(&client, &label).await,
        0,
        "nothing of the failed transaction is visible"
    );

    // A failure of the closure itself rolls back too, and the client stays usable.
    let err = client
        .transaction(|tx| {
            let create = create.clone();
            Box::pin(async move {
                tx.run(&create, params(json!({"k": 3}))).await?;
                Err::<(), _>(infrahub_graph::Error::new(
                    ErrorKind::ConditionFailed,
                    "refused",
                ))
            })
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConditionFailed);
    assert_eq!(count(&client, &label).await, 0);
    client.run(&create, params(json!({"k": 4}))).await.unwrap();
    assert_eq!(count(&client, &label).await, 1);
}

/// Eight transactions increment one counter; each writes, then waits until all have written
/// before committing, so that they really overlap and all but one conflict at the commit.
async fn increment_concurrently(
    client: Arc<BoltClient>,
    label: &str,
) -> (usize, usize, Vec<String>) {
    const WRITERS: usize = 8;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let client = client.clone();
        let barrier = barrier.clone();
        let attempts = attempts.clone();
        let statement = format!("MATCH (n:{label}) SET n.count = n.count + 1 RETURN n.count AS c");
        tasks.push(tokio::spawn(async move {
            let mut first = true;
            client
                .transaction(move |tx| {
                    let statement = statement.clone();
                    let barrier = first.then(|| barrier.clone());
                    first = false;
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Box::pin(async move {
                        tx.run(&statement, Map::new()).await?;
                        if let Some(barrier) = barrier {
                            // A server that locks instead of failing at commit would block here.
                            let _ =
                                tokio::time::timeout(Duration::from_secs(10), barrier.wait()).await;
                        }
                        Ok(())
                    })
                })
                .await
        }));
    }
    let mut successes = 0;
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => successes += 1,
            Err(err) => errors.push(err.to_string()),
        }
    }
    (successes, attempts.load(Ordering::SeqCst), errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn write_conflicts_are_retried_until_all_succeed() {
    let Some(mut config) = server_config("write_conflicts_are_retried_until_all_succeed") else {
        return;
    };
    let label = unique_label("conflict");
    let create = format!("CREATE (n:{label} {{count: 0}})");

    // Write conflicts are retried until the query timeout whatever `retry_limit` says (it
    // bounds retries of other transient failures): every writer succeeds, every increment
    // counts once, and the attempts show that the writers did collide.
    config.retry_limit = 0;
    let client = Arc::new(BoltClient::connect(&config).await.unwrap());
    client.run(&create, Map::new()).await.unwrap();
    let (successes, attempts, errors) = increment_concurrently(client.clone(), &label).await;
    assert_eq!((successes, errors), (8, Vec::<String>::new()));
    assert!(
        attempts > 8,
        "the conflicts were retried ({attempts} attempts)"
    );
    let rows = client
        .run(
            &format!("MATCH (n:{label}) RETURN n.count AS c"),
            Map::new(),
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["c"], json!(8), "no lost or phantom update");
}

#[tokio::test]
async fn a_constraint_violation_is_already_exists() {
    let Some(config) = server_config("a_constraint_violation_is_already_exists") else {
        return;
    };
    let client = BoltClient::connect(&config).await.unwrap();
    let label = unique_label("unique");
    client
        .run(
            &format!(
                "CREATE CONSTRAINT {label}_k IF NOT EXISTS FOR (n:{label}) REQUIRE n.k IS UNIQUE"
            ),
            Map::new(),
        )
        .await
        .unwrap();
    let create = format!("CREATE (n:{label} {{k: 'same'}})");
    client.run(&create, Map::new()).await.unwrap();
    let err = client.run(&create, Map::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(count(&client, &label).await, 1);
}

#[tokio::test]
async fn an_unreachable_server_fails_after_the_startup_wait_naming_it() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = BoltConfig::new("127.0.0.1", port);
    config.startup_wait = Duration::from_millis(1500);
    let started = Instant::now();
    let err = BoltClient::connect(&config).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.to_string().contains("did not become ready"), "{err}");
    assert!(
        elapsed >= Duration::from_millis(1400),
        "gave up after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(15), "waited {elapsed:?}");
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_an_authentication_error() {
    let Some(mut config) = server_config("a_wrong_password_fails_at_once") else {
        return;
    };
    config.password = "not-the-password".to_owned();
    let endpoint = config.endpoint();
    let started = Instant::now();
    let err = BoltClient::connect(&config).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("authentication"), "{message}");
    assert!(message.contains(&endpoint), "{message}");
    assert!(
        message.contains(&format!("`{}`", config.username)),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    assert!(
        started.elapsed() < config.startup_wait / 2,
        "no waiting for a wrong password"
    );
}
