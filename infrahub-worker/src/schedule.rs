//! Scheduled work: a task submitted once per period across the whole deployment, whatever the
//! number of processes running the schedule, and the built-in task retention workflow.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use infrahub_cache::{CacheHandle, SetOptions};
use infrahub_graph::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runtime::{
    Submission, TaskContext, TaskRuntime, WorkerHandle, Workflow, WorkflowDefinition,
};
use crate::store::TaskStore;
use crate::task::{TaskFilter, TaskState, TaskUpdate, WorkflowType};
use crate::{Error, Result};

/// Work to do once every `period` across the deployment (periods start at multiples of
/// `period` since the Unix epoch).
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The schedule's name (its lock is `schedule.<name>`).
    pub name: String,
    /// How often.
    pub period: Duration,
    /// What to do.
    pub work: ScheduledWork,
}

/// The future of a [`ScheduledWork::Action`].
pub type ActionFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What a [`Schedule`] does each period.
#[derive(Clone)]
pub enum ScheduledWork {
    /// Submits a task; an object `parameters` gains `period`, the period's number.
    Task(Submission),
    /// Runs a function in the process that won the period (work too small to be a task, such
    /// as asking every process to refresh its registry).
    Action(Arc<dyn Fn() -> ActionFuture + Send + Sync>),
}

impl std::fmt::Debug for ScheduledWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduledWork::Task(submission) => f.debug_tuple("Task").field(submission).finish(),
            ScheduledWork::Action(_) => f.write_str("Action(..)"),
        }
    }
}

fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

impl TaskRuntime {
    /// Runs `schedules` in this process. At each period's start, the processes running the
    /// same schedule race for its lock in `cache`; the one that wins submits the task unless
    /// the period was already served, so each period gets one task across the deployment.
    /// Must be called inside a Tokio runtime; dropping the handle stops the schedules.
    pub fn spawn_schedules(&self, schedules: Vec<Schedule>, cache: CacheHandle) -> WorkerHandle {
        let runtime = self.clone();
        let task = tokio::spawn(async move {
            let mut loops = Vec::new();
            for schedule in schedules {
                let (runtime, cache) = (runtime.clone(), cache.clone());
                loops.push(tokio::spawn(async move {
                    runtime.run_schedule(&schedule, &cache).await;
                }));
            }
            // Aborting this task drops the handles without stopping the loops: stop them.
            struct Stop(Vec<tokio::task::JoinHandle<()>>);
            impl Drop for Stop {
                fn drop(&mut self) {
                    for handle in &self.0 {
                        handle.abort();
                    }
                }
            }
            let _stop = Stop(loops);
            std::future::pending::<()>().await;
        });
        WorkerHandle::from_task(task)
    }

    async fn run_schedule(&self, schedule: &Schedule, cache: &CacheHandle) {
        let period = schedule.period.as_millis().max(1);
        loop {
            let now = epoch_millis();
            let index = now / period + 1;
            let wait = u64::try_from(index * period - now).unwrap_or(u64::MAX);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if let Err(error) = self.serve_period(schedule, cache, index).await {
                tracing::warn!(%error, schedule = %schedule.name, "scheduled work was not submitted");
            }
        }
    }

    /// Submits `schedule`'s task for period `index` unless another process did.
    async fn serve_period(
        &self,
        schedule: &Schedule,
        cache: &CacheHandle,
        index: u128,
    ) -> Result<()> {
        let unavailable = |e: infrahub_cache::Error| Error::unavailable(format!("cache: {e}"));
        let Some(guard) = cache
            .locks
            .try_acquire(&format!("schedule.{}", schedule.name))
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        let key = format!("schedule.{}.last", schedule.name);
        let last = cache
            .cache
            .get(&key)
            .await
            .map_err(unavailable)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u128>().ok())
            .unwrap_or(0);
        if last < index {
            match &schedule.work {
                ScheduledWork::Task(submission) => {
                    let mut submission = submission.clone();
                    if let Value::Object(parameters) = &mut submission.parameters {
                        parameters.insert("period".into(), json!(index.to_string()));
                    }
                    self.submit(submission).await?;
                }
                ScheduledWork::Action(action) => action().await,
            }
            let ttl = schedule
                .period
                .saturating_mul(10)
                .max(Duration::from_secs(60));
            cache
                .cache
                .set(
                    &key,
                    index.to_string().as_bytes(),
                    SetOptions {
                        ttl: Some(ttl),
                        ..SetOptions::default()
                    },
                )
                .await
                .map_err(unavailable)?;
        }
        drop(guard);
        Ok(())
    }
}

/// The task retention workflow's name.
pub const TASK_RETENTION: &str = "task-retention";

/// Task retention once a day with upstream's defaults (30 days kept, 2 days to crash).
pub fn retention_schedule() -> Schedule {
    Schedule {
        name: TASK_RETENTION.to_owned(),
        period: Duration::from_secs(86_400),
        work: ScheduledWork::Task(Submission {
            workflow: TASK_RETENTION.to_owned(),
            parameters: json!({}),
            ..Submission::default()
        }),
    }
}

/// Task retention, as upstream's `infrahub tasks flush`: deletes finished tasks (completed,
/// failed, cancelled, crashed) older than `days_to_keep` (default 30) and marks tasks still
/// running after `stale_after_days` (default 2) `CRASHED`. Parameters
/// `{days_to_keep?, stale_after_days?}`.
pub(crate) struct Retention {
    pub(crate) store: Arc<dyn TaskStore>,
}

#[derive(Deserialize)]
struct RetentionParameters {
    #[serde(default = "thirty")]
    days_to_keep: u32,
    #[serde(default = "two")]
    stale_after_days: u32,
}

fn thirty() -> u32 {
    30
}

fn two() -> u32 {
    2
}

const DAY_MICROS: i64 = 86_400_000_000;

#[async_trait]
impl Workflow for Retention {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: TASK_RETENTION.to_owned(),
            workflow_type: WorkflowType::Internal,
            database_change: false,
            max_attempts: 3,
        }
    }

    fn title(&self, _: &Value) -> String {
        "Task retention".to_owned()
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let mut parameters = parameters;
        if let Value::Object(map) = &mut parameters {
            map.remove("period");
        }
        let p: RetentionParameters = serde_json::from_value(parameters)
            .map_err(|e| Error::invalid(format!("parameters: {e}")))?;
        let now = Timestamp::now();
        let before = now.plus_micros(-i64::from(p.days_to_keep) * DAY_MICROS);
        let deleted = self
            .store
            .delete_before(
                before,
                &[
                    TaskState::Completed,
                    TaskState::Failed,
                    TaskState::Cancelled,
                    TaskState::Crashed,
                ],
            )
            .await?;
        context
            .info(format!(
                "Deleted {deleted} finished task(s) older than {} day(s)",
                p.days_to_keep
            ))
            .await?;
        let stale = self
            .store
            .list(
                &TaskFilter {
                    states: Some(vec![TaskState::Running, TaskState::Cancelling]),
                    until: Some(now.plus_micros(-i64::from(p.stale_after_days) * DAY_MICROS)),
                    ..TaskFilter::default()
                },
                0,
                crate::MAX_PAGE,
            )
            .await?;
        let mut crashed = 0_u64;
        for task in stale.tasks {
            if task.id == context.id() {
                continue;
            }
            let update = TaskUpdate {
                state: Some(TaskState::Crashed),
                error: Some(format!(
                    "still {} after {} day(s): marked crashed by task retention",
                    task.state, p.stale_after_days
                )),
                ..TaskUpdate::default()
            };
            if self.store.update(&task.id, update).await.is_ok() {
                crashed += 1;
            }
        }
        context
            .info(format!("Marked {crashed} stale task(s) crashed"))
            .await?;
        Ok(json!({"deleted": deleted, "crashed": crashed}))
    }
}
