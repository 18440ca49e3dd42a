//! Branch workflows: create, delete, rebase, validate, merge, and the diff update.

use std::sync::Arc;

use async_trait::async_trait;
use infrahub_core::engine::{BranchCreate, Engine};
use infrahub_graph::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::engine_error;
use crate::runtime::{Catalogue, TaskContext, Workflow, WorkflowDefinition};
use crate::task::WorkflowType;
use crate::{Error, Result};

/// Creates a branch. Parameters `{name, description?, sync_with_git?, created_by?}`.
pub const BRANCH_CREATE: &str = "create-branch";
/// Deletes a branch. Parameters `{branch}`.
pub const BRANCH_DELETE: &str = "branch-delete";
/// Rebases a branch on the default branch. Parameters `{branch}`.
pub const BRANCH_REBASE: &str = "branch-rebase";
/// Checks a branch for conflicts with the default branch. Parameters `{branch}`.
pub const BRANCH_VALIDATE: &str = "branch-validate";
/// Merges a branch into the default branch (what `BranchMerge` runs). Parameters `{branch}`.
pub const BRANCH_MERGE: &str = "merge-branch-mutation";
/// Updates a branch's diff. Parameters `{branch, name?, from_time?, to_time?}`.
pub const DIFF_UPDATE: &str = "diff-update";

/// How many times a branch workflow starts when the store is unavailable.
const ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Create,
    Delete,
    Rebase,
    Validate,
    Merge,
    DiffUpdate,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Create => BRANCH_CREATE,
            Operation::Delete => BRANCH_DELETE,
            Operation::Rebase => BRANCH_REBASE,
            Operation::Validate => BRANCH_VALIDATE,
            Operation::Merge => BRANCH_MERGE,
            Operation::DiffUpdate => DIFF_UPDATE,
        }
    }
}

struct BranchWorkflow {
    engine: Arc<Engine>,
    /// Where a `sync_with_git` branch's Git work is submitted.
    repositories: Arc<crate::repositories::Repositories>,
    operation: Operation,
}

impl BranchWorkflow {
    /// After a merge into the default branch, as upstream's post-merge processing: every
    /// artifact definition generates its artifacts again (unchanged ones are left alone) and
    /// every generator definition with `execute_after_merge` runs on its targets.
    async fn after_merge(&self, context: &TaskContext) -> Result<()> {
        use infrahub_core::engine::{Fields, QueryArgs};
        let Some(services) = self.repositories.services() else {
            return Ok(());
        };
        let default = self.engine.default_branch().to_owned();
        let view = infrahub_graph::BranchView::now(&default);
        let fields = Fields {
            attributes: Some(vec!["name".to_owned(), "execute_after_merge".to_owned()]),
            relationships: Vec::new(),
        };
        let mut submitted = 0;
        for kind in ["CoreArtifactDefinition", "CoreGeneratorDefinition"] {
            let args = QueryArgs {
                limit: Some(self.engine.options().query_size_limit),
                ..QueryArgs::default()
            };
            let (definitions, _) = self
                .engine
                .query(&view, kind, &args, &fields)
                .await
                .map_err(|e| engine_error(&e))?;
            for definition in definitions {
                let id = definition.id.to_string();
                let name = definition.value("name").as_str().map(str::to_owned);
                let submission = if kind == "CoreArtifactDefinition" {
                    super::generate_submission(&id, name.as_deref(), &default)
                } else if definition
                    .value("execute_after_merge")
                    .as_bool()
                    .unwrap_or(true)
                {
                    super::generator_submission(&id, name.as_deref(), &default, None)
                } else {
                    continue;
                };
                services.tasks.submit(submission).await?;
                submitted += 1;
            }
        }
        if submitted > 0 {
            context
                .info(format!(
                    "Submitted {submitted} artifact generation(s) and generator run(s) on {default}"
                ))
                .await?;
        }
        Ok(())
    }

    /// Submits `workflow` for `branch` (Git branch creation or merge), when this process can.
    async fn submit_git(&self, context: &TaskContext, workflow: &str, branch: &str) -> Result<()> {
        let Some(services) = self.repositories.services() else {
            return Ok(());
        };
        let task = services
            .tasks
            .submit(super::branch_sync_submission(workflow, branch))
            .await?;
        context
            .info(format!(
                "Submitted {workflow} for the Git repositories (task {})",
                task.id
            ))
            .await
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateParameters {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    sync_with_git: Option<bool>,
    #[serde(default)]
    created_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchParameters {
    branch: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    from_time: Option<String>,
    #[serde(default)]
    to_time: Option<String>,
}

fn parameters<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::invalid(format!("parameters: {e}")))
}

fn time(field: &str, text: Option<&str>) -> Result<Option<Timestamp>> {
    text.map(|t| Timestamp::parse(t).map_err(|e| Error::invalid(format!("`{field}`: {e}"))))
        .transpose()
}

fn branch_of(parameters: &Value) -> &str {
    parameters
        .get("branch")
        .or_else(|| parameters.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[async_trait]
impl Workflow for BranchWorkflow {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: self.operation.name().to_owned(),
            workflow_type: if self.operation == Operation::DiffUpdate {
                WorkflowType::Internal
            } else {
                WorkflowType::Core
            },
            database_change: !matches!(self.operation, Operation::Validate | Operation::DiffUpdate),
            max_attempts: ATTEMPTS,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        let branch = branch_of(parameters);
        match self.operation {
            Operation::Create => format!("Create branch {branch}"),
            Operation::Delete => format!("Delete branch {branch}"),
            Operation::Rebase => format!("Rebase branch {branch}"),
            Operation::Validate => format!("Validate branch {branch}"),
            Operation::Merge => format!("Merge branch {branch}"),
            Operation::DiffUpdate => format!("Update the diff of branch {branch}"),
        }
    }

    async fn run(&self, context: &TaskContext, parameters_value: Value) -> Result<Value> {
        let engine = &self.engine;
        if self.operation == Operation::Create {
            let p: CreateParameters = parameters(parameters_value)?;
            context.info(format!("Creating branch {}", p.name)).await?;
            let (info, _events) = engine
                .create_branch(BranchCreate {
                    name: p.name,
                    description: p.description,
                    sync_with_git: p.sync_with_git,
                    created_by: p.created_by,
                })
                .await
                .map_err(|e| engine_error(&e))?;
            context
                .info(format!("Branch {} created", info.name))
                .await?;
            if info.sync_with_git {
                self.submit_git(context, super::REPOSITORIES_CREATE_BRANCH, &info.name)
                    .await?;
            }
            return Ok(json!({"branch": info.name, "id": info.id}));
        }
        let p: BranchParameters = parameters(parameters_value)?;
        let branch = p.branch.as_str();
        context.checkpoint().await?;
        match self.operation {
            Operation::Create => unreachable!("handled above"),
            Operation::Delete => {
                context.info(format!("Deleting branch {branch}")).await?;
                engine
                    .delete_branch(branch)
                    .await
                    .map_err(|e| engine_error(&e))?;
                context.info(format!("Branch {branch} deleted")).await?;
                Ok(json!({"branch": branch}))
            }
            Operation::Rebase => {
                context.info(format!("Rebasing branch {branch}")).await?;
                let (info, _) = engine
                    .rebase_branch(branch)
                    .await
                    .map_err(|e| engine_error(&e))?;
                context
                    .info(format!("Branch {branch} rebased on {}", info.branched_from))
                    .await?;
                Ok(json!({"branch": branch}))
            }
            Operation::Validate => {
                context.info(format!("Validating branch {branch}")).await?;
                let conflicts = engine
                    .branch_conflicts(branch)
                    .await
                    .map_err(|e| engine_error(&e))?;
                if !conflicts.is_empty() {
                    return Err(Error::workflow(format!(
                        "Branch {branch} has {} conflict(s) with the default branch",
                        conflicts.len()
                    )));
                }
                context
                    .info(format!("Branch {branch} has no conflict"))
                    .await?;
                Ok(json!({"branch": branch, "conflicts": 0}))
            }
            Operation::Merge => {
                context.info(format!("Merging branch {branch}")).await?;
                let sync_with_git = engine
                    .branch(branch)
                    .await
                    .map(|info| info.sync_with_git)
                    .unwrap_or(false);
                let (_, events) = engine
                    .merge_branch(branch)
                    .await
                    .map_err(|e| engine_error(&e))?;
                context
                    .info(format!(
                        "Branch {branch} merged into the default branch ({} change event(s))",
                        events.len()
                    ))
                    .await?;
                if sync_with_git {
                    self.submit_git(context, super::REPOSITORIES_MERGE, branch)
                        .await?;
                }
                self.after_merge(context).await?;
                Ok(json!({"branch": branch}))
            }
            Operation::DiffUpdate => {
                context
                    .info(format!("Updating the diff of branch {branch}"))
                    .await?;
                engine
                    .update_diff(
                        branch,
                        p.name.as_deref(),
                        time("from_time", p.from_time.as_deref())?,
                        time("to_time", p.to_time.as_deref())?,
                    )
                    .await
                    .map_err(|e| engine_error(&e))?;
                context.info("Diff updated").await?;
                Ok(json!({"branch": branch}))
            }
        }
    }
}

/// Registers the branch workflows on `engine`; a `sync_with_git` branch's Git work goes to
/// the workflows of `repositories`.
pub(super) fn register(
    catalogue: &mut Catalogue,
    engine: &Arc<Engine>,
    repositories: &Arc<crate::repositories::Repositories>,
) {
    for operation in [
        Operation::Create,
        Operation::Delete,
        Operation::Rebase,
        Operation::Validate,
        Operation::Merge,
        Operation::DiffUpdate,
    ] {
        catalogue.register(Arc::new(BranchWorkflow {
            engine: Arc::clone(engine),
            repositories: Arc::clone(repositories),
            operation,
        }));
    }
}
