//! The rules every task store applies, as pure functions on records: what a new task looks
//! like, which updates and cancellations are allowed, how log lines are bounded.

use infrahub_graph::Timestamp;

use super::{MAX_LOG_LINES, bounded_log_message};
use crate::task::{NewTask, RelatedNode, Severity, TaskRecord, TaskState, TaskUpdate};
use crate::{Error, ErrorKind, Result};

/// The record of `task` created `now`, after checking its id and state.
pub(crate) fn new_record(task: NewTask, now: Timestamp) -> Result<TaskRecord> {
    let id = match task.id {
        Some(id) => id,
        None => uuid::Uuid::new_v4().to_string(),
    };
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::invalid(format!("task id `{id}` is not a UUID")));
    }
    if task.state.is_final() || task.state == TaskState::Cancelling {
        return Err(Error::invalid(format!(
            "a new task cannot start in state {}",
            task.state
        )));
    }
    Ok(TaskRecord {
        id,
        title: task.title,
        workflow: task.workflow,
        workflow_type: task.workflow_type,
        database_change: task.database_change,
        state: task.state,
        progress: None,
        parameters: task.parameters,
        branch: task.branch,
        related_nodes: dedup_nodes(task.related_nodes),
        account: task.account,
        result: None,
        error: None,
        attempts: 0,
        created_at: now,
        updated_at: now,
        start_time: None,
        log_count: 0,
    })
}

/// The conflict of a task id that is already used.
pub(crate) fn already_exists(id: &str) -> Error {
    Error::new(ErrorKind::Conflict, format!("task `{id}` already exists"))
}

/// Applies `update` to `record` at `now`, or refuses it.
pub(crate) fn apply_update(
    record: &mut TaskRecord,
    update: TaskUpdate,
    now: Timestamp,
) -> Result<()> {
    let id = &record.id;
    if record.state.is_final() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("task `{id}` is already {}", record.state),
        ));
    }
    if !update.only_from.is_empty() && !update.only_from.contains(&record.state) {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("task `{id}` is {}", record.state),
        ));
    }
    if let Some(state) = update.state
        && record.state == TaskState::Cancelling
        && !state.is_final()
    {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("task `{id}` is being cancelled"),
        ));
    }
    if let Some(progress) = update.progress
        && !progress.is_finite()
    {
        return Err(Error::invalid("task progress must be a number"));
    }
    if let Some(state) = update.state {
        if state == TaskState::Running {
            record.attempts += 1;
            record.start_time.get_or_insert(now);
        }
        record.state = state;
    }
    if let Some(progress) = update.progress {
        record.progress = Some(progress.clamp(0.0, 1.0));
    }
    if !update.related_nodes.is_empty() {
        let mut nodes = std::mem::take(&mut record.related_nodes);
        nodes.extend(update.related_nodes);
        record.related_nodes = dedup_nodes(nodes);
    }
    if update.result.is_some() {
        record.result = update.result;
    }
    if update.error.is_some() {
        record.error = update.error;
    }
    record.updated_at = now;
    Ok(())
}

/// Cancels `record` at `now`: not started, it ends `CANCELLED`; running, it becomes
/// `CANCELLING`.
pub(crate) fn apply_cancel(record: &mut TaskRecord, now: Timestamp) -> Result<()> {
    if record.state.is_final() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("task `{}` is already {}", record.id, record.state),
        ));
    }
    record.state = match record.state {
        TaskState::Running | TaskState::Cancelling => TaskState::Cancelling,
        _ => TaskState::Cancelled,
    };
    record.updated_at = now;
    Ok(())
}

/// The lines of `lines` `record` keeps (each bounded, the last one saying the log is full
/// when it fills up), with their indexes; counts them in `record`.
pub(crate) fn accept_logs(
    record: &mut TaskRecord,
    lines: Vec<(Severity, String)>,
    now: Timestamp,
) -> Vec<(u32, Severity, String)> {
    let mut kept = Vec::with_capacity(lines.len());
    for (severity, message) in lines {
        if record.log_count >= MAX_LOG_LINES {
            break;
        }
        let line = if record.log_count + 1 == MAX_LOG_LINES {
            (
                Severity::Warning,
                format!("log truncated: a task keeps at most {MAX_LOG_LINES} lines"),
            )
        } else {
            (severity, bounded_log_message(message))
        };
        kept.push((record.log_count, line.0, line.1));
        record.log_count += 1;
    }
    record.updated_at = now;
    kept
}

/// `nodes` without repeated ids (the first of each kept).
pub(crate) fn dedup_nodes(nodes: Vec<RelatedNode>) -> Vec<RelatedNode> {
    let mut seen = std::collections::HashSet::new();
    nodes
        .into_iter()
        .filter(|n| seen.insert(n.id.clone()))
        .collect()
}
