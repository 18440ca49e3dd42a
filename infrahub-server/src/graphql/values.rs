//! The objects resolvers hand to each other: nodes loaded for one level of a document, their
//! attributes, relationship pages and edges.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use infrahub_core::engine::{Node, Peer};
use infrahub_graph::NodeId;

/// The nodes loaded for one place of the document, with what was loaded for the places below.
#[derive(Debug, Default)]
pub(crate) struct Level {
    /// Nodes by id.
    pub(crate) nodes: HashMap<NodeId, Arc<Node>>,
    /// Peers loaded for each relationship selected at this place.
    pub(crate) relationships: HashMap<String, Arc<Level>>,
    /// Lineage sources and owners of the attributes and links selected at this place.
    pub(crate) lineage: Option<Arc<Level>>,
    /// Ancestors and descendants (by field name) of each node of this level, nearest first.
    pub(crate) hierarchy: HashMap<String, HashMap<NodeId, Vec<NodeId>>>,
    /// The peers that pass each nested filter used at this place, by relationship name and
    /// filter key (see [`super::load::filter_key`]), as the engine evaluated them.
    pub(crate) filtered: HashMap<(String, String), BTreeSet<NodeId>>,
}

impl Level {
    /// The node `id` of this level as a resolver value.
    pub(crate) fn value(self: &Arc<Self>, id: NodeId) -> Option<NodeValue> {
        self.nodes.get(&id).map(|node| NodeValue {
            node: Arc::clone(node),
            level: Arc::clone(self),
        })
    }

    /// A lineage node (source or owner) of this level.
    pub(crate) fn lineage_value(&self, id: Option<NodeId>) -> Option<NodeValue> {
        self.lineage.as_ref().and_then(|l| l.value(id?))
    }
}

/// A node, and the level it was loaded in.
#[derive(Clone, Debug)]
pub(crate) struct NodeValue {
    pub(crate) node: Arc<Node>,
    pub(crate) level: Arc<Level>,
}

/// One attribute of a node.
#[derive(Clone, Debug)]
pub(crate) struct AttributeValue {
    pub(crate) node: NodeValue,
    pub(crate) name: String,
}

/// A page of nodes (`Paginated<Kind>`): the total and the nodes of the page.
#[derive(Debug)]
pub(crate) struct PageValue {
    pub(crate) kind: String,
    pub(crate) count: u64,
    pub(crate) edges: Vec<NodeValue>,
}

/// A page of peers of a relationship (`NestedPaginated<Kind>`).
#[derive(Debug)]
pub(crate) struct NestedPageValue {
    pub(crate) kind: String,
    pub(crate) count: u64,
    pub(crate) edges: Vec<EdgeValue>,
}

/// A peer and the link's properties (`NestedEdged<Kind>`).
#[derive(Clone, Debug)]
pub(crate) struct EdgeValue {
    pub(crate) peer: Peer,
    pub(crate) node: Option<NodeValue>,
    /// The level of the node that holds the link (for the link's lineage).
    pub(crate) owner_level: Arc<Level>,
}

/// The answer of a node mutation (`<Kind>Create` ...).
#[derive(Debug)]
pub(crate) struct MutationValue {
    pub(crate) ok: bool,
    pub(crate) object: Option<NodeValue>,
}
