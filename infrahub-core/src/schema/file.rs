//! Schema files: parsing YAML or JSON into models, with every problem located by file and
//! element path, and merging several files into one.

use serde::Deserialize;
use serde_json::Value;

use super::attribute::AttributeSchema;
use super::error::SchemaError;
use super::model::{GENERIC_FIELDS, ModelCategory, ModelSchema, NODE_FIELDS};
use super::relationship::RelationshipSchema;
use super::validate;

/// The content of one schema file (or the merge of several): `version`, `generics`, `nodes`
/// and `extensions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchemaFile {
    /// Name of the file or payload the content came from, used in error messages.
    pub source: Option<String>,
    /// Format version (`"1.0"`); required by `/api/schema/load`.
    pub version: Option<String>,
    /// Generic definitions.
    pub generics: Vec<ModelSchema>,
    /// Node definitions.
    pub nodes: Vec<ModelSchema>,
    /// Attributes and relationships added to existing nodes.
    pub extensions: Vec<NodeExtension>,
    /// Where each model came from: (kind, element path) pairs, for error messages.
    pub(crate) origins: Vec<Origin>,
}

/// Attributes and relationships to add to an existing node (`extensions.nodes[]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeExtension {
    /// Kind of the node to extend.
    pub kind: String,
    /// Attributes to add.
    #[serde(default)]
    pub attributes: Vec<AttributeSchema>,
    /// Relationships to add.
    #[serde(default)]
    pub relationships: Vec<RelationshipSchema>,
}

/// Where an element of a loaded schema came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) file: Option<String>,
    pub(crate) kind: String,
    /// `nodes[3]`, `generics[0]` or `extensions.nodes[2]`.
    pub(crate) path: String,
    /// Attribute names in file order.
    pub(crate) attributes: Vec<String>,
    /// Relationship names in file order.
    pub(crate) relationships: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    generics: Option<Vec<ModelSchema>>,
    #[serde(default)]
    nodes: Option<Vec<ModelSchema>>,
    #[serde(default)]
    extensions: Option<RawExtensions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensions {
    #[serde(default)]
    nodes: Vec<NodeExtension>,
}

impl SchemaFile {
    /// Parses a YAML document (JSON is valid YAML too). `source` names the file in errors.
    pub fn from_yaml(text: &str, source: Option<&str>) -> Result<SchemaFile, Vec<SchemaError>> {
        let value: Value = serde_norway::from_str(text).map_err(|err| {
            vec![SchemaError::new(
                source,
                "",
                format!("not a valid YAML document: {err}"),
            )]
        })?;
        SchemaFile::from_value(value, source)
    }

    /// Parses a JSON document. `source` names the file in errors.
    pub fn from_json(text: &str, source: Option<&str>) -> Result<SchemaFile, Vec<SchemaError>> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            vec![SchemaError::new(
                source,
                "",
                format!("not a valid JSON document: {err}"),
            )]
        })?;
        SchemaFile::from_value(value, source)
    }

    /// Parses a document already decoded into a JSON value (e.g. one entry of the `schemas`
    /// list of `/api/schema/load`).
    pub fn from_value(value: Value, source: Option<&str>) -> Result<SchemaFile, Vec<SchemaError>> {
        let mut errors = Vec::new();
        check_keys(&value, source, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let raw: RawFile = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![SchemaError::new(source, path, err.into_inner().to_string())]
        })?;
        let version = match raw.version {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) => Some(v),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(vec![SchemaError::new(
                    source,
                    "version",
                    format!("must be a string like \"1.0\", not {other}"),
                )]);
            }
        };
        let mut file = SchemaFile {
            source: source.map(str::to_string),
            version,
            generics: raw.generics.unwrap_or_default(),
            nodes: raw.nodes.unwrap_or_default(),
            extensions: raw.extensions.map(|e| e.nodes).unwrap_or_default(),
            origins: Vec::new(),
        };
        for (list, category, prefix) in [
            (&mut file.nodes, ModelCategory::Node, "nodes"),
            (&mut file.generics, ModelCategory::Generic, "generics"),
        ] {
            for (index, model) in list.iter_mut().enumerate() {
                model.category = category;
                for attribute in &mut model.attributes {
                    attribute.reconcile_parameters();
                }
                file.origins
                    .push(Origin::of(source, &format!("{prefix}[{index}]"), model));
            }
        }
        for (index, extension) in file.extensions.iter_mut().enumerate() {
            for attribute in &mut extension.attributes {
                attribute.reconcile_parameters();
            }
            file.origins.push(Origin {
                file: source.map(str::to_string),
                kind: extension.kind.clone(),
                path: format!("extensions.nodes[{index}]"),
                attributes: extension
                    .attributes
                    .iter()
                    .map(|a| a.name.clone())
                    .collect(),
                relationships: extension
                    .relationships
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
            });
        }
        validate::validate_file(&file, &mut errors);
        if errors.is_empty() {
            Ok(file)
        } else {
            Err(errors)
        }
    }

    /// Merges several files into one, as upstream does before a load: the lists of generics,
    /// nodes and extensions are concatenated in order (exact duplicates dropped); versions
    /// must agree.
    pub fn merge(files: Vec<SchemaFile>) -> Result<SchemaFile, Vec<SchemaError>> {
        let mut merged = SchemaFile::default();
        let mut sources = Vec::new();
        for file in files {
            if let Some(source) = &file.source {
                sources.push(source.clone());
            }
            match (&merged.version, &file.version) {
                (Some(a), Some(b)) if a != b => {
                    return Err(vec![SchemaError::new(
                        file.source.as_deref(),
                        "version",
                        format!("version `{b}` conflicts with `{a}` of an earlier file"),
                    )]);
                }
                (None, Some(_)) => merged.version = file.version.clone(),
                _ => {}
            }
            for generic in file.generics {
                if !merged.generics.contains(&generic) {
                    merged.generics.push(generic);
                }
            }
            for node in file.nodes {
                if !merged.nodes.contains(&node) {
                    merged.nodes.push(node);
                }
            }
            for extension in file.extensions {
                if !merged.extensions.contains(&extension) {
                    merged.extensions.push(extension);
                }
            }
            merged.origins.extend(file.origins);
        }
        if !sources.is_empty() {
            merged.source = Some(sources.join(", "));
        }
        Ok(merged)
    }

    /// Number of generics, nodes and extensions in the file.
    pub fn len(&self) -> usize {
        self.generics.len() + self.nodes.len() + self.extensions.len()
    }

    /// Whether the file defines nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Origin {
    fn of(file: Option<&str>, path: &str, model: &ModelSchema) -> Origin {
        Origin {
            file: file.map(str::to_string),
            kind: model.kind(),
            path: path.to_string(),
            attributes: model.attributes.iter().map(|a| a.name.clone()).collect(),
            relationships: model.relationships.iter().map(|r| r.name.clone()).collect(),
        }
    }
}

/// Rejects keys a model does not accept, naming the ones allowed. Nested elements (attributes,
/// relationships, parameters, choices) are checked by their deserializers.
fn check_keys(value: &Value, source: Option<&str>, errors: &mut Vec<SchemaError>) {
    let Value::Object(root) = value else {
        errors.push(SchemaError::new(
            source,
            "",
            "a schema file must be a mapping with `version`, `generics`, `nodes` or `extensions`",
        ));
        return;
    };
    for key in root.keys() {
        if !["version", "generics", "nodes", "extensions"].contains(&key.as_str()) {
            errors.push(SchemaError::new(
                source,
                key.clone(),
                "unknown top-level key (allowed: version, generics, nodes, extensions)",
            ));
        }
    }
    for (list, allowed) in [("nodes", NODE_FIELDS), ("generics", GENERIC_FIELDS)] {
        let Some(Value::Array(items)) = root.get(list) else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            let Value::Object(fields) = item else {
                continue;
            };
            for key in fields.keys() {
                if !allowed.contains(&key.as_str()) {
                    errors.push(SchemaError::new(
                        source,
                        format!("{list}[{index}].{key}"),
                        format!("unknown field `{key}` (allowed: {})", allowed.join(", ")),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nodes_generics_and_extensions() {
        let text = r#"
version: "1.0"
generics:
  - name: Interface
    namespace: Infra
    attributes:
      - name: mtu
        kind: Number
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - name: name
        kind: Text
        regex: "^[a-z]"
extensions:
  nodes:
    - kind: BuiltinTag
      attributes:
        - name: color
          kind: Color
          optional: true
"#;
        let file = SchemaFile::from_yaml(text, Some("infra.yml")).unwrap_or_default();
        assert_eq!(file.version.as_deref(), Some("1.0"));
        assert_eq!(file.nodes[0].kind(), "InfraDevice");
        assert_eq!(file.nodes[0].category, ModelCategory::Node);
        assert_eq!(file.generics[0].category, ModelCategory::Generic);
        let params = file.nodes[0].attributes[0]
            .parameters
            .clone()
            .unwrap_or_default();
        assert_eq!(params.regex.as_deref(), Some("^[a-z]"));
        assert_eq!(file.extensions[0].kind, "BuiltinTag");
    }

    #[test]
    fn unknown_attribute_kind_names_the_path_and_allowed_values() {
        let text = "nodes:\n  - name: Device\n    namespace: Infra\n    attributes:\n      - name: name\n        kind: Txt\n";
        let errors = SchemaFile::from_yaml(text, Some("a.yml"))
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "nodes[0].attributes[0].kind");
        assert!(
            errors[0].message.contains("unknown variant `Txt`"),
            "{}",
            errors[0].message
        );
        assert!(errors[0].message.contains("Text"), "{}", errors[0].message);
        assert_eq!(errors[0].file.as_deref(), Some("a.yml"));
    }

    #[test]
    fn generic_only_field_on_a_node_is_rejected() {
        let text = "nodes:\n  - name: Device\n    namespace: Infra\n    hierarchical: true\n";
        let errors = SchemaFile::from_yaml(text, None).err().unwrap_or_default();
        assert_eq!(errors[0].path, "nodes[0].hierarchical");
        assert!(errors[0].message.contains("allowed:"));
    }

    #[test]
    fn unknown_attribute_field_is_rejected_with_its_path() {
        let text = "nodes:\n  - name: Device\n    namespace: Infra\n    attributes:\n      - name: name\n        kind: Text\n        colour: red\n";
        let errors = SchemaFile::from_yaml(text, None).err().unwrap_or_default();
        assert_eq!(errors[0].path, "nodes[0].attributes[0].colour");
        assert!(
            errors[0].message.contains("unknown field `colour`"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn yaml_syntax_errors_report_the_position() {
        let errors = SchemaFile::from_yaml("nodes: [", Some("bad.yml"))
            .err()
            .unwrap_or_default();
        assert!(
            errors[0]
                .to_string()
                .starts_with("bad.yml: not a valid YAML document")
        );
    }

    #[test]
    fn merging_concatenates_and_rejects_conflicting_versions() {
        let a = SchemaFile::from_yaml(
            "version: '1.0'\nnodes:\n  - {name: Device, namespace: Infra}\n",
            Some("a.yml"),
        );
        let b = SchemaFile::from_yaml(
            "version: '1.0'\nnodes:\n  - {name: Site, namespace: Infra}\n",
            Some("b.yml"),
        );
        let merged = SchemaFile::merge(vec![a.unwrap_or_default(), b.unwrap_or_default()])
            .unwrap_or_default();
        assert_eq!(merged.nodes.len(), 2);
        let c = SchemaFile::from_yaml("version: '2.0'\n", Some("c.yml")).unwrap_or_default();
        let err = SchemaFile::merge(vec![merged, c]).err().unwrap_or_default();
        assert!(err[0].message.contains("conflicts"));
    }
}
