//! Repository workflows: adding a repository (clone, then import its tracked commit), pulling
//! a read-only repository after its `ref` or `commit` changed, re-importing on request, and
//! the periodic synchronisation of read-write repositories.
//!
//! Every workflow holds the lock `repository.<name>` while it works, records what it does in
//! the repository's status fields (`sync_status` `syncing` → `in-sync` | `error-import`,
//! `operational_status` `online` | `error-cred` | `error-connection` | `error`) and writes the
//! imported `commit` on the branch it imported into.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infrahub_cache::{AcquireOptions, LockManager};
use infrahub_graph::BranchView;
use serde::Deserialize;
use serde_json::{Value, json};

use super::import::{Import, read_snapshot};
use crate::repositories::{Repositories, RepositoryRecord, operational_status};
use crate::runtime::{
    Catalogue, Submission, TaskContext, TaskRuntime, Workflow, WorkflowDefinition,
};
use crate::schedule::{Schedule, ScheduledWork};
use crate::task::{RelatedNode, Severity, WorkflowType};
use crate::{Error, ErrorKind, Result};

/// Clones a read-write repository and imports its default branch. Parameters
/// `{repository_id, infrahub_branch_name, repository_name?, location?, default_branch_name?,
/// internal_status?, created_by?}`.
pub const REPOSITORY_ADD_READ_WRITE: &str = "git-repository-add-read-write";
/// Clones a read-only repository and imports the commit of its `ref`. Parameters
/// `{repository_id, infrahub_branch_name, repository_name?, location?, ref?, created_by?}`.
pub const REPOSITORY_ADD_READ_ONLY: &str = "git-repository-add-read-only";
/// Imports the commit a read-only repository's `ref` (or explicit `commit`) names. Parameters
/// `{repository_id, infrahub_branch_name, ref?, commit?}`.
pub const REPOSITORY_PULL_READ_ONLY: &str = "git-repository-pull-read-only";
/// Imports a repository's current commit again (`InfrahubRepositoryProcess`), or a given
/// `commit` (the periodic synchronisation found it). Parameters `{repository_id,
/// infrahub_branch_name, commit?}`.
pub const REPOSITORY_IMPORT: &str = "git-repository-import-object";
/// The name of the periodic synchronisation of read-write repositories (a schedule, lock
/// `schedule.git-repositories-sync`).
pub const REPOSITORIES_SYNC: &str = "git-repositories-sync";

/// How long a workflow waits for another one working on the same repository.
const LOCK_WAIT: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    AddReadWrite,
    AddReadOnly,
    PullReadOnly,
    Import,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::AddReadWrite => REPOSITORY_ADD_READ_WRITE,
            Operation::AddReadOnly => REPOSITORY_ADD_READ_ONLY,
            Operation::PullReadOnly => REPOSITORY_PULL_READ_ONLY,
            Operation::Import => REPOSITORY_IMPORT,
        }
    }
}

/// A repository workflow's parameters. The repository is read from the database under its
/// lock; `repository_name`, `location`, `internal_status`, `infrahub_branch_id` and
/// `created_by` (upstream sends them) are accepted for the task's title and record only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    repository_id: String,
    infrahub_branch_name: String,
    #[serde(default)]
    default_branch_name: Option<String>,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default, rename = "repository_name")]
    _repository_name: Option<String>,
    #[serde(default, rename = "location")]
    _location: Option<String>,
    #[serde(default, rename = "internal_status")]
    _internal_status: Option<String>,
    #[serde(default, rename = "infrahub_branch_id")]
    _infrahub_branch_id: Option<String>,
    #[serde(default, rename = "created_by")]
    _created_by: Option<String>,
}

struct RepositoryWorkflow {
    repositories: Arc<Repositories>,
    locks: Arc<dyn LockManager>,
    operation: Operation,
}

/// Registers the repository workflows, working on `repositories`.
pub(crate) fn register(catalogue: &mut Catalogue, repositories: &Arc<Repositories>) {
    for operation in [
        Operation::AddReadWrite,
        Operation::AddReadOnly,
        Operation::PullReadOnly,
        Operation::Import,
    ] {
        catalogue.register(Arc::new(RepositoryWorkflow {
            repositories: Arc::clone(repositories),
            locks: Arc::clone(repositories.locks()),
            operation,
        }));
    }
}

#[async_trait]
impl Workflow for RepositoryWorkflow {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: self.operation.name().to_owned(),
            workflow_type: WorkflowType::Core,
            database_change: true,
            max_attempts: 1,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        let name = parameters
            .get("repository_name")
            .and_then(Value::as_str)
            .or_else(|| parameters.get("repository_id").and_then(Value::as_str))
            .unwrap_or("?");
        match self.operation {
            Operation::AddReadWrite | Operation::AddReadOnly => {
                format!("Adding repository {name}")
            }
            Operation::PullReadOnly => format!("Pulling read-only repository {name}"),
            Operation::Import => format!("Importing repository {name}"),
        }
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let parameters: Parameters = serde_json::from_value(parameters)
            .map_err(|e| Error::invalid(format!("parameters of {}: {e}", self.operation.name())))?;
        let branch = parameters.infrahub_branch_name.clone();
        let view = BranchView::now(&branch);
        let record = self
            .repositories
            .record(&view, &parameters.repository_id)
            .await?;
        context.add_related_node(&record.id, &record.kind).await?;
        let lock_name = format!("repository.{}", record.name);
        let _guard = self
            .locks
            .acquire(
                &lock_name,
                AcquireOptions {
                    wait: LOCK_WAIT,
                    ..AcquireOptions::default()
                },
            )
            .await
            .map_err(|e| Error::unavailable(format!("taking lock {lock_name}: {e}")))?;
        // Read again under the lock: another task may have just imported.
        let record = self.repositories.record(&view, &record.id).await?;
        let reference = match self.operation {
            Operation::AddReadWrite => parameters
                .default_branch_name
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| record.tracked_reference()),
            Operation::AddReadOnly | Operation::PullReadOnly => parameters
                .commit
                .clone()
                .or(parameters.reference.clone())
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| record.tracked_reference()),
            Operation::Import => parameters
                .commit
                .clone()
                .or(record.commit.clone())
                .unwrap_or_else(|| record.tracked_reference()),
        };
        let outcome = sync_repository(
            &self.repositories,
            context,
            &record,
            &branch,
            &reference,
            // `InfrahubRepositoryProcess` imports again; the synchronisation's imports (with
            // a commit) and the others only import what is not imported yet.
            self.operation == Operation::Import && parameters.commit.is_none(),
        )
        .await?;
        Ok(outcome)
    }
}

/// Fetches `record`, resolves `reference` and imports that commit into `branch` (again when
/// `force`, else only when it differs from the recorded commit); records the statuses and the
/// commit. Returns `{commit, imported, summary}`.
async fn sync_repository(
    repositories: &Repositories,
    context: &TaskContext,
    record: &RepositoryRecord,
    branch: &str,
    reference: &str,
    force: bool,
) -> Result<Value> {
    let remote = repositories.remote(record).await?;
    context
        .info(format!(
            "Fetching {} and resolving `{reference}`",
            infrahub_git::repository::redact(&record.location)
        ))
        .await?;
    let wanted = reference.to_owned();
    let fetched = repositories
        .with_mirror(record, remote, true, move |mirror| mirror.resolve(&wanted))
        .await;
    let commit = match fetched {
        Ok(Ok(commit)) => commit,
        Ok(Err(error)) => {
            let status = if error.kind() == infrahub_git::repository::RepositoryErrorKind::NotFound
            {
                "error"
            } else {
                operational_status(&error)
            };
            repositories
                .set(branch, record, &[("operational_status", json!(status))])
                .await?;
            return Err(Error::workflow(format!(
                "repository `{}`: {}",
                record.name,
                error.message()
            )));
        }
        Err(error) => {
            repositories
                .set(
                    branch,
                    record,
                    &[("operational_status", json!("error-connection"))],
                )
                .await?;
            return Err(error);
        }
    };
    if record.operational_status != "online" {
        repositories
            .set(branch, record, &[("operational_status", json!("online"))])
            .await?;
    }
    if !force
        && record.commit.as_deref() == Some(commit.as_str())
        && record.sync_status == "in-sync"
    {
        context
            .info(format!("Commit {commit} is imported already"))
            .await?;
        return Ok(json!({"commit": commit, "imported": false}));
    }
    repositories
        .set(branch, record, &[("sync_status", json!("syncing"))])
        .await?;
    context
        .info(format!("Importing commit {commit} into branch {branch}"))
        .await?;
    let at = commit.clone();
    let snapshot = repositories
        .with_mirror(
            record,
            repositories.remote(record).await?,
            false,
            move |mirror| read_snapshot(mirror, &at),
        )
        .await;
    let imported = match snapshot {
        Ok(Ok(snapshot)) => {
            Import {
                repositories,
                context,
                record,
                branch,
                commit: &commit,
            }
            .run(&snapshot)
            .await
        }
        Ok(Err(error)) => Err(Error::workflow(error.message().to_owned())),
        Err(error) => Err(error),
    };
    match imported {
        Ok(summary) => {
            repositories
                .set(
                    branch,
                    record,
                    &[("commit", json!(commit)), ("sync_status", json!("in-sync"))],
                )
                .await?;
            context
                .info(format!("Imported commit {commit} into branch {branch}"))
                .await?;
            // The artifacts rendered from this repository follow the new commit (those whose
            // content does not change are not written again).
            if let Some(services) = repositories.services() {
                for (id, name) in
                    super::artifact::definitions_of_repository(repositories, branch, &record.id)
                        .await?
                {
                    services
                        .tasks
                        .submit(super::artifact::generate_submission(
                            &id,
                            Some(&name),
                            branch,
                        ))
                        .await?;
                    context
                        .info(format!(
                            "Submitted the generation of the artifacts of {name}"
                        ))
                        .await?;
                }
            }
            Ok(json!({"commit": commit, "imported": true, "summary": summary}))
        }
        Err(error) => {
            let _ = context
                .log(
                    Severity::Error,
                    format!("Importing commit {commit} failed: {}", error.message()),
                )
                .await;
            repositories
                .set(branch, record, &[("sync_status", json!("error-import"))])
                .await?;
            if error.kind() == ErrorKind::Cancelled {
                return Err(error);
            }
            Err(Error::workflow(format!(
                "repository `{}`, commit {commit}: {}",
                record.name,
                error.message()
            )))
        }
    }
}

/// The periodic synchronisation of read-write repositories, every
/// [`GitOptions::sync_interval`](crate::repositories::GitOptions): one process of the
/// deployment fetches each active read-write repository of the default branch and submits a
/// [`REPOSITORY_IMPORT`] task when the head of its default branch is not the recorded commit.
pub fn repository_sync_schedule(repositories: Arc<Repositories>, runtime: TaskRuntime) -> Schedule {
    let period = repositories.options().sync_interval;
    Schedule {
        name: REPOSITORIES_SYNC.to_owned(),
        period,
        work: ScheduledWork::Action(Arc::new(move || {
            let repositories = Arc::clone(&repositories);
            let runtime = runtime.clone();
            Box::pin(async move {
                if let Err(error) = sync_all(&repositories, &runtime).await {
                    tracing::warn!(%error, "synchronising repositories failed");
                }
            })
        })),
    }
}

async fn sync_all(repositories: &Repositories, runtime: &TaskRuntime) -> Result<()> {
    let branch = repositories.engine().default_branch().to_owned();
    let records = repositories
        .list(&branch, crate::repositories::READ_WRITE_REPOSITORY)
        .await?;
    for record in records {
        if record.internal_status != "active" {
            continue;
        }
        let remote = repositories.remote(&record).await?;
        let reference = record.tracked_reference();
        let fetched = repositories
            .with_mirror(&record, remote, true, move |mirror| {
                Ok((mirror.resolve(&reference)?, mirror.branches()?))
            })
            .await;
        let (head, git_branches) = match fetched {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(error)) => {
                let status = operational_status(&error);
                if record.operational_status != status {
                    repositories
                        .set(&branch, &record, &[("operational_status", json!(status))])
                        .await?;
                }
                tracing::warn!(repository = %record.name, error = %error.message(), "fetching a repository failed");
                continue;
            }
            Err(error) => {
                tracing::warn!(repository = %record.name, %error, "fetching a repository failed");
                continue;
            }
        };
        if record.commit.as_deref() != Some(head.as_str()) {
            submit_import(runtime, &record, &branch, &head).await?;
        }
        sync_branches(repositories, runtime, &record, git_branches).await?;
    }
    Ok(())
}

/// Submits the import of `commit` of `record` into `branch`, unless an import of that commit
/// is under way or failed: a commit is not submitted again every period, only a new commit
/// (or one whose import was lost).
async fn submit_import(
    runtime: &TaskRuntime,
    record: &RepositoryRecord,
    branch: &str,
    commit: &str,
) -> Result<()> {
    if already_tried(runtime, record, branch, commit).await {
        return Ok(());
    }
    runtime
        .submit(import_submission(record, branch, commit))
        .await?;
    Ok(())
}

/// The import of `commit` of `record` into `branch`.
pub(crate) fn import_submission(
    record: &RepositoryRecord,
    branch: &str,
    commit: &str,
) -> Submission {
    Submission {
        workflow: REPOSITORY_IMPORT.to_owned(),
        parameters: json!({
            "repository_id": record.id,
            "repository_name": record.name,
            "infrahub_branch_name": branch,
            "commit": commit,
        }),
        branch: Some(branch.to_owned()),
        related_nodes: vec![RelatedNode {
            id: record.id.clone(),
            kind: record.kind.clone(),
        }],
        ..Submission::default()
    }
}

/// Git branches other than the default one, as upstream maps them: a Git branch is the
/// Infrahub branch of the same name. A new one becomes an Infrahub branch with
/// `sync_with_git` (through the `create-branch` task), and a branch with `sync_with_git`
/// imports each new commit of its Git branch. A Git branch named like Infrahub's default
/// branch (when that is not the repository's default branch) or with a name Infrahub does
/// not accept is left alone.
async fn sync_branches(
    repositories: &Repositories,
    runtime: &TaskRuntime,
    record: &RepositoryRecord,
    git_branches: std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let engine = repositories.engine();
    let default_git = record.tracked_reference();
    let infrahub_default = engine.default_branch().to_owned();
    let known: std::collections::HashMap<String, bool> = engine
        .branches()
        .await
        .map_err(|e| super::engine_error(&e))?
        .into_iter()
        .map(|b| (b.name, b.sync_with_git))
        .collect();
    for (git_branch, commit) in git_branches {
        if git_branch == default_git
            || git_branch == infrahub_default
            || infrahub_core::engine::validate_branch_name(&git_branch).is_err()
        {
            continue;
        }
        match known.get(&git_branch) {
            Some(false) => continue,
            Some(true) => {}
            None => {
                let created = runtime
                    .execute(
                        Submission {
                            workflow: super::BRANCH_CREATE.to_owned(),
                            parameters: json!({
                                "name": git_branch,
                                "description": format!("Git branch of repository {}", record.name),
                                "sync_with_git": true,
                            }),
                            branch: Some(git_branch.clone()),
                            ..Submission::default()
                        },
                        Duration::from_secs(120),
                    )
                    .await?;
                if created.state != crate::task::TaskState::Completed {
                    tracing::warn!(repository = %record.name, branch = %git_branch, error = ?created.error, "creating the branch of a new Git branch failed");
                    continue;
                }
            }
        }
        let on_branch = repositories
            .record(&BranchView::now(&git_branch), &record.id)
            .await?;
        if on_branch.commit.as_deref() != Some(commit.as_str()) {
            submit_import(runtime, record, &git_branch, &commit).await?;
        }
    }
    Ok(())
}

/// How long an import task may stay pending or running before the synchronisation takes it
/// for lost (its process died) and submits the commit again.
const IMPORT_LOST_AFTER_MICROS: i64 = 3_600 * 1_000_000;

/// Whether the latest import task of `record` on `branch` is for `commit` and is under way
/// (and not older than [`IMPORT_LOST_AFTER_MICROS`]), or failed.
async fn already_tried(
    runtime: &TaskRuntime,
    record: &RepositoryRecord,
    branch: &str,
    commit: &str,
) -> bool {
    let filter = crate::task::TaskFilter {
        related_node: Some(record.id.clone()),
        workflows: Some(vec![REPOSITORY_IMPORT.to_owned()]),
        branch: Some(branch.to_owned()),
        ..crate::task::TaskFilter::default()
    };
    let Ok(page) = runtime.store().list(&filter, 0, 1).await else {
        return false;
    };
    let Some(task) = page.tasks.first() else {
        return false;
    };
    if task.parameters.get("commit").and_then(Value::as_str) != Some(commit) {
        return false;
    }
    let recent =
        task.updated_at.plus_micros(IMPORT_LOST_AFTER_MICROS) > infrahub_graph::Timestamp::now();
    match task.state {
        crate::task::TaskState::Failed => true,
        state if state.is_in_flight() => recent,
        _ => false,
    }
}
