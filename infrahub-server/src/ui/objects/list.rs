//! `GET /objects/{kind}`: the objects of a kind (of every kind implementing a generic), with
//! filters, a free-text search, an order and pages.

use axum::extract::Path;
use axum::response::Response;
use infrahub_core::schema::{AttributeKind, AttributeSchema, Display, ModelSchema, SchemaBranch};
use serde_json::{Map, Value, json};

use super::{
    Page, UiError, attribute_label, bounded, branch_schema, display_value, exposed,
    exposed_relationships, is_one, model_label, model_of, ordered_attributes, param, peer_kind,
    peer_view, query_pairs, relationship_label,
};

/// Objects per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;
/// Most objects per page.
const MAX_LIMIT: usize = 200;
/// Largest `offset` accepted (further pages are out of any real list).
const MAX_OFFSET: usize = 10_000_000;
/// Most columns after the display label.
const MAX_COLUMNS: usize = 8;
/// Most attribute filters offered (the first by order weight).
const MAX_ATTRIBUTE_FILTERS: usize = 6;
/// Most relationship filters offered.
const MAX_RELATIONSHIP_FILTERS: usize = 3;
/// Peers offered by a relationship filter.
const FILTER_PEERS: usize = 200;
/// Longest search or filter text.
const MAX_TEXT: usize = 256;

/// The GraphQL type of the `__value` filter of an attribute kind, when the list filters on it.
fn filter_type(kind: AttributeKind) -> Option<&'static str> {
    use AttributeKind as K;
    match kind {
        K::Text
        | K::TextArea
        | K::Email
        | K::Url
        | K::Color
        | K::MacAddress
        | K::IpHost
        | K::IpNetwork
        | K::Id
        | K::Dropdown => Some("String"),
        K::Number | K::NumberPool => Some("BigInt"),
        K::Bandwidth => Some("Int"),
        K::Boolean | K::Checkbox => Some("Boolean"),
        _ => None,
    }
}

/// Whether the list shows an attribute as a column.
fn is_column(attribute: &AttributeSchema) -> bool {
    attribute.display != Display::Extra
        && !matches!(
            attribute.kind,
            AttributeKind::Json
                | AttributeKind::List
                | AttributeKind::Any
                | AttributeKind::TextArea
                | AttributeKind::File
                | AttributeKind::Password
                | AttributeKind::HashedPassword
        )
}

/// One column of the list.
enum Column<'a> {
    Attribute(&'a AttributeSchema),
    Relationship(&'a infrahub_core::schema::RelationshipSchema),
}

/// The columns of `model`: attributes and cardinality-one relationships by order weight.
fn columns<'a>(schema: &SchemaBranch, model: &'a ModelSchema) -> Vec<Column<'a>> {
    let mut columns: Vec<(i64, Column<'a>)> = Vec::new();
    for attribute in ordered_attributes(model) {
        if is_column(attribute) {
            columns.push((
                attribute.order_weight.unwrap_or(i64::MAX),
                Column::Attribute(attribute),
            ));
        }
    }
    for relationship in exposed_relationships(schema, model) {
        if is_one(relationship) && relationship.display != Display::Extra {
            columns.push((
                relationship.order_weight.unwrap_or(i64::MAX),
                Column::Relationship(relationship),
            ));
        }
    }
    columns.sort_by_key(|(weight, _)| *weight);
    columns
        .into_iter()
        .map(|(_, c)| c)
        .take(MAX_COLUMNS)
        .collect()
}

/// `GET /objects/{kind}`.
pub(super) async fn list(page: Page, Path(kind): Path<String>) -> Result<Response, UiError> {
    let schema = branch_schema(&page)?;
    let model = model_of(&schema, &kind)?;
    let params = query_pairs(&page);
    let offset = bounded(&params, "offset", 0, MAX_OFFSET);
    let limit = bounded(&params, "limit", DEFAULT_LIMIT, MAX_LIMIT).max(1);
    let search = param(&params, "q").trim().to_string();
    if search.chars().count() > MAX_TEXT {
        return Err(UiError::bad_request(format!(
            "the search text is longer than {MAX_TEXT} characters"
        )));
    }
    let order = param(&params, "order");
    let generic = model.is_generic();

    // Filters: declared variables, arguments and their values.
    let mut declarations = vec![
        "$offset: Int".to_string(),
        "$limit: Int".to_string(),
        "$q: String".to_string(),
        "$partial: Boolean".to_string(),
        "$order: OrderInput".to_string(),
    ];
    let mut arguments = vec![
        "offset: $offset".to_string(),
        "limit: $limit".to_string(),
        "any__value: $q".to_string(),
        "partial_match: $partial".to_string(),
        "order: $order".to_string(),
    ];
    let mut variables = Map::new();
    variables.insert("offset".into(), json!(offset));
    variables.insert("limit".into(), json!(limit));
    variables.insert(
        "q".into(),
        if search.is_empty() {
            Value::Null
        } else {
            json!(search)
        },
    );
    variables.insert(
        "order".into(),
        match order {
            "" => Value::Null,
            "created" => json!({"disable": true}),
            // An attribute path; the API refuses one the kind does not have.
            path => json!({ "fields": [path] }),
        },
    );
    let mut partial = !search.is_empty();
    let mut filters: Vec<Value> = Vec::new();
    let mut active = 0;
    let filtered = ordered_attributes(model)
        .into_iter()
        .filter(|a| filter_type(a.kind).is_some() && a.display != Display::Extra)
        .take(MAX_ATTRIBUTE_FILTERS);
    for attribute in filtered {
        let Some(ty) = filter_type(attribute.kind) else {
            continue;
        };
        let name = format!("{}__value", attribute.name);
        let text = param(&params, &name).trim().to_string();
        let variable = format!("f{}", filters.len());
        let (input, options) = match attribute.kind {
            AttributeKind::Dropdown => (
                "select",
                attribute
                    .choices
                    .iter()
                    .flatten()
                    .map(|c| json!({"value": c.name, "label": c.label.clone().unwrap_or_else(|| c.name.clone())}))
                    .collect(),
            ),
            AttributeKind::Boolean | AttributeKind::Checkbox => (
                "select",
                vec![
                    json!({"value": "true", "label": "Yes"}),
                    json!({"value": "false", "label": "No"}),
                ],
            ),
            AttributeKind::Number | AttributeKind::NumberPool | AttributeKind::Bandwidth => {
                ("number", Vec::new())
            }
            _ => ("text", Vec::new()),
        };
        let mut error = None;
        if !text.is_empty() {
            let value = match attribute.kind {
                AttributeKind::Boolean | AttributeKind::Checkbox => match text.as_str() {
                    "true" => Some(json!(true)),
                    "false" => Some(json!(false)),
                    _ => None,
                },
                AttributeKind::Number | AttributeKind::NumberPool | AttributeKind::Bandwidth => {
                    text.parse::<i64>().ok().map(|n| json!(n))
                }
                _ if text.chars().count() <= MAX_TEXT => Some(json!(text)),
                _ => None,
            };
            match value {
                Some(value) if attribute.kind == AttributeKind::Dropdown => {
                    declarations.push(format!("${variable}: [{ty}]"));
                    arguments.push(format!("{}__values: ${variable}", attribute.name));
                    variables.insert(variable, json!([value]));
                    active += 1;
                }
                Some(value) => {
                    if ty == "String" {
                        partial = true;
                    }
                    declarations.push(format!("${variable}: {ty}"));
                    arguments.push(format!("{name}: ${variable}"));
                    variables.insert(variable, value);
                    active += 1;
                }
                None => error = Some(format!("`{text}` is not a valid filter value")),
            }
        }
        filters.push(json!({
            "name": name,
            "label": attribute_label(attribute),
            "input": input,
            "options": options,
            "value": text,
            "error": error,
        }));
    }
    // Cardinality-one relationships: a peer picker each (the first peers by display label).
    let mut peer_queries = Vec::new();
    let related = exposed_relationships(&schema, model)
        .into_iter()
        .filter(|r| is_one(r))
        .take(MAX_RELATIONSHIP_FILTERS);
    for relationship in related {
        let name = format!("{}__ids", relationship.name);
        let chosen = param(&params, &name).trim().to_string();
        if !chosen.is_empty() {
            if uuid::Uuid::parse_str(&chosen).is_err() {
                return Err(UiError::bad_request(format!(
                    "`{name}` must be a node id, got `{chosen}`"
                )));
            }
            let variable = format!("f{}", filters.len());
            declarations.push(format!("${variable}: [ID]"));
            arguments.push(format!("{name}: ${variable}"));
            variables.insert(variable, json!([chosen]));
            active += 1;
        }
        peer_queries.push((
            filters.len(),
            peer_kind(relationship).to_string(),
            chosen.clone(),
        ));
        filters.push(json!({
            "name": name,
            "label": relationship_label(relationship),
            "input": "select",
            "options": [],
            "value": chosen,
            "error": null,
        }));
    }
    variables.insert("partial".into(), json!(partial));

    let cols = columns(&schema, model);
    let mut selection = vec!["id display_label __typename".to_string()];
    for column in &cols {
        match column {
            Column::Attribute(a) => selection.push(format!("{} {{ value }}", a.name)),
            Column::Relationship(r) => selection.push(format!(
                "{} {{ node {{ id display_label __typename }} }}",
                r.name
            )),
        }
    }
    // The peers of the relationship filters, in the same document.
    let mut peer_fields = Vec::new();
    for (i, (_, peer, _)) in peer_queries.iter().enumerate() {
        peer_fields.push(format!(
            "p{i}: {peer}(limit: {FILTER_PEERS}) {{ edges {{ node {{ id display_label }} }} }}"
        ));
    }
    let document = format!(
        "query({}) {{ list: {kind}({}) {{ count edges {{ node {{ {} }} }} }} }}",
        declarations.join(", "),
        arguments.join(", "),
        selection.join(" "),
    );
    let data = page.graphql(&document, Value::Object(variables)).await?;
    if !peer_fields.is_empty() {
        // Peers the account cannot read are simply not offered.
        let (peers, _) = page
            .graphql_result(&format!("query {{ {} }}", peer_fields.join(" ")), json!({}))
            .await?;
        for (i, (index, _, chosen)) in peer_queries.iter().enumerate() {
            let mut options: Vec<Value> = peers[format!("p{i}")]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let id = e["node"]["id"].as_str().unwrap_or_default();
                    json!({"value": id, "label": e["node"]["display_label"].as_str().unwrap_or(id)})
                })
                .collect();
            options.sort_by(|a, b| {
                a["label"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .cmp(&b["label"].as_str().unwrap_or_default().to_lowercase())
            });
            if !chosen.is_empty() && !options.iter().any(|o| o["value"] == json!(chosen)) {
                options.insert(0, json!({"value": chosen, "label": chosen}));
            }
            filters[*index]["options"] = Value::Array(options);
        }
    }

    let total = data["list"]["count"].as_u64().unwrap_or(0);
    let rows: Vec<Value> = data["list"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| {
            let node = &edge["node"];
            let view = peer_view(node, &kind);
            let cells: Vec<Value> = cols
                .iter()
                .map(|column| match column {
                    Column::Attribute(a) => {
                        json!({"text": display_value(a, &node[&a.name]["value"])})
                    }
                    Column::Relationship(r) => {
                        let peer = &node[&r.name]["node"];
                        if peer.is_object() {
                            json!({"peer": peer_view(peer, peer_kind(r))})
                        } else {
                            json!({"text": null})
                        }
                    }
                })
                .collect();
            json!({"object": view, "cells": cells})
        })
        .collect();
    // Attribute columns order the list by their value: ascending first, then descending.
    let sort_params: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, value)| {
            !matches!(name.as_str(), "offset" | "branch" | "at" | "order") && !value.is_empty()
        })
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let headers: Vec<Value> = cols
        .iter()
        .map(|c| match c {
            Column::Attribute(a) => {
                let ascending = format!("{}__value", a.name);
                let descending = format!("{ascending}__desc");
                let (state, next) = if order == ascending {
                    ("ascending", descending.as_str())
                } else if order == descending {
                    ("descending", ascending.as_str())
                } else {
                    ("none", ascending.as_str())
                };
                let mut pairs = sort_params.clone();
                pairs.push(("order", next));
                let href = page.link(&format!("/objects/{kind}"), &pairs);
                json!({"label": attribute_label(a), "href": href, "sort": state})
            }
            Column::Relationship(r) => json!({"label": relationship_label(r)}),
        })
        .collect();
    let order_choices: Vec<Value> = cols
        .iter()
        .filter_map(|c| match c {
            Column::Attribute(a) => Some(a),
            Column::Relationship(_) => None,
        })
        .flat_map(|a| {
            let label = attribute_label(a);
            [
                json!({"value": format!("{}__value", a.name), "label": format!("{label}, ascending")}),
                json!({"value": format!("{}__value__desc", a.name), "label": format!("{label}, descending")}),
            ]
        })
        .collect();

    // What to create: the kind itself, or each kind implementing the generic.
    let creatable: Vec<Value> = if generic {
        model
            .used_by
            .iter()
            .filter(|k| exposed(&schema, k) && schema.get(k).is_some_and(ModelSchema::is_node))
            .map(|k| {
                json!({"kind": k, "label": schema.get(k).map_or_else(|| k.clone(), model_label)})
            })
            .collect()
    } else {
        vec![json!({"kind": kind, "label": model_label(model)})]
    };

    // The address of this list with its filters, for the pager and the ordering links.
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for (name, value) in &params {
        if matches!(name.as_str(), "offset" | "branch" | "at") || value.is_empty() {
            continue;
        }
        kept.push((name.as_str(), value.as_str()));
    }
    let base = page.link(&format!("/objects/{kind}"), &kept);
    page.render(
        "objects_list.html",
        json!({
            "kind": kind,
            "label": model_label(model),
            "description": model.description,
            "generic": generic,
            "headers": headers,
            "rows": rows,
            "total": total,
            "offset": offset,
            "limit": limit,
            "limit_choices": [20, 50, 100, 200],
            "search": search,
            "order": order,
            "order_choices": order_choices,
            "filters": filters,
            "active_filters": active,
            "creatable": creatable,
            "base": base,
        }),
    )
    .await
}
