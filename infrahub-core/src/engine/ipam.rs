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

use std::collections::{BTreeMap, BTreeSet};

use infrahub_graph::{
    AttributeValue, BranchView, Filter, LinkProperties, Match, NodeData, NodeId, NodeQuery, Op,
    Property, Selection,
};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::ipam::IpNet;
use crate::schema::{IP_ADDRESS, IP_PREFIX, ModelSchema, RelationshipSchema, SchemaBranch};

use super::ipam_usage::UsageChanges;
use super::{Engine, links};

/// A node the hierarchy moves: its role, kind and network, where it hung from and where it
/// goes.
type Moved = (IpamRole, String, IpNet, Option<NodeId>, Option<NodeId>);

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

    /// Whether `slot` is one the IPAM reconciliation writes (`is_top_level` of a prefix, a
    /// `parent` or `ip_prefix` link): made right after every merge and rebase, so never a
    /// conflict for the user to resolve.
    pub(crate) async fn ipam_managed(
        &self,
        branch: &str,
        slot: &infrahub_graph::Slot,
    ) -> Result<bool> {
        match slot {
            infrahub_graph::Slot::Attribute { node, name } if name == TOP_LEVEL => {
                // The node may be gone on either side.
                for side in [branch, self.default_branch()] {
                    if let Some(found) = self
                        .store()
                        .get_nodes(&BranchView::now(side), &[*node], &Selection::nothing())
                        .await?
                        .first()
                    {
                        return Ok(found.labels.iter().any(|l| l == IP_PREFIX));
                    }
                }
                Ok(false)
            }
            infrahub_graph::Slot::Link { identifier, .. } => {
                Ok(hierarchy_identifiers(&*self.schema(branch)?).contains(identifier))
            }
            _ => Ok(false),
        }
    }

    /// The hierarchy links `branch` wrote to or from a node the default branch no longer has:
    /// not carried by a merge or rebase (the reconciliation after it places the nodes again),
    /// where they would otherwise refuse it.
    pub(crate) async fn ipam_dangling(
        &self,
        branch: &str,
    ) -> Result<Vec<(infrahub_graph::Slot, infrahub_graph::SlotProperty)>> {
        let record = self.store().get_branch(branch).await?;
        let epoch = record.current_epoch();
        let now = self.store().last_commit().await?;
        let hierarchy = hierarchy_identifiers(&*self.schema(branch)?);
        let mut links = Vec::new();
        // The nodes the branch created: the merge or rebase creates them too.
        let mut created = BTreeSet::new();
        for change in self
            .store()
            .changes(branch, epoch.start.plus_micros(-1), now)
            .await?
        {
            if let infrahub_graph::Slot::Node { id } = change.slot {
                // Changes come oldest first: the last says whether the node is there.
                if change.after.status == infrahub_graph::Status::Active {
                    created.insert(id);
                } else {
                    created.remove(&id);
                }
            } else if let infrahub_graph::Slot::Link { identifier, .. } = &change.slot
                && hierarchy.contains(identifier)
            {
                links.push(change.slot);
            }
        }
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let ends: BTreeSet<NodeId> = links
            .iter()
            .filter_map(|slot| match slot {
                infrahub_graph::Slot::Link { from, to, .. } => Some([*from, *to]),
                _ => None,
            })
            .flatten()
            .collect();
        let ends: Vec<NodeId> = ends.into_iter().collect();
        let present: BTreeSet<NodeId> = self
            .store()
            .get_nodes(
                &BranchView::now(self.default_branch()),
                &ends,
                &Selection::nothing(),
            )
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
        let mut dangling: Vec<_> = links
            .into_iter()
            .filter(|slot| match slot {
                // An end neither the default branch has nor the branch creates.
                infrahub_graph::Slot::Link { from, to, .. } => [from, to]
                    .iter()
                    .any(|end| !present.contains(end) && !created.contains(end)),
                _ => false,
            })
            .map(|slot| (slot, infrahub_graph::SlotProperty::Existence))
            .collect();
        dangling.dedup();
        Ok(dangling)
    }

    /// The lock IPAM writes of one branch take, held until their changeset is committed.
    pub(crate) async fn ipam_lock(&self, branch: &str) -> Result<super::locks::EngineLock> {
        self.named_lock(&format!("global.ipam.{branch}")).await
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
        usage: &mut UsageChanges,
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
        let above: Vec<Stored> = match change.to {
            Some(place) => self
                .containers(view, place.namespace, &place.net, &namespace_identifier)
                .await?
                .into_iter()
                .filter(|p| p.id != change.id)
                .collect(),
            None => Vec::new(),
        };
        let new_up = above.iter().find(|p| !gone.contains_key(&p.id)).cloned();
        // What the old and new parent (or prefix) hold.
        if let (Some(from), Some(old)) = (change.from, stored_up)
            && !gone.contains_key(&old)
        {
            usage.remove(old, change.role, &from.net);
        }
        if let (Some(to), Some(new)) = (change.to, new_up.as_ref()) {
            usage.add(new.id, change.role, &to.net);
        }
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
        let mut moved: BTreeMap<NodeId, Moved> = BTreeMap::new();
        let live = |below: &Stored| below.id != change.id && !gone.contains_key(&below.id);
        if let Some(from) = change.from {
            let mut old_inside = Vec::new();
            for role in [IpamRole::Prefix, IpamRole::Address] {
                for below in self
                    .inside(view, schema, role, from.namespace, &from.net)
                    .await?
                {
                    old_inside.push((role, below));
                }
            }
            // Another prefix of the same network takes what leaves this one, else its parent.
            let twin = old_inside
                .iter()
                .filter(|(role, below)| {
                    *role == IpamRole::Prefix && below.net == from.net && live(below)
                })
                .map(|(_, below)| below.id)
                .min();
            for (role, below) in old_inside {
                if below.id == change.id || below.up != Some(change.id) {
                    continue;
                }
                // What stays inside it is placed below.
                let stays = change.to.is_some_and(|to| {
                    to.namespace == from.namespace
                        && to.net.contains(&below.net)
                        && below.net != to.net
                });
                if !stays {
                    moved.insert(
                        below.id,
                        (
                            role,
                            below.kind.clone(),
                            below.net,
                            Some(change.id),
                            twin.or(old_up),
                        ),
                    );
                }
            }
        }
        if let Some(to) = change.to {
            let mut new_inside = Vec::new();
            for role in [IpamRole::Prefix, IpamRole::Address] {
                for below in self
                    .inside(view, schema, role, to.namespace, &to.net)
                    .await?
                {
                    new_inside.push((role, below));
                }
            }
            // The prefixes inside it by key, to find the closest container of what hung from
            // it before and still lies inside it.
            let mut by_key: std::collections::HashMap<String, NodeId> =
                std::collections::HashMap::new();
            for (role, below) in &new_inside {
                if *role == IpamRole::Prefix && live(below) {
                    let entry = by_key.entry(below.net.key()).or_insert(below.id);
                    *entry = (*entry).min(below.id);
                }
            }
            for (role, below) in new_inside {
                if !live(&below) {
                    continue;
                }
                if role == IpamRole::Prefix && below.net.length <= to.net.length {
                    // The same network again, or a container with the same address.
                    continue;
                }
                if below.up == Some(change.id) {
                    // It hung from this prefix and still lies inside it: it goes to the
                    // closest prefix containing it there, this one if none.
                    let between = below.net.length.saturating_sub(to.net.length + 1);
                    let closest = below
                        .net
                        .container_keys()
                        .into_iter()
                        .take(usize::from(between))
                        .find_map(|key| by_key.get(&key).copied());
                    if let Some(closest) = closest {
                        moved.insert(
                            below.id,
                            (role, below.kind.clone(), below.net, below.up, Some(closest)),
                        );
                    }
                } else if below.up.is_none_or(|up| above.iter().any(|p| p.id == up)) {
                    // It hung from a prefix containing this one (or from none): this one is
                    // closer.
                    moved.insert(
                        below.id,
                        (
                            role,
                            below.kind.clone(),
                            below.net,
                            below.up,
                            Some(change.id),
                        ),
                    );
                }
            }
        }
        for (id, (role, kind, net, from, to)) in moved {
            if from == to || gone.contains_key(&id) {
                continue;
            }
            if let Some(from) = from.filter(|f| !gone.contains_key(f)) {
                usage.remove(from, role, &net);
            }
            if let Some(to) = to {
                usage.add(to, role, &net);
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
    ) -> Result<super::locks::EngineLock> {
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
        let guard = self.ipam_lock(&view.branch).await?;
        let change = Move {
            id,
            kind: model.kind(),
            role,
            from: None,
            to: Place::of(role, values, namespace)?,
        };
        let mut usage = UsageChanges::default();
        self.ipam_ops(view, schema, &change, &BTreeMap::new(), ops, &mut usage)
            .await?;
        self.usage_ops(
            view,
            schema,
            usage,
            &BTreeSet::new(),
            Some((id, model.kind())),
            ops,
        )
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
    ) -> Result<Option<super::locks::EngineLock>> {
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
        let guard = self.ipam_lock(&view.branch).await?;
        let change = Move {
            id: current.id,
            kind: model.kind(),
            role,
            from,
            to,
        };
        let mut usage = UsageChanges::default();
        self.ipam_ops(view, schema, &change, &BTreeMap::new(), ops, &mut usage)
            .await?;
        self.usage_ops(view, schema, usage, &BTreeSet::new(), None, ops)
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
        let mut usage = UsageChanges::default();
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
                // A deleted address leaves its prefix (a deleted prefix leaves its parent
                // through `ipam_ops` below).
                if role == IpamRole::Address
                    && let Some(up) = node.peers(IP_PREFIX_LINK).first()
                    && !doomed.contains_key(&up.id)
                {
                    usage.remove(up.id, role, &place.net);
                }
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
        let doomed_ids: BTreeSet<NodeId> = doomed.keys().copied().collect();
        if prefixes.is_empty() {
            return self
                .usage_ops(view, schema, usage, &doomed_ids, None, ops)
                .await;
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
            let up = self
                .ipam_ops(view, schema, &change, &gone, ops, &mut usage)
                .await?;
            gone.insert(id, up);
        }
        self.usage_ops(view, schema, usage, &doomed_ids, None, ops)
            .await
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

/// The identifiers of the links the reconciliation writes: prefixes' `parent`, addresses'
/// `ip_prefix`.
fn hierarchy_identifiers(schema: &SchemaBranch) -> BTreeSet<String> {
    [(IP_PREFIX, PARENT), (IP_ADDRESS, IP_PREFIX_LINK)]
        .into_iter()
        .filter_map(|(kind, name)| schema.get(kind)?.relationship(name))
        .map(|r| r.identifier().to_string())
        .collect()
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
        let held = self.held(view, id).await?;
        if member_type == "prefix" {
            if model.relationship("children").is_none() {
                return Ok((0.0, net.size()));
            }
            Ok((held.space as f64, net.size()))
        } else {
            if model.relationship("ip_addresses").is_none() {
                return Ok((0.0, net.usable(whole)));
            }
            Ok((held.addresses as f64, net.usable(whole)))
        }
    }
}

impl Engine {
    /// Puts every IPAM node whose place changed between `from` and `to` on the default branch
    /// (a merge), and everything inside the prefixes among them, back where it belongs: after
    /// a merge the branch's hierarchy and the default branch's may both have moved the same
    /// node, as upstream's reconciliation after merge repairs. What the prefixes involved hold
    /// is counted again (the branch's deltas stay on the branch), and the merged branch is
    /// moved past these repairs.
    pub(crate) async fn reconcile_after_merge(
        &self,
        merged: &str,
        from: infrahub_graph::Timestamp,
        to: infrahub_graph::Timestamp,
    ) -> Result<()> {
        let main = self.default_branch().to_string();
        if self.reconcile(&main, &[(main.as_str(), from, to)]).await? {
            // The merged branch goes on from the default branch as the merge left it: it is
            // moved past these repairs, as a rebase moves it (it has no changes of its own
            // yet), so that it sees the hierarchy and totals right too.
            let _branch_lock = self.ipam_lock(merged).await?;
            self.store()
                .rebase_branch(merged, infrahub_graph::RebaseOptions::default())
                .await?;
        }
        Ok(())
    }

    /// The same on `branch` after a rebase: the default branch's changes between `from` (where
    /// the branch started from) and `to` (the rebase) meet the branch's own, replayed at `to`.
    pub(crate) async fn reconcile_after_rebase(
        &self,
        branch: &str,
        from: infrahub_graph::Timestamp,
        to: infrahub_graph::Timestamp,
    ) -> Result<()> {
        let main = self.default_branch().to_string();
        let before = to.plus_micros(-1);
        self.reconcile(branch, &[(main.as_str(), from, to), (branch, before, to)])
            .await?;
        Ok(())
    }

    /// Reconciles, on `branch`, the IPAM nodes the changes of `windows` (a branch and a time
    /// range each) moved, and counts again what the prefixes involved hold. Returns whether
    /// anything was written.
    async fn reconcile(
        &self,
        branch: &str,
        windows: &[(&str, infrahub_graph::Timestamp, infrahub_graph::Timestamp)],
    ) -> Result<bool> {
        let schema = self.schema(branch)?;
        let hierarchy = hierarchy_identifiers(&schema);
        let mut moved = BTreeSet::new();
        // The prefixes whose children or addresses changed: what they hold is counted again.
        let mut recount = BTreeSet::new();
        for (written_on, from, to) in windows {
            for change in self.store().changes(written_on, *from, *to).await? {
                match change.slot {
                    infrahub_graph::Slot::Attribute { node, name }
                        if name == KEY_ATTRIBUTE || name == PREFIX || name == ADDRESS =>
                    {
                        moved.insert(node);
                    }
                    infrahub_graph::Slot::Link {
                        identifier,
                        from,
                        to,
                    } if hierarchy.contains(&identifier) => {
                        recount.insert(from);
                        recount.insert(to);
                    }
                    _ => {}
                }
            }
        }
        if moved.is_empty() && recount.is_empty() {
            return Ok(false);
        }
        let main = branch.to_string();
        let _lock = self.ipam_lock(&main).await?;
        let view = BranchView::now(&main);
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
            let ups = self.reconcile_node(&view, &schema, id, &mut ops).await?;
            recount.extend(ups);
        }
        let reconciled = !ops.is_empty();
        if reconciled {
            let mut changeset = infrahub_graph::Changeset::new(&main);
            changeset.ops = ops;
            self.store().commit(changeset).await?;
        }
        let recounted = self.recount_usage(&main, &recount).await?;
        Ok(reconciled || recounted)
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
    /// on `view`, and its `is_top_level`. Returns the prefixes it hung from and hangs from.
    async fn reconcile_node(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        id: NodeId,
        ops: &mut Vec<Op>,
    ) -> Result<Vec<NodeId>> {
        let Some((role, place, kind, key_matches)) = self.ipam_place(view, schema, id).await?
        else {
            return Ok(Vec::new());
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
            return Ok(Vec::new());
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
        let mut ups = current.clone();
        ups.extend(wanted);
        if current.len() == usize::from(wanted.is_some()) && current.first().copied() == wanted {
            return Ok(ups);
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
        Ok(ups)
    }
}
