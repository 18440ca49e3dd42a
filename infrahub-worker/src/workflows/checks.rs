//! User checks of a proposed change (`proposed-changed-user-checks`), as upstream records
//! them: every `CoreCheckDefinition` of the source branch runs (the user's `InfrahubCheck`
//! class, with the official SDK, at the repository's commit on that branch) once, or once per
//! member of its target group with the member's values as `params`. Each definition has one
//! `CoreUserValidator` (`Check: <definition>`) among the proposed change's validations, found
//! again on the next run, going `in_progress` then `completed` with conclusion `success` when
//! every run passed, else `failure`; each run records a `CoreStandardCheck` (named after the
//! target, or the definition for a global check; kind `CheckDefinition`, origin the
//! repository) with the check's log entries as message, `success`/`info` or
//! `failure`/`critical`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infrahub_core::engine::{
    AttributeInput, Fields, Node, NodeInput, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_graph::{BranchView, NodeId, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::engine_error;
use super::targets::{one, parameter_paths, path_value, read_targets, repository_commit};
use crate::python::PythonError;
use crate::repositories::Repositories;
use crate::runtime::{Catalogue, Submission, TaskContext, Workflow, WorkflowDefinition};
use crate::task::{RelatedNode, Severity, WorkflowType};
use crate::{Error, Result};

/// Runs the user checks of a proposed change. Parameters `{proposed_change_id}`.
pub const PROPOSED_CHANGE_USER_CHECKS: &str = "proposed-changed-user-checks";

const PROPOSED_CHANGE: &str = "CoreProposedChange";
const CHECK_DEFINITION: &str = "CoreCheckDefinition";
const USER_VALIDATOR: &str = "CoreUserValidator";
const STANDARD_CHECK: &str = "CoreStandardCheck";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    proposed_change_id: String,
}

/// Registers the workflow.
pub(crate) fn register(catalogue: &mut Catalogue, repositories: &Arc<Repositories>) {
    catalogue.register(Arc::new(UserChecks {
        repositories: Arc::clone(repositories),
    }));
}

/// A submission running the user checks of proposed change `id`.
pub fn user_checks_submission(id: &str) -> Submission {
    Submission {
        workflow: PROPOSED_CHANGE_USER_CHECKS.to_owned(),
        parameters: json!({ "proposed_change_id": id }),
        related_nodes: vec![RelatedNode {
            id: id.to_owned(),
            kind: PROPOSED_CHANGE.to_owned(),
        }],
        ..Submission::default()
    }
}

struct UserChecks {
    repositories: Arc<Repositories>,
}

/// One run's outcome.
struct Run {
    name: String,
    passed: bool,
    message: String,
}

#[async_trait]
impl Workflow for UserChecks {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: PROPOSED_CHANGE_USER_CHECKS.to_owned(),
            workflow_type: WorkflowType::User,
            database_change: true,
            max_attempts: 1,
        }
    }

    fn title(&self, _parameters: &Value) -> String {
        "Running the user checks of a proposed change".to_owned()
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let parameters: Parameters = serde_json::from_value(parameters)
            .map_err(|e| Error::invalid(format!("parameters: {e}")))?;
        let engine = self.repositories.engine();
        let default = engine.default_branch().to_owned();
        // Proposed changes and validators live on the default branch.
        let main = BranchView::now(&default);
        let proposed = one(
            engine,
            &main,
            PROPOSED_CHANGE,
            &parameters.proposed_change_id,
            &Fields {
                attributes: Some(vec!["name".to_owned(), "source_branch".to_owned()]),
                relationships: vec!["validations".to_owned()],
            },
        )
        .await?;
        let source = proposed
            .value("source_branch")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let view = BranchView::now(&source);
        let (definitions, _) = engine
            .query(
                &view,
                CHECK_DEFINITION,
                &QueryArgs {
                    limit: Some(engine.options().query_size_limit),
                    ..QueryArgs::default()
                },
                &Fields {
                    attributes: None,
                    relationships: vec!["repository".to_owned(), "targets".to_owned()],
                },
            )
            .await
            .map_err(|e| engine_error(&e))?;
        context
            .info(format!(
                "{} check definition(s) on branch {source}",
                definitions.len()
            ))
            .await?;
        let existing = self.validators(&main, &proposed).await?;
        let mut failed = 0;
        for definition in &definitions {
            let name = definition
                .value("name")
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let validator = self
                .start_validator(&default, &proposed, definition, &existing)
                .await?;
            let runs = match self.run_definition(&source, definition).await {
                Ok(runs) => runs,
                Err(error) => vec![Run {
                    name: name.clone(),
                    passed: false,
                    message: format!("FATAL Error:\n{}", error.message()),
                }],
            };
            let passed = runs.iter().all(|run| run.passed);
            // A run updates the check of its name, as upstream; checks of targets gone go.
            let mut earlier = self.checks_of(&main, &validator).await?;
            for run in &runs {
                let id = earlier.remove(&run.name);
                self.record_check(&default, &validator, definition, run, id)
                    .await?;
            }
            for (_, id) in earlier {
                engine
                    .delete(
                        &default,
                        STANDARD_CHECK,
                        &infrahub_core::engine::NodeRef {
                            id: Some(id),
                            hfid: None,
                        },
                    )
                    .await
                    .map_err(|e| engine_error(&e))?;
            }
            self.finish_validator(&default, &validator, passed).await?;
            let verdict = if passed { "passed" } else { "failed" };
            context
                .log(
                    if passed {
                        Severity::Info
                    } else {
                        Severity::Warning
                    },
                    format!("Check {name}: {} run(s), {verdict}", runs.len()),
                )
                .await?;
            if !passed {
                failed += 1;
            }
            context.checkpoint().await?;
        }
        Ok(json!({"definitions": definitions.len(), "failed": failed}))
    }
}

impl UserChecks {
    /// The proposed change's user validators, by check definition id.
    async fn validators(
        &self,
        main: &BranchView,
        proposed: &Node,
    ) -> Result<HashMap<String, String>> {
        let ids: Vec<NodeId> = proposed
            .peers("validations")
            .iter()
            .map(|peer| peer.id)
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let validators = self
            .repositories
            .engine()
            .get(
                main,
                USER_VALIDATOR,
                &ids,
                &Fields {
                    attributes: Some(Vec::new()),
                    relationships: vec!["check_definition".to_owned()],
                },
            )
            .await
            .map_err(|e| engine_error(&e))?;
        Ok(validators
            .into_iter()
            .filter_map(|validator| {
                let definition = validator.peers("check_definition").first()?.id.to_string();
                Some((definition, validator.id.to_string()))
            })
            .collect())
    }

    /// The definition's validator, `in_progress`, its earlier checks gone.
    async fn start_validator(
        &self,
        branch: &str,
        proposed: &Node,
        definition: &Node,
        existing: &HashMap<String, String>,
    ) -> Result<String> {
        let engine = self.repositories.engine();
        let mut input = NodeInput::default();
        let set = |input: &mut NodeInput, name: &str, value: Value| {
            input
                .attributes
                .insert(name.to_owned(), AttributeInput::value(value));
        };
        set(&mut input, "state", json!("in_progress"));
        set(&mut input, "conclusion", json!("unknown"));
        set(
            &mut input,
            "started_at",
            json!(Timestamp::now().to_string()),
        );
        set(&mut input, "completed_at", Value::Null);
        match existing.get(&definition.id.to_string()) {
            Some(id) => {
                input.id = Some(id.clone());
                engine
                    .update(branch, USER_VALIDATOR, input)
                    .await
                    .map_err(|e| engine_error(&e))?;
                Ok(id.clone())
            }
            None => {
                let name = definition.value("name").as_str().unwrap_or_default();
                set(&mut input, "label", json!(format!("Check: {name}")));
                let peer = |id: String| RelationshipInput::One(Some(PeerInput::id(id)));
                input
                    .relationships
                    .insert("proposed_change".to_owned(), peer(proposed.id.to_string()));
                input.relationships.insert(
                    "check_definition".to_owned(),
                    peer(definition.id.to_string()),
                );
                if let Some(repository) = definition.peers("repository").first() {
                    input
                        .relationships
                        .insert("repository".to_owned(), peer(repository.id.to_string()));
                }
                let created = engine
                    .create(branch, USER_VALIDATOR, input)
                    .await
                    .map_err(|e| engine_error(&e))?;
                Ok(created.node.id.to_string())
            }
        }
    }

    async fn finish_validator(&self, branch: &str, validator: &str, passed: bool) -> Result<()> {
        let mut input = NodeInput {
            id: Some(validator.to_owned()),
            ..NodeInput::default()
        };
        for (name, value) in [
            ("state", json!("completed")),
            (
                "conclusion",
                json!(if passed { "success" } else { "failure" }),
            ),
            ("completed_at", json!(Timestamp::now().to_string())),
        ] {
            input
                .attributes
                .insert(name.to_owned(), AttributeInput::value(value));
        }
        self.repositories
            .engine()
            .update(branch, USER_VALIDATOR, input)
            .await
            .map_err(|e| engine_error(&e))?;
        Ok(())
    }

    /// The validator's checks of kind `CheckDefinition`, by name.
    async fn checks_of(
        &self,
        main: &BranchView,
        validator: &str,
    ) -> Result<HashMap<String, String>> {
        let args = QueryArgs {
            filters: BTreeMap::from([("validator__ids".to_owned(), json!([validator]))]),
            limit: Some(self.repositories.engine().options().query_size_limit),
            ..QueryArgs::default()
        };
        let (checks, _) = self
            .repositories
            .engine()
            .query(
                main,
                STANDARD_CHECK,
                &args,
                &Fields {
                    attributes: Some(vec!["name".to_owned(), "kind".to_owned()]),
                    relationships: Vec::new(),
                },
            )
            .await
            .map_err(|e| engine_error(&e))?;
        Ok(checks
            .into_iter()
            .filter(|check| check.value("kind").as_str() == Some("CheckDefinition"))
            .map(|check| {
                (
                    check.value("name").as_str().unwrap_or_default().to_owned(),
                    check.id.to_string(),
                )
            })
            .collect())
    }

    async fn record_check(
        &self,
        branch: &str,
        validator: &str,
        definition: &Node,
        run: &Run,
        existing: Option<String>,
    ) -> Result<()> {
        let mut input = NodeInput::default();
        let (conclusion, severity) = if run.passed {
            ("success", "info")
        } else {
            ("failure", "critical")
        };
        for (name, value) in [
            ("name", json!(run.name)),
            ("kind", json!("CheckDefinition")),
            (
                "origin",
                json!(
                    definition
                        .peers("repository")
                        .first()
                        .map(|p| p.id.to_string())
                        .unwrap_or_default()
                ),
            ),
            ("created_at", json!(Timestamp::now().to_string())),
            ("message", json!(run.message)),
            ("conclusion", json!(conclusion)),
            ("severity", json!(severity)),
        ] {
            input
                .attributes
                .insert(name.to_owned(), AttributeInput::value(value));
        }
        let engine = self.repositories.engine();
        match existing {
            Some(id) => {
                input.id = Some(id);
                engine.update(branch, STANDARD_CHECK, input).await
            }
            None => {
                input.relationships.insert(
                    "validator".to_owned(),
                    RelationshipInput::One(Some(PeerInput::id(validator.to_owned()))),
                );
                engine.create(branch, STANDARD_CHECK, input).await
            }
        }
        .map_err(|e| engine_error(&e))?;
        Ok(())
    }

    /// Runs `definition` on `branch`: once, or per member of its target group.
    async fn run_definition(&self, branch: &str, definition: &Node) -> Result<Vec<Run>> {
        let engine = self.repositories.engine();
        let view = BranchView::now(branch);
        let text = |name: &str| {
            definition
                .value(name)
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let repository = definition
            .peers("repository")
            .first()
            .map(|p| p.id.to_string())
            .ok_or_else(|| Error::workflow("the check definition has no repository"))?;
        let (record, commit) = repository_commit(&self.repositories, &view, &repository).await?;
        let timeout = Duration::from_secs(
            definition
                .value("timeout")
                .as_u64()
                .filter(|t| *t > 0)
                .unwrap_or(60),
        );
        let parameters = parameter_paths(definition)?;
        // The targets (with their values), or one global run.
        let mut runs: Vec<(String, Map<String, Value>)> = Vec::new();
        match definition.peers("targets").first() {
            None => runs.push((text("name"), Map::new())),
            Some(group) => {
                let group = engine
                    .get_any(
                        &view,
                        &[group.id],
                        &Fields {
                            attributes: Some(Vec::new()),
                            relationships: vec!["members".to_owned()],
                        },
                    )
                    .await
                    .map_err(|e| engine_error(&e))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::workflow("the check's target group does not exist"))?;
                let members: Vec<NodeId> = group.peers("members").iter().map(|p| p.id).collect();
                let (targets, peers) = read_targets(engine, &view, &members, &parameters).await?;
                for target in &targets {
                    let mut values = Map::new();
                    for (name, path) in &parameters {
                        if let Some(value) = path_value(target, path, &peers) {
                            values.insert(name.clone(), value);
                        }
                    }
                    runs.push((target.display_label.clone(), values));
                }
            }
        }
        let mut outcomes = Vec::with_capacity(runs.len());
        for (name, params) in runs {
            let request = json!({
                "op": "check",
                "file_path": text("file_path"),
                "class_name": text("class_name"),
                "branch": branch,
                "params": params,
            });
            let outcome = self
                .repositories
                .run_python(&record, &commit, request, timeout)
                .await?;
            outcomes.push(match outcome {
                Ok(answer) => Run {
                    name,
                    passed: answer.get("passed").and_then(Value::as_bool) == Some(true),
                    message: answer
                        .get("log_entries")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                },
                Err(PythonError::Code { message, traceback }) => Run {
                    name,
                    passed: false,
                    message: format!(
                        "FATAL Error:\n{message}{}",
                        traceback.map(|t| format!("\n{t}")).unwrap_or_default()
                    ),
                },
                Err(error) => Run {
                    name,
                    passed: false,
                    message: format!("FATAL Error:\n{error}"),
                },
            });
        }
        Ok(outcomes)
    }
}
