//! What callers send to create, update or upsert a node.

use std::collections::BTreeMap;

use super::pools::PoolInput;

use serde_json::Value;

/// Data for a create, update or upsert.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInput {
    /// The node's id: chosen on create (a UUID), the node to update on update.
    pub id: Option<String>,
    /// The node's human-friendly id, to find it on update and upsert.
    pub hfid: Option<Vec<String>>,
    /// Attributes to set, by name.
    pub attributes: BTreeMap<String, AttributeInput>,
    /// Relationships to set, by name.
    pub relationships: BTreeMap<String, RelationshipInput>,
    /// A file stored for the node (kinds inheriting `CoreFileObject`): sets its read-only file
    /// attributes.
    pub file: Option<StoredFile>,
}

/// A file put in the object store for a node of a kind inheriting `CoreFileObject`: what its
/// read-only attributes `file_name`, `checksum`, `file_size`, `file_type` and `storage_id` say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredFile {
    /// Name of the file as uploaded.
    pub name: String,
    /// SHA-1 of the content, hex.
    pub checksum: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// Identifier of the content in the object store.
    pub storage_id: String,
}

/// The generic of kinds that carry a file.
pub const FILE_OBJECT: &str = "CoreFileObject";

impl StoredFile {
    /// The attribute names and values it sets.
    pub(crate) fn attributes(&self) -> [(&'static str, Value); 5] {
        [
            ("file_name", Value::String(self.name.clone())),
            ("checksum", Value::String(self.checksum.clone())),
            ("file_size", Value::from(self.size)),
            ("file_type", Value::String(self.media_type.clone())),
            ("storage_id", Value::String(self.storage_id.clone())),
        ]
    }
}

/// An attribute to set; every field is optional, unset fields keep their value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeInput {
    /// New value; `Some(Value::Null)` clears an optional attribute.
    pub value: Option<Value>,
    /// New `is_protected` flag.
    pub is_protected: Option<bool>,
    /// New `is_visible` flag.
    pub is_visible: Option<bool>,
    /// New lineage source (node id).
    pub source: Option<String>,
    /// New lineage owner (node id).
    pub owner: Option<String>,
    /// Reset to the schema default (`true`).
    pub is_default: Option<bool>,
    /// Take the value from this number pool instead (see [`PoolInput`]).
    pub from_pool: Option<Box<PoolInput>>,
}

impl AttributeInput {
    /// An input that only sets the value.
    pub fn value(value: Value) -> Self {
        AttributeInput {
            value: Some(value),
            ..Default::default()
        }
    }
}

/// Peers to set on a relationship.
#[derive(Clone, Debug, PartialEq)]
pub enum RelationshipInput {
    /// A cardinality-one relationship: the peer, or `None` to clear it.
    One(Option<PeerInput>),
    /// A cardinality-many relationship: the full set of peers (replaces the current set).
    Many(Vec<PeerInput>),
}

/// One peer of a relationship, with the link's properties.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerInput {
    /// The peer's id, or a value of its kind's `default_filter`.
    pub id: Option<String>,
    /// The peer's human-friendly id.
    pub hfid: Option<Vec<String>>,
    /// The peer's kind, to resolve an `hfid` on a generic relationship.
    pub kind: Option<String>,
    /// Link `is_protected`.
    pub is_protected: Option<bool>,
    /// Link `is_visible`.
    pub is_visible: Option<bool>,
    /// Link lineage source (node id).
    pub source: Option<String>,
    /// Link lineage owner (node id).
    pub owner: Option<String>,
    /// Allocate the peer from this IP prefix or address pool instead (see [`PoolInput`]).
    pub from_pool: Option<Box<PoolInput>>,
}

impl PeerInput {
    /// A peer given by id.
    pub fn id(id: impl Into<String>) -> Self {
        PeerInput {
            id: Some(id.into()),
            ..Default::default()
        }
    }

    /// A peer given by human-friendly id.
    pub fn hfid(hfid: Vec<String>) -> Self {
        PeerInput {
            hfid: Some(hfid),
            ..Default::default()
        }
    }
}

/// How to find one node: by id (or default-filter value) or by human-friendly id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeRef {
    /// The node's id, or a value of its kind's `default_filter`.
    pub id: Option<String>,
    /// The node's human-friendly id.
    pub hfid: Option<Vec<String>>,
}
