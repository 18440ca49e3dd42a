//! Bringing the built-in core schema of a stored branch up to this build's. A store keeps each
//! branch's schema as a snapshot, core kinds included; a build whose core schema differs (new
//! kinds, new attributes and relationships, changed defaults or identifiers) replaces the core
//! kinds of every branch's snapshot on open, with the data migrations the change needs, as a
//! schema load would. User kinds, and the attributes and relationships users added to core
//! kinds, are kept. Element ids are kept, so the refresh runs once: the next open finds
//! nothing to change.

use std::collections::BTreeMap;

use infrahub_graph::{BranchView, Changeset};

use crate::error::{Error, Result};
use crate::schema::{
    AttributeSchema, ModelSchema, ProcessOptions, RelationshipSchema, SchemaBranch, SchemaError,
    SchemaFile, core_schema_file,
};

use super::Engine;
use super::schema_load::Renames;

/// Attributes and relationships of core kinds that earlier builds defined and this one does
/// not: `(kind, name)`. A refresh drops them from the kind and from every kind inheriting them.
const RETIRED: &[(&str, &str)] = &[
    // Upstream 1.11 keeps who wrote a comment or thread, and when, in node metadata.
    ("CoreComment", "created_at"),
    ("CoreComment", "created_by"),
    ("CoreThread", "created_at"),
    ("CoreThread", "created_by"),
    ("CoreProposedChange", "created_by"),
];

fn is_retired(kind: &str, name: &str) -> bool {
    RETIRED.iter().any(|(k, n)| *k == kind && *n == name)
}

/// Attributes and relationships users added to a core kind, by kind.
type Extensions = BTreeMap<String, (Vec<AttributeSchema>, Vec<RelationshipSchema>)>;

/// `current` with its core kinds as this build defines them, processed; the ids of elements
/// that existed are kept.
pub(crate) fn refreshed(
    current: &SchemaBranch,
    options: &ProcessOptions,
) -> Result<SchemaBranch, Vec<SchemaError>> {
    let file = core_schema_file()?;
    let plain = replaced(current, &file, &Extensions::new(), options)?;
    // What users added to a core kind (extensions) is what the stored kind has and the
    // processed core definition does not: neither its own, nor inherited, nor generated.
    let mut extensions = Extensions::new();
    for raw in file.nodes.iter().chain(&file.generics) {
        let kind = raw.kind();
        let (Some(stored), Some(fresh)) = (current.get(&kind), plain.get(&kind)) else {
            continue;
        };
        let attributes: Vec<_> = stored
            .attributes
            .iter()
            .filter(|a| !a.inherited && fresh.attribute(&a.name).is_none())
            .filter(|a| !is_retired(&kind, &a.name))
            .cloned()
            .collect();
        let relationships: Vec<_> = stored
            .relationships
            .iter()
            .filter(|r| !r.inherited && fresh.relationship(&r.name).is_none())
            .filter(|r| !is_retired(&kind, &r.name))
            .cloned()
            .collect();
        if !attributes.is_empty() || !relationships.is_empty() {
            extensions.insert(kind, (attributes, relationships));
        }
    }
    let mut candidate = if extensions.is_empty() {
        plain
    } else {
        replaced(current, &file, &extensions, options)?
    };
    keep_ids(current, &mut candidate);
    candidate.assign_ids();
    Ok(candidate)
}

/// `current` with the core kinds of `file` (plus `extensions`) in place of the stored ones,
/// retired elements dropped, processed.
fn replaced(
    current: &SchemaBranch,
    file: &SchemaFile,
    extensions: &Extensions,
    options: &ProcessOptions,
) -> Result<SchemaBranch, Vec<SchemaError>> {
    let mut base = current.clone();
    for raw in file.nodes.iter().chain(&file.generics) {
        let mut model = raw.clone();
        model.clear_empty_text();
        if let Some((attributes, relationships)) = extensions.get(&model.kind()) {
            model.attributes.extend(attributes.iter().cloned());
            model.relationships.extend(relationships.iter().cloned());
        }
        base.set(model);
    }
    let kinds: Vec<String> = base.models().map(ModelSchema::kind).collect();
    for kind in kinds {
        let Some(model) = base.get_mut(&kind) else {
            continue;
        };
        let generics = model.inherit_from.clone();
        let retired_here = |name: &str| generics.iter().any(|generic| is_retired(generic, name));
        model
            .attributes
            .retain(|a| !(a.inherited && retired_here(&a.name)));
        model
            .relationships
            .retain(|r| !(r.inherited && retired_here(&r.name)));
    }
    base.process(options)?;
    Ok(base)
}

/// Gives the models and elements of `candidate` that have no id the id they have in
/// `current`, matched by kind and name.
fn keep_ids(current: &SchemaBranch, candidate: &mut SchemaBranch) {
    let kinds: Vec<String> = candidate.models().map(ModelSchema::kind).collect();
    for kind in kinds {
        let Some(stored) = current.get(&kind) else {
            continue;
        };
        let Some(model) = candidate.get_mut(&kind) else {
            continue;
        };
        if model.id.is_none() {
            model.id = stored.id.clone();
        }
        for attribute in model.attributes.iter_mut().filter(|a| a.id.is_none()) {
            attribute.id = stored.attribute(&attribute.name).and_then(|a| a.id.clone());
        }
        for relationship in model.relationships.iter_mut().filter(|r| r.id.is_none()) {
            relationship.id = stored
                .relationship(&relationship.name)
                .and_then(|r| r.id.clone());
        }
    }
}

impl Engine {
    /// Refreshes the core schema of every branch whose stored core kinds differ from this
    /// build's (see the module documentation), the default branch first.
    pub(super) async fn refresh_core_schema(&self) -> Result<()> {
        let _guard = self.named_lock(super::locks::SCHEMA_LOCK).await?;
        let main = self.options.default_branch.clone();
        let mut branches: Vec<String> = self
            .store
            .list_branches()
            .await?
            .into_iter()
            .map(|b| b.name)
            .filter(|name| *name != main)
            .collect();
        branches.insert(0, main);
        for branch in branches {
            let current = self.schema(&branch)?;
            let candidate =
                refreshed(&current, &self.process_options()).map_err(Error::invalid_schema)?;
            if candidate.hash() == current.hash() {
                continue;
            }
            tracing::info!(branch, "bringing the built-in core schema up to date");
            let diff = current.diff(&candidate);
            let view = BranchView::now(&branch);
            let mut changeset = Changeset::new(&branch);
            changeset.ops = self
                .migrations(&view, &current, &candidate, &diff, &Renames::default())
                .await?;
            changeset.ops.extend(Engine::schema_ops(&candidate, false));
            self.store.commit(changeset).await?;
            self.set_schema(&branch, candidate);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::core_schema;

    #[test]
    fn refreshing_a_current_schema_changes_nothing() {
        let options = ProcessOptions::default();
        let mut current = core_schema(&options).unwrap_or_else(|e| panic!("{e:?}"));
        current.assign_ids();
        let candidate = refreshed(&current, &options).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            current.hash(),
            candidate.hash(),
            "{:?}",
            current.diff(&candidate)
        );
    }

    #[test]
    fn a_refresh_keeps_what_users_added_to_core_kinds_and_drops_retired_elements() {
        let options = ProcessOptions::default();
        let mut current = core_schema(&options).unwrap_or_else(|e| panic!("{e:?}"));
        let extension = SchemaFile::from_yaml(
            r#"
version: "1.0"
extensions:
  nodes:
    - kind: BuiltinTag
      attributes:
        - {name: colour, kind: Text, optional: true}
"#,
            Some("tags.yml"),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        current = current
            .with_file(&extension, &options)
            .unwrap_or_else(|e| panic!("{e:?}"));
        if let Some(thread) = current.get_mut("CoreThread") {
            let mut created_at = thread.attributes[0].clone();
            created_at.name = "created_at".into();
            created_at.kind = crate::schema::AttributeKind::DateTime;
            thread.attributes.push(created_at);
        }
        current
            .process(&options)
            .unwrap_or_else(|e| panic!("{e:?}"));
        current.assign_ids();
        assert!(
            current
                .get("CoreChangeThread")
                .and_then(|m| m.attribute("created_at"))
                .is_some()
        );
        let colour_id = current
            .get("BuiltinTag")
            .and_then(|m| m.attribute("colour"))
            .and_then(|a| a.id.clone());

        let candidate = refreshed(&current, &options).unwrap_or_else(|e| panic!("{e:?}"));
        let tag = candidate.get("BuiltinTag");
        assert_eq!(
            tag.and_then(|m| m.attribute("colour"))
                .and_then(|a| a.id.clone()),
            colour_id,
            "the extension stays, with its id"
        );
        for kind in ["CoreThread", "CoreChangeThread", "CoreObjectThread"] {
            assert!(
                candidate
                    .get(kind)
                    .is_some_and(|m| m.attribute("created_at").is_none()),
                "{kind} lost created_at"
            );
        }
    }
}
