//! Nodes as a write leaves them, built from the write's own operations instead of being read
//! back from the store after the commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use infrahub_graph::{AttributeState, LinkState, NodeData, NodeId, Op, Side, Timestamp};

/// The time versions written by a pending write carry until [`stamp`] gives them the commit's.
const PENDING: Timestamp = Timestamp::MAX;

/// A node with nothing loaded yet: the starting point of a create.
pub(crate) fn empty(id: NodeId, branch: &str) -> NodeData {
    NodeData {
        id,
        kind: String::new(),
        labels: Vec::new(),
        branch: Arc::from(branch),
        created_at: PENDING,
        updated_at: PENDING,
        attributes: BTreeMap::new(),
        links: Vec::new(),
    }
}

/// Lays `ops` over `node` as read before the write: what they set on the node replaces what
/// was there, links they remove go. Operations on other nodes are ignored.
pub(crate) fn overlay(node: &mut NodeData, branch: &str, ops: &[Op]) {
    let id = node.id;
    let branch: Arc<str> = Arc::from(branch);
    for op in ops {
        match op {
            Op::CreateNode {
                id: created,
                kind,
                labels,
                ..
            } if *created == id => {
                node.kind.clone_from(kind);
                node.labels.clone_from(labels);
                node.created_at = PENDING;
            }
            Op::SetAttribute {
                node: target,
                name,
                value,
                ..
            } if *target == id => {
                node.attributes.insert(
                    name.clone(),
                    AttributeState {
                        value: value.clone(),
                        updated_at: PENDING,
                        branch: Arc::clone(&branch),
                    },
                );
            }
            Op::SetLink {
                identifier,
                from,
                to,
                properties,
                ..
            } if *from == id || *to == id => {
                let (peer, side) = drop_link(node, identifier, *from, *to);
                node.links.push(LinkState {
                    identifier: identifier.clone(),
                    peer,
                    side,
                    properties: properties.clone(),
                    updated_at: PENDING,
                    branch: Arc::clone(&branch),
                });
            }
            Op::RemoveLink {
                identifier,
                from,
                to,
                ..
            } if *from == id || *to == id => {
                drop_link(node, identifier, *from, *to);
            }
            _ => {}
        }
    }
}

/// Removes from `node` its link `identifier` between `from` and `to`; returns the link's peer
/// and the end `node` is on.
fn drop_link(node: &mut NodeData, identifier: &str, from: NodeId, to: NodeId) -> (NodeId, Side) {
    let (peer, side) = if from == node.id {
        (to, Side::From)
    } else {
        (from, Side::To)
    };
    node.links
        .retain(|l| !(l.identifier == identifier && l.peer == peer && l.side == side));
    (peer, side)
}

/// Gives what the write changed in `node` the commit time `at`; the node's `updated_at` is
/// then, as for a read, the latest write among its existence, attributes and links.
pub(crate) fn stamp(node: &mut NodeData, at: Timestamp) {
    let fix = |time: &mut Timestamp| {
        if *time == PENDING {
            *time = at;
        }
    };
    fix(&mut node.created_at);
    let mut latest = node.created_at;
    for attribute in node.attributes.values_mut() {
        fix(&mut attribute.updated_at);
        latest = latest.max(attribute.updated_at);
    }
    for link in &mut node.links {
        fix(&mut link.updated_at);
        latest = latest.max(link.updated_at);
    }
    node.updated_at = latest;
}
