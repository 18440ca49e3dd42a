//! Uniqueness constraints a write must respect: the node's own, and those of the generics it
//! inherits, which hold among every node of every kind that inherits the generic (as
//! upstream, where a generic's human-friendly id makes its combination unique across kinds).

#[allow(clippy::wildcard_imports)]
use super::*;

/// One uniqueness constraint to enforce on a node.
pub(in crate::engine) struct UniqueGroup<'a> {
    /// The model that declares the constraint: the node's own kind, or a generic it inherits.
    /// The constraint holds among the nodes that carry this kind's label.
    pub(in crate::engine) scope: &'a ModelSchema,
    /// The constraint's paths (`name__value`, `device`).
    pub(in crate::engine) paths: &'a [String],
}

fn same_fields(a: &[String], b: &[String]) -> bool {
    let a: BTreeSet<&String> = a.iter().collect();
    let b: BTreeSet<&String> = b.iter().collect();
    a == b
}

/// The uniqueness constraints a node of `model` must respect: its generics' first, then its
/// own that no generic already enforces.
pub(in crate::engine) fn unique_groups<'a>(
    schema: &'a SchemaBranch,
    model: &'a ModelSchema,
) -> Vec<UniqueGroup<'a>> {
    let mut groups: Vec<UniqueGroup<'a>> = Vec::new();
    for generic in model
        .inherit_from
        .iter()
        .filter_map(|kind| schema.get(kind))
        .filter(|generic| generic.is_generic())
    {
        for paths in generic.uniqueness_constraints.iter().flatten() {
            groups.push(UniqueGroup {
                scope: generic,
                paths,
            });
        }
    }
    for paths in model.uniqueness_constraints.iter().flatten() {
        if !groups.iter().any(|g| same_fields(g.paths, paths)) {
            groups.push(UniqueGroup {
                scope: model,
                paths,
            });
        }
    }
    groups
}

/// Names of the relationships the uniqueness constraints of `model` (its generics' included)
/// go through.
pub(in crate::engine) fn unique_relationship_names(
    schema: &SchemaBranch,
    model: &ModelSchema,
) -> BTreeSet<String> {
    unique_groups(schema, model)
        .iter()
        .flat_map(|group| group.paths.iter())
        .filter_map(|path| model.relationship(path.split("__").next().unwrap_or_default()))
        .map(|relationship| relationship.name.clone())
        .collect()
}

impl Engine {
    /// The conditions that keep the uniqueness constraints of a node of `model` (its generics'
    /// included) with attribute `values` and relationship `peers`; a constraint with a missing
    /// value or peer does not apply.
    pub(in crate::engine) fn unique_conditions(
        schema: &SchemaBranch,
        model: &ModelSchema,
        values: &Values,
        peers: &PeerSets,
        except: Option<NodeId>,
    ) -> Vec<Condition> {
        let mut conditions = Vec::new();
        for group in unique_groups(schema, model) {
            let scope = group.scope;
            let mut fields = Vec::new();
            let mut shown = Vec::new();
            let mut complete = true;
            for path in group.paths {
                let first = path.split("__").next().unwrap_or_default();
                if let Some(attribute) = scope.attribute(first) {
                    let value = values.get(&attribute.name).cloned().unwrap_or(Value::Null);
                    if value.is_null() {
                        complete = false;
                        break;
                    }
                    shown.push(format!("{} = {}", attribute.name, value));
                    fields.push(UniqueField::Attribute {
                        name: attribute.name.clone(),
                        value,
                    });
                } else if let Some(relationship) = scope.relationship(first) {
                    let Some(peer) = peers.get(&relationship.name).and_then(|p| p.first()) else {
                        complete = false;
                        break;
                    };
                    shown.push(format!("{} = {peer}", relationship.name));
                    fields.push(UniqueField::Link {
                        identifier: relationship.identifier().to_string(),
                        side: links::side(relationship),
                        peer: *peer,
                    });
                }
            }
            if complete && !fields.is_empty() {
                conditions.push(Condition::Unique {
                    labels: vec![scope.kind()],
                    fields,
                    except,
                    description: format!(
                        "Violates uniqueness constraint '{}' of {}: an object with {} already exists",
                        group.paths.join("-"),
                        scope.kind(),
                        shown.join(", ")
                    ),
                });
            }
        }
        conditions
    }
}
