//! Create, update, upsert and delete, with every schema rule checked before anything is
//! written, and uniqueness checked atomically with the write.

use std::collections::{BTreeMap, BTreeSet};

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, Condition, Filter, LinkProperties, LinkSelection,
    NodeId, NodeQuery, Op, Selection, Timestamp, UniqueField, new_node_id,
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
use super::links;
use super::node::Node;
use super::profiles::{PROFILES, PendingWrite, RELATED_NODES, Refresh, is_profile};
use super::read::Fields;
use super::written;

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

/// A relationship peer as given, resolved to a node of an accepted kind.
struct ResolvedPeer {
    id: NodeId,
    kind: String,
    input: PeerInput,
}

impl Engine {
    /// Finds the node `reference` designates among nodes of `kind`: by id, by a value of the
    /// kind's `default_filter` when the id is not a UUID, or by human-friendly id.
    pub async fn resolve(
        &self,
        view: &BranchView,
        kind: &str,
        reference: &NodeRef,
    ) -> Result<NodeId> {
        let schema = self.schema_for(view).await?;
        let model = schema.get(kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{kind}` not found on branch `{}`", view.branch),
            )
        })?;
        self.resolve_in(
            view,
            &schema,
            model,
            reference.id.as_deref(),
            reference.hfid.as_deref(),
        )
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| {
            let what = reference
                .id
                .clone()
                .or_else(|| reference.hfid.as_ref().map(|h| format!("{h:?}")))
                .unwrap_or_default();
            Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the node {what} / {kind} in the database."),
            )
        })
    }

    /// The node of `model`'s kind (or a kind using it) that `id` or `hfid` designates, with
    /// its concrete kind.
    async fn resolve_in(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        id: Option<&str>,
        hfid: Option<&[String]>,
    ) -> Result<Option<(NodeId, String)>> {
        let kind = model.kind();
        let find = |filters: Vec<Filter>| NodeQuery {
            labels: vec![kind.clone()],
            filters,
            limit: Some(2),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if let Ok(uuid) = id.parse::<NodeId>() {
                let found = self
                    .store()
                    .get_nodes(view, &[uuid], &Selection::nothing())
                    .await?;
                return Ok(found
                    .into_iter()
                    .find(|n| n.labels.contains(&kind))
                    .map(|n| (n.id, n.kind)));
            }
            let Some(filter) = &model.default_filter else {
                return Ok(None);
            };
            let mut args = BTreeMap::new();
            args.insert(filter.clone(), Value::String(id.to_string()));
            let filters = super::filters::parse_filters(schema, model, &args, false)?;
            let mut result = self.store().query(view, &find(filters)).await?;
            return Ok(match result.nodes.pop() {
                Some(node) if result.nodes.is_empty() => Some((node.id, node.kind)),
                _ => None,
            });
        }
        if let Some(hfid) = hfid {
            let filters = hfid_filters(schema, model, hfid)?;
            let mut result = self.store().query(view, &find(filters)).await?;
            return match result.nodes.len() {
                0 => Ok(None),
                1 => Ok(result.nodes.pop().map(|n| (n.id, n.kind))),
                _ => Err(Error::new(
                    ErrorKind::Conflict,
                    format!("more than one {kind} has the human-friendly id {hfid:?}"),
                )),
            };
        }
        Ok(None)
    }

    /// Resolves a relationship peer and checks its kind.
    async fn resolve_peer(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        owner: &ModelSchema,
        relationship: &RelationshipSchema,
        peer: &PeerInput,
    ) -> Result<(NodeId, String)> {
        let lookup_kind = peer
            .kind
            .clone()
            .filter(|k| links::accepts(schema, relationship, k))
            .unwrap_or_else(|| relationship.peer.clone());
        let model = schema
            .get(&lookup_kind)
            .ok_or_else(|| validation(format!("kind `{lookup_kind}` not found")))?;
        let what = peer
            .id
            .clone()
            .or_else(|| peer.hfid.as_ref().map(|h| format!("{h:?}")))
            .unwrap_or_default();
        if peer.id.is_none() && peer.hfid.is_none() {
            return Err(validation(format!(
                "a peer of `{}` of {} needs an `id` or an `hfid`",
                relationship.name,
                owner.kind()
            )));
        }
        let found = self
            .resolve_in(
                view,
                schema,
                model,
                peer.id.as_deref(),
                peer.hfid.as_deref(),
            )
            .await?;
        if found.is_none()
            && let Some(uuid) = peer.id.as_deref().and_then(|i| i.parse::<NodeId>().ok())
            && let Some(other) = self
                .store()
                .get_nodes(view, &[uuid], &Selection::nothing())
                .await?
                .first()
        {
            return Err(validation(format!(
                "`{}` of {} only accepts {} peers, {what} is a {}",
                relationship.name,
                owner.kind(),
                relationship.peer,
                other.kind
            )));
        }
        let (id, kind) = found.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the node {what} / {lookup_kind} in the database."),
            )
        })?;
        if !links::accepts(schema, relationship, &kind) {
            return Err(validation(format!(
                "`{}` of {} only accepts {} peers, {what} is a {kind}",
                relationship.name,
                owner.kind(),
                relationship.peer
            )));
        }
        Ok((id, kind))
    }

    /// The value an attribute is stored with: validated, canonical, passwords hashed.
    async fn stored_value(
        &self,
        model: &ModelSchema,
        attribute: &AttributeSchema,
        value: &Value,
    ) -> Result<Value> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let canonical = crate::value::canonicalize(attribute, value).map_err(|message| {
            validation(format!(
                "{}: {message} ({}.{})",
                attribute.name,
                model.kind(),
                attribute.name
            ))
        })?;
        if attribute.kind == AttributeKind::HashedPassword
            && let Some(text) = canonical.as_str()
            && !text.starts_with("$2")
        {
            return Ok(Value::String(
                hash_password(text.to_string(), self.options().bcrypt_cost).await?,
            ));
        }
        Ok(canonical)
    }

    fn check_attribute_names(model: &ModelSchema, input: &NodeInput) -> Result<()> {
        for name in input.attributes.keys() {
            if model.attribute(name).is_none() {
                return Err(validation(format!(
                    "`{name}` is not an attribute of {}",
                    model.kind()
                )));
            }
        }
        for name in input.relationships.keys() {
            if model.relationship(name).is_none() {
                return Err(validation(format!(
                    "`{name}` is not a relationship of {}",
                    model.kind()
                )));
            }
        }
        Ok(())
    }

    /// Peers of `relationship` as given, resolved, checked against cardinality and counts.
    async fn resolve_peers(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        relationship: &RelationshipSchema,
        given: &RelationshipInput,
    ) -> Result<Vec<ResolvedPeer>> {
        let inputs: Vec<&PeerInput> = match given {
            RelationshipInput::One(Some(peer)) => vec![peer],
            RelationshipInput::One(None) => Vec::new(),
            RelationshipInput::Many(peers) => peers.iter().collect(),
        };
        if relationship.cardinality == Cardinality::One && inputs.len() > 1 {
            return Err(validation(format!(
                "`{}` of {} takes one peer, {} given",
                relationship.name,
                model.kind(),
                inputs.len()
            )));
        }
        let mut resolved: Vec<ResolvedPeer> = Vec::new();
        for peer in inputs {
            let (id, kind) = self
                .resolve_peer(view, schema, model, relationship, peer)
                .await?;
            if !resolved.iter().any(|r| r.id == id) {
                resolved.push(ResolvedPeer {
                    id,
                    kind,
                    input: peer.clone(),
                });
            }
        }
        Ok(resolved)
    }

    fn check_counts(
        model: &ModelSchema,
        relationship: &RelationshipSchema,
        count: usize,
    ) -> Result<()> {
        // The kind is spelled out only for an error: most writes pass.
        if !relationship.optional && count == 0 {
            return Err(validation(format!(
                "{} is mandatory for {}",
                relationship.name,
                model.kind()
            )));
        }
        if relationship.min_count > 0 && (count as i64) < relationship.min_count {
            return Err(validation(format!(
                "`{}` of {} needs at least {} peers, {count} given",
                relationship.name,
                model.kind(),
                relationship.min_count
            )));
        }
        if relationship.max_count > 0 && (count as i64) > relationship.max_count {
            return Err(validation(format!(
                "`{}` of {} takes at most {} peers, {count} given",
                relationship.name,
                model.kind(),
                relationship.max_count
            )));
        }
        Ok(())
    }

    fn link_properties(
        relationship: &RelationshipSchema,
        peer: &PeerInput,
        current: Option<&super::node::Peer>,
    ) -> Result<LinkProperties> {
        Ok(LinkProperties {
            is_protected: peer
                .is_protected
                .or(current.map(|c| c.is_protected))
                .unwrap_or(false),
            is_visible: peer
                .is_visible
                .or(current.map(|c| c.is_visible))
                .unwrap_or(true),
            source: optional_id("_relation__source", &peer.source)?
                .or(current.and_then(|c| c.source)),
            owner: optional_id("_relation__owner", &peer.owner)?.or(current.and_then(|c| c.owner)),
            hierarchy: relationship.hierarchical.clone(),
        })
    }

    /// Operations that link `node` to a new peer through `relationship` (with `properties`),
    /// first detaching the peer from its current partner when the other side holds at most
    /// one peer.
    async fn link_peer(
        &self,
        view: &BranchView,
        relationship: &RelationshipSchema,
        node: NodeId,
        (peer, peer_model): (NodeId, Option<&ModelSchema>),
        properties: LinkProperties,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        self.detach_single_peer(view, relationship, node, peer, peer_model, ops)
            .await?;
        ops.push(links::set(relationship, node, peer, properties));
        Ok(())
    }

    /// Operations that detach `peer` from its current partner when the other side of
    /// `relationship` holds at most one peer (moving an interface to another device).
    async fn detach_single_peer(
        &self,
        view: &BranchView,
        relationship: &RelationshipSchema,
        node: NodeId,
        peer: NodeId,
        peer_model: Option<&ModelSchema>,
        ops: &mut Vec<Op>,
    ) -> Result<()> {
        let Some(peer_model) = peer_model else {
            return Ok(());
        };
        let Some(reverse) = links::reverse(relationship, peer_model) else {
            return Ok(());
        };
        if reverse.cardinality != Cardinality::One {
            return Ok(());
        }
        let selection = Selection {
            attributes: Some(Vec::new()),
            links: vec![links::selection(reverse)],
        };
        let current = self.store().get_nodes(view, &[peer], &selection).await?;
        for link in current.iter().flat_map(|n| n.links.iter()) {
            if link.peer != node {
                ops.push(links::remove(reverse, peer, link.peer));
            }
        }
        Ok(())
    }

    pub(super) fn unique_conditions(
        model: &ModelSchema,
        values: &Values,
        peers: &PeerSets,
        except: Option<NodeId>,
    ) -> Vec<Condition> {
        let mut conditions = Vec::new();
        for group in model.uniqueness_constraints.iter().flatten() {
            let mut fields = Vec::new();
            let mut shown = Vec::new();
            let mut complete = true;
            for path in group {
                let first = path.split("__").next().unwrap_or_default();
                if let Some(attribute) = model.attribute(first) {
                    let value = values.get(&attribute.name).cloned().unwrap_or(Value::Null);
                    if value.is_null() {
                        complete = false;
                        break;
                    }
                    shown.push(format!("{} = {}", attribute.name, value));
                    fields.push(UniqueField::Attribute {
                        name: attribute.name.clone(),
                        value,
                    });
                } else if let Some(relationship) = model.relationship(first) {
                    let Some(peer) = peers.get(&relationship.name).and_then(|p| p.first()) else {
                        complete = false;
                        break;
                    };
                    shown.push(format!("{} = {peer}", relationship.name));
                    fields.push(UniqueField::Link {
                        identifier: relationship.identifier().to_string(),
                        side: links::side(relationship),
                        peer: *peer,
                    });
                }
            }
            if complete && !fields.is_empty() {
                conditions.push(Condition::Unique {
                    labels: vec![model.kind()],
                    fields,
                    except,
                    description: format!(
                        "Violates uniqueness constraint '{}' of {}: an object with {} already exists",
                        group.join("-"),
                        model.kind(),
                        shown.join(", ")
                    ),
                });
            }
        }
        conditions
    }

    /// Commits a node mutation; once it is committed, the commit observers learn the kinds of
    /// the nodes it wrote (`kinds`) before anything else can fail.
    async fn commit_checked<'k>(
        &self,
        changeset: Changeset,
        kinds: impl IntoIterator<Item = &'k str>,
    ) -> Result<Timestamp> {
        let branch = changeset.branch.clone();
        match self.store().commit(changeset).await {
            Ok(commit) => {
                let kinds: Vec<&str> = kinds.into_iter().collect();
                self.notify_commit(&branch, &kinds);
                Ok(commit.at)
            }
            Err(err) if err.kind() == infrahub_graph::ErrorKind::ConditionFailed => {
                Err(Error::new(ErrorKind::Uniqueness, err.to_string()))
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
        let schema = self.schema(branch)?;
        let model = schema.get(kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{kind}` not found on branch `{branch}`"),
            )
        })?;
        Engine::creatable(model)?;
        Engine::check_attribute_names(model, &input)?;
        let view = BranchView::now(branch);
        let id = match &input.id {
            Some(text) => parse_id("id", text)?,
            None => new_node_id(),
        };
        let mut ops = vec![Op::CreateNode {
            id,
            kind: model.kind(),
            labels: model.storage_labels(),
            scope: links::scope(Some(model.branch)),
        }];
        let mut values: Values = BTreeMap::new();
        let mut changes: BTreeMap<String, AttributeChange> = BTreeMap::new();
        for attribute in &model.attributes {
            let given = input.attributes.get(&attribute.name);
            let explicit = given.and_then(|g| g.value.clone());
            if explicit.is_some()
                && attribute.read_only
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
            if raw.is_null() && !attribute.optional && !attribute.read_only {
                return Err(validation(format!(
                    "{} is mandatory for {}",
                    attribute.name,
                    model.kind()
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
        let mut peers: PeerSets = BTreeMap::new();
        let mut relationship_changes: BTreeMap<String, RelationshipChange> = BTreeMap::new();
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
                    self.resolve_peers(&view, &schema, model, relationship, given)
                        .await?
                }
                None => Vec::new(),
            };
            if relationship.kind != crate::schema::RelationshipKind::Hierarchy
                || relationship.name != "children"
            {
                Engine::check_counts(model, relationship, resolved.len())?;
            }
            for peer in &resolved {
                let properties = Engine::link_properties(relationship, &peer.input, None)?;
                self.link_peer(
                    &view,
                    relationship,
                    id,
                    (peer.id, schema.get(&peer.kind)),
                    properties,
                    &mut ops,
                )
                .await?;
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
            },
        )
        .await?;
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
        changeset.ops = ops;
        changeset.conditions = Engine::unique_conditions(model, &values, &peers, Some(id));
        refresh.add_to(&mut changeset);
        let kind_written = model.kind();
        let at = self
            .commit_checked(changeset, [kind_written.as_str()])
            .await?;
        written::stamp(&mut written, at);
        // A new node is exactly what was written: no need to read it back.
        let node = self
            .to_nodes(&view, &schema, vec![written], &Fields::everything(model))
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Internal, format!("node {id} has no kind")))?;
        let mut events = vec![Event::NodeCreated(NodeEvent {
            branch: branch.to_string(),
            kind: model.kind(),
            node_id: id,
            at,
            display_label: node.display_label.clone(),
            attributes: changes,
            relationships: relationship_changes,
        })];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
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

    /// Updates the node `input.id` or `input.hfid` designates among nodes of `kind`: attributes
    /// given change, others are kept; a given relationship's peer set replaces the current one.
    pub async fn update(&self, branch: &str, kind: &str, input: NodeInput) -> Result<Mutation> {
        let view = BranchView::now(branch);
        let reference = NodeRef {
            id: input.id.clone(),
            hfid: input.hfid.clone(),
        };
        if reference.id.is_none() && reference.hfid.is_none() {
            return Err(validation(format!(
                "an update of {kind} needs an `id` or an `hfid`"
            )));
        }
        let id = self.resolve(&view, kind, &reference).await?;
        self.update_node(branch, id, input).await
    }

    async fn update_node(&self, branch: &str, id: NodeId, input: NodeInput) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let view = BranchView::now(branch);
        let existence = self
            .store()
            .get_nodes(&view, &[id], &Selection::nothing())
            .await?;
        let kind = existence
            .first()
            .map(|n| n.kind.clone())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let model = schema
            .get(&kind)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("kind `{kind}` not found")))?;
        Engine::check_attribute_names(model, &input)?;
        // The stored node is kept: the node after the write is this with the write laid over.
        let everything = Fields::everything(model);
        let mut stored = self
            .read_data(&view, model, id, &everything)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let current = self
            .to_nodes(&view, &schema, vec![stored.clone()], &everything)
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("node {id} not found")))?;
        let mut ops = Vec::new();
        let mut values: Values = current
            .attributes
            .iter()
            .map(|(k, a)| (k.clone(), a.value.clone()))
            .collect();
        let mut changes: BTreeMap<String, AttributeChange> = BTreeMap::new();
        for (name, given) in &input.attributes {
            let Some(attribute) = model.attribute(name) else {
                continue;
            };
            let Some(before) = current.attributes.get(name) else {
                continue;
            };
            if given.value.is_some() && attribute.read_only && !Engine::internal_kind(model) {
                return Err(validation(format!(
                    "`{name}` of {} is read-only",
                    model.kind()
                )));
            }
            let (value, is_default, is_from_profile) = if given.is_default == Some(true) {
                (
                    attribute.default_value.clone().unwrap_or(Value::Null),
                    true,
                    false,
                )
            } else {
                match &given.value {
                    Some(raw) => (
                        self.stored_value(model, attribute, raw).await?,
                        false,
                        false,
                    ),
                    None => (
                        before.value.clone(),
                        before.is_default,
                        before.is_from_profile,
                    ),
                }
            };
            // A value that stops following its profile stops naming it as its source.
            let inherited_source = if before.is_from_profile && !is_from_profile {
                None
            } else {
                before.source
            };
            if value.is_null() && !attribute.optional && !attribute.read_only {
                return Err(validation(format!(
                    "{name} is mandatory for {}",
                    model.kind()
                )));
            }
            let stored = AttributeValue {
                value: value.clone(),
                is_default,
                is_protected: given.is_protected.unwrap_or(before.is_protected),
                is_visible: given.is_visible.unwrap_or(before.is_visible),
                source: optional_id("source", &given.source)?.or(inherited_source),
                owner: optional_id("owner", &given.owner)?.or(before.owner),
                is_from_profile,
            };
            let unchanged = stored.value == before.value
                && stored.is_default == before.is_default
                && stored.is_from_profile == before.is_from_profile
                && stored.is_protected == before.is_protected
                && stored.is_visible == before.is_visible
                && stored.source == before.source
                && stored.owner == before.owner
                && before.updated_at.is_some();
            if unchanged {
                continue;
            }
            if stored.value != before.value {
                changes.insert(
                    name.clone(),
                    AttributeChange {
                        kind: attribute.kind.to_string(),
                        value: value.clone(),
                        value_previous: before.value.clone(),
                    },
                );
            }
            values.insert(name.clone(), value);
            ops.push(Op::SetAttribute {
                node: id,
                name: name.clone(),
                value: stored,
                scope: links::scope(attribute.branch),
                indexed: !attribute.kind.is_large(),
            });
        }
        let mut peers: PeerSets = current
            .relationships
            .iter()
            .map(|(name, list)| (name.clone(), list.iter().map(|p| p.id).collect()))
            .collect();
        let mut relationship_changes: BTreeMap<String, RelationshipChange> = BTreeMap::new();
        for (name, given) in &input.relationships {
            let Some(relationship) = model.relationship(name) else {
                continue;
            };
            if relationship.read_only && !Engine::internal_kind(model) {
                return Err(validation(format!(
                    "`{name}` of {} is read-only",
                    model.kind()
                )));
            }
            let resolved = self
                .resolve_peers(&view, &schema, model, relationship, given)
                .await?;
            Engine::check_counts(model, relationship, resolved.len())?;
            let before: Vec<&super::node::Peer> = current.peers(name).iter().collect();
            let after: BTreeSet<NodeId> = resolved.iter().map(|p| p.id).collect();
            let mut change = RelationshipChange::default();
            for old in &before {
                if !after.contains(&old.id) {
                    ops.push(links::remove(relationship, id, old.id));
                    change.removed.push(old.id);
                }
            }
            for peer in &resolved {
                let existing = before.iter().find(|p| p.id == peer.id).copied();
                let properties = Engine::link_properties(relationship, &peer.input, existing)?;
                let same = existing.is_some_and(|e| {
                    e.is_protected == properties.is_protected
                        && e.is_visible == properties.is_visible
                        && e.source == properties.source
                        && e.owner == properties.owner
                });
                if same {
                    continue;
                }
                if existing.is_none() {
                    change.added.push(peer.id);
                    self.link_peer(
                        &view,
                        relationship,
                        id,
                        (peer.id, schema.get(&peer.kind)),
                        properties,
                        &mut ops,
                    )
                    .await?;
                } else {
                    ops.push(links::set(relationship, id, peer.id, properties));
                }
            }
            if !change.added.is_empty() || !change.removed.is_empty() {
                relationship_changes.insert(name.clone(), change);
            }
            peers.insert(name.clone(), after.into_iter().collect());
        }
        // Stored values already follow the node's profiles; they change only with its profile
        // set or with an attribute handed back to its default.
        let profiles_in_play = input.relationships.contains_key(PROFILES)
            || input
                .attributes
                .values()
                .any(|a| a.is_default == Some(true));
        if profiles_in_play {
            let profiles = peers.get(PROFILES).cloned().unwrap_or_default();
            self.apply_profiles(
                &view,
                PendingWrite {
                    id,
                    model,
                    current: Some(&current),
                    profiles: &profiles,
                    ops: &mut ops,
                    values: &mut values,
                    changes: &mut changes,
                },
            )
            .await?;
        }
        if ops.is_empty() {
            return Ok(Mutation {
                node: current,
                created: false,
                events: Vec::new(),
                at: None,
            });
        }
        // Uniqueness needs every peer of constrained relationships, read or not.
        for group in model.uniqueness_constraints.iter().flatten() {
            for path in group {
                if let Some(relationship) = model.relationship(path)
                    && !peers.contains_key(&relationship.name)
                {
                    let selection = Selection {
                        attributes: Some(Vec::new()),
                        links: vec![links::selection(relationship)],
                    };
                    let read = self.store().get_nodes(&view, &[id], &selection).await?;
                    peers.insert(
                        relationship.name.clone(),
                        read.iter()
                            .flat_map(|n| n.links.iter().map(|l| l.peer))
                            .collect(),
                    );
                }
            }
        }
        let changed: BTreeSet<String> = input.relationships.keys().cloned().collect();
        self.check_common_parents(&view, model, &peers, &changed)
            .await?;
        written::overlay(&mut stored, branch, &ops);
        // The nodes that used the profile and those that use it now take its new values in the
        // same changeset.
        let mut refresh = if is_profile(model) {
            let users = current
                .peers(RELATED_NODES)
                .iter()
                .map(|p| p.id)
                .chain(peers.get(RELATED_NODES).into_iter().flatten().copied());
            self.plan_refresh(branch, &schema, &users.collect(), &ops, &BTreeSet::new())
                .await?
        } else {
            Refresh::default()
        };
        let mut changeset = Changeset::new(branch);
        changeset.ops = ops;
        changeset.conditions = Engine::unique_conditions(model, &values, &peers, Some(id));
        refresh.add_to(&mut changeset);
        let kind_written = model.kind();
        let at = self
            .commit_checked(changeset, [kind_written.as_str()])
            .await?;
        written::stamp(&mut stored, at);
        let node = self
            .to_nodes(&view, &schema, vec![stored], &everything)
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Internal, format!("node {id} has no kind")))?;
        let mut events = vec![Event::NodeUpdated(NodeEvent {
            branch: branch.to_string(),
            kind: model.kind(),
            node_id: id,
            at,
            display_label: node.display_label.clone(),
            attributes: changes,
            relationships: relationship_changes,
        })];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
        Ok(Mutation {
            node,
            created: false,
            events,
            at: Some(at),
        })
    }

    /// Creates the node, or updates it if it exists: found by `id`, else by the human-friendly
    /// id its data gives, else by the kind's `default_filter`.
    pub async fn upsert(&self, branch: &str, kind: &str, input: NodeInput) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let model = schema.get(kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{kind}` not found on branch `{branch}`"),
            )
        })?;
        let view = BranchView::now(branch);
        if let Some(text) = &input.id {
            let id = parse_id("id", text)?;
            let exists = !self
                .store()
                .get_nodes(&view, &[id], &Selection::nothing())
                .await?
                .is_empty();
            if exists {
                return self.update_node(branch, id, input).await;
            }
        } else if let Some(hfid) = &input.hfid
            && let Some((id, _)) = self
                .resolve_in(&view, &schema, model, None, Some(hfid))
                .await?
        {
            return self.update_node(branch, id, input).await;
        }
        // Not found by the id or human-friendly id given: as upstream, a create that would
        // collide with the human-friendly id (or default filter) of an existing node updates
        // that node instead (an export loaded into another instance, whose built-in nodes
        // have other ids).
        if let Some(id) = self.find_by_data(&view, &schema, model, &input).await? {
            return self.update_node(branch, id, input).await;
        }
        match self.create(branch, kind, input.clone()).await {
            // Another upsert of the same data created the node since the lookup: update it,
            // as upstream does when its create loses the race.
            Err(error) if error.kind() == ErrorKind::Uniqueness => {
                match self.find_by_data(&view, &schema, model, &input).await? {
                    Some(id) => self.update_node(branch, id, input).await,
                    None => Err(error),
                }
            }
            outcome => outcome,
        }
    }

    /// The existing node whose human-friendly id (or default filter) the data of `input` gives.
    async fn find_by_data(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        input: &NodeInput,
    ) -> Result<Option<NodeId>> {
        let paths: Vec<String> = match (&model.human_friendly_id, &model.default_filter) {
            (Some(hfid), _) => hfid.clone(),
            (None, Some(filter)) => vec![filter.clone()],
            (None, None) => return Ok(None),
        };
        let mut filters = Vec::new();
        for path in &paths {
            let parts: Vec<&str> = path.split("__").collect();
            if let Some(attribute) = model.attribute(parts[0]) {
                let Some(value) = input
                    .attributes
                    .get(parts[0])
                    .and_then(|a| a.value.clone())
                    .filter(|v| !v.is_null())
                else {
                    return Ok(None);
                };
                let value = crate::value::canonicalize(attribute, &value).unwrap_or(value);
                filters.push(Filter::Attribute {
                    name: attribute.name.clone(),
                    property: infrahub_graph::Property::Value,
                    matches: infrahub_graph::Match::Equals(value),
                });
            } else if let Some(relationship) = model.relationship(parts[0]) {
                let Some(RelationshipInput::One(Some(peer))) = input.relationships.get(parts[0])
                else {
                    return Ok(None);
                };
                let (peer, _) = self
                    .resolve_peer(view, schema, model, relationship, peer)
                    .await?;
                filters.push(Filter::Linked {
                    identifier: relationship.identifier().to_string(),
                    side: links::side(relationship),
                    peers: vec![peer],
                });
            } else {
                return Ok(None);
            }
        }
        let query = NodeQuery {
            labels: vec![model.kind()],
            filters,
            limit: Some(2),
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let result = self.store().query(view, &query).await?;
        Ok(if result.nodes.len() == 1 {
            Some(result.nodes[0].id)
        } else {
            None
        })
    }

    /// Deletes the node `reference` designates among nodes of `kind`, and the nodes its
    /// cascading relationships own; refuses if another node requires it.
    pub async fn delete(
        &self,
        branch: &str,
        kind: &str,
        reference: &NodeRef,
    ) -> Result<Vec<Event>> {
        let view = BranchView::now(branch);
        let id = self.resolve(&view, kind, reference).await?;
        self.delete_nodes(branch, &[id]).await
    }

    async fn delete_nodes(&self, branch: &str, roots: &[NodeId]) -> Result<Vec<Event>> {
        let schema = self.schema(branch)?;
        let view = BranchView::now(branch);
        let mut doomed: BTreeMap<NodeId, Node> = BTreeMap::new();
        let mut queue: Vec<NodeId> = roots.to_vec();
        while let Some(id) = queue.pop() {
            if doomed.contains_key(&id) {
                continue;
            }
            let existence = self
                .store()
                .get_nodes(&view, &[id], &Selection::nothing())
                .await?;
            let Some(kind) = existence.first().map(|n| n.kind.clone()) else {
                continue;
            };
            let Some(model) = schema.get(&kind) else {
                continue;
            };
            let node = self.read_back(branch, model, id).await?;
            for relationship in &model.relationships {
                if relationship.on_delete == Some(OnDelete::Cascade) {
                    queue.extend(node.peers(&relationship.name).iter().map(|p| p.id));
                }
            }
            doomed.insert(id, node);
        }
        // A node another node requires (mandatory relationship) cannot go alone.
        for node in doomed.values() {
            let Some(model) = schema.get(&node.kind) else {
                continue;
            };
            for relationship in &model.relationships {
                for peer in node.peers(&relationship.name) {
                    if doomed.contains_key(&peer.id) {
                        continue;
                    }
                    let existence = self
                        .store()
                        .get_nodes(&view, &[peer.id], &Selection::nothing())
                        .await?;
                    let Some(peer_model) = existence.first().and_then(|n| schema.get(&n.kind))
                    else {
                        continue;
                    };
                    let Some(reverse) = links::reverse(relationship, peer_model) else {
                        continue;
                    };
                    if reverse.optional && reverse.min_count == 0 {
                        continue;
                    }
                    let selection = Selection {
                        attributes: Some(Vec::new()),
                        links: vec![LinkSelection {
                            identifier: reverse.identifier().to_string(),
                            side: links::side(reverse),
                        }],
                    };
                    let remaining = self
                        .store()
                        .get_nodes(&view, &[peer.id], &selection)
                        .await?
                        .iter()
                        .flat_map(|n| n.links.iter())
                        .filter(|l| !doomed.contains_key(&l.peer))
                        .count();
                    if (remaining as i64) < reverse.min_count.max(1) {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "Cannot delete {} '{}': {} '{}' requires it through its mandatory relationship `{}`",
                                node.kind,
                                node.display_label,
                                peer_model.kind(),
                                peer.id,
                                reverse.name
                            ),
                        ));
                    }
                }
            }
        }
        let mut changeset = Changeset::new(branch);
        for node in doomed.values() {
            let scope = schema
                .get(&node.kind)
                .map_or(infrahub_graph::Scope::Branch, |m| {
                    links::scope(Some(m.branch))
                });
            changeset.push(Op::DeleteNode { id: node.id, scope });
        }
        // Nodes that used a deleted profile lose the values it gave them, in the same changeset.
        let users: BTreeSet<NodeId> = doomed
            .values()
            .filter(|node| schema.get(&node.kind).is_some_and(is_profile))
            .flat_map(|node| node.peers(RELATED_NODES).iter().map(|p| p.id))
            .collect();
        let gone: BTreeSet<NodeId> = doomed.keys().copied().collect();
        let mut refresh = self
            .plan_refresh(branch, &schema, &users, &changeset.ops, &gone)
            .await?;
        refresh.add_to(&mut changeset);
        let at = self
            .commit_checked(changeset, doomed.values().map(|node| node.kind.as_str()))
            .await?;
        let refreshed = self.refresh_events(branch, &schema, refresh, at).await?;
        let mut events: Vec<Event> = doomed
            .into_values()
            .map(|node| {
                Event::NodeDeleted(NodeEvent {
                    branch: branch.to_string(),
                    kind: node.kind.clone(),
                    node_id: node.id,
                    at,
                    display_label: node.display_label.clone(),
                    attributes: node
                        .attributes
                        .iter()
                        .filter(|(_, a)| !a.value.is_null())
                        .map(|(name, a)| {
                            (
                                name.clone(),
                                AttributeChange {
                                    kind: String::new(),
                                    value: Value::Null,
                                    value_previous: a.value.clone(),
                                },
                            )
                        })
                        .collect(),
                    relationships: node
                        .relationships
                        .iter()
                        .filter(|(_, peers)| !peers.is_empty())
                        .map(|(name, peers)| {
                            (
                                name.clone(),
                                RelationshipChange {
                                    added: Vec::new(),
                                    removed: peers.iter().map(|p| p.id).collect(),
                                },
                            )
                        })
                        .collect(),
                })
            })
            .collect();
        events.extend(refreshed);
        Ok(events)
    }

    /// Adds peers to (`add = true`) or removes peers from a cardinality-many relationship of a
    /// node, leaving its other peers alone.
    pub async fn relationship_change(
        &self,
        branch: &str,
        node: &str,
        name: &str,
        peers: &[PeerInput],
        add: bool,
    ) -> Result<Vec<Event>> {
        let view = BranchView::now(branch);
        let schema = self.schema(branch)?;
        let id = parse_id("id", node)?;
        let existence = self
            .store()
            .get_nodes(&view, &[id], &Selection::nothing())
            .await?;
        let kind = existence.first().map(|n| n.kind.clone()).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("Unable to find the node {node} in the database."),
            )
        })?;
        let model = schema
            .get(&kind)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("kind `{kind}` not found")))?;
        let relationship = model
            .relationship(name)
            .ok_or_else(|| validation(format!("`{name}` is not a relationship of {kind}")))?;
        if relationship.cardinality != Cardinality::Many {
            return Err(validation(format!(
                "`{name}` of {kind} has cardinality one; set it with an update"
            )));
        }
        let current = self.read_back(branch, model, id).await?;
        let present: BTreeSet<NodeId> = current.peers(name).iter().map(|p| p.id).collect();
        let mut ops = Vec::new();
        let mut change = RelationshipChange::default();
        let mut count = present.len();
        for peer in peers {
            let (peer_id, peer_kind) = self
                .resolve_peer(&view, &schema, model, relationship, peer)
                .await?;
            match (add, present.contains(&peer_id)) {
                (true, false) => {
                    let properties = Engine::link_properties(relationship, peer, None)?;
                    self.link_peer(
                        &view,
                        relationship,
                        id,
                        (peer_id, schema.get(&peer_kind)),
                        properties,
                        &mut ops,
                    )
                    .await?;
                    change.added.push(peer_id);
                    count += 1;
                }
                (false, true) => {
                    ops.push(links::remove(relationship, id, peer_id));
                    change.removed.push(peer_id);
                    count -= 1;
                }
                _ => {}
            }
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        Engine::check_counts(model, relationship, count)?;
        // Linking or unlinking profiles changes the values the nodes take from them, in the
        // same changeset.
        let users: BTreeSet<NodeId> = if name == PROFILES {
            BTreeSet::from([id])
        } else if is_profile(model) && name == RELATED_NODES {
            change
                .added
                .iter()
                .chain(&change.removed)
                .copied()
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut refresh = self
            .plan_refresh(branch, &schema, &users, &ops, &BTreeSet::new())
            .await?;
        // The node's own event reports what its profiles changed on it.
        let attributes = refresh.take_changes(id);
        let mut changeset = Changeset::new(branch);
        changeset.ops = ops;
        refresh.add_to(&mut changeset);
        let at = self.commit_checked(changeset, [kind.as_str()]).await?;
        let mut relationships = BTreeMap::new();
        relationships.insert(name.to_string(), change);
        let mut events = vec![Event::NodeUpdated(NodeEvent {
            branch: branch.to_string(),
            kind,
            node_id: id,
            at,
            display_label: current.display_label,
            attributes,
            relationships,
        })];
        events.extend(self.refresh_events(branch, &schema, refresh, at).await?);
        Ok(events)
    }

    /// Checks a password against an account's stored hash.
    pub fn verify_password(stored_hash: &str, password: &str) -> bool {
        bcrypt::verify(password, stored_hash).unwrap_or(false)
    }
}
