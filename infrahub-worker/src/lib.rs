#![doc = include_str!("../README.md")]

mod error;
pub mod python;
pub mod repositories;
mod runtime;
mod schedule;
mod store;
mod task;
pub mod workflows;

pub use error::{Error, ErrorKind, Result};
pub use runtime::{
    Catalogue, RuntimeConfig, Submission, TaskContext, TaskRuntime, WorkerHandle, Workflow,
    WorkflowDefinition, can_cancel, can_retry,
};
pub use schedule::{ActionFuture, Schedule, ScheduledWork, TASK_RETENTION, retention_schedule};
#[cfg(feature = "bolt")]
pub use store::BoltTaskStore;
#[cfg(any(test, feature = "conformance"))]
pub use store::conformance;
pub use store::{EmbeddedTaskStore, MAX_LOG_LINES, MAX_LOG_MESSAGE, MAX_PAGE, TaskStore};
pub use task::{
    LogPage, NewTask, RelatedNode, Severity, TaskFilter, TaskLog, TaskPage, TaskRecord, TaskState,
    TaskUpdate, WorkflowType,
};
