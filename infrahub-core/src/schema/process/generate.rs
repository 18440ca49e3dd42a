//! Processing steps that fill in values the schema author left out: identifiers, defaults,
//! counts, branch support, group relationships, weights, labels, dropdown colours, delete
//! behaviour and human-friendly ids.

use std::collections::BTreeSet;

use super::super::branch::SchemaBranch;
use super::super::constants::{
    CORE_NODE, GENERIC_GROUP, LINEAGE_OWNER, LINEAGE_SOURCE, format_label,
};
use super::super::error::SchemaError;
use super::super::kinds::{BranchSupport, Cardinality, OnDelete, RelationshipKind};
use super::super::model::{ModelCategory, ModelSchema};
use super::super::relationship::RelationshipSchema;
use super::{all_kinds, update_each};

/// The identifier two kinds share by default: both kinds sorted, joined with `__`, lowercased.
pub(crate) fn default_identifier(kind: &str, peer: &str) -> String {
    let mut pair = [kind, peer];
    pair.sort_unstable();
    pair.join("__").to_lowercase()
}

/// Gives every relationship without an identifier the default one.
pub(super) fn identifiers(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        let kind = model.kind();
        for rel in &mut model.relationships {
            if rel.identifier.is_none() {
                rel.identifier = Some(default_identifier(&kind, &rel.peer));
            }
        }
    });
}

/// Attributes with a default value are optional; deprecated fields are optional.
pub(super) fn defaults_and_deprecations(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        for attr in &mut model.attributes {
            if attr.default_value.as_ref().is_some_and(|v| !v.is_null()) || attr.is_deprecated() {
                attr.optional = true;
            }
        }
        for rel in &mut model.relationships {
            if rel.is_deprecated() {
                rel.optional = true;
            }
        }
    });
}

/// Cardinality-one relationships count 0..1 when optional and 1..1 when mandatory.
pub(super) fn cardinality_counts(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        for rel in &mut model.relationships {
            if rel.cardinality != Cardinality::One {
                continue;
            }
            if rel.optional {
                rel.min_count = 0;
                rel.max_count = 1;
            } else {
                if rel.min_count == 0 {
                    rel.min_count = 1;
                }
                if rel.max_count == 0 {
                    rel.max_count = 1;
                }
            }
        }
    });
}

/// Resolves branch support of attributes (the model's) and relationships (derived from both
/// ends: the same when they agree, `local` if either is local, else `aware`).
pub(super) fn branch_support(schema: &mut SchemaBranch, errors: &mut Vec<SchemaError>) {
    for kind in all_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        let generics: Vec<&ModelSchema> = model
            .inherit_from
            .iter()
            .filter_map(|g| schema.get(g))
            .collect();
        let generic_field_branch = |name: &str| -> Option<(BranchSupport, Option<BranchSupport>)> {
            generics.iter().find_map(|g| {
                g.attribute(name)
                    .map(|a| (g.branch, a.branch))
                    .or_else(|| g.relationship(name).map(|r| (g.branch, r.branch)))
            })
        };
        let follows_generic = |inherited: bool, name: &str, own: Option<BranchSupport>| {
            inherited
                && generic_field_branch(name).is_some_and(|(generic, field)| {
                    own == Some(generic) && field == Some(generic) && generic != model.branch
                })
        };
        let mut attr_updates = Vec::new();
        for attr in &model.attributes {
            if attr.branch.is_none() || follows_generic(attr.inherited, &attr.name, attr.branch) {
                attr_updates.push(attr.name.clone());
            }
        }
        let mut rel_updates = Vec::new();
        for rel in &model.relationships {
            if !rel.inherited && rel.branch.is_some() {
                continue;
            }
            if rel.branch.is_some() && !follows_generic(rel.inherited, &rel.name, rel.branch) {
                continue;
            }
            let Some(peer) = schema.get(&rel.peer) else {
                errors.push(schema.located(
                    &kind,
                    Some(&rel.name),
                    "peer",
                    format!(
                        "relationship `{}` refers to `{}`, which is not a known node or generic",
                        rel.name, rel.peer
                    ),
                ));
                continue;
            };
            let support = if model.branch == peer.branch {
                model.branch
            } else if model.branch == BranchSupport::Local || peer.branch == BranchSupport::Local {
                BranchSupport::Local
            } else {
                BranchSupport::Aware
            };
            rel_updates.push((rel.name.clone(), support));
        }
        if attr_updates.is_empty() && rel_updates.is_empty() {
            continue;
        }
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        let own = model.branch;
        for name in attr_updates {
            if let Some(attr) = model.attribute_mut(&name) {
                attr.branch = Some(own);
            }
        }
        for (name, support) in rel_updates {
            if let Some(rel) = model.relationship_mut(&name) {
                rel.branch = Some(support);
            }
        }
    }
}

/// Removes inherited fields whose generic no longer defines them.
pub(super) fn cleanup_inherited(schema: &mut SchemaBranch) {
    for kind in schema.kinds_of(ModelCategory::Node) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        let defined_by_generic = |name: &str, attribute: bool| {
            model
                .inherit_from
                .iter()
                .filter_map(|g| schema.get(g))
                .any(|g| {
                    if attribute {
                        g.attribute(name).is_some()
                    } else {
                        g.relationship(name).is_some()
                    }
                })
        };
        let stale_attrs: Vec<String> = model
            .attributes
            .iter()
            .filter(|a| a.inherited && !defined_by_generic(&a.name, true))
            .map(|a| a.name.clone())
            .collect();
        let stale_rels: Vec<String> = model
            .relationships
            .iter()
            .filter(|r| {
                r.inherited
                    && (super::inherit::is_hierarchy_link(r) || !defined_by_generic(&r.name, false))
            })
            .map(|r| r.name.clone())
            .collect();
        if stale_attrs.is_empty() && stale_rels.is_empty() {
            continue;
        }
        if let Some(model) = schema.get_mut(&kind) {
            model.attributes.retain(|a| !stale_attrs.contains(&a.name));
            model
                .relationships
                .retain(|r| !stale_rels.contains(&r.name));
        }
    }
}

fn group_relationship(name: &str, identifier: &str) -> RelationshipSchema {
    let mut rel = RelationshipSchema::new(name, GENERIC_GROUP);
    rel.identifier = Some(identifier.to_string());
    rel.kind = RelationshipKind::Group;
    rel.branch = Some(BranchSupport::Aware);
    rel
}

/// Gives every model except groups and lineage generics the `member_of_groups` and
/// `subscriber_of_groups` relationships.
pub(super) fn groups(schema: &mut SchemaBranch) {
    if !schema.has(GENERIC_GROUP) {
        return;
    }
    update_each(schema, |model| {
        let kind = model.kind();
        if (model.is_node() && model.inherit_from.iter().any(|g| g == GENERIC_GROUP))
            || kind == GENERIC_GROUP
            || kind == LINEAGE_OWNER
            || kind == LINEAGE_SOURCE
        {
            return;
        }
        for (name, identifier) in [
            ("member_of_groups", "group_member"),
            ("subscriber_of_groups", "group_subscriber"),
        ] {
            if model.relationship(name).is_none() {
                model
                    .relationships
                    .push(group_relationship(name, identifier));
            }
        }
        // Object templates also name the groups the objects created from them join (plain
        // relationships: setting them puts the template itself in no group).
        if model.category == ModelCategory::Template {
            for (name, identifier) in [
                (
                    "member_of_groups_for_instances",
                    "template_group_member_for_instances",
                ),
                (
                    "subscriber_of_groups_for_instances",
                    "template_group_subscriber_for_instances",
                ),
            ] {
                if model.relationship(name).is_none() {
                    let mut rel = RelationshipSchema::new(name, GENERIC_GROUP);
                    rel.identifier = Some(identifier.to_string());
                    rel.kind = RelationshipKind::Generic;
                    rel.branch = Some(BranchSupport::Aware);
                    model.relationships.push(rel);
                }
            }
        }
    });
}

/// Numbers fields without an `order_weight` by position (1000, 2000, ...); inherited fields
/// and hierarchy links take their generic's weight; template fields follow their node's weights.
pub(super) fn weights(schema: &mut SchemaBranch) {
    // Generics first so inherited fields can take their weight, templates last so they can
    // follow their node.
    let order = [
        ModelCategory::Generic,
        ModelCategory::Node,
        ModelCategory::Profile,
        ModelCategory::Template,
    ];
    let kinds: Vec<String> = order.iter().flat_map(|c| schema.kinds_of(*c)).collect();
    for kind in kinds {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        let missing = model.attributes.iter().any(|a| a.order_weight.is_none())
            || model.relationships.iter().any(|r| r.order_weight.is_none());
        if !missing {
            continue;
        }
        let model_category = model.category;
        let source_weights: Vec<Option<i64>> = match model_category {
            ModelCategory::Template => {
                let node = schema.get(&model.name);
                model
                    .attributes
                    .iter()
                    .map(|a| (&a.name, a.order_weight))
                    .chain(
                        model
                            .relationships
                            .iter()
                            .map(|r| (&r.name, r.order_weight)),
                    )
                    .map(|(name, own)| {
                        own.or_else(|| {
                            node.and_then(|n| {
                                n.attribute(name)
                                    .and_then(|a| a.order_weight)
                                    .or_else(|| n.relationship(name).and_then(|r| r.order_weight))
                            })
                            .map(|w| w + 10000)
                        })
                    })
                    .collect()
            }
            _ => {
                let generics: Vec<&ModelSchema> = model
                    .inherit_from
                    .iter()
                    .filter_map(|g| schema.get(g))
                    .collect();
                let generic_weight = |name: &str| {
                    generics.iter().find_map(|g| {
                        g.attribute(name)
                            .and_then(|a| a.order_weight)
                            .or_else(|| g.relationship(name).and_then(|r| r.order_weight))
                    })
                };
                let mut position = 0;
                model
                    .attributes
                    .iter()
                    .map(|a| (&a.name, a.order_weight, a.inherited))
                    .chain(model.relationships.iter().map(|r| {
                        (
                            &r.name,
                            r.order_weight,
                            r.inherited || r.kind == RelationshipKind::Hierarchy,
                        )
                    }))
                    .map(|(name, own, from_generic)| {
                        position += 1000;
                        own.or_else(|| {
                            if from_generic {
                                generic_weight(name)
                            } else {
                                None
                            }
                        })
                        .or(Some(position))
                    })
                    .collect()
            }
        };
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        let attr_count = model.attributes.len();
        for (index, weight) in source_weights.into_iter().enumerate() {
            if index < attr_count {
                model.attributes[index].order_weight = weight;
            } else if let Some(rel) = model.relationships.get_mut(index - attr_count) {
                rel.order_weight = weight;
            }
        }
    }
}

/// Fills in missing labels from names.
pub(super) fn labels(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        if model.label.is_none() {
            model.label = Some(title_label(&model.name));
        }
        for attr in &mut model.attributes {
            if attr.label.is_none() {
                attr.label = Some(format_label(&attr.name));
            }
        }
        for rel in &mut model.relationships {
            if rel.label.is_none() {
                rel.label = Some(format_label(&rel.name));
            }
        }
    });
}

/// A model name as a label: title case per word, like Python's `str.title`.
fn title_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut previous_is_letter = false;
    for c in name.chars() {
        if c.is_alphabetic() {
            if previous_is_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            previous_is_letter = true;
        } else {
            out.push(c);
            previous_is_letter = false;
        }
    }
    out
}

/// Colours assigned to dropdown choices that have none, in order, skipping ones in use.
const CHOICE_PALETTE: &[&str] = &[
    "#4f6d7a", "#c0d6df", "#dd6e42", "#e8dab2", "#7c9885", "#b5b682", "#6b4e71", "#c4a69d",
    "#3a7ca5", "#d9dcd6", "#81c3d7", "#f2a65a", "#9b5de5", "#00bbf9", "#f15bb5", "#fee440",
];

/// Sorts dropdown choices by name (descending, as upstream) and fills colour, label and
/// description.
pub(super) fn dropdowns(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        for attr in &mut model.attributes {
            let Some(choices) = attr.choices.as_mut() else {
                continue;
            };
            choices.sort_by(|a, b| b.name.cmp(&a.name));
            let mut used: Vec<String> = choices.iter().filter_map(|c| c.color.clone()).collect();
            for choice in choices.iter_mut() {
                if choice.color.is_none() {
                    let color = CHOICE_PALETTE
                        .iter()
                        .find(|c| !used.iter().any(|u| u == *c))
                        .map_or_else(|| "#ff0000".to_string(), |c| (*c).to_string());
                    used.push(color.clone());
                    choice.color = Some(color);
                }
                if choice.label.is_none() {
                    choice.label = Some(format_label(&choice.name));
                }
                if choice.description.is_none() {
                    choice.description = Some(String::new());
                }
            }
        }
    });
}

/// Components cascade deletes by default; everything else does nothing.
pub(super) fn on_delete(schema: &mut SchemaBranch) {
    update_each(schema, |model| {
        for rel in &mut model.relationships {
            if rel.on_delete.is_none() {
                rel.on_delete = Some(if rel.kind == RelationshipKind::Component {
                    OnDelete::Cascade
                } else {
                    OnDelete::NoAction
                });
            }
        }
    });
}

/// Which models a human-friendly-id or uniqueness step covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// Generics only: their identity is settled before nodes inherit it.
    Generics,
    /// Nodes and generics.
    All,
}

/// Whether `model` is a node or an authored generic in `scope`; generated template generics
/// take no part in identity rules.
fn in_scope(model: &ModelSchema, scope: Scope) -> bool {
    match model.category {
        ModelCategory::Generic => model.namespace != "Template",
        ModelCategory::Node => scope == Scope::All,
        ModelCategory::Profile | ModelCategory::Template => false,
    }
}

/// The uniqueness constraint a human-friendly id stands for: attribute paths as written,
/// relationship paths as the relationship's name. `None` when a path names no field of
/// `model` (validation reports it).
pub(super) fn hfid_constraint(model: &ModelSchema, hfid: &[String]) -> Option<Vec<String>> {
    hfid.iter()
        .map(|path| {
            let first = path.split("__").next().unwrap_or_default();
            if model.relationship(first).is_some() {
                Some(first.to_string())
            } else if model.attribute(first).is_some() {
                Some(path.clone())
            } else {
                None
            }
        })
        .collect::<Option<Vec<String>>>()
        .filter(|c| !c.is_empty())
}

/// Whether two uniqueness constraints name the same fields, in any order.
pub(super) fn same_fields(a: &[String], b: &[String]) -> bool {
    let a: BTreeSet<&String> = a.iter().collect();
    let b: BTreeSet<&String> = b.iter().collect();
    a == b
}

/// Gives nodes and generics in `scope` without a human-friendly id one taken from their
/// first unique attribute or single-attribute uniqueness constraint, and adds each
/// human-friendly id to its model's uniqueness constraints (unless a constraint with the
/// same fields is there), as upstream does. A generic's human-friendly id thus makes the
/// combination unique among all the nodes that inherit it.
pub(super) fn human_friendly_ids(schema: &mut SchemaBranch, scope: Scope) {
    for kind in all_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if !in_scope(model, scope) {
            continue;
        }
        let mut hfid = model.human_friendly_id.clone();
        if hfid.is_none() {
            if let Some(unique) = model.unique_attributes().next() {
                hfid = Some(vec![format!("{}__value", unique.name)]);
            } else if let Some(constraints) = &model.uniqueness_constraints {
                hfid = constraints.iter().filter(|c| c.len() == 1).find_map(|c| {
                    let (name, property) = c[0].split_once("__")?;
                    (property == "value" && model.attribute(name).is_some())
                        .then(|| vec![c[0].clone()])
                });
            }
        }
        let constraint = hfid
            .as_deref()
            .and_then(|paths| hfid_constraint(model, paths));
        let needs_constraint = constraint.as_ref().is_some_and(|c| {
            !model
                .uniqueness_constraints
                .iter()
                .flatten()
                .any(|existing| same_fields(existing, c))
        });
        if hfid == model.human_friendly_id && !needs_constraint {
            continue;
        }
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        model.human_friendly_id = hfid;
        if let (true, Some(constraint)) = (needs_constraint, constraint) {
            model
                .uniqueness_constraints
                .get_or_insert_with(Vec::new)
                .push(constraint);
        }
    }
}

/// Makes `unique: true` attributes and single-attribute uniqueness constraints agree, in both
/// directions, for the models in `scope`.
pub(super) fn sync_unique_attributes(schema: &mut SchemaBranch, scope: Scope) {
    for kind in all_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if !in_scope(model, scope) {
            continue;
        }
        let from_constraints: Vec<String> = model
            .uniqueness_constraints
            .iter()
            .flatten()
            .filter(|c| c.len() == 1)
            .filter_map(|c| {
                let (name, property) = c[0].split_once("__")?;
                (property == "value" && model.attribute(name).is_some()).then(|| name.to_string())
            })
            .collect();
        let from_attributes: Vec<String> = model
            .attributes
            .iter()
            .filter(|a| a.unique && !a.inherited)
            .map(|a| a.name.clone())
            .collect();
        let to_mark: Vec<String> = from_constraints
            .iter()
            .filter(|n| !from_attributes.contains(n))
            .cloned()
            .collect();
        let mut to_add: Vec<String> = from_attributes
            .iter()
            .filter(|n| !from_constraints.contains(n))
            .cloned()
            .collect();
        if to_mark.is_empty() && to_add.is_empty() {
            continue;
        }
        to_add.sort();
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        for name in to_mark {
            if let Some(attr) = model.attribute_mut(&name) {
                attr.unique = true;
            }
        }
        if !to_add.is_empty() {
            let constraints = model.uniqueness_constraints.get_or_insert_with(Vec::new);
            for name in to_add {
                constraints.push(vec![format!("{name}__value")]);
            }
        }
    }
}

/// Whether `model` is listed in `CoreNode.used_by`: every node of a user namespace, every
/// node that inherits anything, and every profile and template.
pub(super) fn counts_as_core_node(model: &ModelSchema) -> bool {
    match model.category {
        ModelCategory::Node => {
            !model.inherit_from.is_empty()
                || !super::super::constants::RESTRICTED_NAMESPACES
                    .contains(&model.namespace.as_str())
        }
        ModelCategory::Profile | ModelCategory::Template => {
            model.inherit_from.iter().any(|g| g == CORE_NODE)
        }
        ModelCategory::Generic => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_sort_kinds_case_sensitively() {
        assert_eq!(
            default_identifier("InfraDevice", "InfraSite"),
            "infradevice__infrasite"
        );
        assert_eq!(
            default_identifier("InfraSite", "InfraDevice"),
            "infradevice__infrasite"
        );
        assert_eq!(default_identifier("Zeta", "alpha"), "zeta__alpha");
    }

    #[test]
    fn model_labels_use_title_case() {
        assert_eq!(title_label("IPAddress"), "Ipaddress");
        assert_eq!(title_label("Device"), "Device");
        assert_eq!(title_label("Ipv4Prefix"), "Ipv4Prefix");
    }
}
