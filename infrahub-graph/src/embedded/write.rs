//! Applying a changeset: every write is checked against the branch's latest state (including
//! the changeset's own earlier writes) and turned into pending table writes; nothing reaches
//! the tables unless the whole changeset and its conditions pass.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::changeset::{Changeset, Condition, Op, UniqueField};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{NodeId, Scope, Side, Slot, Status, VersionData};
use crate::time::Timestamp;

use super::codec::encode;
use super::counters::{CountCache, CountDeltas};
use super::keys::{
    self, BN_GLOBAL, all_links_prefix, attribute_slot, change_key, decode_reverse_link,
    decode_slot, encode_changes, label_key, label_kind_key, link_slot, node_data_range, node_slot,
    prefix_end, reverse_link_key, value_key,
};
use super::read::{links_of, node_core, node_existence};
use super::tables::{Kv, Overlay, Pending, Table};
use super::view::{ViewSpec, scan_winners, visible};

/// Where and when a changeset writes.
pub(crate) struct WriteContext {
    /// The branch's latest state, including the changeset's own writes.
    pub(crate) view: ViewSpec,
    /// Timestamp of every write.
    pub(crate) at: Timestamp,
}

impl WriteContext {
    fn branch_of(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Global => BN_GLOBAL,
            Scope::Branch | Scope::Local => self.view.branch,
        }
    }
}

/// Pending writes of one changeset.
pub(crate) struct Writer<'a> {
    base: &'a dyn Kv,
    context: &'a WriteContext,
    pending: Pending,
    counts: CountDeltas,
    /// Nodes looked up or written by this changeset: kind and labels, or `None` if absent.
    nodes: HashMap<NodeId, Option<(String, Vec<String>)>>,
    /// Slots written, by branch, with their change-log note.
    changes: BTreeMap<(u32, Vec<u8>), Vec<u8>>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(base: &'a dyn Kv, context: &'a WriteContext) -> Self {
        Writer {
            base,
            context,
            pending: Pending::default(),
            counts: CountDeltas::default(),
            nodes: HashMap::new(),
            changes: BTreeMap::new(),
        }
    }

    fn kv(&self) -> Overlay<'_> {
        Overlay {
            base: self.base,
            pending: &self.pending,
        }
    }

    /// Writes one version of a slot (and its change-log entry).
    pub(crate) fn put_version(
        &mut self,
        slot: &[u8],
        branch: u32,
        status: Status,
        local: bool,
        data: &VersionData,
    ) {
        self.put_indexed_version(slot, branch, status, local, data, None);
    }

    /// Writes one version; `indexed_kind` is the node kind under which the value is indexed,
    /// recorded in the change log so that deleting the branch can drop the index entry.
    fn put_indexed_version(
        &mut self,
        slot: &[u8],
        branch: u32,
        status: Status,
        local: bool,
        data: &VersionData,
        indexed_kind: Option<&str>,
    ) {
        let at = self.context.at;
        let version = encode(status, local, indexed_kind.is_some(), data);
        self.pending.put(
            Table::Versions,
            keys::version_key(slot, branch, at),
            version,
        );
        let note = indexed_kind
            .map(|k| k.as_bytes().to_vec())
            .unwrap_or_default();
        self.changes.insert((branch, slot.to_vec()), note);
    }

    fn index_value(&mut self, kind: &str, name: &str, value: &Value, node: NodeId, branch: u32) {
        let key = value_key(kind, name, value, node, branch, self.context.at);
        self.pending.put(Table::Values, key, Vec::new());
    }

    /// Records that `kind` carries `label`, unless already known.
    fn note_label_kind(&mut self, label: &str, kind: &str) -> Result<()> {
        let key = label_kind_key(label, kind);
        if self.kv().get(Table::LabelKinds, &key)?.is_none() {
            self.pending.put(Table::LabelKinds, key, Vec::new());
        }
        Ok(())
    }

    /// Kind and labels of a node visible in the branch, from this changeset's cache.
    fn lookup_node(&mut self, id: NodeId) -> Result<Option<(String, Vec<String>)>> {
        if let Some(known) = self.nodes.get(&id) {
            return Ok(known.clone());
        }
        let found = node_existence(&self.kv(), &self.context.view, id)?
            .map(|(kind, labels, _)| (kind, labels));
        self.nodes.insert(id, found.clone());
        Ok(found)
    }

    fn require_node(&mut self, id: NodeId) -> Result<(String, Vec<String>)> {
        match self.lookup_node(id)? {
            Some(found) => Ok(found),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "node {id} does not exist on branch `{}`",
                    self.context.view.name
                ),
            )),
        }
    }

    /// Applies one operation.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::CreateNode {
                id,
                kind,
                labels,
                scope,
            } => {
                if self.lookup_node(*id)?.is_some() {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("node {id} already exists"),
                    ));
                }
                if kind.is_empty()
                    || kind.contains('\0')
                    || labels.iter().any(|l| l.is_empty() || l.contains('\0'))
                {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "kinds and labels must be non-empty and contain no NUL",
                    ));
                }
                let branch = self.context.branch_of(*scope);
                let mut all_labels = labels.clone();
                if !all_labels.contains(kind) {
                    all_labels.insert(0, kind.clone());
                }
                self.put_version(
                    &node_slot(*id),
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    &VersionData::Node {
                        kind: kind.clone(),
                        labels: all_labels.clone(),
                    },
                );
                for label in &all_labels {
                    self.pending
                        .put(Table::Labels, label_key(label, *id), Vec::new());
                    self.note_label_kind(label, kind)?;
                }
                self.counts.add(&all_labels, branch, 1);
                self.nodes.insert(*id, Some((kind.clone(), all_labels)));
            }
            Op::DeleteNode { id, scope } => {
                let (_, labels) = self.require_node(*id)?;
                let branch = self.context.branch_of(*scope);
                self.delete_node_data(*id)?;
                self.put_version(
                    &node_slot(*id),
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    &VersionData::None,
                );
                self.counts.add(&labels, branch, -1);
                self.nodes.insert(*id, None);
            }
            Op::ChangeKind {
                id,
                kind,
                labels,
                scope,
            } => {
                let (old_kind, old_labels) = self.require_node(*id)?;
                let branch = self.context.branch_of(*scope);
                let mut all_labels = labels.clone();
                if !all_labels.contains(kind) {
                    all_labels.insert(0, kind.clone());
                }
                self.put_version(
                    &node_slot(*id),
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    &VersionData::Node {
                        kind: kind.clone(),
                        labels: all_labels.clone(),
                    },
                );
                for label in &all_labels {
                    self.pending
                        .put(Table::Labels, label_key(label, *id), Vec::new());
                    self.note_label_kind(label, kind)?;
                }
                self.counts.add(&old_labels, branch, -1);
                self.counts.add(&all_labels, branch, 1);
                self.nodes
                    .insert(*id, Some((kind.clone(), all_labels.clone())));
                if &old_kind != kind {
                    // Re-index the current values under the new kind.
                    let core = node_core(&self.kv(), &self.context.view, *id)?;
                    for (name, winner) in core.map(|c| c.attributes).unwrap_or_default() {
                        if let VersionData::Attribute(value) = &winner.stored.data {
                            let key =
                                value_key(kind, &name, &value.value, *id, winner.branch, winner.at);
                            self.pending.put(Table::Values, key, Vec::new());
                        }
                    }
                }
            }
            Op::SetAttribute {
                node,
                name,
                value,
                scope,
                indexed,
            } => {
                if name.is_empty() || name.contains('\0') {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "attribute names must be non-empty and contain no NUL",
                    ));
                }
                let (kind, _) = self.require_node(*node)?;
                let branch = self.context.branch_of(*scope);
                let data = VersionData::Attribute(value.clone());
                let local = *scope == Scope::Local;
                let slot = attribute_slot(*node, name);
                self.put_indexed_version(
                    &slot,
                    branch,
                    Status::Active,
                    local,
                    &data,
                    indexed.then_some(kind.as_str()),
                );
                if *indexed {
                    self.index_value(&kind, name, &value.value, *node, branch);
                }
            }
            Op::RemoveAttribute { node, name, scope } => {
                let slot = attribute_slot(*node, name);
                if visible(&self.kv(), &self.context.view, &slot)?.is_none() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("attribute `{name}` of node {node} does not exist"),
                    ));
                }
                let branch = self.context.branch_of(*scope);
                self.put_version(
                    &slot,
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    &VersionData::None,
                );
            }
            Op::SetLink {
                identifier,
                from,
                to,
                properties,
                scope,
            } => {
                if identifier.is_empty() || identifier.contains('\0') {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "link identifiers must be non-empty and contain no NUL",
                    ));
                }
                self.require_node(*from)?;
                self.require_node(*to)?;
                let branch = self.context.branch_of(*scope);
                self.put_version(
                    &link_slot(identifier, *from, *to),
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    &VersionData::Link(properties.clone()),
                );
                self.pending.put(
                    Table::LinksTo,
                    reverse_link_key(*to, identifier, *from),
                    Vec::new(),
                );
            }
            Op::RemoveLink {
                identifier,
                from,
                to,
                scope,
            } => {
                let slot = link_slot(identifier, *from, *to);
                if visible(&self.kv(), &self.context.view, &slot)?.is_none() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("no `{identifier}` link from {from} to {to}"),
                    ));
                }
                let branch = self.context.branch_of(*scope);
                self.put_version(
                    &slot,
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    &VersionData::None,
                );
            }
        }
        Ok(())
    }

    /// Deletes the visible attributes and every link of a node, each where its visible version
    /// lives (global data on the global branch).
    fn delete_node_data(&mut self, id: NodeId) -> Result<()> {
        let view = self.context.view.clone();
        let mut slots: Vec<(Vec<u8>, u32, bool)> = Vec::new();
        let branch_of = |winner_branch: u32| {
            if winner_branch == BN_GLOBAL {
                BN_GLOBAL
            } else {
                view.branch
            }
        };
        {
            let kv = self.kv();
            let (start, end) = node_data_range(id);
            scan_winners(&kv, &view, &start, &end, &mut |slot, winner| {
                if winner.stored.is_active()
                    && matches!(decode_slot(slot), Some(Slot::Attribute { .. }))
                {
                    slots.push((slot.to_vec(), branch_of(winner.branch), winner.stored.local));
                }
                Ok(true)
            })?;
            let prefix = all_links_prefix(id);
            scan_winners(
                &kv,
                &view,
                &prefix,
                &prefix_end(&prefix),
                &mut |slot, winner| {
                    if winner.stored.is_active() {
                        slots.push((slot.to_vec(), branch_of(winner.branch), winner.stored.local));
                    }
                    Ok(true)
                },
            )?;
            let mut incoming = Vec::new();
            let reverse_prefix = id.as_bytes().to_vec();
            kv.scan(
                Table::LinksTo,
                &reverse_prefix,
                &prefix_end(&reverse_prefix),
                false,
                &mut |key, _| {
                    if let Some((identifier, from)) = decode_reverse_link(key) {
                        incoming.push((identifier, from));
                    }
                    true
                },
            )?;
            for (identifier, from) in incoming {
                let slot = link_slot(&identifier, from, id);
                if let Some(winner) = visible(&kv, &view, &slot)? {
                    slots.push((slot, branch_of(winner.branch), winner.stored.local));
                }
            }
        }
        slots.sort();
        slots.dedup();
        for (slot, branch, local) in slots {
            self.put_version(&slot, branch, Status::Deleted, local, &VersionData::None);
        }
        Ok(())
    }

    /// Checks a condition against the state after every write.
    pub(crate) fn check(&self, index: usize, condition: &Condition) -> Result<()> {
        let kv = self.kv();
        let view = &self.context.view;
        match condition {
            Condition::NodeExists { id, description } => {
                if node_existence(&kv, view, *id)?.is_none() {
                    return Err(Error::condition_failed(index, description.clone()));
                }
            }
            Condition::NotLinked {
                node,
                identifier,
                side,
                description,
            } => {
                if !links_of(&kv, view, *node, identifier, *side)?.is_empty() {
                    return Err(Error::condition_failed(index, description.clone()));
                }
            }
            Condition::LinkCount {
                node,
                identifier,
                side,
                min,
                max,
                description,
            } => {
                if node_existence(&kv, view, *node)?.is_some() {
                    let count = links_of(&kv, view, *node, identifier, *side)?.len();
                    if count < *min || max.is_some_and(|max| count > max) {
                        return Err(Error::condition_failed(index, description.clone()));
                    }
                }
            }
            Condition::Unique {
                labels,
                fields,
                except,
                description,
            } => {
                for candidate in unique_candidates(&kv, view, labels, fields)? {
                    if Some(candidate) == *except {
                        continue;
                    }
                    let Some(core) = node_core(&kv, view, candidate)? else {
                        continue;
                    };
                    if !core.labels.iter().any(|l| labels.contains(l)) {
                        continue;
                    }
                    let mut all = true;
                    for field in fields {
                        let holds = match field {
                            UniqueField::Attribute { name, value } => core.attributes.get(name).is_some_and(|w| {
                                matches!(&w.stored.data, VersionData::Attribute(a) if &a.value == value)
                            }),
                            UniqueField::Link { identifier, side, peer } => {
                                links_of(&kv, view, candidate, identifier, *side)?.iter().any(|(p, _, _)| p == peer)
                            }
                        };
                        if !holds {
                            all = false;
                            break;
                        }
                    }
                    if all {
                        return Err(Error::condition_failed(index, description.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Finishes the changeset: writes counters and returns the pending writes.
    pub(crate) fn finish(self) -> Result<Pending> {
        self.finish_counting(None)
    }

    /// [`Writer::finish`], taking current counters from `cache` and leaving the new ones
    /// there.
    pub(crate) fn finish_counting(mut self, cache: Option<&mut CountCache>) -> Result<Pending> {
        let counts = std::mem::take(&mut self.counts);
        let changes = std::mem::take(&mut self.changes);
        // Per branch: (slot, note) pairs.
        type Entries<'e> = Vec<(&'e [u8], &'e [u8])>;
        let mut by_branch: BTreeMap<u32, Entries<'_>> = BTreeMap::new();
        for ((branch, slot), note) in &changes {
            by_branch.entry(*branch).or_default().push((slot, note));
        }
        for (branch, entries) in by_branch {
            self.pending.put(
                Table::Changes,
                change_key(branch, self.context.at),
                encode_changes(entries.into_iter()),
            );
        }
        let mut counter_writes = Pending::default();
        counts.write(
            &self.kv(),
            &mut counter_writes,
            self.context.at,
            self.context.view.epoch_start,
            cache,
        )?;
        for (table, key, value) in counter_writes.into_writes() {
            if let Some(value) = value {
                self.pending.put(table, key, value);
            }
        }
        Ok(self.pending)
    }
}

/// Nodes that may hold every field of a uniqueness condition (to be verified).
fn unique_candidates(
    kv: &dyn Kv,
    view: &ViewSpec,
    labels: &[String],
    fields: &[UniqueField],
) -> Result<Vec<NodeId>> {
    for field in fields {
        if let UniqueField::Attribute { name, value } = field
            && !value.is_null()
        {
            return super::query::nodes_with_value_for_labels(kv, labels, name, value);
        }
    }
    for field in fields {
        if let UniqueField::Link {
            identifier,
            side,
            peer,
        } = field
        {
            let peer_side = match side {
                Side::From => Side::To,
                Side::To => Side::From,
                Side::Either => Side::Either,
            };
            return Ok(links_of(kv, view, *peer, identifier, peer_side)?
                .into_iter()
                .map(|(n, _, _)| n)
                .collect());
        }
    }
    // Only null attribute values: compare every node of the labels.
    let mut all = Vec::new();
    for label in labels {
        let prefix = keys::label_prefix(label);
        kv.scan(
            Table::Labels,
            &prefix,
            &prefix_end(&prefix),
            false,
            &mut |key, _| {
                if let Ok(id) = uuid::Uuid::from_slice(&key[prefix.len()..]) {
                    all.push(id);
                }
                true
            },
        )?;
    }
    Ok(all)
}

/// Applies a whole changeset: operations in order, then conditions.
pub(crate) fn apply_changeset(
    base: &dyn Kv,
    context: &WriteContext,
    changeset: &Changeset,
    counters: &mut CountCache,
) -> Result<Pending> {
    let mut writer = Writer::new(base, context);
    for op in &changeset.ops {
        writer.apply(op)?;
    }
    for (index, condition) in changeset.conditions.iter().enumerate() {
        writer.check(index, condition)?;
    }
    writer.finish_counting(Some(counters))
}
