//! The schema browser and the GraphQL sandbox.
//!
//! - `GET /schema?q=&category=`: the kinds of the page's branch by namespace, filtered;
//! - `GET /schema/{kind}`: one kind, its properties, attributes and relationships;
//! - `GET /graphql?query=`: the GraphQL sandbox (the API's `POST /graphql` shares the path).
//!
//! The schema pages read the branch's schema model directly, as anyone may through
//! `GET /api/schema`; they read no data. The sandbox runs in the browser (`sandbox.js`), posting
//! to the API's `POST /graphql/{branch}` with the session cookie, so the API decides what the
//! visitor may read or change.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use infrahub_core::schema::{
    AttributeSchema, ModelCategory, ModelSchema, RelationshipSchema, SchemaBranch,
};
use serde_json::{Value, json};

use super::{Page, UiError};
use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "schema_list.html",
        include_str!("templates/schema_list.html"),
    ),
    (
        "schema_kind.html",
        include_str!("templates/schema_kind.html"),
    ),
    ("sandbox.html", include_str!("templates/sandbox.html")),
];

/// The routes of the schema browser and the sandbox.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/schema", get(list))
        .route("/schema/{kind}", get(kind_page))
        .route("/graphql", get(sandbox))
}

/// Longest filter text of the schema list.
const MAX_FILTER_TEXT: usize = 256;
/// Longest document the sandbox is opened with (`?query=`).
const MAX_SANDBOX_QUERY: usize = 64 * 1024;

/// The parameters of the schema list.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ListParams {
    /// Text the kind, label, namespace or description must contain (case-insensitive).
    #[serde(default)]
    q: String,
    /// `node`, `generic`, `profile`, `template`, or empty for nodes and generics.
    #[serde(default)]
    category: String,
}

/// The spelling of a model category in addresses and pages.
fn category_name(category: ModelCategory) -> &'static str {
    match category {
        ModelCategory::Node => "node",
        ModelCategory::Generic => "generic",
        ModelCategory::Profile => "profile",
        ModelCategory::Template => "template",
    }
}

/// The schema of the page's branch.
fn branch_schema(page: &Page) -> Result<Arc<SchemaBranch>, UiError> {
    page.state
        .engine
        .schema(&page.branch)
        .map_err(|e| UiError::not_found(e.to_string()))
}

/// `GET /schema`: nodes and generics (or the chosen category) grouped by namespace, with a
/// filter on their kind, label, namespace and description.
pub(super) async fn list(
    page: Page,
    Query(params): Query<ListParams>,
) -> Result<Response, UiError> {
    let text = params.q.trim().to_string();
    if text.chars().count() > MAX_FILTER_TEXT {
        return Err(UiError::bad_request(format!(
            "the filter text is longer than {MAX_FILTER_TEXT} characters"
        )));
    }
    let categories: Vec<ModelCategory> = match params.category.as_str() {
        "" => vec![ModelCategory::Node, ModelCategory::Generic],
        "node" => vec![ModelCategory::Node],
        "generic" => vec![ModelCategory::Generic],
        "profile" => vec![ModelCategory::Profile],
        "template" => vec![ModelCategory::Template],
        other => {
            return Err(UiError::bad_request(format!(
                "unknown category `{other}`: node, generic, profile or template"
            )));
        }
    };
    let schema = branch_schema(&page)?;
    let needle = text.to_lowercase();
    let mut namespaces: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut total = 0usize;
    for model in schema.models() {
        if !categories.contains(&model.category) {
            continue;
        }
        total += 1;
        let kind = model.kind();
        let matches = needle.is_empty()
            || [
                Some(kind.as_str()),
                model.label.as_deref(),
                Some(model.namespace.as_str()),
                model.description.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(&needle));
        if !matches {
            continue;
        }
        namespaces
            .entry(model.namespace.clone())
            .or_default()
            .push(json!({
                "kind": kind,
                "label": model.label,
                "description": model.description,
                "category": category_name(model.category),
                "attributes": model.attributes.len(),
                "relationships": model.relationships.len(),
            }));
    }
    let mut shown = 0usize;
    let groups: Vec<Value> = namespaces
        .into_iter()
        .map(|(namespace, mut models)| {
            models.sort_by(|a, b| a["kind"].as_str().cmp(&b["kind"].as_str()));
            shown += models.len();
            json!({"namespace": namespace, "models": models})
        })
        .collect();
    page.render(
        "schema_list.html",
        json!({
            "filter_text": text,
            "category": params.category,
            "groups": groups,
            "shown": shown,
            "total": total,
        }),
    )
    .await
}

/// A schema value as text: a string as it is, anything else as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The first generic `model` inherits from that declares the field `name` (the origin of an
/// inherited attribute or relationship).
fn inherited_from(
    schema: &SchemaBranch,
    model: &ModelSchema,
    name: &str,
    relationship: bool,
) -> Option<String> {
    model.inherit_from.iter().find_map(|generic| {
        let parent = schema.get(generic)?;
        let declares = if relationship {
            parent.relationship(name).is_some()
        } else {
            parent.attribute(name).is_some()
        };
        declares.then(|| generic.clone())
    })
}

/// The kinds of `kinds` that exist on the branch, with whether each does (a link or plain
/// text in the page).
fn kind_links(schema: &SchemaBranch, kinds: &[String]) -> Vec<Value> {
    kinds
        .iter()
        .map(|kind| json!({"kind": kind, "exists": schema.has(kind)}))
        .collect()
}

/// `GET /schema/{kind}`: one kind, its properties, attributes and relationships.
pub(super) async fn kind_page(page: Page, Path(kind): Path<String>) -> Result<Response, UiError> {
    let schema = branch_schema(&page)?;
    let Some(model) = schema.get(&kind) else {
        return Err(UiError::not_found(format!(
            "No kind {kind} in the schema of branch {}.",
            page.branch
        )));
    };
    let mut attributes: Vec<&AttributeSchema> = model.attributes.iter().collect();
    attributes.sort_by_key(|a| (a.order_weight.unwrap_or(i64::MAX), a.name.clone()));
    let attributes: Vec<Value> = attributes
        .into_iter()
        .map(|attribute| {
            let parameters = attribute.parameters.as_ref().map(|p| {
                let mut items: Vec<String> = Vec::new();
                let mut push = |name: &str, value: Option<String>| {
                    if let Some(value) = value {
                        items.push(format!("{name}: {value}"));
                    }
                };
                push("regex", p.regex.clone().or_else(|| attribute.regex.clone()));
                push("min_length", p.min_length.map(|v| v.to_string()));
                push("max_length", p.max_length.map(|v| v.to_string()));
                push("min_value", p.min_value.map(|v| v.to_string()));
                push("max_value", p.max_value.map(|v| v.to_string()));
                push("excluded_values", p.excluded_values.clone());
                push("start_range", p.start_range.map(|v| v.to_string()));
                push("end_range", p.end_range.map(|v| v.to_string()));
                items
            });
            let choices: Vec<Value> = attribute
                .choices
                .iter()
                .flatten()
                .map(|c| json!({"name": c.name, "label": c.label, "description": c.description}))
                .collect();
            let enum_values: Vec<String> = attribute
                .enum_values
                .iter()
                .flatten()
                .map(value_text)
                .collect();
            json!({
                "name": attribute.name,
                "kind": attribute.kind.as_str(),
                "label": attribute.label,
                "description": attribute.description,
                "optional": attribute.optional,
                "unique": attribute.unique,
                "read_only": attribute.read_only,
                "default_value": attribute.default_value.as_ref().map(value_text),
                "choices": choices,
                "enum": enum_values,
                "parameters": parameters.unwrap_or_default(),
                "computed": attribute.computed_attribute.as_ref().map(|c| {
                    serde_json::to_value(c).map(|v| v.to_string()).unwrap_or_default()
                }),
                "order_weight": attribute.order_weight,
                "inherited": attribute.inherited,
                "inherited_from": if attribute.inherited {
                    inherited_from(&schema, model, &attribute.name, false)
                } else {
                    None
                },
                "deprecation": attribute.deprecation,
            })
        })
        .collect();
    let mut relationships: Vec<&RelationshipSchema> = model.relationships.iter().collect();
    relationships.sort_by_key(|r| (r.order_weight.unwrap_or(i64::MAX), r.name.clone()));
    let relationships: Vec<Value> = relationships
        .into_iter()
        .map(|relationship| {
            json!({
                "name": relationship.name,
                "label": relationship.label,
                "description": relationship.description,
                "peer": relationship.peer,
                "peer_exists": schema.has(&relationship.peer),
                "kind": relationship.kind.as_str(),
                "cardinality": relationship.cardinality.as_str(),
                "min_count": relationship.min_count,
                "max_count": relationship.max_count,
                "optional": relationship.optional,
                "read_only": relationship.read_only,
                "direction": relationship.direction.as_str(),
                "identifier": relationship.identifier,
                "on_delete": relationship.on_delete.map(|o| o.as_str()),
                "inherited": relationship.inherited,
                "inherited_from": if relationship.inherited {
                    inherited_from(&schema, model, &relationship.name, true)
                } else {
                    None
                },
            })
        })
        .collect();
    let mut used_by = model.used_by.clone();
    used_by.sort();
    let related = |name: &Option<String>| {
        name.as_ref()
            .map(|k| kind_links(&schema, std::slice::from_ref(k)))
    };
    let profile = format!("Profile{kind}");
    let template = format!("Template{kind}");
    page.render(
        "schema_kind.html",
        json!({
            "model": {
                "kind": kind,
                "name": model.name,
                "namespace": model.namespace,
                "category": category_name(model.category),
                "label": model.label,
                "description": model.description,
                "documentation": model.documentation,
                "branch": model.branch.as_str(),
                "default_filter": model.default_filter,
                "human_friendly_id": model.human_friendly_id,
                "display_label": model.display_label,
                "display_labels": model.display_labels,
                "include_in_menu": model.include_in_menu,
                "menu_placement": model.menu_placement,
                "icon": model.icon,
                "order_by": model.order_by,
                "uniqueness_constraints": model.uniqueness_constraints,
                "inherit_from": kind_links(&schema, &model.inherit_from),
                "used_by": kind_links(&schema, &used_by),
                "hierarchy": related(&model.hierarchy),
                "parent": related(&model.parent),
                "children": related(&model.children),
                "hierarchical": model.hierarchical,
                "restricted_namespaces": model.restricted_namespaces,
                "generate_profile": model.generate_profile,
                "generate_template": model.generate_template,
                "profile": schema.has(&profile).then_some(profile),
                "template": schema.has(&template).then_some(template),
                "has_objects": matches!(model.category, ModelCategory::Node | ModelCategory::Generic),
            },
            "attributes": attributes,
            "relationships": relationships,
        }),
    )
    .await
}

/// The parameters of the sandbox page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct SandboxParams {
    /// The document the sandbox opens with.
    #[serde(default)]
    query: Option<String>,
}

/// The document the sandbox opens with when none is given.
const DEFAULT_QUERY: &str = "query {\n  InfrahubInfo {\n    version\n  }\n}\n";

/// `GET /graphql?query=`: the GraphQL sandbox (`sandbox.js` runs the documents through the
/// API's `POST /graphql/{branch}`).
pub(super) async fn sandbox(
    page: Page,
    Query(params): Query<SandboxParams>,
) -> Result<Response, UiError> {
    let query = params
        .query
        .filter(|q| !q.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_QUERY.to_string());
    if query.len() > MAX_SANDBOX_QUERY {
        return Err(UiError::bad_request(format!(
            "the document is longer than {MAX_SANDBOX_QUERY} bytes"
        )));
    }
    page.render("sandbox.html", json!({ "query": query })).await
}
