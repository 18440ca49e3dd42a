//! How relationships map onto links of the graph store.

use infrahub_graph::{LinkProperties, LinkSelection, NodeData, NodeId, Op, Scope, Side};

use crate::schema::{BranchSupport, Direction, ModelSchema, RelationshipSchema, SchemaBranch};

/// The scope writes of a field with this branch support go to.
pub(crate) fn scope(support: Option<BranchSupport>) -> Scope {
    match support.unwrap_or_default() {
        BranchSupport::Aware => Scope::Branch,
        BranchSupport::Agnostic => Scope::Global,
        BranchSupport::Local => Scope::Local,
    }
}

/// The end of a link the declaring node is on.
pub(crate) fn side(relationship: &RelationshipSchema) -> Side {
    match relationship.direction {
        Direction::Outbound => Side::From,
        Direction::Inbound => Side::To,
        Direction::Bidirectional => Side::Either,
    }
}

/// The `(from, to)` of the link between `node` and `peer` through `relationship`. Links of
/// bidirectional relationships are stored once, from the smaller id to the larger.
pub(crate) fn ends(
    relationship: &RelationshipSchema,
    node: NodeId,
    peer: NodeId,
) -> (NodeId, NodeId) {
    match relationship.direction {
        Direction::Outbound => (node, peer),
        Direction::Inbound => (peer, node),
        Direction::Bidirectional => (node.min(peer), node.max(peer)),
    }
}

/// The operation that links `node` to `peer` through `relationship` with `properties`.
pub(crate) fn set(
    relationship: &RelationshipSchema,
    node: NodeId,
    peer: NodeId,
    properties: LinkProperties,
) -> Op {
    let (from, to) = ends(relationship, node, peer);
    Op::SetLink {
        identifier: relationship.identifier().to_string(),
        from,
        to,
        properties,
        scope: scope(relationship.branch),
    }
}

/// The operation that removes the link between `node` and `peer` through `relationship`.
pub(crate) fn remove(relationship: &RelationshipSchema, node: NodeId, peer: NodeId) -> Op {
    let (from, to) = ends(relationship, node, peer);
    Op::RemoveLink {
        identifier: relationship.identifier().to_string(),
        from,
        to,
        scope: scope(relationship.branch),
    }
}

/// The selection that loads `relationship`'s links.
pub(crate) fn selection(relationship: &RelationshipSchema) -> LinkSelection {
    LinkSelection {
        identifier: relationship.identifier().to_string(),
        side: side(relationship),
    }
}

/// The relationship on `peer_model` that is the other side of `relationship` (same
/// identifier, opposite direction).
pub(crate) fn reverse<'a>(
    relationship: &RelationshipSchema,
    peer_model: &'a ModelSchema,
) -> Option<&'a RelationshipSchema> {
    let wanted = match relationship.direction {
        Direction::Outbound => Direction::Inbound,
        Direction::Inbound => Direction::Outbound,
        Direction::Bidirectional => Direction::Bidirectional,
    };
    peer_model
        .relationships
        .iter()
        .find(|r| r.identifier == relationship.identifier && r.direction == wanted)
}

/// Whether a node of `kind` can be a peer of `relationship`.
pub(crate) fn accepts(
    schema: &SchemaBranch,
    relationship: &RelationshipSchema,
    kind: &str,
) -> bool {
    if relationship.peer == kind {
        return true;
    }
    schema
        .get(kind)
        .is_some_and(|model| model.storage_labels().contains(&relationship.peer))
}

/// The peers of `node` through `relationship`, among its loaded links.
pub(crate) fn peers_in(node: &NodeData, relationship: &RelationshipSchema) -> Vec<NodeId> {
    let identifier = relationship.identifier();
    let side = side(relationship);
    node.links
        .iter()
        .filter(|l| l.identifier == identifier && (side == Side::Either || l.side == side))
        .map(|l| l.peer)
        .collect()
}
