//! An offline validator of Infrahub schema files and object files (the files
//! `infrahubctl schema load` and `infrahubctl object load` take), built on `infrahub-core`
//! alone: no server, no database. Schema files are parsed, checked and processed on top of the
//! built-in core schema exactly as a server's schema load would; object files are then checked
//! against the resulting schema: the kind exists and can be created, every field is an
//! attribute or relationship of it, values pass their attribute's rules (kind, format,
//! constraints), mandatory fields are given, references have the shape their relationship
//! takes, nested objects are valid for their peer kind, and unique values do not repeat within
//! the files. Errors name the file, the document and the path of the field.
//!
//! ```text
//! cargo run -p example-validate -- schema/*.yml objects/*.yml
//! ```
//!
//! Files are told apart by their content: a document with `kind: Object` is an object file,
//! anything else a schema file. The exit status is 1 when anything is invalid.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use infrahub_core::schema::{
    Cardinality, ModelSchema, ProcessOptions, SchemaBranch, SchemaFile, check_namespaces,
    core_schema,
};
use infrahub_core::value::check_value;
use serde_json::Value;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: example-validate FILE...   (schema files and object files)");
        return ExitCode::from(2);
    }
    match run(&paths) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            println!("{} problem(s)", problems.len());
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::from(2)
        }
    }
}

/// Validates the files at `paths`; returns the problems found.
fn run(paths: &[String]) -> anyhow::Result<Vec<String>> {
    let mut schema_files = Vec::new();
    let mut object_files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        if is_object_file(&text) {
            object_files.push((path.clone(), text));
        } else {
            schema_files.push((path.clone(), text));
        }
    }
    let (schema, mut problems) = load_schema(&schema_files)?;
    if let Some(schema) = schema {
        let (nodes, generics, _, _) = schema.counts();
        println!(
            "schema: {} file(s), {nodes} nodes and {generics} generics with the core schema",
            schema_files.len()
        );
        let mut checker = ObjectChecker::new(&schema);
        for (path, text) in &object_files {
            checker.check_file(path, text);
        }
        println!(
            "objects: {} file(s), {} object(s)",
            object_files.len(),
            checker.objects
        );
        problems.extend(checker.problems);
    }
    Ok(problems)
}

/// Whether `text` holds object documents (`kind: Object`).
fn is_object_file(text: &str) -> bool {
    text.lines()
        .any(|line| line.trim_end() == "kind: Object" || line.trim_end() == "kind: \"Object\"")
}

/// Parses, checks and processes the schema files on top of the core schema; the schema, or the
/// problems that stopped it.
fn load_schema(files: &[(String, String)]) -> anyhow::Result<(Option<SchemaBranch>, Vec<String>)> {
    let options = ProcessOptions::default();
    let core = core_schema(&options).map_err(|errors| anyhow::anyhow!(join(&errors)))?;
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for (path, text) in files {
        match SchemaFile::from_yaml(text, Some(path)) {
            Ok(file) => match check_namespaces(&file) {
                Ok(()) => parsed.push(file),
                Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
            },
            Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        }
    }
    if !problems.is_empty() {
        return Ok((None, problems));
    }
    if parsed.is_empty() {
        return Ok((Some(core), problems));
    }
    let merged = match SchemaFile::merge(parsed) {
        Ok(merged) => merged,
        Err(errors) => return Ok((None, errors.iter().map(ToString::to_string).collect())),
    };
    match core.with_file(&merged, &options) {
        Ok(schema) => Ok((Some(schema), problems)),
        Err(errors) => Ok((None, errors.iter().map(ToString::to_string).collect())),
    }
}

fn join(errors: &[infrahub_core::schema::SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks object documents against a processed schema.
struct ObjectChecker<'s> {
    schema: &'s SchemaBranch,
    problems: Vec<String>,
    /// Values of unique attributes seen, by kind and attribute, with where.
    unique: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Objects checked.
    objects: usize,
}

impl<'s> ObjectChecker<'s> {
    fn new(schema: &'s SchemaBranch) -> Self {
        ObjectChecker {
            schema,
            problems: Vec::new(),
            unique: BTreeMap::new(),
            objects: 0,
        }
    }

    fn problem(&mut self, at: &str, message: impl std::fmt::Display) {
        self.problems.push(format!("{at}: {message}"));
    }

    /// Checks every document of the object file `path`.
    fn check_file(&mut self, path: &str, text: &str) {
        for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
            let at = format!("{path}: document {}", index + 1);
            let value = match <Value as serde::Deserialize>::deserialize(document) {
                Ok(value) => value,
                Err(error) => {
                    self.problem(&at, format_args!("not a valid YAML document: {error}"));
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            self.check_document(&at, &value);
        }
    }

    fn check_document(&mut self, at: &str, document: &Value) {
        let api_version = document.get("apiVersion").and_then(Value::as_str);
        if api_version != Some("infrahub.app/v1") {
            self.problem(at, "`apiVersion` must be `infrahub.app/v1`");
        }
        if document.get("kind").and_then(Value::as_str) != Some("Object") {
            // Other kinds of documents (menus, ...) are not object files' business here.
            return;
        }
        let Some(spec) = document.get("spec") else {
            return self.problem(at, "an object document needs a `spec`");
        };
        let Some(kind) = spec.get("kind").and_then(Value::as_str) else {
            return self.problem(&format!("{at}: spec"), "`kind` is required");
        };
        let Some(model) = self.creatable(&format!("{at}: spec.kind"), kind) else {
            return;
        };
        match spec.get("data") {
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    self.check_object(&format!("{at}: spec.data[{index}]"), model, item, None);
                }
            }
            _ => self.problem(&format!("{at}: spec.data"), "must be a list of objects"),
        }
    }

    /// The model of `kind` if objects of it can be created.
    fn creatable(&mut self, at: &str, kind: &str) -> Option<&'s ModelSchema> {
        let Some(model) = self.schema.get(kind) else {
            self.problem(at, format_args!("`{kind}` is not a kind of the schema"));
            return None;
        };
        if model.is_generic() {
            self.problem(
                at,
                format_args!(
                    "`{kind}` is a generic: use one of the kinds that inherit it ({})",
                    model.used_by.join(", ")
                ),
            );
            return None;
        }
        Some(model)
    }

    /// Checks one object of `model`; `given_by_parent` is the relationship a parent object
    /// sets (a nested object need not give it).
    fn check_object(
        &mut self,
        at: &str,
        model: &'s ModelSchema,
        object: &Value,
        given_by_parent: Option<&str>,
    ) {
        let Value::Object(fields) = object else {
            return self.problem(at, "an object must be a mapping of field names to values");
        };
        self.objects += 1;
        for (name, value) in fields {
            let field_at = format!("{at}.{name}");
            if let Some(attribute) = model.attribute(name) {
                let value = match value {
                    Value::Object(map) if map.contains_key("value") => &map["value"],
                    other => other,
                };
                if attribute.read_only {
                    self.problem(&field_at, "is read-only");
                } else if let Err(error) = check_value(attribute, value) {
                    self.problem(&field_at, error);
                }
                if attribute.unique && !value.is_null() {
                    let key = (model.kind(), attribute.name.clone());
                    let text = value.to_string();
                    let seen = self.unique.entry(key).or_default();
                    if let Some(first) = seen.get(&text) {
                        let first = first.clone();
                        self.problem(
                            &field_at,
                            format_args!("{text} is unique and already given at {first}"),
                        );
                    } else {
                        seen.insert(text, field_at.clone());
                    }
                }
            } else if let Some(relationship) = model.relationship(name) {
                if relationship.read_only {
                    self.problem(&field_at, "is read-only");
                    continue;
                }
                let peer = relationship.peer.clone();
                let back = self.back_relationship(model, &peer, relationship.identifier.as_deref());
                self.check_relationship(&field_at, &peer, relationship.cardinality, value, back);
            } else {
                let fields: Vec<&str> = model
                    .attribute_names()
                    .chain(model.relationship_names())
                    .collect();
                self.problem(
                    &field_at,
                    format_args!(
                        "`{name}` is not a field of {}; fields: {}",
                        model.kind(),
                        fields.join(", ")
                    ),
                );
            }
        }
        for attribute in &model.attributes {
            if !attribute.optional
                && attribute.default_value.is_none()
                && !attribute.read_only
                && !fields.contains_key(&attribute.name)
            {
                self.problem(at, format_args!("`{}` is mandatory", attribute.name));
            }
        }
        for relationship in &model.relationships {
            if !relationship.optional
                && !relationship.read_only
                && Some(relationship.name.as_str()) != given_by_parent
                && !fields.contains_key(&relationship.name)
            {
                self.problem(at, format_args!("`{}` is mandatory", relationship.name));
            }
        }
    }

    /// The name of the relationship of `peer` that links back to `model` through the link
    /// `identifier` (what a parent sets on the objects nested under it).
    fn back_relationship(
        &self,
        model: &ModelSchema,
        peer: &str,
        identifier: Option<&str>,
    ) -> Option<String> {
        let peer = self.schema.get(peer)?;
        let kind = model.kind();
        peer.relationships
            .iter()
            .find(|r| {
                r.identifier.as_deref() == identifier
                    && identifier.is_some()
                    && (r.peer == kind || model.inherit_from.contains(&r.peer))
            })
            .map(|r| r.name.clone())
    }

    /// Checks a relationship's value: references (ids or human-friendly ids) or nested
    /// objects of the peer kind under `data`.
    fn check_relationship(
        &mut self,
        at: &str,
        peer: &str,
        cardinality: Cardinality,
        value: &Value,
        back: Option<String>,
    ) {
        let peer_model = self.schema.get(peer);
        let nested = |checker: &mut Self, at: &str, object: &Value, kind: Option<&str>| {
            let kind = kind.unwrap_or(peer);
            if let Some(model) = checker.creatable(at, kind) {
                checker.check_object(at, model, object, back.as_deref());
            }
        };
        match (cardinality, value) {
            (_, Value::Null) => {}
            (Cardinality::One, Value::String(_)) => {}
            (Cardinality::One, Value::Array(parts)) => {
                self.check_hfid(at, peer_model, parts);
            }
            (_, Value::Object(map)) if map.contains_key("data") => {
                let kind = map.get("kind").and_then(Value::as_str);
                match (&map["data"], cardinality) {
                    (Value::Array(items), Cardinality::Many) => {
                        for (index, item) in items.iter().enumerate() {
                            nested(self, &format!("{at}.data[{index}]"), item, kind);
                        }
                    }
                    (object @ Value::Object(_), Cardinality::One) => {
                        nested(self, &format!("{at}.data"), object, kind);
                    }
                    _ => self.problem(
                        &format!("{at}.data"),
                        match cardinality {
                            Cardinality::One => "must be one object",
                            Cardinality::Many => "must be a list of objects",
                        },
                    ),
                }
            }
            (Cardinality::Many, Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let item_at = format!("{at}[{index}]");
                    match item {
                        Value::String(_) => {}
                        Value::Array(parts) => self.check_hfid(&item_at, peer_model, parts),
                        Value::Object(map) if map.contains_key("data") => {
                            let kind = map.get("kind").and_then(Value::as_str);
                            nested(self, &format!("{item_at}.data"), &map["data"], kind);
                        }
                        _ => self.problem(
                            &item_at,
                            "must be an id, a human-friendly id or `{data: ...}`",
                        ),
                    }
                }
            }
            (Cardinality::One, _) => self.problem(
                at,
                "must be an id, a human-friendly id (a list of its parts) or `{data: {...}}`",
            ),
            (Cardinality::Many, _) => {
                self.problem(at, "must be a list of references or `{data: [...]}`")
            }
        }
    }

    /// Checks that a human-friendly id given as a list has as many parts as the peer's.
    fn check_hfid(&mut self, at: &str, peer: Option<&ModelSchema>, parts: &[Value]) {
        let Some(peer) = peer else { return };
        match &peer.human_friendly_id {
            Some(paths) if paths.len() != parts.len() => self.problem(
                at,
                format_args!(
                    "the human-friendly id of {} has {} part(s) ({}), {} given",
                    peer.kind(),
                    paths.len(),
                    paths.join(", "),
                    parts.len()
                ),
            ),
            None if !peer.is_generic() => self.problem(
                at,
                format_args!(
                    "{} has no human-friendly id: refer to it by id",
                    peer.kind()
                ),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
version: "1.0"
nodes:
  - name: Site
    namespace: Demo
    human_friendly_id: [name__value]
    attributes:
      - name: name
        kind: Text
        unique: true
    relationships:
      - name: devices
        peer: DemoDevice
        cardinality: many
        kind: Component
        identifier: site__devices
  - name: Device
    namespace: Demo
    human_friendly_id: [name__value]
    attributes:
      - name: name
        kind: Text
        unique: true
      - name: address
        kind: IPHost
        optional: true
    relationships:
      - name: site
        peer: DemoSite
        cardinality: one
        optional: false
        kind: Parent
        identifier: site__devices
"#;

    fn problems(objects: &str) -> Vec<String> {
        let (schema, problems) =
            load_schema(&[("schema.yml".into(), SCHEMA.into())]).unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
        let schema = schema.unwrap_or_else(|| panic!("no schema"));
        let mut checker = ObjectChecker::new(&schema);
        checker.check_file("objects.yml", objects);
        checker.problems
    }

    #[test]
    fn valid_objects_pass_with_references_and_nested_objects() {
        let found = problems(
            r#"---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: DemoSite
  data:
    - name: paris
      devices:
        data:
          - name: paris-1
            address: 10.0.0.1/24
    - name: berlin
---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: DemoDevice
  data:
    - name: berlin-1
      site: berlin
    - name: berlin-2
      site: [berlin]
"#,
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn each_problem_is_named_with_its_place() {
        let found = problems(
            r#"---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: DemoDevice
  data:
    - name: d1
      address: not-an-ip
      colour: red
    - name: d1
      site: [a, b]
---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: DemoNowhere
  data: []
"#,
        );
        let expect = [
            "objects.yml: document 1: spec.data[0].address:",
            "objects.yml: document 1: spec.data[0].colour: `colour` is not a field of DemoDevice",
            "objects.yml: document 1: spec.data[0]: `site` is mandatory",
            "objects.yml: document 1: spec.data[1].name: \"d1\" is unique and already given",
            "objects.yml: document 1: spec.data[1].site: the human-friendly id of DemoSite has 1 part(s)",
            "objects.yml: document 2: spec.kind: `DemoNowhere` is not a kind of the schema",
        ];
        for wanted in expect {
            assert!(
                found.iter().any(|p| p.starts_with(wanted)),
                "missing {wanted:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }

    #[test]
    fn a_broken_schema_file_stops_before_the_objects() {
        let (schema, problems) = load_schema(&[(
            "bad.yml".into(),
            "version: \"1.0\"\nnodes:\n  - name: x\n    namespace: Demo\n".into(),
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(schema.is_none());
        assert!(
            problems.iter().any(|p| p.contains("bad.yml")),
            "{problems:?}"
        );
    }
}
