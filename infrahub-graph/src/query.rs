//! Reads: which nodes to return, what to load of them, in which order.

use serde_json::Value;

use crate::model::{NodeData, NodeId, Side};

/// What to load of each node.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Selection {
    /// Attributes to load: `None` for all of them, `Some(list)` for only those (an empty list
    /// loads none).
    pub attributes: Option<Vec<String>>,
    /// Links to load.
    pub links: Vec<LinkSelection>,
}

impl Selection {
    /// Every attribute, no links.
    pub fn all_attributes() -> Self {
        Selection {
            attributes: None,
            links: Vec::new(),
        }
    }

    /// Only the node itself (kind, labels, timestamps).
    pub fn nothing() -> Self {
        Selection {
            attributes: Some(Vec::new()),
            links: Vec::new(),
        }
    }
}

/// Links of one identifier to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSelection {
    /// Relationship identifier.
    pub identifier: String,
    /// Which end the node is on (`Either` for bidirectional relationships).
    pub side: Side,
}

/// Which attribute property a filter looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Property {
    /// The value.
    #[default]
    Value,
    /// `is_protected`.
    IsProtected,
    /// `is_visible`.
    IsVisible,
    /// The source node id.
    Source,
    /// The owner node id.
    Owner,
}

/// A comparison of one value.
#[derive(Clone, Debug, PartialEq)]
pub enum Match {
    /// Equal to the value.
    Equals(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Unset (`true`) or set (`false`).
    IsNull(bool),
    /// A string containing the text, ignoring case.
    Contains(String),
    /// Between the two values, both included, in the store's order of values: false < true <
    /// numbers (by value) < strings (byte by byte) < other JSON; null never matches. Fixed-width
    /// strings make ranges of anything with a natural order (IP space, for one).
    Between(Value, Value),
}

/// One filter; a query keeps the nodes that pass all of its filters.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// The node is one of these.
    Ids(Vec<NodeId>),
    /// An attribute property matches.
    Attribute {
        /// Attribute name.
        name: String,
        /// Property compared.
        property: Property,
        /// Comparison.
        matches: Match,
    },
    /// At least one attribute with a value has a property that matches (`any__value`,
    /// `any__source__id`, ...). Attributes whose name starts with `~` (data an application
    /// keeps for itself) are not looked at.
    AnyAttribute {
        /// Property compared.
        property: Property,
        /// Comparison.
        matches: Match,
    },
    /// The node links through `identifier` to one of `peers`.
    Linked {
        /// Relationship identifier.
        identifier: String,
        /// Which end the node is on.
        side: Side,
        /// Accepted peers.
        peers: Vec<NodeId>,
    },
    /// The node has no link (`true`) or at least one link (`false`) through `identifier`.
    LinkIsNull {
        /// Relationship identifier.
        identifier: String,
        /// Which end the node is on.
        side: Side,
        /// Whether the node must have no link.
        is_null: bool,
    },
    /// The node links through `identifier` to a node with one of `peer_labels` that passes
    /// every filter of `peer_filters` (one hop away).
    Peer {
        /// Relationship identifier.
        identifier: String,
        /// Which end the node is on.
        side: Side,
        /// Labels of the peers.
        peer_labels: Vec<String>,
        /// Filters on the peer.
        peer_filters: Vec<Filter>,
    },
}

/// Ordering by an attribute value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    /// Attribute name.
    pub attribute: String,
    /// Largest first.
    pub descending: bool,
}

/// A list query.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NodeQuery {
    /// Nodes having at least one of these labels.
    pub labels: Vec<String>,
    /// Filters, all of which must pass.
    pub filters: Vec<Filter>,
    /// Ordering; ties and the empty ordering fall back to node id order, which is stable.
    pub order: Vec<OrderBy>,
    /// Number of matches to skip.
    pub offset: usize,
    /// Maximum number of nodes to return (`None`: all).
    pub limit: Option<usize>,
    /// What to load of each returned node.
    pub select: Selection,
    /// Whether to compute the total number of matches.
    pub count: bool,
}

/// The answer to a [`NodeQuery`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct QueryResult {
    /// The page of nodes.
    pub nodes: Vec<NodeData>,
    /// Total number of matches regardless of offset and limit, when asked.
    pub total: Option<u64>,
}
