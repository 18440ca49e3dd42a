//! Create, update, upsert and delete, with every schema rule checked before anything is
//! written, and uniqueness checked atomically with the write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, Condition, Filter, LinkProperties, LinkSelection,
    NodeData, NodeId, NodeQuery, Op, Selection, Timestamp, UniqueField, new_node_id,
};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{
    AttributeKind, AttributeSchema, Cardinality, ModelCategory, ModelSchema, OnDelete,
    RelationshipSchema, SchemaBranch,
};

use super::Engine;
use super::events::{AttributeChange, Event, NodeEvent, RelationshipChange};
use super::filters::hfid_filters;
use super::input::{AttributeInput, NodeInput, NodeRef, PeerInput, RelationshipInput};
use super::ipam::IpamRole;
use super::links;
use super::node::Node;
use super::profiles::{PROFILES, PendingWrite, RELATED_NODES, Refresh, is_profile};
use super::read::Fields;
use super::written;

pub use convert::ConversionField;

mod convert;
mod delete;
mod lookup;
mod query_metadata;
mod resolve;
mod templates;
mod unique;
mod update;

pub(in crate::engine) use unique::unique_relationship_names;

/// The outcome of a create, update or upsert.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// The node as read back after the write.
    pub node: Node,
    /// Whether the node was created (upsert may update instead).
    pub created: bool,
    /// Events the mutation produced.
    pub events: Vec<Event>,
    /// When it was committed (`None` if nothing changed).
    pub at: Option<Timestamp>,
}

fn validation(message: String) -> Error {
    Error::new(ErrorKind::Validation, message)
}

fn parse_id(field: &str, text: &str) -> Result<NodeId> {
    text.parse::<NodeId>()
        .map_err(|_| validation(format!("`{field}` must be a node id (UUID), got `{text}`")))
}

fn optional_id(field: &str, text: &Option<String>) -> Result<Option<NodeId>> {
    text.as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| parse_id(field, t))
        .transpose()
}

/// Hashes a password with bcrypt on a blocking thread (it takes a quarter of a second at the
/// default cost).
pub(crate) async fn hash_password(password: String, cost: u32) -> Result<String> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("hashing a password: {e}")))?
        .map_err(|e| Error::new(ErrorKind::Internal, format!("hashing a password: {e}")))
}

/// The attributes of a node as they will be after the write, for uniqueness conditions.
type Values = BTreeMap<String, Value>;
/// The peers of each relationship after the write.
type PeerSets = BTreeMap<String, Vec<NodeId>>;

/// The `identifier` of a permission node, which upstream computes from its other fields:
/// `global:<action>:<decision>` or `object:<namespace>:<name>:<action>:<decision>` (decision by
/// name, `allow_all`, ...); `None` for other kinds or while a field is missing.
fn derived_identifier(model: &ModelSchema, values: &Values) -> Option<String> {
    let text = |name: &str| values.get(name).and_then(Value::as_str);
    let decision = values
        .get("decision")
        .and_then(Value::as_i64)
        .map(crate::permissions::decision::name)?;
    match model.kind().as_str() {
        "CoreGlobalPermission" => Some(format!("global:{}:{decision}", text("action")?)),
        "CoreObjectPermission" => Some(format!(
            "object:{}:{}:{}:{decision}",
            text("namespace")?,
            text("name")?,
            text("action")?
        )),
        _ => None,
    }
}

/// Whether `model` is a permission kind, whose `identifier` the engine writes.
fn has_derived_identifier(model: &ModelSchema) -> bool {
    matches!(
        model.kind().as_str(),
        "CoreGlobalPermission" | "CoreObjectPermission"
    )
}

/// The write of a permission node's `identifier`, when `values` give one.
fn identifier_op(model: &ModelSchema, node: NodeId, values: &Values) -> Option<(Op, Value)> {
    let identifier = Value::String(derived_identifier(model, values)?);
    let attribute = model.attribute("identifier")?;
    Some((
        Op::SetAttribute {
            node,
            name: attribute.name.clone(),
            value: AttributeValue {
                value: identifier.clone(),
                is_default: false,
                is_protected: false,
                is_visible: true,
                source: None,
                owner: None,
                is_from_profile: false,
            },
            scope: links::scope(attribute.branch),
            indexed: true,
        },
        identifier,
    ))
}

/// A relationship peer as given, resolved to a node of an accepted kind.
struct ResolvedPeer {
    id: NodeId,
    kind: String,
    input: PeerInput,
}

/// Creates planned to commit together (an object and the components its template holds):
/// their writes, conditions, node ids with kinds (peers later creates of the batch may name),
/// events, and the IPAM locks held until the commit.
#[derive(Default)]
pub(super) struct Batch {
    ops: Vec<Op>,
    conditions: Vec<infrahub_graph::Condition>,
    nodes: BTreeMap<NodeId, String>,
    events: Vec<Event>,
    guards: Vec<super::locks::EngineLock>,
}

/// `given` without the peers that are nodes of `pending` (created in the same batch), and those
/// peers resolved.
fn split_pending(
    given: &RelationshipInput,
    pending: Option<&BTreeMap<NodeId, String>>,
) -> (RelationshipInput, Vec<ResolvedPeer>) {
    let Some(pending) = pending.filter(|p| !p.is_empty()) else {
        return (given.clone(), Vec::new());
    };
    let known = |peer: &PeerInput| {
        peer.id
            .as_deref()
            .and_then(|i| i.parse::<NodeId>().ok())
            .and_then(|id| pending.get(&id).map(|kind| (id, kind.clone())))
    };
    let mut found = Vec::new();
    let mut keep = |peer: &PeerInput| match known(peer) {
        Some((id, kind)) => {
            found.push(ResolvedPeer {
                id,
                kind,
                input: peer.clone(),
            });
            false
        }
        None => true,
    };
    let rest = match given {
        RelationshipInput::One(Some(peer)) => {
            RelationshipInput::One(if keep(peer) { Some(peer.clone()) } else { None })
        }
        RelationshipInput::One(None) => RelationshipInput::One(None),
        RelationshipInput::Many(peers) => {
            RelationshipInput::Many(peers.iter().filter(|p| keep(p)).cloned().collect())
        }
    };
    (rest, found)
}

/// The nodes `changeset` writes: created, deleted, changed, and both ends of every link.
fn changed_nodes(changeset: &Changeset) -> Vec<NodeId> {
    use infrahub_graph::Op;
    let mut ids = Vec::new();
    for op in &changeset.ops {
        match op {
            Op::CreateNode { id, .. } | Op::DeleteNode { id, .. } | Op::ChangeKind { id, .. } => {
                ids.push(*id);
            }
            Op::SetAttribute { node, .. } | Op::RemoveAttribute { node, .. } => ids.push(*node),
            Op::SetLink { from, to, .. } | Op::RemoveLink { from, to, .. } => {
                ids.push(*from);
                ids.push(*to);
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

impl Engine {
    /// Commits a node mutation; once it is committed, the commit observers learn the kinds of
    /// the nodes it wrote (`kinds`) before anything else can fail.
    async fn commit_checked<'k>(
        &self,
        changeset: Changeset,
        kinds: impl IntoIterator<Item = &'k str>,
    ) -> Result<Timestamp> {
        let branch = changeset.branch.clone();
        // A failed uniqueness condition is a uniqueness error; a failed link count (another
        // write linked the same peers at the same time) a conflict.
        let unique: Vec<bool> = changeset
            .conditions
            .iter()
            .map(|c| matches!(c, Condition::Unique { .. }))
            .collect();
        let changed = if self.changes_observed() {
            changed_nodes(&changeset)
        } else {
            Vec::new()
        };
        match self.store().commit(changeset).await {
            Ok(commit) => {
                let kinds: Vec<&str> = kinds.into_iter().collect();
                self.notify_commit(&branch, &kinds);
                self.notify_changes(&branch, &changed);
                Ok(commit.at)
            }
            Err(err) if err.kind() == infrahub_graph::ErrorKind::ConditionFailed => {
                let kind = match err.condition().and_then(|index| unique.get(index)) {
                    Some(false) => ErrorKind::Conflict,
                    _ => ErrorKind::Uniqueness,
                };
                Err(Error::new(kind, err.to_string()))
            }
            Err(err) if err.kind() == infrahub_graph::ErrorKind::NotFound => {
                Err(Error::new(ErrorKind::NotFound, err.to_string()))
            }
            Err(err) => Err(err.into()),
        }
    }

    fn creatable(model: &ModelSchema) -> Result<()> {
        if model.category == ModelCategory::Generic {
            return Err(validation(format!(
                "{} is a generic: create one of the kinds that inherit it ({})",
                model.kind(),
                model.used_by.join(", ")
            )));
        }
        Ok(())
    }

    /// Creates a node of `kind` on `branch`.
    pub async fn create(&self, branch: &str, kind: &str, input: NodeInput) -> Result<Mutation> {
        self.create_as(branch, kind, input, false).await
    }

    /// Creates a node; `system` writes may set read-only fields (initial data, pools).
    pub(crate) async fn create_as(
        &self,
        branch: &str,
        kind: &str,
        input: NodeInput,
        system: bool,
    ) -> Result<Mutation> {
        self.create_replacing(branch, kind, input, system, None)
            .await
    }

    /// Creates a node, in the same changeset deleting `replaced` (see
    /// [`Engine::create_in`]).
    pub(super) async fn create_replacing(
        &self,
        branch: &str,
        kind: &str,
        input: NodeInput,
        system: bool,
        replaced: Option<(NodeId, &ModelSchema)>,
    ) -> Result<Mutation> {
        Box::pin(self.create_in(branch, kind, input, system, replaced, None)).await
    }

    /// Creates a node, in the same changeset deleting `replaced` (a node converted to another
    /// kind: its id and kind) when given, and creating the components its template holds.
    /// With a `batch`, the create is only planned into it (a component of an object being
    /// created): nothing is committed, and the answer has no commit time.
    pub(super) async fn create_in(
        &self,
        branch: &str,
        kind: &str,
        input: NodeInput,
        system: bool,
        replaced: Option<(NodeId, &ModelSchema)>,
        batch: Option<&mut Batch>,
    ) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let model = schema.get(kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{kind}` not found on branch `{branch}`"),
            )
        })?;
        Engine::creatable(model)?;
        Engine::check_attribute_names(model, &input)?;
        let mut input = input;
        let mut from_file = Engine::take_file(model, &mut input)?;
        from_file.extend(query_metadata::derive(&schema, model, &mut input)?);
        let view = BranchView::now(branch);
        let (input, template) = self
            .apply_object_template(&view, &schema, model, input)
            .await?;
        let id = match &input.id {
            Some(text) => parse_id("id", text)?,
            None => new_node_id(),
        };
        let mut input = input;
        self.take_from_pools(branch, model, &mut input, id).await?;
        let mut ops = vec![Op::CreateNode {
            id,
            kind: model.kind(),
            labels: model.storage_labels(),
            scope: links::scope(Some(model.branch)),
        }];
        // Mandatory fields the node's profiles supply need not be given (upstream 1.11).
        let supplied = self
            .fields_from_profiles(&view, &schema, model, &input)
            .await?;
        let mut values: Values = BTreeMap::new();
        let mut changes: BTreeMap<String, AttributeChange> = BTreeMap::new();
        for attribute in &model.attributes {
            if attribute.name == "identifier" && has_derived_identifier(model) {
                continue;
            }
            let given = input.attributes.get(&attribute.name);
            let explicit = given.and_then(|g| g.value.clone());
            if explicit.is_some()
                && attribute.read_only
                && given.is_none_or(|g| g.from_pool.is_none())
                && !from_file.contains(&attribute.name)
                && !(system || Engine::internal_kind(model))
            {
                return Err(validation(format!(
                    "`{}` of {} is read-only",
                    attribute.name,
                    model.kind()
                )));
            }
            // A value not given is the default (null when the schema has none), which the
            // node's profiles may replace below.
            let (raw, is_default) = match explicit {
                Some(value) => (value, false),
                None => {
                    let wants_default = given.and_then(|g| g.is_default).is_none_or(|d| d);
                    match &attribute.default_value {
                        Some(default) if wants_default => (default.clone(), true),
                        _ => (Value::Null, wants_default),
                    }
                }
            };
            if raw.is_null()
                && !attribute.optional
                && !attribute.read_only
                && !supplied.contains(&attribute.name)
            {
                return Err(validation(format!(
                    "{} is mandatory for {} at {}",
                    attribute.name,
                    model.kind(),
                    attribute.name
                )));
            }
            let value = self.stored_value(model, attribute, &raw).await?;
            let defaults = AttributeInput::default();
            let given = given.unwrap_or(&defaults);
            let stored = AttributeValue {
                value: value.clone(),
                is_default,
                is_protected: given.is_protected.unwrap_or(false),
                is_visible: given.is_visible.unwrap_or(true),
                source: optional_id("source", &given.source)?,
                owner: optional_id("owner", &given.owner)?,
                is_from_profile: false,
            };
            ops.push(Op::SetAttribute {
                node: id,
                name: attribute.name.clone(),
                value: stored,
                scope: links::scope(attribute.branch),
                indexed: !attribute.kind.is_large(),
            });
            if !value.is_null() {
                changes.insert(
                    attribute.name.clone(),
                    AttributeChange {
                        kind: attribute.kind.to_string(),
                        value: value.clone(),
                        value_previous: Value::Null,
                    },
                );
            }
            values.insert(attribute.name.clone(), value);
        }
        if let Some((op, identifier)) = identifier_op(model, id, &values) {
            ops.push(op);
            values.insert("identifier".into(), identifier);
        }
        let mut peers: PeerSets = BTreeMap::new();
        let mut relationship_changes: BTreeMap<String, RelationshipChange> = BTreeMap::new();
        let mut link_conditions: Vec<Condition> = Vec::new();
        for relationship in &model.relationships {
            let resolved = match input.relationships.get(&relationship.name) {
                Some(given) => {
                    if relationship.read_only && !(system || Engine::internal_kind(model)) {
                        return Err(validation(format!(
                            "`{}` of {} is read-only",
                            relationship.name,
                            model.kind()
                        )));
                    }
                    // Peers created in the same batch are not in the store yet.
                    let (rest, mut pending) =
                        split_pending(given, batch.as_deref().map(|b| &b.nodes));
                    let mut resolved = self
                        .resolve_peers(&view, &schema, model, relationship, &rest)
                        .await?;
                    resolved.append(&mut pending);
                    resolved
                }
                None => Vec::new(),
            };
            if (relationship.kind != crate::schema::RelationshipKind::Hierarchy
                || relationship.name != "children")
                && !(resolved.is_empty() && supplied.contains(&relationship.name))
            {
                Engine::check_counts(model, relationship, resolved.len())?;
            }
            let with_models: Vec<(NodeId, Option<&ModelSchema>)> = resolved
                .iter()
                .map(|peer| (peer.id, schema.get(&peer.kind)))
                .collect();
            let partners = self
                .single_partners(&view, relationship, &with_models)
                .await?;
            for (peer, with_model) in resolved.iter().zip(with_models) {
                let properties = Engine::link_properties(relationship, &peer.input, None)?;
                Engine::link_peer(
                    relationship,
                    id,
                    with_model,
                    properties,
                    &partners,
                    (&mut ops, &mut link_conditions),
                );
            }
            if !resolved.is_empty() {
                relationship_changes.insert(
                    relationship.name.clone(),
                    RelationshipChange {
                        added: resolved.iter().map(|p| p.id).collect(),
                        removed: Vec::new(),
                    },
                );
            }
            peers.insert(
                relationship.name.clone(),
                resolved.into_iter().map(|p| p.id).collect(),
            );
        }
        let every: BTreeSet<String> = model.relationships.iter().map(|r| r.name.clone()).collect();
        self.check_common_parents(&view, model, &peers, &every)
            .await?;
        templates::check_template_pools(model, &|name| {
            peers.get(name).is_some_and(|p| !p.is_empty())
                || input
                    .attributes
                    .get(name)
                    .and_then(|a| a.value.as_ref())
                    .is_some_and(|v| !v.is_null())
        })?;
        let profiles = peers.get(PROFILES).cloned().unwrap_or_default();
        self.apply_profiles(
            &view,
            PendingWrite {
                id,
                model,
                current: None,
                profiles: &profiles,
                ops: &mut ops,
                values: &mut values,
                changes: &mut changes,
                given: &given_relationships(&input),
            },
        )
        .await?;
        // IP prefixes and addresses take their place in the namespace's hierarchy (held until
        // the changeset is committed).
        let _ipam = match IpamRole::of(model) {
            Some(role) => Some(
                self.place_created(
                    &view, &schema, model, role, id, &values, &mut peers, &mut ops,
                )
                .await?,
            ),
            None => None,
        };
        let mut written = written::empty(id, branch);
        written::overlay(&mut written, branch, &ops);
        // The nodes a new profile is linked to take its values in the same changeset.
        let mut refresh = if is_profile(model) {
            let users = peers.get(RELATED_NODES).into_iter().flatten().copied();
            self.plan_refresh(branch, &schema, &users.collect(), &ops, &BTreeSet::new())
                .await?
        } else {
            Refresh::default()
        };
        let mut changeset = Changeset::new(branch);
        if let Some((old, old_model)) = replaced {
            changeset.push(Op::DeleteNode {
                id: old,
                scope: links::scope(Some(old_model.branch)),
            });
        }
        changeset.ops.extend(ops);
        changeset.conditions = Engine::unique_conditions(&schema, model, &values, &peers, Some(id));
        changeset.conditions.append(&mut link_conditions);
        refresh.add_to(&mut changeset);
        let created_event = |at, display_label: String, changes, relationship_changes| {
            Event::NodeCreated(NodeEvent {
                branch: branch.to_string(),
                kind: model.kind(),
                node_id: id,
                at,
                display_label,
                attributes: changes,
                relationships: relationship_changes,
            })
        };
        if let Some(batch) = batch {
            // Planned only: the object being created commits it with its other components.
            batch.ops.append(&mut changeset.ops);
            batch.conditions.append(&mut changeset.conditions);
            batch.nodes.insert(id, model.kind());
            batch.guards.extend(_ipam);
            let node = self
                .to_nodes(&view, &schema, vec![written], &Fields::everything(model))
                .await?
                .pop()
                .ok_or_else(|| Error::new(ErrorKind::Internal, format!("node {id} has no kind")))?;
            batch.events.push(created_event(
                Timestamp::MIN,
                node.display_label.clone(),
                changes,
                relationship_changes,
            ));
            return Ok(Mutation {
                node,
                created: true,
                events: Vec::new(),
                at: None,
            });
        }
        // The components the template holds are created in the same changeset.
        let mut components = Batch::default();
        if let Some(used) = &template {
            components.nodes.insert(id, model.kind());
            self.plan_components(&view, &schema, (model, id), used, &mut components)
                .await?;
            changeset.ops.append(&mut components.ops);
            changeset.conditions.append(&mut components.conditions);
        }
        let kind_written = model.kind();
        let replaced_kind = replaced.map(|(_, m)| m.kind()).unwrap_or_default();
        let mut kinds: Vec<String> = vec![kind_written, replaced_kind];
        kinds.extend(components.nodes.values().cloned());
        kinds.sort();
        kinds.dedup();
        let at = self
            .commit_checked(
                changeset,
                kinds.iter().map(String::as_str).filter(|k| !k.is_empty()),
            )
            .await?;
        drop(components.guards);
        written::stamp(&mut written, at);
        // A new node is exactly what was written: no need to read it back (unless components
        // were created with it).
        let node = if components.events.is_empty() {
            self.to_nodes(&view, &schema, vec![written], &Fields::everything(model))
                .await?
                .pop()
                .ok_or_else(|| Error::new(ErrorKind::Internal, format!("node {id} has no kind")))?
        } else {
            self.read_back(branch, model, id).await?
        };
        let mut events = vec![created_event(
            at,
            node.display_label.clone(),
            changes,
            relationship_changes,
        )];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
        for mut event in components.events {
            if let Event::NodeCreated(created) = &mut event {
                created.at = at;
            }
            events.push(event);
        }
        Ok(Mutation {
            node,
            created: true,
            events,
            at: Some(at),
        })
    }

    /// `common_parent`: the peers of such a relationship must have, through the named
    /// relationship, the same parent as the node has through its Parent relationship. Checked
    /// when either side is among `changed`.
    async fn check_common_parents(
        &self,
        view: &BranchView,
        model: &ModelSchema,
        peers: &PeerSets,
        changed: &BTreeSet<String>,
    ) -> Result<()> {
        let Some(parent) = model
            .relationships
            .iter()
            .find(|r| r.kind == crate::schema::RelationshipKind::Parent)
        else {
            return Ok(());
        };
        let own_parent = peers.get(&parent.name).and_then(|p| p.first()).copied();
        for relationship in &model.relationships {
            let Some(common) = &relationship.common_parent else {
                continue;
            };
            if !changed.contains(&relationship.name) && !changed.contains(&parent.name) {
                continue;
            }
            let Some(related) = peers.get(&relationship.name).filter(|p| !p.is_empty()) else {
                continue;
            };
            let fields = Fields {
                attributes: Some(Vec::new()),
                relationships: vec![common.clone()],
            };
            for peer in self.get_any(view, related, &fields).await? {
                let theirs = peer.peers(common).first().map(|p| p.id);
                if theirs != own_parent {
                    return Err(validation(format!(
                        "{}: {} must have the same {common} as this {} ({}); it has {}",
                        relationship.name,
                        peer.display_label,
                        model.kind(),
                        own_parent.map_or_else(|| "none".to_string(), |p| p.to_string()),
                        theirs.map_or_else(|| "none".to_string(), |p| p.to_string()),
                    )));
                }
            }
        }
        Ok(())
    }

    /// Internal kinds (tokens, refresh tokens) whose read-only fields the engine itself sets.
    fn internal_kind(model: &ModelSchema) -> bool {
        model.namespace == "Internal"
    }

    async fn read_back(&self, branch: &str, model: &ModelSchema, id: NodeId) -> Result<Node> {
        let view = BranchView::now(branch);
        let fields = Fields::everything(model);
        self.get(&view, &model.kind(), &[id], &fields)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Internal,
                    format!("node {id} vanished after its write"),
                )
            })
    }

    /// Checks a password against an account's stored hash.
    pub fn verify_password(stored_hash: &str, password: &str) -> bool {
        bcrypt::verify(password, stored_hash).unwrap_or(false)
    }
}

impl Engine {
    /// The fields (attribute and relationship names) the profiles `input` links a new node of
    /// `model` to supply.
    async fn fields_from_profiles(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        input: &NodeInput,
    ) -> Result<BTreeSet<String>> {
        let (Some(relationship), Some(given)) = (
            model.relationship(PROFILES),
            input.relationships.get(PROFILES),
        ) else {
            return Ok(BTreeSet::new());
        };
        let ids: BTreeSet<NodeId> = self
            .resolve_peers(view, schema, model, relationship, given)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        let known = self.read_profiles(view, &ids, &[]).await?;
        Ok(model
            .attributes
            .iter()
            .map(|a| &a.name)
            .chain(model.relationships.iter().map(|r| &r.name))
            .filter(|name| known.values().any(|p| p.supplies(name)))
            .cloned()
            .collect())
    }
}

/// The relationships `input` gives peers (an emptied relationship is not given: profiles may
/// fill it).
pub(super) fn given_relationships(input: &NodeInput) -> BTreeSet<String> {
    input
        .relationships
        .iter()
        .filter(|(_, given)| match given {
            RelationshipInput::One(peer) => peer.is_some(),
            RelationshipInput::Many(peers) => !peers.is_empty(),
        })
        .map(|(name, _)| name.clone())
        .collect()
}
