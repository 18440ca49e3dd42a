//! Changesets: atomic groups of writes on one branch at one timestamp, with conditions that
//! are checked atomically with them.

use serde_json::Value;

use crate::model::{AttributeValue, LinkProperties, NodeId, Scope, Side};
use crate::time::Timestamp;

/// One write.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Creates a node; its id must not be visible in the branch.
    CreateNode {
        /// Identifier (see [`new_node_id`](crate::new_node_id)).
        id: NodeId,
        /// Kind.
        kind: String,
        /// Labels for listing (kind, generics, ...).
        labels: Vec<String>,
        /// Where the node lives.
        scope: Scope,
    },
    /// Deletes a visible node, with all its attributes and every link to or from it.
    DeleteNode {
        /// The node.
        id: NodeId,
        /// Scope the node was created with.
        scope: Scope,
    },
    /// Changes the kind and labels of a visible node, keeping its id and data.
    ChangeKind {
        /// The node.
        id: NodeId,
        /// New kind.
        kind: String,
        /// New labels.
        labels: Vec<String>,
        /// Scope of the node.
        scope: Scope,
    },
    /// Sets an attribute of a visible node.
    SetAttribute {
        /// The node.
        node: NodeId,
        /// Attribute name.
        name: String,
        /// Value and properties.
        value: AttributeValue,
        /// Scope of the attribute.
        scope: Scope,
        /// Whether filters and ordering may use an index on this value (false for large values).
        indexed: bool,
    },
    /// Removes an attribute of a visible node.
    RemoveAttribute {
        /// The node.
        node: NodeId,
        /// Attribute name.
        name: String,
        /// Scope of the attribute.
        scope: Scope,
    },
    /// Creates a link between two visible nodes, or updates its properties.
    SetLink {
        /// Relationship identifier.
        identifier: String,
        /// Start of the link.
        from: NodeId,
        /// End of the link.
        to: NodeId,
        /// Properties.
        properties: LinkProperties,
        /// Scope of the link.
        scope: Scope,
    },
    /// Removes a link.
    RemoveLink {
        /// Relationship identifier.
        identifier: String,
        /// Start of the link.
        from: NodeId,
        /// End of the link.
        to: NodeId,
        /// Scope of the link.
        scope: Scope,
    },
}

/// A field of a uniqueness condition.
#[derive(Clone, Debug, PartialEq)]
pub enum UniqueField {
    /// The value of an attribute.
    Attribute {
        /// Attribute name.
        name: String,
        /// The value that must not be taken.
        value: Value,
    },
    /// The peer of a link.
    Link {
        /// Relationship identifier.
        identifier: String,
        /// Which end the node is on.
        side: Side,
        /// The peer that must not be taken.
        peer: NodeId,
    },
}

/// A condition checked atomically with the changeset, against the branch's latest state
/// including the changeset's own writes; a failing condition makes the whole changeset fail.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// No visible node with one of `labels`, other than `except`, has all of `fields`.
    Unique {
        /// Labels to check among.
        labels: Vec<String>,
        /// Field values that together must be unique.
        fields: Vec<UniqueField>,
        /// A node allowed to hold them (the node being updated).
        except: Option<NodeId>,
        /// Text to put in the error when the condition fails.
        description: String,
    },
    /// The node is visible in the branch.
    NodeExists {
        /// The node.
        id: NodeId,
        /// Text to put in the error when the condition fails.
        description: String,
    },
    /// No node links to `node` through `identifier` from the given side.
    NotLinked {
        /// The node.
        node: NodeId,
        /// Relationship identifier.
        identifier: String,
        /// Which end `node` is on.
        side: Side,
        /// Text to put in the error when the condition fails.
        description: String,
    },
    /// When `node` is visible, the number of its links through `identifier` from the given
    /// side is at least `min` and, when `max` is given, at most `max` (a cardinality-one
    /// relationship holds at most one peer; a node keeps the peers it requires). A node that
    /// is not visible passes.
    LinkCount {
        /// The node.
        node: NodeId,
        /// Relationship identifier.
        identifier: String,
        /// Which end `node` is on.
        side: Side,
        /// Fewest links allowed.
        min: usize,
        /// Most links allowed (`None`: no bound).
        max: Option<usize>,
        /// Text to put in the error when the condition fails.
        description: String,
    },
}

/// An atomic group of writes on one branch.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Changeset {
    /// Branch written to.
    pub branch: String,
    /// Writes, applied in order; later writes see earlier ones.
    pub ops: Vec<Op>,
    /// Conditions checked after the writes.
    pub conditions: Vec<Condition>,
}

impl Changeset {
    /// An empty changeset on `branch`.
    pub fn new(branch: impl Into<String>) -> Self {
        Changeset {
            branch: branch.into(),
            ops: Vec::new(),
            conditions: Vec::new(),
        }
    }

    /// Adds a write.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Adds a condition.
    pub fn require(&mut self, condition: Condition) -> &mut Self {
        self.conditions.push(condition);
        self
    }
}

/// What a committed changeset did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The timestamp every write of the changeset carries.
    pub at: Timestamp,
}
