//! Names and rules of the schema language that upstream Infrahub fixes.

/// Namespaces reserved for the built-in schema; user schemas may not define models in them.
pub const RESTRICTED_NAMESPACES: &[&str] = &[
    "Account",
    "Branch",
    "Core",
    "Deprecated",
    "Diff",
    "Infrahub",
    "Internal",
    "Lineage",
    "Schema",
    "Profile",
    "Template",
];

/// Attribute and relationship names no model may use.
pub const RESERVED_FIELD_NAMES: &[&str] = &[
    "any",
    "attribute",
    "attributes",
    "attr",
    "attrs",
    "relationship",
    "relationships",
    "rel",
    "rels",
    "save",
    "hfid",
];

/// Attribute and relationship names generics may not use.
pub const RESERVED_GENERIC_FIELD_NAMES: &[&str] = &["type"];

/// Python keywords, rejected as attribute names (and relationship names in strict mode)
/// because the official SDK exposes fields as Python attributes.
pub const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Kind of the interface every node implements.
pub const CORE_NODE: &str = "CoreNode";
/// Kind of the generic every group inherits.
pub const GENERIC_GROUP: &str = "CoreGroup";
/// Kind of the generic every profile inherits.
pub const CORE_PROFILE: &str = "CoreProfile";
/// Kind of the generic every object template inherits.
pub const OBJECT_TEMPLATE: &str = "CoreObjectTemplate";
/// Kind of the generic every component template inherits.
pub const OBJECT_COMPONENT_TEMPLATE: &str = "CoreObjectComponentTemplate";
/// Kind of the lineage owner generic.
pub const LINEAGE_OWNER: &str = "LineageOwner";
/// Kind of the lineage source generic.
pub const LINEAGE_SOURCE: &str = "LineageSource";
/// Kind of the IP prefix generic.
pub const IP_PREFIX: &str = "BuiltinIPPrefix";
/// Kind of the IP address generic.
pub const IP_ADDRESS: &str = "BuiltinIPAddress";
/// Kinds of the virtual "available space" rows, which get profiles relationships anyway.
pub const IP_AVAILABLE_KINDS: &[&str] = &["InternalIPPrefixAvailable", "InternalIPRangeAvailable"];

/// Identifier shared by `parent` and `children` hierarchy relationships.
pub const PARENT_CHILD_IDENTIFIER: &str = "parent__child";
/// Name of the relationship linking a node to the template it was created from.
pub const OBJECT_TEMPLATE_RELATIONSHIP: &str = "object_template";
/// Name of the attribute naming an object template.
pub const OBJECT_TEMPLATE_NAME_ATTR: &str = "template_name";

/// Maximum length of model, attribute and relationship descriptions.
pub(crate) const DESCRIPTION_MAX_LENGTH: usize = 128;
/// Maximum length of model labels.
pub(crate) const MODEL_LABEL_MAX_LENGTH: usize = 64;
/// Maximum length of attribute and relationship labels.
pub(crate) const FIELD_LABEL_MAX_LENGTH: usize = 64;
/// Maximum length of relationship identifiers.
pub(crate) const IDENTIFIER_MAX_LENGTH: usize = 128;

/// Whether `name` is a model name: an uppercase letter then letters and digits, 2-32 chars.
pub fn is_model_name(name: &str) -> bool {
    let mut chars = name.chars();
    (2..=32).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Whether `namespace` is a namespace: an uppercase letter then lowercase letters and
/// digits, 3-64 chars.
pub fn is_namespace(namespace: &str) -> bool {
    let mut chars = namespace.chars();
    (3..=64).contains(&namespace.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `kind` has the shape of a kind: an uppercase letter then letters and digits.
pub fn is_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    kind.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Whether `name` is made of lowercase letters, digits and `_` only (possibly empty).
pub(crate) fn is_snake_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `name` is an attribute or relationship name: lowercase letters, digits and `_`,
/// 3-64 chars.
pub fn is_field_name(name: &str) -> bool {
    (3..=64).contains(&name.len()) && is_snake_name(name)
}

/// Whether `color` is an HTML colour code `#rrggbb`.
pub fn is_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Turns a snake-case name into a title-case label: `member_of_groups` -> `Member Of Groups`.
pub fn format_label(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_rules_match_upstream_patterns() {
        assert!(is_model_name("Device"));
        assert!(!is_model_name("device"));
        assert!(!is_model_name("D"));
        assert!(is_namespace("Infra"));
        assert!(!is_namespace("InFra"));
        assert!(!is_namespace("In"));
        assert!(is_field_name("mtu"));
        assert!(!is_field_name("id"));
        assert!(!is_field_name("Name"));
        assert!(is_color("#aB0099"));
        assert!(!is_color("red"));
    }

    #[test]
    fn labels_are_title_cased_words() {
        assert_eq!(format_label("member_of_groups"), "Member Of Groups");
        assert_eq!(format_label("os_version"), "Os Version");
        assert_eq!(format_label("Device"), "Device");
    }
}
