//! Relationship definitions: links between models.

use serde::{Deserialize, Serialize};

use super::attribute::Display;
use super::kinds::{
    AllowOverride, BranchSupport, Cardinality, Direction, OnDelete, RelationshipKind, State,
};

/// One relationship of a node or generic, as written in a schema file and as served by
/// `GET /api/schema` once processed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipSchema {
    /// Identifier of the stored definition; `None` until the schema is persisted.
    #[serde(default)]
    pub id: Option<String>,
    /// Field name: lowercase letters, digits and `_`, 3 to 64 characters.
    pub name: String,
    /// Kind (node or generic) on the other side.
    pub peer: String,
    /// Meaning of the link.
    #[serde(default)]
    pub kind: RelationshipKind,
    /// Human-friendly name; generated from `name` when absent.
    #[serde(default)]
    pub label: Option<String>,
    /// Short description (at most 128 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Name shared by both sides of the link; generated from the two kinds when absent.
    #[serde(default)]
    pub identifier: Option<String>,
    /// How many peers the relationship holds.
    #[serde(default)]
    pub cardinality: Cardinality,
    /// Minimum number of peers (0 = no minimum).
    #[serde(default)]
    pub min_count: i64,
    /// Maximum number of peers (0 = no maximum).
    #[serde(default)]
    pub max_count: i64,
    /// Name of the peer's parent relationship whose value must equal this node's parent.
    #[serde(default)]
    pub common_parent: Option<String>,
    /// Names of peer relationships whose peers all selected nodes must share.
    #[serde(default)]
    pub common_relatives: Option<Vec<String>>,
    /// Position in forms and tables; generated when absent.
    #[serde(default)]
    pub order_weight: Option<i64>,
    /// Whether the relationship may be empty.
    #[serde(default = "super::attribute::default_true")]
    pub optional: bool,
    /// Branch support; derived from both sides when absent.
    #[serde(default)]
    pub branch: Option<BranchSupport>,
    /// Set by processing when the relationship comes from a generic.
    #[serde(default)]
    pub inherited: bool,
    /// Direction of the link.
    #[serde(default)]
    pub direction: Direction,
    /// Hierarchy generic this relationship belongs to (parent/children links).
    #[serde(default)]
    pub hierarchical: Option<String>,
    /// `absent` removes the relationship when the schema is loaded.
    #[serde(default)]
    pub state: State,
    /// What deleting this node does to its peers; `cascade` for components by default.
    #[serde(default)]
    pub on_delete: Option<OnDelete>,
    /// Whether models inheriting this relationship may redefine it.
    #[serde(default)]
    pub allow_override: AllowOverride,
    /// Users cannot change the peers.
    #[serde(default)]
    pub read_only: bool,
    /// Deprecation message; a deprecated relationship becomes optional.
    #[serde(default)]
    pub deprecation: Option<String>,
    /// Where user interfaces show the relationship.
    #[serde(default)]
    pub display: Display,
}

impl RelationshipSchema {
    /// A new optional, many-cardinality generic relationship to `peer`.
    pub fn new(name: impl Into<String>, peer: impl Into<String>) -> Self {
        RelationshipSchema {
            id: None,
            name: name.into(),
            peer: peer.into(),
            kind: RelationshipKind::Generic,
            label: None,
            description: None,
            identifier: None,
            cardinality: Cardinality::Many,
            min_count: 0,
            max_count: 0,
            common_parent: None,
            common_relatives: None,
            order_weight: None,
            optional: true,
            branch: None,
            inherited: false,
            direction: Direction::Bidirectional,
            hierarchical: None,
            state: State::Present,
            on_delete: None,
            allow_override: AllowOverride::Any,
            read_only: false,
            deprecation: None,
            display: crate::schema::attribute::Display::Default,
        }
    }

    /// The link identifier; empty before processing generated it.
    pub fn identifier(&self) -> &str {
        self.identifier.as_deref().unwrap_or_default()
    }

    /// Whether the peer lives in the `Internal` namespace (hidden from the API).
    pub fn has_internal_peer(&self) -> bool {
        self.peer.starts_with("Internal")
    }

    /// Whether the relationship is deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.deprecation.as_deref().is_some_and(|d| !d.is_empty())
    }

    /// Merges a newer definition of the same relationship into this one: fields the newer
    /// definition sets replace ours, unset optional fields keep ours.
    pub(crate) fn update_from(&mut self, other: &RelationshipSchema) {
        macro_rules! take_opt {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field.clone(); } )* };
        }
        take_opt!(
            id,
            label,
            description,
            identifier,
            common_parent,
            common_relatives,
            order_weight,
            branch,
            hierarchical,
            on_delete,
            deprecation
        );
        self.name = other.name.clone();
        self.peer = other.peer.clone();
        self.kind = other.kind;
        self.cardinality = other.cardinality;
        self.min_count = other.min_count;
        self.max_count = other.max_count;
        self.optional = other.optional;
        self.inherited = other.inherited;
        self.direction = other.direction;
        self.state = other.state;
        self.allow_override = other.allow_override;
        self.read_only = other.read_only;
        self.display = other.display;
    }
}
