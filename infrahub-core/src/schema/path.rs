//! Schema paths such as `name__value` or `device__name__value`: parsing them against a model
//! and checking them against the kinds of path a schema property accepts.

use super::attribute::AttributeSchema;
use super::kinds::{AttributeKind, Cardinality};
use super::model::ModelSchema;

/// Which shapes of path a schema property accepts, as a set of flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathRules(u16);

impl PathRules {
    pub(crate) const ATTR_WITH_PROP: PathRules = PathRules(1);
    pub(crate) const ATTR_NO_PROP: PathRules = PathRules(1 << 1);
    pub(crate) const REL_MANY_NO_ATTR: PathRules = PathRules(1 << 2);
    pub(crate) const REL_MANY_ATTR: PathRules = PathRules(1 << 3);
    pub(crate) const REL_ONE_MANDATORY_NO_ATTR: PathRules = PathRules(1 << 4);
    pub(crate) const REL_ONE_MANDATORY_ATTR_WITH_PROP: PathRules = PathRules(1 << 5);
    pub(crate) const REL_ONE_MANDATORY_ATTR_NO_PROP: PathRules = PathRules(1 << 6);
    pub(crate) const REL_ONE_OPTIONAL_ATTR_WITH_PROP: PathRules = PathRules(1 << 7);
    pub(crate) const REL_ONE_OPTIONAL_ATTR_NO_PROP: PathRules = PathRules(1 << 8);
    pub(crate) const REL_ONE_OPTIONAL_NO_ATTR: PathRules = PathRules(1 << 9);

    pub(crate) const ATTR: PathRules = Self::ATTR_WITH_PROP.or(Self::ATTR_NO_PROP);
    pub(crate) const REL_MANY: PathRules = Self::REL_MANY_NO_ATTR.or(Self::REL_MANY_ATTR);
    pub(crate) const REL_ONE_MANDATORY_ATTR: PathRules =
        Self::REL_ONE_MANDATORY_ATTR_WITH_PROP.or(Self::REL_ONE_MANDATORY_ATTR_NO_PROP);
    pub(crate) const REL_ONE_MANDATORY: PathRules =
        Self::REL_ONE_MANDATORY_ATTR.or(Self::REL_ONE_MANDATORY_NO_ATTR);
    pub(crate) const REL_ONE_OPTIONAL_ATTR: PathRules =
        Self::REL_ONE_OPTIONAL_ATTR_WITH_PROP.or(Self::REL_ONE_OPTIONAL_ATTR_NO_PROP);
    pub(crate) const REL_ONE_OPTIONAL: PathRules =
        Self::REL_ONE_OPTIONAL_ATTR.or(Self::REL_ONE_OPTIONAL_NO_ATTR);
    pub(crate) const REL_ONE: PathRules = Self::REL_ONE_MANDATORY.or(Self::REL_ONE_OPTIONAL);
    pub(crate) const REL_ONE_ATTR_WITH_PROP: PathRules =
        Self::REL_ONE_MANDATORY_ATTR_WITH_PROP.or(Self::REL_ONE_OPTIONAL_ATTR_WITH_PROP);
    pub(crate) const REL: PathRules = Self::REL_ONE.or(Self::REL_MANY);
    pub(crate) const REL_ATTR: PathRules = Self::REL_ONE_MANDATORY_ATTR
        .or(Self::REL_ONE_OPTIONAL_ATTR)
        .or(Self::REL_MANY_ATTR);
    pub(crate) const RELS_NO_ATTR: PathRules = Self::REL_ONE_MANDATORY_NO_ATTR
        .or(Self::REL_ONE_OPTIONAL_NO_ATTR)
        .or(Self::REL_MANY_NO_ATTR);

    pub(crate) const fn or(self, other: PathRules) -> PathRules {
        PathRules(self.0 | other.0)
    }

    fn intersects(self, other: PathRules) -> bool {
        self.0 & other.0 != 0
    }
}

/// A path resolved against a model.
#[derive(Clone, Debug)]
pub(crate) struct SchemaPath<'a> {
    /// The relationship crossed first, if any.
    pub(crate) relationship: Option<RelationshipView>,
    /// The model on the other side of that relationship.
    pub(crate) related: Option<&'a ModelSchema>,
    /// The attribute reached (on this model or the related one).
    pub(crate) attribute: Option<&'a AttributeSchema>,
    /// The attribute property (`value`, `label`, ...).
    pub(crate) property: Option<String>,
}

/// The relationship part of a path: either a declared relationship or the implicit `parent` of
/// a hierarchy.
#[derive(Clone, Debug)]
pub(crate) struct RelationshipView {
    pub(crate) name: String,
    pub(crate) cardinality: Cardinality,
    pub(crate) optional: bool,
    pub(crate) identifier: Option<String>,
}

impl SchemaPath<'_> {
    /// A path to an attribute of the model itself.
    pub(crate) fn is_attribute(&self) -> bool {
        self.attribute.is_some() && self.relationship.is_none()
    }

    /// `attribute__property` of the path's attribute part.
    pub(crate) fn attribute_path(&self) -> String {
        match (self.attribute, &self.property) {
            (Some(attr), Some(prop)) => format!("{}__{prop}", attr.name),
            (Some(attr), None) => attr.name.clone(),
            _ => String::new(),
        }
    }
}

/// The properties a path may name after an attribute of `kind`.
pub(crate) fn attribute_properties(kind: AttributeKind) -> &'static [&'static str] {
    match kind {
        AttributeKind::Dropdown => &["color", "description", "label", "value"],
        AttributeKind::IpNetwork => &[
            "binary_address",
            "broadcast_address",
            "hostmask",
            "netmask",
            "num_addresses",
            "prefixlen",
            "value",
            "version",
            "with_hostmask",
            "with_netmask",
        ],
        AttributeKind::IpHost => &[
            "binary_address",
            "hostmask",
            "ip",
            "netmask",
            "prefixlen",
            "value",
            "version",
            "with_hostmask",
            "with_netmask",
        ],
        AttributeKind::MacAddress => &[
            "bare",
            "binary",
            "dot_notation",
            "ei",
            "eui48",
            "eui64",
            "oui",
            "semicolon_notation",
            "split_notation",
            "value",
            "version",
        ],
        _ => &["value"],
    }
}

/// Resolves `path` against `model`, looking peers up with `lookup`.
pub(crate) fn parse_path<'a>(
    model: &'a ModelSchema,
    path: &str,
    lookup: &impl Fn(&str) -> Option<&'a ModelSchema>,
) -> Result<SchemaPath<'a>, String> {
    let parts: Vec<&str> = path.split("__").collect();
    let mut resolved = SchemaPath {
        relationship: None,
        related: None,
        attribute: None,
        property: None,
    };
    let (attribute_piece, property_piece) = if let Some(rel) = model.relationship(parts[0]) {
        let related = lookup(&rel.peer)
            .ok_or_else(|| format!("peer `{}` of `{}` does not exist", rel.peer, rel.name))?;
        resolved.relationship = Some(RelationshipView {
            name: rel.name.clone(),
            cardinality: rel.cardinality,
            optional: rel.optional,
            identifier: rel.identifier.clone(),
        });
        resolved.related = Some(related);
        (parts.get(1), parts.get(2))
    } else if model.attribute(parts[0]).is_some() {
        (parts.first(), parts.get(1))
    } else if parts[0] == "parent" && model.parent.as_deref().is_some_and(|p| !p.is_empty()) {
        let parent_kind = model.parent.as_deref().unwrap_or_default();
        let related = lookup(parent_kind)
            .ok_or_else(|| format!("parent kind `{parent_kind}` does not exist"))?;
        resolved.relationship = Some(RelationshipView {
            name: "parent".to_string(),
            cardinality: Cardinality::One,
            optional: true,
            identifier: None,
        });
        resolved.related = Some(related);
        (parts.get(1), parts.get(2))
    } else {
        return Err(format!(
            "`{path}` is not a path of `{}`: `{}` is neither an attribute nor a relationship",
            model.kind(),
            parts[0]
        ));
    };
    if let Some(attribute_name) = attribute_piece {
        let target = resolved.related.unwrap_or(model);
        let attribute = target.attribute(attribute_name).ok_or_else(|| {
            format!(
                "`{attribute_name}` is not an attribute of `{}` (in `{path}`)",
                target.kind()
            )
        })?;
        resolved.attribute = Some(attribute);
        if let Some(property) = property_piece {
            let allowed = attribute_properties(attribute.kind);
            if !allowed.contains(property) {
                return Err(format!(
                    "`{property}` is not a property of `{}` (allowed: {}) (in `{path}`)",
                    attribute.name,
                    allowed.join(", ")
                ));
            }
            resolved.property = Some((*property).to_string());
        }
    }
    if parts.len() > 3 {
        return Err(format!(
            "`{path}` has too many parts; paths are `attribute__property` or `relationship__attribute__property`"
        ));
    }
    Ok(resolved)
}

/// Resolves `path` and checks it has a shape allowed by `rules`.
pub(crate) fn check_path<'a>(
    model: &'a ModelSchema,
    path: &str,
    rules: PathRules,
    lookup: &impl Fn(&str) -> Option<&'a ModelSchema>,
) -> Result<SchemaPath<'a>, String> {
    let resolved = parse_path(model, path, lookup)?;
    if resolved.is_attribute() {
        if !rules.intersects(PathRules::ATTR) {
            return Err(format!(
                "`{path}`: only relationships are allowed here, not attributes"
            ));
        }
        if !rules.intersects(PathRules::ATTR_NO_PROP) {
            let attribute = resolved
                .attribute
                .map(|a| a.kind)
                .unwrap_or(AttributeKind::Text);
            let allowed = attribute_properties(attribute);
            if !resolved
                .property
                .as_deref()
                .is_some_and(|p| allowed.contains(&p))
            {
                return Err(format!(
                    "`{path}`: the path must end with one of the properties {}",
                    allowed.join(", ")
                ));
            }
        }
    }
    if let Some(rel) = &resolved.relationship {
        if !rules.intersects(PathRules::REL) {
            return Err(format!(
                "`{path}`: only attributes are allowed here, not relationships"
            ));
        }
        let ip_namespace_exception = rel.name == "ip_namespace"
            && model.is_node()
            && model
                .inherit_from
                .iter()
                .any(|g| g == super::constants::IP_PREFIX || g == super::constants::IP_ADDRESS);
        match rel.cardinality {
            Cardinality::One => {
                if !rules.intersects(PathRules::REL_ONE) {
                    return Err(format!(
                        "`{path}`: relationship `{}` must be of cardinality many",
                        rel.name
                    ));
                }
                if !rules.intersects(PathRules::REL_ONE_OPTIONAL)
                    && rel.optional
                    && !ip_namespace_exception
                {
                    return Err(format!(
                        "`{path}`: relationship `{}` must be mandatory",
                        rel.name
                    ));
                }
            }
            Cardinality::Many => {
                if !rules.intersects(PathRules::REL_MANY) {
                    return Err(format!(
                        "`{path}`: relationship `{}` must be of cardinality one",
                        rel.name
                    ));
                }
            }
        }
        if resolved.property.is_some() && !rules.intersects(PathRules::REL_ATTR) {
            return Err(format!(
                "`{path}`: only the relationship itself is allowed, not attributes of the related node"
            ));
        }
        if resolved.property.is_none() && !rules.intersects(PathRules::RELS_NO_ATTR) {
            return Err(format!(
                "`{path}`: the path must reach an attribute of the related node"
            ));
        }
    }
    Ok(resolved)
}
