//! `ConvertObjectType`: converts a node to another kind (see
//! `Engine::convert_object_type`), as the SDK's `convert_object_type` sends it. It needs the
//! `delete` permission of the node's kind and the `create` permission of the target kind.

use std::collections::BTreeMap;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use async_graphql::{Error, Value as GqlValue};
use infrahub_core::engine::{ConversionField, Node};
use infrahub_graph::{BranchView, Selection};
use serde_json::{Map, Value, json};

use super::super::build::{GENERIC_SCALAR, engine_error, request, to_json};
use super::value_object;

/// Registers the mutation and its types.
pub(super) fn register_convert(
    builder: SchemaBuilder,
    mutation: Object,
) -> (SchemaBuilder, Object) {
    let builder = builder
        .register(
            InputObject::new("ConvertObjectTypeInput")
                .field(InputValue::new(
                    "node_id",
                    TypeRef::named_nn(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "target_kind",
                    TypeRef::named_nn(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "fields_mapping",
                    TypeRef::named_nn(GENERIC_SCALAR),
                )),
        )
        .register(value_object(
            "ConvertObjectType",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("node", TypeRef::named(GENERIC_SCALAR)),
            ],
        ));
    let mutation = mutation.field(
        Field::new(
            "ConvertObjectType",
            TypeRef::named("ConvertObjectType"),
            |ctx| FieldFuture::new(async move { convert(ctx).await }),
        )
        .argument(InputValue::new(
            "data",
            TypeRef::named_nn("ConvertObjectTypeInput"),
        )),
    );
    (builder, mutation)
}

/// One entry of `fields_mapping` (upstream's `ConversionFieldInput`): exactly one of
/// `source_field`, `data` (exactly one of `attribute_value`, `peer_id`, `peers_ids`) and
/// `use_default_value: true`.
fn conversion_field(name: &str, value: &Value) -> Result<ConversionField, Error> {
    let invalid = |what: &str| Error::new(format!("fields_mapping.{name}: {what}"));
    let entry = value
        .as_object()
        .ok_or_else(|| invalid("expected an object"))?;
    let source = entry.get("source_field").filter(|v| !v.is_null());
    let data = entry.get("data").filter(|v| !v.is_null());
    let default = entry
        .get("use_default_value")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match (source, data, default) {
        (Some(source), None, false) => Ok(ConversionField::Source(
            source
                .as_str()
                .ok_or_else(|| invalid("`source_field` is a field name"))?
                .to_string(),
        )),
        (None, Some(data), false) => {
            let data = data
                .as_object()
                .ok_or_else(|| invalid("`data` is an object"))?;
            let set: Vec<(&String, &Value)> = data.iter().filter(|(_, v)| !v.is_null()).collect();
            match set.as_slice() {
                [(key, value)] if key.as_str() == "attribute_value" => {
                    Ok(ConversionField::Value((*value).clone()))
                }
                [(key, Value::String(peer))] if key.as_str() == "peer_id" => {
                    Ok(ConversionField::Peer(peer.clone()))
                }
                [(key, Value::Array(peers))] if key.as_str() == "peers_ids" => peers
                    .iter()
                    .map(|p| p.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(ConversionField::Peers)
                    .ok_or_else(|| invalid("`peers_ids` is a list of ids")),
                _ => Err(invalid(
                    "exactly one of `attribute_value`, `peer_id` (an id) or `peers_ids` (ids) must be set",
                )),
            }
        }
        (None, None, true) => Ok(ConversionField::Default),
        _ => Err(invalid(
            "exactly one of `source_field`, `data` or `use_default_value` must be set",
        )),
    }
}

/// The node as the mutation reports it: id, kind, display label, hfid and its attributes with
/// their properties (what the SDK reads back).
fn node_json(node: &Node) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(node.id.to_string()));
    out.insert("__typename".into(), json!(node.kind));
    out.insert("display_label".into(), json!(node.display_label));
    if let Some(hfid) = &node.hfid {
        out.insert("hfid".into(), json!(hfid));
    }
    for (name, attribute) in &node.attributes {
        out.insert(
            name.clone(),
            json!({
                "value": attribute.value,
                "is_default": attribute.is_default,
                "is_from_profile": attribute.is_from_profile,
                "is_protected": attribute.is_protected,
                "is_visible": attribute.is_visible,
            }),
        );
    }
    Value::Object(out)
}

async fn convert<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let text = |name: &str| -> Result<String, Error> {
        data.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::new(format!("`{name}` is required")))
    };
    let node_id = text("node_id")?;
    let target_kind = text("target_kind")?;
    let mapping_value = data.get("fields_mapping").cloned().unwrap_or(Value::Null);
    let Some(entries) = mapping_value.as_object() else {
        return Err(Error::new(format!(
            "Expected `fields_mapping` to be a `dict`, got {mapping_value}"
        )));
    };
    let mut mapping = BTreeMap::new();
    for (name, value) in entries {
        mapping.insert(name.clone(), conversion_field(name, value)?);
    }
    let engine = &request.state.engine;
    let branch = request.view.branch.clone();
    // Permissions first: deleting the node's kind, creating the target's.
    let id = node_id
        .parse()
        .map_err(|_| Error::new(format!("node_id: `{node_id}` is not an id")))?;
    let found = engine
        .store()
        .get_nodes(&BranchView::now(&branch), &[id], &Selection::nothing())
        .await
        .map_err(|e| Error::new(e.to_string()))?
        .pop()
        .ok_or_else(|| {
            Error::new(format!(
                "Unable to find the node {node_id} / Node in the database."
            ))
        })?;
    let on_default = branch == engine.default_branch();
    for (kind, action) in [
        (found.kind.as_str(), "delete"),
        (target_kind.as_str(), "create"),
    ] {
        if !request.permissions.allows_object(kind, action, on_default) {
            return Err(Error::new(format!(
                "You do not have one of the following permissions: {}",
                infrahub_core::permissions::object_identifier(
                    kind,
                    action,
                    infrahub_core::permissions::required_decision(on_default),
                )
            )));
        }
    }
    let mutation = engine
        .convert_object_type(&branch, &node_id, &target_kind, mapping)
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::value(super::object_value(vec![
        ("ok", GqlValue::Boolean(true)),
        (
            "node",
            GqlValue::from_json(node_json(&mutation.node)).unwrap_or(GqlValue::Null),
        ),
    ]))))
}
