//! The names, types and values shared by the generated schema (`build`) and the compiled plans
//! (`plan`): each is defined once here, so that the schema the executor validates against and
//! the answers plans write cannot drift apart.

use infrahub_core::engine::{Attribute, Peer};

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
