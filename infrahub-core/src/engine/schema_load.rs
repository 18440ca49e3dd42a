//! Loading schema files into a branch: diff against the current schema, validation of the
//! existing data against the new rules, persistence with the data migrations the change
//! needs, all in one atomic write.

use std::collections::{BTreeMap, BTreeSet};

use infrahub_graph::{AttributeValue, BranchView, Changeset, NodeQuery, Op, Selection, Timestamp};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::{
    ModelCategory, ModelSchema, SchemaBranch, SchemaDiff, SchemaError, SchemaFile, State,
    check_namespaces,
};

use super::Engine;
use super::events::Event;
use super::links;

/// The outcome of a schema load or check.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaLoad {
    /// Schema hash after the load.
    pub hash: String,
    /// Schema hash before the load.
    pub previous_hash: String,
    /// What changed.
    pub diff: SchemaDiff,
    /// Whether the schema changed (`hash != previous_hash`).
    pub schema_updated: bool,
    /// When the new schema was committed (`None` for a check or no change).
    pub at: Option<Timestamp>,
    /// Events produced.
    pub events: Vec<Event>,
}

/// Renames a load carries out: elements of the file that name an existing id under a new name.
#[derive(Debug, Default)]
pub(super) struct Renames {
    /// Old kind -> new kind.
    kinds: BTreeMap<String, String>,
    /// (new kind, old attribute name) -> new attribute name.
    attributes: BTreeMap<(String, String), String>,
}

fn find_renames(current: &SchemaBranch, file: &mut SchemaFile) -> Renames {
    let mut renames = Renames::default();
    let by_id: BTreeMap<&str, &ModelSchema> = current
        .models()
        .filter_map(|m| m.id.as_deref().map(|id| (id, m)))
        .collect();
    for model in file.nodes.iter_mut().chain(file.generics.iter_mut()) {
        let Some(existing) = model.id.as_deref().and_then(|id| by_id.get(id)) else {
            continue;
        };
        let new_kind = model.kind();
        if existing.kind() != new_kind {
            renames.kinds.insert(existing.kind(), new_kind.clone());
        }
        for attribute in &model.attributes {
            let Some(id) = attribute.id.as_deref() else {
                continue;
            };
            if let Some(old) = existing
                .attributes
                .iter()
                .find(|a| a.id.as_deref() == Some(id) && a.name != attribute.name)
            {
                renames
                    .attributes
                    .insert((new_kind.clone(), old.name.clone()), attribute.name.clone());
            }
        }
    }
    renames
}

impl Engine {
    /// Loads schema files into `branch` (or only checks them when `check_only`).
    ///
    /// Fails without changing anything if a file is invalid, uses a restricted namespace, or
    /// if existing data breaks the new rules (each violation is reported).
    pub async fn load_schema(
        &self,
        branch: &str,
        files: Vec<SchemaFile>,
        check_only: bool,
    ) -> Result<SchemaLoad> {
        let guard = self.named_lock(super::locks::SCHEMA_LOCK).await?;
        self.sync_before_change(&[branch]).await?;
        let mut namespace_errors = Vec::new();
        for file in &files {
            if let Err(errors) = check_namespaces(file) {
                namespace_errors.extend(errors);
            }
        }
        if !namespace_errors.is_empty() {
            return Err(Error::invalid_schema(namespace_errors));
        }
        let current = self.schema(branch)?;
        let mut merged = SchemaFile::merge(files).map_err(Error::invalid_schema)?;
        // As upstream, user nodes that do not say otherwise are shown in the menu.
        for node in &mut merged.nodes {
            node.include_in_menu.get_or_insert(true);
        }
        let renames = find_renames(&current, &mut merged);
        let mut base = (*current).clone();
        for (old, new) in &renames.kinds {
            // The renamed model keeps its id, data and relationships under its new kind.
            if let Some(model) = base.remove(old) {
                let mut model = (*model).clone();
                if let Some(target) = merged
                    .nodes
                    .iter()
                    .chain(&merged.generics)
                    .find(|m| m.kind() == *new)
                {
                    model.name = target.name.clone();
                    model.namespace = target.namespace.clone();
                }
                base.set(model);
            }
        }
        for (kind, old) in renames.attributes.keys() {
            if let Some(model) = base.get_mut(kind) {
                model.attributes.retain(|a| a.name != *old);
            }
        }
        let mut candidate = base
            .with_file(&merged, &self.process_options())
            .map_err(Error::invalid_schema)?;
        candidate.assign_ids();
        self.run_schema_checks(&candidate)?;
        let diff = current.diff(&candidate);
        let previous_hash = current.hash();
        let hash = candidate.hash();
        let view = BranchView::now(branch);
        let violations = self
            .check_existing_data(&view, &current, &candidate, &diff, &renames)
            .await?;
        if !violations.is_empty() {
            return Err(Error::invalid_schema(violations));
        }
        if check_only || hash == previous_hash {
            return Ok(SchemaLoad {
                schema_updated: hash != previous_hash,
                hash,
                previous_hash,
                diff,
                at: None,
                events: Vec::new(),
            });
        }
        let mut changeset = Changeset::new(branch);
        changeset.ops = self
            .migrations(&view, &current, &candidate, &diff, &renames)
            .await?;
        changeset.ops.extend(Engine::schema_ops(&candidate, false));
        guard.ensure_held()?;
        let at = self.store().commit(changeset).await?.at;
        self.set_schema_hashed(branch, candidate, hash.clone());
        self.mark_schema_changed(branch).await?;
        self.notify_registry(super::registry::RegistryChange::Branch(branch.to_string()));
        let events = vec![Event::SchemaUpdated {
            branch: branch.to_string(),
            hash: hash.clone(),
            at,
        }];
        Ok(SchemaLoad {
            schema_updated: true,
            hash,
            previous_hash,
            diff,
            at: Some(at),
            events,
        })
    }

    /// Every node of `kind` with the given attributes.
    async fn all_nodes(
        &self,
        view: &BranchView,
        kind: &str,
        attributes: Vec<String>,
    ) -> Result<Vec<infrahub_graph::NodeData>> {
        let query = NodeQuery {
            labels: vec![kind.to_string()],
            select: Selection {
                attributes: Some(attributes),
                links: Vec::new(),
            },
            ..NodeQuery::default()
        };
        Ok(self
            .store()
            .query(view, &query)
            .await?
            .nodes
            .into_iter()
            .filter(|n| n.kind == kind)
            .collect())
    }

    /// Existing data that the candidate schema's rules reject.
    async fn check_existing_data(
        &self,
        view: &BranchView,
        current: &SchemaBranch,
        candidate: &SchemaBranch,
        diff: &SchemaDiff,
        renames: &Renames,
    ) -> Result<Vec<SchemaError>> {
        const MAX_REPORTED: usize = 50;
        let mut violations = Vec::new();
        for kind in diff.changed.keys().chain(renames.kinds.values()) {
            let Some(model) = candidate.get(kind) else {
                continue;
            };
            if model.category != ModelCategory::Node {
                continue;
            }
            let old_kind = renames
                .kinds
                .iter()
                .find(|(_, new)| *new == kind)
                .map_or(kind.clone(), |(old, _)| old.clone());
            if current.get(&old_kind).is_none() {
                continue;
            }
            let names: Vec<String> = model.attributes.iter().map(|a| a.name.clone()).collect();
            let nodes = self.all_nodes(view, &old_kind, Vec::new()).await?;
            if nodes.is_empty() {
                continue;
            }
            let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
            let old_names: Vec<String> = names
                .iter()
                .map(|n| {
                    renames
                        .attributes
                        .iter()
                        .find(|((k, _), new)| k == kind && *new == n)
                        .map_or(n.clone(), |((_, old), _)| old.clone())
                })
                .collect();
            let data = self
                .store()
                .get_nodes(
                    view,
                    &ids,
                    &Selection {
                        attributes: Some(old_names.clone()),
                        links: Vec::new(),
                    },
                )
                .await?;
            let mut seen_unique: BTreeMap<String, BTreeMap<String, infrahub_graph::NodeId>> =
                BTreeMap::new();
            for node in &data {
                for (attribute, old_name) in model.attributes.iter().zip(&old_names) {
                    let value = node.attributes.get(old_name).map(|a| a.value.value.clone());
                    let is_new = current
                        .get(&old_kind)
                        .and_then(|m| m.attribute(old_name))
                        .is_none();
                    let value = match (value, is_new) {
                        (Some(v), _) => v,
                        (None, true) => attribute.default_value.clone().unwrap_or(Value::Null),
                        (None, false) => Value::Null,
                    };
                    let problem = if value.is_null() {
                        (!attribute.optional && !attribute.read_only).then(|| {
                            format!(
                                "{} is mandatory, but node {} has no value",
                                attribute.name, node.id
                            )
                        })
                    } else {
                        crate::value::check_value(attribute, &value)
                            .err()
                            .map(|m| format!("node {}: {m}", node.id))
                    };
                    if let Some(message) = problem {
                        violations.push(SchemaError::new(
                            None,
                            format!("{kind}.{}", attribute.name),
                            message,
                        ));
                    }
                    if attribute.unique && !value.is_null() {
                        let seen = seen_unique.entry(attribute.name.clone()).or_default();
                        let key = value.to_string();
                        if let Some(other) = seen.get(&key) {
                            violations.push(SchemaError::new(
                                None,
                                format!("{kind}.{}", attribute.name),
                                format!(
                                    "must be unique, but nodes {other} and {} both have {key}",
                                    node.id
                                ),
                            ));
                        } else {
                            seen.insert(key, node.id);
                        }
                    }
                    if violations.len() >= MAX_REPORTED {
                        return Ok(violations);
                    }
                }
            }
            for relationship in &model.relationships {
                let was_optional = current
                    .get(&old_kind)
                    .and_then(|m| m.relationship(&relationship.name))
                    .is_none_or(|r| r.optional);
                if relationship.optional || !was_optional {
                    continue;
                }
                let selection = Selection {
                    attributes: Some(Vec::new()),
                    links: vec![links::selection(relationship)],
                };
                for node in self.store().get_nodes(view, &ids, &selection).await? {
                    if node.links.is_empty() {
                        violations.push(SchemaError::new(
                            None,
                            format!("{kind}.{}", relationship.name),
                            format!(
                                "{} is now mandatory, but node {} has no peer",
                                relationship.name, node.id
                            ),
                        ));
                    }
                }
            }
        }
        Ok(violations)
    }

    /// The data changes a schema change needs.
    pub(super) async fn migrations(
        &self,
        view: &BranchView,
        current: &SchemaBranch,
        candidate: &SchemaBranch,
        diff: &SchemaDiff,
        renames: &Renames,
    ) -> Result<Vec<Op>> {
        let mut ops = Vec::new();
        // Removed node kinds: their nodes go (renamed kinds are not removed).
        for kind in diff.removed.keys() {
            if renames.kinds.contains_key(kind)
                || current
                    .get(kind)
                    .is_none_or(|m| m.category != ModelCategory::Node)
            {
                continue;
            }
            let scope = links::scope(current.get(kind).map(|m| m.branch));
            for node in self.all_nodes(view, kind, Vec::new()).await? {
                ops.push(Op::DeleteNode { id: node.id, scope });
            }
        }
        // Renamed kinds keep their ids and data.
        for (old, new) in &renames.kinds {
            let Some(model) = candidate.get(new) else {
                continue;
            };
            for node in self.all_nodes(view, old, Vec::new()).await? {
                ops.push(Op::ChangeKind {
                    id: node.id,
                    kind: new.clone(),
                    labels: model.storage_labels(),
                    scope: links::scope(Some(model.branch)),
                });
            }
        }
        for kind in diff
            .changed
            .keys()
            .chain(renames.kinds.values())
            .collect::<BTreeSet<_>>()
        {
            let Some(model) = candidate.get(kind) else {
                continue;
            };
            if model.category != ModelCategory::Node {
                continue;
            }
            let old_kind = renames
                .kinds
                .iter()
                .find(|(_, new)| *new == kind)
                .map_or(kind.clone(), |(old, _)| old.clone());
            let Some(old_model) = current.get(&old_kind) else {
                continue;
            };
            let renamed: BTreeMap<&str, &str> = renames
                .attributes
                .iter()
                .filter(|((k, _), _)| k == kind)
                .map(|((_, old), new)| (new.as_str(), old.as_str()))
                .collect();
            let added: Vec<_> = model
                .attributes
                .iter()
                .filter(|a| old_model.attribute(&a.name).is_none())
                .collect();
            let removed: Vec<_> = old_model
                .attributes
                .iter()
                .filter(|a| {
                    model.attribute(&a.name).is_none()
                        && !renamed.values().any(|old| *old == a.name)
                })
                .collect();
            let removed_links: Vec<_> = old_model
                .relationships
                .iter()
                .filter(|r| {
                    model
                        .relationships
                        .iter()
                        .all(|n| n.identifier != r.identifier || n.state == State::Absent)
                })
                .collect();
            if added.is_empty() && removed.is_empty() && removed_links.is_empty() {
                continue;
            }
            let nodes = self
                .all_nodes(
                    view,
                    &old_kind,
                    renamed.values().map(|s| (*s).to_string()).collect(),
                )
                .await?;
            for node in &nodes {
                for attribute in &added {
                    let (value, is_default) = match renamed
                        .get(attribute.name.as_str())
                        .and_then(|old| node.attributes.get(*old))
                    {
                        Some(previous) => (previous.value.value.clone(), previous.value.is_default),
                        None => (
                            attribute.default_value.clone().unwrap_or(Value::Null),
                            attribute.default_value.is_some(),
                        ),
                    };
                    ops.push(Op::SetAttribute {
                        node: node.id,
                        name: attribute.name.clone(),
                        value: AttributeValue {
                            is_default,
                            ..AttributeValue::new(value)
                        },
                        scope: links::scope(attribute.branch),
                        indexed: !attribute.kind.is_large(),
                    });
                }
                for attribute in removed
                    .iter()
                    .copied()
                    .chain(renamed.values().filter_map(|old| old_model.attribute(old)))
                {
                    if node.attributes.contains_key(&attribute.name)
                        || renamed.values().any(|o| *o == attribute.name)
                    {
                        ops.push(Op::RemoveAttribute {
                            node: node.id,
                            name: attribute.name.clone(),
                            scope: links::scope(attribute.branch),
                        });
                    }
                }
            }
            if !removed_links.is_empty() {
                let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
                let selection = Selection {
                    attributes: Some(Vec::new()),
                    links: removed_links.iter().map(|r| links::selection(r)).collect(),
                };
                for node in self.store().get_nodes(view, &ids, &selection).await? {
                    for link in &node.links {
                        let (from, to) = match link.side {
                            infrahub_graph::Side::From => (node.id, link.peer),
                            _ => (link.peer, node.id),
                        };
                        ops.push(Op::RemoveLink {
                            identifier: link.identifier.clone(),
                            from,
                            to,
                            scope: infrahub_graph::Scope::Branch,
                        });
                    }
                }
            }
        }
        Ok(ops)
    }
}
