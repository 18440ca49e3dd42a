//! Profiles: nodes of `Profile<Kind>` whose attribute values are copied onto the nodes linked to
//! them, as upstream does. A node's attribute left at its default takes the value of its
//! strongest profile (lowest `profile_priority`, then lowest id) that sets it; the copy is
//! stored on the node with `is_from_profile` and the profile as `source`, so filters, ordering
//! and uniqueness see it. Copies are refreshed when a profile changes, is deleted, or is linked
//! to or unlinked from a node; a value a user sets explicitly is never overwritten.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infrahub_graph::{AttributeValue, BranchView, Changeset, NodeId, Op, Selection};
use serde_json::Value;

use crate::error::Result;
use crate::schema::{AttributeSchema, ModelCategory, ModelSchema, SchemaBranch};

use super::Engine;
use super::events::{AttributeChange, Event, NodeEvent};
use super::links;
use super::node::{Attribute, Node};
use super::read::Fields;

/// The relationship through which a node takes attribute values from profiles.
pub(crate) const PROFILES: &str = "profiles";
/// The relationship of a profile to the nodes that use it.
pub(crate) const RELATED_NODES: &str = "related_nodes";
/// The attribute that orders a node's profiles (lowest first).
const PRIORITY: &str = "profile_priority";

/// One profile's priority and the attribute values it sets.
#[derive(Clone, Debug)]
pub(crate) struct ProfileValues {
    id: NodeId,
    priority: i64,
    values: BTreeMap<String, Value>,
}

/// The profiles of one node, strongest first.
#[derive(Debug, Default)]
pub(crate) struct ProfileStack<'a> {
    profiles: Vec<&'a ProfileValues>,
}

impl<'a> ProfileStack<'a> {
    /// The stack of the profiles `ids` among those read in `known` (ids not there are ignored).
    pub(crate) fn of(known: &'a HashMap<NodeId, ProfileValues>, ids: &[NodeId]) -> Self {
        let mut profiles: Vec<&ProfileValues> = ids.iter().filter_map(|id| known.get(id)).collect();
        profiles.sort_by_key(|p| (p.priority, p.id));
        profiles.dedup_by_key(|p| p.id);
        ProfileStack { profiles }
    }

    /// The profile that supplies `attribute`, and its value: the strongest one that sets it.
    fn supply(&self, attribute: &str) -> Option<(NodeId, &'a Value)> {
        self.profiles.iter().find_map(|profile| {
            profile
                .values
                .get(attribute)
                .filter(|v| !v.is_null())
                .map(|v| (profile.id, v))
        })
    }
}

/// Whether `model` is a profile kind (`Profile<Kind>`).
pub(crate) fn is_profile(model: &ModelSchema) -> bool {
    model.category == ModelCategory::Profile
}

/// The state `attribute` takes once `stack` is applied to `state`, when that changes it. Only
/// values at their default or copied from a profile follow profiles; a copy whose profile no
/// longer sets the attribute goes back to the schema default.
pub(crate) fn applied(
    attribute: &AttributeSchema,
    state: &AttributeValue,
    stack: &ProfileStack<'_>,
) -> Option<AttributeValue> {
    if !state.is_default && !state.is_from_profile {
        return None;
    }
    let next = match stack.supply(&attribute.name) {
        Some((profile, value)) => AttributeValue {
            value: value.clone(),
            is_default: false,
            is_from_profile: true,
            source: Some(profile),
            ..state.clone()
        },
        None if state.is_from_profile => AttributeValue {
            value: attribute.default_value.clone().unwrap_or(Value::Null),
            is_default: true,
            is_from_profile: false,
            source: None,
            ..state.clone()
        },
        None => return None,
    };
    (next != *state).then_some(next)
}

/// The stored form of an attribute as the engine read it.
pub(crate) fn stored_state(attribute: &Attribute) -> AttributeValue {
    AttributeValue {
        value: attribute.value.clone(),
        is_default: attribute.is_default,
        is_protected: attribute.is_protected,
        is_visible: attribute.is_visible,
        source: attribute.source,
        owner: attribute.owner,
        is_from_profile: attribute.is_from_profile,
    }
}

/// Records in `changes` that `name` now holds `value` (previously `previous`), dropping the
/// entry when the value is back to what it was.
pub(crate) fn note_change(
    changes: &mut BTreeMap<String, AttributeChange>,
    attribute: &AttributeSchema,
    value: &Value,
    previous: &Value,
) {
    if value == previous {
        changes.remove(&attribute.name);
        return;
    }
    changes.insert(
        attribute.name.clone(),
        AttributeChange {
            kind: attribute.kind.to_string(),
            value: value.clone(),
            value_previous: previous.clone(),
        },
    );
}

/// A node write being prepared: what [`Engine::apply_profiles`] may add to.
pub(crate) struct PendingWrite<'a> {
    /// The node written.
    pub(crate) id: NodeId,
    /// Its model.
    pub(crate) model: &'a ModelSchema,
    /// The node before the write (`None` for a create).
    pub(crate) current: Option<&'a Node>,
    /// The profiles linked to the node after the write.
    pub(crate) profiles: &'a [NodeId],
    /// The write's operations.
    pub(crate) ops: &'a mut Vec<Op>,
    /// Attribute values after the write (uniqueness checks read them).
    pub(crate) values: &'a mut BTreeMap<String, Value>,
    /// Attribute changes the write's event reports.
    pub(crate) changes: &'a mut BTreeMap<String, AttributeChange>,
}

impl Engine {
    /// Reads, in one batch, the priority and attribute values of the profiles `ids`.
    pub(crate) async fn read_profiles(
        &self,
        view: &BranchView,
        ids: &BTreeSet<NodeId>,
    ) -> Result<HashMap<NodeId, ProfileValues>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<NodeId> = ids.iter().copied().collect();
        let read = self
            .store()
            .get_nodes(view, &ids, &Selection::all_attributes())
            .await?;
        Ok(read
            .into_iter()
            .map(|profile| {
                let priority = profile
                    .attributes
                    .get(PRIORITY)
                    .and_then(|a| a.value.value.as_i64())
                    .unwrap_or(i64::MAX);
                let values = profile
                    .attributes
                    .into_iter()
                    .filter(|(_, a)| !a.value.is_default)
                    .map(|(name, a)| (name, a.value.value))
                    .collect();
                (
                    profile.id,
                    ProfileValues {
                        id: profile.id,
                        priority,
                        values,
                    },
                )
            })
            .collect())
    }

    /// Applies the node's profiles to a write being prepared: attributes at their default or
    /// copied from a profile take their value from the node's profiles (after the write), and
    /// the write's operations, values and changes follow.
    pub(crate) async fn apply_profiles(
        &self,
        view: &BranchView,
        write: PendingWrite<'_>,
    ) -> Result<()> {
        if write.model.relationship(PROFILES).is_none() {
            return Ok(());
        }
        let follows_profile = write
            .current
            .is_some_and(|n| n.attributes.values().any(|a| a.is_from_profile));
        if write.profiles.is_empty() && !follows_profile {
            return Ok(());
        }
        let known = self
            .read_profiles(view, &write.profiles.iter().copied().collect())
            .await?;
        let stack = ProfileStack::of(&known, write.profiles);
        for attribute in &write.model.attributes {
            let pending = write.ops.iter().position(|op| {
                matches!(op, Op::SetAttribute { node, name, .. }
                    if *node == write.id && *name == attribute.name)
            });
            let state = match pending.map(|i| &write.ops[i]) {
                Some(Op::SetAttribute { value, .. }) => value.clone(),
                _ => match write
                    .current
                    .and_then(|n| n.attributes.get(&attribute.name))
                {
                    Some(current) => stored_state(current),
                    None => continue,
                },
            };
            let Some(next) = applied(attribute, &state, &stack) else {
                continue;
            };
            let previous = write
                .current
                .map_or(&Value::Null, |n| n.value(&attribute.name));
            note_change(write.changes, attribute, &next.value, previous);
            write
                .values
                .insert(attribute.name.clone(), next.value.clone());
            match pending {
                Some(index) => {
                    if let Op::SetAttribute { value, .. } = &mut write.ops[index] {
                        *value = next;
                    }
                }
                None => write.ops.push(Op::SetAttribute {
                    node: write.id,
                    name: attribute.name.clone(),
                    value: next,
                    scope: links::scope(attribute.branch),
                    indexed: !attribute.kind.is_large(),
                }),
            }
        }
        Ok(())
    }

    /// Re-applies the profiles of `nodes` on `branch` (after a profile changed, was deleted, or
    /// was linked or unlinked), in one changeset; returns an update event per node that changed.
    pub(crate) async fn refresh_profiles(
        &self,
        branch: &str,
        schema: &SchemaBranch,
        nodes: &BTreeSet<NodeId>,
    ) -> Result<Vec<Event>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let view = BranchView::now(branch);
        let fields = Fields {
            attributes: None,
            relationships: vec![PROFILES.to_string()],
        };
        let ids: Vec<NodeId> = nodes.iter().copied().collect();
        let read = self.get_any(&view, &ids, &fields).await?;
        let profile_ids: BTreeSet<NodeId> = read
            .iter()
            .flat_map(|n| n.peers(PROFILES).iter().map(|p| p.id))
            .collect();
        let known = self.read_profiles(&view, &profile_ids).await?;
        let mut ops = Vec::new();
        let mut touched: Vec<(&Node, BTreeMap<String, AttributeChange>)> = Vec::new();
        for node in &read {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            if model.relationship(PROFILES).is_none() {
                continue;
            }
            let linked: Vec<NodeId> = node.peers(PROFILES).iter().map(|p| p.id).collect();
            let stack = ProfileStack::of(&known, &linked);
            let mut changes = BTreeMap::new();
            let before = ops.len();
            for attribute in &model.attributes {
                let Some(current) = node.attributes.get(&attribute.name) else {
                    continue;
                };
                let Some(next) = applied(attribute, &stored_state(current), &stack) else {
                    continue;
                };
                note_change(&mut changes, attribute, &next.value, &current.value);
                ops.push(Op::SetAttribute {
                    node: node.id,
                    name: attribute.name.clone(),
                    value: next,
                    scope: links::scope(attribute.branch),
                    indexed: !attribute.kind.is_large(),
                });
            }
            if ops.len() > before {
                touched.push((node, changes));
            }
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut changeset = Changeset::new(branch);
        changeset.ops = ops;
        let at = self.store().commit(changeset).await?.at;
        Ok(touched
            .into_iter()
            .map(|(node, attributes)| {
                Event::NodeUpdated(NodeEvent {
                    branch: branch.to_string(),
                    kind: node.kind.clone(),
                    node_id: node.id,
                    at,
                    display_label: node.display_label.clone(),
                    attributes,
                    relationships: BTreeMap::new(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::AttributeKind;
    use serde_json::json;

    fn profile(id: u128, priority: i64, values: &[(&str, Value)]) -> ProfileValues {
        ProfileValues {
            id: NodeId::from_u128(id),
            priority,
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        }
    }

    fn role() -> AttributeSchema {
        let mut attribute = AttributeSchema::new("role", AttributeKind::Text);
        attribute.default_value = Some(json!("access"));
        attribute
    }

    fn default_state() -> AttributeValue {
        AttributeValue {
            is_default: true,
            ..AttributeValue::new(json!("access"))
        }
    }

    #[test]
    fn the_strongest_profile_that_sets_a_value_supplies_it() {
        let known: HashMap<NodeId, ProfileValues> = [
            profile(1, 500, &[("role", json!("core"))]),
            profile(2, 10, &[("role", Value::Null)]),
            profile(3, 10, &[("role", json!("edge"))]),
            profile(4, 10, &[("role", json!("spine"))]),
        ]
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
        let ids: Vec<NodeId> = (1..=4).map(NodeId::from_u128).collect();
        let stack = ProfileStack::of(&known, &ids);
        let next = applied(&role(), &default_state(), &stack).expect("a profile supplies role");
        assert_eq!(
            next.value,
            json!("edge"),
            "priority, then id; nulls skipped"
        );
        assert_eq!(next.source, Some(NodeId::from_u128(3)));
        assert!(next.is_from_profile && !next.is_default);
    }

    #[test]
    fn explicit_values_are_kept_and_orphaned_copies_go_back_to_the_default() {
        let known: HashMap<NodeId, ProfileValues> = [profile(1, 1, &[("role", json!("core"))])]
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let stack = ProfileStack::of(&known, &[NodeId::from_u128(1)]);
        let explicit = AttributeValue::new(json!("edge"));
        assert_eq!(applied(&role(), &explicit, &stack), None);

        let copied = applied(&role(), &default_state(), &stack).expect("copied");
        let empty = ProfileStack::of(&known, &[]);
        let reverted = applied(&role(), &copied, &empty).expect("reverted");
        assert_eq!(reverted, default_state());
        assert_eq!(applied(&role(), &copied, &stack), None, "already applied");
    }
}
