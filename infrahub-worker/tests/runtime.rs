//! The task runtime on the in-process bus and the embedded task store: outcomes, retries,
//! cancellation, redelivery, logs while running, and the branch workflows on a real engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use infrahub_bus::{BusConfig, BusMessage, Message, Meta};
use infrahub_core::engine::{Engine, EngineOptions};
use infrahub_graph::{EmbeddedGraph, GraphStore};
use infrahub_worker::{
    Catalogue, EmbeddedTaskStore, Error, ErrorKind, Result, RuntimeConfig, Severity, Submission,
    TaskContext, TaskFilter, TaskRuntime, TaskState, TaskStore, TaskUpdate, Workflow,
    WorkflowDefinition, WorkflowType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);

/// A workflow whose behaviour the parameters choose.
struct Scripted {
    calls: AtomicU32,
    release: Notify,
}

#[async_trait::async_trait]
impl Workflow for Scripted {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: "scripted".into(),
            workflow_type: WorkflowType::User,
            database_change: true,
            max_attempts: 3,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        format!("Scripted {}", parameters["mode"].as_str().unwrap_or("?"))
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        context
            .info(format!("call {call}, attempt {}", context.attempt()))
            .await?;
        match parameters["mode"].as_str().unwrap_or("") {
            "ok" => Ok(json!({"double": parameters["n"].as_i64().unwrap_or(0) * 2})),
            "fail" => Err(Error::workflow("the device refused the change")),
            "flaky" if context.attempt() < 2 => Err(Error::new(
                ErrorKind::Unavailable,
                "the store is restarting",
            )),
            "flaky" => Ok(json!("second time lucky")),
            "down" => Err(Error::new(ErrorKind::Unavailable, "the store is down")),
            "panic" => panic!("a bug in the workflow"),
            "steps" => {
                for step in 0..10_000 {
                    context.checkpoint().await?;
                    if step == 0 {
                        context.log(Severity::Debug, "first step").await?;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(Value::Null)
            }
            "hold" => {
                context.info("holding").await?;
                self.release.notified().await;
                Ok(json!("released"))
            }
            other => Err(Error::workflow(format!("unknown mode {other}"))),
        }
    }
}

struct Fixture {
    runtime: TaskRuntime,
    store: Arc<EmbeddedTaskStore>,
    workflow: Arc<Scripted>,
    bus: Arc<dyn infrahub_bus::MessageBus>,
}

async fn fixture(catalogue: Option<Catalogue>) -> Fixture {
    let workflow = Arc::new(Scripted {
        calls: AtomicU32::new(0),
        release: Notify::new(),
    });
    let mut catalogue = catalogue.unwrap_or_default();
    catalogue.register(workflow.clone());
    let bus = infrahub_bus::connect(&BusConfig {
        maximum_concurrent_messages: 8,
        ..BusConfig::default()
    })
    .await
    .unwrap();
    let store = Arc::new(EmbeddedTaskStore::in_memory().unwrap());
    let runtime = TaskRuntime::new(
        store.clone(),
        bus.clone(),
        catalogue,
        RuntimeConfig {
            retry_delay: Duration::from_millis(20),
            poll_interval: Duration::from_millis(50),
            ..RuntimeConfig::default()
        },
    );
    Fixture {
        runtime,
        store,
        workflow,
        bus,
    }
}

fn scripted(mode: &str) -> Submission {
    Submission {
        workflow: "scripted".into(),
        parameters: json!({"mode": mode, "n": 21}),
        branch: Some("main".into()),
        ..Submission::default()
    }
}

async fn messages(store: &EmbeddedTaskStore, id: &str) -> Vec<String> {
    store
        .logs(id, 0, 100)
        .await
        .unwrap()
        .logs
        .into_iter()
        .map(|l| l.message)
        .collect()
}

#[tokio::test]
async fn a_task_runs_to_completion_with_its_result_and_logs() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    assert_eq!(task.state, TaskState::Completed);
    assert_eq!(task.state.conclusion(), "success");
    assert_eq!(task.result, Some(json!({"double": 42})));
    assert_eq!(task.title, "Scripted ok");
    assert_eq!(task.attempts, 1);
    assert_eq!(task.progress, Some(1.0));
    assert!(task.start_time.is_some());
    assert_eq!(messages(&f.store, &task.id).await, ["call 1, attempt 1"]);
    assert!(task.tags().contains(&"infrahub.app/branch/main".to_owned()));
}

#[tokio::test]
async fn an_unknown_workflow_is_refused_and_nothing_is_recorded() {
    let f = fixture(None).await;
    let error = f
        .runtime
        .submit(Submission {
            workflow: "no-such-workflow".into(),
            ..Submission::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(
        f.store
            .list(&TaskFilter::default(), 0, 10)
            .await
            .unwrap()
            .count,
        0
    );
}

#[tokio::test]
async fn a_permanent_failure_fails_at_once_with_the_error_in_the_log() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.execute(scripted("fail"), WAIT).await.unwrap();
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.state.conclusion(), "failure");
    assert_eq!(task.attempts, 1);
    assert_eq!(task.error.as_deref(), Some("the device refused the change"));
    let logs = f.store.logs(&task.id, 0, 10).await.unwrap().logs;
    let last = logs.last().unwrap();
    assert_eq!(last.severity, Severity::Error);
    assert_eq!(last.message, "the device refused the change");
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_backoff_then_completes() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.execute(scripted("flaky"), WAIT).await.unwrap();
    assert_eq!(task.state, TaskState::Completed, "{:?}", task.error);
    assert_eq!(task.attempts, 2);
    let log = messages(&f.store, &task.id).await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("Attempt 1 failed: the store is restarting; retrying in")),
        "{log:?}"
    );
    assert!(log.contains(&"Attempt 2 of 3".to_owned()), "{log:?}");
}

#[tokio::test]
async fn retries_are_bounded_then_the_task_fails() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.execute(scripted("down"), WAIT).await.unwrap();
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.attempts, 3);
    assert_eq!(f.workflow.calls.load(Ordering::SeqCst), 3);
    assert_eq!(task.error.as_deref(), Some("the store is down"));
}

#[tokio::test]
async fn a_panicking_workflow_fails_its_task_and_the_worker_goes_on() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.execute(scripted("panic"), WAIT).await.unwrap();
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.error.as_deref(), Some("the workflow panicked"));
    let next = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    assert_eq!(next.state, TaskState::Completed);
}

#[tokio::test]
async fn a_pending_task_cancelled_never_runs() {
    let f = fixture(None).await;
    let task = f.runtime.submit(scripted("ok")).await.unwrap();
    let cancelled = f.runtime.cancel(&task.id).await.unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    let _worker = f.runtime.start_worker().await.unwrap();
    // The queued message is consumed and dropped; the workflow never runs.
    let after = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    assert_eq!(after.state, TaskState::Completed);
    assert_eq!(f.workflow.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        f.store.get(&task.id).await.unwrap().unwrap().state,
        TaskState::Cancelled
    );
    assert_eq!(
        f.runtime.cancel(&task.id).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
}

#[tokio::test]
async fn a_running_task_stops_at_its_next_step_when_cancelled() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.submit(scripted("steps")).await.unwrap();
    // Its log is readable while it runs.
    let mut seen = false;
    for _ in 0..200 {
        if messages(&f.store, &task.id)
            .await
            .contains(&"first step".to_owned())
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "the running task's log was never readable");
    assert_eq!(
        f.store.state(&task.id).await.unwrap(),
        Some(TaskState::Running)
    );
    let cancelling = f.runtime.cancel(&task.id).await.unwrap();
    assert_eq!(cancelling.state, TaskState::Cancelling);
    let done = f.runtime.wait(&task.id, WAIT).await.unwrap();
    assert_eq!(done.state, TaskState::Cancelled);
    assert!(
        messages(&f.store, &task.id)
            .await
            .contains(&"Cancellation requested".to_owned())
    );
}

#[tokio::test]
async fn a_redelivered_task_runs_again_and_a_finished_one_does_not() {
    #[derive(Serialize, Deserialize)]
    struct RunTask {
        task_id: String,
        workflow: String,
    }
    impl BusMessage for RunTask {
        const ROUTING_KEY: &'static str = "workflow.run";
        const VERSION: u32 = 1;
    }
    let f = fixture(None).await;
    // A task whose first worker died after starting it: RUNNING, its message back in the
    // queue.
    let task = f.runtime.submit(scripted("ok")).await.unwrap();
    f.store
        .update(
            &task.id,
            TaskUpdate {
                state: Some(TaskState::Running),
                ..TaskUpdate::default()
            },
        )
        .await
        .unwrap();
    let _worker = f.runtime.start_worker().await.unwrap();
    let done = f.runtime.wait(&task.id, WAIT).await.unwrap();
    assert_eq!(done.state, TaskState::Completed);
    assert_eq!(done.attempts, 2);
    // A duplicate delivery of the finished task changes nothing.
    let duplicate = Message::encode(
        &RunTask {
            task_id: task.id.clone(),
            workflow: "scripted".into(),
        },
        Meta::default(),
    )
    .unwrap();
    f.bus.publish(duplicate, None).await.unwrap();
    let after = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    assert_eq!(after.state, TaskState::Completed);
    assert_eq!(f.workflow.calls.load(Ordering::SeqCst), 2);
    assert_eq!(f.store.get(&task.id).await.unwrap().unwrap(), done);
}

#[tokio::test]
async fn a_failed_task_is_retried_as_a_new_task() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let failed = f.runtime.execute(scripted("fail"), WAIT).await.unwrap();
    let retried = f.runtime.retry(&failed.id).await.unwrap();
    assert_ne!(retried.id, failed.id);
    assert_eq!(retried.workflow, failed.workflow);
    assert_eq!(retried.parameters, failed.parameters);
    assert_eq!(retried.branch, failed.branch);
    let done = f.runtime.wait(&retried.id, WAIT).await.unwrap();
    assert_eq!(done.state, TaskState::Failed);
    assert!(messages(&f.store, &retried.id).await[0].starts_with("Retry of task "));
    let ok = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    assert_eq!(
        f.runtime.retry(&ok.id).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
}

#[tokio::test]
async fn waiting_times_out_and_the_task_goes_on() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let task = f.runtime.submit(scripted("hold")).await.unwrap();
    let error = f
        .runtime
        .wait(&task.id, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    f.workflow.release.notify_one();
    let done = f.runtime.wait(&task.id, WAIT).await.unwrap();
    assert_eq!(done.result, Some(json!("released")));
}

async fn engine() -> Arc<Engine> {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory().unwrap());
    let options = EngineOptions {
        bcrypt_cost: 4,
        ..EngineOptions::default()
    };
    Arc::new(Engine::open(store, options).await.unwrap())
}

#[tokio::test]
async fn branch_workflows_run_on_the_engine() {
    let engine = engine().await;
    let repositories = Arc::new(infrahub_worker::repositories::Repositories::new(
        Arc::clone(&engine),
        infrahub_worker::repositories::GitOptions::default(),
    ));
    let f = fixture(Some(infrahub_worker::workflows::catalogue(
        &engine,
        &repositories,
    )))
    .await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let create = f
        .runtime
        .execute(
            Submission {
                workflow: infrahub_worker::workflows::BRANCH_CREATE.into(),
                parameters: json!({"name": "feature-1", "description": "work"}),
                branch: Some("feature-1".into()),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(create.state, TaskState::Completed, "{:?}", create.error);
    assert_eq!(create.title, "Create branch feature-1");
    assert!(create.database_change);
    assert_eq!(
        engine.branch("feature-1").await.unwrap().description,
        "work"
    );
    // The same name again fails with the engine's message.
    let again = f
        .runtime
        .execute(
            Submission {
                workflow: infrahub_worker::workflows::BRANCH_CREATE.into(),
                parameters: json!({"name": "feature-1"}),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(again.state, TaskState::Failed);
    assert_eq!(
        again.error.as_deref(),
        Some("The branch feature-1 already exists")
    );
    for workflow in [
        "branch-validate",
        "branch-rebase",
        "diff-update",
        "merge-branch-mutation",
        "branch-delete",
    ] {
        let task = f
            .runtime
            .execute(
                Submission {
                    workflow: workflow.into(),
                    parameters: json!({"branch": "feature-1"}),
                    branch: Some("feature-1".into()),
                    ..Submission::default()
                },
                WAIT,
            )
            .await
            .unwrap();
        assert_eq!(
            task.state,
            TaskState::Completed,
            "{workflow}: {:?}",
            task.error
        );
    }
    assert!(engine.branch("feature-1").await.is_err());
    let bad = f
        .runtime
        .execute(
            Submission {
                workflow: "branch-merge".into(),
                parameters: json!({"branch": "x"}),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::NotFound);
    let wrong = f
        .runtime
        .execute(
            Submission {
                workflow: "branch-rebase".into(),
                parameters: json!({"branch": 5}),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(wrong.state, TaskState::Failed);
    assert!(wrong.error.unwrap().starts_with("parameters: "));
    let branch_tasks = f
        .store
        .list(
            &TaskFilter {
                branch: Some("feature-1".into()),
                ..TaskFilter::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(branch_tasks.count, 6);
}

#[tokio::test]
async fn scheduled_work_is_submitted_once_per_period_across_processes() {
    let f = fixture(None).await;
    // A second "process": its own runtime on the same store and bus.
    let other = TaskRuntime::new(
        f.store.clone(),
        f.bus.clone(),
        {
            let mut catalogue = Catalogue::new();
            catalogue.register(f.workflow.clone());
            catalogue
        },
        RuntimeConfig::default(),
    );
    let _worker = f.runtime.start_worker().await.unwrap();
    let cache = infrahub_cache::CacheHandle::memory("", Duration::from_secs(5));
    let schedule = infrahub_worker::Schedule {
        name: "every-300ms".into(),
        period: Duration::from_millis(300),
        work: infrahub_worker::ScheduledWork::Task(scripted("ok")),
    };
    let first = f
        .runtime
        .spawn_schedules(vec![schedule.clone()], cache.clone());
    let second = other.spawn_schedules(vec![schedule], cache);
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    drop((first, second));
    let page = f
        .store
        .list(
            &TaskFilter {
                workflows: Some(vec!["scripted".into()]),
                ..TaskFilter::default()
            },
            0,
            100,
        )
        .await
        .unwrap();
    let periods: std::collections::BTreeSet<String> = page
        .tasks
        .iter()
        .map(|t| t.parameters["period"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(periods.len(), page.tasks.len(), "a period was served twice");
    assert!(
        (4..=6).contains(&periods.len()),
        "{} periods served",
        periods.len()
    );
}

#[tokio::test]
async fn task_retention_deletes_old_finished_tasks_and_crashes_stale_ones() {
    let f = fixture(None).await;
    let _worker = f.runtime.start_worker().await.unwrap();
    let done = f.runtime.execute(scripted("ok"), WAIT).await.unwrap();
    let stale = f
        .runtime
        .store()
        .create(infrahub_worker::NewTask {
            id: None,
            title: "stuck".into(),
            workflow: "scripted".into(),
            workflow_type: WorkflowType::User,
            database_change: false,
            state: TaskState::Pending,
            parameters: json!({}),
            branch: None,
            related_nodes: Vec::new(),
            account: None,
        })
        .await
        .unwrap();
    f.store
        .update(
            &stale.id,
            TaskUpdate {
                state: Some(TaskState::Running),
                ..TaskUpdate::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let retention = f
        .runtime
        .execute(
            Submission {
                workflow: infrahub_worker::TASK_RETENTION.into(),
                parameters: json!({"days_to_keep": 0, "stale_after_days": 0}),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        retention.state,
        TaskState::Completed,
        "{:?}",
        retention.error
    );
    assert_eq!(retention.result, Some(json!({"deleted": 1, "crashed": 1})));
    assert!(f.store.get(&done.id).await.unwrap().is_none());
    let crashed = f.store.get(&stale.id).await.unwrap().unwrap();
    assert_eq!(crashed.state, TaskState::Crashed);
    assert!(
        crashed
            .error
            .unwrap()
            .contains("marked crashed by task retention")
    );
    let bad = f
        .runtime
        .execute(
            Submission {
                workflow: infrahub_worker::TASK_RETENTION.into(),
                parameters: json!({"days_to_keep": -1}),
                ..Submission::default()
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(bad.state, TaskState::Failed);
}

#[tokio::test]
async fn a_scheduled_action_runs_once_per_period_across_processes() {
    let f = fixture(None).await;
    let other = TaskRuntime::new(
        f.store.clone(),
        f.bus.clone(),
        Catalogue::new(),
        RuntimeConfig::default(),
    );
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let schedule = infrahub_worker::Schedule {
        name: "action-every-300ms".into(),
        period: Duration::from_millis(300),
        work: infrahub_worker::ScheduledWork::Action(Arc::new(move || {
            let counter = counter.clone();
            Box::pin(async move {
                counter.fetch_add(1, Ordering::SeqCst);
            })
        })),
    };
    let cache = infrahub_cache::CacheHandle::memory("", Duration::from_secs(5));
    let first = f
        .runtime
        .spawn_schedules(vec![schedule.clone()], cache.clone());
    let second = other.spawn_schedules(vec![schedule], cache);
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    drop((first, second));
    let runs = runs.load(Ordering::SeqCst);
    assert!(
        (4..=6).contains(&runs),
        "{runs} runs in 1.7 s of 300 ms periods"
    );
    // No task records for actions.
    assert_eq!(
        f.store
            .list(&TaskFilter::default(), 0, 1)
            .await
            .unwrap()
            .count,
        0
    );
}
