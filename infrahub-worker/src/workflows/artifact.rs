//! Artifact generation (`artifact-definition-generate`): one artifact per member of an
//! artifact definition's target group, rendered by the definition's transformation from the
//! transformation's query with the member's values as variables, stored in the object store
//! under the SHA-256 of its content, and recorded as a `CoreArtifact` (keyed by definition and
//! target) with upstream's MD5 `checksum`, `storage_id`, `content_type` and `status`
//! (`Ready`, or `Error` when rendering failed). An artifact whose content did not change is
//! not written again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use infrahub_core::engine::{
    AttributeInput, Fields, Node, NodeInput, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_graph::{BranchView, NodeId};
use md5::{Digest, Md5};
use object_store::ObjectStoreExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::engine_error;
use super::targets::{one, parameter_paths, read_targets, repository_commit, variables_of};
use crate::repositories::{ArtifactServices, RenderFailure, Repositories, RepositoryRecord};
use crate::runtime::{Catalogue, Submission, TaskContext, Workflow, WorkflowDefinition};
use crate::task::{RelatedNode, Severity, WorkflowType};
use crate::{Error, Result};

/// Generates the artifacts of one definition. Parameters `{artifact_definition_id, branch,
/// limit?}` (`limit`: only the artifacts of these ids, as upstream's `nodes`).
pub const ARTIFACT_DEFINITION_GENERATE: &str = "artifact-definition-generate";

const ARTIFACT: &str = "CoreArtifact";
const ARTIFACT_DEFINITION: &str = "CoreArtifactDefinition";
const JINJA2_TRANSFORM: &str = "CoreTransformJinja2";
const PYTHON_TRANSFORM: &str = "CoreTransformPython";
/// How many artifacts of one definition render at once.
const PARALLEL: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameters {
    artifact_definition_id: String,
    branch: String,
    #[serde(default)]
    limit: Option<Vec<String>>,
    #[serde(default, rename = "artifact_definition_name")]
    _artifact_definition_name: Option<String>,
}

struct GenerateWorkflow {
    repositories: Arc<Repositories>,
}

/// The artifact definitions whose transformation comes from repository `repository_id` on
/// `branch`: (id, name).
pub(crate) async fn definitions_of_repository(
    repositories: &Repositories,
    branch: &str,
    repository_id: &str,
) -> Result<Vec<(String, String)>> {
    let engine = repositories.engine();
    let view = BranchView::now(branch);
    let args = QueryArgs {
        filters: BTreeMap::from([("repository__ids".to_owned(), json!([repository_id]))]),
        ..QueryArgs::default()
    };
    let (transformations, _) = engine
        .query(
            &view,
            "CoreTransformation",
            &args,
            &Fields {
                attributes: Some(Vec::new()),
                relationships: vec!["artifact_definitions".to_owned()],
            },
        )
        .await
        .map_err(|e| engine_error(&e))?;
    let ids: Vec<NodeId> = transformations
        .iter()
        .flat_map(|t| t.peers("artifact_definitions").iter().map(|p| p.id))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let definitions = engine
        .get(
            &view,
            ARTIFACT_DEFINITION,
            &ids,
            &Fields {
                attributes: Some(vec!["name".to_owned()]),
                relationships: Vec::new(),
            },
        )
        .await
        .map_err(|e| engine_error(&e))?;
    Ok(definitions
        .into_iter()
        .map(|d| {
            (
                d.id.to_string(),
                d.value("name").as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Registers artifact generation.
pub(crate) fn register(catalogue: &mut Catalogue, repositories: &Arc<Repositories>) {
    catalogue.register(Arc::new(GenerateWorkflow {
        repositories: Arc::clone(repositories),
    }));
}

/// A submission generating the artifacts of definition `id` on `branch`.
pub fn generate_submission(id: &str, name: Option<&str>, branch: &str) -> Submission {
    let mut parameters = json!({"artifact_definition_id": id, "branch": branch});
    if let Some(name) = name {
        parameters["artifact_definition_name"] = json!(name);
    }
    Submission {
        workflow: ARTIFACT_DEFINITION_GENERATE.to_owned(),
        parameters,
        branch: Some(branch.to_owned()),
        related_nodes: vec![RelatedNode {
            id: id.to_owned(),
            kind: ARTIFACT_DEFINITION.to_owned(),
        }],
        ..Submission::default()
    }
}

/// What rendering one artifact needs, shared by all of a definition's artifacts.
struct Plan {
    branch: String,
    definition_id: String,
    artifact_name: String,
    content_type: String,
    /// Variable name → attribute path on the target (`name__value`, `site__name__value`).
    parameters: BTreeMap<String, String>,
    query: String,
    renderer: Rendering,
    record: RepositoryRecord,
    commit: String,
}

/// How a definition's transformation renders.
enum Rendering {
    /// A Jinja2 template of the repository.
    Jinja2 { template_path: String },
    /// A Python transform class of the repository.
    Python {
        file_path: String,
        class_name: String,
        convert_query_response: bool,
        timeout: std::time::Duration,
    },
}

/// A Python transform's result as artifact text, as upstream serialises it: an object as JSON
/// (indent 2, non-ASCII escaped as Python's `json.dumps` does) for `application/json`, as
/// YAML for `application/yaml`; a string as it is; anything else as JSON.
fn serialise(value: &Value, content_type: &str) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(_) | Value::Array(_) if content_type.contains("yaml") => {
            serde_norway::to_string(value).unwrap_or_default()
        }
        other => {
            let pretty = serde_json::to_string_pretty(other).unwrap_or_default();
            let mut escaped = String::with_capacity(pretty.len());
            for c in pretty.chars() {
                if c.is_ascii() {
                    escaped.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        escaped.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            escaped
        }
    }
}

/// An artifact as it exists.
struct Existing {
    id: String,
    checksum: Option<String>,
    status: Option<String>,
}

#[derive(Default)]
struct Outcome {
    created: usize,
    updated: usize,
    unchanged: usize,
    failed: Vec<String>,
}

#[async_trait]
impl Workflow for GenerateWorkflow {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: ARTIFACT_DEFINITION_GENERATE.to_owned(),
            workflow_type: WorkflowType::Core,
            database_change: true,
            max_attempts: 2,
        }
    }

    fn title(&self, parameters: &Value) -> String {
        let name = parameters
            .get("artifact_definition_name")
            .and_then(Value::as_str)
            .or_else(|| {
                parameters
                    .get("artifact_definition_id")
                    .and_then(Value::as_str)
            })
            .unwrap_or("?");
        format!("Generating the artifacts of {name}")
    }

    async fn run(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        // What generation writes (artifacts, query groups) follows from changes already
        // reported: it must not report itself as a change that regenerates artifacts.
        infrahub_core::engine::unobserved(self.generate(context, parameters)).await
    }
}

impl GenerateWorkflow {
    async fn generate(&self, context: &TaskContext, parameters: Value) -> Result<Value> {
        let parameters: Parameters = serde_json::from_value(parameters).map_err(|e| {
            Error::invalid(format!("parameters of {ARTIFACT_DEFINITION_GENERATE}: {e}"))
        })?;
        let services = self.repositories.services().cloned().ok_or_else(|| {
            Error::workflow("artifact generation is not available in this process")
        })?;
        // One generation of a definition at a time (upstream locks each artifact).
        let lock_name = format!("artifact-definition.{}", parameters.artifact_definition_id);
        let _guard = self
            .repositories
            .locks()
            .acquire(
                &lock_name,
                infrahub_cache::AcquireOptions {
                    wait: std::time::Duration::from_secs(600),
                    ..infrahub_cache::AcquireOptions::default()
                },
            )
            .await
            .map_err(|e| Error::unavailable(format!("taking lock {lock_name}: {e}")))?;
        let plan = self.plan(&parameters).await?;
        let view = BranchView::now(&plan.branch);
        let engine = self.repositories.engine();

        // The targets: the group's members, with what the parameters read.
        let group = parameters_group(engine, &view, &plan.definition_id).await?;
        let members: Vec<NodeId> = group.peers("members").iter().map(|peer| peer.id).collect();
        let (targets, peer_values) =
            read_targets(engine, &view, &members, &plan.parameters).await?;

        // What exists, by target.
        let existing = existing_artifacts(engine, &view, &plan.definition_id).await?;
        let limit = parameters.limit.clone().filter(|ids| !ids.is_empty());
        let targets: Vec<Node> = targets
            .into_iter()
            .filter(|target| match &limit {
                None => true,
                Some(ids) => existing
                    .get(&target.id.to_string())
                    .is_some_and(|artifact| ids.contains(&artifact.id)),
            })
            .collect();
        context
            .info(format!(
                "Generating {} artifact(s) of {} at commit {} of repository {}",
                targets.len(),
                plan.artifact_name,
                plan.commit,
                plan.record.name
            ))
            .await?;

        let plan = Arc::new(plan);
        let existing = Arc::new(existing);
        let peer_values = Arc::new(peer_values);
        let results: Vec<(String, Result<Generated>)> = futures::stream::iter(targets)
            .map(|target| {
                let (plan, existing, peer_values, services, repositories) = (
                    Arc::clone(&plan),
                    Arc::clone(&existing),
                    Arc::clone(&peer_values),
                    services.clone(),
                    Arc::clone(&self.repositories),
                );
                async move {
                    let label = target.display_label.clone();
                    let result = generate_one(
                        &repositories,
                        &services,
                        &plan,
                        &target,
                        existing.get(&target.id.to_string()),
                        &peer_values,
                    )
                    .await;
                    (label, result)
                }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut outcome = Outcome::default();
        for (label, result) in results {
            match result {
                Ok(Generated::Created) => outcome.created += 1,
                Ok(Generated::Updated) => outcome.updated += 1,
                Ok(Generated::Unchanged) => outcome.unchanged += 1,
                Err(error) => {
                    let message = format!("{label}: {}", error.message());
                    let _ = context.log(Severity::Error, message.clone()).await;
                    outcome.failed.push(message);
                }
            }
        }
        let summary = json!({
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "failed": outcome.failed.len(),
        });
        context
            .info(format!(
                "{} created, {} updated, {} unchanged, {} failed",
                outcome.created,
                outcome.updated,
                outcome.unchanged,
                outcome.failed.len()
            ))
            .await?;
        if let Some(first) = outcome.failed.first() {
            return Err(Error::workflow(format!(
                "{} of the artifacts of {} failed; first: {first}",
                outcome.failed.len(),
                plan.artifact_name
            )));
        }
        Ok(summary)
    }

    /// Reads the definition, its transformation, the transformation's query and repository.
    async fn plan(&self, parameters: &Parameters) -> Result<Plan> {
        let engine = self.repositories.engine();
        let view = BranchView::now(&parameters.branch);
        let definition = one(
            engine,
            &view,
            ARTIFACT_DEFINITION,
            &parameters.artifact_definition_id,
            &Fields {
                attributes: None,
                relationships: vec!["transformation".to_owned()],
            },
        )
        .await?;
        let transformation_id = definition
            .peers("transformation")
            .first()
            .map(|p| p.id)
            .ok_or_else(|| Error::workflow("the artifact definition has no transformation"))?;
        let transformation = engine
            .get_any(
                &view,
                &[transformation_id],
                &Fields {
                    attributes: None,
                    relationships: vec!["query".to_owned(), "repository".to_owned()],
                },
            )
            .await
            .map_err(|e| engine_error(&e))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::workflow("the definition's transformation does not exist"))?;
        let text =
            |node: &Node, name: &str| node.value(name).as_str().unwrap_or_default().to_owned();
        let query = transformation
            .peers("query")
            .first()
            .map(|p| p.id.to_string())
            .ok_or_else(|| Error::workflow("the transformation has no query"))?;
        let repository = transformation
            .peers("repository")
            .first()
            .map(|p| p.id.to_string())
            .ok_or_else(|| Error::workflow("the transformation has no repository"))?;
        let renderer = match transformation.kind.as_str() {
            JINJA2_TRANSFORM => Rendering::Jinja2 {
                template_path: text(&transformation, "template_path"),
            },
            PYTHON_TRANSFORM => Rendering::Python {
                file_path: text(&transformation, "file_path"),
                class_name: text(&transformation, "class_name"),
                convert_query_response: transformation
                    .value("convert_query_response")
                    .as_bool()
                    .unwrap_or(false),
                timeout: std::time::Duration::from_secs(
                    transformation
                        .value("timeout")
                        .as_u64()
                        .filter(|t| *t > 0)
                        .unwrap_or(60),
                ),
            },
            other => {
                return Err(Error::workflow(format!(
                    "transformation `{}` is a {other}, which cannot render artifacts",
                    transformation.display_label
                )));
            }
        };
        let (record, commit) = repository_commit(&self.repositories, &view, &repository).await?;
        let variables = parameter_paths(&definition)?;
        Ok(Plan {
            branch: parameters.branch.clone(),
            definition_id: definition.id.to_string(),
            artifact_name: text(&definition, "artifact_name"),
            content_type: text(&definition, "content_type"),
            parameters: variables,
            query,
            renderer,
            record,
            commit,
        })
    }
}

/// The definition's target group, with its members.
async fn parameters_group(
    engine: &infrahub_core::engine::Engine,
    view: &BranchView,
    definition_id: &str,
) -> Result<Node> {
    let definition = one(
        engine,
        view,
        ARTIFACT_DEFINITION,
        definition_id,
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
        .ok_or_else(|| Error::workflow("the artifact definition has no target group"))?;
    engine
        .get_any(
            view,
            &[group],
            &Fields {
                attributes: Some(Vec::new()),
                relationships: vec!["members".to_owned()],
            },
        )
        .await
        .map_err(|e| engine_error(&e))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::workflow("the definition's target group does not exist"))
}

/// The definition's artifacts by target id.
async fn existing_artifacts(
    engine: &infrahub_core::engine::Engine,
    view: &BranchView,
    definition_id: &str,
) -> Result<HashMap<String, Existing>> {
    let args = QueryArgs {
        filters: BTreeMap::from([("definition__ids".to_owned(), json!([definition_id]))]),
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: Some(vec!["checksum".to_owned(), "status".to_owned()]),
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
            .query(view, ARTIFACT, &page, &fields)
            .await
            .map_err(|e| engine_error(&e))?;
        let count = nodes.len();
        for node in nodes {
            if let Some(target) = node.peers("object").first() {
                found.insert(
                    target.id.to_string(),
                    Existing {
                        id: node.id.to_string(),
                        checksum: node.value("checksum").as_str().map(str::to_owned),
                        status: node.value("status").as_str().map(str::to_owned),
                    },
                );
            }
        }
        if count == 0 || count < engine.options().query_size_limit {
            break;
        }
        offset += count;
    }
    Ok(found)
}

enum Generated {
    Created,
    Updated,
    Unchanged,
}

/// Renders and records the artifact of `target`.
async fn generate_one(
    repositories: &Repositories,
    services: &ArtifactServices,
    plan: &Plan,
    target: &Node,
    existing: Option<&Existing>,
    peers: &HashMap<NodeId, Node>,
) -> Result<Generated> {
    let variables = match variables_of(target, &plan.parameters, peers) {
        Ok(variables) => variables,
        Err(error) => {
            record(repositories, plan, target, existing, &Map::new(), Err(())).await?;
            return Err(error);
        }
    };
    let answer = services
        .queries
        .run_tracked(&plan.branch, &plan.query, variables.clone())
        .await;
    let rendered = match &answer {
        Ok((data, _)) => match &plan.renderer {
            Rendering::Jinja2 { template_path } => {
                match repositories
                    .render_jinja2(
                        &plan.record,
                        &plan.commit,
                        template_path,
                        json!({ "data": data }),
                    )
                    .await?
                {
                    Ok(text) => Ok(text),
                    Err(RenderFailure::Template(error)) => Err(error.to_string()),
                    Err(RenderFailure::Repository(error)) => Err(error.message().to_owned()),
                }
            }
            Rendering::Python {
                file_path,
                class_name,
                convert_query_response,
                timeout,
            } => repositories
                .run_python_transform(
                    &plan.record,
                    &plan.commit,
                    file_path,
                    class_name,
                    &plan.branch,
                    *convert_query_response,
                    json!({ "data": data }),
                    *timeout,
                )
                .await?
                .map(|value| serialise(&value, &plan.content_type))
                .map_err(|error| format!("{file_path} ({class_name}): {error}")),
        },
        Err(message) => Err(message.clone()),
    };
    let nodes = answer.map(|(_, nodes)| nodes).unwrap_or_default();
    let text = match rendered {
        Ok(text) => text,
        Err(message) => {
            record(repositories, plan, target, existing, &variables, Err(())).await?;
            return Err(Error::workflow(message));
        }
    };
    let checksum: String = Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(existing) = existing
        && existing.checksum.as_deref() == Some(checksum.as_str())
        && existing.status.as_deref() == Some("Ready")
    {
        subscribe(services, plan, &variables, &nodes, &existing.id).await;
        return Ok(Generated::Unchanged);
    }
    let storage_id: String = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("artifact-{hex}")
    };
    let path = object_store::path::Path::from(storage_id.as_str());
    services
        .objects
        .put(&path, object_store::PutPayload::from(text.into_bytes()))
        .await
        .map_err(|e| Error::unavailable(format!("storing an artifact: {e}")))?;
    let (generated, id) = record(
        repositories,
        plan,
        target,
        existing,
        &variables,
        Ok((checksum, storage_id)),
    )
    .await?;
    subscribe(services, plan, &variables, &nodes, &id).await;
    Ok(generated)
}

/// Records the nodes of the query's answer in its query group with the artifact as a
/// subscriber, as upstream's `update_group=true`: a change to any of them regenerates it.
async fn subscribe(
    services: &ArtifactServices,
    plan: &Plan,
    variables: &Map<String, Value>,
    nodes: &std::collections::BTreeSet<String>,
    artifact: &str,
) {
    if let Err(message) = services
        .queries
        .record_group(&plan.branch, &plan.query, variables, nodes, artifact)
        .await
    {
        tracing::warn!(%message, artifact, "recording an artifact's query group failed");
    }
}

/// Creates or updates the artifact of `target`: `Ready` with its checksum and storage id, or
/// `Error`.
async fn record(
    repositories: &Repositories,
    plan: &Plan,
    target: &Node,
    existing: Option<&Existing>,
    variables: &Map<String, Value>,
    content: std::result::Result<(String, String), ()>,
) -> Result<(Generated, String)> {
    let engine = repositories.engine();
    let mut input = NodeInput::default();
    let mut set = |name: &str, value: Value| {
        input
            .attributes
            .insert(name.to_owned(), AttributeInput::value(value));
    };
    set("name", json!(plan.artifact_name));
    set("content_type", json!(plan.content_type));
    set("parameters", Value::Object(variables.clone()));
    match content {
        Ok((checksum, storage_id)) => {
            set("status", json!("Ready"));
            set("checksum", json!(checksum));
            set("storage_id", json!(storage_id));
        }
        Err(()) => set("status", json!("Error")),
    }
    let outcome = match existing {
        Some(existing) => {
            input.id = Some(existing.id.clone());
            engine
                .update(&plan.branch, ARTIFACT, input)
                .await
                .map_err(|e| engine_error(&e))?;
            (Generated::Updated, existing.id.clone())
        }
        None => {
            input.relationships.insert(
                "object".to_owned(),
                RelationshipInput::One(Some(PeerInput::id(target.id.to_string()))),
            );
            input.relationships.insert(
                "definition".to_owned(),
                RelationshipInput::One(Some(PeerInput::id(plan.definition_id.clone()))),
            );
            let created = engine
                .create(&plan.branch, ARTIFACT, input)
                .await
                .map_err(|e| engine_error(&e))?;
            (Generated::Created, created.node.id.to_string())
        }
    };
    Ok(outcome)
}
