//! Resource managers: IP prefix pools, IP address pools and number pools hand out the next
//! free resource, as upstream's do. Allocation is serialised per pool (in this process),
//! idempotent by `identifier` (the same identifier gets the same resource back, on every
//! branch), and sees the space used on every branch, so two branches never get the same
//! resource.
//!
//! Reservations are nodes the engine keeps for itself (branch-agnostic, like the pools, and
//! outside every schema): `~id:<identifier>` holds the reserved node id or number, and for
//! number pools `~n:<number>` the identifier holding it, so that both directions are one index
//! lookup.
//!
//! A number reserved for a node is released once that node holds it no more on any branch (it
//! was deleted, or given another value), as upstream releases it; a number reserved under an
//! identifier that is not a node's id, or for a node not created yet, stays reserved.
//!
//! Each pool remembers (in memory: a hint, rebuilt by searching after a restart) where it
//! found the first free number, or per resource the first free address: below it everything
//! was taken, except the numbers of nodes deleted since (kept beside the hint and tried
//! first). The next number is searched from there and costs the same however many are out.
//! IP pools search on from their mark; a prefix or address deleted or moved below it moves the
//! mark back, so the lowest free block is handed out first, as upstream does (after a restart,
//! or a write by another server, the search falls back to the whole resource before calling it
//! full).

use std::collections::BTreeMap;

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, Filter, Match, NodeId, NodeQuery, Op, Property, Scope,
    Selection,
};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::ipam::{IpNet, ip_of};
use crate::schema::ModelSchema;

use super::input::{AttributeInput, NodeInput, NodeRef, PeerInput, RelationshipInput};
use super::ipam::{IpamRole, KEY_ATTRIBUTE};
use super::{Engine, Fields, links};

/// The label of the nodes holding pool reservations (no schema kind can be named so).
const RESERVATION: &str = "~PoolReservation";

/// Longest identifier a reservation takes.
const MAX_IDENTIFIER: usize = 512;

/// A request for a resource from a pool: upstream's `from_pool` and `...PoolGetResource`
/// inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolInput {
    /// The pool's id.
    pub id: Option<String>,
    /// The pool's human-friendly id (its name).
    pub hfid: Option<Vec<String>>,
    /// Makes the allocation idempotent: the same identifier gets the same resource back.
    pub identifier: Option<String>,
    /// Prefix length of the prefix (or of the address) to allocate.
    pub prefix_length: Option<i64>,
    /// `prefix` or `address`, for a prefix allocated from a prefix pool.
    pub member_type: Option<String>,
    /// Kind of the prefix or address to create.
    pub kind: Option<String>,
    /// Further attribute and relationship values of the node to create.
    pub data: Option<Map<String, Value>>,
}

/// What a pool handed out.
#[derive(Clone, Debug, PartialEq)]
pub enum Allocated {
    /// A prefix or address node (new, or reserved before under the same identifier).
    Node {
        /// Its id.
        id: NodeId,
        /// Its kind.
        kind: String,
        /// Its display label.
        display_label: String,
    },
    /// A number.
    Number(i64),
}

/// The kinds of pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKind {
    Prefix,
    Address,
    Number,
}

fn refused(pool: &str, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Validation, format!("{pool} | {message}"))
}

/// A pool as read for an allocation.
struct Pool {
    id: NodeId,
    kind: PoolKind,
    name: String,
    attributes: BTreeMap<String, Value>,
    resources: Vec<NodeId>,
    namespace: Option<NodeId>,
}

impl Pool {
    fn text(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.attributes.get(name).and_then(Value::as_i64)
    }

    /// `IPPrefixPool: <name>` as upstream prefixes its messages.
    fn label(&self) -> String {
        let kind = match self.kind {
            PoolKind::Prefix => "IPPrefixPool",
            PoolKind::Address => "IPAddressPool",
            PoolKind::Number => "NumberPool",
        };
        format!("{kind}: {}", self.name)
    }
}

impl Engine {
    /// The lock allocations from one pool take.
    async fn pool_lock(&self, pool: NodeId) -> Result<super::locks::EngineLock> {
        self.named_lock(&format!("resource_pool.{pool}")).await
    }

    /// Reads the pool `input` names (by id or name) for an allocation on `branch`.
    async fn read_pool(&self, view: &BranchView, input: &PoolInput) -> Result<Pool> {
        let reference = NodeRef {
            id: input.id.clone(),
            hfid: input.hfid.clone(),
        };
        if reference.id.is_none() && reference.hfid.is_none() {
            return Err(Error::new(
                ErrorKind::Validation,
                "`from_pool` needs the pool's `id` (or `hfid`)",
            ));
        }
        let id = self
            .resolve(view, "CoreResourcePool", &reference)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("the resource pool was not found: {e}"),
                )
            })?;
        let kind = self
            .store()
            .get_nodes(view, &[id], &Selection::nothing())
            .await?
            .pop()
            .map(|n| n.kind)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("pool {id} not found")))?;
        // Only the schema's attributes: the pool also holds its reservations.
        let selection = Selection {
            attributes: Some(
                self.schema(&view.branch)?
                    .get(&kind)
                    .map(|m| m.attributes.iter().map(|a| a.name.clone()).collect())
                    .unwrap_or_default(),
            ),
            links: Vec::new(),
        };
        let node = self
            .store()
            .get_nodes(view, &[id], &selection)
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("pool {id} not found")))?;
        let kind = match node.kind.as_str() {
            "CoreIPPrefixPool" => PoolKind::Prefix,
            "CoreIPAddressPool" => PoolKind::Address,
            "CoreNumberPool" => PoolKind::Number,
            other => {
                return Err(Error::new(
                    ErrorKind::Validation,
                    format!("{other} is not a pool this server can allocate from"),
                ));
            }
        };
        let schema = self.schema(&view.branch)?;
        let model = schema.get(&node.kind).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("kind {} not found", node.kind))
        })?;
        let mut links_wanted = Vec::new();
        for name in ["resources", "ip_namespace"] {
            if let Some(relationship) = model.relationship(name) {
                links_wanted.push(links::selection(relationship));
            }
        }
        let linked = self
            .store()
            .get_nodes(
                view,
                &[id],
                &Selection {
                    attributes: Some(Vec::new()),
                    links: links_wanted.clone(),
                },
            )
            .await?
            .pop();
        let peers_of = |name: &str| -> Vec<NodeId> {
            let Some(relationship) = model.relationship(name) else {
                return Vec::new();
            };
            let selection = links::selection(relationship);
            linked
                .iter()
                .flat_map(|n| n.links.iter())
                .filter(|l| l.identifier == selection.identifier)
                .map(|l| l.peer)
                .collect()
        };
        let attributes: BTreeMap<String, Value> = node
            .attributes
            .iter()
            .filter(|(name, _)| !name.starts_with('~'))
            .map(|(name, state)| (name.clone(), state.value.value.clone()))
            .collect();
        let name = attributes
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Pool {
            id,
            kind,
            name,
            attributes,
            resources: peers_of("resources"),
            namespace: peers_of("ip_namespace").first().copied(),
        })
    }

    /// The reservation of `pool` under `name` (`~id:<identifier>`, `~n:<number>`) and what it
    /// holds: reservations are nodes of their own (label [`RESERVATION`], branch-agnostic,
    /// found through the value index by `<pool>|<name>`), so that a pool with many reservations
    /// reads as fast as one with none.
    async fn reservation(&self, pool: NodeId, name: &str) -> Result<Option<(NodeId, Value)>> {
        let view = BranchView::now(self.default_branch());
        let query = NodeQuery {
            labels: vec![RESERVATION.into()],
            filters: vec![Filter::Attribute {
                name: "key".into(),
                property: Property::Value,
                matches: Match::Equals(Value::String(format!("{pool}|{name}"))),
            }],
            limit: Some(1),
            select: Selection {
                attributes: Some(vec!["value".into()]),
                links: Vec::new(),
            },
            ..NodeQuery::default()
        };
        Ok(self
            .store()
            .query(&view, &query)
            .await?
            .nodes
            .pop()
            .map(|n| {
                let value = n.attributes.get("value").map(|a| a.value.value.clone());
                (n.id, value.unwrap_or(Value::Null))
            }))
    }

    /// What `pool` reserved under `name`, if anything.
    async fn pool_reservation(&self, pool: NodeId, name: &str) -> Result<Option<Value>> {
        Ok(self
            .reservation(pool, name)
            .await?
            .map(|(_, value)| value)
            .filter(|v| !v.is_null()))
    }

    /// Records `entries` in one changeset; an entry already reserved is replaced (a node
    /// reserved on a branch that another branch does not see is reserved again there).
    async fn reserve(&self, pool: NodeId, entries: Vec<(String, Value)>) -> Result<()> {
        let mut changeset = Changeset::new(self.default_branch());
        for (name, value) in entries {
            if let Some((existing, _)) = self.reservation(pool, &name).await? {
                changeset.push(Op::SetAttribute {
                    node: existing,
                    name: "value".into(),
                    value: AttributeValue::new(value),
                    scope: Scope::Global,
                    indexed: false,
                });
                continue;
            }
            let id = infrahub_graph::new_node_id();
            changeset.push(Op::CreateNode {
                id,
                kind: RESERVATION.into(),
                labels: vec![RESERVATION.into()],
                scope: Scope::Global,
            });
            for (attribute, value, indexed) in [
                ("key", Value::String(format!("{pool}|{name}")), true),
                ("pool", Value::String(pool.to_string()), true),
                ("value", value, false),
            ] {
                changeset.push(Op::SetAttribute {
                    node: id,
                    name: attribute.into(),
                    value: AttributeValue::new(value),
                    scope: Scope::Global,
                    indexed,
                });
            }
        }
        self.store().commit(changeset).await?;
        Ok(())
    }

    /// Hands out a prefix or an address from the pool `input` names, creating it on `branch`
    /// (with `input.data` and the pool's namespace), or the one reserved before under the
    /// same identifier. `check` sees the kind to be created first (an authorization point).
    pub async fn allocate_node(
        &self,
        branch: &str,
        input: &PoolInput,
        check: &(dyn Fn(&str) -> Result<()> + Send + Sync),
    ) -> Result<Allocated> {
        let view = BranchView::now(branch);
        let pool = self.read_pool(&view, input).await?;
        self.allocate_node_from(branch, &pool, input, check).await
    }

    /// [`Engine::allocate_node`] from `pool`, already read.
    async fn allocate_node_from(
        &self,
        branch: &str,
        pool: &Pool,
        input: &PoolInput,
        check: &(dyn Fn(&str) -> Result<()> + Send + Sync),
    ) -> Result<Allocated> {
        let view = BranchView::now(branch);
        if pool.kind == PoolKind::Number {
            return Err(refused(
                &pool.label(),
                "a number pool hands out numbers to attributes, not nodes",
            ));
        }
        let identifier = checked_identifier(input.identifier.as_deref())?;
        let _lock = self.pool_lock(pool.id).await?;
        if let Some(identifier) = &identifier
            && let Some(Value::String(reserved)) = self
                .pool_reservation(pool.id, &format!("~id:{identifier}"))
                .await?
            && let Ok(id) = reserved.parse::<NodeId>()
            && let Some(node) = self.node_summary(&view, id).await?
        {
            return Ok(node);
        }
        let data = input.data.clone().unwrap_or_default();
        let data_text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
        let length = input
            .prefix_length
            .or_else(|| data.get("prefixlen").and_then(Value::as_i64))
            .or_else(|| pool.number("default_prefix_length"));
        let schema = self.schema(branch)?;
        let (kind, value_name, value, mut extra) = match pool.kind {
            PoolKind::Prefix => {
                let Some(length) = length else {
                    return Err(refused(
                        &pool.label(),
                        "A prefixlen or a default_value must be provided to allocate a new prefix",
                    ));
                };
                let kind = input
                    .kind
                    .clone()
                    .or_else(|| data_text("prefix_type"))
                    .or_else(|| pool.text("default_prefix_type").map(str::to_string))
                    .ok_or_else(|| {
                        refused(
                            &pool.label(),
                            "A prefix_type or a default_value type must be provided to allocate a new prefix",
                        )
                    })?;
                let member_type = input
                    .member_type
                    .clone()
                    .or_else(|| data_text("member_type"))
                    .or_else(|| pool.text("default_member_type").map(str::to_string))
                    .unwrap_or_else(|| "prefix".into());
                if !["prefix", "address"].contains(&member_type.as_str()) {
                    return Err(Error::new(
                        ErrorKind::Validation,
                        "Invalid member_type value, allowed values are ['prefix', 'address']",
                    ));
                }
                let next = self.next_prefix(pool, length).await?;
                let mut extra = Map::new();
                extra.insert("member_type".into(), Value::String(member_type));
                (kind, "prefix", next.to_string(), extra)
            }
            _ => {
                let kind = input
                    .kind
                    .clone()
                    .or_else(|| data_text("address_type"))
                    .or_else(|| pool.text("default_address_type").map(str::to_string))
                    .ok_or_else(|| {
                        refused(
                            &pool.label(),
                            "An address_type or a default_value type must be provided to allocate a new IP address",
                        )
                    })?;
                let next = self.next_address(pool, length).await?;
                (kind, "address", next, Map::new())
            }
        };
        let model = schema.get(&kind).ok_or_else(|| {
            refused(
                &pool.label(),
                format!("kind `{kind}` not found on branch `{branch}`"),
            )
        })?;
        let wanted = match pool.kind {
            PoolKind::Prefix => IpamRole::Prefix,
            _ => IpamRole::Address,
        };
        if IpamRole::of(model) != Some(wanted) {
            return Err(refused(
                &pool.label(),
                format!(
                    "{kind} is not an IP {} kind",
                    match wanted {
                        IpamRole::Prefix => "prefix",
                        IpamRole::Address => "address",
                    }
                ),
            ));
        }
        check(&kind)?;
        for (key, value) in &data {
            if !["prefixlen", "prefix_type", "address_type", "member_type"].contains(&key.as_str())
            {
                extra.insert(key.clone(), value.clone());
            }
        }
        let mut node = data_input(model, &extra).map_err(|e| refused(&pool.label(), e))?;
        node.attributes.insert(
            value_name.into(),
            AttributeInput::value(Value::String(value)),
        );
        if let Some(namespace) = pool.namespace {
            node.relationships.insert(
                "ip_namespace".into(),
                RelationshipInput::One(Some(PeerInput::id(namespace.to_string()))),
            );
        }
        let created = Box::pin(self.create(branch, &kind, node))
            .await
            .map_err(|e| refused(&pool.label(), e))?;
        if let Some(identifier) = identifier {
            self.reserve(
                pool.id,
                vec![(
                    format!("~id:{identifier}"),
                    Value::String(created.node.id.to_string()),
                )],
            )
            .await?;
        }
        Ok(Allocated::Node {
            id: created.node.id,
            kind: created.node.kind,
            display_label: created.node.display_label,
        })
    }

    async fn node_summary(&self, view: &BranchView, id: NodeId) -> Result<Option<Allocated>> {
        let kind = match self
            .store()
            .get_nodes(view, &[id], &Selection::nothing())
            .await?
            .first()
        {
            Some(node) => node.kind.clone(),
            None => return Ok(None),
        };
        let schema = self.schema(&view.branch)?;
        let nodes = self
            .load_by_kind(view, &schema, &[(id, kind)], &Fields::minimal())
            .await?;
        Ok(nodes.into_iter().next().map(|node| Allocated::Node {
            id: node.id,
            kind: node.kind,
            display_label: node.display_label,
        }))
    }

    /// The search hint `key` of a pool (see the module documentation).
    fn hint(&self, key: &str) -> Option<i128> {
        self.pool_hints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .map(|(_, value)| *value)
    }

    /// Records hint `key` (of IP space `resource`, for an IP pool).
    fn set_hint(&self, key: String, resource: Option<IpNet>, value: i128) {
        let mut hints = self
            .pool_hints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: hints are rebuilt by searching, so forgetting them all is safe.
        if hints.len() >= 100_000 {
            hints.clear();
        }
        hints.insert(key, (resource, value));
    }

    /// `net` was freed (a prefix or address deleted or moved): the IP pools whose search mark
    /// is past it search from it again, so the lowest free space is handed out first, as
    /// upstream does.
    pub(crate) fn ip_space_freed(&self, net: &IpNet) {
        let mut hints = self
            .pool_hints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (resource, value) in hints.values_mut() {
            if let Some(resource) = resource
                && resource.contains(net)
                && let Ok(start) = i128::try_from(net.address)
                && *value > start
            {
                *value = start;
            }
        }
    }

    /// The lowest address of `resource` below which pool `pool` found nothing free.
    fn low_of(&self, pool: NodeId, resource: NodeId) -> Option<u128> {
        self.hint(&format!("{pool}|{resource}"))
            .and_then(|v| u128::try_from(v).ok())
    }

    /// Whether a prefix (or address) of `namespace` on some branch overlaps `block`: one inside
    /// it, or one containing it that is longer than `floor` bits (inside the resource).
    /// Returns the last address of the overlapping ones.
    async fn overlap_end(
        &self,
        role: IpamRole,
        namespace: NodeId,
        block: &IpNet,
        floor: u8,
    ) -> Result<Option<u128>> {
        let label = match role {
            IpamRole::Prefix => crate::schema::IP_PREFIX,
            IpamRole::Address => crate::schema::IP_ADDRESS,
        };
        let mut end: Option<u128> = None;
        for branch in self.store().list_branches().await? {
            let view = BranchView::now(&branch.name);
            let schema = self.schema(&branch.name)?;
            let Some(namespace_link) = schema
                .get(label)
                .and_then(|generic| generic.relationship("ip_namespace"))
            else {
                continue;
            };
            let linked = Filter::Linked {
                identifier: namespace_link.identifier().to_string(),
                side: links::side(namespace_link),
                peers: vec![namespace],
            };
            let mut ranges = vec![Match::Between(
                Value::String(block.first_key()),
                Value::String(block.last_key()),
            )];
            if role == IpamRole::Prefix {
                let containers: Vec<Value> = (floor + 1..block.length)
                    .map(|length| Value::String(block.supernet(length).key()))
                    .collect();
                if !containers.is_empty() {
                    ranges.push(Match::In(containers));
                }
            }
            for matches in ranges {
                let query = NodeQuery {
                    labels: vec![label.into()],
                    filters: vec![
                        Filter::Attribute {
                            name: KEY_ATTRIBUTE.into(),
                            property: Property::Value,
                            matches,
                        },
                        linked.clone(),
                    ],
                    select: Selection {
                        attributes: Some(vec![KEY_ATTRIBUTE.into()]),
                        links: Vec::new(),
                    },
                    ..NodeQuery::default()
                };
                for node in self.store().query(&view, &query).await?.nodes {
                    if let Some(net) = node
                        .attributes
                        .get(KEY_ATTRIBUTE)
                        .and_then(|a| a.value.value.as_str())
                        .and_then(super::ipam::parse_key)
                        // The resource and what contains it share its first address: they
                        // hold the block, they do not take it.
                        .filter(|net| net.length > floor)
                    {
                        end = Some(end.map_or(net.last(), |e| e.max(net.last())));
                    }
                }
            }
        }
        Ok(end)
    }

    /// The first free block of `length` bits (`length` = the family's width for an address)
    /// in `resource` at or after `from`, and how far from `from` everything is now known to
    /// be taken (with the block handed out).
    async fn first_free_from(
        &self,
        role: IpamRole,
        namespace: NodeId,
        resource: &IpNet,
        (from, last): (u128, u128),
        length: u8,
    ) -> Result<Option<(IpNet, u128)>> {
        let mut frontier = from;
        let mut cursor = from;
        loop {
            let Some(block) = IpNet::block_from(resource.v6, cursor, length) else {
                return Ok(None);
            };
            if block.address < cursor || block.last() > last || block.address > last {
                return Ok(None);
            }
            match self
                .overlap_end(role, namespace, &block, resource.length)
                .await?
            {
                None => {
                    if block.address <= frontier {
                        frontier = frontier.max(block.last().saturating_add(1));
                    }
                    return Ok(Some((block, frontier)));
                }
                Some(end) => {
                    if block.address <= frontier {
                        frontier = frontier.max(end.saturating_add(1));
                    }
                    if end >= last {
                        return Ok(None);
                    }
                    cursor = end + 1;
                }
            }
        }
    }

    /// Hands out the next free block of `length` bits of the pool's resources (an address
    /// when `role` is an address), highest weight first. The search of each resource starts
    /// where the pool knows everything below is taken (`~low:<resource>`), and falls back to
    /// the whole resource before calling it full, so space freed below is found again.
    async fn next_block(
        &self,
        pool: &Pool,
        role: IpamRole,
        length: Option<i64>,
    ) -> Result<Option<(IpNet, u8)>> {
        let namespace = pool
            .namespace
            .ok_or_else(|| refused(&pool.label(), "the pool has no IP namespace"))?;
        let view = BranchView::now(self.default_branch());
        let selection = Selection {
            attributes: Some(vec![
                "prefix".into(),
                "is_pool".into(),
                "allocation_weight".into(),
            ]),
            links: Vec::new(),
        };
        let mut resources: Vec<(i64, NodeId, IpNet, bool)> = self
            .store()
            .get_nodes(&view, &pool.resources, &selection)
            .await?
            .iter()
            .filter_map(|node| {
                let value = |name: &str| node.attributes.get(name).map(|a| &a.value.value);
                let net = IpNet::parse_network(value("prefix")?.as_str()?).ok()?;
                let whole = value("is_pool").and_then(Value::as_bool).unwrap_or(false);
                let weight = value("allocation_weight")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                Some((weight, node.id, net, whole))
            })
            .collect();
        resources.sort_by_key(|(weight, ..)| std::cmp::Reverse(*weight));
        for (_, id, resource, whole) in resources {
            let bits = IpNet::bits(resource.v6);
            let (block_length, written) = match role {
                IpamRole::Prefix => {
                    let Ok(length) = u8::try_from(length.unwrap_or(-1)) else {
                        break;
                    };
                    // A resource hands out prefixes inside it, never itself.
                    if length <= resource.length || length > bits {
                        continue;
                    }
                    (length, length)
                }
                IpamRole::Address => {
                    let written = length.unwrap_or(i64::from(resource.length));
                    if written < i64::from(resource.length) || written > i64::from(bits) {
                        return Err(refused(
                            &pool.label(),
                            "Invalid prefix length for current selected prefix",
                        ));
                    }
                    (bits, written as u8)
                }
            };
            // The network and broadcast addresses of a subnet are not handed out.
            let (first, last) = if role == IpamRole::Address && !whole && resource.length < bits - 1
            {
                (resource.address + 1, resource.last() - 1)
            } else {
                (resource.address, resource.last())
            };
            let low = self.low_of(pool.id, id).unwrap_or(first).max(first);
            let mut found = self
                .first_free_from(role, namespace, &resource, (low, last), block_length)
                .await?;
            if found.is_none() && low > first {
                found = self
                    .first_free_from(role, namespace, &resource, (first, last), block_length)
                    .await?;
            }
            if let Some((block, frontier)) = found {
                if let Ok(frontier) = i128::try_from(frontier) {
                    self.set_hint(format!("{}|{id}", pool.id), Some(resource), frontier);
                }
                return Ok(Some((block, written)));
            }
        }
        Ok(None)
    }

    async fn next_prefix(&self, pool: &Pool, length: i64) -> Result<IpNet> {
        match self
            .next_block(pool, IpamRole::Prefix, Some(length))
            .await?
        {
            Some((block, _)) => Ok(block),
            None => Err(refused(&pool.label(), "No more resources available")),
        }
    }

    async fn next_address(&self, pool: &Pool, length: Option<i64>) -> Result<String> {
        match self.next_block(pool, IpamRole::Address, length).await? {
            Some((block, written)) => Ok(format!("{}/{written}", block.address_text())),
            None => Err(refused(
                &pool.label(),
                "There are no more addresses available in this pool.",
            )),
        }
    }

    /// Hands out a number from the number pool `input` names for attribute `attribute` of
    /// `model`, reserved under `input.identifier` (by default `owner`, the node taking it):
    /// the same identifier gets the same number back.
    pub async fn allocate_number(
        &self,
        branch: &str,
        input: &PoolInput,
        model: &ModelSchema,
        attribute: &str,
        owner: NodeId,
    ) -> Result<i64> {
        let view = BranchView::now(branch);
        let pool = self
            .read_pool(&view, input)
            .await
            .map_err(|e| Error::new(e.kind(), format!("{attribute}.from_pool: {e}")))?;
        self.allocate_number_from(&pool, input, model, attribute, owner)
            .await
    }

    /// [`Engine::allocate_number`] from `pool`, already read.
    async fn allocate_number_from(
        &self,
        pool: &Pool,
        input: &PoolInput,
        model: &ModelSchema,
        attribute: &str,
        owner: NodeId,
    ) -> Result<i64> {
        let field = format!("{attribute}.from_pool");
        if pool.kind != PoolKind::Number {
            return Err(Error::new(
                ErrorKind::Validation,
                format!("{field}: {} is not a number pool", pool.name),
            ));
        }
        let served = pool.text("node").unwrap_or_default();
        let served_attribute = pool.text("node_attribute").unwrap_or_default();
        let kind_matches = served == model.kind() || model.inherit_from.iter().any(|g| g == served);
        if !kind_matches || served_attribute != attribute {
            return Err(Error::new(
                ErrorKind::Validation,
                format!(
                    "{field}: the pool {} can't be used for '{attribute}' of {}",
                    pool.name,
                    model.kind()
                ),
            ));
        }
        let schema_attribute = model.attribute(attribute).ok_or_else(|| {
            Error::new(
                ErrorKind::Validation,
                format!("{field}: {} has no attribute {attribute}", model.kind()),
            )
        })?;
        let identifier =
            checked_identifier(input.identifier.as_deref())?.unwrap_or_else(|| owner.to_string());
        let _lock = self.pool_lock(pool.id).await?;
        if let Some(number) = self
            .pool_reservation(pool.id, &format!("~id:{identifier}"))
            .await?
            .and_then(|v| v.as_i64())
        {
            // Unless it was released and handed out to another since.
            let holder = self
                .pool_reservation(pool.id, &format!("~n:{number}"))
                .await?;
            if holder.as_ref().and_then(Value::as_str) == Some(identifier.as_str()) {
                return Ok(number);
            }
        }
        let (mut start, mut end) = (
            pool.number("start_range").unwrap_or(0),
            pool.number("end_range").unwrap_or(0),
        );
        let mut excluded = Vec::new();
        if let Some(parameters) = &schema_attribute.parameters {
            if let Some(min) = parameters.min_value {
                start = start.max(min);
            }
            if let Some(max) = parameters.max_value {
                end = end.min(max);
            }
            excluded = parameters.excluded().unwrap_or_default();
        }
        let label = served.to_string();
        let served_key = (label.clone(), attribute.to_string());
        // The numbers of nodes deleted since the search mark was set, lowest first.
        let freed: Vec<i64> = {
            let mut freed = self
                .freed_numbers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            freed
                .entry(served_key.clone())
                .or_default()
                .range(start..=end)
                .copied()
                .collect()
        };
        let mut reused = None;
        for candidate in freed {
            self.forget_freed(&served_key, candidate);
            let excluded_here = excluded
                .iter()
                .any(|(from, to)| (*from..=*to).contains(&candidate));
            if !excluded_here
                && !self
                    .number_used(pool.id, &label, attribute, candidate)
                    .await?
            {
                reused = Some(candidate);
                break;
            }
        }
        let low = self
            .hint(&pool.id.to_string())
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(start)
            .max(start);
        let mut candidate = low;
        let number = loop {
            if let Some(number) = reused {
                break number;
            }
            if candidate > end {
                return Err(Error::new(
                    ErrorKind::Validation,
                    format!("{field}: the pool {} is exhausted", pool.name),
                ));
            }
            if let Some((_, stop)) = excluded
                .iter()
                .find(|(from, to)| (*from..=*to).contains(&candidate))
            {
                candidate = stop.saturating_add(1);
                continue;
            }
            if !self
                .number_used(pool.id, &label, attribute, candidate)
                .await?
            {
                break candidate;
            }
            candidate += 1;
        };
        let entries = vec![
            (format!("~id:{identifier}"), Value::from(number)),
            (format!("~n:{number}"), Value::String(identifier)),
        ];
        self.reserve(pool.id, entries).await?;
        if reused.is_none() {
            // Everything from the hint up to this number was taken or excluded.
            self.set_hint(pool.id.to_string(), None, i128::from(number) + 1);
        }
        Ok(number)
    }

    /// Whether `number` is out of pool `pool` (serving `attribute` of `label`): a node holds
    /// it on some branch, or it is reserved under an identifier that is not a node's id, or
    /// for a node that was never written (its create is under way, or failed).
    async fn number_used(
        &self,
        pool: NodeId,
        label: &str,
        attribute: &str,
        number: i64,
    ) -> Result<bool> {
        if self.number_taken(label, attribute, number).await? {
            return Ok(true);
        }
        let Some(holder) = self.pool_reservation(pool, &format!("~n:{number}")).await? else {
            return Ok(false);
        };
        match holder.as_str().and_then(|h| h.parse::<NodeId>().ok()) {
            // A node that was written and holds it no more: released.
            Some(node) => Ok(self.store().history(node).await?.is_empty()),
            None => Ok(true),
        }
    }

    /// Drops `number` from the freed numbers of `key`.
    fn forget_freed(&self, key: &(String, String), number: i64) {
        let mut freed = self
            .freed_numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(set) = freed.get_mut(key) {
            set.remove(&number);
        }
    }

    /// `node` (of `model`) was deleted: the number pools serving its kind or generics remember
    /// the numbers it held, to hand them out again first.
    pub(crate) fn numbers_freed(&self, model: &ModelSchema, node: &super::Node) {
        let mut freed = self
            .freed_numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: forgetting them is safe once the search marks are forgotten too.
        if freed
            .values()
            .map(std::collections::BTreeSet::len)
            .sum::<usize>()
            >= 100_000
        {
            for set in freed.values_mut() {
                set.clear();
            }
            drop(freed);
            self.pool_hints
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, (resource, _)| resource.is_some());
            return;
        }
        let labels = std::iter::once(model.kind()).chain(model.inherit_from.iter().cloned());
        for label in labels {
            for (name, attribute) in &node.attributes {
                if let Some(number) = attribute.value.as_i64()
                    && let Some(set) = freed.get_mut(&(label.clone(), name.clone()))
                {
                    set.insert(number);
                }
            }
        }
    }

    /// Whether a node of `label` holds `number` in `attribute` on some branch.
    async fn number_taken(&self, label: &str, attribute: &str, number: i64) -> Result<bool> {
        for branch in self.store().list_branches().await? {
            let query = NodeQuery {
                labels: vec![label.into()],
                filters: vec![Filter::Attribute {
                    name: attribute.into(),
                    property: Property::Value,
                    matches: Match::Equals(Value::from(number)),
                }],
                limit: Some(1),
                select: Selection::nothing(),
                ..NodeQuery::default()
            };
            if !self
                .store()
                .query(&BranchView::now(&branch.name), &query)
                .await?
                .nodes
                .is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn checked_identifier(identifier: Option<&str>) -> Result<Option<String>> {
    match identifier {
        Some(text) if text.len() > MAX_IDENTIFIER => Err(Error::new(
            ErrorKind::Validation,
            format!(
                "`identifier` is {} bytes long; at most {MAX_IDENTIFIER} are allowed",
                text.len()
            ),
        )),
        Some("") | None => Ok(None),
        Some(text) => Ok(Some(text.to_string())),
    }
}

/// The `data` of a pool request as the input of the node to create: attribute values (plain
/// or `{value: ...}`) and relationship peers (ids, or `{id: ...}`).
fn data_input(
    model: &ModelSchema,
    data: &Map<String, Value>,
) -> std::result::Result<NodeInput, String> {
    let mut input = NodeInput::default();
    let peer = |value: &Value| -> std::result::Result<PeerInput, String> {
        match value {
            Value::String(id) => Ok(PeerInput::id(id.clone())),
            Value::Object(map) => match map.get("id").and_then(Value::as_str) {
                Some(id) => Ok(PeerInput::id(id)),
                None => Err(format!("a peer must be an id or {{id: ...}}, got {value}")),
            },
            other => Err(format!("a peer must be an id or {{id: ...}}, got {other}")),
        }
    };
    for (name, value) in data {
        if model.attribute(name).is_some() {
            let value = match value {
                Value::Object(map) if map.contains_key("value") => {
                    map.get("value").cloned().unwrap_or(Value::Null)
                }
                other => other.clone(),
            };
            input
                .attributes
                .insert(name.clone(), AttributeInput::value(value));
        } else if let Some(relationship) = model.relationship(name) {
            let given = match value {
                Value::Array(items) => RelationshipInput::Many(
                    items
                        .iter()
                        .map(peer)
                        .collect::<std::result::Result<_, _>>()?,
                ),
                Value::Null => continue,
                single if relationship.cardinality == crate::schema::Cardinality::One => {
                    RelationshipInput::One(Some(peer(single)?))
                }
                single => RelationshipInput::Many(vec![peer(single)?]),
            };
            input.relationships.insert(name.clone(), given);
        } else {
            return Err(format!("`{name}` is not a field of {}", model.kind()));
        }
    }
    Ok(input)
}

impl Engine {
    /// The pool whose id (or name) is `pool_id`.
    async fn pool_by_id(&self, view: &BranchView, pool_id: &str) -> Result<Pool> {
        let input = PoolInput {
            id: Some(pool_id.to_string()),
            ..PoolInput::default()
        };
        self.read_pool(view, &input).await
    }

    /// Replaces the `from_pool` requests of `input` (a node of `model`, `owner` its id) with
    /// what the pools hand out: numbers for attributes (reserved under the node's id unless an
    /// identifier is given), prefix or address nodes for relationship peers (reserved under
    /// `hfid=<kind and hfid> rel=<relationship>` when the node has a human-friendly id, as
    /// upstream). The pool becomes the source of the value or link. A value or peer given
    /// beside `from_pool` wins.
    pub(crate) async fn take_from_pools(
        &self,
        branch: &str,
        model: &ModelSchema,
        input: &mut NodeInput,
        owner: NodeId,
    ) -> Result<()> {
        let view = BranchView::now(branch);
        if model.kind() == "CoreNumberPool" {
            self.check_number_pool(&view, input, owner).await?;
        }
        self.schema_pool_values(branch, model, input, owner).await?;
        let names: Vec<String> = input.attributes.keys().cloned().collect();
        for name in names {
            let Some(attribute) = input.attributes.get_mut(&name) else {
                continue;
            };
            // Kept on the input: a value a pool gave passes read-only checks.
            let Some(pool) = attribute.from_pool.clone() else {
                continue;
            };
            if attribute.value.as_ref().is_some_and(|v| !v.is_null()) {
                continue;
            }
            let read = self
                .read_pool(&view, &pool)
                .await
                .map_err(|e| Error::new(e.kind(), format!("{name}.from_pool: {e}")))?;
            let number = self
                .allocate_number_from(&read, &pool, model, &name, owner)
                .await?;
            if let Some(attribute) = input.attributes.get_mut(&name) {
                attribute.value = Some(Value::from(number));
                attribute.source.get_or_insert_with(|| read.id.to_string());
            }
        }
        let wants_pool = input.relationships.values().any(|given| match given {
            RelationshipInput::One(peer) => peer.iter().any(|p| p.from_pool.is_some()),
            RelationshipInput::Many(peers) => peers.iter().any(|p| p.from_pool.is_some()),
        });
        if !wants_pool {
            return Ok(());
        }
        let hfid = hfid_of(model, input);
        for (name, given) in &mut input.relationships {
            let peers: Vec<&mut PeerInput> = match given {
                RelationshipInput::One(peer) => peer.iter_mut().collect(),
                RelationshipInput::Many(peers) => peers.iter_mut().collect(),
            };
            for peer in peers {
                let Some(mut pool) = peer.from_pool.take() else {
                    continue;
                };
                if peer.id.is_some() || peer.hfid.is_some() {
                    continue;
                }
                if pool.identifier.is_none()
                    && let Some(hfid) = &hfid
                {
                    pool.identifier = Some(format!("hfid={hfid} rel={name}"));
                }
                // Boxed: creating the peer goes through the create path again.
                let read = self.read_pool(&view, &pool).await?;
                let allocated =
                    Box::pin(self.allocate_node_from(branch, &read, &pool, &|_| Ok(()))).await?;
                if let Allocated::Node { id, .. } = allocated {
                    peer.id = Some(id.to_string());
                    peer.source.get_or_insert_with(|| read.id.to_string());
                }
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Upstream's rules for a number pool being created or updated (`input`, node `id`): the
    /// kind it serves exists, the attribute is a number of that kind, the range is ordered and
    /// within the attribute's bounds; the kind and attribute never change, nor the range of a
    /// pool the schema defines.
    async fn check_number_pool(
        &self,
        view: &BranchView,
        input: &NodeInput,
        id: NodeId,
    ) -> Result<()> {
        let invalid = |message: &str| Err(Error::new(ErrorKind::Validation, message.to_string()));
        let given = |name: &str| {
            input
                .attributes
                .get(name)
                .and_then(|a| a.value.clone())
                .filter(|v| !v.is_null())
        };
        let stored: BTreeMap<String, Value> = self
            .store()
            .get_nodes(view, &[id], &Selection::all_attributes())
            .await?
            .pop()
            .map(|node| {
                node.attributes
                    .into_iter()
                    .map(|(name, state)| (name, state.value.value))
                    .collect()
            })
            .unwrap_or_default();
        let exists = !stored.is_empty();
        if exists {
            for name in ["node", "node_attribute"] {
                if let Some(value) = given(name)
                    && stored.get(name) != Some(&value)
                {
                    return invalid("The fields 'node' or 'node_attribute' can't be changed.");
                }
            }
            let from_schema = stored.get("pool_type").and_then(Value::as_str) == Some("Schema");
            if from_schema && (given("start_range").is_some() || given("end_range").is_some()) {
                return invalid(
                    "start_range or end_range can't be updated on schema defined pools, update the schema in the default branch instead",
                );
            }
        }
        let value = |name: &str| given(name).or_else(|| stored.get(name).cloned());
        let kind = value("node").and_then(|v| v.as_str().map(str::to_string));
        let attribute = value("node_attribute").and_then(|v| v.as_str().map(str::to_string));
        let (Some(kind), Some(attribute)) = (kind, attribute) else {
            // Missing mandatory values are refused by the create itself.
            return Ok(());
        };
        let schema = self.schema(&view.branch)?;
        let Some(model) = schema.get(&kind).filter(|m| {
            matches!(
                m.category,
                crate::schema::ModelCategory::Node | crate::schema::ModelCategory::Generic
            )
        }) else {
            return invalid("The selected model is not a Node or a Generic");
        };
        let Some(schema_attribute) = model.attribute(&attribute) else {
            return invalid("The selected attribute doesn't exist in the selected model");
        };
        if !matches!(
            schema_attribute.kind,
            crate::schema::AttributeKind::Number | crate::schema::AttributeKind::NumberPool
        ) {
            return invalid("The selected attribute is not of the kind Number");
        }
        let (Some(start), Some(end)) = (
            value("start_range").and_then(|v| v.as_i64()),
            value("end_range").and_then(|v| v.as_i64()),
        ) else {
            return Ok(());
        };
        if start > end {
            return invalid("start_range can't be larger than end_range");
        }
        if let Some(parameters) = &schema_attribute.parameters {
            if parameters.min_value.is_some_and(|min| start < min) {
                return invalid("start_range can't be less than min_value");
            }
            if parameters.max_value.is_some_and(|max| end > max) {
                return invalid("end_range can't be larger than max_value");
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Gives the attributes of kind `NumberPool` that a new node of `model` leaves unset a
    /// number from their schema-defined pool, as upstream: one `CoreNumberPool` of
    /// `pool_type: Schema` per kind (the generic defining the attribute, when inherited) and
    /// attribute, created on first use with the attribute's `start_range` and `end_range`.
    async fn schema_pool_values(
        &self,
        branch: &str,
        model: &ModelSchema,
        input: &mut NodeInput,
        owner: NodeId,
    ) -> Result<()> {
        if !model
            .attributes
            .iter()
            .any(|a| a.kind == crate::schema::AttributeKind::NumberPool)
        {
            return Ok(());
        }
        let view = BranchView::now(branch);
        // Only for a node being created.
        let exists = !self
            .store()
            .get_nodes(&view, &[owner], &Selection::nothing())
            .await?
            .is_empty();
        if exists {
            return Ok(());
        }
        let schema = self.schema(branch)?;
        for attribute in &model.attributes {
            if attribute.kind != crate::schema::AttributeKind::NumberPool {
                continue;
            }
            let given = input.attributes.get(&attribute.name);
            if given.is_some_and(|g| {
                g.from_pool.is_some() || g.value.as_ref().is_some_and(|v| !v.is_null())
            }) {
                continue;
            }
            // A pool per defining kind: an inherited attribute shares its generic's pool.
            let served = model
                .inherit_from
                .iter()
                .find(|generic| {
                    schema
                        .get(generic)
                        .is_some_and(|g| g.attribute(&attribute.name).is_some())
                })
                .cloned()
                .unwrap_or_else(|| model.kind());
            let pool = self.schema_pool(&served, attribute).await?;
            let value = input.attributes.entry(attribute.name.clone()).or_default();
            value.from_pool = Some(Box::new(PoolInput {
                id: Some(pool.to_string()),
                ..PoolInput::default()
            }));
        }
        Ok(())
    }

    /// The schema-defined number pool of `attribute` of `served`, created when missing.
    async fn schema_pool(
        &self,
        served: &str,
        attribute: &crate::schema::AttributeSchema,
    ) -> Result<NodeId> {
        let _lock = self
            .named_lock(&format!("global.number-pool.{served}.{}", attribute.name))
            .await?;
        let view = BranchView::now(self.default_branch());
        let mut args = super::QueryArgs::default();
        args.filters
            .insert("node__value".into(), Value::String(served.to_string()));
        args.filters.insert(
            "node_attribute__value".into(),
            Value::String(attribute.name.clone()),
        );
        args.filters
            .insert("pool_type__value".into(), Value::String("Schema".into()));
        let (found, _) = self
            .query(&view, "CoreNumberPool", &args, &Fields::minimal())
            .await?;
        if let Some(pool) = found.first() {
            return Ok(pool.id);
        }
        let parameters = attribute.parameters.clone().unwrap_or_default();
        let id = infrahub_graph::new_node_id();
        let mut pool = NodeInput {
            id: Some(id.to_string()),
            ..NodeInput::default()
        };
        for (name, value) in [
            (
                "name",
                Value::String(format!("{served}.{} [{id}]", attribute.name)),
            ),
            ("node", Value::String(served.to_string())),
            ("node_attribute", Value::String(attribute.name.clone())),
            (
                "start_range",
                Value::from(parameters.start_range.unwrap_or(1)),
            ),
            (
                "end_range",
                Value::from(parameters.end_range.unwrap_or(i64::MAX)),
            ),
            ("pool_type", Value::String("Schema".into())),
        ] {
            pool.attributes
                .insert(name.into(), AttributeInput::value(value));
        }
        Box::pin(self.create_as(self.default_branch(), "CoreNumberPool", pool, true)).await?;
        Ok(id)
    }
}

/// `Kind__part__part`: the human-friendly id `input` gives a node of `model`, when every part
/// is one of its own attribute values.
fn hfid_of(model: &ModelSchema, input: &NodeInput) -> Option<String> {
    let paths = model.human_friendly_id.as_ref()?;
    let mut parts = vec![model.kind()];
    for path in paths {
        let (attribute, _) = path.split_once("__")?;
        let value = input.attributes.get(attribute)?.value.as_ref()?;
        parts.push(match value {
            Value::String(text) => text.clone(),
            Value::Null => return None,
            other => other.to_string(),
        });
    }
    Some(parts.join("__"))
}

/// One node a pool handed out, as `InfrahubResourcePoolAllocated` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolAllocation {
    /// The node.
    pub id: NodeId,
    /// Its kind.
    pub kind: String,
    /// Its display label.
    pub display_label: String,
    /// The branch it lives on.
    pub branch: String,
    /// The identifier it is reserved under, if any.
    pub identifier: Option<String>,
}

/// How much of one pool resource is used, in percent.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceUtilization {
    /// The resource (a prefix).
    pub id: NodeId,
    /// Its kind.
    pub kind: String,
    /// Its display label.
    pub display_label: String,
    /// Its allocation weight.
    pub weight: i64,
    /// Used on every branch together.
    pub utilization: f64,
    /// Used on the other branches only.
    pub utilization_branches: f64,
    /// Used on the default branch.
    pub utilization_default_branch: f64,
}

impl Engine {
    /// The prefix `id` on `view` with its namespace, for the next-available helpers.
    async fn prefix_place(&self, view: &BranchView, id: &str) -> Result<(IpNet, NodeId, bool)> {
        let missing = || {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "Unable to find the BuiltinIPPrefix {id} on branch {}",
                    view.branch
                ),
            )
        };
        let node_id: NodeId = id.parse().map_err(|_| missing())?;
        let schema = self.schema(&view.branch)?;
        let data = self
            .store()
            .get_nodes(view, &[node_id], &Selection::all_attributes())
            .await?
            .pop()
            .ok_or_else(missing)?;
        let model = schema.get(&data.kind).ok_or_else(missing)?;
        if IpamRole::of(model) != Some(IpamRole::Prefix) {
            return Err(missing());
        }
        let value = |name: &str| data.attributes.get(name).map(|a| a.value.value.clone());
        let net = value("prefix")
            .and_then(|v| v.as_str().and_then(|t| IpNet::parse_network(t).ok()))
            .ok_or_else(missing)?;
        let whole = value("is_pool").and_then(|v| v.as_bool()).unwrap_or(false);
        let namespace = match model.relationship("ip_namespace") {
            Some(relationship) => self
                .store()
                .get_nodes(
                    view,
                    &[node_id],
                    &Selection {
                        attributes: Some(Vec::new()),
                        links: vec![links::selection(relationship)],
                    },
                )
                .await?
                .pop()
                .and_then(|n| n.links.first().map(|l| l.peer)),
            None => None,
        };
        let namespace = match namespace {
            Some(namespace) => namespace,
            None => self.default_namespace(view).await?,
        };
        Ok((net, namespace, whole))
    }

    /// The next free address of prefix `prefix_id` on `branch`, written with `length` (the
    /// prefix's own by default): upstream's `InfrahubIPAddressGetNextAvailable`.
    pub async fn next_available_address(
        &self,
        branch: &str,
        prefix_id: &str,
        length: Option<i64>,
    ) -> Result<String> {
        let view = BranchView::now(branch);
        let (net, namespace, whole) = self.prefix_place(&view, prefix_id).await?;
        let length = length.unwrap_or(i64::from(net.length));
        if length < i64::from(net.length) || length > i64::from(IpNet::bits(net.v6)) {
            return Err(Error::new(
                ErrorKind::Validation,
                "Invalid prefix length for current selected prefix",
            ));
        }
        let taken: Vec<u128> = self
            .inside_on(&view, IpamRole::Address, namespace, &net)
            .await?
            .iter()
            .map(|host| host.address)
            .collect();
        let address = net
            .first_free_address(&taken, whole)
            .ok_or_else(|| Error::new(ErrorKind::Validation, "No addresses available in prefix"))?;
        Ok(format!("{}/{length}", ip_of(net.v6, address)))
    }

    /// The next free prefix of `length` inside prefix `prefix_id` on `branch` (by default the
    /// largest free block at the lowest address): upstream's
    /// `InfrahubIPPrefixGetNextAvailable`.
    pub async fn next_available_prefix(
        &self,
        branch: &str,
        prefix_id: &str,
        length: Option<i64>,
    ) -> Result<String> {
        let view = BranchView::now(branch);
        let (net, namespace, _) = self.prefix_place(&view, prefix_id).await?;
        let bits = IpNet::bits(net.v6);
        if let Some(length) = length
            && (length <= i64::from(net.length) || length > i64::from(bits))
        {
            return Err(Error::new(
                ErrorKind::Validation,
                "Invalid prefix length for current selected prefix",
            ));
        }
        let taken: Vec<IpNet> = self
            .inside_on(&view, IpamRole::Prefix, namespace, &net)
            .await?
            .into_iter()
            .filter(|inside| *inside != net)
            .collect();
        let found = match length {
            Some(length) => net.first_free(length as u8, &taken),
            None => {
                // The lowest free address, then the largest block starting there.
                let lowest = net.first_free(bits, &taken);
                lowest.and_then(|lowest| {
                    (net.length + 1..=bits)
                        .filter_map(|length| net.first_free(length, &taken))
                        .find(|block| block.address == lowest.address)
                })
            }
        };
        found
            .map(|prefix| prefix.to_string())
            .ok_or_else(|| Error::new(ErrorKind::Validation, "No prefixes available in prefix"))
    }

    /// The prefixes or addresses inside `net` in `namespace` on `view`.
    async fn inside_on(
        &self,
        view: &BranchView,
        role: IpamRole,
        namespace: NodeId,
        net: &IpNet,
    ) -> Result<Vec<IpNet>> {
        let schema = self.schema(&view.branch)?;
        Ok(self
            .inside(view, &schema, role, namespace, net)
            .await?
            .into_iter()
            .map(|found| found.net)
            .collect())
    }

    /// The reservations of pool `pool`: identifier by reserved value (node id or number).
    async fn reservations(&self, pool: NodeId) -> Result<BTreeMap<String, String>> {
        let view = BranchView::now(self.default_branch());
        let query = NodeQuery {
            labels: vec![RESERVATION.into()],
            filters: vec![Filter::Attribute {
                name: "pool".into(),
                property: Property::Value,
                matches: Match::Equals(Value::String(pool.to_string())),
            }],
            select: Selection {
                attributes: Some(vec!["key".into(), "value".into()]),
                links: Vec::new(),
            },
            ..NodeQuery::default()
        };
        let prefix = format!("{pool}|~id:");
        Ok(self
            .store()
            .query(&view, &query)
            .await?
            .nodes
            .into_iter()
            .filter_map(|node| {
                let key = node
                    .attributes
                    .get("key")?
                    .value
                    .value
                    .as_str()?
                    .to_string();
                let identifier = key.strip_prefix(&prefix)?.to_string();
                let value = match node.attributes.get("value")?.value.value.clone() {
                    Value::String(text) => text,
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((value, identifier))
            })
            .collect())
    }

    /// What pool `pool_id` handed out inside its resource `resource_id`, on every branch, a
    /// page of it (`offset`, `limit`) and the total: upstream's
    /// `InfrahubResourcePoolAllocated`. For a number pool, the nodes holding its numbers.
    pub async fn pool_allocated(
        &self,
        branch: &str,
        pool_id: &str,
        resource_id: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<(usize, Vec<PoolAllocation>)> {
        let view = BranchView::now(branch);
        let pool = self.pool_by_id(&view, pool_id).await?;
        let reservations = self.reservations(pool.id).await?;
        let mut found: Vec<PoolAllocation> = Vec::new();
        match pool.kind {
            PoolKind::Number => {
                let label = pool.text("node").unwrap_or_default().to_string();
                let attribute = pool.text("node_attribute").unwrap_or_default().to_string();
                for branch in self.store().list_branches().await? {
                    let query = NodeQuery {
                        labels: vec![label.clone()],
                        filters: vec![Filter::Attribute {
                            name: attribute.clone(),
                            property: Property::Source,
                            matches: Match::Equals(Value::String(pool.id.to_string())),
                        }],
                        select: Selection::nothing(),
                        ..NodeQuery::default()
                    };
                    for node in self
                        .store()
                        .query(&BranchView::now(&branch.name), &query)
                        .await?
                        .nodes
                    {
                        if found.iter().any(|f| f.id == node.id) {
                            continue;
                        }
                        found.push(PoolAllocation {
                            id: node.id,
                            kind: node.kind,
                            display_label: String::new(),
                            branch: branch.name.clone(),
                            identifier: Some(node.id.to_string()),
                        });
                    }
                }
            }
            _ => {
                let resource: NodeId = resource_id.parse().map_err(|_| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("resource {resource_id} not found"),
                    )
                })?;
                if !pool.resources.contains(&resource) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("{resource_id} is not a resource of the pool {}", pool.name),
                    ));
                }
                let (net, _, _) = self.prefix_place(&view, resource_id).await?;
                let namespace = pool
                    .namespace
                    .unwrap_or(self.default_namespace(&view).await?);
                let role = if pool.kind == PoolKind::Prefix {
                    IpamRole::Prefix
                } else {
                    IpamRole::Address
                };
                for branch in self.store().list_branches().await? {
                    let on = BranchView::now(&branch.name);
                    let schema = self.schema(&on.branch)?;
                    for super::ipam::Stored {
                        id,
                        kind,
                        net: inside,
                        ..
                    } in self.inside(&on, &schema, role, namespace, &net).await?
                    {
                        if inside == net || found.iter().any(|f| f.id == id) {
                            continue;
                        }
                        found.push(PoolAllocation {
                            id,
                            kind,
                            display_label: inside.to_string(),
                            branch: branch.name.clone(),
                            identifier: reservations.get(&id.to_string()).cloned(),
                        });
                    }
                }
            }
        }
        let total = found.len();
        let page = found
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        Ok((total, page))
    }

    /// How much of each resource of pool `pool_id` is used: upstream's
    /// `InfrahubResourcePoolUtilization`. Returns the pool's totals (all branches, other
    /// branches, default branch) and each resource's.
    pub async fn pool_utilization(
        &self,
        branch: &str,
        pool_id: &str,
    ) -> Result<((f64, f64, f64), Vec<ResourceUtilization>)> {
        let view = BranchView::now(branch);
        let pool = self.pool_by_id(&view, pool_id).await?;
        let namespace = match pool.namespace {
            Some(namespace) => namespace,
            None => self.default_namespace(&view).await?,
        };
        let default = self.default_branch().to_string();
        let branches = self.store().list_branches().await?;
        let role = if pool.kind == PoolKind::Address {
            IpamRole::Address
        } else {
            IpamRole::Prefix
        };
        let mut rows = Vec::new();
        let (mut all_used, mut branch_used, mut default_used, mut total) = (0.0, 0.0, 0.0, 0.0);
        let selection = Selection::all_attributes();
        for data in self
            .store()
            .get_nodes(&view, &pool.resources, &selection)
            .await?
        {
            let value = |name: &str| data.attributes.get(name).map(|a| a.value.value.clone());
            let Some(net) =
                value("prefix").and_then(|v| v.as_str().and_then(|t| IpNet::parse_network(t).ok()))
            else {
                continue;
            };
            let whole = value("is_pool").and_then(|v| v.as_bool()).unwrap_or(false);
            let size = match role {
                IpamRole::Address => net.usable(whole),
                IpamRole::Prefix => net.size(),
            };
            // What is used on the default branch, and on each branch with it.
            let mut default_set: Vec<IpNet> = Vec::new();
            let mut every: Vec<IpNet> = Vec::new();
            for on in &branches {
                let inside: Vec<IpNet> = self
                    .inside_on(&BranchView::now(&on.name), role, namespace, &net)
                    .await?
                    .into_iter()
                    .filter(|inside| *inside != net)
                    .collect();
                if on.name == default {
                    default_set.clone_from(&inside);
                }
                for item in inside {
                    if !every.contains(&item) {
                        every.push(item);
                    }
                }
            }
            let used = |nets: &[IpNet]| -> f64 {
                match role {
                    IpamRole::Address => nets.len() as f64,
                    // The outermost prefixes: those no other one contains.
                    IpamRole::Prefix => nets
                        .iter()
                        .filter(|n| !nets.iter().any(|o| o != *n && o.contains(n)))
                        .map(IpNet::size)
                        .sum(),
                }
            };
            let (on_default, on_all) = (used(&default_set), used(&every));
            let percent = |part: f64| {
                if size > 0.0 {
                    (part / size * 100.0).min(100.0)
                } else {
                    0.0
                }
            };
            let kind = data.kind.clone();
            let display_label = net.to_string();
            rows.push(ResourceUtilization {
                id: data.id,
                kind,
                display_label,
                weight: value("allocation_weight")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
                utilization: percent(on_all),
                utilization_branches: percent(on_all - on_default),
                utilization_default_branch: percent(on_default),
            });
            all_used += on_all;
            default_used += on_default;
            branch_used += on_all - on_default;
            total += size;
        }
        let percent = |part: f64| {
            if total > 0.0 {
                (part / total * 100.0).min(100.0)
            } else {
                0.0
            }
        };
        Ok((
            (
                percent(all_used),
                percent(branch_used),
                percent(default_used),
            ),
            rows,
        ))
    }
}
