//! A direct executor for plain node queries and node mutations: the documents clients send
//! most (lists and lookups of one kind, with attributes and relationships; creates, updates,
//! upserts and deletes of one node) are answered without the general GraphQL executor, which
//! spends far more per node building futures and value trees than the engine spends reading
//! the nodes.
//!
//! It only runs documents that already passed validation against the same generated schema
//! with plain scalar variables (see [`super::validated`]), and only when every part of the
//! document is one it knows: root fields of node kinds, `count`, `edges`, `node`, the node
//! fields `id`, `hfid`, `display_label`, `_updated_at` and `__typename`, attributes with their
//! value and flags, and relationships of cardinality one or many (without nested filters),
//! with their link properties, and the lineage (`source`, `owner`) of both; or a mutation whose
//! only root field is `<Kind>Create|Update|Upsert|Delete` of a node kind with only `data`,
//! selecting `ok`, `object` (as above) and `__typename`. Anything else (fragments, directives,
//! permissions, hierarchy walks, derived attribute fields, nested filters, introspection,
//! several mutations, `context`) leaves the document to the general executor, and so does
//! anything unusual while answering a query (an engine error, a value its scalar type would
//! refuse): the general executor then answers it, errors included. A mutation is never run
//! twice: its errors are answered here, in the general executor's shape. Answers are
//! byte-for-byte those of the general executor (tests compare them), except that several root
//! fields of a query come in the document's order, as the GraphQL specification asks, where
//! the general executor lists them as their concurrent resolution completes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{Pos, Variables};
use infrahub_core::engine::{Node, Peer};
use infrahub_core::schema::{
    AttributeKind, Cardinality, LINEAGE_OWNER, LINEAGE_SOURCE, RelationshipKind,
};
use infrahub_graph::NodeId;
use serde_json::Value;

use super::RequestContext;
use super::build::{attribute_types, has_type, is_exposed, query_args_from, to_json};
use super::load::{self, HIERARCHY_FIELDS, Plan, candidates, hierarchy_kind};
use super::mutation::{Operation, write_node as write_node_of};
use super::values::{Level, NodeValue};

/// Hierarchy fields every level of a hierarchy has (walked or absent): left to the general
/// executor.
const HIERARCHY_LINKS: [&str; 2] = ["parent", "children"];

/// What a document selects of one node.
#[derive(Debug, Default)]
struct NodeSelection {
    items: Vec<(String, NodeItem)>,
}

#[derive(Debug)]
enum NodeItem {
    Id,
    Hfid,
    DisplayLabel,
    UpdatedAt,
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
enum AttributeItem {
    Value,
    IsDefault,
    IsInherited,
    IsProtected,
    IsVisible,
    IsFromProfile,
    UpdatedAt,
    Id,
    TypeName,
    Source(NodeSelection),
    Owner(NodeSelection),
}

#[derive(Debug)]
enum EdgeItem {
    Node(NodeSelection),
    Properties(Vec<(String, PropertyItem)>),
    TypeName,
}

#[derive(Debug)]
enum PropertyItem {
    IsVisible,
    IsProtected,
    UpdatedAt,
    TypeName,
    Source(NodeSelection),
    Owner(NodeSelection),
}

#[derive(Debug)]
enum PageItem {
    Count,
    Edges(Vec<(String, EdgeItem)>),
    TypeName,
}

/// One root field: a query of nodes of `kind`.
struct RootQuery {
    kind: String,
    arguments: Vec<(String, Value)>,
    items: Vec<(String, PageItem)>,
}

/// Answers the operation of `document` (validated, with plain variables) directly: the
/// response body, or `None` when the document is left to the general executor.
pub(crate) async fn run(
    context: &RequestContext,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Option<Vec<u8>> {
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => operation,
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations.get(name)?,
            None if operations.len() == 1 => operations.values().next()?,
            None => return None,
        },
    };
    let operation = &operation.node;
    if !operation.directives.is_empty() {
        return None;
    }
    // Variables as the general executor takes them: given, else their default.
    let mut values: BTreeMap<&str, async_graphql::Value> = BTreeMap::new();
    for definition in &operation.variable_definitions {
        let name = definition.node.name.node.as_str();
        let value = variables
            .get(&definition.node.name.node)
            .or_else(|| definition.node.default_value())?;
        values.insert(name, value.clone());
    }
    match operation.ty {
        OperationType::Query => run_query(context, &operation.selection_set.node, &values).await,
        OperationType::Mutation => {
            run_mutation(context, &operation.selection_set.node, &values).await
        }
        OperationType::Subscription => None,
    }
}

/// The variables of an operation, by name.
type VariableValues<'a> = BTreeMap<&'a str, async_graphql::Value>;

/// The arguments of `field` as JSON, variables substituted.
fn arguments(field: &Field, variables: &VariableValues<'_>) -> Option<Vec<(String, Value)>> {
    field
        .arguments
        .iter()
        .map(|(name, value)| {
            let value = value
                .node
                .clone()
                .into_const_with(|variable| variables.get(variable.as_str()).cloned().ok_or(()))
                .ok()?;
            Some((name.node.to_string(), to_json(&value)))
        })
        .collect()
}

/// Answers a query whose root fields are `set`.
async fn run_query(
    context: &RequestContext,
    set: &SelectionSet,
    values: &VariableValues<'_>,
) -> Option<Vec<u8>> {
    let roots = items(set, |field| root_query(context, values, field))?;
    // Everything is read before anything is written, so that a root left to the general
    // executor costs no half-written answer.
    let mut answers = Vec::with_capacity(roots.len());
    for (_, root) in &roots {
        answers.push(read_root(context, root).await?);
    }
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"data\":");
    let mut answers = answers.into_iter();
    write_object(&mut out, &roots, |out, root| {
        let (count, nodes) = answers.next()?;
        let edge_type = format!("Edged{}", root.kind);
        write_page(
            out,
            &root.items,
            count,
            &nodes,
            |out, items, node| {
                write_object(out, items, |out, item| match item {
                    EdgeItem::Node(selection) => write_node(out, selection, node),
                    EdgeItem::TypeName => write_str(out, &edge_type),
                    // Not a field of `Edged<kind>`: validation let nothing of the kind through.
                    EdgeItem::Properties(_) => None,
                })
            },
            &format!("Paginated{}", root.kind),
        )
    })?;
    out.push(b'}');
    Some(out)
}

/// What a node mutation's answer selects.
#[derive(Debug)]
enum MutationItem {
    Ok,
    Object(NodeSelection),
    TypeName,
}

/// Answers a mutation whose only root field is a node mutation (`<Kind>Create`, `Update`,
/// `Upsert` or `Delete` of a node kind) with only its `data` argument. An error after the
/// mutation started is answered here as the general executor would (a mutation is not run
/// twice).
async fn run_mutation(
    context: &RequestContext,
    set: &SelectionSet,
    variables: &VariableValues<'_>,
) -> Option<Vec<u8>> {
    let [item] = set.items.as_slice() else {
        return None;
    };
    let Selection::Field(positioned) = &item.node else {
        return None;
    };
    let field = &positioned.node;
    if !field.directives.is_empty() {
        return None;
    }
    let (kind, operation) = Operation::of_field(field.name.node.as_str())?;
    context
        .schema
        .get(kind)
        .filter(|m| is_exposed(m) && !m.is_generic())?;
    let [(name, _)] = field.arguments.as_slice() else {
        return None;
    };
    if name.node != "data" {
        return None;
    }
    let (_, data) = arguments(field, variables)?.pop()?;
    let items = items(&field.selection_set.node, |item| {
        Some(match item.name.node.as_str() {
            "ok" => MutationItem::Ok,
            "__typename" => MutationItem::TypeName,
            "object" if operation != Operation::Delete => {
                MutationItem::Object(node_selection(context, kind, &item.selection_set.node)?)
            }
            _ => return None,
        })
    })?;
    let selection = items.iter().find_map(|(_, item)| match item {
        MutationItem::Object(selection) => Some(selection),
        _ => None,
    });
    let mut out = Vec::with_capacity(512);
    let written = match write_node_of(context, kind, operation, data).await {
        Ok(written) => written,
        Err(error) => {
            write_field_error(&mut out, &error.message, positioned.pos);
            return Some(out);
        }
    };
    let object = match (written, selection) {
        (Some(node), Some(selection)) => {
            let plan = selection.plan();
            let id = node.id;
            match load::load(context, vec![node], &plan).await {
                Ok(level) => level.value(id),
                Err(error) => {
                    write_field_error(&mut out, error.message(), positioned.pos);
                    return Some(out);
                }
            }
        }
        _ => None,
    };
    out.extend_from_slice(b"{\"data\":{");
    write_str(&mut out, &field.response_key().node);
    out.push(b':');
    write_object(&mut out, &items, |out, item| match item {
        MutationItem::Ok => write_bool(out, true),
        MutationItem::TypeName => write_str(out, &field.name.node),
        MutationItem::Object(selection) => match &object {
            Some(node) => write_node(out, selection, node),
            None => write_null(out),
        },
    })?;
    out.extend_from_slice(b"}}");
    Some(out)
}

/// Writes the answer of a request whose only root field failed with `message` at `position`,
/// as the general executor does.
fn write_field_error(out: &mut Vec<u8>, message: &str, position: Pos) {
    out.extend_from_slice(b"{\"data\":null,\"errors\":[{\"message\":");
    write_str(out, message);
    out.extend_from_slice(
        format!(
            ",\"locations\":[{{\"line\":{},\"column\":{}}}]}}]}}",
            position.line, position.column
        )
        .as_bytes(),
    );
}

/// The fields of a selection set with their response keys: `None` if it holds fragments,
/// directives, or one response key twice.
fn fields(set: &SelectionSet) -> Option<Vec<(String, &Field)>> {
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
fn items<'s, T>(
    set: &'s SelectionSet,
    mut parse: impl FnMut(&'s Field) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    fields(set)?
        .into_iter()
        .map(|(key, field)| Some((key, parse(field)?)))
        .collect()
}

/// A root field, if it is a query of nodes of an exposed kind.
fn root_query(
    context: &RequestContext,
    variables: &VariableValues<'_>,
    field: &Field,
) -> Option<RootQuery> {
    let model = context
        .schema
        .get(field.name.node.as_str())
        .filter(|m| is_exposed(m))?;
    let kind = model.kind();
    Some(RootQuery {
        items: page_items(context, &kind, &field.selection_set.node)?,
        arguments: arguments(field, variables)?,
        kind,
    })
}

/// What `set` selects of a page (`Paginated<kind>` or `NestedPaginated<kind>`).
fn page_items(
    context: &RequestContext,
    kind: &str,
    set: &SelectionSet,
) -> Option<Vec<(String, PageItem)>> {
    items(set, |field| {
        Some(match field.name.node.as_str() {
            "count" => PageItem::Count,
            "__typename" => PageItem::TypeName,
            "edges" => PageItem::Edges(edge_items(context, kind, &field.selection_set.node)?),
            _ => return None,
        })
    })
}

/// What `set` selects of an edge (`Edged<kind>` or `NestedEdged<kind>`).
fn edge_items(
    context: &RequestContext,
    kind: &str,
    set: &SelectionSet,
) -> Option<Vec<(String, EdgeItem)>> {
    items(set, |field| {
        Some(match field.name.node.as_str() {
            "node" => EdgeItem::Node(node_selection(context, kind, &field.selection_set.node)?),
            "__typename" => EdgeItem::TypeName,
            "properties" => EdgeItem::Properties(items(&field.selection_set.node, |property| {
                Some(match property.name.node.as_str() {
                    "is_visible" => PropertyItem::IsVisible,
                    "is_protected" => PropertyItem::IsProtected,
                    "updated_at" => PropertyItem::UpdatedAt,
                    "__typename" => PropertyItem::TypeName,
                    "source" => PropertyItem::Source(lineage_selection(context, property)?),
                    "owner" => PropertyItem::Owner(lineage_selection(context, property)?),
                    _ => return None,
                })
            })?),
            _ => return None,
        })
    })
}

/// What `set` selects of nodes of `kind` (a node kind or a generic).
fn node_selection(
    context: &RequestContext,
    kind: &str,
    set: &SelectionSet,
) -> Option<NodeSelection> {
    let schema = &context.schema;
    let models = candidates(schema, kind);
    let hierarchical = models.iter().any(|m| hierarchy_kind(m).is_some());
    let items = items(set, |field| {
        let name = field.name.node.as_str();
        Some(match name {
            "id" => NodeItem::Id,
            "hfid" => NodeItem::Hfid,
            "display_label" => NodeItem::DisplayLabel,
            "_updated_at" => NodeItem::UpdatedAt,
            "__typename" => NodeItem::TypeName,
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
                    attribute_item(context, name, attribute.kind, &field.selection_set.node)?
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
                            items: edge_items(context, &peer, set)?,
                            peer_type: peer,
                        }
                    } else {
                        NodeItem::Many {
                            name: name.to_string(),
                            items: page_items(context, &peer, set)?,
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
fn attribute_item(
    context: &RequestContext,
    name: &str,
    kind: AttributeKind,
    set: &SelectionSet,
) -> Option<NodeItem> {
    let (type_name, _, _) = attribute_types(kind);
    let items = items(set, |field| {
        Some(match field.name.node.as_str() {
            "value" => AttributeItem::Value,
            "is_default" => AttributeItem::IsDefault,
            "is_inherited" => AttributeItem::IsInherited,
            "is_protected" => AttributeItem::IsProtected,
            "is_visible" => AttributeItem::IsVisible,
            "is_from_profile" => AttributeItem::IsFromProfile,
            "updated_at" => AttributeItem::UpdatedAt,
            "id" => AttributeItem::Id,
            "__typename" => AttributeItem::TypeName,
            "source" => AttributeItem::Source(lineage_selection(context, field)?),
            "owner" => AttributeItem::Owner(lineage_selection(context, field)?),
            _ => return None,
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
fn lineage_selection(context: &RequestContext, field: &Field) -> Option<NodeSelection> {
    let kind = match field.name.node.as_str() {
        "source" => LINEAGE_SOURCE,
        _ => LINEAGE_OWNER,
    };
    node_selection(context, kind, &field.selection_set.node)
}

impl NodeSelection {
    /// The reads this selection needs.
    fn plan(&self) -> Plan {
        let mut plan = Plan::default();
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
fn add_edges(plan: &mut Plan, name: &str, items: &[(String, EdgeItem)]) {
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
fn node_plan(items: &[(String, EdgeItem)]) -> Option<Plan> {
    items
        .iter()
        .filter_map(|(_, item)| match item {
            EdgeItem::Node(selection) => Some(selection.plan()),
            _ => None,
        })
        .reduce(|mut plan, other| {
            merge(&mut plan, other);
            plan
        })
}

/// Adds to `plan` the reads of lineage nodes (sources and owners) `selection` needs.
fn add_lineage(plan: &mut Plan, selection: &NodeSelection) {
    let lineage_plan = selection.plan();
    match plan.lineage.as_mut() {
        Some(existing) => merge(existing, lineage_plan),
        None => plan.lineage = Some(Box::new(lineage_plan)),
    }
}

/// Adds `other`'s reads to `plan`.
fn merge(plan: &mut Plan, other: Plan) {
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

/// Reads the page one root field answers: the total (when counted) and the nodes.
async fn read_root(context: &RequestContext, root: &RootQuery) -> Option<(u64, Vec<NodeValue>)> {
    let engine = &context.state.engine;
    let mut args = query_args_from(
        root.arguments
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone())),
    )
    .ok()?;
    let counted = root.items.iter().any(|(_, i)| matches!(i, PageItem::Count));
    let edges = root.items.iter().find_map(|(_, i)| match i {
        PageItem::Edges(items) => Some(items),
        _ => None,
    });
    let Some(items) = edges else {
        let count = if counted {
            engine.count(&context.view, &root.kind, &args).await.ok()?
        } else {
            0
        };
        return Some((count, Vec::new()));
    };
    let plan = node_plan(items).unwrap_or_default();
    args.count = counted;
    let (nodes, count) = engine
        .query(&context.view, &root.kind, &args, &plan.fields())
        .await
        .ok()?;
    let order: Vec<_> = nodes.iter().map(|n| n.id).collect();
    let level = load::load(context, nodes, &plan).await.ok()?;
    Some((
        count,
        order.into_iter().filter_map(|id| level.value(id)).collect(),
    ))
}

/// Writes a page (`Paginated<kind>` or `NestedPaginated<kind>`, named `type_name`) of `count`
/// in all, whose edges are `edges`, each written by `edge`.
fn write_page<E>(
    out: &mut Vec<u8>,
    items: &[(String, PageItem)],
    count: u64,
    edges: &[E],
    mut edge: impl FnMut(&mut Vec<u8>, &[(String, EdgeItem)], &E) -> Option<()>,
    type_name: &str,
) -> Option<()> {
    write_object(out, items, |out, item| match item {
        PageItem::Count => write_json(out, &Value::from(count)),
        PageItem::TypeName => write_str(out, type_name),
        PageItem::Edges(edge_items) => {
            out.push(b'[');
            for (position, value) in edges.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                edge(out, edge_items, value)?;
            }
            out.push(b']');
            Some(())
        }
    })
}

/// Writes what `selection` selects of `node`.
fn write_node(out: &mut Vec<u8>, selection: &NodeSelection, node: &NodeValue) -> Option<()> {
    let data: &Node = &node.node;
    write_object(out, &selection.items, |out, item| match item {
        NodeItem::Id => write_str(out, &data.id.to_string()),
        NodeItem::Hfid => match &data.hfid {
            Some(parts) => {
                out.push(b'[');
                for (position, part) in parts.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    write_str(out, part);
                }
                out.push(b']');
                Some(())
            }
            None => write_null(out),
        },
        NodeItem::DisplayLabel => write_str(out, &data.display_label),
        NodeItem::UpdatedAt => write_str(out, &data.updated_at.to_string()),
        NodeItem::TypeName => write_str(out, &data.kind),
        NodeItem::Attribute {
            name,
            type_name,
            big_int,
            items,
        } => match data.attributes.get(name) {
            Some(attribute) => write_object(out, items, |out, item| match item {
                AttributeItem::Value => match &attribute.value {
                    Value::Null => write_null(out),
                    value if *big_int && !big_int_fits(value) => None,
                    value => write_json(out, value),
                },
                AttributeItem::IsDefault => write_bool(out, attribute.is_default),
                AttributeItem::IsInherited => write_bool(out, false),
                AttributeItem::IsProtected => write_bool(out, attribute.is_protected),
                AttributeItem::IsVisible => write_bool(out, attribute.is_visible),
                AttributeItem::IsFromProfile => write_bool(out, attribute.is_from_profile),
                AttributeItem::UpdatedAt => match attribute.updated_at {
                    Some(at) => write_str(out, &at.to_string()),
                    None => write_null(out),
                },
                AttributeItem::Id => write_null(out),
                AttributeItem::TypeName => write_str(out, type_name),
                AttributeItem::Source(lineage) => {
                    write_lineage(out, lineage, &node.level, attribute.source)
                }
                AttributeItem::Owner(lineage) => {
                    write_lineage(out, lineage, &node.level, attribute.owner)
                }
            }),
            None => write_null(out),
        },
        NodeItem::One {
            name,
            peer_type,
            items,
        } => match data.peers(name).first() {
            Some(peer) => {
                let level = node.level.relationships.get(name);
                let edge_type = format!("NestedEdged{peer_type}");
                write_edge(out, items, peer, (&node.level, level), &edge_type)
            }
            None => write_null(out),
        },
        NodeItem::Many {
            name,
            peer_type,
            items,
        } => {
            let peers = data.peers(name);
            let level = node.level.relationships.get(name);
            let edge_type = format!("NestedEdged{peer_type}");
            write_page(
                out,
                items,
                peers.len() as u64,
                peers,
                |out, edge_items, peer| {
                    write_edge(out, edge_items, peer, (&node.level, level), &edge_type)
                },
                &format!("NestedPaginated{peer_type}"),
            )
        }
    })
}

/// Writes an edge (`NestedEdged<peer>`, named `type_name`) to `peer` from a node of the level
/// `owner` (which holds the link's lineage); the peer's node is read from `level`.
fn write_edge(
    out: &mut Vec<u8>,
    items: &[(String, EdgeItem)],
    peer: &Peer,
    (owner, level): (&Arc<Level>, Option<&Arc<Level>>),
    type_name: &str,
) -> Option<()> {
    write_object(out, items, |out, item| match item {
        EdgeItem::Node(selection) => match level.and_then(|l| l.value(peer.id)) {
            Some(node) => write_node(out, selection, &node),
            None => write_null(out),
        },
        EdgeItem::TypeName => write_str(out, type_name),
        EdgeItem::Properties(properties) => {
            write_object(out, properties, |out, property| match property {
                PropertyItem::IsVisible => write_bool(out, peer.is_visible),
                PropertyItem::IsProtected => write_bool(out, peer.is_protected),
                PropertyItem::UpdatedAt => write_str(out, &peer.updated_at.to_string()),
                PropertyItem::TypeName => write_str(out, "RelationshipProperty"),
                PropertyItem::Source(lineage) => write_lineage(out, lineage, owner, peer.source),
                PropertyItem::Owner(lineage) => write_lineage(out, lineage, owner, peer.owner),
            })
        }
    })
}

/// Writes what `selection` selects of the lineage node `id` read with `level` (null without
/// one).
fn write_lineage(
    out: &mut Vec<u8>,
    selection: &NodeSelection,
    level: &Level,
    id: Option<NodeId>,
) -> Option<()> {
    match level.lineage_value(id) {
        Some(node) => write_node(out, selection, &node),
        None => write_null(out),
    }
}

/// Writes an object of `items` by response key, each value written by `write`; `None` as soon
/// as one of them is.
fn write_object<T>(
    out: &mut Vec<u8>,
    items: &[(String, T)],
    mut write: impl FnMut(&mut Vec<u8>, &T) -> Option<()>,
) -> Option<()> {
    out.push(b'{');
    for (index, (key, item)) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write(out, item)?;
    }
    out.push(b'}');
    Some(())
}

/// Whether `value` is valid for the `BigInt` scalar (as its validator says).
fn big_int_fits(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.parse::<i64>().is_ok(),
        _ => false,
    }
}

fn write_str(out: &mut Vec<u8>, text: &str) -> Option<()> {
    // Writing JSON into a vector cannot fail.
    serde_json::to_writer(&mut *out, text).ok()
}

fn write_json(out: &mut Vec<u8>, value: &Value) -> Option<()> {
    serde_json::to_writer(&mut *out, value).ok()
}

fn write_bool(out: &mut Vec<u8>, value: bool) -> Option<()> {
    out.extend_from_slice(if value { b"true" } else { b"false" });
    Some(())
}

fn write_null(out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(b"null");
    Some(())
}
