//! The names, types and values shared by the generated schema (`build`) and the compiled plans
//! (`plan`): each is defined once here, so that the schema the executor validates against and
//! the answers plans write cannot drift apart.

use async_graphql::dynamic::TypeRef;
use infrahub_core::engine::{Attribute, Node, Peer};
use serde_json::Value;

/// The fields every node type has whatever its schema: `id`, `hfid`, `display_label` and
/// `_updated_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeMeta {
    Id,
    Hfid,
    DisplayLabel,
    UpdatedAt,
}

impl NodeMeta {
    /// Every one, in the order the schema lists them.
    pub(crate) const ALL: [NodeMeta; 4] = [
        NodeMeta::Id,
        NodeMeta::Hfid,
        NodeMeta::DisplayLabel,
        NodeMeta::UpdatedAt,
    ];

    /// The field's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            NodeMeta::Id => "id",
            NodeMeta::Hfid => "hfid",
            NodeMeta::DisplayLabel => "display_label",
            NodeMeta::UpdatedAt => "_updated_at",
        }
    }

    /// The field a name names.
    pub(crate) fn of_name(name: &str) -> Option<NodeMeta> {
        NodeMeta::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The field's type.
    pub(crate) fn type_ref(self) -> TypeRef {
        match self {
            NodeMeta::Id => TypeRef::named_nn(TypeRef::STRING),
            NodeMeta::Hfid => TypeRef::named_nn_list(TypeRef::STRING),
            NodeMeta::DisplayLabel => TypeRef::named(TypeRef::STRING),
            NodeMeta::UpdatedAt => TypeRef::named(super::build::DATE_TIME),
        }
    }

    /// The field's description.
    pub(crate) fn description(self) -> Option<&'static str> {
        match self {
            NodeMeta::Id => Some("Unique identifier"),
            NodeMeta::Hfid => Some("Human friendly identifier"),
            NodeMeta::DisplayLabel | NodeMeta::UpdatedAt => None,
        }
    }

    /// The field's value on `node` (null for a kind without a human-friendly id).
    pub(crate) fn value(self, node: &Node) -> Value {
        match self {
            NodeMeta::Id => Value::String(node.id.to_string()),
            NodeMeta::Hfid => node.hfid.as_ref().map_or(Value::Null, |parts| {
                Value::Array(parts.iter().cloned().map(Value::String).collect())
            }),
            NodeMeta::DisplayLabel => Value::String(node.display_label.clone()),
            NodeMeta::UpdatedAt => Value::String(node.updated_at.to_string()),
        }
    }
}

/// The boolean flags every attribute type has, as fields.
#[allow(clippy::enum_variant_names)] // named after the fields (`is_default`, ...)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttributeFlag {
    IsDefault,
    IsInherited,
    IsProtected,
    IsVisible,
    IsFromProfile,
}

impl AttributeFlag {
    /// Every flag, in the order the schema lists them.
    pub(crate) const ALL: [AttributeFlag; 5] = [
        AttributeFlag::IsDefault,
        AttributeFlag::IsInherited,
        AttributeFlag::IsProtected,
        AttributeFlag::IsVisible,
        AttributeFlag::IsFromProfile,
    ];

    /// The field's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AttributeFlag::IsDefault => "is_default",
            AttributeFlag::IsInherited => "is_inherited",
            AttributeFlag::IsProtected => "is_protected",
            AttributeFlag::IsVisible => "is_visible",
            AttributeFlag::IsFromProfile => "is_from_profile",
        }
    }

    /// The flag a field name names.
    pub(crate) fn of_name(name: &str) -> Option<AttributeFlag> {
        AttributeFlag::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The flag's value on `attribute` (attributes are never inherited here).
    pub(crate) fn value(self, attribute: &Attribute) -> bool {
        match self {
            AttributeFlag::IsDefault => attribute.is_default,
            AttributeFlag::IsInherited => false,
            AttributeFlag::IsProtected => attribute.is_protected,
            AttributeFlag::IsVisible => attribute.is_visible,
            AttributeFlag::IsFromProfile => attribute.is_from_profile,
        }
    }
}

/// The boolean flags of a relationship's link (`RelationshipProperty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkFlag {
    IsVisible,
    IsProtected,
}

impl LinkFlag {
    /// Every flag, in the order the schema lists them.
    pub(crate) const ALL: [LinkFlag; 2] = [LinkFlag::IsVisible, LinkFlag::IsProtected];

    /// The field's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LinkFlag::IsVisible => "is_visible",
            LinkFlag::IsProtected => "is_protected",
        }
    }

    /// The flag a field name names.
    pub(crate) fn of_name(name: &str) -> Option<LinkFlag> {
        LinkFlag::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The flag's value on the link to `peer`.
    pub(crate) fn value(self, peer: &Peer) -> bool {
        match self {
            LinkFlag::IsVisible => peer.is_visible,
            LinkFlag::IsProtected => peer.is_protected,
        }
    }
}

/// The type of a link's properties.
pub(crate) const RELATIONSHIP_PROPERTY: &str = "RelationshipProperty";

/// The page type of a root field of `kind`.
pub(crate) fn paginated(kind: &str) -> String {
    format!("Paginated{kind}")
}

/// The edge type of a root field of `kind`.
pub(crate) fn edged(kind: &str) -> String {
    format!("Edged{kind}")
}

/// The page type of a relationship of cardinality many to `kind`.
pub(crate) fn nested_paginated(kind: &str) -> String {
    format!("NestedPaginated{kind}")
}

/// The edge type of a relationship to `kind`.
pub(crate) fn nested_edged(kind: &str) -> String {
    format!("NestedEdged{kind}")
}
