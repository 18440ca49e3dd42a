//! The object pages: the list of a kind (`/objects/{kind}`), the detail of one object
//! (`/objects/{kind}/{id}`), the create and edit forms generated from the schema, and the
//! delete confirmation with what the delete cascades to.
//!
//! The pages read the schema model to know what to show and ask; every read and write of data
//! runs a GraphQL document through [`Page::graphql`] (with the user's input as variables, never
//! in the document), so the API's permissions, validation and events apply.
//!
//! - [`list`]: the list, its filters, search and pages;
//! - [`detail`]: one object, its attributes with their metadata, its relationships as tabs;
//! - [`form`]: create and edit;
//! - [`delete`]: the confirmation page and the delete.

mod actions;
mod delete;
mod detail;
mod form;
mod list;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use infrahub_core::schema::{
    AttributeKind, AttributeSchema, Cardinality, ModelSchema, RelationshipKind, RelationshipSchema,
    SchemaBranch,
};
use serde_json::{Value, json};

use super::{Page, UiError};
use crate::state::AppState;

/// The templates of the object pages.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "objects_list.html",
        include_str!("../templates/objects_list.html"),
    ),
    (
        "objects_detail.html",
        include_str!("../templates/objects_detail.html"),
    ),
    (
        "objects_form.html",
        include_str!("../templates/objects_form.html"),
    ),
    (
        "objects_delete.html",
        include_str!("../templates/objects_delete.html"),
    ),
];

/// The routes of the object pages.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/objects/{kind}", get(list::list))
        .route(
            "/objects/{kind}/new",
            get(form::create_form).post(form::create_submit),
        )
        .route("/objects/{kind}/{id}", get(detail::detail))
        .route(
            "/objects/{kind}/{id}/edit",
            get(form::edit_form).post(form::edit_submit),
        )
        .route(
            "/objects/{kind}/{id}/delete",
            get(delete::confirm).post(delete::delete_submit),
        )
        .route("/objects/{kind}/{id}/action", post(actions::act))
}

/// The schema of the page's branch.
fn branch_schema(page: &Page) -> Result<Arc<SchemaBranch>, UiError> {
    page.state
        .engine
        .schema(&page.branch)
        .map_err(|e| UiError::not_found(e.to_string()))
}

/// Whether `kind` has a GraphQL type (the API leaves out the `Internal` namespace).
fn exposed(schema: &SchemaBranch, kind: &str) -> bool {
    schema.get(kind).is_some_and(|m| m.namespace != "Internal")
}

/// The model of `kind`, or a 404 when the branch's schema has no such kind in the API.
fn model_of<'a>(schema: &'a SchemaBranch, kind: &str) -> Result<&'a ModelSchema, UiError> {
    schema
        .get(kind)
        .filter(|m| m.namespace != "Internal")
        .ok_or_else(|| UiError::not_found(format!("Kind {kind} not found.")))
}

/// The model of `kind` for a change of one object (`action`: "edit", "delete"): a generic kind
/// is refused, the object is changed from its own kind's page.
fn object_model<'a>(
    schema: &'a SchemaBranch,
    kind: &str,
    action: &str,
) -> Result<&'a ModelSchema, UiError> {
    let model = model_of(schema, kind)?;
    if model.is_generic() {
        return Err(UiError::bad_request(format!(
            "{kind} is a generic: {action} the object from its own kind's page"
        )));
    }
    Ok(model)
}

/// A node id from the address, or a 404 (ids are UUIDs).
fn node_id(kind: &str, id: &str) -> Result<String, UiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| UiError::not_found(format!("{kind} {id} not found.")))
}

/// The label of a model.
fn model_label(model: &ModelSchema) -> String {
    model.label.clone().unwrap_or_else(|| model.kind())
}

/// The label of an attribute.
fn attribute_label(attribute: &AttributeSchema) -> String {
    attribute
        .label
        .clone()
        .unwrap_or_else(|| attribute.name.clone())
}

/// The label of a relationship.
fn relationship_label(relationship: &RelationshipSchema) -> String {
    relationship
        .label
        .clone()
        .unwrap_or_else(|| relationship.name.clone())
}

/// The kind of the peers a relationship field returns in the API (hierarchy links are typed
/// with the hierarchy's generic).
fn peer_kind(relationship: &RelationshipSchema) -> &str {
    match &relationship.hierarchical {
        Some(hierarchy) if relationship.kind == RelationshipKind::Hierarchy => hierarchy,
        _ => &relationship.peer,
    }
}

/// The relationships of `model` the API exposes, in order weight order.
fn exposed_relationships<'a>(
    schema: &SchemaBranch,
    model: &'a ModelSchema,
) -> Vec<&'a RelationshipSchema> {
    let mut relationships: Vec<&RelationshipSchema> = model
        .relationships
        .iter()
        .filter(|r| exposed(schema, peer_kind(r)))
        .collect();
    relationships.sort_by_key(|r| r.order_weight.unwrap_or(i64::MAX));
    relationships
}

/// The attributes of `model` in order weight order.
fn ordered_attributes(model: &ModelSchema) -> Vec<&AttributeSchema> {
    let mut attributes: Vec<&AttributeSchema> = model.attributes.iter().collect();
    attributes.sort_by_key(|a| a.order_weight.unwrap_or(i64::MAX));
    attributes
}

/// Whether a relationship holds one peer.
fn is_one(relationship: &RelationshipSchema) -> bool {
    relationship.cardinality == Cardinality::One
}

/// The GraphQL selection of an attribute's value and metadata.
fn attribute_selection(attribute: &AttributeSchema, metadata: bool) -> String {
    if metadata {
        format!(
            "{} {{ value is_protected is_default is_from_profile updated_at \
             source {{ id display_label __typename }} owner {{ id display_label __typename }} }}",
            attribute.name
        )
    } else {
        format!("{} {{ value }}", attribute.name)
    }
}

/// The text an attribute value is shown as (`None` for nothing).
fn display_value(attribute: &AttributeSchema, value: &Value) -> Option<String> {
    if matches!(
        attribute.kind,
        AttributeKind::Password | AttributeKind::HashedPassword
    ) {
        return (!value.is_null() || attribute.kind == AttributeKind::HashedPassword)
            .then(|| "••••••••".to_string());
    }
    match value {
        Value::Null => None,
        Value::String(text) => {
            if attribute.kind == AttributeKind::Dropdown {
                let label = attribute
                    .choices
                    .iter()
                    .flatten()
                    .find(|c| &c.name == text)
                    .and_then(|c| c.label.clone());
                Some(label.unwrap_or_else(|| text.clone()))
            } else {
                Some(text.clone())
            }
        }
        Value::Bool(true) => Some("Yes".into()),
        Value::Bool(false) => Some("No".into()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(serde_json::to_string_pretty(other).unwrap_or_default()),
    }
}

/// Whether an attribute's values are shown as preformatted text.
fn is_block(attribute: &AttributeSchema) -> bool {
    matches!(
        attribute.kind,
        AttributeKind::Json | AttributeKind::List | AttributeKind::Any | AttributeKind::TextArea
    )
}

/// A peer (`{id, display_label, __typename}`) as the templates show it: label, kind, link.
fn peer_view(node: &Value, fallback_kind: &str) -> Value {
    let id = node["id"].as_str().unwrap_or_default();
    let kind = node["__typename"].as_str().unwrap_or(fallback_kind);
    json!({
        "id": id,
        "kind": kind,
        "label": node["display_label"].as_str().filter(|l| !l.is_empty()).unwrap_or(id),
        "path": format!("/objects/{kind}/{id}"),
    })
}

/// A number from the query string within `0..=max`, or `default`.
fn bounded(params: &[(String, String)], name: &str, default: usize, max: usize) -> usize {
    params
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .map_or(default, |v| v.min(max))
}

/// The value of the query parameter `name` (empty when absent).
fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The query string of the page's address, decoded.
fn query_pairs(page: &Page) -> Vec<(String, String)> {
    super::form_pairs(page.uri.split_once('?').map_or("", |(_, q)| q))
}
