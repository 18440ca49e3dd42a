//! Reading nodes: selections, human-friendly ids, display labels.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infrahub_graph::{BranchView, NodeData, NodeId, NodeQuery, Selection};
use serde_json::Value;

use crate::error::Result;
use crate::schema::{AttributeSchema, Cardinality, ModelSchema, RelationshipSchema, SchemaBranch};

use super::Engine;
use super::links;
use super::node::{Attribute, Node, Peer};

/// What to read of each node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// Attributes to read: `None` for all.
    pub attributes: Option<Vec<String>>,
    /// Relationships to read, by name.
    pub relationships: Vec<String>,
}

impl Fields {
    /// Every attribute and every relationship of `model`.
    pub fn everything(model: &ModelSchema) -> Fields {
        Fields {
            attributes: None,
            relationships: model.relationships.iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// Only the node itself (id, kind, hfid, display label).
    pub fn minimal() -> Fields {
        Fields {
            attributes: Some(Vec::new()),
            relationships: Vec::new(),
        }
    }
}

/// A path like `name__value` or `site__name__value` split into (relationship, attribute).
fn split_path(model: &ModelSchema, path: &str) -> Option<(Option<String>, String)> {
    let parts: Vec<&str> = path.split("__").collect();
    if model.relationship(parts[0]).is_some() {
        return Some((Some(parts[0].to_string()), (*parts.get(1)?).to_string()));
    }
    model
        .attribute(parts[0])
        .map(|_| (None, parts[0].to_string()))
}

/// Paths the display label of `model` uses.
fn display_paths(model: &ModelSchema) -> Vec<String> {
    if let Some(label) = &model.display_label {
        if label.contains("{{") || label.contains("{%") {
            let environment = minijinja::Environment::new();
            return environment
                .template_from_str(label)
                .map(|t| t.undeclared_variables(false).into_iter().collect())
                .unwrap_or_default();
        }
        return vec![label.clone()];
    }
    model.display_labels.clone().unwrap_or_default()
}

/// The Jinja2 environment display labels render in: upstream's filters for permission labels
/// (`value_to_permission_decision_name`, `value_to_permission_action_name`) included.
fn label_environment() -> minijinja::Environment<'static> {
    let mut environment = minijinja::Environment::new();
    environment.add_filter(
        "value_to_permission_decision_name",
        |value: minijinja::Value| -> Result<String, minijinja::Error> {
            let number = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|text| text.parse().ok()));
            match number {
                Some(1) => Ok("DENY".into()),
                Some(2) => Ok("ALLOW_DEFAULT".into()),
                Some(4) => Ok("ALLOW_OTHER".into()),
                Some(6) => Ok("ALLOW_ALL".into()),
                _ => Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("`{value}` is not a permission decision"),
                )),
            }
        },
    );
    environment.add_filter(
        "value_to_permission_action_name",
        |value: minijinja::Value| -> String { value.to_string().to_uppercase() },
    );
    environment
}

/// Text form of a value for human-friendly ids and display labels.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Engine {
    /// The store selection that reads `fields` of nodes of `model`, plus what their
    /// human-friendly id and display label need.
    pub(super) fn graph_selection(&self, model: &ModelSchema, fields: &Fields) -> Selection {
        let mut attributes: Option<BTreeSet<String>> = fields
            .attributes
            .as_ref()
            .map(|a| a.iter().cloned().collect());
        let mut relationships: BTreeSet<String> = fields.relationships.iter().cloned().collect();
        let mut helper_paths: Vec<String> = model.human_friendly_id.clone().unwrap_or_default();
        helper_paths.extend(display_paths(model));
        for path in helper_paths {
            if let Some((relationship, attribute)) = split_path(model, &path) {
                match relationship {
                    Some(name) => {
                        relationships.insert(name);
                    }
                    None => {
                        if let Some(set) = attributes.as_mut() {
                            set.insert(attribute);
                        }
                    }
                }
            }
        }
        if let Some(set) = attributes.as_mut()
            && set
                .iter()
                .any(|a| super::ipam::DERIVED.contains(&a.as_str()))
        {
            set.extend(super::ipam::DERIVED_NEEDS.iter().map(|a| a.to_string()));
        }
        Selection {
            attributes: attributes.map(|a| a.into_iter().collect()),
            links: relationships
                .iter()
                .filter_map(|name| model.relationship(name))
                .map(links::selection)
                .collect(),
        }
    }

    /// The stored form of node `id` of `model`, with what `fields` and its human-friendly id
    /// and display label need (`None` if it is not visible).
    pub(crate) async fn read_data(
        &self,
        view: &BranchView,
        model: &ModelSchema,
        id: NodeId,
        fields: &Fields,
    ) -> Result<Option<NodeData>> {
        let selection = self.graph_selection(model, fields);
        Ok(self.store().get_nodes(view, &[id], &selection).await?.pop())
    }

    /// Reads nodes by id through `view`; ids not visible, or not of `kind` (a node kind or a
    /// generic they implement), are left out.
    pub async fn get(
        &self,
        view: &BranchView,
        kind: &str,
        ids: &[NodeId],
        fields: &Fields,
    ) -> Result<Vec<Node>> {
        let schema = self.schema_for(view).await?;
        let model = super::filters::model_of(&schema, kind, view)?;
        let selection = self.graph_selection(model, fields);
        let data = self.store().get_nodes(view, ids, &selection).await?;
        let data: Vec<NodeData> = data
            .into_iter()
            .filter(|n| n.labels.iter().any(|l| l == kind))
            .collect();
        self.to_nodes(view, &schema, data, fields).await
    }

    /// The node of `kind` that `id_or_value` names through `view`: its id, else a value of
    /// the kind's `default_filter` (usually its name); `None` when no node matches.
    ///
    /// # Errors
    ///
    /// An unknown kind; the store's errors.
    pub async fn find(
        &self,
        view: &BranchView,
        kind: &str,
        id_or_value: &str,
        fields: &Fields,
    ) -> Result<Option<Node>> {
        let reference = super::input::NodeRef {
            id: Some(id_or_value.to_owned()),
            hfid: None,
        };
        let id = match self.resolve(view, kind, &reference).await {
            Ok(id) => id,
            Err(error) if error.kind() == crate::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(self
            .get(view, kind, &[id], fields)
            .await?
            .into_iter()
            .next())
    }

    /// Reads any nodes by id through `view`, whatever their kind, with `fields` applied to each
    /// kind (fields a kind does not have are ignored).
    pub async fn get_any(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        fields: &Fields,
    ) -> Result<Vec<Node>> {
        let schema = self.schema_for(view).await?;
        // One read to learn the kinds, then one read per kind with its selection.
        let existence = self
            .store()
            .get_nodes(view, ids, &Selection::nothing())
            .await?;
        let kinds: Vec<(NodeId, String)> = existence.into_iter().map(|n| (n.id, n.kind)).collect();
        self.load_by_kind(view, &schema, &kinds, fields).await
    }

    /// Reads nodes whose kinds are known, with `fields` applied to each kind; keeps the order
    /// of `nodes`.
    pub(super) async fn load_by_kind(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        nodes: &[(NodeId, String)],
        fields: &Fields,
    ) -> Result<Vec<Node>> {
        let mut by_kind: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        for (id, kind) in nodes {
            by_kind.entry(kind.as_str()).or_default().push(*id);
        }
        let mut found: HashMap<NodeId, Node> = HashMap::new();
        for (kind, kind_ids) in by_kind {
            let Some(model) = schema.get(kind) else {
                continue;
            };
            let kind_fields = Fields {
                attributes: fields.attributes.as_ref().map(|a| {
                    a.iter()
                        .filter(|n| model.attribute(n).is_some())
                        .cloned()
                        .collect()
                }),
                relationships: fields
                    .relationships
                    .iter()
                    .filter(|n| model.relationship(n).is_some())
                    .cloned()
                    .collect(),
            };
            let selection = self.graph_selection(model, &kind_fields);
            let data = self.store().get_nodes(view, &kind_ids, &selection).await?;
            for node in self.to_nodes(view, schema, data, &kind_fields).await? {
                found.insert(node.id, node);
            }
        }
        Ok(nodes
            .iter()
            .filter_map(|(id, _)| found.remove(id))
            .collect())
    }

    /// Runs a store query of nodes of `kind` and converts the page.
    pub(crate) async fn run_query(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        mut query: NodeQuery,
        fields: &Fields,
    ) -> Result<(Vec<Node>, u64)> {
        if model.is_generic() {
            // Nodes of several kinds: each kind reads its own fields, human-friendly id and
            // display label.
            query.select = Selection::nothing();
            let result = self.store().query(view, &query).await?;
            let kinds: Vec<(NodeId, String)> =
                result.nodes.into_iter().map(|n| (n.id, n.kind)).collect();
            let nodes = self.load_by_kind(view, schema, &kinds, fields).await?;
            return Ok((nodes, result.total.unwrap_or_default()));
        }
        query.select = self.graph_selection(model, fields);
        let result = self.store().query(view, &query).await?;
        let nodes = self.to_nodes(view, schema, result.nodes, fields).await?;
        Ok((nodes, result.total.unwrap_or_default()))
    }

    /// Converts store nodes into engine nodes: attributes with defaults for unset ones, peers,
    /// human-friendly ids and display labels (peer values read in one batch).
    pub(crate) async fn to_nodes(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        data: Vec<NodeData>,
        fields: &Fields,
    ) -> Result<Vec<Node>> {
        // Label and field plans by kind, worked out once per batch; lists hold few kinds
        // (mostly one), so a short list searched from the previous node's kind beats hashing
        // every node's kind.
        let mut plans: Vec<(String, LabelPlan, FieldPlan<'_>)> = Vec::new();
        // Per plan: whether its nodes are IP prefixes whose derived attributes are asked for.
        let derived = super::ipam::wants_derived(fields);
        let mut derived_plans: Vec<bool> = Vec::new();
        let mut plan_of: Vec<Option<usize>> = Vec::with_capacity(data.len());
        // Peer attributes the human-friendly ids and display labels need.
        let mut peer_needs: BTreeMap<NodeId, BTreeSet<String>> = BTreeMap::new();
        let mut current = 0;
        for node in &data {
            if plans
                .get(current)
                .is_none_or(|(kind, _, _)| *kind != node.kind)
            {
                match plans.iter().position(|(kind, _, _)| *kind == node.kind) {
                    Some(index) => current = index,
                    None => {
                        let Some(model) = schema.get(&node.kind) else {
                            plan_of.push(None);
                            continue;
                        };
                        plans.push((
                            node.kind.clone(),
                            LabelPlan::new(model),
                            FieldPlan::new(model, fields),
                        ));
                        derived_plans.push(
                            derived
                                && super::ipam::IpamRole::of(model)
                                    == Some(super::ipam::IpamRole::Prefix),
                        );
                        current = plans.len() - 1;
                    }
                }
            }
            plan_of.push(Some(current));
            for (identifier, attribute) in &plans[current].1.peers {
                for link in node.links.iter().filter(|l| &l.identifier == identifier) {
                    peer_needs
                        .entry(link.peer)
                        .or_default()
                        .insert(attribute.clone());
                }
            }
        }
        let mut peer_values: HashMap<NodeId, BTreeMap<String, Value>> = HashMap::new();
        if !peer_needs.is_empty() {
            let names: BTreeSet<String> = peer_needs.values().flatten().cloned().collect();
            let ids: Vec<NodeId> = peer_needs.keys().copied().collect();
            let selection = Selection {
                attributes: Some(names.into_iter().collect()),
                links: Vec::new(),
            };
            for peer in self.store().get_nodes(view, &ids, &selection).await? {
                peer_values.insert(
                    peer.id,
                    peer.attributes
                        .into_iter()
                        .map(|(k, v)| (k, v.value.value))
                        .collect(),
                );
            }
        }
        let mut nodes = Vec::with_capacity(data.len());
        // The stored values the derived IPAM attributes of prefixes are computed from.
        let mut raw: HashMap<NodeId, BTreeMap<String, Value>> = HashMap::new();
        for (node, plan) in data.into_iter().zip(plan_of) {
            let Some(index) = plan else {
                continue;
            };
            if derived_plans[index] {
                raw.insert(
                    node.id,
                    super::ipam::DERIVED_NEEDS
                        .iter()
                        .filter_map(|name| {
                            let value = node.attributes.get(*name)?.value.value.clone();
                            Some((name.to_string(), value))
                        })
                        .collect(),
                );
            }
            let (_, labels, field_plan) = &plans[index];
            nodes.push(build_node(labels, field_plan, node, &peer_values));
        }
        if !raw.is_empty() {
            self.ipam_derived(view, schema, &mut nodes, fields, &raw)
                .await?;
        }
        Ok(nodes)
    }
}

/// Where a human-friendly id or display label part comes from.
enum PathRef {
    /// An attribute of the node.
    Attribute(String),
    /// An attribute of the peer through a relationship (by identifier).
    Peer {
        identifier: String,
        attribute: String,
    },
    /// A path the model does not have.
    Missing,
}

impl PathRef {
    fn new(model: &ModelSchema, path: &str) -> PathRef {
        match split_path(model, path) {
            Some((None, attribute)) => PathRef::Attribute(attribute),
            Some((Some(relationship), attribute)) => match model.relationship(&relationship) {
                Some(rel) => PathRef::Peer {
                    identifier: rel.identifier().to_string(),
                    attribute,
                },
                None => PathRef::Missing,
            },
            None => PathRef::Missing,
        }
    }
}

/// How a display label is made.
enum DisplayPlan {
    /// A Jinja2 template and the path of each of its variables.
    Template(Box<minijinja::Environment<'static>>, Vec<(String, PathRef)>),
    /// One path (`display_label: name__value`).
    Path(PathRef),
    /// Paths joined with spaces (`display_labels`).
    Paths(Vec<PathRef>),
    /// `<Kind>(ID: <id>)`.
    Fallback,
}

/// The human-friendly id and display label recipe of one kind, worked out once per batch of
/// nodes of that kind.
struct LabelPlan {
    hfid: Option<Vec<PathRef>>,
    display: DisplayPlan,
    /// The (relationship identifier, peer attribute) pairs the two read from peers.
    peers: Vec<(String, String)>,
}

impl LabelPlan {
    fn new(model: &ModelSchema) -> LabelPlan {
        let hfid = model
            .human_friendly_id
            .as_ref()
            .map(|paths| paths.iter().map(|p| PathRef::new(model, p)).collect());
        let display = match (&model.display_label, &model.display_labels) {
            (Some(label), _) if label.contains("{{") || label.contains("{%") => {
                let mut environment = label_environment();
                match environment.add_template_owned("label", label.clone()) {
                    Ok(()) => {
                        let variables: Vec<(String, PathRef)> = environment
                            .get_template("label")
                            .map(|t| {
                                t.undeclared_variables(false)
                                    .into_iter()
                                    .collect::<Vec<_>>()
                            })
                            .unwrap_or_default()
                            .into_iter()
                            .map(|v| {
                                let path = PathRef::new(model, &v);
                                (v, path)
                            })
                            .collect();
                        DisplayPlan::Template(Box::new(environment), variables)
                    }
                    Err(_) => DisplayPlan::Fallback,
                }
            }
            (Some(label), _) => DisplayPlan::Path(PathRef::new(model, label)),
            (None, Some(paths)) if !paths.is_empty() => {
                DisplayPlan::Paths(paths.iter().map(|p| PathRef::new(model, p)).collect())
            }
            _ => DisplayPlan::Fallback,
        };
        let display_paths: Vec<&PathRef> = match &display {
            DisplayPlan::Template(_, variables) => variables.iter().map(|(_, p)| p).collect(),
            DisplayPlan::Path(path) => vec![path],
            DisplayPlan::Paths(paths) => paths.iter().collect(),
            DisplayPlan::Fallback => Vec::new(),
        };
        let peers = hfid
            .iter()
            .flatten()
            .chain(display_paths)
            .filter_map(|path| match path {
                PathRef::Peer {
                    identifier,
                    attribute,
                } => Some((identifier.clone(), attribute.clone())),
                _ => None,
            })
            .collect();
        LabelPlan {
            hfid,
            display,
            peers,
        }
    }
}

/// What a read keeps of nodes of one kind: the attributes asked for and the relationships
/// asked for, with their link identifiers and sides, worked out once per batch.
struct FieldPlan<'a> {
    attributes: Vec<&'a AttributeSchema>,
    relationships: Vec<(&'a str, &'a RelationshipSchema, infrahub_graph::Side)>,
}

impl<'a> FieldPlan<'a> {
    fn new(model: &'a ModelSchema, fields: &'a Fields) -> FieldPlan<'a> {
        let attributes = model
            .attributes
            .iter()
            .filter(|a| {
                fields
                    .attributes
                    .as_ref()
                    .is_none_or(|list| list.contains(&a.name))
            })
            .collect();
        let relationships = fields
            .relationships
            .iter()
            .filter_map(|name| {
                model
                    .relationship(name)
                    .map(|r| (name.as_str(), r, links::side(r)))
            })
            .collect();
        FieldPlan {
            attributes,
            relationships,
        }
    }

    /// Whether the stored attribute `name` is asked for.
    fn wants(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }
}

/// The value a human-friendly id or display label path designates, borrowed from the node or
/// from its peers' values.
fn path_value<'v>(
    path: &PathRef,
    data: &'v NodeData,
    peer_values: &'v HashMap<NodeId, BTreeMap<String, Value>>,
) -> Option<&'v Value> {
    match path {
        PathRef::Attribute(attribute) => data.attributes.get(attribute).map(|a| &a.value.value),
        PathRef::Peer {
            identifier,
            attribute,
        } => data
            .links
            .iter()
            .find(|l| &l.identifier == identifier)
            .and_then(|link| peer_values.get(&link.peer))
            .and_then(|values| values.get(attribute)),
        PathRef::Missing => None,
    }
}

fn build_node(
    plan: &LabelPlan,
    fields: &FieldPlan<'_>,
    mut data: NodeData,
    peer_values: &HashMap<NodeId, BTreeMap<String, Value>>,
) -> Node {
    let text_of =
        |path: &PathRef| path_value(path, &data, peer_values).map_or_else(String::new, value_text);
    let hfid = plan
        .hfid
        .as_ref()
        .map(|paths| paths.iter().map(text_of).collect());
    let display_label = render_display_label(plan, &data, peer_values);
    // The node is consumed: stored values move into the result instead of being copied. They
    // come in name order, and inserting a handful of entries in order into a map is cheaper
    // than collecting (which sorts and bulk-builds).
    let stored = std::mem::take(&mut data.attributes);
    let mut attributes: BTreeMap<String, Attribute> = BTreeMap::new();
    for (name, state) in stored {
        if !fields.wants(&name) {
            continue;
        }
        let value = state.value;
        attributes.insert(
            name,
            Attribute {
                value: value.value,
                is_default: value.is_default,
                is_from_profile: value.is_from_profile,
                is_protected: value.is_protected,
                is_visible: value.is_visible,
                source: value.source,
                owner: value.owner,
                updated_at: Some(state.updated_at),
            },
        );
    }
    if attributes.len() < fields.attributes.len() {
        // Attributes never written take their schema default.
        for attribute in &fields.attributes {
            if attributes.contains_key(&attribute.name) {
                continue;
            }
            attributes.insert(
                attribute.name.clone(),
                Attribute {
                    value: attribute.default_value.clone().unwrap_or(Value::Null),
                    is_default: true,
                    is_from_profile: false,
                    is_protected: false,
                    is_visible: true,
                    source: None,
                    owner: None,
                    updated_at: None,
                },
            );
        }
    }
    let mut relationships = BTreeMap::new();
    for (name, relationship, side) in &fields.relationships {
        let identifier = relationship.identifier();
        let mut peers: Vec<Peer> = data
            .links
            .iter()
            .filter(|l| {
                l.identifier == identifier
                    && (*side == infrahub_graph::Side::Either || l.side == *side)
            })
            .map(|l| Peer {
                id: l.peer,
                is_protected: l.properties.is_protected,
                is_visible: l.properties.is_visible,
                source: l.properties.source,
                owner: l.properties.owner,
                updated_at: l.updated_at,
            })
            .collect();
        if peers.len() > 1 {
            peers.sort_by_key(|p| p.id);
            peers.dedup_by_key(|p| p.id);
        }
        if relationship.cardinality == Cardinality::One {
            peers.truncate(1);
        }
        relationships.insert((*name).to_string(), peers);
    }
    Node {
        id: data.id,
        kind: data.kind,
        hfid,
        display_label,
        updated_at: data.updated_at,
        attributes,
        relationships,
    }
}

fn render_display_label(
    plan: &LabelPlan,
    data: &NodeData,
    peer_values: &HashMap<NodeId, BTreeMap<String, Value>>,
) -> String {
    let fallback = || format!("{}(ID: {})", data.kind, data.id);
    let text_of =
        |path: &PathRef| path_value(path, data, peer_values).map_or_else(String::new, value_text);
    match &plan.display {
        DisplayPlan::Template(environment, variables) => {
            let Ok(template) = environment.get_template("label") else {
                return fallback();
            };
            let context: BTreeMap<&str, &Value> = variables
                .iter()
                .map(|(name, path)| {
                    (
                        name.as_str(),
                        path_value(path, data, peer_values).unwrap_or(&Value::Null),
                    )
                })
                .collect();
            template
                .render(minijinja::Value::from(minijinja::value::Serde(&context)))
                .unwrap_or_else(|_| fallback())
        }
        DisplayPlan::Path(path) => {
            let text = text_of(path);
            if text.is_empty() { fallback() } else { text }
        }
        DisplayPlan::Paths(paths) => {
            let parts: Vec<String> = paths
                .iter()
                .map(text_of)
                .filter(|t| !t.is_empty())
                .collect();
            if parts.is_empty() {
                fallback()
            } else {
                parts.join(" ")
            }
        }
        DisplayPlan::Fallback => fallback(),
    }
}

/// Which way a hierarchy walk goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HierarchyWalk {
    /// Parents, grandparents, ...: nearest first.
    Ancestors,
    /// Children, grandchildren, ...: breadth first.
    Descendants,
}

/// Deepest hierarchy a walk follows (a guard against cycles in corrupted data).
const MAX_HIERARCHY_DEPTH: usize = 128;

impl Engine {
    /// The ancestors or descendants of each of `ids` in their hierarchy, read level by level
    /// (one batch per level, whatever the number of nodes).
    pub async fn hierarchy(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        walk: HierarchyWalk,
    ) -> Result<HashMap<NodeId, Vec<NodeId>>> {
        let relationship = match walk {
            HierarchyWalk::Ancestors => "parent",
            HierarchyWalk::Descendants => "children",
        };
        let fields = Fields {
            attributes: Some(Vec::new()),
            relationships: vec![relationship.to_string()],
        };
        let mut found: HashMap<NodeId, Vec<NodeId>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        let mut seen: HashMap<NodeId, BTreeSet<NodeId>> =
            ids.iter().map(|id| (*id, BTreeSet::from([*id]))).collect();
        let mut frontier: Vec<(NodeId, NodeId)> = ids.iter().map(|id| (*id, *id)).collect();
        for _ in 0..MAX_HIERARCHY_DEPTH {
            if frontier.is_empty() {
                break;
            }
            let mut wanted: Vec<NodeId> = frontier.iter().map(|(_, n)| *n).collect();
            wanted.sort();
            wanted.dedup();
            let nodes = self.get_any(view, &wanted, &fields).await?;
            let peers: HashMap<NodeId, Vec<NodeId>> = nodes
                .iter()
                .map(|n| (n.id, n.peers(relationship).iter().map(|p| p.id).collect()))
                .collect();
            let mut next = Vec::new();
            for (root, node) in frontier {
                for peer in peers.get(&node).into_iter().flatten() {
                    if seen.entry(root).or_default().insert(*peer) {
                        found.entry(root).or_default().push(*peer);
                        next.push((root, *peer));
                    }
                }
            }
            frontier = next;
        }
        Ok(found)
    }
}
