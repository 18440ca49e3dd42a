//! `.infrahub.yml`: what a repository holds for Infrahub (schemas, menus, objects, GraphQL
//! queries and fragments, Jinja2 and Python transforms, artifact, check and generator
//! definitions), with the keys and defaults of the official SDK's repository configuration.
//!
//! Parsing refuses what the SDK refuses (unknown keys, missing required keys, two items of a
//! list with one name) and, for the server's sake, what would reach outside the repository
//! (absolute paths, `..`), with an error naming the file, the line and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// The file name Infrahub reads at the root of a repository (`.infrahub.yaml` is accepted too).
pub const MANIFEST_NAMES: [&str; 2] = [".infrahub.yml", ".infrahub.yaml"];

/// The largest manifest read (bytes).
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// Why a manifest was refused: the file, where in it (line, key path) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The file's name in the repository.
    pub file: String,
    /// The line (from 1), when known.
    pub line: Option<usize>,
    /// The key path (`jinja2_transforms[1].query`), when known.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(path) = &self.path {
            write!(f, ": `{path}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Extra files a transform or generator depends on (`watch: {files: [...]}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Files or directories, relative to the repository root.
    #[serde(default)]
    pub files: Vec<String>,
}

/// `artifact_definitions[]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactDefinitionConfig {
    /// The definition's name.
    pub name: String,
    /// The name of the artifacts it creates (the definition's name when absent).
    #[serde(default)]
    pub artifact_name: Option<String>,
    /// The query variables, as attribute paths of each target (`{device: "name__value"}`).
    pub parameters: BTreeMap<String, Value>,
    /// The content type of the rendered artifacts (`text/plain`, `application/json`...).
    pub content_type: String,
    /// The group whose members get an artifact each.
    pub targets: String,
    /// The transform that renders them (a Jinja2 or Python transform's name).
    pub transformation: String,
}

/// `jinja2_transforms[]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jinja2TransformConfig {
    /// The transform's name.
    pub name: String,
    /// The GraphQL query (of `queries`) whose result the template renders.
    pub query: String,
    /// The template, relative to the repository root.
    pub template_path: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra files it depends on.
    #[serde(default)]
    pub watch: Option<WatchConfig>,
}

/// `python_transforms[]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonTransformConfig {
    /// The transform's name.
    pub name: String,
    /// The module, relative to the repository root.
    pub file_path: String,
    /// The class to run (default `Transform`).
    #[serde(default = "transform_class")]
    pub class_name: String,
    /// Whether the query's answer is handed over as SDK nodes.
    #[serde(default)]
    pub convert_query_response: bool,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra files it depends on.
    #[serde(default)]
    pub watch: Option<WatchConfig>,
}

/// `check_definitions[]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDefinitionConfig {
    /// The definition's name.
    pub name: String,
    /// The module, relative to the repository root.
    pub file_path: String,
    /// Its parameters.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// The group it targets (a global check when absent).
    #[serde(default)]
    pub targets: Option<String>,
    /// The class to run (default `Check`).
    #[serde(default = "check_class")]
    pub class_name: String,
}

/// `generator_definitions[]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorDefinitionConfig {
    /// The definition's name.
    pub name: String,
    /// The module, relative to the repository root.
    pub file_path: String,
    /// The GraphQL query (of `queries`) it reads.
    pub query: String,
    /// The query variables, as attribute paths of each target.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// The group whose members each get a run.
    pub targets: String,
    /// The class to run (default `Generator`).
    #[serde(default = "generator_class")]
    pub class_name: String,
    /// Whether the query's answer is handed over as SDK nodes.
    #[serde(default)]
    pub convert_query_response: bool,
    /// Whether it runs as a check of proposed changes (default true).
    #[serde(default = "yes")]
    pub execute_in_proposed_change: bool,
    /// Whether it runs after a merge (default true).
    #[serde(default = "yes")]
    pub execute_after_merge: bool,
    /// Extra files it depends on.
    #[serde(default)]
    pub watch: Option<WatchConfig>,
}

/// `queries[]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// The query's name.
    pub name: String,
    /// The `.gql` file, relative to the repository root.
    pub file_path: String,
}

/// `graphql_fragments[]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FragmentConfig {
    /// A name for the fragment file or directory.
    pub name: String,
    /// A `.gql` file or a directory of them, relative to the repository root.
    pub file_path: String,
}

fn transform_class() -> String {
    "Transform".to_owned()
}

fn check_class() -> String {
    "Check".to_owned()
}

fn generator_class() -> String {
    "Generator".to_owned()
}

fn yes() -> bool {
    true
}

/// A repository's `.infrahub.yml`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Schema files or directories.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Menu files.
    #[serde(default)]
    pub menus: Vec<String>,
    /// Object files.
    #[serde(default)]
    pub objects: Vec<String>,
    /// GraphQL queries.
    #[serde(default)]
    pub queries: Vec<QueryConfig>,
    /// GraphQL fragment files.
    #[serde(default)]
    pub graphql_fragments: Vec<FragmentConfig>,
    /// Jinja2 transforms.
    #[serde(default)]
    pub jinja2_transforms: Vec<Jinja2TransformConfig>,
    /// Python transforms.
    #[serde(default)]
    pub python_transforms: Vec<PythonTransformConfig>,
    /// Artifact definitions.
    #[serde(default)]
    pub artifact_definitions: Vec<ArtifactDefinitionConfig>,
    /// Check definitions.
    #[serde(default)]
    pub check_definitions: Vec<CheckDefinitionConfig>,
    /// Generator definitions.
    #[serde(default)]
    pub generator_definitions: Vec<GeneratorDefinitionConfig>,
}

impl RepositoryConfig {
    /// Parses the manifest `text` of file `file` (its name in the repository, for errors).
    ///
    /// # Errors
    ///
    /// [`ManifestError`] for a file over [`MAX_MANIFEST_BYTES`], YAML that does not parse, a
    /// key the SDK does not know, a missing required key, a value of the wrong type, two items
    /// of one list with one name, or a path that is absolute or leaves the repository.
    ///
    /// # Examples
    ///
    /// ```
    /// use infrahub_git::manifest::RepositoryConfig;
    ///
    /// let config = RepositoryConfig::from_yaml(
    ///     "queries:\n  - {name: devices, file_path: queries/devices.gql}\n",
    ///     ".infrahub.yml",
    /// )
    /// .unwrap();
    /// assert_eq!(config.queries[0].name, "devices");
    /// let error = RepositoryConfig::from_yaml("queries:\n  - {name: x, file_path: ../x.gql}\n", ".infrahub.yml")
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("outside the repository"));
    /// ```
    pub fn from_yaml(text: &str, file: &str) -> Result<RepositoryConfig, ManifestError> {
        let error = |line: Option<usize>, path: Option<String>, message: String| ManifestError {
            file: file.to_owned(),
            line,
            path,
            message,
        };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(error(
                None,
                None,
                format!(
                    "the file holds {} bytes, more than the {MAX_MANIFEST_BYTES} read",
                    text.len()
                ),
            ));
        }
        if text.trim().is_empty() {
            return Ok(RepositoryConfig::default());
        }
        let deserializer = serde_norway::Deserializer::from_str(text);
        let config: RepositoryConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let line = inner.location().map(|l| l.line());
                let message = inner.to_string();
                // The YAML error repeats its position at the end: keep the message itself.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                // ... and may start with its own spelling of the key path: the path is given
                // separately.
                let message = match message.split_once(": ") {
                    Some((head, rest)) if !head.is_empty() && !head.contains(' ') => {
                        rest.to_owned()
                    }
                    _ => message,
                };
                error(line, (path != ".").then_some(path), message)
            })?;
        config.check(file)?;
        Ok(config)
    }

    /// Every path the manifest names (for the import and for watching), in order.
    pub fn paths(&self) -> Vec<(String, &str)> {
        let mut paths: Vec<(String, &str)> = Vec::new();
        fn add<'a>(paths: &mut Vec<(String, &'a str)>, key: String, path: &'a str) {
            paths.push((key, path));
        }
        for (i, p) in self.schemas.iter().enumerate() {
            add(&mut paths, format!("schemas[{i}]"), p);
        }
        for (i, p) in self.menus.iter().enumerate() {
            add(&mut paths, format!("menus[{i}]"), p);
        }
        for (i, p) in self.objects.iter().enumerate() {
            add(&mut paths, format!("objects[{i}]"), p);
        }
        for (i, q) in self.queries.iter().enumerate() {
            add(&mut paths, format!("queries[{i}].file_path"), &q.file_path);
        }
        for (i, f) in self.graphql_fragments.iter().enumerate() {
            add(
                &mut paths,
                format!("graphql_fragments[{i}].file_path"),
                &f.file_path,
            );
        }
        for (i, t) in self.jinja2_transforms.iter().enumerate() {
            add(
                &mut paths,
                format!("jinja2_transforms[{i}].template_path"),
                &t.template_path,
            );
            for (j, w) in t.watch.iter().flat_map(|w| &w.files).enumerate() {
                add(
                    &mut paths,
                    format!("jinja2_transforms[{i}].watch.files[{j}]"),
                    w,
                );
            }
        }
        for (i, t) in self.python_transforms.iter().enumerate() {
            add(
                &mut paths,
                format!("python_transforms[{i}].file_path"),
                &t.file_path,
            );
            for (j, w) in t.watch.iter().flat_map(|w| &w.files).enumerate() {
                add(
                    &mut paths,
                    format!("python_transforms[{i}].watch.files[{j}]"),
                    w,
                );
            }
        }
        for (i, c) in self.check_definitions.iter().enumerate() {
            add(
                &mut paths,
                format!("check_definitions[{i}].file_path"),
                &c.file_path,
            );
        }
        for (i, g) in self.generator_definitions.iter().enumerate() {
            add(
                &mut paths,
                format!("generator_definitions[{i}].file_path"),
                &g.file_path,
            );
            for (j, w) in g.watch.iter().flat_map(|w| &w.files).enumerate() {
                add(
                    &mut paths,
                    format!("generator_definitions[{i}].watch.files[{j}]"),
                    w,
                );
            }
        }
        paths
    }

    /// The Jinja2 transform named `name`.
    pub fn jinja2_transform(&self, name: &str) -> Option<&Jinja2TransformConfig> {
        self.jinja2_transforms.iter().find(|t| t.name == name)
    }

    /// The Python transform named `name`.
    pub fn python_transform(&self, name: &str) -> Option<&PythonTransformConfig> {
        self.python_transforms.iter().find(|t| t.name == name)
    }

    /// The query named `name`.
    pub fn query(&self, name: &str) -> Option<&QueryConfig> {
        self.queries.iter().find(|q| q.name == name)
    }

    fn check(&self, file: &str) -> Result<(), ManifestError> {
        let error = |path: String, message: String| ManifestError {
            file: file.to_owned(),
            line: None,
            path: Some(path),
            message,
        };
        let lists: [(&str, Vec<&str>); 7] = [
            (
                "queries",
                self.queries.iter().map(|q| q.name.as_str()).collect(),
            ),
            (
                "graphql_fragments",
                self.graphql_fragments
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
            (
                "jinja2_transforms",
                self.jinja2_transforms
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
            (
                "python_transforms",
                self.python_transforms
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
            (
                "artifact_definitions",
                self.artifact_definitions
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
            (
                "check_definitions",
                self.check_definitions
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
            (
                "generator_definitions",
                self.generator_definitions
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect(),
            ),
        ];
        for (key, names) in lists {
            let mut seen = BTreeSet::new();
            let duplicates: BTreeSet<&str> =
                names.iter().copied().filter(|n| !seen.insert(*n)).collect();
            if !duplicates.is_empty() {
                return Err(error(
                    key.to_owned(),
                    format!(
                        "found multiple elements with the same names: {}",
                        duplicates.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
                return Err(error(
                    format!("{key}[{i}].name"),
                    "must not be empty".to_owned(),
                ));
            }
        }
        for (key, path) in self.paths() {
            if let Some(problem) = path_problem(path) {
                return Err(error(key, format!("`{path}` {problem}")));
            }
        }
        Ok(())
    }
}

/// Why `path` cannot name a file of the repository, if it cannot.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.contains('\0') {
        return Some("holds a NUL character");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some("is absolute: paths are relative to the repository root");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Some("leads outside the repository");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
schemas:
  - schemas/
menus:
  - menus/main.yml
objects:
  - objects/sites.yml
queries:
  - name: device_info
    file_path: queries/device_info.gql
graphql_fragments:
  - {name: common, file_path: fragments}
jinja2_transforms:
  - name: startup
    description: Startup configuration
    query: device_info
    template_path: templates/startup.j2
    watch: {files: [templates/partials]}
python_transforms:
  - name: topology
    file_path: transforms/topology.py
    watch: {files: []}
artifact_definitions:
  - name: startup-config
    artifact_name: startup
    parameters: {device: name__value}
    content_type: text/plain
    targets: edge_routers
    transformation: startup
check_definitions:
  - name: backbone
    file_path: checks/backbone.py
generator_definitions:
  - name: fabric
    file_path: generators/fabric.py
    query: device_info
    targets: fabrics
    parameters: {name: name__value}
    execute_after_merge: false
"#;

    #[test]
    fn every_key_parses_with_the_sdk_defaults() {
        let config = RepositoryConfig::from_yaml(FULL, ".infrahub.yml").unwrap();
        assert_eq!(config.schemas, ["schemas/"]);
        assert_eq!(
            config.query("device_info").unwrap().file_path,
            "queries/device_info.gql"
        );
        let jinja = config.jinja2_transform("startup").unwrap();
        assert_eq!(jinja.watch.as_ref().unwrap().files, ["templates/partials"]);
        let python = config.python_transform("topology").unwrap();
        assert_eq!(python.class_name, "Transform");
        assert!(!python.convert_query_response);
        assert_eq!(config.check_definitions[0].class_name, "Check");
        assert!(config.check_definitions[0].targets.is_none());
        let generator = &config.generator_definitions[0];
        assert_eq!(generator.class_name, "Generator");
        assert!(generator.execute_in_proposed_change);
        assert!(!generator.execute_after_merge);
        assert_eq!(
            config.artifact_definitions[0].parameters["device"],
            "name__value"
        );
        assert_eq!(config.paths().len(), 10);
        assert_eq!(
            RepositoryConfig::from_yaml("", ".infrahub.yml").unwrap(),
            RepositoryConfig::default()
        );
    }

    #[test]
    fn refusals_name_the_file_line_and_key() {
        let cases: [(&str, &str); 9] = [
            (
                "queries:\n  - name: q\n    file_path: a.gql\n    extra: 1\n",
                ".infrahub.yml:4: `queries[0].extra`: unknown field `extra`",
            ),
            (
                "jinja2_transforms:\n  - name: t\n    query: q\n",
                ".infrahub.yml:2: `jinja2_transforms[0]`: missing field `template_path`",
            ),
            (
                "unknown_key: []\n",
                ".infrahub.yml:1: `unknown_key`: unknown field `unknown_key`",
            ),
            ("queries: yes\n", ".infrahub.yml:1: `queries`: invalid type"),
            (
                "queries:\n  - {name: q, file_path: a.gql}\n  - {name: q, file_path: b.gql}\n",
                ".infrahub.yml: `queries`: found multiple elements with the same names: q",
            ),
            (
                "schemas: [/etc/passwd]\n",
                ".infrahub.yml: `schemas[0]`: `/etc/passwd` is absolute",
            ),
            (
                "objects: [data/../../secret.yml]\n",
                ".infrahub.yml: `objects[0]`: `data/../../secret.yml` leads outside the repository",
            ),
            (
                "python_transforms:\n  - {name: t, file_path: t.py, watch: {files: ['..']}}\n",
                ".infrahub.yml: `python_transforms[0].watch.files[0]`: `..` leads outside",
            ),
            ("queries: [\n", ".infrahub.yml"),
        ];
        for (text, expected) in cases {
            let error = RepositoryConfig::from_yaml(text, ".infrahub.yml").unwrap_err();
            assert!(error.to_string().starts_with(expected), "{text:?}: {error}");
        }
        let big = "#".repeat(MAX_MANIFEST_BYTES + 1);
        let error = RepositoryConfig::from_yaml(&big, ".infrahub.yml").unwrap_err();
        assert!(error.message.contains("more than"), "{error}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        text.push_str("schemas: *a11\n");
        // 10^12 items if aliases were expanded without a limit.
        assert!(RepositoryConfig::from_yaml(&text, ".infrahub.yml").is_err());
    }
}
