//! The schema of one branch: every node, generic, profile and template after processing, with
//! the operations that load schema files into it.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::error::SchemaError;
use super::file::{Origin, SchemaFile};
use super::kinds::State;
use super::model::{ModelCategory, ModelSchema};
use super::process::{self, ProcessOptions};

/// The processed schema of one branch. Cheap to clone: models are shared until modified.
#[derive(Clone, Debug, Default)]
pub struct SchemaBranch {
    models: IndexMap<String, Arc<ModelSchema>>,
    pub(crate) origins: HashMap<String, Origin>,
}

impl SchemaBranch {
    /// An empty schema.
    pub fn new() -> Self {
        SchemaBranch::default()
    }

    /// The model of `kind`, whatever its category.
    pub fn get(&self, kind: &str) -> Option<&ModelSchema> {
        self.models.get(kind).map(Arc::as_ref)
    }

    /// The shared handle of the model of `kind`.
    pub fn get_shared(&self, kind: &str) -> Option<Arc<ModelSchema>> {
        self.models.get(kind).cloned()
    }

    /// Whether a model of `kind` exists.
    pub fn has(&self, kind: &str) -> bool {
        self.models.contains_key(kind)
    }

    /// Every model, in load order.
    pub fn models(&self) -> impl Iterator<Item = &ModelSchema> {
        self.models.values().map(Arc::as_ref)
    }

    /// The models of one category, in load order.
    pub fn models_of(&self, category: ModelCategory) -> impl Iterator<Item = &ModelSchema> {
        self.models().filter(move |m| m.category == category)
    }

    /// Kinds of one category, in load order.
    pub fn kinds_of(&self, category: ModelCategory) -> Vec<String> {
        self.models_of(category).map(ModelSchema::kind).collect()
    }

    /// Number of models of each category: (nodes, generics, profiles, templates).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |c| self.models_of(c).count();
        (
            count(ModelCategory::Node),
            count(ModelCategory::Generic),
            count(ModelCategory::Profile),
            count(ModelCategory::Template),
        )
    }

    /// Inserts or replaces a model.
    pub fn set(&mut self, model: ModelSchema) {
        let kind = model.kind();
        match self.models.get_mut(&kind) {
            Some(slot) => *slot = Arc::new(model),
            None => {
                self.models.insert(kind, Arc::new(model));
            }
        }
    }

    /// Removes the model of `kind`; returns it when it existed.
    pub fn remove(&mut self, kind: &str) -> Option<Arc<ModelSchema>> {
        self.origins.remove(kind);
        self.models.shift_remove(kind)
    }

    /// A mutable handle on the model of `kind`, copied first if shared.
    pub(crate) fn get_mut(&mut self, kind: &str) -> Option<&mut ModelSchema> {
        self.models.get_mut(kind).map(Arc::make_mut)
    }

    /// Loads the models of `file` into this schema without processing it, as upstream does:
    /// a model whose kind exists is merged into the existing one (see
    /// [`ModelSchema`](super::ModelSchema) update rules), a new kind is added, a model with
    /// `state: absent` is removed, and extensions add attributes and relationships to existing
    /// nodes.
    pub fn load(&mut self, file: &SchemaFile) -> Result<(), Vec<SchemaError>> {
        let mut errors = Vec::new();
        for origin in &file.origins {
            self.origins.insert(origin.kind.clone(), origin.clone());
        }
        for model in file.nodes.iter().chain(&file.generics) {
            let kind = model.kind();
            let existing_category = self.models.get(&kind).map(|m| m.category);
            match self.models.get_mut(&kind) {
                Some(_) if existing_category != Some(model.category) => {
                    let what = |c: Option<ModelCategory>| {
                        if c == Some(ModelCategory::Generic) {
                            "generic"
                        } else {
                            "node"
                        }
                    };
                    let message = format!(
                        "`{kind}` already exists as a {}; rename it or remove the existing one first",
                        what(existing_category)
                    );
                    errors.push(self.located(&kind, None, "name", message));
                }
                Some(existing) => Arc::make_mut(existing).update_from(model),
                None if model.state == State::Absent => {}
                None => {
                    let mut model = model.clone();
                    model.clear_empty_text();
                    self.models.insert(kind, Arc::new(model));
                }
            }
        }
        let absent: Vec<String> = self
            .models
            .iter()
            .filter(|(_, m)| m.state == State::Absent)
            .map(|(k, _)| k.clone())
            .collect();
        for kind in absent {
            self.remove(&kind);
        }
        for (index, extension) in file.extensions.iter().enumerate() {
            let Some(existing) = self.models.get_mut(&extension.kind) else {
                errors.push(SchemaError::new(
                    file.source.as_deref(),
                    format!("extensions.nodes[{index}].kind"),
                    format!(
                        "`{}` cannot be extended: no such node or generic exists",
                        extension.kind
                    ),
                ));
                continue;
            };
            let mut patch = ModelSchema::clone(existing);
            patch.attributes = extension.attributes.clone();
            patch.relationships = extension.relationships.clone();
            Arc::make_mut(existing).update_from(&patch);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Runs the processing pipeline (generated relationships, inheritance, hierarchy,
    /// profiles, templates, defaults) and validates the result.
    pub fn process(&mut self, options: &ProcessOptions) -> Result<(), Vec<SchemaError>> {
        process::run(self, options)
    }

    /// Loads `file` into a copy of this schema and processes it; this schema is unchanged when
    /// anything fails.
    pub fn with_file(
        &self,
        file: &SchemaFile,
        options: &ProcessOptions,
    ) -> Result<SchemaBranch, Vec<SchemaError>> {
        let mut candidate = self.clone();
        candidate.load(file)?;
        candidate.process(options)?;
        Ok(candidate)
    }

    /// Builds a [`SchemaError`] for the `index`-th element of `collection` (`attributes` or
    /// `relationships`) of `kind`, as written in its file.
    pub(crate) fn located_element(
        &self,
        kind: &str,
        collection: &str,
        index: usize,
        property: &str,
        message: String,
    ) -> SchemaError {
        let (file, base) = match self.origins.get(kind) {
            Some(origin) => (origin.file.as_deref(), origin.path.clone()),
            None => (None, kind.to_string()),
        };
        let mut path = format!("{base}.{collection}[{index}]");
        if !property.is_empty() {
            path.push('.');
            path.push_str(property);
        }
        SchemaError::new(file, path, format!("{kind}: {message}"))
    }

    /// Builds a [`SchemaError`] for `kind` (and one of its fields), located in the file the
    /// element came from when known.
    pub(crate) fn located(
        &self,
        kind: &str,
        field: Option<&str>,
        property: &str,
        message: String,
    ) -> SchemaError {
        let Some(origin) = self.origins.get(kind) else {
            let mut path = match field {
                Some(field) => format!("{kind}.{field}"),
                None => kind.to_string(),
            };
            if !property.is_empty() {
                path.push('.');
                path.push_str(property);
            }
            return SchemaError::new(None, path, format!("{kind}: {message}"));
        };
        let mut path = origin.path.clone();
        if let Some(field) = field {
            if let Some(i) = origin.attributes.iter().position(|a| a == field) {
                path.push_str(&format!(".attributes[{i}]"));
            } else if let Some(i) = origin.relationships.iter().position(|r| r == field) {
                path.push_str(&format!(".relationships[{i}]"));
            } else {
                path.push_str(&format!(".{field}"));
            }
        }
        if !property.is_empty() {
            path.push('.');
            path.push_str(property);
        }
        SchemaError::new(origin.file.as_deref(), path, format!("{kind}: {message}"))
    }
}

/// One model in a stored snapshot, with its category.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotEntry {
    category: ModelCategory,
    #[serde(flatten)]
    model: ModelSchema,
}

impl SchemaBranch {
    /// The processed schema as one JSON document, for storage.
    pub fn to_snapshot(&self) -> serde_json::Value {
        let entries: Vec<SnapshotEntry> = self
            .models()
            .map(|model| SnapshotEntry {
                category: model.category,
                model: model.clone(),
            })
            .collect();
        serde_json::to_value(entries).unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds a processed schema from [`SchemaBranch::to_snapshot`].
    ///
    /// # Errors
    ///
    /// An `Internal` [`crate::Error`] when the snapshot is not one `to_snapshot` wrote.
    pub fn from_snapshot(snapshot: &serde_json::Value) -> crate::Result<SchemaBranch> {
        let entries: Vec<SnapshotEntry> =
            serde_json::from_value(snapshot.clone()).map_err(|e| {
                crate::Error::new(
                    crate::ErrorKind::Internal,
                    format!("stored schema is unreadable: {e}"),
                )
            })?;
        let mut schema = SchemaBranch::new();
        for SnapshotEntry {
            category,
            mut model,
        } in entries
        {
            model.category = category;
            schema.set(model);
        }
        Ok(schema)
    }

    /// Gives an identifier to every model, attribute and relationship that has none, as
    /// persisting a schema does; identifiers let later loads recognise renamed elements.
    pub fn assign_ids(&mut self) {
        let kinds: Vec<String> = self.models.keys().cloned().collect();
        for kind in kinds {
            let needs = self.get(&kind).is_some_and(|m| {
                m.id.is_none()
                    || m.attributes.iter().any(|a| a.id.is_none())
                    || m.relationships.iter().any(|r| r.id.is_none())
            });
            if !needs {
                continue;
            }
            if let Some(model) = self.get_mut(&kind) {
                let new_id = || Some(uuid::Uuid::now_v7().to_string());
                if model.id.is_none() {
                    model.id = new_id();
                }
                for attribute in model.attributes.iter_mut().filter(|a| a.id.is_none()) {
                    attribute.id = new_id();
                }
                for relationship in model.relationships.iter_mut().filter(|r| r.id.is_none()) {
                    relationship.id = new_id();
                }
            }
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::super::{ProcessOptions, core_schema};

    #[test]
    fn snapshots_round_trip_with_the_same_hash() {
        let mut schema = core_schema(&ProcessOptions::default()).unwrap_or_default();
        schema.assign_ids();
        let restored =
            super::SchemaBranch::from_snapshot(&schema.to_snapshot()).unwrap_or_default();
        assert_eq!(restored.hash(), schema.hash());
        assert_eq!(restored.counts(), schema.counts());
        assert!(restored.get("CoreAccount").is_some_and(|m| m.id.is_some()));
    }
}
