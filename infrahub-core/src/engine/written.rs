//! Nodes as a write leaves them, built from the write's own operations instead of being read
//! back from the store after the commit.

use std::collections::BTreeMap;

use infrahub_graph::{AttributeState, LinkState, NodeData, NodeId, Op, Side, Timestamp};

/// The time versions written by a pending write carry until [`stamp`] gives them the commit's.
const PENDING: Timestamp = Timestamp::MAX;

/// A node with nothing loaded yet: the starting point of a create.
pub(crate) fn empty(id: NodeId, branch: &str) -> NodeData {
    NodeData {
        id,
        kind: String::new(),
        labels: Vec::new(),
        branch: branch.to_string(),
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
                        branch: branch.to_string(),
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
                let (peer, side) = ends(id, *from, *to);
                node.links
                    .retain(|l| !(l.identifier == *identifier && l.peer == peer && l.side == side));
                node.links.push(LinkState {
                    identifier: identifier.clone(),
                    peer,
                    side,
                    properties: properties.clone(),
                    updated_at: PENDING,
                    branch: branch.to_string(),
                });
            }
            Op::RemoveLink {
                identifier,
                from,
                to,
                ..
            } if *from == id || *to == id => {
                let (peer, side) = ends(id, *from, *to);
                node.links
                    .retain(|l| !(l.identifier == *identifier && l.peer == peer && l.side == side));
            }
            _ => {}
        }
    }
}

/// The peer of a link between `from` and `to` seen from `node`, and the end `node` is on.
fn ends(node: NodeId, from: NodeId, to: NodeId) -> (NodeId, Side) {
    if from == node {
        (to, Side::From)
    } else {
        (from, Side::To)
    }
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
