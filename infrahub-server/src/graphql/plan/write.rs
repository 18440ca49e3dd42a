//! Writing a plan's answer as JSON, byte for byte as the general executor writes it.

use std::sync::Arc;

use async_graphql::Pos;
use infrahub_core::engine::{Node, Peer};
use infrahub_graph::NodeId;
use serde_json::Value;

use super::super::fields::{RELATIONSHIP_PROPERTY, nested_edged, nested_paginated};
use super::super::values::{Level, NodeValue};
use super::select::{AttributeItem, EdgeItem, NodeItem, NodeSelection, PageItem, PropertyItem};

/// Writes a page (`Paginated<kind>` or `NestedPaginated<kind>`, named `type_name`) of `count`
/// in all, whose edges are `edges`, each written by `edge`.
pub(super) fn write_page<E>(
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
pub(super) fn write_node(
    out: &mut Vec<u8>,
    selection: &NodeSelection,
    node: &NodeValue,
) -> Option<()> {
    let data: &Node = &node.node;
    write_object(out, &selection.items, |out, item| match item {
        NodeItem::Meta(meta) => write_json(out, &meta.value(data)),
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
                AttributeItem::Flag(flag) => write_bool(out, flag.value(attribute)),
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
                let edge_type = nested_edged(peer_type);
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
            let edge_type = nested_edged(peer_type);
            write_page(
                out,
                items,
                peers.len() as u64,
                peers,
                |out, edge_items, peer| {
                    write_edge(out, edge_items, peer, (&node.level, level), &edge_type)
                },
                &nested_paginated(peer_type),
            )
        }
    })
}

/// Writes an edge (`NestedEdged<peer>`, named `type_name`) to `peer` from a node of the level
/// `owner` (which holds the link's lineage); the peer's node is read from `level`.
pub(super) fn write_edge(
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
                PropertyItem::Flag(flag) => write_bool(out, flag.value(peer)),
                PropertyItem::UpdatedAt => write_str(out, &peer.updated_at.to_string()),
                PropertyItem::TypeName => write_str(out, RELATIONSHIP_PROPERTY),
                PropertyItem::Source(lineage) => write_lineage(out, lineage, owner, peer.source),
                PropertyItem::Owner(lineage) => write_lineage(out, lineage, owner, peer.owner),
            })
        }
    })
}

/// Writes what `selection` selects of the lineage node `id` read with `level` (null without
/// one).
pub(super) fn write_lineage(
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
pub(super) fn write_object<T>(
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
pub(super) fn big_int_fits(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.parse::<i64>().is_ok(),
        _ => false,
    }
}

pub(super) fn write_str(out: &mut Vec<u8>, text: &str) -> Option<()> {
    // Writing JSON into a vector cannot fail.
    serde_json::to_writer(&mut *out, text).ok()
}

pub(super) fn write_json(out: &mut Vec<u8>, value: &Value) -> Option<()> {
    serde_json::to_writer(&mut *out, value).ok()
}

pub(super) fn write_bool(out: &mut Vec<u8>, value: bool) -> Option<()> {
    out.extend_from_slice(if value { b"true" } else { b"false" });
    Some(())
}

pub(super) fn write_null(out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(b"null");
    Some(())
}

/// Writes the answer of a request whose only root field failed with `message` at `position`,
/// as the general executor does.
/// `http_status` goes into the error's `extensions` (what the SDK reads to retry a transient
/// failure).
pub(super) fn write_field_error(
    out: &mut Vec<u8>,
    message: &str,
    position: Pos,
    http_status: Option<u16>,
) {
    out.extend_from_slice(b"{\"data\":null,\"errors\":[{\"message\":");
    write_str(out, message);
    out.extend_from_slice(
        format!(
            ",\"locations\":[{{\"line\":{},\"column\":{}}}]",
            position.line, position.column
        )
        .as_bytes(),
    );
    if let Some(status) = http_status {
        out.extend_from_slice(format!(",\"extensions\":{{\"http_status\":{status}}}").as_bytes());
    }
    out.extend_from_slice(b"}]}");
}
