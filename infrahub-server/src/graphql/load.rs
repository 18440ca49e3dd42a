//! Planning what to read from the fields a document selects, and reading it level by level:
//! one batch of store reads per relationship (and per lineage) selected, whatever the number of
//! nodes, and nothing that is not selected.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_graphql::SelectionField;
use infrahub_core::engine::{Fields, HierarchyWalk, Node};
use infrahub_core::schema::{ModelSchema, SchemaBranch};
use infrahub_graph::NodeId;

use super::RequestContext;
use super::values::Level;

/// Fields of hierarchical kinds computed by walking the hierarchy.
pub(crate) const HIERARCHY_FIELDS: [&str; 2] = ["ancestors", "descendants"];

/// The kind of the hierarchy `model` belongs to, if any.
pub(crate) fn hierarchy_kind(model: &ModelSchema) -> Option<String> {
    match &model.hierarchy {
        Some(kind) if !kind.is_empty() => Some(kind.clone()),
        _ if model.hierarchical => Some(model.kind()),
        _ => None,
    }
}

/// The models whose fields a value of `kind` can have: the kind, and every kind using it when
/// it is a generic.
pub(crate) fn candidates<'s>(schema: &'s SchemaBranch, kind: &str) -> Vec<&'s ModelSchema> {
    let Some(model) = schema.get(kind) else {
        return Vec::new();
    };
    let mut models = vec![model];
    if model.is_generic() {
        models.extend(model.used_by.iter().filter_map(|k| schema.get(k)));
    }
    models
}

/// What to read of the nodes at one place of a document.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Attributes selected.
    pub(crate) attributes: BTreeSet<String>,
    /// Relationships selected: `Some` when their peers are selected too.
    pub(crate) relationships: BTreeMap<String, Option<Plan>>,
    /// What is selected of lineage sources and owners.
    pub(crate) lineage: Option<Box<Plan>>,
    /// The nested filters of relationship fields: by relationship name, the peer kind and the
    /// filters used, by filter key.
    pub(crate) filters: BTreeMap<String, NestedFilters>,
}

/// The nested filters used on one relationship.
#[derive(Debug, Default)]
pub(crate) struct NestedFilters {
    /// The kind of the peers (a node kind or a generic).
    pub(crate) peer_kind: String,
    /// The filters by key.
    pub(crate) by_key: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// The arguments of a relationship field that filter its peers (paging and ordering set aside,
/// null values dropped), by name.
pub(crate) fn nested_filters<'a>(
    arguments: impl IntoIterator<Item = (&'a str, serde_json::Value)>,
) -> BTreeMap<String, serde_json::Value> {
    arguments
        .into_iter()
        .filter(|(name, value)| !value.is_null() && !matches!(*name, "offset" | "limit" | "order"))
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// The key of a set of nested filters: the same for equal filters, whoever computes it.
pub(crate) fn filter_key(filters: &BTreeMap<String, serde_json::Value>) -> String {
    serde_json::to_string(filters).unwrap_or_default()
}

impl Plan {
    /// The plan for nodes of `kind` whose selection is the children of `fields`.
    pub(crate) fn for_selection<'a>(
        schema: &SchemaBranch,
        kind: &str,
        fields: impl IntoIterator<Item = SelectionField<'a>>,
    ) -> Plan {
        let mut plan = Plan::default();
        let models = candidates(schema, kind);
        for field in fields {
            plan.add_children(schema, &models, field);
        }
        plan
    }

    /// Adds what `field`'s selection set selects of nodes of `models`.
    fn add_children(
        &mut self,
        schema: &SchemaBranch,
        models: &[&ModelSchema],
        field: SelectionField<'_>,
    ) {
        for child in field.selection_set() {
            self.add_field(schema, models, child);
        }
    }

    fn add_field(
        &mut self,
        schema: &SchemaBranch,
        models: &[&ModelSchema],
        field: SelectionField<'_>,
    ) {
        let name = field.name();
        // Fields every node type has need no attribute or relationship.
        if name == "__typename" || super::fields::NodeMeta::of_name(name).is_some() {
            return;
        }
        if models.iter().any(|m| m.attribute(name).is_some()) {
            self.attributes.insert(name.to_string());
            for property in field.selection_set() {
                if matches!(property.name(), "source" | "owner") {
                    self.lineage_plan(schema).add_children(
                        schema,
                        &lineage_models(schema),
                        property,
                    );
                }
            }
        }
        let peer_kind = if HIERARCHY_FIELDS.contains(&name) {
            models.iter().find_map(|m| hierarchy_kind(m))
        } else {
            models
                .iter()
                .find_map(|m| m.relationship(name))
                .map(|r| r.peer.clone())
        };
        let Some(peer_kind) = peer_kind else {
            return;
        };
        let peers = candidates(schema, &peer_kind);
        let mut peer_plan: Option<Plan> = None;
        // Nested filters are evaluated by the engine over the peers, once per level.
        if let Ok(arguments) = field.arguments() {
            let filters = nested_filters(
                arguments
                    .iter()
                    .map(|(name, value)| (name.as_str(), super::build::to_json(value))),
            );
            if !filters.is_empty() {
                let entry = self.filters.entry(name.to_string()).or_default();
                entry.peer_kind = peer_kind.clone();
                entry.by_key.insert(filter_key(&filters), filters);
            }
        }
        for part in field.selection_set() {
            match part.name() {
                "node" => peer_plan
                    .get_or_insert_with(Plan::default)
                    .add_children(schema, &peers, part),
                "properties" => self.add_link_lineage(schema, part),
                "edges" => {
                    for edge_part in part.selection_set() {
                        match edge_part.name() {
                            "node" => peer_plan
                                .get_or_insert_with(Plan::default)
                                .add_children(schema, &peers, edge_part),
                            "properties" => self.add_link_lineage(schema, edge_part),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let entry = self.relationships.entry(name.to_string()).or_default();
        if let Some(plan) = peer_plan {
            match entry {
                Some(existing) => existing.merge(plan),
                None => *entry = Some(plan),
            }
        }
    }

    fn add_link_lineage(&mut self, schema: &SchemaBranch, properties: SelectionField<'_>) {
        for property in properties.selection_set() {
            if matches!(property.name(), "source" | "owner") {
                self.lineage_plan(schema)
                    .add_children(schema, &lineage_models(schema), property);
            }
        }
    }

    fn lineage_plan(&mut self, _schema: &SchemaBranch) -> &mut Plan {
        self.lineage.get_or_insert_with(Box::default)
    }

    fn merge(&mut self, other: Plan) {
        self.attributes.extend(other.attributes);
        for (name, filters) in other.filters {
            let entry = self.filters.entry(name).or_default();
            entry.peer_kind = filters.peer_kind;
            entry.by_key.extend(filters.by_key);
        }
        for (name, plan) in other.relationships {
            let entry = self.relationships.entry(name).or_default();
            match (entry.as_mut(), plan) {
                (Some(existing), Some(plan)) => existing.merge(plan),
                (None, Some(plan)) => *entry = Some(plan),
                (_, None) => {}
            }
        }
        if let Some(lineage) = other.lineage {
            match self.lineage.as_mut() {
                Some(existing) => existing.merge(*lineage),
                None => self.lineage = Some(lineage),
            }
        }
    }

    /// The engine fields this plan reads.
    pub(crate) fn fields(&self) -> Fields {
        Fields {
            attributes: Some(self.attributes.iter().cloned().collect()),
            relationships: self
                .relationships
                .keys()
                .filter(|name| !HIERARCHY_FIELDS.contains(&name.as_str()))
                .cloned()
                .collect(),
        }
    }
}

/// Every kind a lineage source or owner can be.
fn lineage_models(schema: &SchemaBranch) -> Vec<&ModelSchema> {
    let mut models = candidates(schema, infrahub_core::schema::LINEAGE_SOURCE);
    models.extend(candidates(schema, infrahub_core::schema::LINEAGE_OWNER));
    models
}

/// The peers of relationship `name` of `nodes` (or the nodes a hierarchy walk found), each
/// once.
fn peer_ids(
    nodes: &[Node],
    walked: Option<&HashMap<NodeId, Vec<NodeId>>>,
    name: &str,
) -> Vec<NodeId> {
    let mut seen = BTreeSet::new();
    match walked {
        Some(found) => found
            .values()
            .flatten()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect(),
        None => nodes
            .iter()
            .flat_map(|n| n.peers(name).iter().map(|p| p.id))
            .filter(|id| seen.insert(*id))
            .collect(),
    }
}

/// Loads what `plan` selects below `nodes` (which were read with `plan.fields()`), one batch
/// per relationship and lineage, and returns their level.
pub(crate) async fn load(
    context: &RequestContext,
    nodes: Vec<Node>,
    plan: &Plan,
) -> infrahub_core::Result<Arc<Level>> {
    let mut relationships = HashMap::new();
    let mut hierarchy = HashMap::new();
    for (name, peer_plan) in &plan.relationships {
        let walked = match name.as_str() {
            "ancestors" => Some(HierarchyWalk::Ancestors),
            "descendants" => Some(HierarchyWalk::Descendants),
            _ => None,
        };
        if let Some(walk) = walked {
            let ids: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
            let found = context
                .state
                .engine
                .hierarchy(&context.view, &ids, walk)
                .await?;
            hierarchy.insert(name.clone(), found);
        }
        let Some(peer_plan) = peer_plan else {
            continue;
        };
        let ids = peer_ids(&nodes, hierarchy.get(name), name);
        let peers = if ids.is_empty() {
            Vec::new()
        } else {
            context
                .state
                .engine
                .get_any(&context.view, &ids, &peer_plan.fields())
                .await?
        };
        let level = Box::pin(load(context, peers, peer_plan)).await?;
        relationships.insert(name.clone(), level);
    }
    let mut filtered = HashMap::new();
    for (name, filters) in &plan.filters {
        let ids = peer_ids(&nodes, hierarchy.get(name), name);
        for (key, arguments) in &filters.by_key {
            let args = infrahub_core::engine::QueryArgs {
                filters: arguments.clone(),
                ..Default::default()
            };
            let passed = context
                .state
                .engine
                .matching(&context.view, &filters.peer_kind, &ids, &args)
                .await?;
            filtered.insert((name.clone(), key.clone()), passed);
        }
    }
    let lineage = match &plan.lineage {
        Some(lineage_plan) => {
            let mut seen = BTreeSet::new();
            let mut ids = Vec::new();
            for node in &nodes {
                for name in &plan.attributes {
                    if let Some(attribute) = node.attributes.get(name) {
                        ids.extend(attribute.source);
                        ids.extend(attribute.owner);
                    }
                }
                for name in plan.relationships.keys() {
                    for peer in node.peers(name) {
                        ids.extend(peer.source);
                        ids.extend(peer.owner);
                    }
                }
            }
            ids.retain(|id| seen.insert(*id));
            let found = if ids.is_empty() {
                Vec::new()
            } else {
                context
                    .state
                    .engine
                    .get_any(&context.view, &ids, &lineage_plan.fields())
                    .await?
            };
            Some(Box::pin(load(context, found, lineage_plan)).await?)
        }
        None => None,
    };
    Ok(Arc::new(Level {
        nodes: nodes.into_iter().map(|n| (n.id, Arc::new(n))).collect(),
        relationships,
        lineage,
        hierarchy,
        filtered,
    }))
}
