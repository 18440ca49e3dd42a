//! Diffs between a branch and the default branch: what the branch changed at node, attribute,
//! attribute-property and relationship level, with the conflicts both sides created, in the
//! shape of upstream's `DiffTree`. A diff is computed from the branch's own change records, so
//! its cost follows the size of the change, not of the database.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infrahub_graph::{BranchView, Change, NodeId, Slot, Status, Timestamp, Version, VersionData};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Engine;
use super::read::Fields;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{Cardinality, SchemaBranch};

/// What happened to an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiffAction {
    /// It did not exist before.
    Added,
    /// It no longer exists.
    Removed,
    /// It changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

/// The branch's diff against the default branch (`DiffTree`).
#[derive(Clone, Debug, Serialize)]
pub struct DiffTree {
    /// The default branch.
    pub base_branch: String,
    /// The branch.
    pub diff_branch: String,
    /// Start of the range (exclusive).
    pub from_time: String,
    /// End of the range (inclusive).
    pub to_time: String,
    /// Name of the stored diff, if any.
    pub name: Option<String>,
    /// Nodes added.
    pub num_added: usize,
    /// Nodes updated.
    pub num_updated: usize,
    /// Nodes removed.
    pub num_removed: usize,
    /// Conflicts.
    pub num_conflicts: usize,
    /// Changes of the default branch not in this diff (always 0: conflicts are computed live).
    pub num_untracked_base_changes: usize,
    /// Changes of the branch not in this diff (always 0: the diff is computed live).
    pub num_untracked_diff_changes: usize,
    /// Changed nodes.
    pub nodes: Vec<DiffNode>,
}

/// A changed node.
#[derive(Clone, Debug, Serialize)]
pub struct DiffNode {
    /// Node id.
    pub uuid: String,
    /// Kind.
    pub kind: String,
    /// Display label.
    pub label: String,
    /// What happened to it.
    pub status: DiffAction,
    /// Path of the element in the diff.
    pub path_identifier: String,
    /// Conflict on the node's existence.
    pub conflict: Option<ConflictDetails>,
    /// Whether anything of the node conflicts.
    pub contains_conflict: bool,
    /// Latest change.
    pub last_changed_at: String,
    /// Parent in the diff (not computed: null).
    pub parent: Option<Value>,
    /// Changed attributes.
    pub attributes: Vec<DiffAttribute>,
    /// Changed relationships.
    pub relationships: Vec<DiffRelationship>,
    /// Attributes and relationship elements added.
    pub num_added: usize,
    /// ... updated.
    pub num_updated: usize,
    /// ... removed.
    pub num_removed: usize,
    /// Conflicts under the node.
    pub num_conflicts: usize,
}

/// A changed attribute.
#[derive(Clone, Debug, Serialize)]
pub struct DiffAttribute {
    /// Attribute name.
    pub name: String,
    /// Latest change.
    pub last_changed_at: String,
    /// What happened to it.
    pub status: DiffAction,
    /// Path of the element in the diff.
    pub path_identifier: String,
    /// Changed properties (`HAS_VALUE`, `IS_PROTECTED`, ...).
    pub properties: Vec<DiffProperty>,
    /// Whether it conflicts.
    pub contains_conflict: bool,
    /// The conflict.
    pub conflict: Option<ConflictDetails>,
    /// Properties added.
    pub num_added: usize,
    /// Properties updated.
    pub num_updated: usize,
    /// Properties removed.
    pub num_removed: usize,
    /// Conflicts.
    pub num_conflicts: usize,
}

/// A changed property of an attribute or of a link.
#[derive(Clone, Debug, Serialize)]
pub struct DiffProperty {
    /// `HAS_VALUE`, `IS_PROTECTED`, `IS_VISIBLE`, `HAS_SOURCE`, `HAS_OWNER`, `IS_RELATED`.
    pub property_type: String,
    /// When it changed.
    pub last_changed_at: String,
    /// Value before, as text.
    pub previous_value: Option<String>,
    /// Value after, as text.
    pub new_value: Option<String>,
    /// Label before (peers).
    pub previous_label: Option<String>,
    /// Label after (peers).
    pub new_label: Option<String>,
    /// What happened to it.
    pub status: DiffAction,
    /// Path of the element in the diff.
    pub path_identifier: String,
    /// Conflict on this property.
    pub conflict: Option<ConflictDetails>,
}

/// A changed relationship.
#[derive(Clone, Debug, Serialize)]
pub struct DiffRelationship {
    /// Relationship name.
    pub name: String,
    /// Label.
    pub label: Option<String>,
    /// Latest change.
    pub last_changed_at: String,
    /// `ONE` or `MANY`.
    pub cardinality: String,
    /// What happened to it.
    pub status: DiffAction,
    /// Path of the element in the diff.
    pub path_identifier: String,
    /// Changed links.
    pub elements: Vec<DiffSingleRelationship>,
    /// Whether a link conflicts.
    pub contains_conflict: bool,
    /// Links added.
    pub num_added: usize,
    /// Links updated.
    pub num_updated: usize,
    /// Links removed.
    pub num_removed: usize,
    /// Conflicts.
    pub num_conflicts: usize,
}

/// A changed link.
#[derive(Clone, Debug, Serialize)]
pub struct DiffSingleRelationship {
    /// Latest change.
    pub last_changed_at: String,
    /// What happened to it.
    pub status: DiffAction,
    /// The peer.
    pub peer_id: String,
    /// The peer's display label.
    pub peer_label: Option<String>,
    /// Path of the element in the diff.
    pub path_identifier: String,
    /// Whether it conflicts.
    pub contains_conflict: bool,
    /// The conflict.
    pub conflict: Option<ConflictDetails>,
    /// Changed properties.
    pub properties: Vec<DiffProperty>,
    /// Properties added.
    pub num_added: usize,
    /// Properties updated.
    pub num_updated: usize,
    /// Properties removed.
    pub num_removed: usize,
    /// Conflicts.
    pub num_conflicts: usize,
}

/// Both sides changed the same element.
#[derive(Clone, Debug, Serialize)]
pub struct ConflictDetails {
    /// Stable id, to resolve it.
    pub uuid: String,
    /// What the default branch did.
    pub base_branch_action: DiffAction,
    /// The default branch's value.
    pub base_branch_value: Option<String>,
    /// When the default branch changed it.
    pub base_branch_changed_at: String,
    /// Label of the default branch's value.
    pub base_branch_label: Option<String>,
    /// What the branch did.
    pub diff_branch_action: DiffAction,
    /// The branch's value.
    pub diff_branch_value: Option<String>,
    /// When the branch changed it.
    pub diff_branch_changed_at: String,
    /// Label of the branch's value.
    pub diff_branch_label: Option<String>,
    /// The side chosen, if resolved: `BASE_BRANCH` or `DIFF_BRANCH`.
    pub selected_branch: Option<String>,
    /// Whether it can be resolved by choosing a side.
    pub resolvable: bool,
}

/// A key that identifies a slot in maps.
pub(crate) fn slot_key(slot: &Slot) -> String {
    match slot {
        Slot::Node { id } => format!("node:{id}"),
        Slot::Attribute { node, name } => format!("attribute:{node}:{name}"),
        Slot::Link {
            identifier,
            from,
            to,
        } => format!("link:{identifier}:{from}:{to}"),
    }
}

/// The stable id of the conflict of `branch` on `slot`.
pub(crate) fn conflict_id(branch: &str, slot: &Slot) -> String {
    use md5::{Digest, Md5};
    let digest: [u8; 16] =
        Md5::digest(format!("conflict:{branch}:{}", slot_key(slot)).as_bytes()).into();
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .to_string()
}

/// First `before` and last `after` of each slot among `changes` (local records left out).
pub(crate) fn net_changes(
    changes: Vec<Change>,
) -> BTreeMap<String, (Slot, Option<Version>, Version)> {
    let mut net: BTreeMap<String, (Slot, Option<Version>, Version)> = BTreeMap::new();
    for change in changes {
        if change.after.local {
            continue;
        }
        let key = slot_key(&change.slot);
        match net.get_mut(&key) {
            Some(entry) => {
                if change.after.at >= entry.2.at {
                    entry.2 = change.after;
                }
            }
            None => {
                net.insert(key, (change.slot, change.before, change.after));
            }
        }
    }
    net
}

fn active(version: Option<&Version>) -> bool {
    version.is_some_and(|v| v.status == Status::Active)
}

fn action(before: Option<&Version>, after: Option<&Version>) -> DiffAction {
    match (active(before), active(after)) {
        (false, true) => DiffAction::Added,
        (true, false) => DiffAction::Removed,
        (true, true) => DiffAction::Updated,
        (false, false) => DiffAction::Unchanged,
    }
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Text of the part of a version a property looks at.
fn property_text(version: Option<&Version>, property: &str) -> Option<String> {
    let version = version.filter(|v| v.status == Status::Active)?;
    match (&version.data, property) {
        (VersionData::Attribute(a), "HAS_VALUE") => value_text(&a.value),
        (VersionData::Attribute(a), "IS_PROTECTED") => Some(a.is_protected.to_string()),
        (VersionData::Attribute(a), "IS_VISIBLE") => Some(a.is_visible.to_string()),
        (VersionData::Attribute(a), "HAS_SOURCE") => a.source.map(|s| s.to_string()),
        (VersionData::Attribute(a), "HAS_OWNER") => a.owner.map(|s| s.to_string()),
        (VersionData::Link(l), "IS_PROTECTED") => Some(l.is_protected.to_string()),
        (VersionData::Link(l), "IS_VISIBLE") => Some(l.is_visible.to_string()),
        (VersionData::Link(l), "HAS_SOURCE") => l.source.map(|s| s.to_string()),
        (VersionData::Link(l), "HAS_OWNER") => l.owner.map(|s| s.to_string()),
        _ => None,
    }
}

fn properties_of(
    before: Option<&Version>,
    after: &Version,
    kinds: &[&str],
    path: &str,
    conflict: &Option<ConflictDetails>,
) -> Vec<DiffProperty> {
    let at = after.at.to_string();
    kinds
        .iter()
        .filter_map(|property| {
            let previous = property_text(before, property);
            let new = property_text(Some(after), property);
            if previous == new {
                return None;
            }
            let status = match (&previous, &new) {
                (None, Some(_)) => DiffAction::Added,
                (Some(_), None) => DiffAction::Removed,
                _ => DiffAction::Updated,
            };
            Some(DiffProperty {
                property_type: (*property).to_string(),
                last_changed_at: at.clone(),
                previous_value: previous,
                new_value: new,
                previous_label: None,
                new_label: None,
                status,
                path_identifier: format!("{path}/property/{property}"),
                conflict: if *property == "HAS_VALUE" || *property == "IS_RELATED" {
                    conflict.clone()
                } else {
                    None
                },
            })
        })
        .collect()
}

fn count(statuses: impl Iterator<Item = DiffAction>) -> (usize, usize, usize) {
    let (mut added, mut updated, mut removed) = (0, 0, 0);
    for status in statuses {
        match status {
            DiffAction::Added => added += 1,
            DiffAction::Updated => updated += 1,
            DiffAction::Removed => removed += 1,
            DiffAction::Unchanged => {}
        }
    }
    (added, updated, removed)
}

impl Engine {
    /// Conflict choices recorded on a branch, by conflict id.
    pub(crate) async fn conflict_choices(&self, branch: &str) -> Result<Map<String, Value>> {
        let record = self.store().get_branch(branch).await?;
        Ok(record
            .properties
            .get("conflict_choices")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    /// The branch a conflict id belongs to.
    pub async fn branch_of_conflict(&self, conflict: &str) -> Result<String> {
        for branch in self.branches().await? {
            if branch.is_default {
                continue;
            }
            let conflicts = self.branch_conflicts(&branch.name).await?;
            if conflicts
                .iter()
                .any(|c| conflict_id(&branch.name, &c.slot) == conflict)
            {
                return Ok(branch.name);
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!("Unable to find the conflict {conflict}"),
        ))
    }

    /// Records which side wins a conflict of `branch` (`base` = the default branch's version).
    pub async fn resolve_conflict(&self, branch: &str, conflict: &str, base: bool) -> Result<()> {
        let conflicts = self.branch_conflicts(branch).await?;
        if !conflicts
            .iter()
            .any(|c| conflict_id(branch, &c.slot) == conflict)
        {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the conflict {conflict} on branch {branch}"),
            ));
        }
        let record = self.store().get_branch(branch).await?;
        let mut properties = record.properties.clone();
        let mut choices = properties
            .get("conflict_choices")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        choices.insert(
            conflict.to_string(),
            Value::String(if base { "BASE_BRANCH" } else { "DIFF_BRANCH" }.into()),
        );
        properties.insert("conflict_choices".into(), Value::Object(choices));
        self.store().update_branch(branch, properties).await?;
        Ok(())
    }

    /// Records a named diff's time range (`DiffUpdate`).
    pub async fn update_diff(
        &self,
        branch: &str,
        name: Option<&str>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<()> {
        let record = self.store().get_branch(branch).await?;
        if record.is_default {
            return Err(Error::new(
                ErrorKind::Validation,
                "The default branch has no diff",
            ));
        }
        if (from.is_some() || to.is_some()) && name.is_none() {
            return Err(Error::new(
                ErrorKind::Validation,
                "A name is required to compute a diff for a custom time range",
            ));
        }
        let mut properties = record.properties.clone();
        let mut diffs = properties
            .get("diffs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let branched_from = record.current_epoch().branched_from;
        let from = from.unwrap_or(branched_from);
        let to = to.unwrap_or(self.store().last_commit().await?);
        diffs.insert(
            name.unwrap_or("").to_string(),
            json!({"from": from.to_string(), "to": to.to_string()}),
        );
        properties.insert("diffs".into(), Value::Object(diffs));
        self.store().update_branch(branch, properties).await?;
        Ok(())
    }

    /// The diff of `branch` against the default branch. A `name` reads the range stored by
    /// [`Engine::update_diff`] (`None` when there is none); without a name, the range is the
    /// one given, or from the branch point to now.
    pub async fn diff_tree(
        &self,
        branch: &str,
        name: Option<&str>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Option<DiffTree>> {
        let record = self.store().get_branch(branch).await.map_err(|e| {
            if e.kind() == infrahub_graph::ErrorKind::NotFound {
                Error::new(ErrorKind::NotFound, format!("Branch: {branch} not found."))
            } else {
                e.into()
            }
        })?;
        let epoch = record.current_epoch();
        let (from, to) = match name {
            Some(name) => {
                let Some(stored) = record.properties.get("diffs").and_then(|d| d.get(name)) else {
                    return Ok(None);
                };
                let time = |key: &str| {
                    stored
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(|t| Timestamp::parse(t).ok())
                };
                (
                    from.or_else(|| time("from")).unwrap_or(epoch.branched_from),
                    to.or_else(|| time("to")).unwrap_or(Timestamp::MAX),
                )
            }
            None => (
                from.unwrap_or(epoch.branched_from),
                match to {
                    Some(to) => to,
                    None => self.store().last_commit().await?,
                },
            ),
        };
        let schema = self.schema(branch)?;
        // A rebase writes the branch's changes at the start of its epoch: the range includes
        // that instant.
        let since = if from <= epoch.start {
            epoch.start.plus_micros(-1)
        } else {
            from
        };
        let changes = self.store().changes(branch, since, to).await?;
        let net = net_changes(changes);
        let choices = self.conflict_choices(branch).await?;
        let conflicts: HashMap<String, super::branches::Conflict> = self
            .branch_conflicts(branch)
            .await?
            .into_iter()
            .map(|c| (slot_key(&c.slot), c))
            .collect();
        let tree = self
            .build_tree(
                &schema,
                branch,
                &record.name,
                from,
                to,
                net,
                &conflicts,
                &choices,
            )
            .await?;
        Ok(Some(DiffTree {
            name: name.map(str::to_string),
            ..tree
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn build_tree(
        &self,
        schema: &SchemaBranch,
        branch: &str,
        branch_name: &str,
        from: Timestamp,
        to: Timestamp,
        net: BTreeMap<String, (Slot, Option<Version>, Version)>,
        conflicts: &HashMap<String, super::branches::Conflict>,
        choices: &Map<String, Value>,
    ) -> Result<DiffTree> {
        // Which nodes changed, and the labels of everything shown.
        let mut nodes: BTreeSet<NodeId> = BTreeSet::new();
        let mut peers: BTreeSet<NodeId> = BTreeSet::new();
        for (slot, _, _) in net.values() {
            match slot {
                Slot::Node { id } => {
                    nodes.insert(*id);
                }
                Slot::Attribute { node, .. } => {
                    nodes.insert(*node);
                }
                Slot::Link { from, to, .. } => {
                    nodes.insert(*from);
                    nodes.insert(*to);
                    peers.insert(*from);
                    peers.insert(*to);
                }
            }
        }
        let everything: Vec<NodeId> = nodes.union(&peers).copied().collect();
        let mut known: HashMap<NodeId, (String, String)> = HashMap::new();
        for view in [
            BranchView::now(branch),
            BranchView::now(self.default_branch()),
        ] {
            let missing: Vec<NodeId> = everything
                .iter()
                .filter(|id| !known.contains_key(id))
                .copied()
                .collect();
            if missing.is_empty() {
                break;
            }
            for node in self.get_any(&view, &missing, &Fields::minimal()).await? {
                known.insert(node.id, (node.kind, node.display_label));
            }
        }
        let conflict_of = |slot: &Slot, after: &Version| -> Option<ConflictDetails> {
            let conflict = conflicts.get(&slot_key(slot))?;
            let id = conflict_id(branch, slot);
            let text = |value: &Value| -> (DiffAction, Option<String>) {
                let status = value.get(0).and_then(Value::as_str).unwrap_or("active");
                let data = value.get(1).cloned().unwrap_or(Value::Null);
                let shown = (data.get("type").and_then(Value::as_str) == Some("attribute"))
                    .then(|| data.get("value").and_then(value_text))
                    .flatten();
                if status.eq_ignore_ascii_case("deleted") {
                    (DiffAction::Removed, None)
                } else {
                    (DiffAction::Updated, shown)
                }
            };
            let (base_action, base_value) = text(&conflict.base);
            let (diff_action, diff_value) = text(&conflict.branch);
            Some(ConflictDetails {
                uuid: id.clone(),
                base_branch_action: base_action,
                base_branch_value: base_value,
                base_branch_changed_at: to.to_string(),
                base_branch_label: None,
                diff_branch_action: diff_action,
                diff_branch_value: diff_value,
                diff_branch_changed_at: after.at.to_string(),
                diff_branch_label: None,
                selected_branch: choices.get(&id).and_then(Value::as_str).map(str::to_string),
                resolvable: true,
            })
        };
        let mut by_node: BTreeMap<NodeId, DiffNode> = BTreeMap::new();
        let entry = |by_node: &mut BTreeMap<NodeId, DiffNode>, id: NodeId| -> Option<()> {
            if by_node.contains_key(&id) {
                return Some(());
            }
            let (kind, label) = known.get(&id)?.clone();
            by_node.insert(
                id,
                DiffNode {
                    uuid: id.to_string(),
                    kind,
                    label,
                    status: DiffAction::Updated,
                    path_identifier: format!("data/{id}"),
                    conflict: None,
                    contains_conflict: false,
                    last_changed_at: String::new(),
                    parent: None,
                    attributes: Vec::new(),
                    relationships: Vec::new(),
                    num_added: 0,
                    num_updated: 0,
                    num_removed: 0,
                    num_conflicts: 0,
                },
            );
            Some(())
        };
        for (slot, before, after) in net.values() {
            let status = action(before.as_ref(), Some(after));
            if status == DiffAction::Unchanged {
                continue;
            }
            let conflict = conflict_of(slot, after);
            match slot {
                Slot::Node { id } => {
                    if entry(&mut by_node, *id).is_none() {
                        continue;
                    }
                    if let Some(node) = by_node.get_mut(id) {
                        node.status = status;
                        node.conflict = conflict;
                        node.last_changed_at =
                            node.last_changed_at.clone().max(after.at.to_string());
                    }
                }
                Slot::Attribute { node, name } => {
                    // Attributes the engine keeps for itself (IPAM keys) are not data.
                    if name.starts_with('~') || entry(&mut by_node, *node).is_none() {
                        continue;
                    }
                    let path = format!("data/{node}/{name}");
                    let properties = properties_of(
                        before.as_ref(),
                        after,
                        &[
                            "HAS_VALUE",
                            "IS_PROTECTED",
                            "IS_VISIBLE",
                            "HAS_SOURCE",
                            "HAS_OWNER",
                        ],
                        &path,
                        &conflict,
                    );
                    if properties.is_empty() && status == DiffAction::Updated {
                        continue;
                    }
                    let (added, updated, removed) = count(properties.iter().map(|p| p.status));
                    if let Some(diff) = by_node.get_mut(node) {
                        diff.last_changed_at =
                            diff.last_changed_at.clone().max(after.at.to_string());
                        diff.attributes.push(DiffAttribute {
                            name: name.clone(),
                            last_changed_at: after.at.to_string(),
                            status,
                            path_identifier: path,
                            properties,
                            contains_conflict: conflict.is_some(),
                            num_conflicts: usize::from(conflict.is_some()),
                            conflict,
                            num_added: added,
                            num_updated: updated,
                            num_removed: removed,
                        });
                    }
                }
                Slot::Link {
                    identifier,
                    from,
                    to: peer_to,
                } => {
                    for (node, peer) in [(*from, *peer_to), (*peer_to, *from)] {
                        if entry(&mut by_node, node).is_none() {
                            continue;
                        }
                        let Some(model) = known.get(&node).and_then(|(kind, _)| schema.get(kind))
                        else {
                            continue;
                        };
                        let Some(relationship) = model
                            .relationships
                            .iter()
                            .find(|r| r.identifier() == identifier)
                        else {
                            continue;
                        };
                        let path = format!("data/{node}/{}/{peer}", relationship.name);
                        let mut properties = properties_of(
                            before.as_ref(),
                            after,
                            &["IS_PROTECTED", "IS_VISIBLE", "HAS_SOURCE", "HAS_OWNER"],
                            &path,
                            &None,
                        );
                        if status != DiffAction::Updated {
                            let peer_text = Some(peer.to_string());
                            properties.insert(
                                0,
                                DiffProperty {
                                    property_type: "IS_RELATED".into(),
                                    last_changed_at: after.at.to_string(),
                                    previous_value: (status == DiffAction::Removed)
                                        .then(|| peer_text.clone())
                                        .flatten(),
                                    new_value: (status == DiffAction::Added)
                                        .then_some(peer_text)
                                        .flatten(),
                                    previous_label: None,
                                    new_label: None,
                                    status,
                                    path_identifier: format!("{path}/property/IS_RELATED"),
                                    conflict: conflict.clone(),
                                },
                            );
                        }
                        if properties.is_empty() {
                            continue;
                        }
                        let (added, updated, removed) = count(properties.iter().map(|p| p.status));
                        let element = DiffSingleRelationship {
                            last_changed_at: after.at.to_string(),
                            status,
                            peer_id: peer.to_string(),
                            peer_label: known.get(&peer).map(|(_, label)| label.clone()),
                            path_identifier: path,
                            contains_conflict: conflict.is_some(),
                            conflict: conflict.clone(),
                            properties,
                            num_added: added,
                            num_updated: updated,
                            num_removed: removed,
                            num_conflicts: usize::from(conflict.is_some()),
                        };
                        let Some(diff) = by_node.get_mut(&node) else {
                            continue;
                        };
                        diff.last_changed_at =
                            diff.last_changed_at.clone().max(after.at.to_string());
                        match diff
                            .relationships
                            .iter_mut()
                            .find(|r| r.name == relationship.name)
                        {
                            Some(existing) => existing.elements.push(element),
                            None => diff.relationships.push(DiffRelationship {
                                name: relationship.name.clone(),
                                label: relationship.label.clone(),
                                last_changed_at: after.at.to_string(),
                                cardinality: if relationship.cardinality == Cardinality::One {
                                    "ONE".into()
                                } else {
                                    "MANY".into()
                                },
                                status: DiffAction::Updated,
                                path_identifier: format!("data/{node}/{}", relationship.name),
                                elements: vec![element],
                                contains_conflict: false,
                                num_added: 0,
                                num_updated: 0,
                                num_removed: 0,
                                num_conflicts: 0,
                            }),
                        }
                    }
                }
            }
        }
        // Roll the counts up.
        let mut tree_nodes: Vec<DiffNode> = Vec::with_capacity(by_node.len());
        for (_, mut node) in by_node {
            for relationship in &mut node.relationships {
                let (added, updated, removed) =
                    count(relationship.elements.iter().map(|e| e.status));
                relationship.num_added = added;
                relationship.num_updated = updated;
                relationship.num_removed = removed;
                relationship.num_conflicts = relationship
                    .elements
                    .iter()
                    .filter(|e| e.contains_conflict)
                    .count();
                relationship.contains_conflict = relationship.num_conflicts > 0;
                relationship.last_changed_at = relationship
                    .elements
                    .iter()
                    .map(|e| e.last_changed_at.clone())
                    .max()
                    .unwrap_or_default();
            }
            if node.attributes.is_empty()
                && node.relationships.is_empty()
                && node.status == DiffAction::Updated
            {
                continue;
            }
            let (added, updated, removed) = count(
                node.attributes.iter().map(|a| a.status).chain(
                    node.relationships
                        .iter()
                        .flat_map(|r| r.elements.iter().map(|e| e.status)),
                ),
            );
            node.num_added = added;
            node.num_updated = updated;
            node.num_removed = removed;
            node.num_conflicts = node
                .attributes
                .iter()
                .map(|a| a.num_conflicts)
                .sum::<usize>()
                + node
                    .relationships
                    .iter()
                    .map(|r| r.num_conflicts)
                    .sum::<usize>()
                + usize::from(node.conflict.is_some());
            node.contains_conflict = node.num_conflicts > 0;
            tree_nodes.push(node);
        }
        let (num_added, num_updated, num_removed) = count(tree_nodes.iter().map(|n| n.status));
        Ok(DiffTree {
            base_branch: self.default_branch().to_string(),
            diff_branch: branch_name.to_string(),
            from_time: from.to_string(),
            to_time: to.to_string(),
            name: None,
            num_added,
            num_updated,
            num_removed,
            num_conflicts: tree_nodes.iter().map(|n| n.num_conflicts).sum(),
            num_untracked_base_changes: 0,
            num_untracked_diff_changes: 0,
            nodes: tree_nodes,
        })
    }
}
