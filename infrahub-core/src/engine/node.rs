//! Nodes as the engine returns them.

use std::collections::BTreeMap;

use infrahub_graph::{NodeId, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// A node read through a branch view, with what the caller asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Identifier.
    pub id: NodeId,
    /// Concrete kind.
    pub kind: String,
    /// Human-friendly id, when the kind has one.
    pub hfid: Option<Vec<String>>,
    /// Display label.
    pub display_label: String,
    /// Latest change among what was read.
    pub updated_at: Timestamp,
    /// Attributes read, by name.
    pub attributes: BTreeMap<String, Attribute>,
    /// Relationships read, by name, with their peers.
    pub relationships: BTreeMap<String, Vec<Peer>>,
}

/// An attribute with its properties.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribute {
    /// Value (`null` when unset).
    pub value: Value,
    /// The value is the schema default.
    pub is_default: bool,
    /// The value comes from a profile.
    pub is_from_profile: bool,
    /// Protected from edits.
    pub is_protected: bool,
    /// Shown in user interfaces.
    pub is_visible: bool,
    /// Lineage source.
    pub source: Option<NodeId>,
    /// Lineage owner.
    pub owner: Option<NodeId>,
    /// When the value was last written.
    pub updated_at: Option<Timestamp>,
}

/// One peer of a relationship, with the link's properties.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peer {
    /// The peer.
    pub id: NodeId,
    /// Link protected from edits.
    pub is_protected: bool,
    /// Link shown in user interfaces.
    pub is_visible: bool,
    /// Link lineage source.
    pub source: Option<NodeId>,
    /// Link lineage owner.
    pub owner: Option<NodeId>,
    /// When the link was last written.
    pub updated_at: Timestamp,
}

impl Node {
    /// The value of attribute `name` (`null` if unset or not read).
    pub fn value(&self, name: &str) -> &Value {
        self.attributes.get(name).map_or(&Value::Null, |a| &a.value)
    }

    /// The peers of relationship `name` (empty if none or not read).
    pub fn peers(&self, name: &str) -> &[Peer] {
        self.relationships.get(name).map_or(&[], Vec::as_slice)
    }
}
