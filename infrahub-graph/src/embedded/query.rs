//! Executing list queries: candidate generation from the most selective index, verification
//! of every filter through the view, ordering, paging and counting.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{NodeData, NodeId, Side, VersionData};
use crate::query::{Filter, Match, NodeQuery, OrderBy, Property, QueryResult};

use super::keys::{encode_value, label_prefix, prefix_end, split_value_tail, value_prefix};
use super::orders::OrderCache;
use super::read::{
    BranchNames, NodeCore, links_of, load_node, node_core, node_core_with_links, node_from_core,
    outgoing_identifiers,
};
use super::tables::{Kv, Table};
use super::view::ViewSpec;

/// The kinds that carry `label`.
fn kinds_of(kv: &dyn Kv, label: &str) -> Result<Vec<String>> {
    let prefix = label_prefix(label);
    let mut kinds = Vec::new();
    kv.scan(
        Table::LabelKinds,
        &prefix,
        &prefix_end(&prefix),
        false,
        &mut |key, _| {
            if let Ok(kind) = std::str::from_utf8(&key[prefix.len()..]) {
                kinds.push(kind.to_string());
            }
            true
        },
    )?;
    Ok(kinds)
}

fn kinds_of_labels(kv: &dyn Kv, labels: &[String]) -> Result<Vec<String>> {
    let mut kinds = BTreeSet::new();
    for label in labels {
        kinds.extend(kinds_of(kv, label)?);
    }
    Ok(kinds.into_iter().collect())
}

/// Nodes whose indexed attribute `name` ever held `value` (to be verified).
fn nodes_with_value(
    kv: &dyn Kv,
    kinds: &[String],
    name: &str,
    value: &Value,
) -> Result<BTreeSet<NodeId>> {
    let mut found = BTreeSet::new();
    value_entries(kv, kinds, name, value, &mut |tail| {
        if let Some((_, node)) = split_value_tail(tail) {
            found.insert(node);
        }
        true
    })?;
    Ok(found)
}

/// Visits the value-index entries of `kinds` whose attribute `name` held `value` (each entry's
/// key after the value), until `visit` returns `false`; returns whether it did.
fn value_entries(
    kv: &dyn Kv,
    kinds: &[String],
    name: &str,
    value: &Value,
    visit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<bool> {
    let mut stopped = false;
    for kind in kinds {
        let mut prefix = value_prefix(kind, name);
        encode_value(value, &mut prefix);
        kv.scan(
            Table::Values,
            &prefix,
            &prefix_end(&prefix),
            false,
            &mut |key, _| {
                stopped = !visit(&key[prefix.len()..]);
                !stopped
            },
        )?;
        if stopped {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `query` is a lookup with at most `cap` candidates (by id, or by an attribute value
/// that few nodes ever held), found without reading more than `cap + 1` index entries.
pub(crate) fn is_small_lookup(kv: &dyn Kv, query: &NodeQuery, cap: usize) -> Result<bool> {
    for filter in &query.filters {
        if let Filter::Ids(ids) = filter {
            return Ok(ids.len() <= cap);
        }
    }
    for filter in &query.filters {
        if let Filter::Attribute {
            name,
            property: Property::Value,
            matches: Match::Equals(value),
        } = filter
            && !value.is_null()
        {
            let mut seen = 0usize;
            let kinds = kinds_of_labels(kv, &query.labels)?;
            let stopped = value_entries(kv, &kinds, name, value, &mut |_| {
                seen += 1;
                seen <= cap
            })?;
            return Ok(!stopped);
        }
    }
    Ok(false)
}

/// Nodes carrying one of `labels` whose attribute `name` ever held `value` (to be verified).
pub(crate) fn nodes_with_value_for_labels(
    kv: &dyn Kv,
    labels: &[String],
    name: &str,
    value: &Value,
) -> Result<Vec<NodeId>> {
    let kinds = kinds_of_labels(kv, labels)?;
    Ok(nodes_with_value(kv, &kinds, name, value)?
        .into_iter()
        .collect())
}

/// Nodes linked to one of `peers` through `identifier` with the node on `side` (to verify).
fn nodes_linked_to(
    kv: &dyn Kv,
    view: &ViewSpec,
    identifier: &str,
    side: Side,
    peers: &[NodeId],
) -> Result<BTreeSet<NodeId>> {
    let mut found = BTreeSet::new();
    // The node is on `side`, so the peer is on the other side.
    let peer_side = match side {
        Side::From => Side::To,
        Side::To => Side::From,
        Side::Either => Side::Either,
    };
    for peer in peers {
        for (node, _, _) in links_of(kv, view, *peer, identifier, peer_side)? {
            found.insert(node);
        }
    }
    Ok(found)
}

fn string_contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(text) => text.to_lowercase().contains(&needle.to_lowercase()),
        _ => false,
    }
}

fn value_matches(value: &Value, matches: &Match) -> bool {
    match matches {
        Match::Equals(expected) => loosely_equal(value, expected),
        Match::In(list) => list.iter().any(|expected| loosely_equal(value, expected)),
        Match::IsNull(is_null) => value.is_null() == *is_null,
        Match::Contains(needle) => string_contains(value, needle),
        Match::Between(low, high) => {
            !value.is_null() && {
                let key = ordered(value);
                ordered(low) <= key && key <= ordered(high)
            }
        }
    }
}

/// `value` encoded as the value index orders it.
fn ordered(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, &mut out);
    out
}

/// Nodes whose indexed attribute `name` ever held a value between `low` and `high` (both
/// included; to be verified).
fn nodes_with_value_between(
    kv: &dyn Kv,
    kinds: &[String],
    name: &str,
    (low, high): (&Value, &Value),
) -> Result<BTreeSet<NodeId>> {
    let mut found = BTreeSet::new();
    for kind in kinds {
        let prefix = value_prefix(kind, name);
        let mut start = prefix.clone();
        encode_value(low, &mut start);
        let mut end = prefix.clone();
        encode_value(high, &mut end);
        let end = prefix_end(&end);
        if start >= end {
            continue;
        }
        kv.scan(Table::Values, &start, &end, false, &mut |key, _| {
            if let Some((_, node)) = split_value_tail(&key[prefix.len()..]) {
                found.insert(node);
            }
            true
        })?;
    }
    Ok(found)
}

/// Equality where numbers compare by value (1 == 1.0).
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn property_value(winner: Option<&super::view::Winner>, property: Property) -> Value {
    let Some(VersionData::Attribute(attribute)) = winner.map(|w| &w.stored.data) else {
        return Value::Null;
    };
    match property {
        Property::Value => attribute.value.clone(),
        Property::IsProtected => Value::Bool(attribute.is_protected),
        Property::IsVisible => Value::Bool(attribute.is_visible),
        Property::Source => attribute
            .source
            .map_or(Value::Null, |id| Value::String(id.to_string())),
        Property::Owner => attribute
            .owner
            .map_or(Value::Null, |id| Value::String(id.to_string())),
    }
}

/// Verifies every filter for a node already known to be visible.
fn passes(
    kv: &dyn Kv,
    view: &ViewSpec,
    core: &NodeCore,
    id: NodeId,
    filters: &[Filter],
) -> Result<bool> {
    for filter in filters {
        let ok = match filter {
            Filter::Ids(ids) => ids.contains(&id),
            Filter::Attribute {
                name,
                property,
                matches,
            } => {
                let value = property_value(core.attributes.get(name), *property);
                value_matches(&value, matches)
            }
            Filter::AnyAttribute { property, matches } => {
                core.attributes.iter().any(|(name, w)| {
                    if name.starts_with('~') {
                        return false;
                    }
                    let value = property_value(Some(w), Property::Value);
                    if value.is_null() {
                        return false;
                    }
                    let compared = property_value(Some(w), *property);
                    value_matches(&compared, matches)
                })
            }
            Filter::Linked {
                identifier,
                side,
                peers,
            } => links_of(kv, view, id, identifier, *side)?
                .iter()
                .any(|(peer, _, _)| peers.contains(peer)),
            Filter::LinkIsNull {
                identifier,
                side,
                is_null,
            } => links_of(kv, view, id, identifier, *side)?.is_empty() == *is_null,
            Filter::Peer {
                identifier,
                side,
                peer_labels,
                peer_filters,
            } => {
                let mut any = false;
                for (peer, _, _) in links_of(kv, view, id, identifier, *side)? {
                    if let Some(peer_core) = node_core(kv, view, peer)? {
                        let labelled = peer_labels.is_empty()
                            || peer_core.labels.iter().any(|l| peer_labels.contains(l));
                        if labelled && passes(kv, view, &peer_core, peer, peer_filters)? {
                            any = true;
                            break;
                        }
                    }
                }
                any
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Candidate nodes from the most selective filter, or `None` to scan the labels.
fn candidates(kv: &dyn Kv, view: &ViewSpec, query: &NodeQuery) -> Result<Option<BTreeSet<NodeId>>> {
    for filter in &query.filters {
        if let Filter::Ids(ids) = filter {
            return Ok(Some(ids.iter().copied().collect()));
        }
    }
    let kinds = || kinds_of_labels(kv, &query.labels);
    for filter in &query.filters {
        if let Filter::Attribute {
            name,
            property: Property::Value,
            matches,
        } = filter
        {
            match matches {
                Match::Equals(value) if !value.is_null() => {
                    return Ok(Some(nodes_with_value(kv, &kinds()?, name, value)?));
                }
                Match::In(values) if !values.iter().any(Value::is_null) => {
                    let kinds = kinds()?;
                    let mut all = BTreeSet::new();
                    for value in values {
                        all.extend(nodes_with_value(kv, &kinds, name, value)?);
                    }
                    return Ok(Some(all));
                }
                Match::Between(low, high) if !low.is_null() && !high.is_null() => {
                    return Ok(Some(nodes_with_value_between(
                        kv,
                        &kinds()?,
                        name,
                        (low, high),
                    )?));
                }
                _ => {}
            }
        }
    }
    for filter in &query.filters {
        if let Filter::Linked {
            identifier,
            side,
            peers,
        } = filter
        {
            return Ok(Some(nodes_linked_to(kv, view, identifier, *side, peers)?));
        }
    }
    for filter in &query.filters {
        if let Filter::Peer {
            identifier,
            side,
            peer_labels,
            peer_filters,
        } = filter
        {
            if peer_filters.is_empty() {
                continue;
            }
            let peer_query = NodeQuery {
                labels: peer_labels.clone(),
                filters: peer_filters.clone(),
                ..NodeQuery::default()
            };
            let peers: Vec<NodeId> = matching_ids(kv, view, &peer_query)?;
            return Ok(Some(nodes_linked_to(kv, view, identifier, *side, &peers)?));
        }
    }
    Ok(None)
}

/// Visits, in id order, every node carrying one of `labels` (not yet verified).
fn scan_labels(
    kv: &dyn Kv,
    labels: &[String],
    visit: &mut dyn FnMut(NodeId) -> Result<bool>,
) -> Result<()> {
    let mut ids: Vec<NodeId> = Vec::new();
    if labels.len() == 1 {
        let prefix = label_prefix(&labels[0]);
        let mut failure = None;
        kv.scan(
            Table::Labels,
            &prefix,
            &prefix_end(&prefix),
            false,
            &mut |key, _| {
                let Ok(id) = uuid::Uuid::from_slice(&key[prefix.len()..]) else {
                    return true;
                };
                match visit(id) {
                    Ok(more) => more,
                    Err(err) => {
                        failure = Some(err);
                        false
                    }
                }
            },
        )?;
        return failure.map_or(Ok(()), Err);
    }
    for label in labels {
        let prefix = label_prefix(label);
        kv.scan(
            Table::Labels,
            &prefix,
            &prefix_end(&prefix),
            false,
            &mut |key, _| {
                if let Ok(id) = uuid::Uuid::from_slice(&key[prefix.len()..]) {
                    ids.push(id);
                }
                true
            },
        )?;
    }
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        if !visit(id)? {
            break;
        }
    }
    Ok(())
}

fn check_labels(query: &NodeQuery) -> Result<()> {
    if query.labels.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a query needs at least one label",
        ));
    }
    Ok(())
}

/// Attributes a query needs to verify its filters, order and selection (`None`: all).
fn needed_attributes(query: &NodeQuery) -> Option<Vec<String>> {
    let mut names: Vec<String> = query.select.attributes.clone()?;
    for filter in &query.filters {
        match filter {
            Filter::Attribute { name, .. } => names.push(name.clone()),
            Filter::AnyAttribute { .. } => return None,
            _ => {}
        }
    }
    names.extend(query.order.iter().map(|o| o.attribute.clone()));
    names.sort();
    names.dedup();
    Some(names)
}

/// Visible nodes matching the query's labels and filters, with their core, in id order.
fn for_each_match(
    kv: &dyn Kv,
    view: &ViewSpec,
    query: &NodeQuery,
    visit: &mut dyn FnMut(NodeId, NodeCore) -> Result<bool>,
) -> Result<()> {
    for_each_match_among(kv, view, query, None, visit)
}

/// Like [`for_each_match`], with the query's candidates already looked up (`Some(None)`: the
/// query has no selective filter).
fn for_each_match_among(
    kv: &dyn Kv,
    view: &ViewSpec,
    query: &NodeQuery,
    candidates_known: Option<Option<BTreeSet<NodeId>>>,
    visit: &mut dyn FnMut(NodeId, NodeCore) -> Result<bool>,
) -> Result<()> {
    let needed = needed_attributes(query);
    let identifiers = outgoing_identifiers(&query.select);
    let mut check = |id: NodeId| -> Result<bool> {
        let Some(core) = node_core_with_links(kv, view, id, needed.as_deref(), &identifiers)?
        else {
            return Ok(true);
        };
        if !core.labels.iter().any(|l| query.labels.contains(l)) {
            return Ok(true);
        }
        if !passes(kv, view, &core, id, &query.filters)? {
            return Ok(true);
        }
        visit(id, core)
    };
    match candidates_known.map_or_else(|| candidates(kv, view, query), Ok)? {
        Some(ids) => {
            for id in ids {
                if !check(id)? {
                    break;
                }
            }
            Ok(())
        }
        None => scan_labels(kv, &query.labels, &mut check),
    }
}

fn matching_ids(kv: &dyn Kv, view: &ViewSpec, query: &NodeQuery) -> Result<Vec<NodeId>> {
    let mut ids = Vec::new();
    for_each_match(kv, view, query, &mut |id, _| {
        ids.push(id);
        Ok(true)
    })?;
    Ok(ids)
}

/// Counts matches; a query with one label and no filter reads the counters.
pub(crate) fn count(kv: &dyn Kv, view: &ViewSpec, query: &NodeQuery) -> Result<u64> {
    check_labels(query)?;
    if query.filters.is_empty() && query.labels.len() == 1 {
        return super::counters::read(kv, view, &query.labels[0]);
    }
    let mut total = 0u64;
    for_each_match(kv, view, query, &mut |_, _| {
        total += 1;
        Ok(true)
    })?;
    Ok(total)
}

fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    let encode = |v: &Value| {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        out
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        _ => encode(a).cmp(&encode(b)),
    }
}

fn sort_key(core: &NodeCore, order: &[OrderBy]) -> Vec<Value> {
    order
        .iter()
        .map(|o| property_value(core.attributes.get(&o.attribute), Property::Value))
        .collect()
}

fn compare_keys(a: &[Value], b: &[Value], order: &[OrderBy]) -> std::cmp::Ordering {
    for ((x, y), o) in a.iter().zip(b).zip(order) {
        // Nulls sort last ascending, first descending.
        let ordering = match (x.is_null(), y.is_null()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => compare_values(x, y),
        };
        let ordering = if o.descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != std::cmp::Ordering::Equal {
            return ordering;
        }
    }
    std::cmp::Ordering::Equal
}

/// Largest candidate set whose node cores an ordered query keeps for its page.
const KEEP_CORES: usize = 1024;

/// Runs the list query `query`; `orders` keeps whole orderings of listings read in pages (with the content
/// number of the snapshot `kv` reads, see [`OrderCache`]).
pub(crate) fn run(
    kv: &dyn Kv,
    view: &ViewSpec,
    names: &dyn BranchNames,
    query: &NodeQuery,
    orders: Option<(&OrderCache, u64)>,
) -> Result<QueryResult> {
    check_labels(query)?;
    let offset = query.offset;
    let limit = query.limit.unwrap_or(usize::MAX);
    let wanted = offset.saturating_add(limit);
    // Totals of unfiltered single-label queries come from the counters, so paging can stop early.
    let counted = query.filters.is_empty() && query.labels.len() == 1;
    let must_see_all = query.count && !counted;
    let mut ordered: Vec<NodeId> = Vec::new();
    let mut cores: Vec<(NodeId, NodeCore)> = Vec::new();
    let mut kept: std::collections::HashMap<NodeId, NodeCore> = std::collections::HashMap::new();
    let mut total: u64 = 0;
    let selective = candidates(kv, view, query)?;
    // Listings in pages: a kept ordering serves any page; a page past the first, or a first
    // page that sees every match anyway (to count them), orders the whole listing and keeps it
    // when more pages follow.
    let orders = orders.filter(|_| query.limit.is_some());
    let kept_ordering = orders.and_then(|(cache, content)| cache.get(content, view, query));
    let mut whole = orders.is_some() && (offset > 0 || must_see_all);
    if query.order.is_empty() && kept_ordering.is_none() {
        // Id order: the matches as they come, all of them when the whole listing is kept.
        let mut all: Vec<NodeId> = Vec::new();
        for_each_match_among(kv, view, query, Some(selective), &mut |id, core| {
            let position = total as usize;
            total += 1;
            if whole {
                all.push(id);
            }
            if position >= offset && cores.len() < limit {
                cores.push((id, core));
            }
            Ok(whole || must_see_all || cores.len() < limit)
        })?;
        if let Some((cache, content)) = orders
            && whole
            && all.len() > wanted
        {
            cache.put(content, view, query, Arc::new(all));
        }
        let mut nodes = Vec::with_capacity(cores.len());
        for (id, core) in cores {
            nodes.push(node_from_core(kv, view, names, id, core, &query.select)?);
        }
        let total = match (query.count, counted) {
            (false, _) => None,
            (true, true) => Some(super::counters::read(kv, view, &query.labels[0])?),
            (true, false) => Some(total),
        };
        return Ok(QueryResult { nodes, total });
    }
    if let Some(kept_ordering) = &kept_ordering {
        total = kept_ordering.len() as u64;
        ordered = kept_ordering
            .iter()
            .skip(offset)
            .take(limit)
            .copied()
            .collect();
    } else if let Some(ids) = selective {
        // A few candidates keep their cores for the page; many are read again once ordered.
        let keep_cores = ids.len() <= KEEP_CORES;
        let mut keyed: Vec<(Vec<Value>, NodeId)> = Vec::new();
        for_each_match_among(kv, view, query, Some(Some(ids)), &mut |id, core| {
            total += 1;
            keyed.push((sort_key(&core, &query.order), id));
            if keep_cores {
                kept.insert(id, core);
            }
            Ok(true)
        })?;
        keyed.sort_by(|(a, ida), (b, idb)| compare_keys(a, b, &query.order).then(ida.cmp(idb)));
        ordered = keyed.into_iter().map(|(_, id)| id).collect();
        whole = orders.is_some();
    } else {
        total = ordered_by_index(
            kv,
            view,
            query,
            if must_see_all || whole {
                usize::MAX
            } else {
                wanted
            },
            wanted,
            counted,
            &mut ordered,
            &mut kept,
        )?;
    }
    let page: Vec<NodeId> = match orders {
        _ if kept_ordering.is_some() => ordered,
        Some((cache, content)) if whole && ordered.len() > wanted => {
            let page = ordered.iter().skip(offset).take(limit).copied().collect();
            cache.put(content, view, query, Arc::new(ordered));
            page
        }
        _ => ordered.into_iter().skip(offset).take(limit).collect(),
    };
    let mut nodes: Vec<NodeData> = Vec::with_capacity(page.len());
    for id in page {
        // Cores read while ordering already hold what the selection needs.
        if let Some(core) = kept.remove(&id) {
            nodes.push(node_from_core(kv, view, names, id, core, &query.select)?);
        } else if let Some(node) = load_node(kv, view, names, id, &query.select)? {
            nodes.push(node);
        }
    }
    let total = match (query.count, counted) {
        (false, _) => None,
        (true, true) => Some(super::counters::read(kv, view, &query.labels[0])?),
        (true, false) => Some(total),
    };
    Ok(QueryResult { nodes, total })
}

/// Visits the non-null entries of the value index of `attribute` over `kinds` in value order
/// (reversed if `descending`) until `visit` returns `false`; returns whether the end was reached.
fn index_in_order(
    kv: &dyn Kv,
    kinds: &[String],
    attribute: &str,
    descending: bool,
    visit: &mut dyn FnMut(&[u8], NodeId) -> Result<bool>,
) -> Result<bool> {
    let mut null = Vec::new();
    encode_value(&Value::Null, &mut null);
    if let [kind] = kinds {
        let prefix = value_prefix(kind, attribute);
        let mut null_start = prefix.clone();
        null_start.extend_from_slice(&null);
        let mut failure = None;
        let mut stopped = false;
        kv.scan(
            Table::Values,
            &prefix,
            &null_start,
            descending,
            &mut |key, _| {
                let Some((value, node)) = split_value_tail(&key[prefix.len()..]) else {
                    return true;
                };
                match visit(value, node) {
                    Ok(true) => true,
                    Ok(false) => {
                        stopped = true;
                        false
                    }
                    Err(err) => {
                        failure = Some(err);
                        stopped = true;
                        false
                    }
                }
            },
        )?;
        return failure.map_or(Ok(!stopped), Err);
    }
    let mut entries: Vec<(Vec<u8>, NodeId)> = Vec::new();
    for kind in kinds {
        let prefix = value_prefix(kind, attribute);
        let mut null_start = prefix.clone();
        null_start.extend_from_slice(&null);
        kv.scan(Table::Values, &prefix, &null_start, false, &mut |key, _| {
            if let Some((value, node)) = split_value_tail(&key[prefix.len()..]) {
                entries.push((value.to_vec(), node));
            }
            true
        })?;
    }
    entries.sort();
    if descending {
        entries.reverse();
    }
    for (value, node) in entries {
        if !visit(&value, node)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Fills `ordered` with matching ids in the query's order, reading the value index of the first
/// ordering attribute so that an ascending read can stop once `wanted` nodes are known; nodes
/// without a value (null or no attribute) sort last ascending and first descending. The cores
/// of the first `keep` matches read go into `kept`. Returns the number of matches seen.
#[allow(clippy::too_many_arguments)]
fn ordered_by_index(
    kv: &dyn Kv,
    view: &ViewSpec,
    query: &NodeQuery,
    wanted: usize,
    keep: usize,
    counted: bool,
    ordered: &mut Vec<NodeId>,
    kept: &mut std::collections::HashMap<NodeId, NodeCore>,
) -> Result<u64> {
    let first = &query.order[0];
    let rest = &query.order[1..];
    let kinds = kinds_of_labels(kv, &query.labels)?;
    let needed = needed_attributes(query);
    let identifiers = outgoing_identifiers(&query.select);
    let mut seen: BTreeSet<NodeId> = BTreeSet::new();
    let mut total = 0u64;
    let mut group_value: Option<Vec<u8>> = None;
    let mut group: Vec<(Vec<Value>, NodeId)> = Vec::new();
    let mut valued: Vec<NodeId> = Vec::new();
    let flush = |group: &mut Vec<(Vec<Value>, NodeId)>, out: &mut Vec<NodeId>| {
        group.sort_by(|(a, ida), (b, idb)| compare_keys(a, b, rest).then(ida.cmp(idb)));
        out.extend(group.drain(..).map(|(_, id)| id));
    };
    let can_stop = !first.descending;
    let exhausted = index_in_order(
        kv,
        &kinds,
        &first.attribute,
        first.descending,
        &mut |encoded, node| {
            if group_value.as_deref() != Some(encoded) {
                flush(&mut group, &mut valued);
                if can_stop && valued.len() >= wanted {
                    return Ok(false);
                }
                group_value = Some(encoded.to_vec());
            }
            if seen.contains(&node) {
                return Ok(true);
            }
            let Some(core) = node_core_with_links(kv, view, node, needed.as_deref(), &identifiers)?
            else {
                return Ok(true);
            };
            if !core.labels.iter().any(|l| query.labels.contains(l)) {
                return Ok(true);
            }
            // The index keeps every value a node ever had: only its current one counts.
            let mut current = Vec::new();
            encode_value(
                &property_value(core.attributes.get(&first.attribute), Property::Value),
                &mut current,
            );
            if current != encoded {
                return Ok(true);
            }
            seen.insert(node);
            if passes(kv, view, &core, node, &query.filters)? {
                total += 1;
                group.push((sort_key(&core, rest), node));
                if kept.len() < keep {
                    kept.insert(node, core);
                }
            }
            Ok(true)
        },
    )?;
    flush(&mut group, &mut valued);
    if !exhausted {
        ordered.extend(valued);
        return Ok(total);
    }
    // Without filters the counters tell whether any match has no value.
    if counted && super::counters::read(kv, view, &query.labels[0])? == total {
        ordered.extend(valued);
        return Ok(total);
    }
    // Every node with a value was seen: the others have none.
    let mut unvalued: Vec<(Vec<Value>, NodeId)> = Vec::new();
    for_each_match(kv, view, query, &mut |id, core| {
        if !seen.contains(&id) {
            total += 1;
            unvalued.push((sort_key(&core, rest), id));
        }
        Ok(true)
    })?;
    unvalued.sort_by(|(a, ida), (b, idb)| compare_keys(a, b, rest).then(ida.cmp(idb)));
    let unvalued = unvalued.into_iter().map(|(_, id)| id);
    if first.descending {
        ordered.extend(unvalued);
        ordered.extend(valued);
    } else {
        ordered.extend(valued);
        ordered.extend(unvalued);
    }
    Ok(total)
}
