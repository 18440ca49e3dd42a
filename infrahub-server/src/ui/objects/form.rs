//! Create and edit: `GET`/`POST /objects/{kind}/new` and `/objects/{kind}/{id}/edit`.
//!
//! The form is generated from the schema: an input per attribute kind, a picker per
//! relationship. A submitted form becomes the `data` variable of `<Kind>Create` or
//! `<Kind>Update` (an edit sends only what changed); an error the API answers is shown next to
//! the field its message names, else above the form, with the user's values kept.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use infrahub_core::schema::{
    AttributeKind, AttributeSchema, ModelSchema, RelationshipKind, RelationshipSchema, SchemaBranch,
};
use serde_json::{Map, Value, json};

use super::{
    Page, UiError, attribute_label, branch_schema, exposed, exposed_relationships, is_one,
    model_label, model_of, node_id, object_model, ordered_attributes, peer_kind, query_pairs,
    relationship_label,
};

/// Peers a relationship picker lists.
const PICKER_PEERS: usize = 200;
/// Most current peers of a cardinality-many relationship an edit form reads.
const MAX_CURRENT_PEERS: usize = 1000;

/// The kind to create from a cardinality-many relationship's tab, and the name of its
/// relationship back (preselected on the form): components and hierarchy children.
pub(super) fn child_create(
    schema: &SchemaBranch,
    model: &ModelSchema,
    relationship: &RelationshipSchema,
) -> Option<(String, String)> {
    if !matches!(
        relationship.kind,
        RelationshipKind::Component
            | RelationshipKind::Generic
            | RelationshipKind::Attribute
            | RelationshipKind::Hierarchy
    ) {
        return None;
    }
    let peer = schema.get(&relationship.peer)?;
    if !peer.is_node() || !exposed(schema, &relationship.peer) {
        return None;
    }
    let reverse = peer.relationships.iter().find(|r| {
        r.identifier() == relationship.identifier() && is_one(r) && !r.read_only && {
            let kind = model.kind();
            r.peer == kind || model.inherit_from.contains(&r.peer)
        }
    })?;
    Some((peer.kind(), reverse.name.clone()))
}

/// What the form of a model asks.
struct Spec<'a> {
    /// Attributes in order weight order (files aside: they are uploaded through the API).
    attributes: Vec<&'a AttributeSchema>,
    /// Cardinality-one relationships with a picker.
    ones: Vec<&'a RelationshipSchema>,
    /// Cardinality-many relationships with a multi-select.
    manys: Vec<&'a RelationshipSchema>,
}

impl<'a> Spec<'a> {
    fn of(schema: &SchemaBranch, model: &'a ModelSchema) -> Self {
        let attributes = ordered_attributes(model)
            .into_iter()
            .filter(|a| a.kind != AttributeKind::File)
            .collect();
        let mut ones = Vec::new();
        let mut manys = Vec::new();
        for relationship in exposed_relationships(schema, model) {
            if relationship.read_only {
                continue;
            }
            if is_one(relationship) {
                if !matches!(
                    relationship.kind,
                    RelationshipKind::Group
                        | RelationshipKind::Profile
                        | RelationshipKind::Template
                ) {
                    ones.push(relationship);
                }
            } else if matches!(
                relationship.kind,
                RelationshipKind::Generic | RelationshipKind::Attribute
            ) {
                manys.push(relationship);
            }
        }
        Spec {
            attributes,
            ones,
            manys,
        }
    }

    fn editable(&self) -> impl Iterator<Item = &&'a AttributeSchema> {
        self.attributes.iter().filter(|a| !a.read_only)
    }

    /// The names of the fields a form post may carry.
    fn accepts(&self, name: &str) -> bool {
        self.editable().any(|a| a.name == name)
            || self
                .ones
                .iter()
                .chain(&self.manys)
                .any(|r| r.name == name || name.strip_suffix("__ref").is_some_and(|n| n == r.name))
    }

    /// Every field name, longest first (to find which one an error message names).
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .attributes
            .iter()
            .map(|a| a.name.clone())
            .chain(self.ones.iter().map(|r| r.name.clone()))
            .chain(self.manys.iter().map(|r| r.name.clone()))
            .collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names
    }
}

/// The values of a form: field name → submitted strings (several for multi-selects).
type Values = BTreeMap<String, Vec<String>>;

/// Errors by field name.
type Errors = BTreeMap<String, String>;

fn first<'v>(values: &'v Values, name: &str) -> &'v str {
    values
        .get(name)
        .and_then(|v| v.last())
        .map_or("", String::as_str)
}

/// The non-empty values submitted for `name` (the peers chosen in a picker).
fn chosen<'v>(values: &'v Values, name: &str) -> impl Iterator<Item = &'v str> {
    values
        .get(name)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// An attribute value as the form's input holds it.
fn input_text(attribute: &AttributeSchema, value: &Value) -> String {
    match (attribute.kind, value) {
        (_, Value::Null) => String::new(),
        (AttributeKind::Password | AttributeKind::HashedPassword, _) => String::new(),
        (AttributeKind::DateTime, Value::String(text)) => {
            if text.len() >= 19 && text.as_bytes().get(10) == Some(&b'T') {
                text[..19].to_string()
            } else {
                text.clone()
            }
        }
        (_, Value::String(text)) => text.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => n.to_string(),
        (_, other) => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn is_checkbox(attribute: &AttributeSchema) -> bool {
    matches!(
        attribute.kind,
        AttributeKind::Boolean | AttributeKind::Checkbox
    )
}

/// The API value of an attribute from the form's text; an error message when it is not one.
fn parse_attribute(attribute: &AttributeSchema, text: &str) -> Result<Value, String> {
    if is_checkbox(attribute) {
        return Ok(Value::Bool(text == "true"));
    }
    let normalized = text.replace("\r\n", "\n");
    let trimmed = normalized.trim();
    if trimmed.is_empty() {
        return Ok(Value::Null);
    }
    match attribute.kind {
        AttributeKind::Number | AttributeKind::NumberPool | AttributeKind::Bandwidth => trimmed
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| format!("`{trimmed}` is not a whole number")),
        AttributeKind::Json => {
            serde_json::from_str::<Value>(trimmed).map_err(|e| format!("Invalid JSON: {e}"))
        }
        AttributeKind::Any => {
            Ok(serde_json::from_str::<Value>(trimmed).unwrap_or_else(|_| json!(trimmed)))
        }
        AttributeKind::List => {
            if trimmed.starts_with('[') {
                match serde_json::from_str::<Value>(trimmed) {
                    Ok(list @ Value::Array(_)) => Ok(list),
                    Ok(_) => Err("Expected a JSON list".into()),
                    Err(e) => Err(format!("Invalid JSON list: {e}")),
                }
            } else {
                Ok(Value::Array(
                    trimmed
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(|l| json!(l))
                        .collect(),
                ))
            }
        }
        AttributeKind::DateTime => {
            // `datetime-local` gives `YYYY-MM-DDTHH:MM[:SS]`, read as UTC.
            let local = trimmed.len() <= 19
                && trimmed.as_bytes().get(10) == Some(&b'T')
                && !trimmed.ends_with('Z');
            Ok(json!(if local && trimmed.len() == 16 {
                format!("{trimmed}:00Z")
            } else if local {
                format!("{trimmed}Z")
            } else {
                trimmed.to_string()
            }))
        }
        AttributeKind::TextArea => Ok(json!(normalized)),
        _ => Ok(json!(trimmed)),
    }
}

/// A peer reference typed by hand: an id, or a human-friendly id (`a / b` for several parts).
fn peer_reference(text: &str, peer: Option<&ModelSchema>) -> Value {
    if uuid::Uuid::parse_str(text).is_ok() {
        return json!({"id": text});
    }
    let parts = peer
        .and_then(|p| p.human_friendly_id.as_ref())
        .map_or(1, Vec::len);
    if parts > 1 {
        json!({"hfid": text.split('/').map(str::trim).collect::<Vec<_>>()})
    } else {
        json!({"hfid": [text]})
    }
}

/// The current values of a node read for its edit form (`None` on a create).
struct Current {
    /// The values as the form shows them.
    values: Values,
    /// The API values of the attributes.
    attributes: Map<String, Value>,
    /// The labels of the current peers, by id.
    labels: BTreeMap<String, String>,
}

/// Reads node `id` of `kind` for its edit form, or a 404.
async fn read_current(
    page: &Page,
    kind: &str,
    id: &str,
    spec: &Spec<'_>,
) -> Result<Current, UiError> {
    let mut selection = vec!["id display_label".to_string()];
    for attribute in &spec.attributes {
        selection.push(format!("{} {{ value }}", attribute.name));
    }
    for relationship in &spec.ones {
        selection.push(format!(
            "{} {{ node {{ id display_label }} }}",
            relationship.name
        ));
    }
    for relationship in &spec.manys {
        selection.push(format!(
            "{}(limit: {MAX_CURRENT_PEERS}) {{ edges {{ node {{ id display_label }} }} }}",
            relationship.name
        ));
    }
    let data = page
        .graphql(
            &format!(
                "query($ids: [ID]) {{ {kind}(ids: $ids) {{ edges {{ node {{ {} }} }} }} }}",
                selection.join(" ")
            ),
            json!({"ids": [id]}),
        )
        .await?;
    let node = &data[kind]["edges"][0]["node"];
    if !node.is_object() {
        return Err(UiError::not_found(format!(
            "{kind} {id} not found on branch {}.",
            page.branch
        )));
    }
    let mut current = Current {
        values: Values::new(),
        attributes: Map::new(),
        labels: BTreeMap::new(),
    };
    for attribute in &spec.attributes {
        let value = node[&attribute.name]["value"].clone();
        let text = if is_checkbox(attribute) {
            (value == Value::Bool(true)).to_string()
        } else {
            input_text(attribute, &value)
        };
        current.values.insert(attribute.name.clone(), vec![text]);
        current.attributes.insert(attribute.name.clone(), value);
    }
    let mut remember = |name: &str, peer: &Value, values: &mut Values| {
        if let Some(peer_id) = peer["id"].as_str() {
            current.labels.insert(
                peer_id.to_string(),
                peer["display_label"]
                    .as_str()
                    .unwrap_or(peer_id)
                    .to_string(),
            );
            values
                .entry(name.to_string())
                .or_default()
                .push(peer_id.to_string());
        }
    };
    let mut values = std::mem::take(&mut current.values);
    for relationship in &spec.ones {
        remember(
            &relationship.name,
            &node[&relationship.name]["node"],
            &mut values,
        );
    }
    for relationship in &spec.manys {
        for edge in node[&relationship.name]["edges"]
            .as_array()
            .into_iter()
            .flatten()
        {
            remember(&relationship.name, &edge["node"], &mut values);
        }
    }
    current.values = values;
    Ok(current)
}

/// The `data` of the mutation from the submitted values, or the errors of the fields whose
/// text is not a value of their kind. On an edit, only what differs from `current`.
fn build_data(
    schema: &SchemaBranch,
    spec: &Spec<'_>,
    values: &Values,
    current: Option<&Current>,
) -> Result<Map<String, Value>, Errors> {
    let mut data = Map::new();
    let mut errors = Errors::new();
    for attribute in spec.editable() {
        let text = first(values, &attribute.name);
        let secret = matches!(
            attribute.kind,
            AttributeKind::Password | AttributeKind::HashedPassword
        );
        if secret && text.is_empty() {
            // Secrets are not shown again: an empty field keeps the current one.
            continue;
        }
        match parse_attribute(attribute, text) {
            Ok(value) => match current {
                Some(current) => {
                    if current.attributes.get(&attribute.name) != Some(&value) || secret {
                        data.insert(attribute.name.clone(), json!({"value": value}));
                    }
                }
                None => {
                    if !value.is_null() {
                        data.insert(attribute.name.clone(), json!({"value": value}));
                    }
                }
            },
            Err(message) => {
                errors.insert(attribute.name.clone(), message);
            }
        }
    }
    for relationship in &spec.ones {
        let typed = first(values, &format!("{}__ref", relationship.name)).trim();
        let chosen = first(values, &relationship.name).trim();
        let now = current.and_then(|c| c.values.get(&relationship.name).and_then(|v| v.first()));
        if !typed.is_empty() {
            data.insert(
                relationship.name.clone(),
                peer_reference(typed, schema.get(peer_kind(relationship))),
            );
        } else if chosen.is_empty() {
            if current.is_some() && now.is_some() {
                data.insert(relationship.name.clone(), Value::Null);
            }
        } else if now.map(String::as_str) != Some(chosen) {
            if uuid::Uuid::parse_str(chosen).is_err() {
                errors.insert(
                    relationship.name.clone(),
                    format!("`{chosen}` is not a node id"),
                );
                continue;
            }
            data.insert(relationship.name.clone(), json!({"id": chosen}));
        }
    }
    for relationship in &spec.manys {
        let chosen: BTreeSet<&str> = chosen(values, &relationship.name).collect();
        let now: BTreeSet<&str> = current
            .and_then(|c| c.values.get(&relationship.name))
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if let Some(bad) = chosen.iter().find(|v| uuid::Uuid::parse_str(v).is_err()) {
            errors.insert(
                relationship.name.clone(),
                format!("`{bad}` is not a node id"),
            );
            continue;
        }
        // Peers typed by hand (those beyond the listed ones), one per line.
        let typed: Vec<Value> = first(values, &format!("{}__ref", relationship.name))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !chosen.contains(l))
            .map(|l| peer_reference(l, schema.get(peer_kind(relationship))))
            .collect();
        if chosen != now || !typed.is_empty() {
            if current.is_none() && chosen.is_empty() && typed.is_empty() {
                continue;
            }
            let mut peers: Vec<Value> = chosen.iter().map(|id| json!({"id": id})).collect();
            peers.extend(typed);
            data.insert(relationship.name.clone(), Value::Array(peers));
        }
    }
    if errors.is_empty() {
        Ok(data)
    } else {
        Err(errors)
    }
}

/// Which field an API error message is about, if it names one.
fn field_of(message: &str, names: &[String]) -> Option<String> {
    names
        .iter()
        .find(|name| {
            message.ends_with(&format!(" at {name}"))
                || message.contains(&format!("`{name}`"))
                || message.contains(&format!("'{name}'"))
                || message.contains(&format!(".{name})"))
                || message.contains(&format!(" {name} = "))
                || message.starts_with(&format!("{name}: "))
                || message.starts_with(&format!("{name} is "))
        })
        .cloned()
}

/// What the form does.
enum Mode<'a> {
    Create,
    Edit { id: &'a str, label: String },
}

/// Renders the form of `model` with `values`, `errors` next to their fields and `problems`
/// above it.
#[allow(clippy::too_many_arguments)]
async fn render_form(
    page: &Page,
    schema: &SchemaBranch,
    model: &ModelSchema,
    mode: Mode<'_>,
    values: &Values,
    labels: &BTreeMap<String, String>,
    errors: &Errors,
    problems: &[String],
    status: StatusCode,
) -> Result<Response, UiError> {
    let kind = model.kind();
    let spec = Spec::of(schema, model);
    let creating = matches!(mode, Mode::Create);
    // The peers each picker offers, in one document; kinds the account cannot read offer none.
    let pickers: Vec<&RelationshipSchema> = spec.ones.iter().chain(&spec.manys).copied().collect();
    let mut peers = Value::Null;
    if !pickers.is_empty() {
        let fields: Vec<String> = pickers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "p{i}: {}(limit: {PICKER_PEERS}) {{ count edges {{ node {{ id display_label __typename }} }} }}",
                    peer_kind(r)
                )
            })
            .collect();
        peers = page
            .graphql_result(&format!("query {{ {} }}", fields.join(" ")), json!({}))
            .await?
            .0;
    }
    let mut fields: Vec<Value> = Vec::new();
    for attribute in &spec.attributes {
        let input = match attribute.kind {
            AttributeKind::TextArea => "textarea",
            AttributeKind::Json | AttributeKind::List | AttributeKind::Any => "code",
            AttributeKind::Number | AttributeKind::NumberPool | AttributeKind::Bandwidth => {
                "number"
            }
            AttributeKind::Boolean | AttributeKind::Checkbox => "checkbox",
            AttributeKind::Dropdown => "select",
            AttributeKind::DateTime => "datetime-local",
            AttributeKind::Email => "email",
            AttributeKind::Url => "url",
            AttributeKind::Password | AttributeKind::HashedPassword => "password",
            _ => "text",
        };
        let hint = match attribute.kind {
            AttributeKind::List => Some("A JSON list, or one item per line.".to_string()),
            AttributeKind::Json => Some("A JSON document.".to_string()),
            AttributeKind::IpHost => {
                Some("An IP address, with a prefix length or not: 10.0.0.1/24.".into())
            }
            AttributeKind::IpNetwork => Some("An IP network: 10.0.0.0/24.".into()),
            AttributeKind::MacAddress => Some("A MAC address: 00:1a:2b:3c:4d:5e.".into()),
            AttributeKind::Color => Some("A colour: #rrggbb.".into()),
            AttributeKind::Bandwidth => Some("In kbps.".into()),
            AttributeKind::DateTime => Some("UTC.".into()),
            AttributeKind::NumberPool if creating => {
                Some("Leave empty to allocate the next number of the pool.".into())
            }
            AttributeKind::Password | AttributeKind::HashedPassword if !creating => {
                Some("Leave empty to keep the current one.".into())
            }
            _ => None,
        }
        .or_else(|| attribute.description.clone());
        let value = first(values, &attribute.name).to_string();
        let options: Vec<Value> = attribute
            .choices
            .iter()
            .flatten()
            .map(|c| {
                json!({
                    "value": c.name,
                    "label": c.label.clone().unwrap_or_else(|| c.name.clone()),
                    "selected": c.name == value,
                })
            })
            .collect();
        fields.push(json!({
            "kind": "attribute",
            "name": attribute.name,
            "label": attribute_label(attribute),
            "input": input,
            "required": !attribute.optional && attribute.default_value.is_none() && !is_checkbox(attribute),
            "read_only": attribute.read_only,
            "value": if input == "password" { String::new() } else { value.clone() },
            "checked": value == "true",
            "options": options,
            "hint": hint,
            "error": errors.get(&attribute.name),
            "maxlength": attribute.max_length(),
        }));
    }
    for (i, relationship) in pickers.iter().enumerate() {
        let many = !is_one(relationship);
        let chosen: Vec<&str> = chosen(values, &relationship.name).collect();
        let listed = &peers[format!("p{i}")];
        let generic_peer = schema
            .get(peer_kind(relationship))
            .is_some_and(ModelSchema::is_generic);
        let mut options: Vec<(String, String)> = listed["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let id = e["node"]["id"].as_str()?;
                let label = e["node"]["display_label"]
                    .as_str()
                    .filter(|l| !l.is_empty())
                    .unwrap_or(id);
                // Peers of a generic come in several kinds: say which.
                let label = match e["node"]["__typename"].as_str() {
                    Some(kind) if generic_peer => format!("{label} ({kind})"),
                    _ => label.to_string(),
                };
                Some((id.to_string(), label))
            })
            .collect();
        for id in &chosen {
            if !options.iter().any(|(o, _)| o == id) {
                let label = labels
                    .get(*id)
                    .cloned()
                    .unwrap_or_else(|| (*id).to_string());
                options.push(((*id).to_string(), label));
            }
        }
        options.sort_by_key(|(_, label)| label.to_lowercase());
        let total = listed["count"].as_u64().unwrap_or(0);
        fields.push(json!({
            "kind": if many { "many" } else { "one" },
            "name": relationship.name,
            "label": relationship_label(relationship),
            "peer": peer_kind(relationship),
            "required": !relationship.optional && !many,
            "options": options
                .iter()
                .map(|(id, label)| json!({"value": id, "label": label, "selected": chosen.contains(&id.as_str())}))
                .collect::<Vec<_>>(),
            "more": total > PICKER_PEERS as u64,
            "total": total,
            "ref_value": first(values, &format!("{}__ref", relationship.name)),
            "error": errors.get(&relationship.name),
            "hint": relationship.description,
        }));
    }
    let (action, title, cancel, label) = match &mode {
        Mode::Create => (
            page.link(&format!("/objects/{kind}/new"), &[]),
            format!("Create {}", model_label(model)),
            page.link(&format!("/objects/{kind}"), &[]),
            None,
        ),
        Mode::Edit { id, label } => (
            page.link(&format!("/objects/{kind}/{id}/edit"), &[]),
            format!("Edit {label}"),
            page.link(&format!("/objects/{kind}/{id}"), &[]),
            Some(label.clone()),
        ),
    };
    page.render_status(
        status,
        "objects_form.html",
        json!({
            "kind": kind,
            "kind_label": model_label(model),
            "title": title,
            "label": label,
            "creating": creating,
            "action": action,
            "cancel": cancel,
            "fields": fields,
            "problems": problems,
            "has_errors": !errors.is_empty() || !problems.is_empty(),
        }),
    )
    .await
}

/// The model of a form: a node, profile or template kind (a generic has no create).
fn form_model<'a>(schema: &'a SchemaBranch, kind: &str) -> Result<&'a ModelSchema, UiError> {
    let model = model_of(schema, kind)?;
    if model.is_generic() {
        return Err(UiError::bad_request(format!(
            "{kind} is a generic: create an object of one of the kinds that implement it ({}).",
            model.used_by.join(", ")
        )));
    }
    Ok(model)
}

/// The form's values from a form body; the names it has that the form does not.
fn submitted(spec: &Spec<'_>, body: &str) -> (Values, Vec<String>) {
    let mut values = Values::new();
    let mut unknown = Vec::new();
    for (name, value) in super::super::form_pairs(body) {
        if spec.accepts(&name) {
            values.entry(name).or_default().push(value);
        } else if !unknown.contains(&name) {
            unknown.push(name);
        }
    }
    (values, unknown)
}

/// Runs the mutation; the id of the written node, or the errors by field and the others.
async fn run_mutation(
    page: &Page,
    kind: &str,
    operation: &str,
    data: Map<String, Value>,
    names: &[String],
) -> Result<Result<String, (Errors, Vec<String>)>, UiError> {
    let document = format!(
        "mutation($data: {kind}{operation}Input!) {{ {kind}{operation}(data: $data) {{ ok object {{ id }} }} }}"
    );
    let (result, messages) = page
        .graphql_result(&document, json!({ "data": Value::Object(data) }))
        .await?;
    if messages.is_empty() {
        let id = result[format!("{kind}{operation}")]["object"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        return Ok(Ok(id));
    }
    let mut errors = Errors::new();
    let mut others = Vec::new();
    for message in messages {
        match field_of(&message, names) {
            Some(name) if !errors.contains_key(&name) => {
                errors.insert(name, message);
            }
            _ => others.push(message),
        }
    }
    Ok(Err((errors, others)))
}

/// `GET /objects/{kind}/new`: the create form; `?<relationship>=<id>` preselects a peer (a
/// component's parent when coming from it).
pub(super) async fn create_form(page: Page, Path(kind): Path<String>) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let model = form_model(&schema, &kind)?;
    let spec = Spec::of(&schema, model);
    let mut values = Values::new();
    for attribute in &spec.attributes {
        if let Some(default) = &attribute.default_value {
            values.insert(attribute.name.clone(), vec![input_text(attribute, default)]);
        }
    }
    let mut labels = BTreeMap::new();
    for (name, value) in query_pairs(&page) {
        let relationship = spec.ones.iter().chain(&spec.manys).find(|r| r.name == name);
        if let Some(relationship) = relationship
            && uuid::Uuid::parse_str(&value).is_ok()
        {
            // The label of a preselected peer that is not among the first ones listed.
            let data = page
                .graphql_result(
                    &format!(
                        "query($ids: [ID]) {{ {}(ids: $ids) {{ edges {{ node {{ id display_label }} }} }} }}",
                        peer_kind(relationship)
                    ),
                    json!({"ids": [value]}),
                )
                .await?
                .0;
            if let Some(label) =
                data[peer_kind(relationship)]["edges"][0]["node"]["display_label"].as_str()
            {
                labels.insert(value.clone(), label.to_string());
            }
            values.entry(name).or_default().push(value);
        }
    }
    render_form(
        &page,
        &schema,
        model,
        Mode::Create,
        &values,
        &labels,
        &Errors::new(),
        &[],
        StatusCode::OK,
    )
    .await
}

/// `POST /objects/{kind}/new`: runs `<Kind>Create`; the new object's page, or the form again.
pub(super) async fn create_submit(
    page: Page,
    Path(kind): Path<String>,
    body: String,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let model = form_model(&schema, &kind)?;
    let spec = Spec::of(&schema, model);
    let (values, unknown) = submitted(&spec, &body);
    let labels = BTreeMap::new();
    if !unknown.is_empty() {
        let problem = unknown_fields(model, &unknown);
        return render_form(
            &page,
            &schema,
            model,
            Mode::Create,
            &values,
            &labels,
            &Errors::new(),
            &[problem],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let data = match build_data(&schema, &spec, &values, None) {
        Ok(data) => data,
        Err(errors) => {
            return render_form(
                &page,
                &schema,
                model,
                Mode::Create,
                &values,
                &labels,
                &errors,
                &[],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match run_mutation(&page, &kind, "Create", data, &spec.names()).await? {
        Ok(id) => Ok(page.redirect(&format!("/objects/{kind}/{id}"), &[])),
        Err((errors, others)) => {
            render_form(
                &page,
                &schema,
                model,
                Mode::Create,
                &values,
                &labels,
                &errors,
                &others,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// The message for form fields the kind does not have.
fn unknown_fields(model: &ModelSchema, unknown: &[String]) -> String {
    format!(
        "The form has fields that {} does not have or that cannot be changed: {}. Nothing was saved.",
        model.kind(),
        unknown.join(", ")
    )
}

/// The model, node id and label of an edit, redirecting a generic's address to the concrete
/// kind's.
async fn edit_target<'a>(
    page: &Page,
    schema: &'a SchemaBranch,
    kind: &str,
    id: &str,
) -> Result<Result<(&'a ModelSchema, String), Response>, UiError> {
    let model = model_of(schema, kind)?;
    let id = node_id(kind, id)?;
    if model.is_generic() {
        let concrete = super::detail::concrete_kind(page, kind, &id).await?;
        return Ok(Err(Redirect::to(
            &page.link(&format!("/objects/{concrete}/{id}/edit"), &[]),
        )
        .into_response()));
    }
    Ok(Ok((model, id)))
}

/// `GET /objects/{kind}/{id}/edit`: the edit form with the current values.
pub(super) async fn edit_form(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let (model, id) = match edit_target(&page, &schema, &kind, &id).await? {
        Ok(target) => target,
        Err(redirect) => return Ok(redirect),
    };
    let spec = Spec::of(&schema, model);
    let current = read_current(&page, &kind, &id, &spec).await?;
    let label = node_label(&page, &kind, &id).await?;
    render_form(
        &page,
        &schema,
        model,
        Mode::Edit { id: &id, label },
        &current.values,
        &current.labels,
        &Errors::new(),
        &[],
        StatusCode::OK,
    )
    .await
}

/// The display label of node `id`.
async fn node_label(page: &Page, kind: &str, id: &str) -> Result<String, UiError> {
    let data = page
        .graphql(
            &format!("query($ids: [ID]) {{ {kind}(ids: $ids) {{ edges {{ node {{ display_label }} }} }} }}"),
            json!({"ids": [id]}),
        )
        .await?;
    Ok(data[kind]["edges"][0]["node"]["display_label"]
        .as_str()
        .filter(|l| !l.is_empty())
        .unwrap_or(id)
        .to_string())
}

/// `POST /objects/{kind}/{id}/edit`: runs `<Kind>Update` with what changed.
pub(super) async fn edit_submit(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
    body: String,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let model = object_model(&schema, &kind, "edit")?;
    let id = node_id(&kind, &id)?;
    let spec = Spec::of(&schema, model);
    let current = read_current(&page, &kind, &id, &spec).await?;
    let label = node_label(&page, &kind, &id).await?;
    let (values, unknown) = submitted(&spec, &body);
    let mut labels = current.labels.clone();
    labels.entry(id.clone()).or_insert_with(|| label.clone());
    let again = |errors: Errors, problems: Vec<String>| {
        let page = &page;
        let schema = &schema;
        let values = &values;
        let labels = &labels;
        let id = &id;
        let label = label.clone();
        async move {
            render_form(
                page,
                schema,
                model,
                Mode::Edit { id, label },
                values,
                labels,
                &errors,
                &problems,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    if !unknown.is_empty() {
        return again(Errors::new(), vec![unknown_fields(model, &unknown)]).await;
    }
    let mut data = match build_data(&schema, &spec, &values, Some(&current)) {
        Ok(data) => data,
        Err(errors) => return again(errors, Vec::new()).await,
    };
    if data.is_empty() {
        return Ok(page.redirect(&format!("/objects/{kind}/{id}"), &[]));
    }
    data.insert("id".into(), json!(id));
    match run_mutation(&page, &kind, "Update", data, &spec.names()).await? {
        Ok(_) => Ok(page.redirect(&format!("/objects/{kind}/{id}"), &[])),
        Err((errors, others)) => again(errors, others).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_name_their_field() {
        let names = vec!["management_ip".to_string(), "name".to_string()];
        assert_eq!(
            field_of("name is mandatory for InfraDevice at name", &names).as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of(
                "Violates uniqueness constraint 'name' of InfraDevice: an object with name = \"a\" already exists",
                &names
            )
            .as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of(
                "management_ip: `x` is not a valid IP host: bad (InfraDevice.management_ip)",
                &names
            )
            .as_deref(),
            Some("management_ip")
        );
        assert_eq!(field_of("something else went wrong", &names), None);
    }

    #[test]
    fn lists_are_json_or_lines() {
        let attribute = AttributeSchema::new("l", AttributeKind::List);
        assert_eq!(
            parse_attribute(&attribute, "a\r\n b \n\n").unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            parse_attribute(&attribute, "[1, \"x\"]").unwrap(),
            json!([1, "x"])
        );
        assert!(parse_attribute(&attribute, "[1,").is_err());
        let when = AttributeSchema::new("w", AttributeKind::DateTime);
        assert_eq!(
            parse_attribute(&when, "2024-05-01T10:20").unwrap(),
            json!("2024-05-01T10:20:00Z")
        );
    }
}
