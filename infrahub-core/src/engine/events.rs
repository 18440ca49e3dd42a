//! Events produced by mutations, for the bus, webhooks and the event log to publish.

use std::collections::BTreeMap;

use infrahub_graph::{NodeId, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum Event {
    /// A node was created.
    #[serde(rename = "infrahub.node.created")]
    NodeCreated(NodeEvent),
    /// A node was updated.
    #[serde(rename = "infrahub.node.updated")]
    NodeUpdated(NodeEvent),
    /// A node was deleted.
    #[serde(rename = "infrahub.node.deleted")]
    NodeDeleted(NodeEvent),
    /// The schema of a branch changed.
    #[serde(rename = "infrahub.schema.updated")]
    SchemaUpdated {
        /// Branch.
        branch: String,
        /// New schema hash.
        hash: String,
        /// When.
        at: Timestamp,
    },
    /// A branch was created.
    #[serde(rename = "infrahub.branch.created")]
    BranchCreated {
        /// Branch.
        branch: String,
        /// When.
        at: Timestamp,
    },
    /// A branch was deleted.
    #[serde(rename = "infrahub.branch.deleted")]
    BranchDeleted {
        /// Branch.
        branch: String,
        /// When.
        at: Timestamp,
    },
    /// A branch was merged into the default branch.
    #[serde(rename = "infrahub.branch.merged")]
    BranchMerged {
        /// Branch.
        branch: String,
        /// When.
        at: Timestamp,
    },
    /// A branch was rebased onto the default branch.
    #[serde(rename = "infrahub.branch.rebased")]
    BranchRebased {
        /// Branch.
        branch: String,
        /// When.
        at: Timestamp,
    },
}

impl Event {
    /// The event name, as upstream names it (`infrahub.node.created`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::NodeCreated(_) => "infrahub.node.created",
            Event::NodeUpdated(_) => "infrahub.node.updated",
            Event::NodeDeleted(_) => "infrahub.node.deleted",
            Event::SchemaUpdated { .. } => "infrahub.schema.updated",
            Event::BranchCreated { .. } => "infrahub.branch.created",
            Event::BranchDeleted { .. } => "infrahub.branch.deleted",
            Event::BranchMerged { .. } => "infrahub.branch.merged",
            Event::BranchRebased { .. } => "infrahub.branch.rebased",
        }
    }
}

/// A node change: which node, where, when, and what changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeEvent {
    /// Branch of the change.
    pub branch: String,
    /// Kind of the node.
    pub kind: String,
    /// The node.
    pub node_id: NodeId,
    /// When the change was committed.
    pub at: Timestamp,
    /// Display label of the node after the change (before, for deletes).
    pub display_label: String,
    /// Changed attributes by name.
    pub attributes: BTreeMap<String, AttributeChange>,
    /// Changed relationships by name.
    pub relationships: BTreeMap<String, RelationshipChange>,
}

/// An attribute's value before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributeChange {
    /// Attribute kind.
    pub kind: String,
    /// New value.
    pub value: Value,
    /// Previous value.
    pub value_previous: Value,
}

/// Peers added to and removed from a relationship.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RelationshipChange {
    /// Peers added.
    pub added: Vec<NodeId>,
    /// Peers removed.
    pub removed: Vec<NodeId>,
}
