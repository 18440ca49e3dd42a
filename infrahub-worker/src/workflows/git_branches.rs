//! Infrahub branches with `sync_with_git` in the read-write repositories, as upstream keeps
//! them:
//!
//! - `git-repositories-create-branch`: a new such branch becomes a Git branch of the same name
//!   in every active read-write repository, at the commit the default branch imported, and
//!   that commit is recorded as the repository's `commit` on the Infrahub branch (a Git branch
//!   that exists already, as for a branch that came from Git, is left to the synchronisation,
//!   which imports its commits);
//! - `git-repositories-merge`: when such a branch merges, its Git branch is merged into each
//!   repository's default Git branch (a fast-forward, or a merge commit) and pushed, and the
//!   result is imported into the default branch. A conflict fails that repository's merge,
//!   naming the files, and leaves the remote as it was.
//!
//! Each repository is worked on under its lock `repository.<name>`; a failure in one does not
//! stop the others, and fails the task at the end.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infrahub_cache::AcquireOptions;
use infrahub_graph::BranchView;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::repositories::{READ_WRITE_REPOSITORY, Repositories, RepositoryRecord};
use crate::runtime::{Catalogue, Submission, TaskContext, Workflow, WorkflowDefinition};
use crate::task::{Severity, WorkflowType};
use crate::{Error, Result};

/// Creates the Git branch of a new `sync_with_git` Infrahub branch. Parameters `{branch}`.
pub const REPOSITORIES_CREATE_BRANCH: &str = "git-repositories-create-branch";
/// Merges the Git branch of a merged `sync_with_git` Infrahub branch. Parameters `{branch}`.
pub const REPOSITORIES_MERGE: &str = "git-repositories-merge";

/// How long a repository's operation waits for another one on the same repository.
const LOCK_WAIT: Duration = Duration::from_secs(600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    branch: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    CreateBranch,
    Merge,
}

struct BranchSyncWorkflow {
    repositories: Arc<Repositories>,
    operation: Operation,
}

/// Registers both workflows.
pub(crate) fn register(catalogue: &mut Catalogue, repositories: &Arc<Repositories>) {
    for operation in [Operation::CreateBranch, Operation::Merge] {
        catalogue.register(Arc::new(BranchSyncWorkflow {
            repositories: Arc::clone(repositories),
            operation,
        }));
    }
}

/// The submission of `workflow` ([`REPOSITORIES_CREATE_BRANCH`] or [`REPOSITORIES_MERGE`])
/// for `branch`.
pub fn branch_sync_submission(workflow: &str, branch: &str) -> Submission {
    Submission {
        workflow: workflow.to_owned(),
        parameters: json!({ "branch": branch }),
        branch: Some(branch.to_owned()),
        ..Submission::default()
    }
}

#[async_trait]
impl Workflow for BranchSyncWorkflow {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: match self.operation {
                Operation::CreateBranch => REPOSITORIES_CREATE_BRANCH,
                Operation::Merge => REPOSITORIES_MERGE,
            }
            .to_owned(),
            workflow_type: WorkflowType::Core,
            database_change: true,
            max_attempts: 2,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        let branch = parameters
            .get("branch")
            .and_then(Value::as_str)
            .unwrap_or("?");
        match self.operation {
            Operation::CreateBranch => format!("Creating branch {branch} in the Git repositories"),
            Operation::Merge => format!("Merging branch {branch} in the Git repositories"),
        }
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let parameters: Parameters = serde_json::from_value(parameters)
            .map_err(|e| Error::invalid(format!("parameters: {e}")))?;
        let branch = parameters.branch;
        let default = self.repositories.engine().default_branch().to_owned();
        if branch == default {
            return Err(Error::invalid(format!(
                "`{branch}` is the default branch: it has no Git branch of its own"
            )));
        }
        let records = self
            .repositories
            .list(&default, READ_WRITE_REPOSITORY)
            .await?;
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for record in records {
            if record.internal_status != "active" {
                continue;
            }
            context.add_related_node(&record.id, &record.kind).await?;
            let lock_name = format!("repository.{}", record.name);
            let _guard = self
                .repositories
                .locks()
                .acquire(
                    &lock_name,
                    AcquireOptions {
                        wait: LOCK_WAIT,
                        ..AcquireOptions::default()
                    },
                )
                .await
                .map_err(|e| Error::unavailable(format!("taking lock {lock_name}: {e}")))?;
            let outcome = match self.operation {
                Operation::CreateBranch => self.create_branch(context, &record, &branch).await,
                Operation::Merge => self.merge(context, &record, &branch, &default).await,
            };
            match outcome {
                Ok(message) => {
                    context.info(message).await?;
                    done.push(record.name.clone());
                }
                Err(error) => {
                    let message = format!("repository `{}`: {}", record.name, error.message());
                    context.log(Severity::Error, message.clone()).await?;
                    failed.push(message);
                }
            }
        }
        if let Some(first) = failed.first() {
            return Err(Error::workflow(format!(
                "{} repository(ies) failed; first: {first}",
                failed.len()
            )));
        }
        Ok(json!({ "repositories": done }))
    }
}

impl BranchSyncWorkflow {
    /// Pushes the default branch's imported commit as Git branch `branch` (unless it exists)
    /// and records the branch's commit.
    async fn create_branch(
        &self,
        context: &TaskContext,
        record: &RepositoryRecord,
        branch: &str,
    ) -> Result<String> {
        let Some(commit) = record.commit.clone() else {
            return Ok(format!(
                "repository `{}` has imported nothing yet: no Git branch {branch}",
                record.name
            ));
        };
        let remote = self.repositories.remote(record).await?;
        let wanted = branch.to_owned();
        let existing = self
            .repositories
            .with_mirror(record, remote, true, move |mirror| {
                let branches = mirror.branches()?;
                match branches.get(&wanted) {
                    Some(existing) => Ok((existing.clone(), false)),
                    None => {
                        mirror.push(&commit, &wanted)?;
                        Ok((commit, true))
                    }
                }
            })
            .await?
            .map_err(|error| Error::workflow(error.message().to_owned()))?;
        let (commit, pushed) = existing;
        if !pushed {
            // Its commits are imported by the synchronisation, which compares them with the
            // branch's recorded commit.
            return Ok(format!(
                "repository `{}`: Git branch {branch} exists already, at {commit}",
                record.name
            ));
        }
        // The new Git branch holds what the default branch imported, as the new Infrahub
        // branch does.
        let on_branch = self
            .repositories
            .record(&BranchView::now(branch), &record.id)
            .await?;
        self.repositories
            .set(branch, &on_branch, &[("commit", json!(commit))])
            .await?;
        context.checkpoint().await?;
        Ok(format!(
            "repository `{}`: created Git branch {branch} at {commit}",
            record.name
        ))
    }

    /// Merges Git branch `branch` into the repository's default Git branch, pushes it and
    /// imports the result into `default`.
    async fn merge(
        &self,
        context: &TaskContext,
        record: &RepositoryRecord,
        branch: &str,
        default: &str,
    ) -> Result<String> {
        let on_branch = self
            .repositories
            .record(&BranchView::now(branch), &record.id)
            .await?;
        let remote = self.repositories.remote(record).await?;
        let (git_branch, target) = (branch.to_owned(), record.tracked_reference());
        let recorded = on_branch.commit.clone();
        let message = format!("Merge branch '{branch}' into {target}");
        let merged = self
            .repositories
            .with_mirror(record, remote, true, move |mirror| {
                let branches = mirror.branches()?;
                // The Git branch as it is now (the branch may have moved on since the last
                // import), else the commit the Infrahub branch imported.
                let Some(theirs) = branches.get(&git_branch).cloned().or(recorded) else {
                    return Ok(None);
                };
                let ours = mirror.resolve(&target)?;
                let merged = mirror.merge(&ours, &theirs, &message)?;
                if merged != ours {
                    mirror.push(&merged, &target)?;
                }
                Ok(Some((ours, merged)))
            })
            .await?
            .map_err(|error| Error::workflow(error.message().to_owned()))?;
        let Some((before, merged)) = merged else {
            return Ok(format!(
                "repository `{}` has no Git branch {branch}: nothing to merge",
                record.name
            ));
        };
        context.checkpoint().await?;
        if merged == before {
            return Ok(format!(
                "repository `{}`: {} holds branch {branch} already",
                record.name,
                record.tracked_reference()
            ));
        }
        // The merged commit is imported into the default branch now rather than at the next
        // synchronisation.
        if let Some(services) = self.repositories.services() {
            services
                .tasks
                .submit(super::git::import_submission(record, default, &merged))
                .await?;
        }
        Ok(format!(
            "repository `{}`: merged branch {branch} into {} as {merged}",
            record.name,
            record.tracked_reference()
        ))
    }
}
