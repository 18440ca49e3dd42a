//! Node mutations: `<Kind>Create`, `<Kind>Update`, `<Kind>Upsert`, `<Kind>Delete`, and
//! `RelationshipAdd` / `RelationshipRemove`, with upstream's input shapes.

use async_graphql::Error;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use infrahub_core::engine::{
    AttributeInput, Node, NodeInput, NodeRef, PeerInput, PoolInput, RelationshipInput,
};
use infrahub_core::schema::{Cardinality, ModelSchema, SchemaBranch};
use serde_json::{Map, Value};

use super::RequestContext;
use super::build::{
    BIG_INT, GENERIC_SCALAR, attribute_types, complete_selected, engine_error, has_type, node_ref,
    parent, ready, request, to_json,
};
use super::values::MutationValue;

/// Inputs and outputs every schema has.
pub(crate) fn register_common(mut builder: SchemaBuilder) -> SchemaBuilder {
    builder = builder.register(
        InputObject::new("GenericPoolInput")
            .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)))
            .field(InputValue::new(
                "identifier",
                TypeRef::named(TypeRef::STRING),
            ))
            .field(InputValue::new("data", TypeRef::named(GENERIC_SCALAR)))
            .field(InputValue::new(
                "prefix_length",
                TypeRef::named(TypeRef::INT),
            ))
            .field(InputValue::new("size", TypeRef::named(TypeRef::INT)))
            .field(InputValue::new("prefixlen", TypeRef::named(TypeRef::INT)))
            .field(InputValue::new(
                "member_type",
                TypeRef::named(TypeRef::STRING),
            ))
            .field(InputValue::new(
                "prefix_type",
                TypeRef::named(TypeRef::STRING),
            ))
            .field(InputValue::new(
                "address_type",
                TypeRef::named(TypeRef::STRING),
            )),
    );
    let bases = [
        ("TextAttribute", TypeRef::STRING, false),
        ("NumberAttribute", BIG_INT, true),
        ("CheckboxAttribute", TypeRef::BOOLEAN, false),
        ("ListAttribute", GENERIC_SCALAR, false),
        ("JSONAttribute", GENERIC_SCALAR, false),
        ("AnyAttribute", GENERIC_SCALAR, false),
    ];
    for (base, value_type, pool) in bases {
        for update in [false, true] {
            let name = format!("{base}{}", if update { "Update" } else { "Create" });
            let mut input = InputObject::new(name);
            if update {
                input = input.field(InputValue::new(
                    "is_default",
                    TypeRef::named(TypeRef::BOOLEAN),
                ));
            }
            input = input
                .field(InputValue::new(
                    "is_visible",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .field(InputValue::new(
                    "is_protected",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .field(InputValue::new("source", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("owner", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("value", TypeRef::named(value_type)));
            if pool {
                input = input.field(InputValue::new(
                    "from_pool",
                    TypeRef::named("GenericPoolInput"),
                ));
            }
            builder = builder.register(input);
        }
    }
    builder
        .register(
            InputObject::new("RelatedNodeInput")
                .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new(
                    "hfid",
                    TypeRef::named_list(TypeRef::STRING),
                ))
                .field(InputValue::new("kind", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new(
                    "from_pool",
                    TypeRef::named("GenericPoolInput"),
                ))
                .field(InputValue::new(
                    "_relation__is_visible",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .field(InputValue::new(
                    "_relation__is_protected",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .field(InputValue::new(
                    "_relation__owner",
                    TypeRef::named(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "_relation__source",
                    TypeRef::named(TypeRef::STRING),
                )),
        )
        .register(
            InputObject::new("DeleteInput")
                .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new(
                    "hfid",
                    TypeRef::named_list(TypeRef::STRING),
                )),
        )
        .register(
            InputObject::new("ContextAccountInput")
                .description("The account a mutation acts on behalf of.")
                .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING))),
        )
        .register(InputObject::new("ContextInput").field(InputValue::new(
            "account",
            TypeRef::named("ContextAccountInput"),
        )))
        .register(
            InputObject::new("RelationshipNodesInput")
                .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("name", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new(
                    "nodes",
                    TypeRef::named_list("RelatedNodeInput"),
                )),
        )
        .register(ok_object("RelationshipAdd"))
        .register(ok_object("RelationshipRemove"))
}

/// An output type with only `ok`.
pub(crate) fn ok_object(name: &str) -> Object {
    Object::new(name).field(Field::new("ok", TypeRef::named(TypeRef::BOOLEAN), |ctx| {
        ready(parent::<MutationValue>(&ctx).map(|m| Some(FieldValue::value(m.ok))))
    }))
}

/// A node mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
    Upsert,
    Delete,
}

impl Operation {
    /// The kind and operation of the mutation field `name` (`<Kind>Create`, ...).
    pub(crate) fn of_field(name: &str) -> Option<(&str, Operation)> {
        [
            Operation::Create,
            Operation::Update,
            Operation::Upsert,
            Operation::Delete,
        ]
        .into_iter()
        .find_map(|operation| {
            name.strip_suffix(operation.suffix())
                .map(|kind| (kind, operation))
        })
    }

    fn suffix(self) -> &'static str {
        match self {
            Operation::Create => "Create",
            Operation::Update => "Update",
            Operation::Upsert => "Upsert",
            Operation::Delete => "Delete",
        }
    }
}

/// The input type of `operation` on `model`.
fn input_type(schema: &SchemaBranch, model: &ModelSchema, operation: Operation) -> InputObject {
    let kind = model.kind();
    let update = operation != Operation::Create;
    let mut input = InputObject::new(format!("{kind}{}Input", operation.suffix()))
        .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)));
    if update {
        input = input.field(InputValue::new(
            "hfid",
            TypeRef::named_list(TypeRef::STRING),
        ));
    }
    for attribute in model.attributes.iter().filter(|a| !a.read_only) {
        let (_, base, _) = attribute_types(attribute.kind);
        let mut field = InputValue::new(
            &attribute.name,
            TypeRef::named(format!(
                "{base}{}",
                if update { "Update" } else { "Create" }
            )),
        );
        if let Some(text) = &attribute.description {
            field = field.description(text);
        }
        input = input.field(field);
    }
    for relationship in model.relationships.iter().filter(|r| !r.read_only) {
        if !has_type(schema, &relationship.peer) {
            continue;
        }
        let ty = if relationship.cardinality == Cardinality::One {
            TypeRef::named("RelatedNodeInput")
        } else {
            TypeRef::named_list("RelatedNodeInput")
        };
        input = input.field(InputValue::new(&relationship.name, ty));
    }
    input
}

/// Registers the mutations of `model` and their types.
pub(crate) fn register(
    schema: &SchemaBranch,
    model: &ModelSchema,
    mut builder: SchemaBuilder,
    mut mutation: Object,
) -> (SchemaBuilder, Object) {
    let kind = model.kind();
    let operations: &[Operation] = if model.is_generic() {
        if model.attributes.is_empty() && model.relationships.is_empty() {
            &[]
        } else {
            &[Operation::Update]
        }
    } else {
        &[
            Operation::Create,
            Operation::Update,
            Operation::Upsert,
            Operation::Delete,
        ]
    };
    for &operation in operations {
        let name = format!("{kind}{}", operation.suffix());
        let mut output =
            Object::new(&name).field(Field::new("ok", TypeRef::named(TypeRef::BOOLEAN), |ctx| {
                ready(parent::<MutationValue>(&ctx).map(|m| Some(FieldValue::value(m.ok))))
            }));
        if let Some(text) = &model.description {
            output = output.description(text);
        }
        let data_type = if operation == Operation::Delete {
            "DeleteInput".to_string()
        } else {
            builder = builder.register(input_type(schema, model, operation));
            format!("{kind}{}Input", operation.suffix())
        };
        if operation != Operation::Delete {
            let interface = model.is_generic();
            output = output.field(Field::new("object", TypeRef::named(&kind), move |ctx| {
                ready(
                    parent::<MutationValue>(&ctx)
                        .map(|m| m.object.as_ref().map(|n| node_ref(n, interface))),
                )
            }));
        }
        builder = builder.register(output);
        let resolver_kind = kind.clone();
        let mut field = Field::new(&name, TypeRef::named(&name), move |ctx| {
            let kind = resolver_kind.clone();
            FieldFuture::new(async move { mutate(ctx, kind, operation).await })
        })
        .argument(InputValue::new("context", TypeRef::named("ContextInput")))
        .argument(InputValue::new("data", TypeRef::named_nn(data_type)));
        if operation != Operation::Delete && super::files::carries_file(model) {
            // As upstream: the file of a kind inheriting CoreFileObject comes beside `data`,
            // as a GraphQL multipart upload.
            field = field.argument(InputValue::new("file", TypeRef::named(TypeRef::UPLOAD)));
        }
        if let Some(text) = &model.description {
            field = field.description(text);
        }
        mutation = mutation.field(field);
    }
    (builder, mutation)
}

/// `RelationshipAdd` and `RelationshipRemove`.
pub(crate) fn relationship_fields(mutation: Object) -> Object {
    let field = |name: &'static str, add: bool| {
        Field::new(name, TypeRef::named(name), move |ctx| {
            FieldFuture::new(async move { relationship_change(ctx, add).await })
        })
        .argument(InputValue::new("context", TypeRef::named("ContextInput")))
        .argument(InputValue::new(
            "data",
            TypeRef::named_nn("RelationshipNodesInput"),
        ))
    };
    mutation
        .field(field("RelationshipAdd", true))
        .field(field("RelationshipRemove", false))
}

async fn relationship_change<'a>(
    ctx: ResolverContext<'a>,
    add: bool,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let text = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_string);
    let id = text("id").ok_or_else(|| Error::new("`data.id` is required"))?;
    let name = text("name").ok_or_else(|| Error::new("`data.name` is required"))?;
    let peers = match data.get("nodes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(peer_input)
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    check_relationship_change(request, &id, &peers).await?;
    request
        .state
        .engine
        .relationship_change(&request.view.branch, &id, &name, &peers, add)
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::owned_any(MutationValue {
        ok: true,
        object: None,
    })))
}

/// A relationship change updates the node and the peers given by id: the account needs what
/// `<Kind>Update` of each of their kinds needs (see [`crate::auth::check_mutation`]).
async fn check_relationship_change(
    request: &RequestContext,
    id: &str,
    peers: &[PeerInput],
) -> Result<(), Error> {
    let Some(account) = &request.account else {
        return Err(Error::new(
            "Authentication is required to perform this operation",
        ));
    };
    let ids: Vec<infrahub_graph::NodeId> = std::iter::once(id)
        .chain(peers.iter().filter_map(|p| p.id.as_deref()))
        .filter_map(|text| text.parse().ok())
        .collect();
    let nodes = request
        .state
        .engine
        .get_any(
            &request.view,
            &ids,
            &infrahub_core::engine::Fields::minimal(),
        )
        .await
        .map_err(engine_error)?;
    let mut updates: Vec<String> = nodes.iter().map(|n| format!("{}Update", n.kind)).collect();
    updates.sort();
    updates.dedup();
    crate::auth::check_mutation(
        &request.state,
        account,
        &request.view.branch,
        &request.schema,
        &updates,
    )
    .await
    .map_err(|error| Error::new(error.message().to_string()))
}

async fn mutate<'a>(
    ctx: ResolverContext<'a>,
    kind: String,
    operation: Operation,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let upload = match ctx.args.get("file") {
        Some(file) if !file.is_null() => Some(
            file.upload()?
                .value(ctx.ctx)
                .map_err(|e| Error::new(format!("file: {e}")))?,
        ),
        _ => None,
    };
    let stored = match upload {
        Some(upload) => Some(super::files::store_upload(request, upload).await?),
        None => None,
    };
    let written = match write_node(request, &kind, operation, data, stored.clone()).await {
        Ok(written) => written,
        Err(error) => {
            // The write refused: the stored content is nobody's.
            if let Some(stored) = &stored {
                super::files::forget(request, &stored.storage_id).await;
            }
            return Err(error);
        }
    };
    let look = ctx.look_ahead();
    let object = look.field("object");
    let object = match written {
        Some(node) if object.exists() => {
            complete_selected(request, &kind, vec![node], object.selection_fields())
                .await?
                .into_iter()
                .next()
        }
        _ => None,
    };
    Ok(Some(FieldValue::owned_any(MutationValue {
        ok: true,
        object,
    })))
}

/// The node mutation `<kind><operation>` with its `data`, whichever executor runs it: the node
/// as written (`None` for a delete).
pub(crate) async fn write_node(
    request: &RequestContext,
    kind: &str,
    operation: Operation,
    data: Value,
    file: Option<infrahub_core::engine::StoredFile>,
) -> Result<Option<Node>, Error> {
    let Value::Object(mut data) = data else {
        return Err(Error::new("`data` must be an object"));
    };
    let engine = &request.state.engine;
    let branch = request.view.branch.as_str();
    let repository = super::repository::is_repository(kind);
    if request.schema.get(kind).is_some_and(|m| m.is_generic()) && operation != Operation::Create {
        check_concrete_kind(request, kind, operation, &data).await?;
    }
    if operation == Operation::Delete {
        let reference = NodeRef {
            id: data.get("id").and_then(Value::as_str).map(str::to_string),
            hfid: string_list(data.get("hfid"), "hfid")?,
        };
        if reference.id.is_none() && reference.hfid.is_none() {
            return Err(Error::new(format!(
                "a delete of {kind} needs an `id` or an `hfid`"
            )));
        }
        // The nodes the delete cascades to need `delete` too (engine-managed `Internal` kinds
        // aside), checked on the set the engine is about to remove.
        let permissions = std::sync::Arc::clone(&request.permissions);
        let on_default = branch == engine.default_branch();
        let schema = std::sync::Arc::clone(&request.schema);
        let check = move |kinds: &std::collections::BTreeSet<String>| {
            let missing: Vec<String> = kinds
                .iter()
                .filter(|cascaded| {
                    cascaded.as_str() != kind
                        && schema
                            .get(cascaded)
                            .is_some_and(|m| m.namespace != "Internal")
                        && !permissions.allows_object(cascaded, "delete", on_default)
                })
                .map(|cascaded| {
                    infrahub_core::permissions::object_identifier(
                        cascaded,
                        "delete",
                        infrahub_core::permissions::required_decision(on_default),
                    )
                })
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(infrahub_core::Error::new(
                    infrahub_core::ErrorKind::Forbidden,
                    format!(
                        "You do not have one of the following permissions: {}",
                        missing.join(" | ")
                    ),
                ))
            }
        };
        let forget = if repository {
            super::repository::find_existing(request, kind, &data)
                .await?
                .map(|node| node.id.to_string())
        } else {
            None
        };
        engine
            .delete_checked(branch, kind, &reference, &check)
            .await
            .map_err(engine_error)?;
        if let Some(id) = forget {
            request.state.repositories.forget(&id).await;
        }
        return Ok(None);
    }
    let model = request
        .schema
        .get(kind)
        .ok_or_else(|| Error::new(format!("kind `{kind}` not found")))?;
    // A new repository is checked against its remote before anything is written.
    let creates_repository = repository
        && match operation {
            Operation::Create => true,
            Operation::Upsert => super::repository::find_existing(request, kind, &data)
                .await?
                .is_none(),
            _ => false,
        };
    if creates_repository {
        super::repository::prepare_create(request, kind, &mut data).await?;
    }
    let mut input = node_input(model, &data)?;
    input.file = file;
    let result = match operation {
        Operation::Create => engine.create(branch, kind, input).await,
        Operation::Update => engine.update(branch, kind, input).await,
        _ => engine.upsert(branch, kind, input).await,
    }
    .map_err(engine_error)?;
    if creates_repository {
        super::repository::after_create(request, &result.node).await?;
    } else if repository {
        super::repository::after_update(request, &data, &result.node).await?;
    }
    // A new proposed change runs its user checks, a new or changed artifact definition
    // regenerates its artifacts: in the background.
    let follow_up = match kind {
        "CoreProposedChange" if operation == Operation::Create => Some((
            infrahub_worker::workflows::user_checks_submission(&result.node.id.to_string()),
            "the user checks",
        )),
        "CoreArtifactDefinition" => Some((
            infrahub_worker::workflows::generate_submission(
                &result.node.id.to_string(),
                result.node.value("name").as_str(),
                branch,
            ),
            "the artifact generation",
        )),
        _ => None,
    };
    if let Some((mut submission, what)) = follow_up {
        submission.account = request.account.as_ref().map(|a| a.id.clone());
        request
            .state
            .tasks
            .submit(submission)
            .await
            .map_err(|e| Error::new(format!("submitting {what}: {e}")))?;
    }
    Ok(Some(result.node))
}

/// A mutation named after a generic (`CoreGroupUpdate`) writes a node of a concrete kind
/// (a `CoreAccountGroup`): the account needs what the concrete kind's mutation needs.
async fn check_concrete_kind(
    request: &RequestContext,
    kind: &str,
    operation: Operation,
    data: &Map<String, Value>,
) -> Result<(), Error> {
    let Some(account) = &request.account else {
        return Err(Error::new(
            "Authentication is required to perform this operation",
        ));
    };
    let reference = NodeRef {
        id: data.get("id").and_then(Value::as_str).map(str::to_string),
        hfid: string_list(data.get("hfid"), "hfid")?,
    };
    if reference.id.is_none() && reference.hfid.is_none() {
        // Nothing to resolve: the engine refuses the write itself.
        return Ok(());
    }
    let engine = &request.state.engine;
    let Ok(id) = engine.resolve(&request.view, kind, &reference).await else {
        // Not found: the write fails the same way without writing.
        return Ok(());
    };
    let nodes = engine
        .get_any(
            &request.view,
            &[id],
            &infrahub_core::engine::Fields::minimal(),
        )
        .await
        .map_err(engine_error)?;
    let suffix = match operation {
        Operation::Delete => "Delete",
        Operation::Update => "Update",
        _ => "Upsert",
    };
    let fields: Vec<String> = nodes
        .iter()
        .map(|node| format!("{}{suffix}", node.kind))
        .collect();
    crate::auth::check_mutation(
        &request.state,
        account,
        &request.view.branch,
        &request.schema,
        &fields,
    )
    .await
    .map_err(|error| Error::new(error.message().to_string()))
}

fn string_list(value: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(Error::new(format!(
                    "`{field}` must be a list of strings, got {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(Error::new(format!(
            "`{field}` must be a list of strings, got {other}"
        ))),
    }
}

fn optional_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

fn optional_bool(map: &Map<String, Value>, key: &str) -> Option<bool> {
    map.get(key).and_then(Value::as_bool)
}

/// A `RelatedNodeInput` as an engine peer input.
fn peer_input(value: &Value) -> Result<PeerInput, Error> {
    let Value::Object(map) = value else {
        return Err(Error::new(format!(
            "a related node must be an object, got {value}"
        )));
    };
    Ok(PeerInput {
        id: optional_text(map, "id"),
        hfid: string_list(map.get("hfid"), "hfid")?,
        kind: optional_text(map, "kind"),
        is_protected: optional_bool(map, "_relation__is_protected"),
        is_visible: optional_bool(map, "_relation__is_visible"),
        source: optional_text(map, "_relation__source"),
        owner: optional_text(map, "_relation__owner"),
        from_pool: pool_input(map.get("from_pool"))?.map(Box::new),
    })
}

/// A `from_pool` input (`GenericPoolInput`, or the fields of upstream's related IP prefix and
/// address inputs) as an engine pool request.
pub(super) fn pool_input(value: Option<&Value>) -> Result<Option<PoolInput>, Error> {
    let map = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Error::new(format!(
                "`from_pool` must be an object like {{id: ...}}, got {other}"
            )));
        }
    };
    let number = |key: &str| map.get(key).and_then(Value::as_i64);
    let data = match map.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(data)) => Some(data.clone()),
        Some(other) => {
            return Err(Error::new(format!(
                "`from_pool.data` must be an object, got {other}"
            )));
        }
    };
    Ok(Some(PoolInput {
        id: optional_text(map, "id"),
        hfid: string_list(map.get("hfid"), "hfid")?,
        identifier: optional_text(map, "identifier"),
        prefix_length: number("prefix_length")
            .or_else(|| number("size"))
            .or_else(|| number("prefixlen")),
        member_type: optional_text(map, "member_type"),
        kind: optional_text(map, "prefix_type").or_else(|| optional_text(map, "address_type")),
        data,
    }))
}

/// A mutation's `data` as an engine node input.
fn node_input(model: &ModelSchema, data: &Map<String, Value>) -> Result<NodeInput, Error> {
    let mut input = NodeInput {
        id: optional_text(data, "id"),
        hfid: string_list(data.get("hfid"), "hfid")?,
        ..NodeInput::default()
    };
    for (name, value) in data {
        if name == "id" || name == "hfid" {
            continue;
        }
        if model.attribute(name).is_some() {
            let Value::Object(fields) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(Error::new(format!(
                    "`{name}` must be an object like {{value: ...}}"
                )));
            };
            input.attributes.insert(
                name.clone(),
                AttributeInput {
                    value: fields.get("value").cloned(),
                    is_protected: optional_bool(fields, "is_protected"),
                    is_visible: optional_bool(fields, "is_visible"),
                    source: optional_text(fields, "source"),
                    owner: optional_text(fields, "owner"),
                    is_default: optional_bool(fields, "is_default"),
                    from_pool: pool_input(fields.get("from_pool"))?.map(Box::new),
                },
            );
        } else if let Some(relationship) = model.relationship(name) {
            let relationship_input = if relationship.cardinality == Cardinality::One {
                match value {
                    Value::Null => RelationshipInput::One(None),
                    other => RelationshipInput::One(Some(peer_input(other)?)),
                }
            } else {
                match value {
                    Value::Null => RelationshipInput::Many(Vec::new()),
                    Value::Array(items) => RelationshipInput::Many(
                        items
                            .iter()
                            .filter(|v| !v.is_null())
                            .map(peer_input)
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    other => RelationshipInput::Many(vec![peer_input(other)?]),
                }
            };
            input.relationships.insert(name.clone(), relationship_input);
        } else {
            return Err(Error::new(format!(
                "`{name}` is not a field of {}",
                model.kind()
            )));
        }
    }
    Ok(input)
}
