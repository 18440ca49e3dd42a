//! Query arguments as upstream names them (`name__value`, `site__ids`, `any__value`, ...)
//! turned into store filters.

use std::collections::{BTreeMap, BTreeSet};

use infrahub_graph::{BranchView, Filter, Match, NodeId, NodeQuery, OrderBy, Property, Selection};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{ModelSchema, SchemaBranch};

use super::Engine;
use super::links;
use super::node::Node;
use super::read::Fields;

/// Arguments of a list query, as the GraphQL and REST layers receive them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryArgs {
    /// Filters by argument name (`ids`, `hfid`, `name__value`, `site__ids`, `any__value`, ...).
    pub filters: BTreeMap<String, Value>,
    /// `partial_match`: string equality filters match substrings, ignoring case.
    pub partial_match: bool,
    /// Number of matches to skip.
    pub offset: usize,
    /// Largest number of nodes to return (capped by `query_size_limit`).
    pub limit: Option<usize>,
    /// `order: {disable: true}`: no ordering (stable id order).
    pub order_disabled: bool,
    /// An ordering replacing the kind's `order_by`: attribute paths as `order_by` writes them
    /// (`name__value`), each optionally ending in `__desc` (largest first) or `__asc`.
    pub order_by: Option<Vec<String>>,
    /// Whether to compute the total.
    pub count: bool,
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::Validation, message)
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The node ids of an `ids` filter. A value that is no node id matches no node, as upstream
/// compares the ids as strings (the SDK's `get(id="name")` of a kind without a default filter
/// sends the name: it must find nothing, not fail).
fn as_ids(value: &Value) -> Vec<NodeId> {
    as_list(value)
        .iter()
        .filter_map(|v| match v {
            Value::String(text) => text.parse::<NodeId>().ok(),
            _ => None,
        })
        .collect()
}

fn as_bool(name: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| invalid(format!("`{name}` expects true or false, got {value}")))
}

/// Turns upstream-style arguments into store filters for nodes of `model`.
pub fn parse_filters(
    schema: &SchemaBranch,
    model: &ModelSchema,
    args: &BTreeMap<String, Value>,
    partial_match: bool,
) -> Result<Vec<Filter>> {
    let mut filters = Vec::new();
    for (name, value) in args {
        if value.is_null() && !name.ends_with("__isnull") {
            continue;
        }
        filters.push(parse_one(schema, model, name, value, partial_match)?);
    }
    Ok(filters)
}

fn value_match(value: &Value, partial_match: bool) -> Match {
    match value {
        Value::String(text) if partial_match => Match::Contains(text.clone()),
        other => Match::Equals(other.clone()),
    }
}

fn parse_one(
    schema: &SchemaBranch,
    model: &ModelSchema,
    name: &str,
    value: &Value,
    partial_match: bool,
) -> Result<Filter> {
    if name == "ids" {
        return Ok(Filter::Ids(as_ids(value)));
    }
    let parts: Vec<&str> = name.split("__").collect();
    let kind = model.kind();
    let unknown = || invalid(format!("`{name}` is not a filter of {kind}"));
    if parts[0] == "any" {
        let any = |property, matches| Ok(Filter::AnyAttribute { property, matches });
        return match &parts[1..] {
            ["value"] => any(Property::Value, value_match(value, partial_match)),
            ["values"] => any(Property::Value, Match::In(as_list(value))),
            ["source", "id"] => any(Property::Source, Match::Equals(value.clone())),
            ["owner", "id"] => any(Property::Owner, Match::Equals(value.clone())),
            ["is_protected"] => any(
                Property::IsProtected,
                Match::Equals(Value::Bool(as_bool(name, value)?)),
            ),
            ["is_visible"] => any(
                Property::IsVisible,
                Match::Equals(Value::Bool(as_bool(name, value)?)),
            ),
            _ => Err(unknown()),
        };
    }
    if let Some(attribute) = model.attribute(parts[0]) {
        let name = attribute.name.clone();
        return match &parts[1..] {
            ["value"] => Ok(Filter::Attribute {
                name,
                property: Property::Value,
                matches: value_match(value, partial_match),
            }),
            ["values"] => Ok(Filter::Attribute {
                name,
                property: Property::Value,
                matches: Match::In(as_list(value)),
            }),
            ["isnull"] => Ok(Filter::Attribute {
                name,
                property: Property::Value,
                matches: Match::IsNull(as_bool(parts[0], value)?),
            }),
            ["is_protected"] => Ok(Filter::Attribute {
                name,
                property: Property::IsProtected,
                matches: Match::Equals(Value::Bool(as_bool(parts[0], value)?)),
            }),
            ["is_visible"] => Ok(Filter::Attribute {
                name,
                property: Property::IsVisible,
                matches: Match::Equals(Value::Bool(as_bool(parts[0], value)?)),
            }),
            ["source", "id"] => Ok(Filter::Attribute {
                name,
                property: Property::Source,
                matches: Match::Equals(value.clone()),
            }),
            ["owner", "id"] => Ok(Filter::Attribute {
                name,
                property: Property::Owner,
                matches: Match::Equals(value.clone()),
            }),
            _ => Err(unknown()),
        };
    }
    if let Some(relationship) = model.relationship(parts[0]) {
        let identifier = relationship.identifier().to_string();
        let side = links::side(relationship);
        return match &parts[1..] {
            ["ids"] => Ok(Filter::Linked {
                identifier,
                side,
                peers: as_ids(value),
            }),
            ["isnull"] => Ok(Filter::LinkIsNull {
                identifier,
                side,
                is_null: as_bool(name, value)?,
            }),
            rest if !rest.is_empty() => {
                let peer = schema.get(&relationship.peer).ok_or_else(unknown)?;
                let inner = rest.join("__");
                let peer_filter = parse_one(schema, peer, &inner, value, partial_match)?;
                Ok(Filter::Peer {
                    identifier,
                    side,
                    peer_labels: vec![relationship.peer.clone()],
                    peer_filters: vec![peer_filter],
                })
            }
            _ => Err(unknown()),
        };
    }
    Err(unknown())
}

/// Filters that find nodes of `model` by human-friendly id.
pub(crate) fn hfid_filters(
    schema: &SchemaBranch,
    model: &ModelSchema,
    hfid: &[String],
) -> Result<Vec<Filter>> {
    let paths = model
        .human_friendly_id
        .as_ref()
        .ok_or_else(|| invalid(format!("{} has no human-friendly id", model.kind())))?;
    if paths.len() != hfid.len() {
        return Err(invalid(format!(
            "the human-friendly id of {} has {} parts ({}), {} given",
            model.kind(),
            paths.len(),
            paths.join(", "),
            hfid.len()
        )));
    }
    paths
        .iter()
        .zip(hfid)
        .map(|(path, part)| {
            let attribute_kind = path_attribute(schema, model, path);
            parse_one(
                schema,
                model,
                path,
                &typed_part(part, attribute_kind),
                false,
            )
        })
        .collect()
}

/// The attribute a path ends on (on the node or one hop away).
fn path_attribute<'a>(
    schema: &'a SchemaBranch,
    model: &'a ModelSchema,
    path: &str,
) -> Option<&'a crate::schema::AttributeSchema> {
    let parts: Vec<&str> = path.split("__").collect();
    if let Some(attribute) = model.attribute(parts[0]) {
        return Some(attribute);
    }
    let relationship = model.relationship(parts[0])?;
    schema.get(&relationship.peer)?.attribute(parts.get(1)?)
}

/// An hfid part (always text) as the value type of its attribute.
fn typed_part(part: &str, attribute: Option<&crate::schema::AttributeSchema>) -> Value {
    use crate::schema::AttributeKind as K;
    match attribute.map(|a| a.kind) {
        Some(K::Number | K::Bandwidth | K::NumberPool) => part
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(part.into())),
        Some(K::Boolean | K::Checkbox) => part
            .parse::<bool>()
            .map(Value::Bool)
            .unwrap_or_else(|_| Value::String(part.into())),
        Some(kind @ (K::IpHost | K::IpNetwork | K::MacAddress)) => {
            let mut probe = crate::schema::AttributeSchema::new("part", kind);
            probe.optional = true;
            crate::value::canonicalize(&probe, &Value::String(part.into()))
                .unwrap_or_else(|_| Value::String(part.into()))
        }
        _ => Value::String(part.into()),
    }
}

/// The ordering of `model`'s `order_by` that the store can apply (attribute paths).
fn ordering(model: &ModelSchema) -> Vec<OrderBy> {
    let mut order = Vec::new();
    for path in model.order_by.iter().flatten() {
        let (path, descending) = match (path.strip_suffix("__desc"), path.strip_suffix("__asc")) {
            (Some(p), _) => (p, true),
            (_, Some(p)) => (p, false),
            _ => (path.as_str(), false),
        };
        let parts: Vec<&str> = path.split("__").collect();
        match (model.attribute(parts[0]), parts.get(1)) {
            (Some(attribute), Some(&"value") | None) => order.push(OrderBy {
                attribute: attribute.name.clone(),
                descending,
            }),
            // Orderings through relationships or attribute properties stop here: the rest of
            // the list is ordered by id.
            _ => break,
        }
    }
    order
}

/// The ordering `paths` ask for (`<attribute>__value`, optionally `__desc` or `__asc`): every
/// path must name an attribute of `model` by its value.
fn explicit_ordering(model: &ModelSchema, paths: &[String]) -> Result<Vec<OrderBy>> {
    const MAX_PATHS: usize = 8;
    if paths.len() > MAX_PATHS {
        return Err(invalid(format!(
            "an ordering names at most {MAX_PATHS} attributes, not {}",
            paths.len()
        )));
    }
    paths
        .iter()
        .map(|path| {
            let (base, descending) = match (path.strip_suffix("__desc"), path.strip_suffix("__asc"))
            {
                (Some(p), _) => (p, true),
                (_, Some(p)) => (p, false),
                _ => (path.as_str(), false),
            };
            let name = base.strip_suffix("__value").unwrap_or(base);
            match model.attribute(name) {
                Some(attribute) => Ok(OrderBy {
                    attribute: attribute.name.clone(),
                    descending,
                }),
                None => Err(invalid(format!(
                    "cannot order {} by `{}`: it has no attribute `{name}`",
                    model.kind(),
                    crate::bounded_message(path)
                ))),
            }
        })
        .collect()
}

/// The model of `kind` in `schema`, the schema `view` reads.
pub(crate) fn model_of<'s>(
    schema: &'s SchemaBranch,
    kind: &str,
    view: &BranchView,
) -> Result<&'s ModelSchema> {
    schema.get(kind).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("kind `{kind}` not found on branch `{}`", view.branch),
        )
    })
}

/// The store filters of `args` (human-friendly id and upstream-style filters) on nodes of
/// `model`.
fn query_filters(
    schema: &SchemaBranch,
    model: &ModelSchema,
    args: &QueryArgs,
) -> Result<Vec<Filter>> {
    let mut filters = Vec::new();
    let mut plain = args.filters.clone();
    if let Some(hfid) = plain.remove("hfid") {
        let parts: Vec<String> = as_list(&hfid).iter().map(super::read::value_text).collect();
        if !parts.is_empty() {
            filters.extend(hfid_filters(schema, model, &parts)?);
        }
    }
    filters.extend(parse_filters(schema, model, &plain, args.partial_match)?);
    Ok(filters)
}

impl Engine {
    /// Of the nodes `candidates`, those of `kind` (a node kind or a generic) that match the
    /// filters of `args` through `view` (paging and ordering set aside): the nested filters
    /// of relationship fields (`tags(name__value: "red")` keeps the peers named `red`),
    /// evaluated by the store as one query over the candidates, with the same rules as the
    /// filters of any query.
    ///
    /// # Errors
    ///
    /// An unknown kind (`NotFound`), a filter `kind` does not have (`Validation`), what the
    /// store reports.
    pub async fn matching(
        &self,
        view: &BranchView,
        kind: &str,
        candidates: &[NodeId],
        args: &QueryArgs,
    ) -> Result<BTreeSet<NodeId>> {
        let schema = self.schema_for(view).await?;
        let model = model_of(&schema, kind, view)?;
        let mut filters = query_filters(&schema, model, args)?;
        if candidates.is_empty() {
            return Ok(BTreeSet::new());
        }
        filters.push(Filter::Ids(candidates.to_vec()));
        let query = NodeQuery {
            labels: query_labels(&schema, model, kind),
            filters,
            select: Selection::nothing(),
            ..NodeQuery::default()
        };
        let result = self.store().query(view, &query).await?;
        Ok(result.nodes.into_iter().map(|node| node.id).collect())
    }

    /// Lists nodes of `kind` (a node, profile, template or generic kind) through `view`;
    /// returns the page and the total number of matches.
    pub async fn query(
        &self,
        view: &BranchView,
        kind: &str,
        args: &QueryArgs,
        fields: &Fields,
    ) -> Result<(Vec<Node>, u64)> {
        let schema = self.schema_for(view).await?;
        let model = model_of(&schema, kind, view)?;
        let filters = query_filters(&schema, model, args)?;
        let limit = args
            .limit
            .unwrap_or(self.options().query_size_limit)
            .min(self.options().query_size_limit);
        let query = NodeQuery {
            labels: query_labels(&schema, model, kind),
            filters,
            order: if args.order_disabled {
                Vec::new()
            } else if let Some(paths) = &args.order_by {
                explicit_ordering(model, paths)?
            } else {
                ordering(model)
            },
            offset: args.offset,
            limit: Some(limit),
            select: Default::default(),
            count: args.count,
        };
        self.run_query(view, &schema, model, query, fields).await
    }

    /// Counts nodes of `kind` matching `args` through `view`.
    pub async fn count(&self, view: &BranchView, kind: &str, args: &QueryArgs) -> Result<u64> {
        let schema = self.schema_for(view).await?;
        let model = model_of(&schema, kind, view)?;
        let filters = query_filters(&schema, model, args)?;
        let query = NodeQuery {
            labels: query_labels(&schema, model, kind),
            filters,
            ..NodeQuery::default()
        };
        Ok(self.store().count(view, &query).await?)
    }
}

/// The store labels a query of `kind` reads: the kind itself, except for `CoreNode`, whose
/// label every node of a user namespace carries but which lists the kinds of its `used_by`
/// that take part in groups (the API's `CoreNode` interface has the group memberships, which
/// groups themselves do not have).
fn query_labels(schema: &SchemaBranch, model: &ModelSchema, kind: &str) -> Vec<String> {
    if kind != crate::schema::CORE_NODE || model.used_by.is_empty() {
        return vec![kind.to_string()];
    }
    model
        .used_by
        .iter()
        .filter(|used| {
            schema.get(used).is_none_or(|m| {
                !m.inherit_from
                    .iter()
                    .any(|g| g == crate::schema::GENERIC_GROUP)
            })
        })
        .cloned()
        .collect()
}
