//! Finding many nodes by filters (human-friendly ids, default filters) in one store query
//! instead of one query each: the lookups of a kind that compare the same fields become one
//! query matching any of their values, whose answer is then shared out among the lookups by
//! comparing the values read, exactly as the store compares them.

use std::collections::{BTreeSet, HashMap};

use infrahub_graph::{Match, NodeData, Property, Side};

#[allow(clippy::wildcard_imports)]
use super::*;

/// What one filter of a lookup compares: an attribute of the node, or an attribute of a peer
/// one hop away.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Position {
    /// The link to the peer (identifier, side, peer labels), for a peer's attribute.
    peer: Option<(String, Side, Vec<String>)>,
    /// The attribute compared.
    attribute: String,
}

/// The position and value of a filter that compares one value for equality (the only
/// filters human-friendly ids and default filters make); `None` for any other filter.
fn position(filter: &Filter) -> Option<(Position, Value)> {
    let equals = |filter: &Filter| match filter {
        Filter::Attribute {
            name,
            property: Property::Value,
            matches: Match::Equals(value),
        } if !value.is_null() => Some((name.clone(), value.clone())),
        _ => None,
    };
    match filter {
        Filter::Attribute { .. } => {
            let (attribute, value) = equals(filter)?;
            Some((
                Position {
                    peer: None,
                    attribute,
                },
                value,
            ))
        }
        Filter::Peer {
            identifier,
            side,
            peer_labels,
            peer_filters,
        } if peer_filters.len() == 1 => {
            let (attribute, value) = equals(&peer_filters[0])?;
            Some((
                Position {
                    peer: Some((identifier.clone(), *side, peer_labels.clone())),
                    attribute,
                },
                value,
            ))
        }
        _ => None,
    }
}

/// A lookup of a group: its index among the lookups, and the value it wants at each position
/// the group compares.
type Member = (usize, Vec<Value>);

/// Equality as the store compares values: numbers by value, everything else exactly.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether `node` (with `peers` read) has `value` at `position`.
fn holds(
    node: &NodeData,
    peers: &HashMap<NodeId, NodeData>,
    position: &Position,
    value: &Value,
) -> bool {
    let attribute_is = |data: &NodeData| {
        data.attributes
            .get(&position.attribute)
            .is_some_and(|a| loosely_equal(&a.value.value, value))
    };
    match &position.peer {
        None => attribute_is(node),
        Some((identifier, side, labels)) => node.links.iter().any(|link| {
            &link.identifier == identifier
                && (*side == Side::Either || link.side == *side)
                && peers.get(&link.peer).is_some_and(|peer| {
                    peer.labels.iter().any(|l| labels.contains(l)) && attribute_is(peer)
                })
        }),
    }
}

impl Engine {
    /// For each of `lookups` (filters on nodes of `kind`), the nodes that pass all of its
    /// filters (at most two: enough to tell none, one and several apart), as `(id, kind)` in
    /// id order. Lookups comparing the same fields share one query (and one read of the peers
    /// their filters go through); others run one query each.
    pub(super) async fn find_each(
        &self,
        view: &BranchView,
        kind: &str,
        lookups: &[Vec<Filter>],
    ) -> Result<Vec<Vec<(NodeId, String)>>> {
        let single = |filters: Vec<Filter>| NodeQuery {
            labels: vec![kind.to_string()],
            filters,
            limit: Some(2),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let mut found: Vec<Vec<(NodeId, String)>> = vec![Vec::new(); lookups.len()];
        // Lookups by the positions they compare (those made of equality filters only).
        let mut groups: Vec<(Vec<Position>, Vec<Member>)> = Vec::new();
        let mut alone: Vec<usize> = Vec::new();
        for (index, filters) in lookups.iter().enumerate() {
            let parsed: Option<Vec<(Position, Value)>> = filters.iter().map(position).collect();
            match parsed {
                Some(parsed) if !parsed.is_empty() => {
                    let (positions, values): (Vec<Position>, Vec<Value>) =
                        parsed.into_iter().unzip();
                    match groups.iter_mut().find(|(p, _)| *p == positions) {
                        Some((_, members)) => members.push((index, values)),
                        None => groups.push((positions, vec![(index, values)])),
                    }
                }
                _ => alone.push(index),
            }
        }
        for (positions, members) in &groups {
            if members.len() == 1 {
                alone.push(members[0].0);
                continue;
            }
            let filters: Vec<Filter> = positions
                .iter()
                .enumerate()
                .map(|(at, position)| {
                    let mut values: Vec<Value> = Vec::new();
                    for (_, given) in members {
                        if !values.contains(&given[at]) {
                            values.push(given[at].clone());
                        }
                    }
                    let compare = Filter::Attribute {
                        name: position.attribute.clone(),
                        property: Property::Value,
                        matches: Match::In(values),
                    };
                    match &position.peer {
                        None => compare,
                        Some((identifier, side, labels)) => Filter::Peer {
                            identifier: identifier.clone(),
                            side: *side,
                            peer_labels: labels.clone(),
                            peer_filters: vec![compare],
                        },
                    }
                })
                .collect();
            let own: BTreeSet<String> = positions
                .iter()
                .filter(|p| p.peer.is_none())
                .map(|p| p.attribute.clone())
                .collect();
            let mut hops: Vec<(String, Side)> = Vec::new();
            for (identifier, side, _) in positions.iter().filter_map(|p| p.peer.as_ref()) {
                if !hops.iter().any(|(i, s)| i == identifier && s == side) {
                    hops.push((identifier.clone(), *side));
                }
            }
            let query = NodeQuery {
                labels: vec![kind.to_string()],
                filters,
                select: Selection {
                    attributes: Some(own.into_iter().collect()),
                    links: hops
                        .iter()
                        .map(|(identifier, side)| LinkSelection {
                            identifier: identifier.clone(),
                            side: *side,
                        })
                        .collect(),
                },
                ..NodeQuery::default()
            };
            let candidates = self.store().query(view, &query).await?.nodes;
            let mut peers: HashMap<NodeId, NodeData> = HashMap::new();
            if !hops.is_empty() && !candidates.is_empty() {
                let ids: BTreeSet<NodeId> = candidates
                    .iter()
                    .flat_map(|n| n.links.iter().map(|l| l.peer))
                    .collect();
                let names: BTreeSet<String> = positions
                    .iter()
                    .filter(|p| p.peer.is_some())
                    .map(|p| p.attribute.clone())
                    .collect();
                let selection = Selection {
                    attributes: Some(names.into_iter().collect()),
                    links: Vec::new(),
                };
                let ids: Vec<NodeId> = ids.into_iter().collect();
                for peer in self.store().get_nodes(view, &ids, &selection).await? {
                    peers.insert(peer.id, peer);
                }
            }
            for (index, values) in members {
                found[*index] = candidates
                    .iter()
                    .filter(|node| {
                        positions
                            .iter()
                            .zip(values)
                            .all(|(position, value)| holds(node, &peers, position, value))
                    })
                    .take(2)
                    .map(|node| (node.id, node.kind.clone()))
                    .collect();
            }
        }
        alone.sort_unstable();
        for index in alone {
            found[index] = self
                .store()
                .query(view, &single(lookups[index].clone()))
                .await?
                .nodes
                .into_iter()
                .map(|node| (node.id, node.kind))
                .collect();
        }
        Ok(found)
    }
}
