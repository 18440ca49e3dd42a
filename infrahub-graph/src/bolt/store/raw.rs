//! The versions one statement loaded, resolved through a branch view in memory: winners,
//! visibility, filters, ordering, and the writer that validates a changeset's operations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::branch::GLOBAL_BRANCH;
use crate::change::SlotProperty;
use crate::changeset::{Condition, Op, UniqueField};
use crate::error::{Error, ErrorKind, Result};
use crate::merge_rules::{keeps, merge_attribute, merge_link};
use crate::model::{
    AttributeState, AttributeValue, LinkProperties, LinkState, NodeData, NodeId, Scope, Side, Slot,
    Status, Version, VersionData,
};
use crate::query::{LinkSelection, Selection};

/// A branch view with its epoch resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    /// Branch read.
    pub(crate) branch: String,
    /// Name of the default branch.
    pub(crate) default: String,
    /// Instant read (`i64::MAX` for now).
    pub(crate) at: i64,
    /// Versions of the branch older than this belong to an earlier epoch.
    pub(crate) epoch_start: i64,
    /// Instant the default branch is read at.
    pub(crate) default_at: i64,
}

impl Spec {
    /// The default branch at `at`.
    pub(crate) fn default_branch(default: &str, at: i64) -> Self {
        Spec {
            branch: default.to_string(),
            default: default.to_string(),
            at,
            epoch_start: i64::MIN,
            default_at: at,
        }
    }

    fn is_default(&self) -> bool {
        self.branch == self.default
    }

    /// Precedence of a version: `None` when invisible, else higher wins.
    fn rank(&self, branch: &str, at: i64) -> Option<(u8, i64)> {
        if branch == GLOBAL_BRANCH {
            return (at <= self.at).then_some((1, at));
        }
        if branch == self.default {
            return (at <= self.default_at).then_some((1, at));
        }
        (!self.is_default() && branch == self.branch && at >= self.epoch_start && at <= self.at)
            .then_some((2, at))
    }

    /// The clause opening a statement that reads through this view: binds the variable
    /// [`visible`] reads ([`VIEW_VARS`]) from parameters, which it adds to `params` with the
    /// branch names [`visible`] reads as parameters.
    pub(crate) fn head(&self, params: &mut Map<String, Value>) -> &'static str {
        branch_params(&self.branch, &self.default, params);
        params.insert("vat".into(), Value::from(self.at));
        params.insert("ves".into(), Value::from(self.epoch_start));
        params.insert("vdat".into(), Value::from(self.default_at));
        "WITH [$vat, $ves, $vdat] AS vv"
    }
}

/// The variable a statement reading through a view carries through its `WITH` clauses: the
/// list of the view's instant, its epoch's start and the default branch's instant (`at`,
/// `epoch_start`, `default_at` of [`Spec`]). One list rather than three variables: ArcadeDB
/// pays for every variable carried through `DISTINCT`, `ORDER BY` and grouping (measured on
/// the query of 1,000 nodes: three variables 51.6 ms, one list 46.5 ms, parameters 42.4 ms,
/// medians of 30 runs).
pub(crate) const VIEW_VARS: &str = "vv";

/// [`VIEW_VARS`] as a column of a statement's rows, named as it is.
pub(crate) const VIEW_COLUMNS: &str = "vv AS vv";

/// The parameters of [`visible`] that are not variables: the branch read, the default branch
/// and the global branch.
fn branch_params(branch: &str, default: &str, params: &mut Map<String, Value>) {
    params.insert("vb".into(), Value::from(branch));
    params.insert("vd".into(), Value::from(default));
    params.insert("vg".into(), Value::from(GLOBAL_BRANCH));
}

/// The clauses opening a statement that reads branch `branch` at `at` (now when `None`)
/// without knowing its records: the view's variable ([`VIEW_VARS`], as [`Spec::head`] binds
/// it) is worked out inside the statement from `Root.last_commit` (a read of now reads at the
/// last committed instant, so commits landing meanwhile stay out of it) and the branch's
/// epochs (`Branch.epoch_starts` and `Branch.epoch_froms`, parallel lists, the same choice as
/// [`crate::branch::BranchRecord::epoch_at`]). No row comes out of them when the branch does
/// not exist. A read then costs one statement instead of two.
pub(crate) fn stored_head(
    branch: &str,
    default: &str,
    at: Option<i64>,
    params: &mut Map<String, Value>,
) -> &'static str {
    branch_params(branch, default, params);
    params.insert("vq".into(), at.map_or(Value::Null, Value::from));
    params.insert("vmin".into(), Value::from(i64::MIN));
    "MATCH (vr:Root {uuid: 'root'}) MATCH (vbr:Branch {name: $vb}) \
     WITH vbr, coalesce($vq, vr.last_commit) AS vat \
     WITH vbr, vat, coalesce(last([i IN range(0, size(vbr.epoch_starts) - 1) \
     WHERE vbr.epoch_starts[i] <= vat]), 0) AS vei \
     WITH [vat, CASE WHEN vbr.is_default THEN $vmin ELSE vbr.epoch_starts[vei] END, \
     CASE WHEN vbr.is_default OR vat < vbr.epoch_froms[vei] THEN vat \
     ELSE vbr.epoch_froms[vei] END] AS vv"
}

/// The clauses opening a statement that reads branch `branch` as a commit on it does, its
/// latest state (the view of [`Spec`] at `i64::MAX` in the branch's current epoch), without
/// knowing its records: [`VIEW_VARS`] from the branch's epochs. No row comes out of them when
/// the branch does not exist.
pub(crate) fn latest_head(
    branch: &str,
    default: &str,
    params: &mut Map<String, Value>,
) -> &'static str {
    branch_params(branch, default, params);
    params.insert("vmin".into(), Value::from(i64::MIN));
    params.insert("vmax".into(), Value::from(i64::MAX));
    "MATCH (vbr:Branch {name: $vb}) \
     WITH [$vmax, CASE WHEN vbr.is_default THEN $vmin ELSE last(vbr.epoch_starts) END, \
     CASE WHEN vbr.is_default THEN $vmax ELSE last(vbr.epoch_froms) END] AS vv"
}

/// The Cypher predicate keeping the edges `e` a view may see: its instants come from
/// [`VIEW_VARS`], bound by [`Spec::head`], [`stored_head`] or [`latest_head`], its branches
/// are the parameters `vb`, `vd`, `vg`.
pub(crate) fn visible(e: &str) -> String {
    format!(
        "(({e}.branch = $vb AND {e}.from >= vv[1] AND {e}.from <= vv[0] AND ({e}.to IS NULL OR {e}.to > vv[0])) \
         OR ({e}.branch = $vd AND {e}.from <= vv[2] AND ({e}.to IS NULL OR {e}.to > vv[2])) \
         OR ({e}.branch = $vg AND {e}.from <= vv[0] AND ({e}.to IS NULL OR {e}.to > vv[0])))"
    )
}

/// One stored version.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawVersion {
    pub(crate) branch: Arc<str>,
    pub(crate) at: i64,
    pub(crate) status: Status,
    pub(crate) local: bool,
    pub(crate) indexed: bool,
    pub(crate) data: VersionData,
}

impl RawVersion {
    fn active(&self) -> bool {
        self.status == Status::Active
    }

    pub(crate) fn to_version(&self) -> Version {
        Version {
            branch: self.branch.to_string(),
            at: crate::time::Timestamp::from_micros(self.at),
            status: self.status,
            local: self.local,
            data: self.data.clone(),
        }
    }
}

/// Versions of the loaded nodes' slots.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    pub(crate) slots: BTreeMap<Slot, Vec<RawVersion>>,
    /// Links by their end: (to, identifier, from).
    incoming: BTreeSet<(NodeId, String, NodeId)>,
    /// Links by their start: (from, identifier, to).
    outgoing: BTreeSet<(NodeId, String, NodeId)>,
    /// Nodes whose every slot (existence, attributes, both link directions) is loaded.
    pub(crate) loaded: BTreeSet<NodeId>,
}

impl Raw {
    /// Adds a version; one already there for the same branch and instant is replaced.
    pub(crate) fn insert(&mut self, slot: Slot, version: RawVersion) {
        if let Slot::Link {
            identifier,
            from,
            to,
        } = &slot
        {
            self.incoming.insert((*to, identifier.clone(), *from));
            self.outgoing.insert((*from, identifier.clone(), *to));
        }
        let versions = self.slots.entry(slot).or_default();
        if let Some(existing) = versions
            .iter_mut()
            .find(|v| v.branch == version.branch && v.at == version.at)
        {
            *existing = version;
        } else {
            versions.push(version);
        }
    }

    /// The winning version of `slot`, active or not.
    pub(crate) fn resolve(&self, spec: &Spec, slot: &Slot) -> Option<&RawVersion> {
        self.slots
            .get(slot)?
            .iter()
            .filter_map(|v| spec.rank(&v.branch, v.at).map(|rank| (rank, v)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, v)| v)
    }

    fn visible(&self, spec: &Spec, slot: &Slot) -> Option<&RawVersion> {
        self.resolve(spec, slot).filter(|v| v.active())
    }

    /// Kind, labels and existence version of a visible node.
    pub(crate) fn existence(
        &self,
        spec: &Spec,
        id: NodeId,
    ) -> Option<(&str, &[String], &RawVersion)> {
        let winner = self.visible(spec, &Slot::Node { id })?;
        match &winner.data {
            VersionData::Node { kind, labels } => Some((kind, labels, winner)),
            _ => None,
        }
    }

    /// Visible attributes of a node.
    pub(crate) fn attributes(&self, spec: &Spec, id: NodeId) -> BTreeMap<&str, &RawVersion> {
        let start = Slot::Attribute {
            node: id,
            name: String::new(),
        };
        self.slots
            .range(start..)
            .take_while(|(slot, _)| matches!(slot, Slot::Attribute { node, .. } if *node == id))
            .filter_map(|(slot, _)| match slot {
                Slot::Attribute { name, .. } => {
                    self.visible(spec, slot).map(|v| (name.as_str(), v))
                }
                _ => None,
            })
            .collect()
    }

    /// Active links of `node` through `identifier` on `side`: peer, side of `node`, version.
    pub(crate) fn links_of(
        &self,
        spec: &Spec,
        node: NodeId,
        identifier: &str,
        side: Side,
    ) -> Vec<(NodeId, Side, &RawVersion)> {
        let mut found = Vec::new();
        let range = |id: NodeId| {
            (id, identifier.to_string(), NodeId::nil())
                ..=(id, identifier.to_string(), NodeId::max())
        };
        if matches!(side, Side::From | Side::Either) {
            for (_, _, to) in self.outgoing.range(range(node)) {
                let slot = link_slot(identifier, node, *to);
                if let Some(v) = self.visible(spec, &slot) {
                    found.push((*to, Side::From, v));
                }
            }
        }
        if matches!(side, Side::To | Side::Either) {
            for (_, _, from) in self.incoming.range(range(node)) {
                if side == Side::Either && *from == node {
                    continue;
                }
                let slot = link_slot(identifier, *from, node);
                if let Some(v) = self.visible(spec, &slot) {
                    found.push((*from, Side::To, v));
                }
            }
        }
        found.retain(|(peer, _, v)| {
            &*v.branch != GLOBAL_BRANCH || self.existence(spec, *peer).is_some()
        });
        found
    }

    /// Every active link of a node, in both directions: the slot and its version.
    fn all_links(&self, spec: &Spec, node: NodeId) -> Vec<(Slot, &RawVersion)> {
        let mut out = Vec::new();
        let bounds = (node, String::new(), NodeId::nil())..;
        for (from, identifier, to) in self.outgoing.range(bounds.clone()) {
            if *from != node {
                break;
            }
            let slot = link_slot(identifier, *from, *to);
            if let Some(v) = self.visible(spec, &slot) {
                out.push((slot, v));
            }
        }
        for (to, identifier, from) in self.incoming.range(bounds) {
            if *to != node {
                break;
            }
            let slot = link_slot(identifier, *from, *to);
            if let Some(v) = self.visible(spec, &slot) {
                out.push((slot, v));
            }
        }
        out
    }

    /// The node a read returns, or `None` when not visible.
    pub(crate) fn node_data(
        &self,
        spec: &Spec,
        id: NodeId,
        select: &Selection,
    ) -> Option<NodeData> {
        let (kind, labels, existence) = self.existence(spec, id)?;
        let mut updated_at = existence.at;
        let mut attributes = BTreeMap::new();
        for (name, v) in self.attributes(spec, id) {
            if let Some(list) = &select.attributes
                && !list.iter().any(|n| n == name)
            {
                continue;
            }
            if let VersionData::Attribute(value) = &v.data {
                updated_at = updated_at.max(v.at);
                attributes.insert(
                    name.to_string(),
                    AttributeState {
                        value: value.clone(),
                        updated_at: crate::time::Timestamp::from_micros(v.at),
                        branch: Arc::clone(&v.branch),
                    },
                );
            }
        }
        let mut links = Vec::new();
        for LinkSelection { identifier, side } in &select.links {
            for (peer, link_side, v) in self.links_of(spec, id, identifier, *side) {
                if let VersionData::Link(properties) = &v.data {
                    updated_at = updated_at.max(v.at);
                    links.push(LinkState {
                        identifier: identifier.clone(),
                        peer,
                        side: link_side,
                        properties: properties.clone(),
                        updated_at: crate::time::Timestamp::from_micros(v.at),
                        branch: Arc::clone(&v.branch),
                    });
                }
            }
        }
        Some(NodeData {
            id,
            kind: kind.to_string(),
            labels: labels.to_vec(),
            branch: Arc::clone(&existence.branch),
            created_at: crate::time::Timestamp::from_micros(existence.at),
            updated_at: crate::time::Timestamp::from_micros(updated_at),
            attributes,
            links,
        })
    }
}

pub(crate) fn link_slot(identifier: &str, from: NodeId, to: NodeId) -> Slot {
    Slot::Link {
        identifier: identifier.to_string(),
        from,
        to,
    }
}

/// The canonical JSON text of a value (object keys sorted), the `key` of its value vertex.
/// Longest canonical value used as its own `AttributeValue.key`; index keys are bounded (Neo4j 5:
/// about 8 KiB; ArcadeDB fails the transaction on large keys), so longer values are keyed by
/// their length and SHA-256 instead.
const MAX_INLINE_KEY: usize = 4000;

/// The indexed key of a value's `AttributeValue` vertex: its canonical form, or for a long value
/// `~sha256:<bytes>:<hex>` (no canonical JSON starts with `~`).
pub(crate) fn value_key(canonical: &str) -> String {
    use sha2::Digest;
    if canonical.len() <= MAX_INLINE_KEY {
        return canonical.to_owned();
    }
    let digest = sha2::Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("~sha256:{}:{hex}", canonical.len())
}

pub(crate) fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// One version a changeset writes.
#[derive(Clone, Debug)]
pub(crate) struct Write {
    pub(crate) slot: Slot,
    pub(crate) version: RawVersion,
}

/// Applies a changeset's operations to loaded versions, as the embedded writer does.
pub(crate) struct Writer<'a> {
    pub(crate) raw: &'a mut Raw,
    pub(crate) spec: Spec,
    pub(crate) at: i64,
    branch: Arc<str>,
    global: Arc<str>,
    written: BTreeSet<(Slot, Arc<str>)>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(raw: &'a mut Raw, spec: Spec, at: i64) -> Self {
        let branch: Arc<str> = Arc::from(spec.branch.as_str());
        Writer {
            raw,
            spec,
            at,
            branch,
            global: Arc::from(GLOBAL_BRANCH),
            written: BTreeSet::new(),
        }
    }

    fn branch_of(&self, scope: Scope) -> Arc<str> {
        match scope {
            Scope::Global => Arc::clone(&self.global),
            Scope::Branch | Scope::Local => Arc::clone(&self.branch),
        }
    }

    fn put(
        &mut self,
        slot: Slot,
        branch: Arc<str>,
        status: Status,
        local: bool,
        data: VersionData,
        indexed: bool,
    ) {
        self.written.insert((slot.clone(), Arc::clone(&branch)));
        self.raw.insert(
            slot,
            RawVersion {
                branch,
                at: self.at,
                status,
                local,
                indexed,
                data,
            },
        );
    }

    fn require_node(&self, id: NodeId) -> Result<()> {
        if self.raw.existence(&self.spec, id).is_none() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("node {id} does not exist on branch `{}`", self.spec.branch),
            ));
        }
        Ok(())
    }

    /// Applies one operation.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::CreateNode {
                id,
                kind,
                labels,
                scope,
            }
            | Op::ChangeKind {
                id,
                kind,
                labels,
                scope,
            } => {
                let create = matches!(op, Op::CreateNode { .. });
                if create && self.raw.existence(&self.spec, *id).is_some() {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("node {id} already exists"),
                    ));
                }
                if !create {
                    self.require_node(*id)?;
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
                let mut all_labels = labels.clone();
                if !all_labels.contains(kind) {
                    all_labels.insert(0, kind.clone());
                }
                let branch = self.branch_of(*scope);
                self.put(
                    Slot::Node { id: *id },
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    VersionData::Node {
                        kind: kind.clone(),
                        labels: all_labels,
                    },
                    false,
                );
            }
            Op::DeleteNode { id, scope } => {
                self.require_node(*id)?;
                let branch_of = |v: &RawVersion, own: &Arc<str>, global: &Arc<str>| {
                    if &*v.branch == GLOBAL_BRANCH {
                        Arc::clone(global)
                    } else {
                        Arc::clone(own)
                    }
                };
                let mut slots: Vec<(Slot, Arc<str>, bool)> = Vec::new();
                for (name, v) in self.raw.attributes(&self.spec, *id) {
                    slots.push((
                        Slot::Attribute {
                            node: *id,
                            name: name.to_string(),
                        },
                        branch_of(v, &self.branch, &self.global),
                        v.local,
                    ));
                }
                for (slot, v) in self.raw.all_links(&self.spec, *id) {
                    slots.push((slot, branch_of(v, &self.branch, &self.global), v.local));
                }
                for (slot, branch, local) in slots {
                    self.put(
                        slot,
                        branch,
                        Status::Deleted,
                        local,
                        VersionData::None,
                        false,
                    );
                }
                let branch = self.branch_of(*scope);
                self.put(
                    Slot::Node { id: *id },
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    VersionData::None,
                    false,
                );
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
                self.require_node(*node)?;
                let branch = self.branch_of(*scope);
                self.put(
                    Slot::Attribute {
                        node: *node,
                        name: name.clone(),
                    },
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    VersionData::Attribute(value.clone()),
                    *indexed,
                );
            }
            Op::RemoveAttribute { node, name, scope } => {
                let slot = Slot::Attribute {
                    node: *node,
                    name: name.clone(),
                };
                if self.raw.visible(&self.spec, &slot).is_none() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("attribute `{name}` of node {node} does not exist"),
                    ));
                }
                let branch = self.branch_of(*scope);
                self.put(
                    slot,
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    VersionData::None,
                    false,
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
                let branch = self.branch_of(*scope);
                self.put(
                    link_slot(identifier, *from, *to),
                    branch,
                    Status::Active,
                    *scope == Scope::Local,
                    VersionData::Link(properties.clone()),
                    false,
                );
            }
            Op::RemoveLink {
                identifier,
                from,
                to,
                scope,
            } => {
                let slot = link_slot(identifier, *from, *to);
                if self.raw.visible(&self.spec, &slot).is_none() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("no `{identifier}` link from {from} to {to}"),
                    ));
                }
                let branch = self.branch_of(*scope);
                self.put(
                    slot,
                    branch,
                    Status::Deleted,
                    *scope == Scope::Local,
                    VersionData::None,
                    false,
                );
            }
        }
        Ok(())
    }

    /// Checks a condition against the loaded versions and the changeset's writes (the nodes
    /// it names, and the candidates of a `Unique`, must be loaded).
    pub(crate) fn check(
        &self,
        index: usize,
        condition: &Condition,
        candidates: &[NodeId],
    ) -> Result<()> {
        let raw = &*self.raw;
        let spec = &self.spec;
        let failed = || {
            Err(Error::condition_failed(
                index,
                description(condition).to_string(),
            ))
        };
        match condition {
            Condition::NodeExists { id, .. } => {
                if raw.existence(spec, *id).is_none() {
                    return failed();
                }
            }
            Condition::NotLinked {
                node,
                identifier,
                side,
                ..
            } => {
                if !raw.links_of(spec, *node, identifier, *side).is_empty() {
                    return failed();
                }
            }
            Condition::LinkCount {
                node,
                identifier,
                side,
                min,
                max,
                ..
            } => {
                if raw.existence(spec, *node).is_some() {
                    let count = raw.links_of(spec, *node, identifier, *side).len();
                    if count < *min || max.is_some_and(|max| count > max) {
                        return failed();
                    }
                }
            }
            Condition::Unique {
                labels,
                fields,
                except,
                ..
            } => {
                for candidate in candidates {
                    if Some(*candidate) == *except {
                        continue;
                    }
                    let Some((_, node_labels, _)) = raw.existence(spec, *candidate) else {
                        continue;
                    };
                    if !node_labels.iter().any(|l| labels.contains(l)) {
                        continue;
                    }
                    let attributes = raw.attributes(spec, *candidate);
                    let all = fields.iter().all(|field| match field {
                        UniqueField::Attribute { name, value } => attributes
                            .get(name.as_str())
                            .is_some_and(|v| matches!(&v.data, VersionData::Attribute(a) if &a.value == value)),
                        UniqueField::Link {
                            identifier,
                            side,
                            peer,
                        } => raw
                            .links_of(spec, *candidate, identifier, *side)
                            .iter()
                            .any(|(p, _, _)| p == peer),
                    });
                    if all {
                        return failed();
                    }
                }
            }
        }
        Ok(())
    }

    /// Nodes the changeset wrote an attribute or link of (candidates of `Unique` conditions).
    pub(crate) fn touched_nodes(&self) -> BTreeSet<NodeId> {
        self.written
            .iter()
            .flat_map(|(slot, _)| match slot {
                Slot::Link { from, to, .. } => vec![*from, *to],
                other => vec![other.node()],
            })
            .collect()
    }

    /// The versions written, one per slot and branch.
    pub(crate) fn finish(self) -> Vec<Write> {
        let mut out = Vec::new();
        for (slot, branch) in self.written {
            if let Some(version) = self
                .raw
                .slots
                .get(&slot)
                .and_then(|vs| vs.iter().find(|v| v.branch == branch && v.at == self.at))
            {
                out.push(Write {
                    slot,
                    version: version.clone(),
                });
            }
        }
        out
    }

    /// Number of versions written so far.
    pub(crate) fn written(&self) -> usize {
        self.written.len()
    }
}

fn description(condition: &Condition) -> &str {
    match condition {
        Condition::Unique { description, .. }
        | Condition::NodeExists { description, .. }
        | Condition::NotLinked { description, .. }
        | Condition::LinkCount { description, .. } => description,
    }
}

fn attribute_of(v: Option<&RawVersion>) -> Option<&AttributeValue> {
    match v {
        Some(RawVersion {
            data: VersionData::Attribute(value),
            status: Status::Active,
            ..
        }) => Some(value),
        _ => None,
    }
}

fn link_of(v: Option<&RawVersion>) -> Option<&LinkProperties> {
    match v {
        Some(RawVersion {
            data: VersionData::Link(props),
            status: Status::Active,
            ..
        }) => Some(props),
        _ => None,
    }
}

/// Operations replaying a branch's changed slots onto a target view, property by property
/// (the embedded store's merge and rebase).
pub(crate) fn replay_ops(
    raw: &Raw,
    branch_view: &Spec,
    base_view: &Spec,
    target_view: &Spec,
    slots: &BTreeSet<Slot>,
    skip: &[(Slot, SlotProperty)],
    include_local: bool,
) -> Vec<Op> {
    let mut creates = Vec::new();
    let mut data = Vec::new();
    let mut deletes = Vec::new();
    for slot in slots {
        let Some(branch) = raw.resolve(branch_view, slot) else {
            continue;
        };
        if *branch.branch != *branch_view.branch || (branch.local && !include_local) {
            continue;
        }
        let scope = if branch.local {
            Scope::Local
        } else {
            Scope::Branch
        };
        let base = raw.resolve(base_view, slot);
        let target = raw.resolve(target_view, slot);
        let base_active = base.is_some_and(RawVersion::active);
        let target_active = target.is_some_and(RawVersion::active);
        if keeps(skip, slot, SlotProperty::Existence) {
            continue;
        }
        match (slot, &branch.data, branch.status) {
            (Slot::Node { id }, VersionData::Node { kind, labels }, Status::Active) => {
                let base_kind = base.filter(|v| v.active()).map(|v| &v.data);
                if !target_active {
                    if !base_active {
                        creates.push(Op::CreateNode {
                            id: *id,
                            kind: kind.clone(),
                            labels: labels.clone(),
                            scope,
                        });
                    }
                } else if base_kind != Some(&branch.data) {
                    creates.push(Op::ChangeKind {
                        id: *id,
                        kind: kind.clone(),
                        labels: labels.clone(),
                        scope,
                    });
                }
            }
            (Slot::Node { id }, _, Status::Deleted) if base_active && target_active => {
                deletes.push(Op::DeleteNode { id: *id, scope });
            }
            (Slot::Attribute { node, name }, VersionData::Attribute(value), Status::Active) => {
                let merged =
                    merge_attribute(attribute_of(base), value, attribute_of(target), slot, skip);
                if attribute_of(target) != Some(&merged) {
                    data.push(Op::SetAttribute {
                        node: *node,
                        name: name.clone(),
                        value: merged,
                        scope,
                        indexed: branch.indexed,
                    });
                }
            }
            (Slot::Attribute { node, name }, _, Status::Deleted)
                if base_active && target_active =>
            {
                data.push(Op::RemoveAttribute {
                    node: *node,
                    name: name.clone(),
                    scope,
                });
            }
            (
                Slot::Link {
                    identifier,
                    from,
                    to,
                },
                VersionData::Link(props),
                Status::Active,
            ) => {
                let merged = merge_link(link_of(base), props, link_of(target), slot, skip);
                if link_of(target) != Some(&merged) {
                    data.push(Op::SetLink {
                        identifier: identifier.clone(),
                        from: *from,
                        to: *to,
                        properties: merged,
                        scope,
                    });
                }
            }
            (
                Slot::Link {
                    identifier,
                    from,
                    to,
                },
                _,
                Status::Deleted,
            ) if base_active && target_active => {
                data.push(Op::RemoveLink {
                    identifier: identifier.clone(),
                    from: *from,
                    to: *to,
                    scope,
                });
            }
            _ => {}
        }
    }
    creates.extend(data);
    creates.extend(deletes);
    creates
}

/// Applies replayed operations: data of nodes gone from the target is skipped, links to them
/// are refused. Returns the number of operations applied.
pub(crate) fn apply_replay(writer: &mut Writer<'_>, ops: &[Op]) -> Result<usize> {
    let mut applied = 0;
    for op in ops {
        match writer.apply(op) {
            Ok(()) => applied += 1,
            Err(err) if err.kind() == ErrorKind::NotFound => match op {
                Op::SetLink {
                    identifier,
                    from,
                    to,
                    ..
                } => {
                    return Err(Error::new(
                        ErrorKind::ConditionFailed,
                        format!("cannot apply the `{identifier}` link {from} -> {to}: {err}"),
                    ));
                }
                _ => continue,
            },
            Err(err) => return Err(err),
        }
    }
    Ok(applied)
}
