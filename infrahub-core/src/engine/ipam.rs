//! IPAM: the hierarchy of prefixes and addresses kept by the engine on every write, as
//! upstream's reconciler keeps it. Within one IP namespace, a prefix's `parent` is the longest
//! other prefix containing it, its `children` the prefixes whose parent it is, and an address's
//! `ip_prefix` the longest prefix containing it; `is_top_level` says a prefix has no parent.
//! Creates, updates (a new value or namespace) and deletes of prefixes and addresses rewrite
//! those links on the affected nodes in the same changeset, under a per-branch IPAM lock.
//!
//! Finding the nodes involved costs in proportion to them, not to the namespace: every prefix
//! and address also stores a hidden, indexed key ([`KEY_ATTRIBUTE`], see [`IpNet::key`]) whose
//! byte order is address order, so the prefixes containing a network are an index lookup of
//! their keys and the prefixes and addresses inside it one range of the index.

use std::collections::BTreeMap;

use infrahub_graph::{
    AttributeValue, BranchView, Filter, LinkProperties, Match, NodeData, NodeId, NodeQuery, Op,
    Property, Selection,
};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::ipam::IpNet;
use crate::schema::{IP_ADDRESS, IP_PREFIX, ModelSchema, RelationshipSchema, SchemaBranch};

use super::{Engine, links};

/// The hidden attribute holding a prefix's or address's position in IP space (no schema
/// attribute can be named so).
pub(crate) const KEY_ATTRIBUTE: &str = "~ipam_key";
/// The prefix attribute of prefixes.
const PREFIX: &str = "prefix";
/// The address attribute of addresses.
const ADDRESS: &str = "address";
const NAMESPACE: &str = "ip_namespace";
const PARENT: &str = "parent";
const IP_PREFIX_LINK: &str = "ip_prefix";
const TOP_LEVEL: &str = "is_top_level";

/// What an IPAM node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpamRole {
    /// Inherits `BuiltinIPPrefix`.
    Prefix,
    /// Inherits `BuiltinIPAddress`.
    Address,
}

impl IpamRole {
    /// The role of nodes of `model`, if it is an IPAM kind.
    pub(crate) fn of(model: &ModelSchema) -> Option<IpamRole> {
        if model.inherit_from.iter().any(|g| g == IP_PREFIX) {
            Some(IpamRole::Prefix)
        } else if model.inherit_from.iter().any(|g| g == IP_ADDRESS) {
            Some(IpamRole::Address)
        } else {
            None
        }
    }

    fn label(self) -> &'static str {
        match self {
            IpamRole::Prefix => IP_PREFIX,
            IpamRole::Address => IP_ADDRESS,
        }
    }
}

/// Where an IPAM node sits: its network (a host as a /32 or /128) and namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub net: IpNet,
    pub namespace: NodeId,
}

impl Place {
    /// The place `values` (attribute values) and `namespace` give a node of `role`, if its
    /// value is set.
    pub(crate) fn of(
        role: IpamRole,
        values: &BTreeMap<String, Value>,
        namespace: Option<NodeId>,
    ) -> Result<Option<Place>> {
        let (Some(text), Some(namespace)) = (
            values
                .get(match role {
                    IpamRole::Prefix => PREFIX,
                    IpamRole::Address => ADDRESS,
                })
                .and_then(Value::as_str),
            namespace,
        ) else {
            return Ok(None);
        };
        let net = match role {
            IpamRole::Prefix => IpNet::parse_network(text),
            IpamRole::Address => IpNet::parse_host(text).map(|(host, _)| host),
        }
        .map_err(|e| Error::new(ErrorKind::Validation, e.to_string()))?;
        Ok(Some(Place { net, namespace }))
    }
}

/// One IPAM node changing place: created (`from` none), moved, or deleted (`to` none).
#[derive(Clone, Debug)]
pub(crate) struct Move {
    pub id: NodeId,
    pub kind: String,
    pub role: IpamRole,
    pub from: Option<Place>,
    pub to: Option<Place>,
}

/// A prefix or address as the reconciler reads it.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub id: NodeId,
    pub kind: String,
    pub net: IpNet,
    /// Its parent (prefixes) or prefix (addresses).
    pub up: Option<NodeId>,
}

fn key_of(node: &NodeData) -> Option<IpNet> {
    let key = node.attributes.get(KEY_ATTRIBUTE)?.value.value.as_str()?;
    parse_key(key)
}

/// Reads a key written by [`IpNet::key`].
pub(crate) fn parse_key(key: &str) -> Option<IpNet> {
    let mut parts = key.split(':');
    let v6 = match parts.next()? {
        "4" => false,
        "6" => true,
        _ => return None,
    };
    let address = u128::from_str_radix(parts.next()?, 16).ok()?;
    let length = parts.next()?.parse().ok()?;
    Some(IpNet {
        v6,
        address,
        length,
    })
}

impl Engine {
    /// The default IP namespace of `branch`.
    pub(crate) async fn default_namespace(&self, view: &BranchView) -> Result<NodeId> {
        let query = NodeQuery {
            labels: vec!["BuiltinIPNamespace".into()],
            filters: vec![Filter::Attribute {
                name: "default".into(),
                property: Property::Value,
                matches: Match::Equals(Value::Bool(true)),
            }],
            limit: Some(1),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let found = self.store().query(view, &query).await?;
        found.nodes.first().map(|n| n.id).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "there is no default IP namespace: give `ip_namespace`",
            )
        })
    }

    /// The lock IPAM writes of one branch take, held until their changeset is committed.
    pub(crate) async fn ipam_lock(&self, branch: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.branch_lock(&format!("\u{0}ipam\u{0}{branch}")).await
    }

    /// The prefixes of `namespace` strictly containing `net`, longest first.
    async fn containers(
        &self,
        view: &BranchView,
        namespace: NodeId,
        net: &IpNet,
        identifier: &str,
    ) -> Result<Vec<Stored>> {
        let keys: Vec<Value> = net
            .container_keys()
            .into_iter()
            .map(Value::String)
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let query = NodeQuery {
            labels: vec![IP_PREFIX.into()],
            filters: vec![
                Filter::Attribute {
                    name: KEY_ATTRIBUTE.into(),
                    property: Property::Value,
                    matches: Match::In(keys),
                },
                Filter::Linked {
                    identifier: identifier.into(),
                    side: infrahub_graph::Side::Either,
                    peers: vec![namespace],
                },
            ],
            select: Selection {
                attributes: Some(vec![KEY_ATTRIBUTE.into()]),
                links: Vec::new(),
            },
            ..NodeQuery::default()
        };
        let mut found: Vec<Stored> = self
            .store()
            .query(view, &query)
            .await?
            .nodes
            .into_iter()
            .filter_map(|node| {
                Some(Stored {
                    net: key_of(&node)?,
                    id: node.id,
                    kind: node.kind,
                    up: None,
                })
            })
            .collect();
        found.sort_by(|a, b| b.net.length.cmp(&a.net.length).then(a.id.cmp(&b.id)));
        Ok(found)
    }

    /// The prefixes or addresses of `namespace` inside `net` (itself included), with the
    /// node each hangs from (parent or prefix).
    pub(crate) async fn inside(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        role: IpamRole,
        namespace: NodeId,
        net: &IpNet,
    ) -> Result<Vec<Stored>> {
        let Some(generic) = schema.get(role.label()) else {
            return Ok(Vec::new());
        };
        let (Some(namespace_link), Some(up)) = (
            generic.relationship(NAMESPACE),
            generic.relationship(match role {
                IpamRole::Prefix => PARENT,
                IpamRole::Address => IP_PREFIX_LINK,
            }),
        ) else {
            return Ok(Vec::new());
        };
        let up_selection = links::selection(up);
        let query = NodeQuery {
            labels: vec![role.label().into()],
            filters: vec![
                Filter::Attribute {
                    name: KEY_ATTRIBUTE.into(),
                    property: Property::Value,
                    matches: Match::Between(
                        Value::String(net.first_key()),
                        Value::String(net.last_key()),
                    ),
                },
                Filter::Linked {
                    identifier: namespace_link.identifier().to_string(),
                    side: links::side(namespace_link),
                    peers: vec![namespace],
                },
            ],
            select: Selection {
                attributes: Some(vec![KEY_ATTRIBUTE.into()]),
                links: vec![up_selection.clone()],
            },
            ..NodeQuery::default()
        };
        Ok(self
            .store()
            .query(view, &query)
            .await?
            .nodes
            .into_iter()
            .filter_map(|node| {
                let up = node
                    .links
                    .iter()
                    .find(|l| {
                        l.identifier == up_selection.identifier
                            && (up_selection.side == infrahub_graph::Side::Either
                                || l.side == up_selection.side)
                    })
                    .map(|l| l.peer);
                Some(Stored {
                    net: key_of(&node)?,
                    id: node.id,
                    kind: node.kind,
                    up,
                })
            })
            .collect())
    }

    /// The operations that keep the IPAM hierarchy right once `change` is written: its own
    /// key, parent or prefix and `is_top_level`, and the links of the nodes it takes from or
    /// gives back to another prefix. `gone` are prefixes the same changeset deletes, each
    /// with the prefix what hung from it goes to (see [`Engine::ipam_deletes`]). Returns
    /// where the node hung from before, through deleted prefixes.
    pub(crate) async fn ipam_ops(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        change: &Move,
        gone: &BTreeMap<NodeId, Option<NodeId>>,
        ops: &mut Vec<Op>,
    ) -> Result<Option<NodeId>> {
        let resolve = |mut id: Option<NodeId>| {
            for _ in 0..=gone.len() {
                match id.and_then(|i| gone.get(&i)) {
                    Some(next) => id = *next,
                    None => break,
                }
            }
            id
        };
        let Some(generic) = schema.get(change.role.label()) else {
            return Ok(None);
        };
        // Containers are prefixes, linked to their namespace as prefixes are.
        let namespace_identifier = schema
            .get(IP_PREFIX)
            .and_then(|prefix| prefix.relationship(NAMESPACE))
            .map(|r| r.identifier().to_string())
            .unwrap_or_default();
        let model_of = |kind: &str| schema.get(kind);
        // Where the node hung from before (its current parent or prefix).
        let stored_up = match change.from {
            Some(_) => {
                let up = generic.relationship(match change.role {
                    IpamRole::Prefix => PARENT,
                    IpamRole::Address => IP_PREFIX_LINK,
                });
                match up {
                    Some(up) => {
                        let selection = Selection {
                            attributes: Some(Vec::new()),
                            links: vec![links::selection(up)],
                        };
                        self.store()
                            .get_nodes(view, &[change.id], &selection)
                            .await?
                            .first()
                            .and_then(|n| n.links.first().map(|l| l.peer))
                    }
                    None => None,
                }
            }
            None => None,
        };
        if change.from == change.to {
            return Ok(stored_up);
        }
        let old_up = resolve(stored_up);
        // Its new parent or prefix.
        let new_up = match change.to {
            Some(place) => self
                .containers(view, place.namespace, &place.net, &namespace_identifier)
                .await?
                .into_iter()
                .find(|p| p.id != change.id && !gone.contains_key(&p.id)),
            None => None,
        };
        let own_model = Some(change.kind.clone());
        if let Some(place) = change.to {
            let scope = own_model
                .as_deref()
                .and_then(model_of)
                .map_or(infrahub_graph::Scope::Branch, |m| {
                    links::scope(Some(m.branch))
                });
            ops.push(Op::SetAttribute {
                node: change.id,
                name: KEY_ATTRIBUTE.into(),
                value: AttributeValue::new(Value::String(place.net.key())),
                scope,
                indexed: true,
            });
        }
        let up_of = |role: IpamRole, kind: &str| -> Option<&RelationshipSchema> {
            model_of(kind)?.relationship(match role {
                IpamRole::Prefix => PARENT,
                IpamRole::Address => IP_PREFIX_LINK,
            })
        };
        // The node itself.
        let own_up = own_model
            .as_deref()
            .and_then(|kind| up_of(change.role, kind))
            .or_else(|| {
                generic.relationship(match change.role {
                    IpamRole::Prefix => PARENT,
                    IpamRole::Address => IP_PREFIX_LINK,
                })
            });
        if change.to.is_some()
            && let Some(relationship) = own_up
        {
            let new_id = new_up.as_ref().map(|p| p.id);
            if stored_up != new_id {
                if let Some(old) = stored_up.filter(|o| !gone.contains_key(o)) {
                    ops.push(links::remove(relationship, change.id, old));
                }
                if let Some(new) = new_id {
                    ops.push(links::set(
                        relationship,
                        change.id,
                        new,
                        hierarchy_properties(relationship),
                    ));
                }
            }
            if change.role == IpamRole::Prefix {
                self.top_level_op(
                    schema,
                    own_model.as_deref(),
                    change.id,
                    new_id.is_none(),
                    ops,
                );
            }
        }
        if change.role == IpamRole::Address {
            return Ok(old_up);
        }
        // A prefix: what hung from it before goes back to its old parent, unless it still
        // lies inside it; what now lies inside it and hung from its new parent comes to it.
        let mut moved: BTreeMap<NodeId, (IpamRole, String, Option<NodeId>, Option<NodeId>)> =
            BTreeMap::new();
        if let Some(from) = change.from {
            for role in [IpamRole::Prefix, IpamRole::Address] {
                for below in self
                    .inside(view, schema, role, from.namespace, &from.net)
                    .await?
                {
                    if below.id == change.id || below.up != Some(change.id) {
                        continue;
                    }
                    let stays = change.to.is_some_and(|to| {
                        to.namespace == from.namespace
                            && to.net.contains(&below.net)
                            && below.net != to.net
                    });
                    if !stays {
                        moved.insert(
                            below.id,
                            (role, below.kind.clone(), Some(change.id), old_up),
                        );
                    }
                }
            }
        }
        if let Some(to) = change.to {
            let new_id = new_up.as_ref().map(|p| p.id);
            for role in [IpamRole::Prefix, IpamRole::Address] {
                for below in self
                    .inside(view, schema, role, to.namespace, &to.net)
                    .await?
                {
                    if below.id == change.id || gone.contains_key(&below.id) {
                        continue;
                    }
                    if role == IpamRole::Prefix && below.net.length <= to.net.length {
                        // The same network again, or a container with the same address.
                        continue;
                    }
                    // Where it would hang without this prefix.
                    let effective = if below.up == Some(change.id) {
                        old_up
                    } else {
                        below.up
                    };
                    if effective == new_id || below.up == Some(change.id) {
                        moved.insert(
                            below.id,
                            (role, below.kind.clone(), below.up, Some(change.id)),
                        );
                    }
                }
            }
        }
        for (id, (role, kind, from, to)) in moved {
            if from == to || gone.contains_key(&id) {
                continue;
            }
            let Some(relationship) = up_of(role, &kind) else {
                continue;
            };
            // A link to a deleted prefix goes with it.
            if let Some(from) = from.filter(|f| !gone.contains_key(f)) {
                ops.push(links::remove(relationship, id, from));
            }
            if let Some(to) = to {
                ops.push(links::set(
                    relationship,
                    id,
                    to,
                    hierarchy_properties(relationship),
                ));
            }
            if role == IpamRole::Prefix {
                self.top_level_op(schema, Some(&kind), id, to.is_none(), ops);
            }
        }
        Ok(old_up)
    }

    /// Places a node being created: its namespace (the default one when not given, added to
    /// `peers` and `ops`), then the hierarchy. Returns the IPAM lock, to hold until the
    /// changeset is committed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn place_created(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        role: IpamRole,
        id: NodeId,
        values: &BTreeMap<String, Value>,
        peers: &mut BTreeMap<String, Vec<NodeId>>,
        ops: &mut Vec<Op>,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        let mut namespace = peers.get(NAMESPACE).and_then(|p| p.first()).copied();
        if namespace.is_none()
            && let Some(relationship) = model.relationship(NAMESPACE)
        {
            let default = self.default_namespace(view).await?;
            ops.push(links::set(
                relationship,
                id,
                default,
                LinkProperties::visible(),
            ));
            peers.insert(relationship.name.clone(), vec![default]);
            namespace = Some(default);
        }
        let guard = self.ipam_lock(&view.branch).await;
        let change = Move {
            id,
            kind: model.kind(),
            role,
            from: None,
            to: Place::of(role, values, namespace)?,
        };
        self.ipam_ops(view, schema, &change, &BTreeMap::new(), ops)
            .await?;
        Ok(guard)
    }

    /// Places a node being updated when its value or namespace changes. Returns the IPAM
    /// lock when it moved, to hold until the changeset is committed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn place_updated(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        role: IpamRole,
        current: &super::Node,
        values: &BTreeMap<String, Value>,
        peers: &BTreeMap<String, Vec<NodeId>>,
        ops: &mut Vec<Op>,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        let before: BTreeMap<String, Value> = current
            .attributes
            .iter()
            .map(|(k, a)| (k.clone(), a.value.clone()))
            .collect();
        let old_namespace = current.peers(NAMESPACE).first().map(|p| p.id);
        let new_namespace = match peers.get(NAMESPACE) {
            Some(given) => match given.first() {
                Some(namespace) => Some(*namespace),
                None => Some(self.default_namespace(view).await?),
            },
            None => old_namespace,
        };
        let from = Place::of(role, &before, old_namespace)?;
        let to = Place::of(role, values, new_namespace)?;
        if from == to {
            return Ok(None);
        }
        if let Some(from) = from {
            self.ip_space_freed(&from.net);
        }
        let guard = self.ipam_lock(&view.branch).await;
        let change = Move {
            id: current.id,
            kind: model.kind(),
            role,
            from,
            to,
        };
        self.ipam_ops(view, schema, &change, &BTreeMap::new(), ops)
            .await?;
        Ok(Some(guard))
    }

    /// The operations that keep the IPAM hierarchy right when `doomed` are deleted: what hung
    /// from a deleted prefix goes to the nearest prefix above it that stays. To be placed
    /// before the deletes in the changeset.
    pub(crate) async fn ipam_deletes(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        doomed: &BTreeMap<NodeId, super::Node>,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        let mut prefixes = Vec::new();
        for node in doomed.values() {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            let Some(role) = IpamRole::of(model) else {
                continue;
            };
            // Pools may hand the space out again.
            let values: BTreeMap<String, Value> = node
                .attributes
                .iter()
                .map(|(k, a)| (k.clone(), a.value.clone()))
                .collect();
            let namespace = node.peers(NAMESPACE).first().map(|p| p.id);
            if let Ok(Some(place)) = Place::of(role, &values, namespace) {
                self.ip_space_freed(&place.net);
            }
            if role != IpamRole::Prefix {
                continue;
            }
            let namespace = node.peers(NAMESPACE).first().map(|p| p.id);
            if namespace.is_some_and(|n| doomed.contains_key(&n)) {
                continue;
            }
            let values: BTreeMap<String, Value> = node
                .attributes
                .iter()
                .map(|(k, a)| (k.clone(), a.value.clone()))
                .collect();
            if let Some(place) = Place::of(IpamRole::Prefix, &values, namespace)? {
                prefixes.push((node.id, node.kind.clone(), place));
            }
        }
        if prefixes.is_empty() {
            return Ok(());
        }
        // Outermost first, so that an inner deleted prefix's parent is already resolved.
        prefixes.sort_by_key(|(_, _, place)| place.net.length);
        let mut gone: BTreeMap<NodeId, Option<NodeId>> =
            doomed.keys().map(|id| (*id, None)).collect();
        for (id, kind, place) in prefixes {
            let change = Move {
                id,
                kind,
                role: IpamRole::Prefix,
                from: Some(place),
                to: None,
            };
            let up = self.ipam_ops(view, schema, &change, &gone, ops).await?;
            gone.insert(id, up);
        }
        Ok(())
    }

    fn top_level_op(
        &self,
        schema: &SchemaBranch,
        kind: Option<&str>,
        id: NodeId,
        top: bool,
        ops: &mut Vec<Op>,
    ) {
        let model = kind
            .and_then(|k| schema.get(k))
            .or_else(|| schema.get(IP_PREFIX));
        let Some(attribute) = model.and_then(|m| m.attribute(TOP_LEVEL)) else {
            return;
        };
        ops.push(Op::SetAttribute {
            node: id,
            name: TOP_LEVEL.into(),
            value: AttributeValue::new(Value::Bool(top)),
            scope: links::scope(attribute.branch),
            indexed: true,
        });
    }
}

/// The properties of a parent or prefix link the reconciler writes.
fn hierarchy_properties(relationship: &RelationshipSchema) -> LinkProperties {
    LinkProperties {
        hierarchy: relationship.hierarchical.clone(),
        ..LinkProperties::visible()
    }
}

/// The prefix attributes computed when read, not stored.
pub(crate) const DERIVED: &[&str] = &[
    "netmask",
    "hostmask",
    "network_address",
    "broadcast_address",
    "utilization",
];

/// What the derived attributes of a prefix need read.
pub(crate) const DERIVED_NEEDS: &[&str] = &["prefix", "member_type", "is_pool"];

/// Whether `fields` ask for a derived prefix attribute.
pub(crate) fn wants_derived(fields: &super::Fields) -> bool {
    fields
        .attributes
        .as_ref()
        .is_none_or(|a| a.iter().any(|n| DERIVED.contains(&n.as_str())))
}

impl Engine {
    /// Fills the derived attributes of the prefixes among `nodes` that `fields` ask for:
    /// masks and addresses from the prefix, utilization from what it holds. `raw` holds each
    /// node's stored [`DERIVED_NEEDS`].
    pub(crate) async fn ipam_derived(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        nodes: &mut [super::Node],
        fields: &super::Fields,
        raw: &std::collections::HashMap<NodeId, BTreeMap<String, Value>>,
    ) -> Result<()> {
        let wanted = |name: &str| {
            fields
                .attributes
                .as_ref()
                .is_none_or(|a| a.iter().any(|n| n == name))
        };
        for node in nodes.iter_mut() {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            if IpamRole::of(model) != Some(IpamRole::Prefix) {
                continue;
            }
            let Some(stored) = raw.get(&node.id) else {
                continue;
            };
            let Some(net) = stored
                .get(PREFIX)
                .and_then(Value::as_str)
                .and_then(|text| IpNet::parse_network(text).ok())
            else {
                continue;
            };
            let max = if net.v6 {
                u128::MAX
            } else {
                u128::from(u32::MAX)
            };
            let host = net.last() - net.address;
            let texts = [
                (
                    "netmask",
                    crate::ipam::ip_of(net.v6, !host & max).to_string(),
                ),
                ("hostmask", crate::ipam::ip_of(net.v6, host).to_string()),
                ("network_address", net.address_text()),
                (
                    "broadcast_address",
                    crate::ipam::ip_of(net.v6, net.last()).to_string(),
                ),
            ];
            for (name, text) in texts {
                if wanted(name)
                    && let Some(attribute) = node.attributes.get_mut(name)
                {
                    attribute.value = Value::String(text);
                }
            }
            if wanted("utilization") && node.attributes.contains_key("utilization") {
                let percent = self.utilization(view, model, node.id, &net, stored).await?;
                if let Some(attribute) = node.attributes.get_mut("utilization") {
                    attribute.value = Value::from(percent);
                }
            }
        }
        Ok(())
    }

    /// How much of prefix `id` is used, in percent, as upstream computes it: the space of its
    /// child prefixes for a prefix of prefixes, its addresses over the usable addresses for a
    /// prefix of addresses.
    async fn utilization(
        &self,
        view: &BranchView,
        model: &ModelSchema,
        id: NodeId,
        net: &IpNet,
        stored: &BTreeMap<String, Value>,
    ) -> Result<i64> {
        let (used, total) = self.usage(view, model, id, net, stored).await?;
        Ok(crate::ipam::percent(used, total))
    }

    /// The used and total space of prefix `id` (see [`Engine::ipam_derived`]).
    pub(crate) async fn usage(
        &self,
        view: &BranchView,
        model: &ModelSchema,
        id: NodeId,
        net: &IpNet,
        stored: &BTreeMap<String, Value>,
    ) -> Result<(f64, f64)> {
        let member_type = stored
            .get("member_type")
            .and_then(Value::as_str)
            .unwrap_or("address");
        let whole = stored
            .get("is_pool")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if member_type == "prefix" {
            let Some(children) = model.relationship("children") else {
                return Ok((0.0, net.size()));
            };
            let selection = Selection {
                attributes: Some(Vec::new()),
                links: vec![links::selection(children)],
            };
            let ids: Vec<NodeId> = self
                .store()
                .get_nodes(view, &[id], &selection)
                .await?
                .first()
                .map(|n| n.links.iter().map(|l| l.peer).collect())
                .unwrap_or_default();
            let keys = Selection {
                attributes: Some(vec![KEY_ATTRIBUTE.into()]),
                links: Vec::new(),
            };
            let used: f64 = self
                .store()
                .get_nodes(view, &ids, &keys)
                .await?
                .iter()
                .filter_map(key_of)
                .map(|child| child.size())
                .sum();
            Ok((used, net.size()))
        } else {
            let Some(addresses) = model.relationship("ip_addresses") else {
                return Ok((0.0, net.usable(whole)));
            };
            let selection = Selection {
                attributes: Some(Vec::new()),
                links: vec![links::selection(addresses)],
            };
            let count = self
                .store()
                .get_nodes(view, &[id], &selection)
                .await?
                .first()
                .map_or(0, |n| n.links.len());
            Ok((count as f64, net.usable(whole)))
        }
    }
}

impl Engine {
    /// Puts every IPAM node whose place changed between `from` and `to` on the default branch
    /// (a merge), and everything inside the prefixes among them, back where it belongs: after
    /// a merge the branch's hierarchy and the default branch's may both have moved the same
    /// node, as upstream's reconciliation after merge repairs.
    pub(crate) async fn reconcile_after_merge(
        &self,
        from: infrahub_graph::Timestamp,
        to: infrahub_graph::Timestamp,
    ) -> Result<()> {
        let main = self.default_branch().to_string();
        let moved: std::collections::BTreeSet<NodeId> = self
            .store()
            .changes(&main, from, to)
            .await?
            .into_iter()
            .filter_map(|change| match change.slot {
                infrahub_graph::Slot::Attribute { node, name }
                    if name == KEY_ATTRIBUTE || name == PREFIX || name == ADDRESS =>
                {
                    Some(node)
                }
                _ => None,
            })
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let _lock = self.ipam_lock(&main).await;
        let view = BranchView::now(&main);
        let schema = self.schema(&main)?;
        let mut todo: std::collections::BTreeSet<NodeId> = moved.clone();
        for id in &moved {
            let Some((role, place, _, _)) = self.ipam_place(&view, &schema, *id).await? else {
                continue;
            };
            if role == IpamRole::Prefix {
                for inside_role in [IpamRole::Prefix, IpamRole::Address] {
                    for below in self
                        .inside(&view, &schema, inside_role, place.namespace, &place.net)
                        .await?
                    {
                        todo.insert(below.id);
                    }
                }
            }
        }
        let mut ops = Vec::new();
        for id in todo {
            self.reconcile_node(&view, &schema, id, &mut ops).await?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        let mut changeset = infrahub_graph::Changeset::new(&main);
        changeset.ops = ops;
        self.store().commit(changeset).await?;
        Ok(())
    }

    /// The role, place and kind of IPAM node `id` on `view`, if it is one with a place.
    async fn ipam_place(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        id: NodeId,
    ) -> Result<Option<(IpamRole, Place, String, bool)>> {
        let Some(kind) = self
            .store()
            .get_nodes(view, &[id], &Selection::nothing())
            .await?
            .pop()
            .map(|n| n.kind)
        else {
            return Ok(None);
        };
        let Some(model) = schema.get(&kind) else {
            return Ok(None);
        };
        let Some(role) = IpamRole::of(model) else {
            return Ok(None);
        };
        let Some(namespace_link) = model.relationship(NAMESPACE) else {
            return Ok(None);
        };
        let value_name = match role {
            IpamRole::Prefix => PREFIX,
            IpamRole::Address => ADDRESS,
        };
        let data = self
            .store()
            .get_nodes(
                view,
                &[id],
                &Selection {
                    attributes: Some(vec![KEY_ATTRIBUTE.into(), value_name.into()]),
                    links: vec![links::selection(namespace_link)],
                },
            )
            .await?
            .pop();
        let Some(data) = data else {
            return Ok(None);
        };
        let Some(namespace) = data.links.first().map(|l| l.peer) else {
            return Ok(None);
        };
        // The value is the truth: the key follows it (a merge may have kept one side's value
        // and the other side's key).
        let values: BTreeMap<String, Value> = data
            .attributes
            .get(value_name)
            .map(|a| (value_name.to_string(), a.value.value.clone()))
            .into_iter()
            .collect();
        let Some(place) = Place::of(role, &values, Some(namespace)).ok().flatten() else {
            return Ok(None);
        };
        let key_matches = key_of(&data) == Some(place.net);
        Ok(Some((role, place, kind, key_matches)))
    }

    /// The operations that give IPAM node `id` exactly the parent (or prefix) it should have
    /// on `view`, and its `is_top_level`.
    async fn reconcile_node(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        id: NodeId,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        let Some((role, place, kind, key_matches)) = self.ipam_place(view, schema, id).await?
        else {
            return Ok(());
        };
        if !key_matches {
            let scope = schema
                .get(&kind)
                .map_or(infrahub_graph::Scope::Branch, |m| {
                    links::scope(Some(m.branch))
                });
            ops.push(Op::SetAttribute {
                node: id,
                name: KEY_ATTRIBUTE.into(),
                value: AttributeValue::new(Value::String(place.net.key())),
                scope,
                indexed: true,
            });
        }
        let namespace_identifier = schema
            .get(IP_PREFIX)
            .and_then(|prefix| prefix.relationship(NAMESPACE))
            .map(|r| r.identifier().to_string())
            .unwrap_or_default();
        let wanted = self
            .containers(view, place.namespace, &place.net, &namespace_identifier)
            .await?
            .into_iter()
            .find(|p| p.id != id)
            .map(|p| p.id);
        let Some(relationship) = schema.get(&kind).and_then(|m| {
            m.relationship(match role {
                IpamRole::Prefix => PARENT,
                IpamRole::Address => IP_PREFIX_LINK,
            })
        }) else {
            return Ok(());
        };
        let current: Vec<NodeId> = self
            .store()
            .get_nodes(
                view,
                &[id],
                &Selection {
                    attributes: Some(Vec::new()),
                    links: vec![links::selection(relationship)],
                },
            )
            .await?
            .pop()
            .map(|n| n.links.iter().map(|l| l.peer).collect())
            .unwrap_or_default();
        if current.len() == usize::from(wanted.is_some()) && current.first().copied() == wanted {
            return Ok(());
        }
        for peer in &current {
            if Some(*peer) != wanted {
                ops.push(links::remove(relationship, id, *peer));
            }
        }
        if let Some(wanted) = wanted
            && !current.contains(&wanted)
        {
            ops.push(links::set(
                relationship,
                id,
                wanted,
                hierarchy_properties(relationship),
            ));
        }
        if role == IpamRole::Prefix {
            self.top_level_op(schema, Some(&kind), id, wanted.is_none(), ops);
        }
        Ok(())
    }
}
