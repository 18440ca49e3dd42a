//! Generators (`request-generator-definition-run`): a `CoreGeneratorDefinition`'s class runs
//! once per member of its target group, with the official SDK, as upstream's worker runs it:
//! the member's values (the definition's `parameters`, attribute paths) are the variables of
//! the definition's query, the generator fetches the query's answer itself (recording it in a
//! query group with its `CoreGeneratorInstance` as subscriber) and creates or updates nodes
//! through the API inside the SDK's tracking, so that nodes a later run no longer produces are
//! deleted. Each target's `CoreGeneratorInstance` (`<definition>: <target>`, found or created
//! under lock `generator.<target>-<definition>`) goes `Pending`, then `Ready` or `Error`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use infrahub_core::engine::{
    AttributeInput, Fields, Node, NodeInput, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_graph::{BranchView, NodeId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::engine_error;
use super::targets::{one, parameter_paths, read_targets, repository_commit, variables_of};
use crate::python::PythonError;
use crate::repositories::{Repositories, RepositoryRecord};
use crate::runtime::{Catalogue, Submission, TaskContext, Workflow, WorkflowDefinition};
use crate::task::{RelatedNode, Severity, WorkflowType};
use crate::{Error, Result};

/// Runs one generator definition on its targets. Parameters `{generator_definition_id,
/// branch, nodes?}` (`nodes`: only these targets, as upstream's mutation input).
pub const GENERATOR_DEFINITION_RUN: &str = "request-generator-definition-run";

const GENERATOR_DEFINITION: &str = "CoreGeneratorDefinition";
const GENERATOR_INSTANCE: &str = "CoreGeneratorInstance";
/// The longest one target's generator may run.
const TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    generator_definition_id: String,
    branch: String,
    #[serde(default)]
    nodes: Option<Vec<String>>,
    #[serde(default, rename = "generator_definition_name")]
    _generator_definition_name: Option<String>,
}

/// Registers the generator workflow.
pub(crate) fn register(catalogue: &mut Catalogue, repositories: &Arc<Repositories>) {
    catalogue.register(Arc::new(RunWorkflow {
        repositories: Arc::clone(repositories),
    }));
}

/// A submission running generator definition `id` on `branch`, on every target or only on
/// `nodes`.
pub fn generator_submission(
    id: &str,
    name: Option<&str>,
    branch: &str,
    nodes: Option<Vec<String>>,
) -> Submission {
    let mut parameters = json!({"generator_definition_id": id, "branch": branch});
    if let Some(name) = name {
        parameters["generator_definition_name"] = json!(name);
    }
    if let Some(nodes) = nodes {
        parameters["nodes"] = json!(nodes);
    }
    Submission {
        workflow: GENERATOR_DEFINITION_RUN.to_owned(),
        parameters,
        branch: Some(branch.to_owned()),
        related_nodes: vec![RelatedNode {
            id: id.to_owned(),
            kind: GENERATOR_DEFINITION.to_owned(),
        }],
        ..Submission::default()
    }
}

struct RunWorkflow {
    repositories: Arc<Repositories>,
}

/// What running the definition on one target needs.
struct Plan {
    branch: String,
    definition_id: String,
    name: String,
    file_path: String,
    class_name: String,
    query: String,
    convert_query_response: bool,
    execute_in_proposed_change: bool,
    execute_after_merge: bool,
    parameters: BTreeMap<String, String>,
    record: RepositoryRecord,
    commit: String,
}

#[async_trait]
impl Workflow for RunWorkflow {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: GENERATOR_DEFINITION_RUN.to_owned(),
            workflow_type: WorkflowType::User,
            database_change: true,
            max_attempts: 1,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        let name = parameters
            .get("generator_definition_name")
            .and_then(Value::as_str)
            .or_else(|| {
                parameters
                    .get("generator_definition_id")
                    .and_then(Value::as_str)
            })
            .unwrap_or("?");
        format!("Executing generator {name}")
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let parameters: Parameters = serde_json::from_value(parameters).map_err(|e| {
            Error::invalid(format!("parameters of {GENERATOR_DEFINITION_RUN}: {e}"))
        })?;
        let plan = Arc::new(self.plan(&parameters).await?);
        let engine = self.repositories.engine();
        let view = BranchView::now(&plan.branch);

        let definition = one(
            engine,
            &view,
            GENERATOR_DEFINITION,
            &plan.definition_id,
            &Fields {
                attributes: Some(Vec::new()),
                relationships: vec!["targets".to_owned()],
            },
        )
        .await?;
        let group = definition
            .peers("targets")
            .first()
            .map(|p| p.id)
            .ok_or_else(|| Error::workflow("the generator definition has no target group"))?;
        let group = engine
            .get_any(
                &view,
                &[group],
                &Fields {
                    attributes: Some(vec!["name".to_owned()]),
                    relationships: vec!["members".to_owned()],
                },
            )
            .await
            .map_err(|e| engine_error(&e))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::workflow("the definition's target group does not exist"))?;
        let wanted = parameters.nodes.clone().filter(|nodes| !nodes.is_empty());
        let members: Vec<NodeId> = group
            .peers("members")
            .iter()
            .map(|peer| peer.id)
            .filter(|id| {
                wanted
                    .as_ref()
                    .is_none_or(|nodes| nodes.contains(&id.to_string()))
            })
            .collect();
        let (targets, peers) = read_targets(engine, &view, &members, &plan.parameters).await?;
        let peers = Arc::new(peers);
        let instances = Arc::new(existing_instances(engine, &view, &plan.definition_id).await?);
        context
            .info(format!(
                "Generator {} triggered for {} member(s) of {} at commit {} of repository {}",
                plan.name,
                targets.len(),
                group.display_label,
                plan.commit,
                plan.record.name
            ))
            .await?;

        let parallel = self.repositories.python_processes().max(1);
        let results: Vec<(String, Result<Vec<(Severity, String)>>)> =
            futures::stream::iter(targets)
                .map(|target| {
                    let (plan, peers, instances, repositories) = (
                        Arc::clone(&plan),
                        Arc::clone(&peers),
                        Arc::clone(&instances),
                        Arc::clone(&self.repositories),
                    );
                    async move {
                        let label = target.display_label.clone();
                        let result =
                            run_one(&repositories, &plan, &target, &instances, &peers).await;
                        (label, result)
                    }
                })
                .buffer_unordered(parallel)
                .collect()
                .await;
        let (mut ready, mut failed) = (0usize, Vec::new());
        for (label, result) in results {
            match result {
                Ok(logs) => {
                    ready += 1;
                    for (severity, message) in logs {
                        let _ = context.log(severity, format!("{label}: {message}")).await;
                    }
                }
                Err(error) => {
                    let message = format!("{label}: {}", error.message());
                    let _ = context.log(Severity::Error, message.clone()).await;
                    failed.push(message);
                }
            }
        }
        context
            .info(format!("{ready} target(s) ready, {} failed", failed.len()))
            .await?;
        if let Some(first) = failed.first() {
            return Err(Error::workflow(format!(
                "generator {} failed on {} target(s); first: {first}",
                plan.name,
                failed.len()
            )));
        }
        Ok(json!({"ready": ready, "failed": 0}))
    }
}

impl RunWorkflow {
    /// Reads the definition, its query's name and its repository's commit.
    async fn plan(&self, parameters: &Parameters) -> Result<Plan> {
        let engine = self.repositories.engine();
        let view = BranchView::now(&parameters.branch);
        let definition = one(
            engine,
            &view,
            GENERATOR_DEFINITION,
            &parameters.generator_definition_id,
            &Fields {
                attributes: None,
                relationships: vec!["query".to_owned(), "repository".to_owned()],
            },
        )
        .await?;
        let text =
            |node: &Node, name: &str| node.value(name).as_str().unwrap_or_default().to_owned();
        let flag = |name: &str, default: bool| definition.value(name).as_bool().unwrap_or(default);
        let query_id = definition
            .peers("query")
            .first()
            .map(|p| p.id)
            .ok_or_else(|| Error::workflow("the generator definition has no query"))?;
        let query = engine
            .get_any(
                &view,
                &[query_id],
                &Fields {
                    attributes: Some(vec!["name".to_owned()]),
                    relationships: Vec::new(),
                },
            )
            .await
            .map_err(|e| engine_error(&e))?
            .into_iter()
            .next()
            .map(|node| text(&node, "name"))
            .ok_or_else(|| Error::workflow("the generator definition's query does not exist"))?;
        let repository = definition
            .peers("repository")
            .first()
            .map(|p| p.id.to_string())
            .ok_or_else(|| Error::workflow("the generator definition has no repository"))?;
        let (record, commit) = repository_commit(&self.repositories, &view, &repository).await?;
        let variables = parameter_paths(&definition)?;
        Ok(Plan {
            branch: parameters.branch.clone(),
            definition_id: definition.id.to_string(),
            name: text(&definition, "name"),
            file_path: text(&definition, "file_path"),
            class_name: text(&definition, "class_name"),
            query,
            convert_query_response: flag("convert_query_response", false),
            execute_in_proposed_change: flag("execute_in_proposed_change", true),
            execute_after_merge: flag("execute_after_merge", true),
            parameters: variables,
            record,
            commit,
        })
    }
}

/// The definition's generator instances, by target id.
async fn existing_instances(
    engine: &infrahub_core::engine::Engine,
    view: &BranchView,
    definition_id: &str,
) -> Result<HashMap<String, String>> {
    let args = QueryArgs {
        filters: BTreeMap::from([("definition__ids".to_owned(), json!([definition_id]))]),
        limit: Some(engine.options().query_size_limit),
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: Some(Vec::new()),
        relationships: vec!["object".to_owned()],
    };
    let mut found = HashMap::new();
    let mut offset = 0;
    loop {
        let page = QueryArgs {
            offset,
            ..args.clone()
        };
        let (nodes, _) = engine
            .query(view, GENERATOR_INSTANCE, &page, &fields)
            .await
            .map_err(|e| engine_error(&e))?;
        let count = nodes.len();
        for node in nodes {
            if let Some(target) = node.peers("object").first() {
                found.insert(target.id.to_string(), node.id.to_string());
            }
        }
        if count == 0 || count < engine.options().query_size_limit {
            break;
        }
        offset += count;
    }
    Ok(found)
}

/// Runs the generator on `target`; the lines it logged.
async fn run_one(
    repositories: &Repositories,
    plan: &Plan,
    target: &Node,
    instances: &HashMap<String, String>,
    peers: &HashMap<NodeId, Node>,
) -> Result<Vec<(Severity, String)>> {
    let variables = variables_of(target, &plan.parameters, peers)?;
    let lock_name = format!("generator.{}-{}", target.id, plan.definition_id);
    let _guard = repositories
        .locks()
        .acquire(
            &lock_name,
            infrahub_cache::AcquireOptions {
                wait: Duration::from_secs(600),
                ..infrahub_cache::AcquireOptions::default()
            },
        )
        .await
        .map_err(|e| Error::unavailable(format!("taking lock {lock_name}: {e}")))?;
    let engine = repositories.engine();
    let status = |value: &str| {
        let mut input = NodeInput::default();
        input
            .attributes
            .insert("status".into(), AttributeInput::value(json!(value)));
        input
    };
    let instance = match instances.get(&target.id.to_string()) {
        Some(id) => {
            let mut input = status("Pending");
            input.id = Some(id.clone());
            engine
                .update(&plan.branch, GENERATOR_INSTANCE, input)
                .await
                .map_err(|e| engine_error(&e))?;
            id.clone()
        }
        None => {
            let mut input = status("Pending");
            input.attributes.insert(
                "name".into(),
                AttributeInput::value(json!(format!("{}: {}", plan.name, target.display_label))),
            );
            input.relationships.insert(
                "object".into(),
                RelationshipInput::One(Some(PeerInput::id(target.id.to_string()))),
            );
            input.relationships.insert(
                "definition".into(),
                RelationshipInput::One(Some(PeerInput::id(plan.definition_id.clone()))),
            );
            engine
                .create(&plan.branch, GENERATOR_INSTANCE, input)
                .await
                .map_err(|e| engine_error(&e))?
                .node
                .id
                .to_string()
        }
    };
    // String values, as the SDK's `extract` hands them over upstream.
    let request = json!({
        "op": "generate",
        "file_path": plan.file_path,
        "class_name": plan.class_name,
        "query": plan.query,
        "branch": plan.branch,
        "params": variables,
        "generator_instance": instance,
        "identifier": plan.name,
        "convert_query_response": plan.convert_query_response,
        "execute_in_proposed_change": plan.execute_in_proposed_change,
        "execute_after_merge": plan.execute_after_merge,
    });
    let outcome = repositories
        .run_python(&plan.record, &plan.commit, request, TIMEOUT)
        .await?;
    let (final_status, result) = match outcome {
        Ok(answer) => ("Ready", Ok(logs_of(&answer))),
        Err(PythonError::Code { message, traceback }) => (
            "Error",
            Err(Error::workflow(match traceback {
                Some(traceback) => format!("{message}\n{traceback}"),
                None => message,
            })),
        ),
        Err(error) => ("Error", Err(Error::workflow(error.to_string()))),
    };
    let mut input = status(final_status);
    input.id = Some(instance);
    engine
        .update(&plan.branch, GENERATOR_INSTANCE, input)
        .await
        .map_err(|e| engine_error(&e))?;
    result
}

/// The log records of a generator's answer.
fn logs_of(answer: &Value) -> Vec<(Severity, String)> {
    answer
        .get("logs")
        .and_then(Value::as_array)
        .map(|records| {
            records
                .iter()
                .map(|record| {
                    let severity = match record.get("level").and_then(Value::as_str) {
                        Some("ERROR" | "CRITICAL") => Severity::Error,
                        Some("WARNING") => Severity::Warning,
                        _ => Severity::Info,
                    };
                    let message = record
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    (severity, message)
                })
                .collect()
        })
        .unwrap_or_default()
}
