//! Two worker processes on RabbitMQ sharing the Bolt task store: the one running a long task
//! is killed (SIGKILL) mid-task, and the other finishes the task, its log showing both.
//!
//! Needs `INFRAHUB_TEST_AMQP_URL` and `INFRAHUB_TEST_BOLT_URL` (skipped when unset, unless
//! `INFRAHUB_TEST_REQUIRE_SERVICES=1`).
#![cfg(all(feature = "bolt", feature = "conformance"))]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use infrahub_bus::{AmqpBus, BusConfig};
use infrahub_graph::BoltConfig;
use infrahub_worker::{
    BoltTaskStore, Catalogue, Result, RuntimeConfig, Submission, TaskContext, TaskRuntime,
    TaskState, Workflow, WorkflowDefinition, WorkflowType,
};
use serde_json::{Value, json};

const CHILD_AMQP: &str = "INFRAHUB_WORKER_CHILD_AMQP";
const CHILD_NAMESPACE: &str = "INFRAHUB_WORKER_CHILD_NAMESPACE";
const CHILD_BOLT: &str = "INFRAHUB_WORKER_CHILD_BOLT";
const CHILD_PREFIX: &str = "INFRAHUB_WORKER_CHILD_PREFIX";

fn service(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{variable} is not set")
        }
        _ => {
            eprintln!("skipping: {variable} is not set");
            None
        }
    }
}

/// `amqp://user:password@host:port/vhost` as a bus configuration in `namespace`.
fn amqp_config(url: &str, namespace: &str) -> BusConfig {
    BusConfig {
        namespace: namespace.to_owned(),
        maximum_concurrent_messages: 4,
        ..BusConfig::from_url(url).expect("an amqp:// URL")
    }
}

/// A workflow of 60 steps of 100 ms, logging which process runs each.
struct Long;

#[async_trait::async_trait]
impl Workflow for Long {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: "long".into(),
            workflow_type: WorkflowType::User,
            database_change: false,
            max_attempts: 3,
        }
    }

    async fn run(&self, context: &TaskContext, _: Value) -> Result<Value> {
        let pid = std::process::id();
        for step in 0..60 {
            context.progress(f64::from(step) / 60.0).await?;
            if step % 5 == 0 {
                context.info(format!("step {step} on pid {pid}")).await?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(json!({"finished_by": pid}))
    }
}

fn catalogue() -> Catalogue {
    let mut catalogue = Catalogue::new();
    catalogue.register(Arc::new(Long));
    catalogue
}

async fn runtime(amqp: &str, namespace: &str, bolt: &str, prefix: &str) -> TaskRuntime {
    let bus = infrahub_bus::connect(&amqp_config(amqp, namespace))
        .await
        .unwrap();
    let mut config = BoltConfig::from_url(bolt).unwrap();
    config.startup_wait = Duration::from_secs(20);
    let store = BoltTaskStore::connect(&config, prefix).await.unwrap();
    TaskRuntime::new(
        Arc::new(store),
        bus,
        catalogue(),
        RuntimeConfig {
            poll_interval: Duration::from_millis(200),
            ..RuntimeConfig::default()
        },
    )
}

/// The worker process of [`a_killed_worker_s_task_is_finished_by_the_other`]. Run any other
/// way (no child variables), it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_child() {
    let Ok(amqp) = std::env::var(CHILD_AMQP) else {
        return;
    };
    let runtime = runtime(
        &amqp,
        &std::env::var(CHILD_NAMESPACE).unwrap(),
        &std::env::var(CHILD_BOLT).unwrap(),
        &std::env::var(CHILD_PREFIX).unwrap(),
    )
    .await;
    let _worker = runtime.start_worker().await.unwrap();
    println!("worker {} ready", std::process::id());
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn spawn_worker(amqp: &str, namespace: &str, bolt: &str, prefix: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["worker_child", "--exact", "--nocapture"])
        .env(CHILD_AMQP, amqp)
        .env(CHILD_NAMESPACE, namespace)
        .env(CHILD_BOLT, bolt)
        .env(CHILD_PREFIX, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(std::result::Result::ok)
        .any(|line| line.contains("ready"));
    assert!(ready, "a worker process did not start");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_task_is_finished_by_the_other() {
    let (Some(amqp), Some(bolt)) = (
        service("INFRAHUB_TEST_AMQP_URL"),
        service("INFRAHUB_TEST_BOLT_URL"),
    ) else {
        return;
    };
    let namespace = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let prefix = format!("W{}", uuid::Uuid::new_v4().simple());
    // The submitting side runs no worker.
    let submitter = runtime(&amqp, &namespace, &bolt, &prefix).await;
    let mut first = spawn_worker(&amqp, &namespace, &bolt, &prefix);
    let mut second = spawn_worker(&amqp, &namespace, &bolt, &prefix);
    let task = submitter
        .submit(Submission {
            workflow: "long".into(),
            ..Submission::default()
        })
        .await
        .unwrap();
    // Which worker took it: the pid of its first log line.
    let mut runner = None;
    for _ in 0..200 {
        let logs = submitter.store().logs(&task.id, 0, 10).await.unwrap();
        if let Some(line) = logs.logs.first() {
            runner = line
                .message
                .rsplit(' ')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runner = runner.expect("no worker started the task");
    // Let it make some progress, then kill it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (victim, survivor) = if first.id() == runner {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    assert_eq!(victim.id(), runner, "the task ran in an unknown process");
    victim.kill().unwrap();
    victim.wait().unwrap();
    let done = submitter
        .wait(&task.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Completed, "{:?}", done.error);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.result, Some(json!({"finished_by": survivor.id()})));
    let lines: Vec<String> = submitter
        .store()
        .logs(&task.id, 0, 1000)
        .await
        .unwrap()
        .logs
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(
        lines.iter().any(|l| l.ends_with(&format!("pid {runner}"))),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!("pid {}", survivor.id()))),
        "{lines:?}"
    );
    assert!(lines.contains(&"Attempt 2 of 3".to_owned()), "{lines:?}");
    survivor.kill().unwrap();
    survivor.wait().unwrap();
    AmqpBus::delete_namespace(&amqp_config(&amqp, &namespace))
        .await
        .unwrap();
}
