//! Task records and their log lines, in the shapes the `InfrahubTask` GraphQL query answers.

use std::fmt;
use std::str::FromStr;

use infrahub_graph::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The state of a task, as upstream names it (Prefect's state types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Waits for its start time.
    Scheduled,
    /// Queued, not taken by a worker yet.
    Pending,
    /// A worker runs it.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error (retries used up or a permanent failure).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Its worker disappeared and it was not finished by another (stale-run cleanup).
    Crashed,
    /// Suspended.
    Paused,
    /// A cancellation was asked for; the worker stops it at its next step.
    Cancelling,
}

impl TaskState {
    /// Every state, in upstream's enum order.
    pub const ALL: [TaskState; 9] = [
        TaskState::Scheduled,
        TaskState::Pending,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Crashed,
        TaskState::Paused,
        TaskState::Cancelling,
    ];

    /// The GraphQL enum value (`COMPLETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduled => "SCHEDULED",
            TaskState::Pending => "PENDING",
            TaskState::Running => "RUNNING",
            TaskState::Completed => "COMPLETED",
            TaskState::Failed => "FAILED",
            TaskState::Cancelled => "CANCELLED",
            TaskState::Crashed => "CRASHED",
            TaskState::Paused => "PAUSED",
            TaskState::Cancelling => "CANCELLING",
        }
    }

    /// A final state: nothing changes the task's state any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled | TaskState::Crashed
        )
    }

    /// Work still in flight (what `InfrahubTaskBranchStatus` lists).
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            TaskState::Pending | TaskState::Running | TaskState::Cancelling | TaskState::Scheduled
        )
    }

    /// Upstream's `conclusion`: `success` when completed, `failure` when failed, cancelled,
    /// crashed or cancelling, `unknown` otherwise.
    pub fn conclusion(self) -> &'static str {
        match self {
            TaskState::Completed => "success",
            TaskState::Failed
            | TaskState::Cancelled
            | TaskState::Crashed
            | TaskState::Cancelling => "failure",
            _ => "unknown",
        }
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> TaskState {
        TaskState::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(TaskState::Crashed)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        TaskState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown task state `{text}`: expected one of {}",
                    TaskState::ALL.map(TaskState::as_str).join(", ")
                ))
            })
    }
}

/// The severity of a log line, as upstream's task logs spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Diagnostic detail.
    Debug,
    /// Progress.
    Info,
    /// Something unexpected that did not stop the task.
    Warning,
    /// An error.
    Error,
    /// An error that ended the task.
    Critical,
}

impl Severity {
    /// The lowercase name (`info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node a task works on (`related_nodes { id kind }`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelatedNode {
    /// The node's id.
    pub id: String,
    /// The node's kind (`""` when unknown).
    pub kind: String,
}

/// Upstream's workflow types (tag `infrahub.app/workflow-type/<type>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowType {
    /// Housekeeping the platform runs for itself.
    Internal,
    /// Core operations users ask for (branch create, merge...).
    Core,
    /// Users' own content (transforms, checks, generators, webhooks).
    User,
}

impl WorkflowType {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowType::Internal => "internal",
            WorkflowType::Core => "core",
            WorkflowType::User => "user",
        }
    }
}

/// One task: a run of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id (a UUID).
    pub id: String,
    /// What it does, for people ("Merging branch feature").
    pub title: String,
    /// The workflow's name (`merge-branch-mutation`).
    pub workflow: String,
    /// The workflow's type.
    pub workflow_type: WorkflowType,
    /// Whether the workflow changes the database (counts in `InfrahubTaskBranchStatus`).
    pub database_change: bool,
    /// The state.
    pub state: TaskState,
    /// Progress between 0 and 1, when the workflow reports it.
    pub progress: Option<f64>,
    /// The workflow's parameters.
    pub parameters: Value,
    /// The branch the task works on.
    pub branch: Option<String>,
    /// The nodes it works on.
    pub related_nodes: Vec<RelatedNode>,
    /// The account that asked for it.
    pub account: Option<String>,
    /// The workflow's result once completed (JSON).
    pub result: Option<Value>,
    /// The error that ended it, once failed.
    pub error: Option<String>,
    /// How many times a worker started it.
    pub attempts: u32,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When a worker first started it.
    pub start_time: Option<Timestamp>,
    /// How many log lines it has.
    pub log_count: u32,
}

impl TaskRecord {
    /// Upstream's tags: `infrahub.app`, the workflow type, the branch and the related nodes,
    /// and `infrahub.app/database-change` where it applies.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = vec![
            "infrahub.app".to_owned(),
            format!("infrahub.app/workflow-type/{}", self.workflow_type.as_str()),
        ];
        if self.database_change {
            tags.push("infrahub.app/database-change".to_owned());
        }
        if let Some(branch) = &self.branch {
            tags.push(format!("infrahub.app/branch/{branch}"));
        }
        for node in &self.related_nodes {
            tags.push(format!("infrahub.app/node/{}", node.id));
        }
        tags
    }
}

/// One log line of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskLog {
    /// The task it belongs to.
    pub task_id: String,
    /// Its position in the task's log, from 0.
    pub index: u32,
    /// The text.
    pub message: String,
    /// The severity.
    pub severity: Severity,
    /// When it was written.
    pub timestamp: Timestamp,
}

/// What a new task is: the workflow and what it works on.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    /// The task id to use (a fresh UUID when `None`).
    pub id: Option<String>,
    /// The title.
    pub title: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow's type.
    pub workflow_type: WorkflowType,
    /// Whether the workflow changes the database.
    pub database_change: bool,
    /// The state it starts in (`PENDING`, or `SCHEDULED` for later work).
    pub state: TaskState,
    /// The parameters.
    pub parameters: Value,
    /// The branch.
    pub branch: Option<String>,
    /// The nodes it works on.
    pub related_nodes: Vec<RelatedNode>,
    /// The account that asked for it.
    pub account: Option<String>,
}

/// A change to a task's record, applied atomically by [`TaskStore::update`](crate::TaskStore::update).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskUpdate {
    /// The new state. A final state is never left; moving to `RUNNING` counts an attempt and
    /// sets the start time the first time.
    pub state: Option<TaskState>,
    /// New progress (clamped to 0..=1).
    pub progress: Option<f64>,
    /// Related nodes to add (duplicates are ignored).
    pub related_nodes: Vec<RelatedNode>,
    /// The result (with `COMPLETED`).
    pub result: Option<Value>,
    /// The error (with `FAILED`).
    pub error: Option<String>,
    /// Only apply when the task is in one of these states (the update is refused with a
    /// conflict otherwise); empty: any non-final state.
    pub only_from: Vec<TaskState>,
}

/// Filters of a task list (every one given must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskFilter {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// Only these states.
    pub states: Option<Vec<TaskState>>,
    /// Only these workflows.
    pub workflows: Option<Vec<String>>,
    /// Only this branch.
    pub branch: Option<String>,
    /// Only tasks related to this node.
    pub related_node: Option<String>,
    /// Only tasks whose title contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only tasks that change the database (or only those that do not).
    pub database_change: Option<bool>,
    /// Only tasks created at or after this instant.
    pub since: Option<Timestamp>,
    /// Only tasks created before this instant.
    pub until: Option<Timestamp>,
}

/// One page of a task list: the count of every match and the page's tasks, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskPage {
    /// How many tasks match (paging aside).
    pub count: u64,
    /// The tasks of the page.
    pub tasks: Vec<TaskRecord>,
}

/// One page of a task's log, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogPage {
    /// How many lines the task has.
    pub count: u64,
    /// The lines of the page.
    pub logs: Vec<TaskLog>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_and_conclude_as_upstream() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().unwrap(), state);
            assert_eq!(TaskState::from_code(state.code()), state);
        }
        assert!("DONE".parse::<TaskState>().is_err());
        assert_eq!(TaskState::Completed.conclusion(), "success");
        assert_eq!(TaskState::Cancelling.conclusion(), "failure");
        assert_eq!(TaskState::Crashed.conclusion(), "failure");
        assert_eq!(TaskState::Running.conclusion(), "unknown");
        assert!(TaskState::Cancelled.is_final());
        assert!(!TaskState::Cancelling.is_final());
    }
}
