//! The JSON form of a processed schema, exactly as `GET /api/schema` serves it and the
//! official SDK parses it.

use serde_json::{Map, Value, json};

use super::attribute::{AttributeSchema, Display};
use super::branch::SchemaBranch;
use super::constants::RESTRICTED_NAMESPACES;
use super::hash::model_hash;
use super::kinds::AttributeKind;
use super::model::{ModelCategory, ModelSchema};
use super::relationship::RelationshipSchema;

const NUMBER_POOL_DEFAULT_END: i64 = i64::MAX;

fn display_text(display: Display) -> &'static str {
    match display {
        Display::Default => "default",
        Display::Extra => "extra",
    }
}

fn parameters_json(attribute: &AttributeSchema) -> Value {
    let params = attribute.parameters.clone().unwrap_or_default();
    let mut out = Map::new();
    out.insert("id".into(), json!(params.id));
    out.insert("state".into(), json!(params.state.as_str()));
    match attribute.kind {
        AttributeKind::Text | AttributeKind::TextArea => {
            out.insert("regex".into(), json!(params.regex));
            out.insert("min_length".into(), json!(params.min_length));
            out.insert("max_length".into(), json!(params.max_length));
        }
        AttributeKind::List => {
            out.insert("regex".into(), json!(params.regex));
        }
        AttributeKind::Number => {
            out.insert("min_value".into(), json!(params.min_value));
            out.insert("max_value".into(), json!(params.max_value));
            out.insert("excluded_values".into(), json!(params.excluded_values));
        }
        AttributeKind::NumberPool => {
            out.insert(
                "end_range".into(),
                json!(params.end_range.unwrap_or(NUMBER_POOL_DEFAULT_END)),
            );
            out.insert("start_range".into(), json!(params.start_range.unwrap_or(1)));
            out.insert("number_pool_id".into(), json!(params.number_pool_id));
        }
        _ => {}
    }
    Value::Object(out)
}

/// The JSON form of one attribute.
pub fn attribute_json(attribute: &AttributeSchema) -> Value {
    let choices = attribute.choices.as_ref().map(|choices| {
        choices
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "state": c.state.as_str(),
                    "name": c.name,
                    "description": c.description,
                    "color": c.color,
                    "label": c.label,
                })
            })
            .collect::<Vec<_>>()
    });
    let computed = attribute.computed_attribute.as_ref().map(|c| {
        json!({"kind": c.kind.as_str(), "jinja2_template": c.jinja2_template, "transform": c.transform})
    });
    json!({
        "id": attribute.id,
        "state": attribute.state.as_str(),
        "name": attribute.name,
        "kind": attribute.kind.as_str(),
        "enum": attribute.enum_values,
        "computed_attribute": computed,
        "choices": choices,
        "regex": attribute.regex,
        "max_length": attribute.max_length,
        "min_length": attribute.min_length,
        "label": attribute.label,
        "description": attribute.description,
        "read_only": attribute.read_only,
        "unique": attribute.unique,
        "optional": attribute.optional,
        "branch": attribute.branch.map(|b| b.as_str()),
        "order_weight": attribute.order_weight,
        "default_value": attribute.default_value,
        "inherited": attribute.inherited,
        "allow_override": attribute.allow_override.as_str(),
        "parameters": parameters_json(attribute),
        "deprecation": attribute.deprecation,
        "ordered": attribute.ordered,
        "display": display_text(attribute.display),
    })
}

/// The JSON form of one relationship.
pub fn relationship_json(relationship: &RelationshipSchema) -> Value {
    json!({
        "id": relationship.id,
        "state": relationship.state.as_str(),
        "name": relationship.name,
        "peer": relationship.peer,
        "kind": relationship.kind.as_str(),
        "label": relationship.label,
        "description": relationship.description,
        "identifier": relationship.identifier,
        "cardinality": relationship.cardinality.as_str(),
        "min_count": relationship.min_count,
        "max_count": relationship.max_count,
        "common_parent": relationship.common_parent,
        "common_relatives": relationship.common_relatives,
        "order_weight": relationship.order_weight,
        "optional": relationship.optional,
        "branch": relationship.branch.map(|b| b.as_str()),
        "inherited": relationship.inherited,
        "direction": relationship.direction.as_str(),
        "hierarchical": relationship.hierarchical,
        "on_delete": relationship.on_delete.map(|o| o.as_str()),
        "allow_override": relationship.allow_override.as_str(),
        "read_only": relationship.read_only,
        "deprecation": relationship.deprecation,
        "display": display_text(relationship.display),
    })
}

/// The JSON form of one model, with its `kind` and `hash`. Relationships to internal kinds are
/// left out, as upstream does.
pub fn model_json(model: &ModelSchema) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_string(), value);
    };
    put("id", json!(model.id));
    put("state", json!(model.state.as_str()));
    put("name", json!(model.name));
    put("namespace", json!(model.namespace));
    put("description", json!(model.description));
    put("label", json!(model.label));
    put("branch", json!(model.branch.as_str()));
    put("default_filter", json!(model.default_filter));
    put("human_friendly_id", json!(model.human_friendly_id));
    put("display_label", json!(model.display_label));
    put("display_labels", json!(model.display_labels));
    put("include_in_menu", json!(model.include_in_menu));
    put("menu_placement", json!(model.menu_placement));
    put("icon", json!(model.icon));
    put("order_by", json!(model.order_by));
    put(
        "uniqueness_constraints",
        json!(model.uniqueness_constraints),
    );
    put("documentation", json!(model.documentation));
    put(
        "attributes",
        Value::Array(model.attributes.iter().map(attribute_json).collect()),
    );
    put(
        "relationships",
        Value::Array(
            model
                .relationships
                .iter()
                .filter(|r| !r.has_internal_peer())
                .map(relationship_json)
                .collect(),
        ),
    );
    match model.category {
        ModelCategory::Node => {
            put("inherit_from", json!(model.inherit_from));
            put("generate_profile", json!(model.generate_profile));
            put("generate_template", json!(model.generate_template));
            put("hierarchy", json!(model.hierarchy));
            put("parent", json!(model.parent));
            put("children", json!(model.children));
        }
        ModelCategory::Generic => {
            put("hierarchical", json!(model.hierarchical));
            put("generate_profile", json!(model.generate_profile));
            put("generate_template", json!(model.generate_template));
            put("used_by", json!(model.used_by));
            put("restricted_namespaces", json!(model.restricted_namespaces));
        }
        ModelCategory::Profile | ModelCategory::Template => {
            put("inherit_from", json!(model.inherit_from));
        }
    }
    put("kind", json!(model.kind()));
    put("hash", json!(model_hash(model)));
    Value::Object(out)
}

impl SchemaBranch {
    /// The `GET /api/schema` document: `main` hash, `nodes`, `generics`, `profiles`,
    /// `templates` and `namespaces`. Models of the `Internal` namespace are left out;
    /// `namespaces`, when given, keeps only models of those namespaces.
    pub fn api_json(&self, namespaces: Option<&[String]>) -> Value {
        let keep = |m: &&ModelSchema| {
            m.namespace != "Internal" && namespaces.is_none_or(|list| list.contains(&m.namespace))
        };
        let list = |category: ModelCategory| -> Vec<Value> {
            self.models_of(category)
                .filter(keep)
                .map(model_json)
                .collect()
        };
        let mut seen: Vec<&str> = Vec::new();
        for category in [
            ModelCategory::Node,
            ModelCategory::Generic,
            ModelCategory::Profile,
            ModelCategory::Template,
        ] {
            for model in self.models_of(category) {
                if !seen.contains(&model.namespace.as_str()) {
                    seen.push(&model.namespace);
                }
            }
        }
        let namespace_list: Vec<Value> = seen
            .iter()
            .map(|n| json!({"name": n, "user_editable": !RESTRICTED_NAMESPACES.contains(n)}))
            .collect();
        json!({
            "main": self.hash(),
            "nodes": list(ModelCategory::Node),
            "generics": list(ModelCategory::Generic),
            "profiles": list(ModelCategory::Profile),
            "templates": list(ModelCategory::Template),
            "namespaces": namespace_list,
        })
    }
}
