//! Builders, reads and assertions shared by the checks.

use std::fmt::Debug;

use serde_json::{Map, Value};

use crate::branch::{BranchRecord, BranchView, CreateBranchOptions, GLOBAL_BRANCH};
use crate::change::{BranchOperation, Change, MergeOptions};
use crate::changeset::{Changeset, Commit, Condition, Op};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AttributeValue, LinkProperties, NodeData, NodeId, Scope, Side, Slot, Status, Version,
    VersionData, new_node_id,
};
use crate::query::{Filter, LinkSelection, Match, NodeQuery, Property, QueryResult, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

pub(super) const MAIN: &str = "main";
pub(super) const FEATURE: &str = "feature";

// ---------------------------------------------------------------------------------------------
// Setup

pub(super) async fn init(store: &dyn GraphStore) -> BranchRecord {
    store
        .create_branch(
            MAIN,
            CreateBranchOptions {
                is_default: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|error| panic!("creating the default branch `{MAIN}` failed: {error}"))
}

pub(super) async fn new_branch(store: &dyn GraphStore, name: &str) -> BranchRecord {
    store
        .create_branch(name, CreateBranchOptions::default())
        .await
        .unwrap_or_else(|error| panic!("creating branch `{name}` failed: {error}"))
}

pub(super) async fn get_branch(store: &dyn GraphStore, name: &str) -> BranchRecord {
    store
        .get_branch(name)
        .await
        .unwrap_or_else(|error| panic!("get_branch(`{name}`) failed: {error}"))
}

pub(super) async fn list_branches(store: &dyn GraphStore) -> Vec<BranchRecord> {
    store
        .list_branches()
        .await
        .unwrap_or_else(|error| panic!("list_branches failed: {error}"))
}

/// Names of the listed branches, in order, without the global branch (whether it is listed is
/// up to the backend).
pub(super) fn branch_names(branches: &[BranchRecord]) -> Vec<String> {
    branches
        .iter()
        .map(|branch| branch.name.clone())
        .filter(|name| name != GLOBAL_BRANCH)
        .collect()
}

pub(super) async fn merge(
    store: &dyn GraphStore,
    branch: &str,
    options: MergeOptions,
    what: &str,
) -> BranchOperation {
    store
        .merge_branch(branch, options)
        .await
        .unwrap_or_else(|error| panic!("{what}: merge_branch(`{branch}`) failed: {error}"))
}

pub(super) fn props(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

pub(super) fn ids<const N: usize>() -> [NodeId; N] {
    std::array::from_fn(|_| new_node_id())
}

// ---------------------------------------------------------------------------------------------
// Changesets

pub(super) fn changeset(branch: &str, ops: Vec<Op>) -> Changeset {
    Changeset {
        branch: branch.into(),
        ops,
        conditions: Vec::new(),
    }
}

pub(super) fn create(id: NodeId, kind: &str, labels: &[&str]) -> Op {
    create_in(id, kind, labels, Scope::Branch)
}

pub(super) fn create_in(id: NodeId, kind: &str, labels: &[&str], scope: Scope) -> Op {
    Op::CreateNode {
        id,
        kind: kind.into(),
        labels: labels.iter().map(|label| label.to_string()).collect(),
        scope,
    }
}

/// Creates a node and sets its attributes.
pub(super) fn node_ops(
    id: NodeId,
    kind: &str,
    labels: &[&str],
    attributes: &[(&str, Value)],
) -> Vec<Op> {
    let mut ops = vec![create(id, kind, labels)];
    ops.extend(
        attributes
            .iter()
            .map(|(name, value)| set(id, name, value.clone())),
    );
    ops
}

pub(super) fn set(node: NodeId, name: &str, value: Value) -> Op {
    set_value(node, name, AttributeValue::new(value))
}

pub(super) fn set_value(node: NodeId, name: &str, value: AttributeValue) -> Op {
    set_in(node, name, value, Scope::Branch)
}

pub(super) fn set_in(node: NodeId, name: &str, value: AttributeValue, scope: Scope) -> Op {
    Op::SetAttribute {
        node,
        name: name.into(),
        value,
        scope,
        indexed: true,
    }
}

pub(super) fn remove_attribute(node: NodeId, name: &str) -> Op {
    Op::RemoveAttribute {
        node,
        name: name.into(),
        scope: Scope::Branch,
    }
}

pub(super) fn delete(id: NodeId) -> Op {
    Op::DeleteNode {
        id,
        scope: Scope::Branch,
    }
}

pub(super) fn link(identifier: &str, from: NodeId, to: NodeId) -> Op {
    Op::SetLink {
        identifier: identifier.into(),
        from,
        to,
        properties: LinkProperties::visible(),
        scope: Scope::Branch,
    }
}

pub(super) fn unlink(identifier: &str, from: NodeId, to: NodeId) -> Op {
    Op::RemoveLink {
        identifier: identifier.into(),
        from,
        to,
        scope: Scope::Branch,
    }
}

pub(super) async fn try_commit(
    store: &dyn GraphStore,
    branch: &str,
    ops: Vec<Op>,
    conditions: Vec<Condition>,
) -> Result<Commit> {
    store
        .commit(Changeset {
            branch: branch.into(),
            ops,
            conditions,
        })
        .await
}

pub(super) async fn commit(
    store: &dyn GraphStore,
    branch: &str,
    ops: Vec<Op>,
    what: &str,
) -> Commit {
    store
        .commit(changeset(branch, ops))
        .await
        .unwrap_or_else(|error| panic!("{what}: commit on `{branch}` failed: {error}"))
}

#[track_caller]
pub(super) fn expect_error<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(value) => panic!("{what}: expected a {kind:?} error, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "{what}: wrong error kind ({error})");
            error
        }
    }
}

#[track_caller]
pub(super) fn expect_condition_failed<T: Debug>(
    result: Result<T>,
    index: usize,
    what: &str,
) -> Error {
    let error = expect_error(result, ErrorKind::ConditionFailed, what);
    assert_eq!(
        error.condition(),
        Some(index),
        "{what}: index of the failed condition ({error})"
    );
    error
}

// ---------------------------------------------------------------------------------------------
// Reads

pub(super) fn now(branch: &str) -> BranchView {
    BranchView::now(branch)
}

pub(super) fn at(branch: &str, instant: Timestamp) -> BranchView {
    BranchView::at(branch, instant)
}

pub(super) fn just_before(instant: Timestamp) -> Timestamp {
    instant.plus_micros(-1)
}

pub(super) fn midpoint(earlier: Timestamp, later: Timestamp) -> Timestamp {
    earlier.plus_micros((later.as_micros() - earlier.as_micros()) / 2)
}

pub(super) fn describe(view: &BranchView) -> String {
    match view.at {
        Some(instant) => format!("`{}` at {instant}", view.branch),
        None => format!("`{}`", view.branch),
    }
}

/// Every attribute and the links of `identifiers` on either side.
pub(super) fn everything(identifiers: &[&str]) -> Selection {
    Selection {
        attributes: None,
        links: identifiers
            .iter()
            .map(|identifier| link_selection(identifier, Side::Either))
            .collect(),
    }
}

pub(super) fn link_selection(identifier: &str, side: Side) -> LinkSelection {
    LinkSelection {
        identifier: identifier.into(),
        side,
    }
}

pub(super) async fn read(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    select: &Selection,
) -> Option<NodeData> {
    let mut nodes = store
        .get_nodes(view, &[id], select)
        .await
        .unwrap_or_else(|error| panic!("get_nodes({id}) on {} failed: {error}", describe(view)));
    assert!(
        nodes.len() <= 1,
        "get_nodes of one id on {} returned {} nodes",
        describe(view),
        nodes.len()
    );
    if let Some(node) = nodes.first() {
        assert_eq!(
            node.id,
            id,
            "get_nodes on {} returned another node",
            describe(view)
        );
    }
    nodes.pop()
}

pub(super) async fn read_all(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
) -> Option<NodeData> {
    read(store, view, id, &Selection::all_attributes()).await
}

pub(super) async fn attribute_of(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    name: &str,
) -> Option<AttributeValue> {
    let select = Selection {
        attributes: Some(vec![name.into()]),
        links: Vec::new(),
    };
    read(store, view, id, &select)
        .await
        .and_then(|node| node.attributes.get(name).map(|state| state.value.clone()))
}

pub(super) async fn assert_value(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    name: &str,
    expected: Option<Value>,
    what: &str,
) {
    assert_visible(store, view, id, true, what).await;
    let value = attribute_of(store, view, id, name)
        .await
        .map(|value| value.value);
    assert_eq!(
        value,
        expected,
        "{what}: attribute `{name}` of {id} on {}",
        describe(view)
    );
}

pub(super) async fn assert_visible(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    expected: bool,
    what: &str,
) {
    let visible = read(store, view, id, &Selection::nothing()).await.is_some();
    assert_eq!(
        visible,
        expected,
        "{what}: visibility of node {id} on {}",
        describe(view)
    );
}

pub(super) fn link_ends(node: &NodeData) -> Vec<(NodeId, Side)> {
    let mut ends: Vec<(NodeId, Side)> = node
        .links
        .iter()
        .map(|link| (link.peer, link.side))
        .collect();
    ends.sort_by_key(|(peer, side)| (*peer, *side as u8));
    ends
}

pub(super) async fn assert_links(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    identifier: &str,
    side: Side,
    expected: &[(NodeId, Side)],
    what: &str,
) {
    let select = Selection {
        attributes: Some(Vec::new()),
        links: vec![link_selection(identifier, side)],
    };
    let node = read(store, view, id, &select).await.unwrap_or_else(|| {
        panic!(
            "{what}: node {id} invisible on {} while reading its links",
            describe(view)
        )
    });
    assert!(
        node.links.iter().all(|link| link.identifier == identifier),
        "{what}: links of another identifier loaded: {:?}",
        node.links
    );
    let mut expected = expected.to_vec();
    expected.sort_by_key(|(peer, side)| (*peer, *side as u8));
    assert_eq!(
        link_ends(&node),
        expected,
        "{what}: `{identifier}` links of {id} seen with {side:?} on {}",
        describe(view)
    );
}

pub(super) fn int_attribute(node: &NodeData, name: &str) -> Option<i64> {
    node.attributes
        .get(name)
        .and_then(|state| state.value.value.as_i64())
}

pub(super) fn ids_of(nodes: &[NodeData]) -> Vec<NodeId> {
    nodes.iter().map(|node| node.id).collect()
}

pub(super) fn sorted_ids(ids: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = ids.into_iter().collect();
    ids.sort();
    ids
}

pub(super) fn sorted_strings(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values
}

pub(super) fn slot_touches(slot: &Slot, id: NodeId) -> bool {
    match slot {
        Slot::Node { id: node } | Slot::Attribute { node, .. } => *node == id,
        Slot::Link { from, to, .. } => *from == id || *to == id,
    }
}

pub(super) async fn last_commit(store: &dyn GraphStore) -> Timestamp {
    store
        .last_commit()
        .await
        .unwrap_or_else(|error| panic!("last_commit failed: {error}"))
}

pub(super) async fn changes_of(
    store: &dyn GraphStore,
    branch: &str,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Change> {
    store
        .changes(branch, from, to)
        .await
        .unwrap_or_else(|error| panic!("changes(`{branch}`, {from}, {to}) failed: {error}"))
}

pub(super) async fn history_of(store: &dyn GraphStore, id: NodeId) -> Vec<(Slot, Version)> {
    store
        .history(id)
        .await
        .unwrap_or_else(|error| panic!("history({id}) failed: {error}"))
}

// ---------------------------------------------------------------------------------------------
// Queries

pub(super) fn labelled(labels: &[&str]) -> NodeQuery {
    NodeQuery {
        labels: labels.iter().map(|label| label.to_string()).collect(),
        select: Selection::nothing(),
        ..Default::default()
    }
}

pub(super) fn attribute_is(name: &str, matches: Match) -> Filter {
    Filter::Attribute {
        name: name.into(),
        property: Property::Value,
        matches,
    }
}

pub(super) async fn run_query(
    store: &dyn GraphStore,
    view: &BranchView,
    query: &NodeQuery,
) -> QueryResult {
    store
        .query(view, query)
        .await
        .unwrap_or_else(|error| panic!("query on {} failed: {error}\n{query:?}", describe(view)))
}

pub(super) async fn query_ids(
    store: &dyn GraphStore,
    view: &BranchView,
    query: &NodeQuery,
) -> Vec<NodeId> {
    ids_of(&run_query(store, view, query).await.nodes)
}

pub(super) async fn count_of(store: &dyn GraphStore, view: &BranchView, query: &NodeQuery) -> u64 {
    store
        .count(view, query)
        .await
        .unwrap_or_else(|error| panic!("count on {} failed: {error}\n{query:?}", describe(view)))
}

/// Checks that a query returns `expected` in id order, with `total` and `count()` equal to the
/// number of matches.
pub(super) async fn expect_matches(
    store: &dyn GraphStore,
    view: &BranchView,
    labels: &[&str],
    filters: Vec<Filter>,
    expected: &[NodeId],
    what: &str,
) {
    let expected = sorted_ids(expected.iter().copied());
    let query = NodeQuery {
        filters,
        count: true,
        ..labelled(labels)
    };
    let result = run_query(store, view, &query).await;
    assert_eq!(
        ids_of(&result.nodes),
        expected,
        "{what}: matching nodes, in id order, on {}",
        describe(view)
    );
    assert_eq!(
        result.total,
        Some(expected.len() as u64),
        "{what}: total on {}",
        describe(view)
    );
    assert_eq!(
        count_of(store, view, &query).await,
        expected.len() as u64,
        "{what}: count() on {}",
        describe(view)
    );
}

// ---------------------------------------------------------------------------------------------
// Versions

pub(super) fn version(branch: &str, at: Timestamp, status: Status, data: VersionData) -> Version {
    Version {
        branch: branch.into(),
        at,
        status,
        local: false,
        data,
    }
}

pub(super) fn node_version(branch: &str, at: Timestamp, kind: &str, labels: &[&str]) -> Version {
    let labels = labels.iter().map(|label| label.to_string()).collect();
    version(
        branch,
        at,
        Status::Active,
        VersionData::Node {
            kind: kind.into(),
            labels,
        },
    )
}

pub(super) fn attribute_version(branch: &str, at: Timestamp, value: Value) -> Version {
    version(
        branch,
        at,
        Status::Active,
        VersionData::Attribute(AttributeValue::new(value)),
    )
}

pub(super) fn link_version(branch: &str, at: Timestamp) -> Version {
    version(
        branch,
        at,
        Status::Active,
        VersionData::Link(LinkProperties::visible()),
    )
}

pub(super) fn deleted_version(branch: &str, at: Timestamp) -> Version {
    version(branch, at, Status::Deleted, VersionData::None)
}

pub(super) fn change(slot: &Slot, before: Option<Version>, after: Version) -> Change {
    Change {
        slot: slot.clone(),
        before,
        after,
    }
}

/// A deleted version's data is not part of the contract: compare only status, branch, time
/// and locality.
pub(super) fn normalize_version(mut version: Version) -> Version {
    if version.status == Status::Deleted {
        version.data = VersionData::None;
    }
    version
}

/// Changes of one timestamp come in no particular order: sort them by slot within a timestamp.
pub(super) fn normalize_changes(changes: Vec<Change>) -> Vec<Change> {
    let mut changes: Vec<Change> = changes
        .into_iter()
        .map(|change| Change {
            slot: change.slot,
            before: change.before.map(normalize_version),
            after: normalize_version(change.after),
        })
        .collect();
    changes.sort_by(|left, right| (left.after.at, &left.slot).cmp(&(right.after.at, &right.slot)));
    changes
}

pub(super) async fn assert_history(
    store: &dyn GraphStore,
    id: NodeId,
    expected: Vec<(Slot, Version)>,
    what: &str,
) {
    let listed = history_of(store, id).await;
    assert!(
        listed.windows(2).all(|pair| pair[0].1.at <= pair[1].1.at),
        "{what}: history of {id} must be oldest first: {listed:?}"
    );
    let normalize = |entries: Vec<(Slot, Version)>| {
        let mut entries: Vec<(Slot, Version)> = entries
            .into_iter()
            .map(|(slot, version)| (slot, normalize_version(version)))
            .collect();
        entries.sort_by(|left, right| {
            (left.1.at, &left.0, &left.1.branch).cmp(&(right.1.at, &right.0, &right.1.branch))
        });
        entries
    };
    assert_eq!(
        normalize(listed),
        normalize(expected),
        "{what}: history of {id}"
    );
}
