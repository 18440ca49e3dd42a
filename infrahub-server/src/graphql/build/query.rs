//! The root query field of each kind: its arguments, and reading what a selection needs.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The arguments of the root query field of `model`.
pub(super) fn query_arguments(
    schema: &SchemaBranch,
    model: &ModelSchema,
) -> Vec<(String, TypeRef)> {
    let mut arguments = vec![
        ("offset".to_string(), TypeRef::named(TypeRef::INT)),
        ("limit".to_string(), TypeRef::named(TypeRef::INT)),
        ("order".to_string(), TypeRef::named("OrderInput")),
        ("ids".to_string(), TypeRef::named_list(TypeRef::ID)),
    ];
    if model.human_friendly_id.is_some() {
        arguments.push(("hfid".to_string(), TypeRef::named_list(TypeRef::STRING)));
    }
    for attribute in &model.attributes {
        arguments.extend(attribute_filters(attribute, "", true, true));
    }
    arguments.extend([
        ("any__value".to_string(), TypeRef::named(TypeRef::STRING)),
        (
            "any__values".to_string(),
            TypeRef::named_list(TypeRef::STRING),
        ),
        ("any__source__id".to_string(), TypeRef::named(TypeRef::ID)),
        ("any__owner__id".to_string(), TypeRef::named(TypeRef::ID)),
        (
            "any__is_visible".to_string(),
            TypeRef::named(TypeRef::BOOLEAN),
        ),
        (
            "any__is_protected".to_string(),
            TypeRef::named(TypeRef::BOOLEAN),
        ),
        (
            "partial_match".to_string(),
            TypeRef::named(TypeRef::BOOLEAN),
        ),
    ]);
    for relationship in &model.relationships {
        if !has_type(schema, &relationship.peer) {
            continue;
        }
        let name = &relationship.name;
        arguments.push((format!("{name}__ids"), TypeRef::named_list(TypeRef::ID)));
        arguments.push((format!("{name}__isnull"), TypeRef::named(TypeRef::BOOLEAN)));
        let properties = relationship.kind != RelationshipKind::Group;
        if let Some(peer) = schema.get(&relationship.peer) {
            for attribute in &peer.attributes {
                arguments.extend(attribute_filters(
                    attribute,
                    &format!("{name}__"),
                    false,
                    properties,
                ));
            }
        }
    }
    arguments
}

/// The root query field of `model`.
pub(super) fn query_field(schema: &SchemaBranch, model: &ModelSchema) -> Field {
    let kind = model.kind();
    let resolver_kind = kind.clone();
    let mut field = Field::new(&kind, TypeRef::named_nn(paginated(&kind)), move |ctx| {
        let kind = resolver_kind.clone();
        FieldFuture::new(async move { query_nodes(ctx, kind).await })
    });
    if let Some(text) = &model.description {
        field = field.description(text);
    }
    for (name, ty) in query_arguments(schema, model) {
        field = field.argument(InputValue::new(name, ty));
    }
    field
}

/// Query arguments from a root field's arguments.
pub(crate) fn query_args(ctx: &ResolverContext<'_>) -> Result<QueryArgs, Error> {
    query_args_from(
        ctx.args
            .iter()
            .map(|(name, value)| (name.as_str(), to_json(value.as_value()))),
    )
}

/// Query arguments from a root field's argument values (variables already substituted).
pub(crate) fn query_args_from<'a>(
    arguments: impl Iterator<Item = (&'a str, Value)>,
) -> Result<QueryArgs, Error> {
    let mut args = QueryArgs::default();
    for (name, value) in arguments {
        match name {
            "offset" => {
                args.offset = match value {
                    Value::Null => 0,
                    v => v
                        .as_u64()
                        .ok_or_else(|| Error::new("`offset` must be zero or more"))?
                        as usize,
                }
            }
            "limit" => {
                args.limit = match value {
                    Value::Null => None,
                    v => Some(
                        v.as_u64()
                            .ok_or_else(|| Error::new("`limit` must be zero or more"))?
                            as usize,
                    ),
                }
            }
            "partial_match" => args.partial_match = value.as_bool().unwrap_or(false),
            "order" => {
                args.order_disabled = value
                    .get("disable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                args.order_by = match value.get("fields") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(paths)) => Some(
                        paths
                            .iter()
                            .map(|p| {
                                p.as_str().map(str::to_string).ok_or_else(|| {
                                    Error::new("`order.fields` must be a list of strings")
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    Some(_) => {
                        return Err(Error::new("`order.fields` must be a list of strings"));
                    }
                };
            }
            other => {
                if !value.is_null() {
                    args.filters.insert(other.to_string(), value);
                }
            }
        }
    }
    Ok(args)
}

/// Resolves the root query field of `kind`: counts and reads only what is selected.
pub(super) async fn query_nodes<'a>(
    ctx: ResolverContext<'a>,
    kind: String,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let mut args = query_args(&ctx)?;
    let look = ctx.look_ahead();
    let edges = look.field("edges");
    let engine = &request.state.engine;
    if !edges.exists() {
        let count = if look.field("count").exists() {
            engine
                .count(&request.view, &kind, &args)
                .await
                .map_err(engine_error)?
        } else {
            0
        };
        return Ok(Some(FieldValue::owned_any(PageValue {
            kind,
            count,
            edges: Vec::new(),
        })));
    }
    let node_fields: Vec<_> = edges.field("node").selection_fields();
    let plan = Plan::for_selection(&request.schema, &kind, node_fields);
    args.count = look.field("count").exists();
    let (nodes, count) = engine
        .query(&request.view, &kind, &args, &plan.fields())
        .await
        .map_err(engine_error)?;
    let order: Vec<_> = nodes.iter().map(|n| n.id).collect();
    let level = load::load(request, nodes, &plan)
        .await
        .map_err(engine_error)?;
    let edges = order.into_iter().filter_map(|id| level.value(id)).collect();
    Ok(Some(FieldValue::owned_any(PageValue {
        kind,
        count,
        edges,
    })))
}

/// Reads the nodes `ids` with what the selection under `fields` needs, as resolver values in
/// the order of `ids` (used for mutation results and `AccountProfile`).
pub(crate) async fn read_selected<'a>(
    request: &RequestContext,
    kind: &str,
    ids: &[infrahub_graph::NodeId],
    fields: Vec<async_graphql::SelectionField<'a>>,
) -> Result<Vec<NodeValue>, Error> {
    let plan = Plan::for_selection(&request.schema, kind, fields);
    let nodes = request
        .state
        .engine
        .get_any(&request.view, ids, &plan.fields())
        .await
        .map_err(engine_error)?;
    let level = load::load(request, nodes, &plan)
        .await
        .map_err(engine_error)?;
    Ok(ids.iter().filter_map(|id| level.value(*id)).collect())
}

/// Resolver values for nodes already read with every field (mutation results), loading what
/// the selection under `fields` needs below them.
pub(crate) async fn complete_selected<'a>(
    request: &RequestContext,
    kind: &str,
    nodes: Vec<infrahub_core::engine::Node>,
    fields: Vec<async_graphql::SelectionField<'a>>,
) -> Result<Vec<NodeValue>, Error> {
    let plan = Plan::for_selection(&request.schema, kind, fields);
    let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
    let level = load::load(request, nodes, &plan)
        .await
        .map_err(engine_error)?;
    Ok(ids.iter().filter_map(|id| level.value(*id)).collect())
}
