//! The task runtime: the workflow catalogue, submission (a durable record, then a message on
//! the bus), the worker loop that runs tasks, retries with backoff, cancellation and waiting.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infrahub_bus::{BusMessage, Delivery, Message, MessageBus, Meta};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::store::TaskStore;
use crate::task::{
    NewTask, RelatedNode, Severity, TaskRecord, TaskState, TaskUpdate, WorkflowType,
};
use crate::{Error, ErrorKind, Result};

/// What the catalogue knows about a workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowDefinition {
    /// The name (upstream's where it exists: `merge-branch-mutation`).
    pub name: String,
    /// Its type.
    pub workflow_type: WorkflowType,
    /// Whether it changes the database.
    pub database_change: bool,
    /// How many times a worker starts a task before it fails for good (at least 1). Only
    /// errors of kind [`ErrorKind::Unavailable`] (a store or service down) are retried.
    pub max_attempts: u32,
}

/// A workflow: a named, typed async function the runtime runs as tasks.
///
/// Workflows must be idempotent: a task whose worker died is run again from the start.
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The definition.
    fn definition(&self) -> WorkflowDefinition;

    /// The task title for `parameters` ("Merging branch feature-1").
    fn title(&self, parameters: &Value) -> String {
        let _ = parameters;
        self.definition().name
    }

    /// Runs the task; the value is recorded as its result.
    ///
    /// # Errors
    ///
    /// Any [`Error`]: kind `Unavailable` is retried, [`ErrorKind::Cancelled`] (from
    /// [`TaskContext::checkpoint`]) ends the task `CANCELLED`, others end it `FAILED`.
    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value>;
}

/// The workflows a runtime knows, by name.
#[derive(Clone, Default)]
pub struct Catalogue {
    workflows: HashMap<String, Arc<dyn Workflow>>,
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.workflows.keys().collect();
        names.sort();
        f.debug_struct("Catalogue")
            .field("workflows", &names)
            .finish()
    }
}

impl Catalogue {
    /// An empty catalogue.
    pub fn new() -> Self {
        Catalogue::default()
    }

    /// Adds `workflow` (replacing one of the same name).
    pub fn register(&mut self, workflow: Arc<dyn Workflow>) -> &mut Self {
        self.workflows.insert(workflow.definition().name, workflow);
        self
    }

    /// The workflow named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Workflow>> {
        self.workflows.get(name)
    }

    /// Every definition, by name.
    pub fn definitions(&self) -> Vec<WorkflowDefinition> {
        let mut definitions: Vec<WorkflowDefinition> =
            self.workflows.values().map(|w| w.definition()).collect();
        definitions.sort_by(|a, b| a.name.cmp(&b.name));
        definitions
    }
}

/// A request to run a workflow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Submission {
    /// The workflow's name.
    pub workflow: String,
    /// Its parameters.
    pub parameters: Value,
    /// The title (the workflow's own when `None`).
    pub title: Option<String>,
    /// The branch it works on.
    pub branch: Option<String>,
    /// The nodes it works on.
    pub related_nodes: Vec<RelatedNode>,
    /// The account asking.
    pub account: Option<String>,
}

/// What a worker is told: run this task.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunTask {
    task_id: String,
    workflow: String,
}

impl BusMessage for RunTask {
    const ROUTING_KEY: &'static str = "workflow.run";
    const VERSION: u32 = 1;
}

/// Broadcast when a task reached a final state, to wake the processes waiting for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskFinished {
    task_id: String,
}

impl BusMessage for TaskFinished {
    const ROUTING_KEY: &'static str = "workflow.finished";
    const VERSION: u32 = 1;
}

/// What a running workflow can do with its task.
pub struct TaskContext {
    id: String,
    attempt: u32,
    store: Arc<dyn TaskStore>,
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// The task's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Which start of the task this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Appends a log line (readable while the task runs).
    ///
    /// # Errors
    ///
    /// `Unavailable` when the store cannot write.
    pub async fn log(&self, severity: Severity, message: impl Into<String>) -> Result<()> {
        // Queued in order with the task's other writes: readable as soon as the store commits
        // it, durable with the task's outcome at the latest.
        self.store
            .queue_logs(&self.id, vec![(severity, message.into())]);
        Ok(())
    }

    /// Appends an `info` log line.
    ///
    /// # Errors
    ///
    /// As [`log`](TaskContext::log).
    pub async fn info(&self, message: impl Into<String>) -> Result<()> {
        self.log(Severity::Info, message).await
    }

    /// Records progress (0 to 1) and checks for cancellation.
    ///
    /// # Errors
    ///
    /// As [`checkpoint`](TaskContext::checkpoint), or the store's.
    pub async fn progress(&self, progress: f64) -> Result<()> {
        self.checkpoint().await?;
        match self
            .store
            .update(
                &self.id,
                TaskUpdate {
                    progress: Some(progress),
                    ..TaskUpdate::default()
                },
            )
            .await
        {
            Err(e) if e.kind() == ErrorKind::Conflict => Err(cancelled(&self.id)),
            other => other.map(|_| ()),
        }
    }

    /// Adds a node the task works on.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn add_related_node(&self, id: &str, kind: &str) -> Result<()> {
        self.store
            .update(
                &self.id,
                TaskUpdate {
                    related_nodes: vec![RelatedNode {
                        id: id.to_owned(),
                        kind: kind.to_owned(),
                    }],
                    ..TaskUpdate::default()
                },
            )
            .await
            .map(|_| ())
    }

    /// A step boundary: fails with [`ErrorKind::Cancelled`] once the task is being cancelled.
    ///
    /// # Errors
    ///
    /// `Cancelled`; the store's.
    pub async fn checkpoint(&self) -> Result<()> {
        match self.store.state(&self.id).await? {
            Some(TaskState::Cancelling | TaskState::Cancelled) | None => Err(cancelled(&self.id)),
            _ => Ok(()),
        }
    }
}

fn cancelled(id: &str) -> Error {
    Error::new(ErrorKind::Cancelled, format!("task `{id}` was cancelled"))
}

/// Settings of a runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeConfig {
    /// How many tasks one worker runs at once (at least 1; default 8).
    pub concurrency: usize,
    /// The delay before the second start of a failed task; it doubles each time after
    /// (default 1 s).
    pub retry_delay: Duration,
    /// The longest delay between two starts (default 60 s).
    pub max_retry_delay: Duration,
    /// How often a waiter re-reads the task (for tasks finished by another process; local
    /// ones wake it at once). Default 1 s.
    pub poll_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            concurrency: 8,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
        }
    }
}

struct Inner {
    store: Arc<dyn TaskStore>,
    bus: Arc<dyn MessageBus>,
    catalogue: Catalogue,
    config: RuntimeConfig,
    /// Bumped whenever a task of this process reaches a final state.
    finished: watch::Sender<u64>,
}

/// The task runtime: submits workflows as tasks and, with [`start_worker`](TaskRuntime::start_worker),
/// runs them.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> infrahub_worker::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use infrahub_worker::{
///     Catalogue, EmbeddedTaskStore, Result, RuntimeConfig, Submission, TaskContext, TaskRuntime,
///     TaskState, Workflow, WorkflowDefinition, WorkflowType,
/// };
/// use serde_json::{Value, json};
///
/// struct Double;
///
/// #[async_trait::async_trait]
/// impl Workflow for Double {
///     fn definition(&self) -> WorkflowDefinition {
///         WorkflowDefinition {
///             name: "double".into(),
///             workflow_type: WorkflowType::User,
///             database_change: false,
///             max_attempts: 1,
///         }
///     }
///
///     async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
///         context.info("doubling").await?;
///         Ok(json!(parameters["n"].as_i64().unwrap_or(0) * 2))
///     }
/// }
///
/// let mut catalogue = Catalogue::new();
/// catalogue.register(Arc::new(Double));
/// let bus = infrahub_bus::connect(&Default::default()).await?;
/// let store = Arc::new(EmbeddedTaskStore::in_memory()?);
/// let runtime = TaskRuntime::new(store, bus, catalogue, RuntimeConfig::default());
/// let _worker = runtime.start_worker().await?;
/// let task = runtime
///     .execute(
///         Submission { workflow: "double".into(), parameters: json!({"n": 21}), ..Default::default() },
///         Duration::from_secs(5),
///     )
///     .await?;
/// assert_eq!(task.state, TaskState::Completed);
/// assert_eq!(task.result, Some(json!(42)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TaskRuntime {
    inner: Arc<Inner>,
}

impl fmt::Debug for TaskRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRuntime")
            .field("store", &self.inner.store)
            .field("catalogue", &self.inner.catalogue)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A running worker; dropping it (or [`stop`](WorkerHandle::stop)) stops taking tasks.
#[derive(Debug)]
pub struct WorkerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    pub(crate) fn from_task(task: tokio::task::JoinHandle<()>) -> Self {
        WorkerHandle { task }
    }

    /// Stops taking tasks (tasks already running finish in the background).
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TaskRuntime {
    /// A runtime submitting to `bus` and recording in `store`.
    pub fn new(
        store: Arc<dyn TaskStore>,
        bus: Arc<dyn MessageBus>,
        catalogue: Catalogue,
        config: RuntimeConfig,
    ) -> Self {
        let (finished, _) = watch::channel(0);
        let mut catalogue = catalogue;
        catalogue.register(Arc::new(crate::schedule::Retention {
            store: Arc::clone(&store),
        }));
        let runtime = TaskRuntime {
            inner: Arc::new(Inner {
                store,
                bus,
                catalogue,
                config,
                finished,
            }),
        };
        // Tasks other processes finish wake this one's waiters at once (without it they see
        // the outcome at their next poll).
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&runtime.inner);
            let bus = Arc::clone(&runtime.inner.bus);
            tokio::spawn(async move {
                let Ok(mut finished) = bus.subscribe(&[TaskFinished::ROUTING_KEY]).await else {
                    tracing::warn!("worker: cannot hear finished tasks; waiters poll instead");
                    return;
                };
                while finished.next().await.is_some() {
                    match weak.upgrade() {
                        Some(inner) => inner.finished.send_modify(|n| *n += 1),
                        None => return,
                    }
                }
            });
        }
        runtime
    }

    /// A runtime of its own in this process: `store` for the records and a private
    /// in-process bus (no other runtime shares its queue).
    ///
    /// # Errors
    ///
    /// The bus's (an invalid configuration).
    pub fn in_process(
        store: Arc<dyn TaskStore>,
        catalogue: Catalogue,
        config: RuntimeConfig,
    ) -> Result<Self> {
        let bus = infrahub_bus::MemoryBus::new(&infrahub_bus::BusConfig {
            namespace: format!("tasks-{}", uuid::Uuid::new_v4().simple()),
            maximum_concurrent_messages: u16::try_from(config.concurrency.max(1))
                .unwrap_or(u16::MAX),
            ..infrahub_bus::BusConfig::default()
        })?;
        Ok(TaskRuntime::new(store, Arc::new(bus), catalogue, config))
    }

    /// The task store.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.inner.store
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// Records a task for `submission` (`PENDING`, durable) and queues it.
    ///
    /// # Errors
    ///
    /// `NotFound` for a workflow the catalogue does not know; the store's and the bus's
    /// (when the bus refuses, the task is recorded `FAILED` with the reason).
    pub async fn submit(&self, submission: Submission) -> Result<TaskRecord> {
        let workflow = self
            .inner
            .catalogue
            .get(&submission.workflow)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("unknown workflow `{}`", submission.workflow),
                )
            })?;
        let definition = workflow.definition();
        let title = submission
            .title
            .unwrap_or_else(|| workflow.title(&submission.parameters));
        let task = self
            .inner
            .store
            .create(NewTask {
                id: None,
                title,
                workflow: definition.name.clone(),
                workflow_type: definition.workflow_type,
                database_change: definition.database_change,
                state: TaskState::Pending,
                parameters: submission.parameters,
                branch: submission.branch,
                related_nodes: submission.related_nodes,
                account: submission.account,
            })
            .await?;
        let run = RunTask {
            task_id: task.id.clone(),
            workflow: task.workflow.clone(),
        };
        if let Err(error) = self.enqueue(&run, None).await {
            let message = format!("the task could not be queued: {error}");
            let _ = self
                .inner
                .store
                .append_logs(&task.id, vec![(Severity::Error, message.clone())])
                .await;
            let _ = self
                .inner
                .store
                .update(
                    &task.id,
                    TaskUpdate {
                        state: Some(TaskState::Failed),
                        error: Some(message),
                        ..TaskUpdate::default()
                    },
                )
                .await;
            self.inner.finished.send_modify(|n| *n += 1);
            return Err(error);
        }
        Ok(task)
    }

    async fn enqueue(&self, run: &RunTask, delay: Option<Duration>) -> Result<()> {
        let message = Message::encode(run, Meta::default())?;
        self.inner.bus.publish(message, delay).await?;
        Ok(())
    }

    /// Submits and waits until the task is final (at most `timeout`); returns its record.
    ///
    /// # Errors
    ///
    /// As [`submit`](TaskRuntime::submit); `Timeout` (the task goes on).
    pub async fn execute(&self, submission: Submission, timeout: Duration) -> Result<TaskRecord> {
        let task = self.submit(submission).await?;
        self.wait(&task.id, timeout).await
    }

    /// Waits until task `id` is final (at most `timeout`); returns its record.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Timeout`; the store's.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<TaskRecord> {
        let mut finished = self.inner.finished.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            finished.borrow_and_update();
            let task = self
                .inner
                .store
                .get(id)
                .await?
                .ok_or_else(|| Error::not_found(id))?;
            if task.state.is_final() {
                return Ok(task);
            }
            let poll = tokio::time::sleep(self.inner.config.poll_interval);
            tokio::select! {
                _ = finished.changed() => {}
                () = poll => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("task `{id}` did not finish within {} s", timeout.as_secs_f64()),
                    ));
                }
            }
        }
    }

    /// Cancels task `id`: one not started yet ends `CANCELLED` now, a running one at its next
    /// step.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Conflict` when it is already final; the store's.
    pub async fn cancel(&self, id: &str) -> Result<TaskRecord> {
        let task = self.inner.store.cancel(id).await?;
        self.inner
            .store
            .append_logs(
                id,
                vec![(Severity::Warning, "Cancellation requested".into())],
            )
            .await?;
        if task.state.is_final() {
            self.inner.finished.send_modify(|n| *n += 1);
        }
        Ok(task)
    }

    /// Runs task `id` again as a new task (same workflow, parameters, branch and nodes); only a
    /// failed, cancelled or crashed task can be retried.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Conflict` for a task in another state; as [`submit`](TaskRuntime::submit).
    pub async fn retry(&self, id: &str) -> Result<TaskRecord> {
        let task = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found(id))?;
        if !can_retry(task.state) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "task `{id}` is {}: only a failed, cancelled or crashed task can be retried",
                    task.state
                ),
            ));
        }
        let retried = self
            .submit(Submission {
                workflow: task.workflow,
                parameters: task.parameters,
                title: Some(task.title),
                branch: task.branch,
                related_nodes: task.related_nodes,
                account: task.account,
            })
            .await?;
        self.inner
            .store
            .append_logs(
                &retried.id,
                vec![(Severity::Info, format!("Retry of task {id}"))],
            )
            .await?;
        Ok(retried)
    }

    /// Starts a worker in this process: it takes tasks from the bus and runs up to
    /// [`RuntimeConfig::concurrency`] at once.
    ///
    /// # Errors
    ///
    /// The bus's (consuming).
    pub async fn start_worker(&self) -> Result<WorkerHandle> {
        let consumer = self.inner.bus.consume(&[RunTask::ROUTING_KEY]).await?;
        let runtime = self.clone();
        let task = tokio::spawn(async move { runtime.work(consumer).await });
        Ok(WorkerHandle { task })
    }

    /// [`start_worker`](TaskRuntime::start_worker) without waiting: the worker starts
    /// consuming in the background (and tries again every second while the bus refuses).
    /// Must be called inside a Tokio runtime.
    pub fn spawn_worker(&self) -> WorkerHandle {
        let runtime = self.clone();
        let task = tokio::spawn(async move {
            loop {
                match runtime.inner.bus.consume(&[RunTask::ROUTING_KEY]).await {
                    Ok(consumer) => {
                        runtime.work(consumer).await;
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "worker: consuming tasks failed; trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        WorkerHandle { task }
    }

    async fn work(&self, mut consumer: infrahub_bus::Consumer) {
        let slots = Arc::new(Semaphore::new(self.inner.config.concurrency.max(1)));
        while let Some(delivery) = consumer.next().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let runtime = self.clone();
            tokio::spawn(async move {
                runtime.handle(delivery).await;
                drop(slot);
            });
        }
    }

    async fn handle(&self, delivery: Delivery) {
        let run = match delivery.message().decode::<RunTask>() {
            Ok((_, body)) => body,
            Err(error) => {
                tracing::warn!(%error, "worker: a malformed task message; dead-lettering");
                let _ = delivery
                    .dead_letter(&format!("malformed task message: {error}"))
                    .await;
                return;
            }
        };
        match self.run(&run).await {
            Ok(Some(delay)) => {
                // Requeued with backoff (the same message, later); this delivery is done.
                if let Err(error) = self.enqueue(&run, Some(delay)).await {
                    tracing::warn!(%error, task = %run.task_id, "worker: requeueing failed; the bus redelivers");
                    drop(delivery);
                    return;
                }
                delivery.ack().await;
            }
            Ok(None) => delivery.ack().await,
            Err(error) => {
                // The store is unreachable: leave the message to the bus (redelivered later).
                tracing::warn!(%error, task = %run.task_id, "worker: the task store failed; the task will be redelivered");
                tokio::time::sleep(self.inner.config.retry_delay).await;
                let _ = delivery.retry().await;
            }
        }
    }

    /// Runs one delivery of a task; `Some(delay)` asks for another start after `delay`.
    async fn run(&self, run: &RunTask) -> Result<Option<Duration>> {
        let store = &self.inner.store;
        let Some(task) = store.get(&run.task_id).await? else {
            tracing::warn!(task = %run.task_id, "worker: a message for a task that does not exist");
            return Ok(None);
        };
        if task.state.is_final() {
            // Already done (a redelivery after the work finished): nothing to do.
            return Ok(None);
        }
        if task.state == TaskState::Cancelling {
            self.finish(&task.id, TaskState::Cancelled, None, None)
                .await?;
            return Ok(None);
        }
        let Some(workflow) = self.inner.catalogue.get(&task.workflow).cloned() else {
            let message = format!("this worker does not know workflow `{}`", task.workflow);
            store
                .append_logs(&task.id, vec![(Severity::Error, message.clone())])
                .await?;
            self.finish(&task.id, TaskState::Failed, None, Some(message))
                .await?;
            return Ok(None);
        };
        // The start is queued, not awaited: it becomes durable with the outcome (a worker that
        // dies before that leaves its message to be redelivered anyway). A cancellation that
        // lands in between is seen at the workflow's next checkpoint.
        let attempt = task.attempts + 1;
        store.queue_update(
            &task.id,
            TaskUpdate {
                state: Some(TaskState::Running),
                only_from: vec![TaskState::Pending, TaskState::Scheduled, TaskState::Running],
                ..TaskUpdate::default()
            },
        );
        let definition = workflow.definition();
        if attempt > 1 {
            store.queue_logs(
                &task.id,
                vec![(
                    Severity::Info,
                    format!("Attempt {attempt} of {}", definition.max_attempts.max(1)),
                )],
            );
        }
        let context = TaskContext {
            id: task.id.clone(),
            attempt,
            store: Arc::clone(store),
        };
        let parameters = task.parameters.clone();
        let outcome = tokio::spawn(async move {
            let result = workflow.run(&context, parameters).await;
            drop(context);
            result
        })
        .await
        .unwrap_or_else(|join| {
            Err(Error::workflow(if join.is_panic() {
                "the workflow panicked".to_owned()
            } else {
                "the workflow was stopped".to_owned()
            }))
        });
        match outcome {
            Ok(result) => {
                self.finish(&task.id, TaskState::Completed, Some(result), None)
                    .await?;
                Ok(None)
            }
            Err(error) if error.kind() == ErrorKind::Cancelled => {
                self.finish(&task.id, TaskState::Cancelled, None, None)
                    .await?;
                Ok(None)
            }
            Err(error)
                if error.kind() == ErrorKind::Unavailable && attempt < definition.max_attempts =>
            {
                let exponent = attempt.saturating_sub(1).min(16);
                let delay = self
                    .inner
                    .config
                    .retry_delay
                    .saturating_mul(1 << exponent)
                    .min(self.inner.config.max_retry_delay);
                store
                    .append_logs(
                        &task.id,
                        vec![(
                            Severity::Warning,
                            format!(
                                "Attempt {attempt} failed: {error}; retrying in {:.1} s",
                                delay.as_secs_f64()
                            ),
                        )],
                    )
                    .await?;
                Ok(Some(delay))
            }
            Err(error) => {
                store.queue_logs(&task.id, vec![(Severity::Error, error.to_string())]);
                self.finish(&task.id, TaskState::Failed, None, Some(error.to_string()))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn finish(
        &self,
        id: &str,
        state: TaskState,
        result: Option<Value>,
        error: Option<String>,
    ) -> Result<()> {
        let update = TaskUpdate {
            state: Some(state),
            progress: (state == TaskState::Completed).then_some(1.0),
            result,
            error,
            ..TaskUpdate::default()
        };
        match self.inner.store.update(id, update).await {
            Ok(_) => {}
            // Someone else finished it (a redelivery raced this one): keep theirs.
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return Err(e),
        }
        self.inner.finished.send_modify(|n| *n += 1);
        let notice = Message::encode(
            &TaskFinished {
                task_id: id.to_owned(),
            },
            Meta::default(),
        )?;
        // Announced in the background: the broker's confirm must not hold the worker's slot.
        let bus = Arc::clone(&self.inner.bus);
        tokio::spawn(async move {
            if let Err(error) = bus.broadcast(notice).await {
                tracing::debug!(%error, "worker: announcing a finished task failed; waiters poll");
            }
        });
        Ok(())
    }
}

/// Whether a task in `state` can be retried.
pub fn can_retry(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Failed | TaskState::Cancelled | TaskState::Crashed
    )
}

/// Whether a task in `state` can be cancelled.
pub fn can_cancel(state: TaskState) -> bool {
    !state.is_final() && state != TaskState::Cancelling
}
