//! Profiles: nodes of `Profile<Kind>` whose attribute values are copied onto the nodes linked to
//! them, as upstream does. A node's attribute left at its default takes the value of its
//! strongest profile (lowest `profile_priority`, then lowest id) that sets it; the copy is
//! stored on the node with `is_from_profile` and the profile as `source`, so filters, ordering
//! and uniqueness see it. Copies are refreshed when a profile changes, is deleted, or is linked
//! to or unlinked from a node; a value a user sets explicitly is never overwritten.
//!
//! Relationships of kind Attribute and Generic work the same way (upstream 1.11): a node whose
//! relationship has no peers, or only peers a profile gave it, takes the peers of its strongest
//! profile that sets that relationship; those links carry the profile as their `source` (the SDK
//! reports them `is_from_profile`). A peer set by the user makes the relationship the user's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, Condition, NodeData, NodeId, Op, Selection, Timestamp,
    UniqueField,
};
use serde_json::Value;

use crate::error::Result;
use crate::schema::{
    AttributeSchema, ModelCategory, ModelSchema, RelationshipSchema, SchemaBranch,
};

use super::Engine;
use super::events::{AttributeChange, Event, NodeEvent};
use super::links;
use super::mutate::unique_relationship_names;
use super::node::{Attribute, Node};
use super::read::Fields;
use super::written;

/// The relationship through which a node takes attribute values from profiles.
pub(crate) const PROFILES: &str = "profiles";
/// The relationship of a profile to the nodes that use it.
pub(crate) const RELATED_NODES: &str = "related_nodes";
/// The attribute that orders a node's profiles (lowest first).
const PRIORITY: &str = "profile_priority";

/// One profile's priority and the attribute values and relationship peers it sets.
#[derive(Clone, Debug)]
pub(crate) struct ProfileValues {
    id: NodeId,
    priority: i64,
    values: BTreeMap<String, Value>,
    /// Peers by relationship name (only relationships with peers).
    peers: BTreeMap<String, Vec<NodeId>>,
}

impl ProfileValues {
    /// Whether the profile supplies field `name` (an attribute value or relationship peers).
    pub(crate) fn supplies(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_null()) || self.peers.contains_key(name)
    }
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

    /// The profile that supplies relationship `name`, and its peers: the strongest one that
    /// sets it.
    fn supply_peers(&self, name: &str) -> Option<(NodeId, &'a [NodeId])> {
        self.profiles
            .iter()
            .find_map(|profile| profile.peers.get(name).map(|p| (profile.id, p.as_slice())))
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

/// Whether a profile can set relationship `relationship` (a writable Attribute or Generic one).
pub(crate) fn profile_settable(relationship: &RelationshipSchema) -> bool {
    crate::schema::supports_profiles(relationship)
}

/// The operations that give relationship `relationship` of node `id` the peers of its profiles
/// (`stack`): `current` are its links now (peer and source), `sources` the profiles whose links
/// count as set by a profile (those of the node before and after the write). Nothing when a
/// current link was set by the user.
pub(crate) fn relationship_ops(
    relationship: &RelationshipSchema,
    id: NodeId,
    current: &[(NodeId, Option<NodeId>)],
    sources: &BTreeSet<NodeId>,
    stack: &ProfileStack<'_>,
) -> Vec<Op> {
    let from_profile = |source: &Option<NodeId>| source.is_some_and(|s| sources.contains(&s));
    if current.iter().any(|(_, source)| !from_profile(source)) {
        return Vec::new();
    }
    let (profile, wanted) = match stack.supply_peers(&relationship.name) {
        Some((profile, peers)) => (Some(profile), peers),
        None => (None, &[][..]),
    };
    let mut ops = Vec::new();
    for (peer, _) in current {
        if !wanted.contains(peer) {
            ops.push(links::remove(relationship, id, *peer));
        }
    }
    if let Some(profile) = profile {
        for peer in wanted {
            let linked = current.iter().find(|(p, _)| p == peer);
            if linked.is_some_and(|(_, source)| *source == Some(profile)) {
                continue;
            }
            let properties = infrahub_graph::LinkProperties {
                source: Some(profile),
                ..infrahub_graph::LinkProperties::visible()
            };
            ops.push(links::set(relationship, id, *peer, properties));
        }
    }
    ops
}

/// The links of `relationship` in `node`: peer and source.
fn links_with_source(
    node: &NodeData,
    relationship: &RelationshipSchema,
) -> Vec<(NodeId, Option<NodeId>)> {
    let identifier = relationship.identifier();
    let side = links::side(relationship);
    node.links
        .iter()
        .filter(|l| {
            l.identifier == identifier && (side == infrahub_graph::Side::Either || l.side == side)
        })
        .map(|l| (l.peer, l.properties.source))
        .collect()
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
    /// The relationships the write itself sets (the user's: profiles leave them alone).
    pub(crate) given: &'a BTreeSet<String>,
}

impl Engine {
    /// Reads, in one batch, the priority and attribute values of the profiles `ids`, as the
    /// uncommitted write `pending` leaves them (it may create some of them).
    pub(crate) async fn read_profiles(
        &self,
        view: &BranchView,
        ids: &BTreeSet<NodeId>,
        pending: &[Op],
    ) -> Result<HashMap<NodeId, ProfileValues>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let wanted: Vec<NodeId> = ids.iter().copied().collect();
        let mut read = self
            .store()
            .get_nodes(view, &wanted, &Selection::all_attributes())
            .await?;
        if !pending.is_empty() {
            for data in &mut read {
                written::overlay(data, &view.branch, pending);
            }
            let found: BTreeSet<NodeId> = read.iter().map(|n| n.id).collect();
            for id in ids.difference(&found) {
                let mut created = written::empty(*id, &view.branch);
                written::overlay(&mut created, &view.branch, pending);
                if !created.kind.is_empty() {
                    read.push(created);
                }
            }
        }
        // The peers of their relationships a profile can set.
        let schema = self.schema(&view.branch)?;
        let mut relationships: Vec<(String, RelationshipSchema)> = Vec::new();
        for kind in read.iter().map(|p| p.kind.clone()).collect::<BTreeSet<_>>() {
            if let Some(model) = schema.get(&kind) {
                for relationship in model.relationships.iter().filter(|r| profile_settable(r)) {
                    relationships.push((kind.clone(), relationship.clone()));
                }
            }
        }
        let mut peers_of: HashMap<NodeId, BTreeMap<String, Vec<NodeId>>> = HashMap::new();
        if !relationships.is_empty() {
            let selection = Selection {
                attributes: Some(Vec::new()),
                links: relationships
                    .iter()
                    .map(|(_, r)| links::selection(r))
                    .collect(),
            };
            let ids: Vec<NodeId> = read.iter().map(|p| p.id).collect();
            let mut linked = self.store().get_nodes(view, &ids, &selection).await?;
            let kinds: HashMap<NodeId, String> =
                read.iter().map(|p| (p.id, p.kind.clone())).collect();
            for data in &mut linked {
                written::overlay(data, &view.branch, pending);
            }
            // Profiles the pending write creates: their links are in it.
            let found: BTreeSet<NodeId> = linked.iter().map(|d| d.id).collect();
            for id in ids.iter().filter(|id| !found.contains(id)) {
                let mut created = written::empty(*id, &view.branch);
                written::overlay(&mut created, &view.branch, pending);
                linked.push(created);
            }
            for data in linked {
                let Some(kind) = kinds.get(&data.id) else {
                    continue;
                };
                for (_, relationship) in relationships.iter().filter(|(k, _)| k == kind) {
                    let peers = links::peers_in(&data, relationship);
                    if !peers.is_empty() {
                        peers_of
                            .entry(data.id)
                            .or_default()
                            .insert(relationship.name.clone(), peers);
                    }
                }
            }
        }
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
                let peers = peers_of.remove(&profile.id).unwrap_or_default();
                (
                    profile.id,
                    ProfileValues {
                        id: profile.id,
                        priority,
                        values,
                        peers,
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
        let before: Vec<NodeId> = write
            .current
            .map(|n| n.peers(PROFILES).iter().map(|p| p.id).collect())
            .unwrap_or_default();
        let follows_profile = write
            .current
            .is_some_and(|n| n.attributes.values().any(|a| a.is_from_profile))
            || !before.is_empty();
        if write.profiles.is_empty() && !follows_profile {
            return Ok(());
        }
        let known = self
            .read_profiles(view, &write.profiles.iter().copied().collect(), &[])
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
        let sources: BTreeSet<NodeId> = write
            .profiles
            .iter()
            .chain(before.iter())
            .copied()
            .collect();
        for relationship in write
            .model
            .relationships
            .iter()
            .filter(|r| profile_settable(r))
        {
            if write.given.contains(&relationship.name) {
                continue;
            }
            let mut current: Vec<(NodeId, Option<NodeId>)> = write
                .current
                .map(|n| {
                    n.peers(&relationship.name)
                        .iter()
                        .map(|p| (p.id, p.source))
                        .collect()
                })
                .unwrap_or_default();
            // As the write's own operations leave them.
            let identifier = relationship.identifier();
            for op in write.ops.iter() {
                match op {
                    Op::SetLink {
                        identifier: i,
                        from,
                        to,
                        properties,
                        ..
                    } if *i == identifier && (*from == write.id || *to == write.id) => {
                        let peer = if *from == write.id { *to } else { *from };
                        current.retain(|(p, _)| *p != peer);
                        current.push((peer, properties.source));
                    }
                    Op::RemoveLink {
                        identifier: i,
                        from,
                        to,
                        ..
                    } if *i == identifier && (*from == write.id || *to == write.id) => {
                        let peer = if *from == write.id { *to } else { *from };
                        current.retain(|(p, _)| *p != peer);
                    }
                    _ => {}
                }
            }
            let ops = relationship_ops(relationship, write.id, &current, &sources, &stack);
            write.ops.extend(ops);
        }
        Ok(())
    }

    /// Plans the re-application of profiles to `nodes` on `branch` after a profile changed, was
    /// deleted, or was linked or unlinked: worked out on the state `pending` (the write that
    /// changes the profiles, not yet committed) leaves, ignoring the deleted nodes `gone`, so
    /// that the refresh commits in the same changeset as that write, under uniqueness
    /// conditions on the values it sets.
    pub(crate) async fn plan_refresh(
        &self,
        branch: &str,
        schema: &SchemaBranch,
        nodes: &BTreeSet<NodeId>,
        pending: &[Op],
        gone: &BTreeSet<NodeId>,
    ) -> Result<Refresh> {
        let ids: Vec<NodeId> = nodes.difference(gone).copied().collect();
        if ids.is_empty() {
            return Ok(Refresh::default());
        }
        let view = BranchView::now(branch);
        let existence = self
            .store()
            .get_nodes(&view, &ids, &Selection::nothing())
            .await?;
        let mut by_kind: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
        for node in existence {
            by_kind.entry(node.kind).or_default().push(node.id);
        }
        // Each node with its profiles relationship, as the pending write leaves it.
        let mut read: Vec<(&ModelSchema, &RelationshipSchema, NodeData)> = Vec::new();
        for (kind, kind_ids) in by_kind {
            let Some(model) = schema.get(&kind) else {
                continue;
            };
            let Some(profiles) = model.relationship(PROFILES) else {
                continue;
            };
            let mut relationships = vec![PROFILES.to_string()];
            relationships.extend(unique_relationship_names(schema, model));
            relationships.extend(
                model
                    .relationships
                    .iter()
                    .filter(|r| profile_settable(r))
                    .map(|r| r.name.clone()),
            );
            let fields = Fields {
                attributes: None,
                relationships,
            };
            let selection = self.graph_selection(model, &fields);
            for mut data in self.store().get_nodes(&view, &kind_ids, &selection).await? {
                written::overlay(&mut data, branch, pending);
                read.push((model, profiles, data));
            }
        }
        let profile_ids: BTreeSet<NodeId> = read
            .iter()
            .flat_map(|(_, profiles, data)| links::peers_in(data, profiles))
            .filter(|id| !gone.contains(id))
            .collect();
        let known = self.read_profiles(&view, &profile_ids, pending).await?;
        let mut refresh = Refresh::default();
        for (model, profiles, mut data) in read {
            let linked = links::peers_in(&data, profiles);
            let stack = ProfileStack::of(&known, &linked);
            let mut changes = BTreeMap::new();
            let before = refresh.ops.len();
            for attribute in &model.attributes {
                let state = data
                    .attributes
                    .get(&attribute.name)
                    .map_or_else(|| default_state(attribute), |a| a.value.clone());
                let Some(next) = applied(attribute, &state, &stack) else {
                    continue;
                };
                note_change(&mut changes, attribute, &next.value, &state.value);
                refresh.ops.push(Op::SetAttribute {
                    node: data.id,
                    name: attribute.name.clone(),
                    value: next,
                    scope: links::scope(attribute.branch),
                    indexed: !attribute.kind.is_large(),
                });
            }
            // Profile peers: the sources are the profiles linked before the pending write
            // (its profile changes are in `linked`) and after it.
            let mut sources: BTreeSet<NodeId> = linked.iter().copied().collect();
            sources.extend(known.keys().copied());
            sources.extend(gone.iter().copied());
            for relationship in model.relationships.iter().filter(|r| profile_settable(r)) {
                let current = links_with_source(&data, relationship);
                let ops = relationship_ops(relationship, data.id, &current, &sources, &stack);
                refresh.ops.extend(ops);
            }
            if refresh.ops.len() == before {
                continue;
            }
            written::overlay(&mut data, branch, &refresh.ops[before..]);
            if !changes.is_empty() {
                refresh
                    .conditions
                    .extend(refreshed_conditions(schema, model, &data, &changes));
            }
            refresh.touched.push((data, changes));
        }
        Ok(refresh)
    }

    /// The update events of a committed refresh (committed at `at`), one per node it changed.
    pub(crate) async fn refresh_events(
        &self,
        branch: &str,
        schema: &SchemaBranch,
        refresh: Refresh,
        at: Timestamp,
    ) -> Result<Vec<Event>> {
        if refresh.touched.is_empty() {
            return Ok(Vec::new());
        }
        let mut changes: HashMap<NodeId, BTreeMap<String, AttributeChange>> = HashMap::new();
        let mut data = Vec::with_capacity(refresh.touched.len());
        for (mut node, node_changes) in refresh.touched {
            written::stamp(&mut node, at);
            changes.insert(node.id, node_changes);
            data.push(node);
        }
        // Display labels as the refresh leaves them.
        let fields = Fields {
            attributes: None,
            relationships: Vec::new(),
        };
        let nodes = self
            .to_nodes(&BranchView::now(branch), schema, data, &fields)
            .await?;
        Ok(nodes
            .into_iter()
            .map(|node| {
                Event::NodeUpdated(NodeEvent {
                    branch: branch.to_string(),
                    attributes: changes.remove(&node.id).unwrap_or_default(),
                    kind: node.kind,
                    node_id: node.id,
                    at,
                    display_label: node.display_label,
                    relationships: BTreeMap::new(),
                })
            })
            .collect())
    }
}

/// Profile values re-applied to nodes, planned by [`Engine::plan_refresh`] to commit with the
/// write that changes the profiles.
#[derive(Debug, Default)]
pub(crate) struct Refresh {
    /// Writes of the values.
    ops: Vec<Op>,
    /// Uniqueness conditions on the values set.
    conditions: Vec<Condition>,
    /// The nodes changed, as the write leaves them, with their attribute changes.
    touched: Vec<(NodeData, BTreeMap<String, AttributeChange>)>,
}

impl Refresh {
    /// Moves the refresh's writes and conditions into `changeset`.
    pub(crate) fn add_to(&mut self, changeset: &mut Changeset) {
        changeset.ops.append(&mut self.ops);
        changeset.conditions.append(&mut self.conditions);
    }

    /// Takes out the attribute changes the refresh makes to `id`, for a write whose own event
    /// reports that node.
    pub(crate) fn take_changes(&mut self, id: NodeId) -> BTreeMap<String, AttributeChange> {
        match self.touched.iter().position(|(node, _)| node.id == id) {
            Some(index) => self.touched.remove(index).1,
            None => BTreeMap::new(),
        }
    }
}

/// The uniqueness conditions of `model` that involve an attribute in `changes`, on the values
/// and peers of `node`.
fn refreshed_conditions(
    schema: &SchemaBranch,
    model: &ModelSchema,
    node: &NodeData,
    changes: &BTreeMap<String, AttributeChange>,
) -> Vec<Condition> {
    let values: BTreeMap<String, Value> = model
        .attributes
        .iter()
        .map(|attribute| {
            let value = node.attributes.get(&attribute.name).map_or_else(
                || attribute.default_value.clone().unwrap_or(Value::Null),
                |a| a.value.value.clone(),
            );
            (attribute.name.clone(), value)
        })
        .collect();
    let peers: BTreeMap<String, Vec<NodeId>> = unique_relationship_names(schema, model)
        .into_iter()
        .filter_map(|name| {
            let relationship = model.relationship(&name)?;
            Some((name, links::peers_in(node, relationship)))
        })
        .collect();
    Engine::unique_conditions(schema, model, &values, &peers, Some(node.id))
        .into_iter()
        .filter(|condition| {
            match condition {
            Condition::Unique { fields, .. } => fields.iter().any(|field| {
                matches!(field, UniqueField::Attribute { name, .. } if changes.contains_key(name))
            }),
            _ => true,
        }
        })
        .collect()
}

/// The stored state of an attribute never written: its schema default.
fn default_state(attribute: &AttributeSchema) -> AttributeValue {
    AttributeValue {
        is_default: true,
        ..AttributeValue::new(attribute.default_value.clone().unwrap_or(Value::Null))
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
            peers: BTreeMap::new(),
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
