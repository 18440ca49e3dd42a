//! Importing one commit of a repository into one branch: what its `.infrahub.yml` declares
//! becomes core nodes, in upstream's order (schemas, queries, check definitions, Python
//! transforms, generator definitions, Jinja2 transforms, artifact definitions; Python classes
//! are imported to find what they declare), each set reconciled by name against what the
//! repository imported before.
//!
//! Everything is read from the commit and checked before the first write: an invalid file, a
//! reference to a query or transform that exists nowhere, a template that is missing, or a
//! feature this server cannot run yet fails the import naming the file and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use infrahub_core::engine::{
    AttributeInput, Fields, NodeInput, NodeRef, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_core::schema::SchemaFile;
use infrahub_git::jinja::Renderer;
use infrahub_git::manifest::RepositoryConfig;
use infrahub_git::repository::{Mirror, RepositoryError, RepositoryErrorKind};
use infrahub_graph::BranchView;
use serde_json::{Value, json};

use super::engine_error;
use crate::repositories::{Repositories, RepositoryRecord};
use crate::runtime::TaskContext;
use crate::{Error, Result};

const QUERY: &str = "CoreGraphQLQuery";
const TRANSFORMATION: &str = "CoreTransformation";
const JINJA2_TRANSFORM: &str = "CoreTransformJinja2";
const PYTHON_TRANSFORM: &str = "CoreTransformPython";
const ARTIFACT_DEFINITION: &str = "CoreArtifactDefinition";
const CHECK_DEFINITION: &str = "CoreCheckDefinition";
const GENERATOR_DEFINITION: &str = "CoreGeneratorDefinition";
const GROUP: &str = "CoreGroup";

/// The longest loading a repository's object or menu files may take (seconds).
const OBJECTS_TIMEOUT: u64 = 1800;

/// The largest number of schema, query or template files one import reads.
const MAX_FILES: usize = 2_000;

/// What a commit holds that the import needs, read in one go from the mirror.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) manifest: RepositoryConfig,
    pub(crate) manifest_name: String,
    /// Schema files, by path.
    schemas: Vec<(String, String)>,
    /// Query texts, by query name.
    queries: BTreeMap<String, String>,
}

/// Reads what commit `commit` of `mirror` declares. Blocking.
pub(crate) fn read_snapshot(
    mirror: &Mirror,
    commit: &str,
) -> std::result::Result<Snapshot, RepositoryError> {
    let Some(manifest) = mirror.manifest(commit)? else {
        return Err(invalid(
            ".infrahub.yml",
            format!("not found at the root of commit {commit} (nor .infrahub.yaml)"),
        ));
    };
    let manifest_name = infrahub_git::manifest::MANIFEST_NAMES
        .iter()
        .find(|name| mirror.read_file(commit, name).is_ok())
        .map_or(".infrahub.yml", |name| *name)
        .to_owned();
    let invalid = |message: String| invalid(&manifest_name, message);
    let text = |path: &str| -> std::result::Result<String, RepositoryError> {
        String::from_utf8(mirror.read_file(commit, path)?)
            .map_err(|_| self::invalid(path, "not UTF-8 text".to_owned()))
    };
    let mut snapshot = Snapshot {
        manifest_name: manifest_name.clone(),
        ..Snapshot::default()
    };
    for entry in &manifest.schemas {
        let files = mirror.list_files(commit, entry).map_err(|error| {
            if error.kind() == RepositoryErrorKind::NotFound {
                invalid(format!("schemas: `{entry}` is not in the repository"))
            } else {
                error
            }
        })?;
        for path in files {
            let lower = path.to_ascii_lowercase();
            if lower.ends_with(".yml") || lower.ends_with(".yaml") || lower.ends_with(".json") {
                if snapshot.schemas.len() >= MAX_FILES {
                    return Err(invalid(format!(
                        "schemas: more than {MAX_FILES} schema files"
                    )));
                }
                let content = text(&path)?;
                snapshot.schemas.push((path, content));
            }
        }
    }
    for query in &manifest.queries {
        let content = text(&query.file_path).map_err(|error| {
            if error.kind() == RepositoryErrorKind::NotFound {
                invalid(format!(
                    "queries: `{}` (query `{}`) is not in the repository",
                    query.file_path, query.name
                ))
            } else {
                error
            }
        })?;
        snapshot.queries.insert(query.name.clone(), content);
    }
    // Fragment files: each entry a `.gql` file, or a directory whose `.gql` files (not
    // those of its subdirectories) all count, as the SDK reads them.
    let mut fragment_files = Vec::new();
    for entry in &manifest.graphql_fragments {
        let listed = mirror.list_files(commit, &entry.file_path).map_err(|error| {
            if error.kind() == RepositoryErrorKind::NotFound {
                invalid(format!(
                    "graphql_fragments: Fragment file '{}' declared in graphql_fragments does not exist.",
                    entry.file_path
                ))
            } else {
                error
            }
        })?;
        let single = listed.len() == 1 && listed[0] == entry.file_path.trim_matches('/');
        let prefix = format!("{}/", entry.file_path.trim_matches('/'));
        for path in listed {
            let direct = single
                || (path.to_ascii_lowercase().ends_with(".gql")
                    && path
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.contains('/')));
            if !direct {
                continue;
            }
            if fragment_files.len() >= MAX_FILES {
                return Err(invalid(format!(
                    "graphql_fragments: more than {MAX_FILES} fragment files"
                )));
            }
            let content = text(&path)?;
            fragment_files.push((path, content));
        }
    }
    for query in &manifest.queries {
        if let Some(content) = snapshot.queries.get_mut(&query.name) {
            *content = infrahub_git::fragments::render_with_fragments(
                &query.file_path,
                content,
                &fragment_files,
            )
            .map_err(|error| {
                invalid(format!(
                    "queries: query `{}` ({}): {error}",
                    query.name, query.file_path
                ))
            })?;
        }
    }
    let mut renderer = None;
    for transform in &manifest.jinja2_transforms {
        match mirror.read_file(commit, &transform.template_path) {
            Ok(_) => {}
            Err(error) if error.kind() == RepositoryErrorKind::NotFound => {
                return Err(invalid(format!(
                    "jinja2_transforms: the template `{}` of transform `{}` is not in the repository",
                    transform.template_path, transform.name
                )));
            }
            Err(error) => return Err(error),
        }
        // A template that does not parse, or applies a filter that does not exist, fails
        // the import naming the file and line.
        if renderer.is_none() {
            let reader = mirror.commit_reader(commit)?;
            renderer = Some(Renderer::for_files(move |path: &str| {
                reader.read_text(path)
            }));
        }
        if let Some(renderer) = &renderer
            && let Err(error) = renderer.validate(&transform.template_path, false)
        {
            return Err(invalid(format!(
                "jinja2_transforms: transform `{}`: {error}",
                transform.name
            )));
        }
    }
    snapshot.manifest = manifest;
    Ok(snapshot)
}

/// A manifest-level error about `file`.
fn invalid(file: &str, message: impl Into<String>) -> RepositoryError {
    RepositoryError::from(infrahub_git::manifest::ManifestError {
        file: file.to_owned(),
        line: None,
        path: None,
        message: message.into(),
    })
}

/// What one import created, updated and deleted, by kind.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct ImportSummary {
    schema_updated: bool,
    created: BTreeMap<String, usize>,
    updated: BTreeMap<String, usize>,
    deleted: BTreeMap<String, usize>,
}

/// One import of a snapshot into a branch.
pub(crate) struct Import<'a> {
    pub(crate) repositories: &'a Repositories,
    pub(crate) context: &'a TaskContext,
    pub(crate) record: &'a RepositoryRecord,
    pub(crate) branch: &'a str,
    pub(crate) commit: &'a str,
}

/// What a Python transform's class declares, found by importing it.
struct PythonTransform {
    name: String,
    file_path: String,
    class_name: String,
    convert_query_response: bool,
    description: Option<String>,
    query: String,
    timeout: u64,
}

/// What a check definition's class declares, found by importing it.
struct PythonCheck {
    query: Option<String>,
    timeout: u64,
}

/// What the checks found in a snapshot, ready to write.
struct Checked {
    schema_files: Vec<SchemaFile>,
    python: Vec<PythonTransform>,
    checks: Vec<PythonCheck>,
}

impl Import<'_> {
    /// Checks `snapshot`, then writes it.
    pub(crate) async fn run(&self, snapshot: &Snapshot) -> Result<ImportSummary> {
        let Checked {
            schema_files,
            python,
            checks,
        } = self.check(snapshot).await?;
        let engine = self.repositories.engine();
        let mut summary = ImportSummary::default();

        // 1. Schemas.
        if !schema_files.is_empty() {
            self.context
                .info(format!(
                    "Loading {} schema file(s) into branch {}",
                    schema_files.len(),
                    self.branch
                ))
                .await?;
            let outcome = engine
                .load_schema(self.branch, schema_files, false)
                .await
                .map_err(|error| Error::workflow(format!("schemas: {}", error.message())))?;
            summary.schema_updated = outcome.schema_updated;
        }
        self.context.checkpoint().await?;

        // 2. Queries.
        let queries: Vec<(String, NodeInput)> = snapshot
            .queries
            .iter()
            .map(|(name, text)| {
                let mut input = self.owned_input();
                input
                    .attributes
                    .insert("name".into(), self.attribute(json!(name)));
                input
                    .attributes
                    .insert("query".into(), self.attribute(json!(text)));
                (name.clone(), input)
            })
            .collect();
        let stale_queries = self.reconcile(QUERY, queries, &mut summary).await?;
        self.context.checkpoint().await?;

        // 2a. Objects, then menus, loaded by the SDK into the repository's groups.
        for (content, paths) in [
            ("object", &snapshot.manifest.objects),
            ("menu", &snapshot.manifest.menus),
        ] {
            if paths.is_empty() {
                continue;
            }
            let loaded = self.objects(content, paths, false).await.map_err(|error| {
                Error::workflow(format!("{content} files: {}", error.message()))
            })?;
            self.context
                .info(format!(
                    "Loaded {} {content} file(s) into branch {}",
                    loaded, self.branch
                ))
                .await?;
            *summary
                .updated
                .entry(format!("{content} files"))
                .or_default() += loaded;
            self.context.checkpoint().await?;
        }

        // 3. Check definitions (their query and timeout from the class).
        let check_inputs: Vec<(String, NodeInput)> = snapshot
            .manifest
            .check_definitions
            .iter()
            .zip(&checks)
            .map(|(definition, described)| {
                let mut input = self.owned_input();
                for (name, value) in [
                    ("name", json!(definition.name)),
                    ("file_path", json!(definition.file_path)),
                    ("class_name", json!(definition.class_name)),
                    ("timeout", json!(described.timeout)),
                    ("parameters", json!(definition.parameters)),
                ] {
                    input.attributes.insert(name.into(), self.attribute(value));
                }
                input.relationships.insert(
                    "query".into(),
                    RelationshipInput::One(described.query.as_deref().map(|q| self.peer(q))),
                );
                input.relationships.insert(
                    "targets".into(),
                    RelationshipInput::One(definition.targets.as_deref().map(|t| self.peer(t))),
                );
                (definition.name.clone(), input)
            })
            .collect();
        let stale_checks = self
            .reconcile(CHECK_DEFINITION, check_inputs, &mut summary)
            .await?;
        self.context.checkpoint().await?;

        // 3a. Jinja2 transforms.
        let transforms: Vec<(String, NodeInput)> = snapshot
            .manifest
            .jinja2_transforms
            .iter()
            .map(|transform| {
                let mut input = self.owned_input();
                input
                    .attributes
                    .insert("name".into(), self.attribute(json!(transform.name)));
                input.attributes.insert(
                    "template_path".into(),
                    self.attribute(json!(transform.template_path)),
                );
                if let Some(description) = &transform.description {
                    input
                        .attributes
                        .insert("description".into(), self.attribute(json!(description)));
                }
                input.relationships.insert(
                    "query".into(),
                    RelationshipInput::One(Some(self.peer(&transform.query))),
                );
                (transform.name.clone(), input)
            })
            .collect();
        let stale_transforms = self
            .reconcile(JINJA2_TRANSFORM, transforms, &mut summary)
            .await?;
        self.context.checkpoint().await?;

        // 3b. Python transforms.
        let python: Vec<(String, NodeInput)> = python
            .iter()
            .map(|transform| {
                let mut input = self.owned_input();
                for (name, value) in [
                    ("name", json!(transform.name)),
                    ("file_path", json!(transform.file_path)),
                    ("class_name", json!(transform.class_name)),
                    (
                        "convert_query_response",
                        json!(transform.convert_query_response),
                    ),
                    ("timeout", json!(transform.timeout)),
                ] {
                    input.attributes.insert(name.into(), self.attribute(value));
                }
                if let Some(description) = &transform.description {
                    input
                        .attributes
                        .insert("description".into(), self.attribute(json!(description)));
                }
                input.relationships.insert(
                    "query".into(),
                    RelationshipInput::One(Some(self.peer(&transform.query))),
                );
                (transform.name.clone(), input)
            })
            .collect();
        let stale_python = self
            .reconcile(PYTHON_TRANSFORM, python, &mut summary)
            .await?;
        self.context.checkpoint().await?;

        // 3c. Generator definitions.
        let generators: Vec<(String, NodeInput)> = snapshot
            .manifest
            .generator_definitions
            .iter()
            .map(|definition| {
                let mut input = self.owned_input();
                for (name, value) in [
                    ("name", json!(definition.name)),
                    ("file_path", json!(definition.file_path)),
                    ("class_name", json!(definition.class_name)),
                    ("parameters", json!(definition.parameters)),
                    (
                        "convert_query_response",
                        json!(definition.convert_query_response),
                    ),
                    (
                        "execute_in_proposed_change",
                        json!(definition.execute_in_proposed_change),
                    ),
                    ("execute_after_merge", json!(definition.execute_after_merge)),
                ] {
                    input.attributes.insert(name.into(), self.attribute(value));
                }
                input.relationships.insert(
                    "query".into(),
                    RelationshipInput::One(Some(self.peer(&definition.query))),
                );
                input.relationships.insert(
                    "targets".into(),
                    RelationshipInput::One(Some(self.peer(&definition.targets))),
                );
                (definition.name.clone(), input)
            })
            .collect();
        let stale_generators = self
            .reconcile(GENERATOR_DEFINITION, generators, &mut summary)
            .await?;
        self.context.checkpoint().await?;

        // 4. Artifact definitions: created or updated; they do not link to the repository, so
        // ones the file no longer lists are left alone, as upstream.
        for definition in &snapshot.manifest.artifact_definitions {
            let transformation = self
                .find(TRANSFORMATION, &definition.transformation)
                .await?
                .ok_or_else(|| {
                    Error::workflow(format!(
                        "artifact_definitions: transformation `{}` of `{}` not found",
                        definition.transformation, definition.name
                    ))
                })?;
            let mut input = NodeInput::default();
            let plain = |value: Value| AttributeInput::value(value);
            input
                .attributes
                .insert("name".into(), plain(json!(definition.name)));
            input.attributes.insert(
                "artifact_name".into(),
                plain(json!(
                    definition
                        .artifact_name
                        .clone()
                        .unwrap_or_else(|| definition.name.clone())
                )),
            );
            input
                .attributes
                .insert("parameters".into(), plain(json!(definition.parameters)));
            input
                .attributes
                .insert("content_type".into(), plain(json!(definition.content_type)));
            input.relationships.insert(
                "targets".into(),
                RelationshipInput::One(Some(PeerInput::id(definition.targets.clone()))),
            );
            input.relationships.insert(
                "transformation".into(),
                RelationshipInput::One(Some(PeerInput::id(transformation))),
            );
            let existing = self.find(ARTIFACT_DEFINITION, &definition.name).await?;
            let (counter, result) = match existing {
                Some(id) => {
                    input.id = Some(id);
                    (
                        &mut summary.updated,
                        engine.update(self.branch, ARTIFACT_DEFINITION, input).await,
                    )
                }
                None => (
                    &mut summary.created,
                    engine.create(self.branch, ARTIFACT_DEFINITION, input).await,
                ),
            };
            result.map_err(|error| {
                Error::workflow(format!(
                    "artifact_definitions: `{}`: {}",
                    definition.name,
                    error.message()
                ))
            })?;
            *counter.entry(ARTIFACT_DEFINITION.to_owned()).or_default() += 1;
        }

        // 5. What the repository no longer declares, users before what they use.
        self.delete_stale(JINJA2_TRANSFORM, stale_transforms, &mut summary)
            .await?;
        self.delete_stale(PYTHON_TRANSFORM, stale_python, &mut summary)
            .await?;
        self.delete_stale(CHECK_DEFINITION, stale_checks, &mut summary)
            .await?;
        self.delete_stale(GENERATOR_DEFINITION, stale_generators, &mut summary)
            .await?;
        self.delete_stale(QUERY, stale_queries, &mut summary)
            .await?;
        Ok(summary)
    }

    /// Everything that can be checked before writing: the parts this server cannot import
    /// yet, schema files, query syntax, and that every name referred to exists.
    async fn check(&self, snapshot: &Snapshot) -> Result<Checked> {
        let manifest = &snapshot.manifest;
        let file = &snapshot.manifest_name;
        let mut schema_files = Vec::with_capacity(snapshot.schemas.len());
        for (path, text) in &snapshot.schemas {
            let parsed = if path.to_ascii_lowercase().ends_with(".json") {
                SchemaFile::from_json(text, Some(path))
            } else {
                SchemaFile::from_yaml(text, Some(path))
            };
            let parsed = parsed.map_err(|errors| {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Error::workflow(format!("{path}: {}", messages.join("; ")))
            })?;
            schema_files.push(parsed);
        }
        if !schema_files.is_empty() {
            self.repositories
                .engine()
                .load_schema(self.branch, schema_files.clone(), true)
                .await
                .map_err(|error| Error::workflow(format!("schemas: {}", error.message())))?;
        }

        for query in &manifest.queries {
            let text = &snapshot.queries[&query.name];
            async_graphql_parser::parse_query(text).map_err(|error| {
                Error::workflow(format!(
                    "{}: query `{}` is not valid GraphQL: {error}",
                    query.file_path, query.name
                ))
            })?;
        }

        let declared_queries: BTreeSet<&str> =
            manifest.queries.iter().map(|q| q.name.as_str()).collect();
        for transform in &manifest.jinja2_transforms {
            if !declared_queries.contains(transform.query.as_str())
                && self.find(QUERY, &transform.query).await?.is_none()
            {
                return Err(Error::workflow(format!(
                    "{file}: jinja2_transforms: query `{}` of transform `{}` is neither in the file nor on branch {}",
                    transform.query, transform.name, self.branch
                )));
            }
        }
        // Python transforms: their query and timeout are attributes of their class, found by
        // importing it (as upstream's worker does).
        let mut python = Vec::with_capacity(manifest.python_transforms.len());
        for transform in &manifest.python_transforms {
            let described = self
                .repositories
                .describe_python(
                    self.record,
                    self.commit,
                    &transform.file_path,
                    &transform.class_name,
                )
                .await?
                .map_err(|error| {
                    Error::workflow(format!(
                        "{file}: python_transforms: transform `{}` ({}, class {}): {error}",
                        transform.name, transform.file_path, transform.class_name
                    ))
                })?;
            let Some(query) = described.get("query").and_then(Value::as_str) else {
                return Err(Error::workflow(format!(
                    "{file}: python_transforms: class {} of {} has no `query` attribute",
                    transform.class_name, transform.file_path
                )));
            };
            if !declared_queries.contains(query) && self.find(QUERY, query).await?.is_none() {
                return Err(Error::workflow(format!(
                    "{file}: python_transforms: query `{query}` of transform `{}` is neither in the file nor on branch {}",
                    transform.name, self.branch
                )));
            }
            python.push(PythonTransform {
                name: transform.name.clone(),
                file_path: transform.file_path.clone(),
                class_name: transform.class_name.clone(),
                convert_query_response: transform.convert_query_response,
                description: transform.description.clone(),
                query: query.to_owned(),
                timeout: described
                    .get("timeout")
                    .and_then(Value::as_u64)
                    .filter(|t| *t > 0)
                    .unwrap_or(60),
            });
        }
        let declared_transforms: BTreeSet<&str> = manifest
            .jinja2_transforms
            .iter()
            .map(|t| t.name.as_str())
            .chain(manifest.python_transforms.iter().map(|t| t.name.as_str()))
            .collect();
        for definition in &manifest.artifact_definitions {
            if !declared_transforms.contains(definition.transformation.as_str())
                && self
                    .find(TRANSFORMATION, &definition.transformation)
                    .await?
                    .is_none()
            {
                return Err(Error::workflow(format!(
                    "{file}: artifact_definitions: transformation `{}` of `{}` is neither in the file nor on branch {}",
                    definition.transformation, definition.name, self.branch
                )));
            }
            if self.find(GROUP, &definition.targets).await?.is_none() {
                return Err(Error::workflow(format!(
                    "{file}: artifact_definitions: target group `{}` of `{}` not found on branch {}",
                    definition.targets, definition.name, self.branch
                )));
            }
        }
        // Object and menu files: they parse (the SDK checks them against the schema when
        // they load, once the commit's schemas are in).
        for (content, paths) in [("object", &manifest.objects), ("menu", &manifest.menus)] {
            if paths.is_empty() {
                continue;
            }
            self.objects(content, paths, true).await.map_err(|error| {
                Error::workflow(format!("{file}: {content} files: {}", error.message()))
            })?;
        }

        // Check definitions: query and timeout from the class; generators: the class must
        // load, their query and group must exist.
        let mut checks = Vec::with_capacity(manifest.check_definitions.len());
        for definition in &manifest.check_definitions {
            let described = self
                .describe(&definition.file_path, &definition.class_name)
                .await?
                .map_err(|error| {
                    Error::workflow(format!(
                        "{file}: check_definitions: `{}` ({}, class {}): {error}",
                        definition.name, definition.file_path, definition.class_name
                    ))
                })?;
            let query = described
                .get("query")
                .and_then(Value::as_str)
                .filter(|q| !q.is_empty())
                .map(str::to_owned);
            if let Some(query) = &query
                && !declared_queries.contains(query.as_str())
                && self.find(QUERY, query).await?.is_none()
            {
                return Err(Error::workflow(format!(
                    "{file}: check_definitions: query `{query}` of `{}` is neither in the file nor on branch {}",
                    definition.name, self.branch
                )));
            }
            if let Some(targets) = &definition.targets
                && self.find(GROUP, targets).await?.is_none()
            {
                return Err(Error::workflow(format!(
                    "{file}: check_definitions: target group `{targets}` of `{}` not found on branch {}",
                    definition.name, self.branch
                )));
            }
            checks.push(PythonCheck {
                query,
                timeout: described
                    .get("timeout")
                    .and_then(Value::as_u64)
                    .filter(|t| *t > 0)
                    .unwrap_or(60),
            });
        }
        for definition in &manifest.generator_definitions {
            self.describe(&definition.file_path, &definition.class_name)
                .await?
                .map_err(|error| {
                    Error::workflow(format!(
                        "{file}: generator_definitions: `{}` ({}, class {}): {error}",
                        definition.name, definition.file_path, definition.class_name
                    ))
                })?;
            if !declared_queries.contains(definition.query.as_str())
                && self.find(QUERY, &definition.query).await?.is_none()
            {
                return Err(Error::workflow(format!(
                    "{file}: generator_definitions: query `{}` of `{}` is neither in the file nor on branch {}",
                    definition.query, definition.name, self.branch
                )));
            }
            if self.find(GROUP, &definition.targets).await?.is_none() {
                return Err(Error::workflow(format!(
                    "{file}: generator_definitions: target group `{}` of `{}` not found on branch {}",
                    definition.targets, definition.name, self.branch
                )));
            }
        }
        Ok(Checked {
            schema_files,
            python,
            checks,
        })
    }

    /// Parses (`check_only`) or loads the object or menu files `paths` of the commit with the
    /// SDK, tracked in group `group-repo-<content>-<repository id>`; how many files.
    async fn objects(&self, content: &str, paths: &[String], check_only: bool) -> Result<usize> {
        let request = json!({
            "op": "objects",
            "content": content,
            "paths": paths,
            "check_only": check_only,
            "branch": self.branch,
            "repository_id": self.record.id,
        });
        let answer = self
            .repositories
            .run_python(
                self.record,
                self.commit,
                request,
                std::time::Duration::from_secs(OBJECTS_TIMEOUT),
            )
            .await?
            .map_err(|error| match error {
                crate::python::PythonError::Code {
                    message,
                    traceback: _,
                } => Error::workflow(message),
                other => Error::workflow(other.to_string()),
            })?;
        Ok(answer
            .get("files")
            .and_then(Value::as_array)
            .map_or(0, Vec::len))
    }

    /// Imports class `class_name` of `file_path` at the commit: its `query`, `timeout` and
    /// `name` attributes.
    async fn describe(
        &self,
        file_path: &str,
        class_name: &str,
    ) -> Result<std::result::Result<Value, crate::python::PythonError>> {
        self.repositories
            .describe_python(self.record, self.commit, file_path, class_name)
            .await
    }

    /// An input owned by the repository (its `repository` relationship set).
    fn owned_input(&self) -> NodeInput {
        let mut input = NodeInput::default();
        input.relationships.insert(
            "repository".into(),
            RelationshipInput::One(Some(PeerInput::id(self.record.id.clone()))),
        );
        input
    }

    /// An attribute value whose source is the repository, protected as upstream marks what a
    /// repository manages.
    fn attribute(&self, value: Value) -> AttributeInput {
        AttributeInput {
            value: Some(value),
            source: Some(self.record.id.clone()),
            is_protected: Some(true),
            ..AttributeInput::default()
        }
    }

    fn peer(&self, name: &str) -> PeerInput {
        PeerInput::id(name.to_owned())
    }

    /// The id of the node of `kind` named `name` on the branch.
    async fn find(&self, kind: &str, name: &str) -> Result<Option<String>> {
        let args = QueryArgs {
            filters: BTreeMap::from([("name__value".to_owned(), Value::from(name))]),
            limit: Some(1),
            ..QueryArgs::default()
        };
        let (nodes, _) = self
            .repositories
            .engine()
            .query(
                &BranchView::now(self.branch),
                kind,
                &args,
                &Fields::minimal(),
            )
            .await
            .map_err(|e| engine_error(&e))?;
        Ok(nodes.first().map(|n| n.id.to_string()))
    }

    /// Creates or updates the nodes `wanted` (by name) of `kind`; returns the ones of this
    /// repository that are no longer wanted (name, id). A node of a wanted name owned by
    /// another repository fails the import.
    async fn reconcile(
        &self,
        kind: &str,
        wanted: Vec<(String, NodeInput)>,
        summary: &mut ImportSummary,
    ) -> Result<Vec<(String, String)>> {
        let engine = self.repositories.engine();
        let view = BranchView::now(self.branch);
        let fields = Fields {
            attributes: Some(vec!["name".to_owned()]),
            relationships: Vec::new(),
        };
        let args = QueryArgs {
            filters: BTreeMap::from([(
                "repository__ids".to_owned(),
                json!([self.record.id.clone()]),
            )]),
            ..QueryArgs::default()
        };
        let (owned, _) = engine
            .query(&view, kind, &args, &fields)
            .await
            .map_err(|e| engine_error(&e))?;
        let owned: BTreeMap<String, String> = owned
            .into_iter()
            .map(|node| {
                (
                    node.value("name").as_str().unwrap_or_default().to_owned(),
                    node.id.to_string(),
                )
            })
            .collect();
        let names: BTreeSet<String> = wanted.iter().map(|(name, _)| name.clone()).collect();
        for (name, mut input) in wanted {
            let result = match owned.get(&name) {
                Some(id) => {
                    input.id = Some(id.clone());
                    *summary.updated.entry(kind.to_owned()).or_default() += 1;
                    engine.update(self.branch, kind, input).await
                }
                None => {
                    if self.find(kind, &name).await?.is_some() {
                        return Err(Error::workflow(format!(
                            "{kind} `{name}` exists already and does not come from repository `{}`",
                            self.record.name
                        )));
                    }
                    *summary.created.entry(kind.to_owned()).or_default() += 1;
                    engine.create(self.branch, kind, input).await
                }
            };
            result.map_err(|error| {
                Error::workflow(format!("{kind} `{name}`: {}", error.message()))
            })?;
        }
        Ok(owned
            .into_iter()
            .filter(|(name, _)| !names.contains(name))
            .collect())
    }

    /// Deletes the `stale` nodes of `kind`.
    async fn delete_stale(
        &self,
        kind: &str,
        stale: Vec<(String, String)>,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        for (name, id) in stale {
            let reference = NodeRef {
                id: Some(id),
                hfid: None,
            };
            self.repositories
                .engine()
                .delete(self.branch, kind, &reference)
                .await
                .map_err(|error| {
                    Error::workflow(format!("deleting {kind} `{name}`: {}", error.message()))
                })?;
            *summary.deleted.entry(kind.to_owned()).or_default() += 1;
        }
        Ok(())
    }
}
