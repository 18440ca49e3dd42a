//! Inheritance from generics and hierarchies (parent/children trees).

use std::collections::BTreeMap;

use super::super::branch::SchemaBranch;
use super::super::constants::{CORE_NODE, IP_ADDRESS, IP_PREFIX, PARENT_CHILD_IDENTIFIER};
use super::super::error::SchemaError;
use super::super::kinds::{AllowOverride, BranchSupport, Cardinality, Direction, RelationshipKind};
use super::super::model::{ModelCategory, ModelSchema};
use super::super::relationship::RelationshipSchema;

/// Copies the fields of each generic into the nodes that inherit it, checks the overrides
/// they make, picks the hierarchy, and records `used_by` on generics.
pub(super) fn inheritance(schema: &mut SchemaBranch, errors: &mut Vec<SchemaError>) {
    let mut used_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kind in schema.kinds_of(ModelCategory::Node) {
        let Some(node) = schema.get(&kind) else {
            continue;
        };
        if super::generate::counts_as_core_node(node) {
            used_by
                .entry(CORE_NODE.to_string())
                .or_default()
                .push(kind.clone());
        }
        let hierarchy_missing = node.hierarchy.as_ref().is_some_and(|h| {
            !h.is_empty()
                && !node.inherit_from.contains(h)
                && schema.get(h).is_some_and(ModelSchema::is_generic)
        });
        if node.inherit_from.is_empty() && !hierarchy_missing {
            continue;
        }
        let mut node = node.clone();
        // A node in a hierarchy inherits the hierarchy generic even when it does not list it.
        if let Some(hierarchy) = node.hierarchy.clone().filter(|_| hierarchy_missing) {
            node.inherit_from.push(hierarchy);
        }
        if node.inherit_from.iter().any(|g| g == IP_PREFIX)
            && node.inherit_from.iter().any(|g| g == IP_ADDRESS)
        {
            errors.push(schema.located(
                &kind,
                None,
                "inherit_from",
                format!("cannot inherit from both {IP_PREFIX} and {IP_ADDRESS}"),
            ));
            continue;
        }
        let mut hierarchical = Vec::new();
        let mut failed = false;
        for generic_kind in node.inherit_from.clone() {
            let Some(generic) = schema.get(&generic_kind) else {
                errors.push(schema.located(
                    &kind,
                    None,
                    "inherit_from",
                    format!("`{generic_kind}` is not a known generic; `inherit_from` lists generics to inherit from"),
                ));
                failed = true;
                continue;
            };
            if generic.category != ModelCategory::Generic {
                errors.push(schema.located(
                    &kind,
                    None,
                    "inherit_from",
                    format!("`{generic_kind}` is a node, not a generic; only generics can be inherited from"),
                ));
                failed = true;
                continue;
            }
            if let Some(allowed) = &generic.restricted_namespaces
                && !allowed.is_empty()
                && !allowed.contains(&node.namespace)
            {
                errors.push(schema.located(
                    &kind,
                    None,
                    "inherit_from",
                    format!(
                        "nodes inheriting `{generic_kind}` must be in one of the namespaces {}",
                        allowed.join(", ")
                    ),
                ));
                failed = true;
                continue;
            }
            if generic.hierarchical {
                hierarchical.push(generic_kind.clone());
            }
            for (field, message) in check_overrides(&node, generic) {
                errors.push(schema.located(&kind, Some(&field), "", message));
                failed = true;
            }
            if node.namespace != "Internal" {
                used_by
                    .entry(generic_kind.clone())
                    .or_default()
                    .push(kind.clone());
            }
            inherit_from_generic(&mut node, generic);
        }
        if hierarchical.len() > 1 {
            errors.push(schema.located(
                &kind,
                None,
                "inherit_from",
                format!(
                    "only one hierarchical generic is allowed per node, found {}",
                    hierarchical.join(", ")
                ),
            ));
            failed = true;
        } else if let (Some(hierarchy), None) = (hierarchical.first(), &node.hierarchy) {
            node.hierarchy = Some(hierarchy.clone());
        }
        if !failed {
            schema.set(node);
        }
    }
    for kind in schema.kinds_of(ModelCategory::Generic) {
        let mut list = used_by.remove(&kind).unwrap_or_default();
        list.sort();
        if schema.get(&kind).is_some_and(|g| g.used_by != list)
            && let Some(generic) = schema.get_mut(&kind)
        {
            generic.used_by = list;
        }
    }
}

/// The problems with fields `node` redefines from `generic`.
fn check_overrides(node: &ModelSchema, generic: &ModelSchema) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for attr in &node.attributes {
        let Some(theirs) = generic.attribute(&attr.name) else {
            continue;
        };
        if !attr.inherited && theirs.allow_override == AllowOverride::None {
            problems.push((attr.name.clone(), format!(
                "attribute `{}` inherited from {} cannot be overridden (its allow_override is none)",
                attr.name,
                generic.kind()
            )));
        }
        if attr.kind != theirs.kind {
            problems.push((
                attr.name.clone(),
                format!(
                    "attribute `{}` inherited from {} must keep its kind {} (found {})",
                    attr.name,
                    generic.kind(),
                    theirs.kind,
                    attr.kind
                ),
            ));
        }
    }
    for rel in &node.relationships {
        if rel.inherited {
            continue;
        }
        let Some(theirs) = generic.relationship(&rel.name) else {
            continue;
        };
        if theirs.allow_override == AllowOverride::None {
            problems.push((rel.name.clone(), format!(
                "relationship `{}` inherited from {} cannot be overridden (its allow_override is none)",
                rel.name,
                generic.kind()
            )));
        }
        if rel.kind != RelationshipKind::Hierarchy && rel.peer != theirs.peer {
            problems.push((
                rel.name.clone(),
                format!(
                    "relationship `{}` inherited from {} must have the same peer ({} != {})",
                    rel.name,
                    generic.kind(),
                    theirs.peer,
                    rel.peer
                ),
            ));
        }
    }
    problems
}

/// Copies `generic`'s node-level defaults and fields into `node`, refreshing fields inherited
/// earlier and leaving the node's own fields alone.
fn inherit_from_generic(node: &mut ModelSchema, generic: &ModelSchema) {
    macro_rules! inherit {
        ($($field:ident),*) => { $( if generic.$field.is_some() && node.$field.is_none() { node.$field = generic.$field.clone(); } )* };
    }
    inherit!(
        human_friendly_id,
        display_label,
        display_labels,
        default_filter,
        menu_placement,
        uniqueness_constraints,
        icon,
        order_by
    );
    let local: Vec<String> = node
        .attributes
        .iter()
        .filter(|a| !a.inherited)
        .map(|a| a.name.clone())
        .chain(
            node.relationships
                .iter()
                .filter(|r| !r.inherited)
                .map(|r| r.name.clone()),
        )
        .collect();
    for attr in &generic.attributes {
        if local.contains(&attr.name) {
            continue;
        }
        match node.attributes.iter_mut().find(|a| a.name == attr.name) {
            Some(existing) => {
                let (id, weight, branch) =
                    (existing.id.take(), existing.order_weight, existing.branch);
                *existing = attr.clone();
                existing.id = id;
                existing.order_weight = weight;
                existing.branch = branch;
                existing.inherited = true;
            }
            None => {
                let mut copy = attr.clone();
                copy.id = None;
                copy.inherited = true;
                node.attributes.push(copy);
            }
        }
    }
    for rel in &generic.relationships {
        // The `parent` and `children` of a hierarchy are set per node from its own `parent`
        // and `children`; other relationships of kind Hierarchy are inherited like any other.
        if local.contains(&rel.name) || is_hierarchy_link(rel) {
            continue;
        }
        match node.relationships.iter_mut().find(|r| r.name == rel.name) {
            Some(existing) => {
                let (id, weight, branch) =
                    (existing.id.take(), existing.order_weight, existing.branch);
                *existing = rel.clone();
                existing.id = id;
                existing.order_weight = weight;
                existing.branch = branch;
                existing.inherited = true;
            }
            None => {
                let mut copy = rel.clone();
                copy.id = None;
                copy.inherited = true;
                node.relationships.push(copy);
            }
        }
    }
}

/// Completes `hierarchy`, `parent` and `children` of nodes that take part in a hierarchy.
pub(super) fn hierarchy(schema: &mut SchemaBranch, errors: &mut Vec<SchemaError>) {
    for kind in schema.kinds_of(ModelCategory::Node) {
        let Some(node) = schema.get(&kind) else {
            continue;
        };
        if node.hierarchy.is_none() && node.parent.is_none() && node.children.is_none() {
            continue;
        }
        let Some(hierarchy) = node.hierarchy.clone() else {
            errors.push(schema.located(
                &kind,
                None,
                "hierarchy",
                "`hierarchy` must be set when `parent` or `children` is".to_string(),
            ));
            continue;
        };
        if !schema.get(&hierarchy).is_some_and(ModelSchema::is_generic) {
            errors.push(schema.located(
                &kind,
                None,
                "hierarchy",
                format!("`{hierarchy}` is not a known generic"),
            ));
            continue;
        }
        let mut bad = false;
        for (field, value) in [("parent", &node.parent), ("children", &node.children)] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty())
                && !schema.has(value)
            {
                errors.push(schema.located(
                    &kind,
                    None,
                    field,
                    format!("`{value}` is not a known node or generic"),
                ));
                bad = true;
            }
        }
        if bad {
            continue;
        }
        let needs_change = !node.inherit_from.contains(&hierarchy)
            || node.parent.is_none()
            || node.children.is_none();
        if !needs_change {
            continue;
        }
        if let Some(node) = schema.get_mut(&kind) {
            if !node.inherit_from.contains(&hierarchy) {
                node.inherit_from.push(hierarchy.clone());
            }
            node.parent.get_or_insert_with(|| hierarchy.clone());
            node.children.get_or_insert_with(|| hierarchy.clone());
        }
    }
}

/// Whether `rel` is the `parent` or `children` link of a hierarchy (generated from the
/// model's `hierarchy`, `parent` and `children`), not a relationship an author wrote.
pub(super) fn is_hierarchy_link(rel: &RelationshipSchema) -> bool {
    rel.kind == RelationshipKind::Hierarchy
        && rel.identifier.as_deref() == Some(PARENT_CHILD_IDENTIFIER)
}

fn hierarchy_relationship(
    name: &str,
    peer: &str,
    hierarchical: Option<&str>,
    read_only: bool,
    optional: bool,
) -> RelationshipSchema {
    let mut rel = RelationshipSchema::new(name, peer);
    rel.identifier = Some(PARENT_CHILD_IDENTIFIER.to_string());
    rel.kind = RelationshipKind::Hierarchy;
    rel.branch = Some(BranchSupport::Aware);
    rel.hierarchical = hierarchical.map(str::to_string);
    rel.read_only = read_only;
    if name == "parent" {
        rel.cardinality = Cardinality::One;
        rel.direction = Direction::Outbound;
        rel.optional = optional;
        rel.min_count = if optional { 0 } else { 1 };
        rel.max_count = 1;
    } else {
        rel.direction = Direction::Inbound;
    }
    rel
}

/// Gives hierarchical generics and the nodes of a hierarchy their `parent` and `children`
/// relationships.
pub(super) fn hierarchy_relationships(schema: &mut SchemaBranch) {
    for kind in schema.kinds_of(ModelCategory::Generic) {
        let Some(generic) = schema.get(&kind) else {
            continue;
        };
        if !generic.hierarchical
            || (generic.relationship("parent").is_some()
                && generic.relationship("children").is_some())
        {
            continue;
        }
        let read_only = kind == IP_PREFIX;
        if let Some(generic) = schema.get_mut(&kind) {
            if generic.relationship("parent").is_none() {
                generic.relationships.push(hierarchy_relationship(
                    "parent",
                    &kind,
                    Some(&kind),
                    read_only,
                    true,
                ));
            }
            if generic.relationship("children").is_none() {
                generic.relationships.push(hierarchy_relationship(
                    "children",
                    &kind,
                    Some(&kind),
                    read_only,
                    true,
                ));
            }
        }
    }
    let generic_kinds = schema.kinds_of(ModelCategory::Generic);
    for kind in schema.kinds_of(ModelCategory::Node) {
        let Some(node) = schema.get(&kind) else {
            continue;
        };
        if node.parent.as_deref().is_none_or(str::is_empty)
            && node.children.as_deref().is_none_or(str::is_empty)
        {
            continue;
        }
        let read_only = node.inherit_from.iter().any(|g| g == IP_PREFIX);
        let parent_optional = node
            .parent
            .as_ref()
            .is_some_and(|p| *p == kind || generic_kinds.contains(p));
        let Some(node) = schema.get_mut(&kind) else {
            continue;
        };
        let hierarchy = node.hierarchy.clone();
        for (name, target) in [
            ("parent", node.parent.clone()),
            ("children", node.children.clone()),
        ] {
            // An empty string marks the top (or bottom) of the hierarchy.
            let Some(target) = target.filter(|t| !t.is_empty()) else {
                continue;
            };
            match node.relationship_mut(name) {
                Some(rel) => {
                    if rel.peer != target {
                        rel.peer = target;
                    }
                }
                None => node.relationships.push(hierarchy_relationship(
                    name,
                    &target,
                    hierarchy.as_deref(),
                    read_only,
                    parent_optional,
                )),
            }
        }
    }
}
