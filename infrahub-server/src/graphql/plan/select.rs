//! What a plan selects of nodes, pages, edges and attributes, compiled from a document's
//! selection sets against the branch schema, and the engine reads each selection needs.

use std::collections::HashSet;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use infrahub_core::schema::{
    AttributeKind, Cardinality, LINEAGE_OWNER, LINEAGE_SOURCE, RelationshipKind, SchemaBranch,
};

use super::super::build::{attribute_types, has_type};
use super::super::fields::{AttributeFlag, LinkFlag, NodeMeta};
use super::super::load::{HIERARCHY_FIELDS, Plan as Reads, candidates, hierarchy_kind};

/// Hierarchy fields every level of a hierarchy has (walked or absent): left to the general
/// executor.
const HIERARCHY_LINKS: [&str; 2] = ["parent", "children"];

/// What a document selects of one node.
#[derive(Debug, Default)]
pub(super) struct NodeSelection {
    pub(super) items: Vec<(String, NodeItem)>,
}

#[derive(Debug)]
pub(super) enum NodeItem {
    Meta(NodeMeta),
    TypeName,
    Attribute {
        name: String,
        /// The attribute's GraphQL object type.
        type_name: &'static str,
        /// Whether its `value` is a `BigInt` (whose values must be integers).
        big_int: bool,
        items: Vec<(String, AttributeItem)>,
    },
    One {
        name: String,
        peer_type: String,
        items: Vec<(String, EdgeItem)>,
    },
    Many {
        name: String,
        peer_type: String,
        items: Vec<(String, PageItem)>,
    },
}

#[derive(Debug)]
pub(super) enum AttributeItem {
    Value,
    Flag(AttributeFlag),
    UpdatedAt,
    Id,
    TypeName,
    Source(NodeSelection),
    Owner(NodeSelection),
}

#[derive(Debug)]
pub(super) enum EdgeItem {
    Node(NodeSelection),
    Properties(Vec<(String, PropertyItem)>),
    TypeName,
}

#[derive(Debug)]
pub(super) enum PropertyItem {
    Flag(LinkFlag),
    UpdatedAt,
    TypeName,
    Source(NodeSelection),
    Owner(NodeSelection),
}

#[derive(Debug)]
pub(super) enum PageItem {
    Count,
    Edges(Vec<(String, EdgeItem)>),
    TypeName,
}

/// The fields of a selection set with their response keys: `None` if it holds fragments,
/// directives, or one response key twice.
pub(super) fn fields(set: &SelectionSet) -> Option<Vec<(String, &Field)>> {
    let mut seen = HashSet::new();
    let mut found = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        let field = &field.node;
        if !field.directives.is_empty() {
            return None;
        }
        let key = field.response_key().node.to_string();
        if !seen.insert(key.clone()) {
            return None;
        }
        found.push((key, field));
    }
    Some(found)
}

/// The fields of `set`, each parsed by `parse` with its response key; `None` if `fields`
/// refuses the set or `parse` one of its fields.
pub(super) fn items<'s, T>(
    set: &'s SelectionSet,
    mut parse: impl FnMut(&'s Field) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    fields(set)?
        .into_iter()
        .map(|(key, field)| Some((key, parse(field)?)))
        .collect()
}

/// What `set` selects of a page (`Paginated<kind>` or `NestedPaginated<kind>`).
pub(super) fn page_items(
    schema: &SchemaBranch,
    kind: &str,
    set: &SelectionSet,
) -> Option<Vec<(String, PageItem)>> {
    items(set, |field| {
        Some(match field.name.node.as_str() {
            "count" => PageItem::Count,
            "__typename" => PageItem::TypeName,
            "edges" => PageItem::Edges(edge_items(schema, kind, &field.selection_set.node)?),
            _ => return None,
        })
    })
}

/// What `set` selects of an edge (`Edged<kind>` or `NestedEdged<kind>`).
pub(super) fn edge_items(
    schema: &SchemaBranch,
    kind: &str,
    set: &SelectionSet,
) -> Option<Vec<(String, EdgeItem)>> {
    items(set, |field| {
        Some(match field.name.node.as_str() {
            "node" => EdgeItem::Node(node_selection(schema, kind, &field.selection_set.node)?),
            "__typename" => EdgeItem::TypeName,
            "properties" => EdgeItem::Properties(items(&field.selection_set.node, |property| {
                Some(match property.name.node.as_str() {
                    "updated_at" => PropertyItem::UpdatedAt,
                    "__typename" => PropertyItem::TypeName,
                    "source" => PropertyItem::Source(lineage_selection(schema, property)?),
                    "owner" => PropertyItem::Owner(lineage_selection(schema, property)?),
                    name => PropertyItem::Flag(LinkFlag::of_name(name)?),
                })
            })?),
            _ => return None,
        })
    })
}

/// What `set` selects of nodes of `kind` (a node kind or a generic).
pub(super) fn node_selection(
    schema: &SchemaBranch,
    kind: &str,
    set: &SelectionSet,
) -> Option<NodeSelection> {
    let models = candidates(schema, kind);
    let hierarchical = models.iter().any(|m| hierarchy_kind(m).is_some());
    let items = items(set, |field| {
        let name = field.name.node.as_str();
        Some(match name {
            "__typename" => NodeItem::TypeName,
            _ if let Some(meta) = NodeMeta::of_name(name) => NodeItem::Meta(meta),
            _ if hierarchical
                && (HIERARCHY_LINKS.contains(&name) || HIERARCHY_FIELDS.contains(&name)) =>
            {
                return None;
            }
            _ => match models.iter().find_map(|m| m.attribute(name)) {
                Some(attribute) => {
                    // Hashed passwords are never answered: left to the general executor.
                    let hashed = models.iter().any(|m| {
                        m.attribute(name)
                            .is_some_and(|a| a.kind == AttributeKind::HashedPassword)
                    });
                    if hashed {
                        return None;
                    }
                    attribute_item(schema, name, attribute.kind, &field.selection_set.node)?
                }
                None => {
                    let relationship = models.iter().find_map(|m| m.relationship(name))?;
                    if !field.arguments.is_empty() {
                        return None;
                    }
                    let peer = match &relationship.hierarchical {
                        Some(hierarchy) if relationship.kind == RelationshipKind::Hierarchy => {
                            hierarchy.clone()
                        }
                        _ => relationship.peer.clone(),
                    };
                    if !has_type(schema, &peer) {
                        return None;
                    }
                    let set = &field.selection_set.node;
                    if relationship.cardinality == Cardinality::One {
                        NodeItem::One {
                            name: name.to_string(),
                            items: edge_items(schema, &peer, set)?,
                            peer_type: peer,
                        }
                    } else {
                        NodeItem::Many {
                            name: name.to_string(),
                            items: page_items(schema, &peer, set)?,
                            peer_type: peer,
                        }
                    }
                }
            },
        })
    })?;
    Some(NodeSelection { items })
}

/// What `set` selects of an attribute of kind `kind`.
pub(super) fn attribute_item(
    schema: &SchemaBranch,
    name: &str,
    kind: AttributeKind,
    set: &SelectionSet,
) -> Option<NodeItem> {
    let (type_name, _, _) = attribute_types(kind);
    let items = items(set, |field| {
        Some(match field.name.node.as_str() {
            "value" => AttributeItem::Value,
            "updated_at" => AttributeItem::UpdatedAt,
            "id" => AttributeItem::Id,
            "__typename" => AttributeItem::TypeName,
            "source" => AttributeItem::Source(lineage_selection(schema, field)?),
            "owner" => AttributeItem::Owner(lineage_selection(schema, field)?),
            name => AttributeItem::Flag(AttributeFlag::of_name(name)?),
        })
    })?;
    Some(NodeItem::Attribute {
        name: name.to_string(),
        type_name,
        big_int: type_name == "NumberAttribute",
        items,
    })
}

/// What the selection of a lineage `source` or `owner` field selects of that node.
pub(super) fn lineage_selection(schema: &SchemaBranch, field: &Field) -> Option<NodeSelection> {
    let kind = match field.name.node.as_str() {
        "source" => LINEAGE_SOURCE,
        _ => LINEAGE_OWNER,
    };
    node_selection(schema, kind, &field.selection_set.node)
}

impl NodeSelection {
    /// The reads this selection needs.
    pub(super) fn reads(&self) -> Reads {
        let mut plan = Reads::default();
        for (_, item) in &self.items {
            match item {
                NodeItem::Attribute { name, items, .. } => {
                    plan.attributes.insert(name.clone());
                    for (_, item) in items {
                        if let AttributeItem::Source(lineage) | AttributeItem::Owner(lineage) = item
                        {
                            add_lineage(&mut plan, lineage);
                        }
                    }
                }
                NodeItem::One { name, items, .. } => add_edges(&mut plan, name, items),
                NodeItem::Many { name, items, .. } => {
                    plan.relationships.entry(name.clone()).or_default();
                    for (_, item) in items {
                        if let PageItem::Edges(edges) = item {
                            add_edges(&mut plan, name, edges);
                        }
                    }
                }
                _ => {}
            }
        }
        plan
    }
}

/// Adds to `plan` the relationship `name`, what its edges select of the peers, and the
/// lineage of the links (read with the nodes holding them).
pub(super) fn add_edges(plan: &mut Reads, name: &str, items: &[(String, EdgeItem)]) {
    let peer_plan = node_plan(items);
    let entry = plan.relationships.entry(name.to_string()).or_default();
    match (entry.as_mut(), peer_plan) {
        (Some(existing), Some(peer_plan)) => merge(existing, peer_plan),
        (None, Some(peer_plan)) => *entry = Some(peer_plan),
        (_, None) => {}
    }
    for (_, item) in items {
        if let EdgeItem::Properties(properties) = item {
            for (_, property) in properties {
                if let PropertyItem::Source(lineage) | PropertyItem::Owner(lineage) = property {
                    add_lineage(plan, lineage);
                }
            }
        }
    }
}

/// What the edges `items` select of their nodes (`None` when they select no node).
pub(super) fn node_plan(items: &[(String, EdgeItem)]) -> Option<Reads> {
    items
        .iter()
        .filter_map(|(_, item)| match item {
            EdgeItem::Node(selection) => Some(selection.reads()),
            _ => None,
        })
        .reduce(|mut plan, other| {
            merge(&mut plan, other);
            plan
        })
}

/// Adds to `plan` the reads of lineage nodes (sources and owners) `selection` needs.
pub(super) fn add_lineage(plan: &mut Reads, selection: &NodeSelection) {
    let lineage_plan = selection.reads();
    match plan.lineage.as_mut() {
        Some(existing) => merge(existing, lineage_plan),
        None => plan.lineage = Some(Box::new(lineage_plan)),
    }
}

/// Adds `other`'s reads to `plan`.
pub(super) fn merge(plan: &mut Reads, other: Reads) {
    plan.attributes.extend(other.attributes);
    for (name, peer_plan) in other.relationships {
        let entry = plan.relationships.entry(name).or_default();
        match (entry.as_mut(), peer_plan) {
            (Some(existing), Some(peer_plan)) => merge(existing, peer_plan),
            (None, Some(peer_plan)) => *entry = Some(peer_plan),
            (_, None) => {}
        }
    }
    if let Some(lineage) = other.lineage {
        match plan.lineage.as_mut() {
            Some(existing) => merge(existing, *lineage),
            None => plan.lineage = Some(lineage),
        }
    }
}
