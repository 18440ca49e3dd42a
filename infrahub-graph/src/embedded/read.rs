//! Loading nodes and links through a view.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::model::{AttributeState, LinkState, NodeData, NodeId, Side, VersionData};
use crate::query::{LinkSelection, Selection};

use super::keys::{
    self, BN_GLOBAL, decode_reverse_link, decode_slot, link_identifier, link_prefix,
    node_and_links_range, node_data_range, node_slot, prefix_end, reverse_link_prefix,
};
use super::tables::{Kv, Table};
use super::view::{ViewSpec, Want, Winner, scan_winners, scan_winners_of, visible};

/// Names branches by number for the versions a read returns.
pub(crate) trait BranchNames {
    /// The name of branch `number`, shared by every version read from it.
    fn branch_name(&self, number: u32) -> std::sync::Arc<str>;
}

/// Existence and attributes of a node as a view sees them.
pub(crate) struct NodeCore {
    pub(crate) kind: String,
    pub(crate) labels: Vec<String>,
    pub(crate) existence: Winner,
    pub(crate) attributes: BTreeMap<String, Winner>,
    /// Active outgoing links read in the same scan, by identifier, when they were asked for
    /// (see [`node_core_with_links`]).
    pub(crate) out_links: Option<BTreeMap<String, Vec<(NodeId, Winner)>>>,
}

/// Link slots of other identifiers a combined node-and-links scan walks past before it leaves
/// the links to their own scans (a node with many links of another relationship).
const COMBINED_SCAN_SKIPS: usize = 32;

/// Reads a node's existence and all its attributes in one scan; `None` if not visible.
pub(crate) fn node_core(kv: &dyn Kv, view: &ViewSpec, id: NodeId) -> Result<Option<NodeCore>> {
    node_core_of(kv, view, id, None)
}

/// Reads a node's existence and the attributes named in `attributes` (all if `None`).
pub(crate) fn node_core_of(
    kv: &dyn Kv,
    view: &ViewSpec,
    id: NodeId,
    attributes: Option<&[String]>,
) -> Result<Option<NodeCore>> {
    node_core_with_links(kv, view, id, attributes, &[])
}

/// Like [`node_core_of`], also reading the node's outgoing links through `identifiers` in the
/// same scan (they follow its attributes in key order), unless links of other identifiers are
/// in the way: [`NodeCore::out_links`] is then `None` and [`links_of`] scans for them.
pub(crate) fn node_core_with_links(
    kv: &dyn Kv,
    view: &ViewSpec,
    id: NodeId,
    attributes: Option<&[String]>,
    identifiers: &[String],
) -> Result<Option<NodeCore>> {
    let (start, end) = if identifiers.is_empty() {
        node_data_range(id)
    } else {
        node_and_links_range(id)
    };
    let mut existence = None;
    let mut skipped_links = 0;
    let mut gave_up = false;
    let mut wanted = |slot: &[u8]| {
        if let Some(identifier) = link_identifier(slot) {
            if identifiers.iter().any(|i| i.as_bytes() == identifier) {
                return Want::Take;
            }
            skipped_links += 1;
            if skipped_links > COMBINED_SCAN_SKIPS {
                gave_up = true;
                return Want::Stop;
            }
            return Want::Skip;
        }
        match attributes {
            None => Want::Take,
            // Existence slots end right after the id and kind byte; attribute names follow it.
            Some(names) => {
                if slot.len() == 17
                    || names.iter().any(|n| {
                        slot.len() == 18 + n.len() && &slot[17..17 + n.len()] == n.as_bytes()
                    })
                {
                    Want::Take
                } else {
                    Want::Skip
                }
            }
        }
    };
    let mut found = BTreeMap::new();
    let mut links: BTreeMap<String, Vec<(NodeId, Winner)>> = identifiers
        .iter()
        .map(|identifier| (identifier.clone(), Vec::new()))
        .collect();
    let attributes = &mut found;
    scan_winners_of(kv, view, &start, &end, &mut wanted, &mut |slot, winner| {
        match decode_slot(slot) {
            Some(crate::model::Slot::Node { .. }) => existence = Some(winner),
            Some(crate::model::Slot::Attribute { name, .. }) if winner.stored.is_active() => {
                attributes.insert(name, winner);
            }
            Some(crate::model::Slot::Link { identifier, to, .. }) if winner.stored.is_active() => {
                if let Some(list) = links.get_mut(&identifier) {
                    list.push((to, winner));
                }
            }
            _ => {}
        }
        Ok(true)
    })?;
    let Some(existence) = existence.filter(|w| w.stored.is_active()) else {
        return Ok(None);
    };
    let VersionData::Node { kind, labels } = existence.stored.data.clone() else {
        return Ok(None);
    };
    Ok(Some(NodeCore {
        kind,
        labels,
        existence,
        attributes: found,
        out_links: (!identifiers.is_empty() && !gave_up).then_some(links),
    }))
}

/// Identifiers of the selected links that can be read with a node's attributes (the outgoing
/// ones), for [`node_core_with_links`].
pub(crate) fn outgoing_identifiers(select: &Selection) -> Vec<String> {
    let mut identifiers: Vec<String> = select
        .links
        .iter()
        .filter(|l| matches!(l.side, Side::From | Side::Either))
        .map(|l| l.identifier.clone())
        .collect();
    identifiers.sort();
    identifiers.dedup();
    identifiers
}

/// Reads only whether a node is visible, with its kind and labels.
pub(crate) fn node_existence(
    kv: &dyn Kv,
    view: &ViewSpec,
    id: NodeId,
) -> Result<Option<(String, Vec<String>, Winner)>> {
    let Some(winner) = visible(kv, view, &node_slot(id))? else {
        return Ok(None);
    };
    match winner.stored.data.clone() {
        VersionData::Node { kind, labels } => Ok(Some((kind, labels, winner))),
        _ => Ok(None),
    }
}

/// The active links of `node` through `identifier` on `side`: (peer, side of `node`, winner).
pub(crate) fn links_of(
    kv: &dyn Kv,
    view: &ViewSpec,
    node: NodeId,
    identifier: &str,
    side: Side,
) -> Result<Vec<(NodeId, Side, Winner)>> {
    links_of_with(kv, view, node, identifier, side, None)
}

/// Like [`links_of`], with the outgoing links already read (by [`node_core_with_links`]).
fn links_of_with(
    kv: &dyn Kv,
    view: &ViewSpec,
    node: NodeId,
    identifier: &str,
    side: Side,
    outgoing: Option<Vec<(NodeId, Winner)>>,
) -> Result<Vec<(NodeId, Side, Winner)>> {
    let mut found = Vec::new();
    if let Some(outgoing) = outgoing.filter(|_| matches!(side, Side::From | Side::Either)) {
        found.extend(outgoing.into_iter().map(|(to, w)| (to, Side::From, w)));
    } else if matches!(side, Side::From | Side::Either) {
        let prefix = link_prefix(node, identifier);
        scan_winners(
            kv,
            view,
            &prefix,
            &prefix_end(&prefix),
            &mut |slot, winner| {
                if winner.stored.is_active()
                    && let Some(crate::model::Slot::Link { to, .. }) = decode_slot(slot)
                {
                    found.push((to, Side::From, winner));
                }
                Ok(true)
            },
        )?;
    }
    if matches!(side, Side::To | Side::Either) {
        let prefix = reverse_link_prefix(node, identifier);
        let mut froms = Vec::new();
        kv.scan(
            Table::LinksTo,
            &prefix,
            &prefix_end(&prefix),
            false,
            &mut |key, _| {
                if let Some((_, from)) = decode_reverse_link(key) {
                    froms.push(from);
                }
                true
            },
        )?;
        for from in froms {
            if side == Side::Either && from == node {
                continue;
            }
            if let Some(winner) = visible(kv, view, &keys::link_slot(identifier, from, node))? {
                found.push((from, Side::To, winner));
            }
        }
    }
    // Global links can outlive a branch-only peer: keep only links whose peer is visible.
    let mut kept = Vec::with_capacity(found.len());
    for (peer, side, winner) in found {
        if winner.branch == BN_GLOBAL && node_existence(kv, view, peer)?.is_none() {
            continue;
        }
        kept.push((peer, side, winner));
    }
    Ok(kept)
}

/// Builds the node a read returns from its core, loading the selected links.
pub(crate) fn node_from_core(
    kv: &dyn Kv,
    view: &ViewSpec,
    names: &dyn BranchNames,
    id: NodeId,
    core: NodeCore,
    select: &Selection,
) -> Result<NodeData> {
    let mut attributes = core.attributes;
    if let Some(list) = &select.attributes {
        attributes.retain(|name, _| list.contains(name))
    }
    build(
        kv,
        view,
        names,
        id,
        core.kind,
        core.labels,
        core.existence,
        attributes,
        core.out_links,
        select,
    )
}

/// Loads one node with what `select` asks for; `None` if not visible.
pub(crate) fn load_node(
    kv: &dyn Kv,
    view: &ViewSpec,
    names: &dyn BranchNames,
    id: NodeId,
    select: &Selection,
) -> Result<Option<NodeData>> {
    let mut out_links = None;
    let (kind, labels, existence, attribute_winners) = match &select.attributes {
        Some(list) if list.is_empty() => {
            let Some((kind, labels, existence)) = node_existence(kv, view, id)? else {
                return Ok(None);
            };
            (kind, labels, existence, BTreeMap::new())
        }
        _ => {
            let identifiers = outgoing_identifiers(select);
            let Some(core) =
                node_core_with_links(kv, view, id, select.attributes.as_deref(), &identifiers)?
            else {
                return Ok(None);
            };
            out_links = core.out_links;
            (core.kind, core.labels, core.existence, core.attributes)
        }
    };
    build(
        kv,
        view,
        names,
        id,
        kind,
        labels,
        existence,
        attribute_winners,
        out_links,
        select,
    )
    .map(Some)
}

#[allow(clippy::too_many_arguments)]
fn build(
    kv: &dyn Kv,
    view: &ViewSpec,
    names: &dyn BranchNames,
    id: NodeId,
    kind: String,
    labels: Vec<String>,
    existence: Winner,
    attribute_winners: BTreeMap<String, Winner>,
    mut out_links: Option<BTreeMap<String, Vec<(NodeId, Winner)>>>,
    select: &Selection,
) -> Result<NodeData> {
    let mut updated_at = existence.at;
    let mut attributes = BTreeMap::new();
    for (name, winner) in attribute_winners {
        updated_at = updated_at.max(winner.at);
        if let VersionData::Attribute(value) = winner.stored.data {
            attributes.insert(
                name,
                AttributeState {
                    value,
                    updated_at: winner.at,
                    branch: names.branch_name(winner.branch),
                },
            );
        }
    }
    let mut links = Vec::new();
    for LinkSelection { identifier, side } in &select.links {
        let outgoing = out_links.as_mut().and_then(|l| l.remove(identifier));
        for (peer, link_side, winner) in links_of_with(kv, view, id, identifier, *side, outgoing)? {
            updated_at = updated_at.max(winner.at);
            if let VersionData::Link(properties) = winner.stored.data {
                links.push(LinkState {
                    identifier: identifier.clone(),
                    peer,
                    side: link_side,
                    properties,
                    updated_at: winner.at,
                    branch: names.branch_name(winner.branch),
                });
            }
        }
    }
    Ok(NodeData {
        id,
        kind,
        labels,
        branch: names.branch_name(existence.branch),
        created_at: existence.at,
        updated_at,
        attributes,
        links,
    })
}
