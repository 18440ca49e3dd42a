//! The closed vocabularies of the schema language: attribute kinds, branch support, relationship
//! kinds, cardinality, direction and the other enumerated fields.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in schema files and API payloads.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the spelling used in schema files; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The allowed spellings joined with `, `, for error messages.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The data type of an attribute (`kind` in a schema file).
    AttributeKind {
        /// An identifier.
        Id => "ID",
        /// One value out of the attribute's `choices`.
        Dropdown => "Dropdown",
        /// A single line of text.
        Text => "Text",
        /// Multi-line text, not indexed.
        TextArea => "TextArea",
        /// An ISO-8601 timestamp.
        DateTime => "DateTime",
        /// An e-mail address.
        Email => "Email",
        /// A secret stored as given.
        Password => "Password",
        /// A password stored as a bcrypt hash and never returned in clear.
        HashedPassword => "HashedPassword",
        /// A URL.
        Url => "URL",
        /// A reference to a file in the object store.
        File => "File",
        /// A MAC address.
        MacAddress => "MacAddress",
        /// A colour as `#rrggbb`.
        Color => "Color",
        /// An integer.
        Number => "Number",
        /// An integer allocated from a number pool.
        NumberPool => "NumberPool",
        /// A bandwidth in kbps.
        Bandwidth => "Bandwidth",
        /// An IP address with an optional prefix length (`10.0.0.1/24`).
        IpHost => "IPHost",
        /// An IP network (`10.0.0.0/24`).
        IpNetwork => "IPNetwork",
        /// `true` or `false`.
        Boolean => "Boolean",
        /// `true` or `false`, shown as a checkbox.
        Checkbox => "Checkbox",
        /// A JSON list.
        List => "List",
        /// Any JSON document.
        Json => "JSON",
        /// Any value.
        Any => "Any",
    }
}

impl AttributeKind {
    /// Whether values of this kind are text for length and regex rules.
    pub const fn is_text(self) -> bool {
        matches!(self, AttributeKind::Text | AttributeKind::TextArea)
    }

    /// Whether values of this kind can be large and are therefore not indexed.
    pub const fn is_large(self) -> bool {
        matches!(
            self,
            AttributeKind::TextArea | AttributeKind::Json | AttributeKind::List
        )
    }
}

string_enum! {
    /// How a model, attribute or relationship behaves across branches.
    #[derive(Default)]
    BranchSupport {
        /// Changes stay on the branch they are made on until it is merged.
        #[default]
        Aware => "aware",
        /// Changes are visible on every branch at once and never diffed or merged.
        Agnostic => "agnostic",
        /// Changes stay on their branch and are never merged.
        Local => "local",
    }
}

string_enum! {
    /// What a relationship means to the model that declares it.
    #[derive(Default)]
    RelationshipKind {
        /// A plain link.
        #[default]
        Generic => "Generic",
        /// A link shown like an attribute.
        Attribute => "Attribute",
        /// Owned children, deleted with their owner by default.
        Component => "Component",
        /// The owner of this node (cardinality one, mandatory).
        Parent => "Parent",
        /// Group membership or subscription.
        Group => "Group",
        /// The parent/children links of a hierarchy.
        Hierarchy => "Hierarchy",
        /// Links between nodes and their profiles.
        Profile => "Profile",
        /// Links between nodes and their object templates.
        Template => "Template",
    }
}

string_enum! {
    /// How many peers a relationship holds.
    #[derive(Default)]
    Cardinality {
        /// At most one peer.
        One => "one",
        /// Any number of peers within `min_count`/`max_count`.
        #[default]
        Many => "many",
    }
}

string_enum! {
    /// Direction of the link between the two sides of a relationship.
    #[derive(Default)]
    Direction {
        /// Both sides see the link the same way.
        #[default]
        Bidirectional => "bidirectional",
        /// This side points at the peer.
        Outbound => "outbound",
        /// The peer points at this side.
        Inbound => "inbound",
    }
}

string_enum! {
    /// What happens to peers when a node is deleted.
    OnDelete {
        /// Peers are left alone.
        NoAction => "no-action",
        /// Peers are deleted too.
        Cascade => "cascade",
    }
}

string_enum! {
    /// Whether a model that inherits an attribute or relationship may redefine it.
    #[derive(Default)]
    AllowOverride {
        /// The inherited definition is final.
        None => "none",
        /// The inheriting model may redefine it.
        #[default]
        Any => "any",
    }
}

string_enum! {
    /// Whether an element should exist after a schema load (`state: absent` removes it).
    #[derive(Default)]
    State {
        /// The element exists.
        #[default]
        Present => "present",
        /// The element is removed by the load.
        Absent => "absent",
    }
}

string_enum! {
    /// How a computed attribute gets its value.
    ComputedAttributeKind {
        /// Set by users like any attribute.
        User => "User",
        /// Rendered from a Jinja2 template over the node's own paths.
        Jinja2 => "Jinja2",
        /// Returned by a Python transform.
        TransformPython => "TransformPython",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_twenty_two_attribute_kinds_with_upstream_spellings() {
        assert_eq!(AttributeKind::ALL.len(), 22);
        assert_eq!(AttributeKind::parse("IPHost"), Some(AttributeKind::IpHost));
        assert_eq!(AttributeKind::parse("iphost"), None);
        assert_eq!(AttributeKind::Url.as_str(), "URL");
    }

    #[test]
    fn enums_round_trip_through_serde() {
        let json = serde_json::to_string(&OnDelete::NoAction).unwrap_or_default();
        assert_eq!(json, "\"no-action\"");
        let back: Direction =
            serde_json::from_str("\"inbound\"").unwrap_or(Direction::Bidirectional);
        assert_eq!(back, Direction::Inbound);
    }
}
