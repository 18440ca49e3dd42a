//! Where task records and their logs are kept: the [`TaskStore`] trait and the embedded,
//! durable [`EmbeddedTaskStore`].

use std::fmt::Debug;

use async_trait::async_trait;
use infrahub_graph::Timestamp;

use crate::Result;
use crate::task::{
    LogPage, NewTask, Severity, TaskFilter, TaskLog, TaskPage, TaskRecord, TaskState, TaskUpdate,
};

#[cfg(feature = "bolt")]
mod bolt;
mod embedded;
mod index;
mod rules;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

#[cfg(feature = "bolt")]
pub use bolt::BoltTaskStore;
pub use embedded::EmbeddedTaskStore;

/// The longest log message kept; longer ones are cut there (marked with `…`).
pub const MAX_LOG_MESSAGE: usize = 16 * 1024;
/// The most log lines one task keeps; later lines are dropped after one line saying so.
pub const MAX_LOG_LINES: u32 = 100_000;
/// The largest page of a task list or of a log.
pub const MAX_PAGE: usize = 10_000;

/// Durable task records and logs.
///
/// Every write is durable when it returns. A task in a final state
/// ([`TaskState::is_final`]) never changes state again, which makes redelivered work
/// idempotent: the second worker finds the task done.
#[async_trait]
pub trait TaskStore: Send + Sync + Debug + 'static {
    /// Records a new task (created and updated now, no attempt, no log).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an id that is not a UUID
    /// or is already used, [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when the
    /// store cannot write.
    async fn create(&self, task: NewTask) -> Result<TaskRecord>;

    /// Applies `update` to task `id` atomically and returns the new record.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Conflict` when the task is final (or not in `update.only_from`);
    /// `Unavailable`.
    async fn update(&self, id: &str, update: TaskUpdate) -> Result<TaskRecord>;

    /// Appends log lines to task `id` (each stamped now).
    ///
    /// # Errors
    ///
    /// `NotFound`; `Unavailable`.
    async fn append_logs(&self, id: &str, lines: Vec<(Severity, String)>) -> Result<()>;

    /// Queues log lines for task `id` without waiting: they are written in order with the
    /// store's other writes and are durable once a later awaited write to the store returns.
    /// A failure is logged, not returned.
    fn queue_logs(&self, id: &str, lines: Vec<(Severity, String)>);

    /// Queues `update` of task `id` without waiting, as [`queue_logs`](TaskStore::queue_logs).
    fn queue_update(&self, id: &str, update: TaskUpdate);

    /// Asks task `id` to stop: a task not started yet becomes `CANCELLED`, a running one
    /// `CANCELLING` (its worker stops it at its next step).
    ///
    /// # Errors
    ///
    /// `NotFound`; `Conflict` when the task is already final; `Unavailable`.
    async fn cancel(&self, id: &str) -> Result<TaskRecord>;

    /// Task `id`, if it exists.
    async fn get(&self, id: &str) -> Result<Option<TaskRecord>>;

    /// The current state of task `id` (cheaper than [`get`](TaskStore::get)).
    async fn state(&self, id: &str) -> Result<Option<TaskState>>;

    /// The tasks matching `filter`, newest first: their count and the page at `offset`, at
    /// most `limit` (capped at [`MAX_PAGE`]).
    async fn list(&self, filter: &TaskFilter, offset: usize, limit: usize) -> Result<TaskPage>;

    /// The log of task `id`, oldest first: its count and the page at `offset`, at most
    /// `limit` (capped at [`MAX_PAGE`]). An unknown task has an empty log.
    async fn logs(&self, id: &str, offset: usize, limit: usize) -> Result<LogPage>;

    /// Deletes the tasks (and logs) in one of `states` created before `before`; returns how
    /// many went.
    async fn delete_before(&self, before: Timestamp, states: &[TaskState]) -> Result<u64>;
}

/// Cuts `message` to [`MAX_LOG_MESSAGE`] bytes at a character boundary.
pub(crate) fn bounded_log_message(mut message: String) -> String {
    if message.len() > MAX_LOG_MESSAGE {
        let mut end = MAX_LOG_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// A log line for `task_id` at `index`.
pub(crate) fn log_line(
    task_id: &str,
    index: u32,
    severity: Severity,
    message: String,
    timestamp: Timestamp,
) -> TaskLog {
    TaskLog {
        task_id: task_id.to_owned(),
        index,
        message,
        severity,
        timestamp,
    }
}
