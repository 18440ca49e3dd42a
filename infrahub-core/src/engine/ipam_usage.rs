//! What each IP prefix holds, kept as the hierarchy changes, so that its `utilization` is one
//! read however many children it has.
//!
//! A prefix holds the space of its child prefixes (what a prefix of prefixes is used by) and a
//! number of addresses (what a prefix of addresses is used by). The engine adjusts both in the
//! changeset that moves a child, under the branch's IPAM lock:
//! - on the default branch (and for branch-agnostic kinds) the prefix stores the totals
//!   ([`USED_ATTRIBUTE`]);
//! - on another branch it stores only what the branch changed ([`DELTA_ATTRIBUTE`], written
//!   branch-local: never diffed nor merged, carried by a rebase), read on top of the default
//!   branch's totals. The branch thus keeps seeing the children the default branch adds after
//!   it was created, as it sees everything else there.
//!
//! A merge carries the branch's links, not its deltas: the prefixes whose children it changed
//! are counted again on the default branch afterwards ([`Engine::recount_usage`]).

use std::collections::{BTreeMap, BTreeSet};

use infrahub_graph::{
    AttributeValue, BranchView, NodeData, NodeId, NodeQuery, Op, Scope, Selection,
};
use serde_json::{Value, json};

use crate::error::Result;
use crate::ipam::IpNet;
use crate::schema::{IP_PREFIX, SchemaBranch};

use super::ipam::{IpamRole, KEY_ATTRIBUTE, parse_key};
use super::{Engine, links};

/// The hidden attribute holding a prefix's totals on the default branch (no schema attribute
/// can be named so): `{"space": "<child prefix space>", "addresses": <count>}`.
pub(crate) const USED_ATTRIBUTE: &str = "~ipam_used";
/// The hidden, branch-local attribute holding what a branch changed of a prefix's totals:
/// `{"added": "<space>", "removed": "<space>", "addresses": <signed count>}`.
pub(crate) const DELTA_ATTRIBUTE: &str = "~ipam_delta";

/// What a prefix holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// The space of its child prefixes (saturating: only `::/0` wholly covered exceeds it).
    pub space: u128,
    /// Its addresses.
    pub addresses: i64,
}

/// A change to what one prefix holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Change {
    added: u128,
    removed: u128,
    addresses: i64,
}

impl Change {
    /// The same change with space added and removed netted out.
    fn net(self) -> Change {
        if self.added >= self.removed {
            Change {
                added: self.added - self.removed,
                removed: 0,
                addresses: self.addresses,
            }
        } else {
            Change {
                added: 0,
                removed: self.removed - self.added,
                addresses: self.addresses,
            }
        }
    }

    fn then(self, other: Change) -> Change {
        Change {
            added: self.added.saturating_add(other.added),
            removed: self.removed.saturating_add(other.removed),
            addresses: self.addresses.saturating_add(other.addresses),
        }
        .net()
    }

    fn is_empty(&self) -> bool {
        self.added == self.removed && self.addresses == 0
    }

    fn of(value: &Value) -> Change {
        Change {
            added: big(value, "added"),
            removed: big(value, "removed"),
            addresses: value.get("addresses").and_then(Value::as_i64).unwrap_or(0),
        }
    }

    fn to_value(self) -> Value {
        json!({
            "added": self.added.to_string(),
            "removed": self.removed.to_string(),
            "addresses": self.addresses,
        })
    }
}

impl Held {
    fn of(value: &Value) -> Held {
        Held {
            space: big(value, "space"),
            addresses: value.get("addresses").and_then(Value::as_i64).unwrap_or(0),
        }
    }

    fn to_value(self) -> Value {
        json!({"space": self.space.to_string(), "addresses": self.addresses})
    }

    fn with(self, change: Change) -> Held {
        Held {
            space: self
                .space
                .saturating_add(change.added)
                .saturating_sub(change.removed),
            addresses: self.addresses.saturating_add(change.addresses).max(0),
        }
    }
}

/// A number stored as a decimal string (space does not fit a JSON number).
fn big(value: &Value, name: &str) -> u128 {
    value
        .get(name)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The space a child prefix takes.
pub(crate) fn space_of(net: &IpNet) -> u128 {
    let host_bits = u32::from(IpNet::bits(net.v6) - net.length);
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

/// How one changeset changes what prefixes hold, gathered as the hierarchy is rewritten.
#[derive(Debug, Default)]
pub(crate) struct UsageChanges(BTreeMap<NodeId, Change>);

impl UsageChanges {
    /// A node of `role` at `net` now hangs from `prefix`.
    pub(crate) fn add(&mut self, prefix: NodeId, role: IpamRole, net: &IpNet) {
        let change = match role {
            IpamRole::Prefix => Change {
                added: space_of(net),
                ..Change::default()
            },
            IpamRole::Address => Change {
                addresses: 1,
                ..Change::default()
            },
        };
        let entry = self.0.entry(prefix).or_default();
        *entry = entry.then(change);
    }

    /// A node of `role` at `net` no longer hangs from `prefix`.
    pub(crate) fn remove(&mut self, prefix: NodeId, role: IpamRole, net: &IpNet) {
        let change = match role {
            IpamRole::Prefix => Change {
                removed: space_of(net),
                ..Change::default()
            },
            IpamRole::Address => Change {
                addresses: -1,
                ..Change::default()
            },
        };
        let entry = self.0.entry(prefix).or_default();
        *entry = entry.then(change);
    }
}

impl Engine {
    /// The operations writing `changes` onto the prefixes of `view` (its branch's IPAM lock
    /// held until they are committed). Prefixes in `gone` are deleted by the same changeset,
    /// `created` (with its kind) is created by it.
    pub(crate) async fn usage_ops(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        changes: UsageChanges,
        gone: &BTreeSet<NodeId>,
        created: Option<(NodeId, String)>,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        let changes: BTreeMap<NodeId, Change> = changes
            .0
            .into_iter()
            .filter(|(id, change)| !change.is_empty() && !gone.contains(id))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let ids: Vec<NodeId> = changes.keys().copied().collect();
        let selection = Selection {
            attributes: Some(vec![USED_ATTRIBUTE.into(), DELTA_ATTRIBUTE.into()]),
            links: Vec::new(),
        };
        let on_default = view.branch == self.default_branch();
        let mut nodes = self.store().get_nodes(view, &ids, &selection).await?;
        if let Some((id, kind)) = created
            && changes.contains_key(&id)
        {
            // Nothing stored yet: it holds what this changeset gives it.
            nodes.push(NodeData {
                id,
                kind,
                labels: Vec::new(),
                branch: view.branch.as_str().into(),
                created_at: infrahub_graph::Timestamp::MIN,
                updated_at: infrahub_graph::Timestamp::MIN,
                attributes: BTreeMap::new(),
                links: Vec::new(),
            });
        }
        for node in nodes {
            let Some(change) = changes.get(&node.id) else {
                continue;
            };
            let scope = schema
                .get(&node.kind)
                .map_or(Scope::Branch, |m| links::scope(Some(m.branch)));
            if on_default || scope == Scope::Global {
                let held = node
                    .attributes
                    .get(USED_ATTRIBUTE)
                    .map(|a| Held::of(&a.value.value))
                    .unwrap_or_default();
                ops.push(totals_op(node.id, held.with(*change), scope));
            } else {
                let before = own_delta(view, &node);
                ops.push(delta_op(node.id, before.then(*change)));
            }
        }
        Ok(())
    }

    /// What prefix `id` holds on `view`: one read of the prefix.
    pub(crate) async fn held(&self, view: &BranchView, id: NodeId) -> Result<Held> {
        let selection = Selection {
            attributes: Some(vec![USED_ATTRIBUTE.into(), DELTA_ATTRIBUTE.into()]),
            links: Vec::new(),
        };
        let Some(node) = self.store().get_nodes(view, &[id], &selection).await?.pop() else {
            return Ok(Held::default());
        };
        let held = node
            .attributes
            .get(USED_ATTRIBUTE)
            .map(|a| Held::of(&a.value.value))
            .unwrap_or_default();
        if view.branch == self.default_branch() {
            return Ok(held);
        }
        Ok(held.with(own_delta(view, &node)))
    }

    /// What prefix `id` holds on `view`, counted from its children and addresses (costs in
    /// proportion to them).
    pub(crate) async fn count_held(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        id: NodeId,
    ) -> Result<Held> {
        let Some(kind) = self
            .store()
            .get_nodes(view, &[id], &Selection::nothing())
            .await?
            .pop()
            .map(|n| n.kind)
        else {
            return Ok(Held::default());
        };
        let Some(model) = schema.get(&kind) else {
            return Ok(Held::default());
        };
        let mut wanted = Vec::new();
        for name in ["children", "ip_addresses"] {
            if let Some(relationship) = model.relationship(name) {
                wanted.push((name, links::selection(relationship)));
            }
        }
        let selection = Selection {
            attributes: Some(Vec::new()),
            links: wanted.iter().map(|(_, s)| s.clone()).collect(),
        };
        let Some(node) = self.store().get_nodes(view, &[id], &selection).await?.pop() else {
            return Ok(Held::default());
        };
        let mut held = Held::default();
        let mut children = Vec::new();
        for (name, wanted) in &wanted {
            let peers = node.links.iter().filter(|l| {
                l.identifier == wanted.identifier
                    && (wanted.side == infrahub_graph::Side::Either || l.side == wanted.side)
            });
            if *name == "children" {
                children.extend(peers.map(|l| l.peer));
            } else {
                held.addresses = peers.count() as i64;
            }
        }
        let keys = Selection {
            attributes: Some(vec![KEY_ATTRIBUTE.into()]),
            links: Vec::new(),
        };
        for child in self.store().get_nodes(view, &children, &keys).await? {
            if let Some(net) = child
                .attributes
                .get(KEY_ATTRIBUTE)
                .and_then(|a| a.value.value.as_str())
                .and_then(parse_key)
            {
                held.space = held.space.saturating_add(space_of(&net));
            }
        }
        Ok(held)
    }

    /// Counts again, on `branch`, what each of `prefixes` holds and stores it (after a merge,
    /// whose deltas stay on the branch). The IPAM lock of `branch` is held. Returns whether
    /// anything was written.
    pub(crate) async fn recount_usage(
        &self,
        branch: &str,
        prefixes: &BTreeSet<NodeId>,
    ) -> Result<bool> {
        let view = BranchView::now(branch);
        let schema = self.schema(branch)?;
        let mut ops = Vec::new();
        for id in prefixes {
            self.recount_op(&view, &schema, *id, &mut ops).await?;
        }
        if ops.is_empty() {
            return Ok(false);
        }
        let mut changeset = infrahub_graph::Changeset::new(branch);
        changeset.ops = ops;
        self.store().commit(changeset).await?;
        Ok(true)
    }

    /// The operation storing what prefix `id` holds on `view` as counted, if it is a prefix
    /// and that differs from what is stored: the totals on the default branch, the difference
    /// from them on another.
    async fn recount_op(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        id: NodeId,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        let Some(node) = self
            .store()
            .get_nodes(
                view,
                &[id],
                &Selection {
                    attributes: Some(vec![USED_ATTRIBUTE.into(), DELTA_ATTRIBUTE.into()]),
                    links: Vec::new(),
                },
            )
            .await?
            .pop()
        else {
            return Ok(());
        };
        let Some(model) = schema.get(&node.kind) else {
            return Ok(());
        };
        if IpamRole::of(model) != Some(IpamRole::Prefix) {
            return Ok(());
        }
        let counted = self.count_held(view, schema, id).await?;
        let scope = links::scope(Some(model.branch));
        let totals = node
            .attributes
            .get(USED_ATTRIBUTE)
            .map(|a| Held::of(&a.value.value))
            .unwrap_or_default();
        if view.branch == self.default_branch() || scope == Scope::Global {
            if node.attributes.contains_key(USED_ATTRIBUTE) && totals == counted {
                return Ok(());
            }
            ops.push(totals_op(id, counted, scope));
        } else {
            let delta = Change {
                added: counted.space.saturating_sub(totals.space),
                removed: totals.space.saturating_sub(counted.space),
                addresses: counted.addresses - totals.addresses,
            };
            if own_delta(view, &node) == delta {
                return Ok(());
            }
            ops.push(delta_op(id, delta));
        }
        Ok(())
    }

    /// Stores what every prefix of every branch holds, counted: for a store written before
    /// the totals were kept (a migration).
    pub(crate) async fn count_all_usage(&self) -> Result<()> {
        let main = self.default_branch().to_string();
        let mut branches: Vec<String> = self
            .store()
            .list_branches()
            .await?
            .into_iter()
            .map(|b| b.name)
            .filter(|name| *name != main)
            .collect();
        // The default branch first: the others store their difference from it.
        branches.insert(0, main);
        for branch in branches {
            let _lock = self.ipam_lock(&branch).await?;
            let view = BranchView::now(&branch);
            let schema = self.schema(&branch)?;
            if schema.get(IP_PREFIX).is_none() {
                continue;
            }
            let query = NodeQuery {
                labels: vec![IP_PREFIX.into()],
                select: Selection::nothing(),
                ..NodeQuery::default()
            };
            let prefixes: Vec<NodeId> = self
                .store()
                .query(&view, &query)
                .await?
                .nodes
                .into_iter()
                .map(|n| n.id)
                .collect();
            for chunk in prefixes.chunks(500) {
                let mut ops = Vec::new();
                for id in chunk {
                    self.recount_op(&view, &schema, *id, &mut ops).await?;
                }
                if !ops.is_empty() {
                    let mut changeset = infrahub_graph::Changeset::new(&branch);
                    changeset.ops = ops;
                    self.store().commit(changeset).await?;
                }
            }
        }
        Ok(())
    }
}

/// The operation storing a prefix's totals (`scope`: its kind's).
fn totals_op(node: NodeId, held: Held, scope: Scope) -> Op {
    Op::SetAttribute {
        node,
        name: USED_ATTRIBUTE.into(),
        value: AttributeValue::new(held.to_value()),
        // Never diffed: the totals follow the links, which are.
        scope: if scope == Scope::Global {
            Scope::Global
        } else {
            Scope::Local
        },
        indexed: false,
    }
}

/// The operation storing a branch's delta on a prefix.
fn delta_op(node: NodeId, change: Change) -> Op {
    Op::SetAttribute {
        node,
        name: DELTA_ATTRIBUTE.into(),
        value: AttributeValue::new(change.to_value()),
        scope: Scope::Local,
        indexed: false,
    }
}

/// The delta `view`'s own branch wrote on `node` (none on the default branch).
fn own_delta(view: &BranchView, node: &NodeData) -> Change {
    node.attributes
        .get(DELTA_ATTRIBUTE)
        .filter(|a| *a.branch == *view.branch)
        .map(|a| Change::of(&a.value.value))
        .unwrap_or_default()
}
