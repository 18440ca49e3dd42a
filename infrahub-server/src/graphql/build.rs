//! Generating the GraphQL schema of a branch: per kind an object type (an interface for
//! generics), its `Edged`, `NestedEdged`, `Paginated` and `NestedPaginated` wrappers, a query
//! field with every filter, and the mutations; plus the attribute types, scalars and inputs
//! every schema shares.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Interface, InterfaceField, Object,
    ResolverContext, Scalar, Schema, SchemaBuilder, TypeRef,
};
use async_graphql::{Error, Name, Value as GqlValue};
use infrahub_core::engine::{Peer, QueryArgs};
use infrahub_core::schema::{
    AttributeKind, AttributeSchema, Cardinality, LINEAGE_OWNER, LINEAGE_SOURCE, ModelSchema,
    RelationshipKind, SchemaBranch,
};
use serde_json::Value;

use super::RequestContext;
use super::derived;
use super::fields;
use super::fields::{
    AttributeFlag, LinkFlag, RELATIONSHIP_PROPERTY, edged, nested_edged, nested_paginated,
    paginated,
};
use super::load::{self, Plan};
use super::values::{AttributeValue, EdgeValue, NestedPageValue, NodeValue, PageValue};

/// GraphQL scalar of big integers.
pub(crate) const BIG_INT: &str = "BigInt";
/// GraphQL scalar of timestamps.
pub(crate) const DATE_TIME: &str = "DateTime";
/// GraphQL scalar of any JSON value.
pub(crate) const GENERIC_SCALAR: &str = "GenericScalar";

/// Whether a kind is part of the GraphQL schema (`Internal` kinds are not).
pub(crate) fn is_exposed(model: &ModelSchema) -> bool {
    model.namespace != "Internal"
}

/// Whether `kind` has a GraphQL type in `schema`.
pub(crate) fn has_type(schema: &SchemaBranch, kind: &str) -> bool {
    schema.get(kind).is_some_and(is_exposed)
}

/// How an attribute kind appears: its object type, the base name of its input types and the
/// type of its filters.
pub(crate) fn attribute_types(kind: AttributeKind) -> (&'static str, &'static str, &'static str) {
    use AttributeKind as K;
    match kind {
        K::Dropdown => ("Dropdown", "TextAttribute", TypeRef::STRING),
        K::MacAddress => ("MacAddress", "TextAttribute", TypeRef::STRING),
        K::IpHost => ("IPHost", "TextAttribute", TypeRef::STRING),
        K::IpNetwork => ("IPNetwork", "TextAttribute", TypeRef::STRING),
        K::DateTime => ("TextAttribute", "TextAttribute", DATE_TIME),
        K::Number | K::NumberPool => ("NumberAttribute", "NumberAttribute", BIG_INT),
        K::Bandwidth => ("NumberAttribute", "NumberAttribute", TypeRef::INT),
        K::Boolean | K::Checkbox => ("CheckboxAttribute", "CheckboxAttribute", TypeRef::BOOLEAN),
        K::List => ("ListAttribute", "ListAttribute", GENERIC_SCALAR),
        K::Json => ("JSONAttribute", "JSONAttribute", GENERIC_SCALAR),
        K::Any => ("AnyAttribute", "AnyAttribute", GENERIC_SCALAR),
        K::Id
        | K::Text
        | K::TextArea
        | K::Email
        | K::Password
        | K::HashedPassword
        | K::Url
        | K::File
        | K::Color => ("TextAttribute", "TextAttribute", TypeRef::STRING),
    }
}

/// A JSON value as a GraphQL value.
pub(crate) fn to_gql(value: &Value) -> GqlValue {
    match value {
        Value::Null => GqlValue::Null,
        Value::Bool(b) => GqlValue::Boolean(*b),
        Value::Number(n) => GqlValue::Number(n.clone()),
        Value::String(s) => GqlValue::String(s.clone()),
        Value::Array(items) => GqlValue::List(items.iter().map(to_gql).collect()),
        Value::Object(map) => {
            GqlValue::Object(map.iter().map(|(k, v)| (Name::new(k), to_gql(v))).collect())
        }
    }
}

/// A GraphQL value as JSON.
pub(crate) fn to_json(value: &GqlValue) -> Value {
    match value {
        GqlValue::Null => Value::Null,
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::Number(n) => Value::Number(n.clone()),
        GqlValue::String(s) => Value::String(s.clone()),
        GqlValue::Enum(e) => Value::String(e.to_string()),
        GqlValue::Binary(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        GqlValue::List(items) => Value::Array(items.iter().map(to_json).collect()),
        GqlValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// A resolver result known without waiting.
pub(crate) fn ready<'a>(result: Result<Option<FieldValue<'a>>, Error>) -> FieldFuture<'a> {
    match result {
        Ok(value) => FieldFuture::Value(value),
        Err(error) => FieldFuture::new(async move { Err::<Option<FieldValue<'a>>, Error>(error) }),
    }
}

/// A plain value for a resolver.
pub(crate) fn plain<'a>(value: impl Into<GqlValue>) -> FieldFuture<'a> {
    FieldFuture::Value(Some(FieldValue::value(value)))
}

/// The parent value of a resolver as `T`.
pub(crate) fn parent<'a, T: std::any::Any>(ctx: &ResolverContext<'a>) -> Result<&'a T, Error> {
    ctx.parent_value.try_downcast_ref::<T>()
}

/// The request context of a resolver.
pub(crate) fn request<'a>(ctx: &ResolverContext<'a>) -> Result<&'a RequestContext, Error> {
    ctx.ctx.data::<RequestContext>()
}

/// An engine error as a GraphQL error.
pub(crate) fn engine_error(error: infrahub_core::Error) -> Error {
    Error::new(error.message().to_string())
}

/// Builds the GraphQL schema of `schema`, remembering the documents it validates in
/// `validated`.
pub(crate) fn schema(
    schema: &SchemaBranch,
    validated: super::validated::ValidatedDocuments,
) -> Result<Schema, String> {
    // No "did you mean" suggestions: validation compared every unknown name with every
    // known one, and a document of a thousand unknown names of a few hundred characters cost
    // seconds of CPU.
    let mut builder = Schema::build("Query", Some("Mutation"), None)
        .enable_uploading()
        .disable_suggestions();
    builder = register_common(builder);
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    let models: Vec<&ModelSchema> = schema.models().filter(|m| is_exposed(m)).collect();
    let signatures: BTreeMap<String, Signature> = models
        .iter()
        .map(|m| (m.kind(), signature(schema, m)))
        .collect();
    for model in &models {
        let kind = model.kind();
        builder = register_wrappers(builder, model);
        if model.is_generic() {
            let mut interface = Interface::new(&kind);
            if let Some(text) = &model.description {
                interface = interface.description(text);
            }
            for field in node_fields(schema, model) {
                interface = interface.field(field.interface_field());
            }
            builder = builder.register(interface);
        } else {
            let mut object = Object::new(&kind);
            if let Some(text) = &model.description {
                object = object.description(text);
            }
            for field in node_fields(schema, model) {
                object = object.field(field.object_field());
            }
            let own = &signatures[&kind];
            for generic in implemented(schema, model) {
                if signatures
                    .get(&generic)
                    .is_some_and(|theirs| theirs.is_satisfied_by(own))
                {
                    object = object.implement(generic);
                } else if model.inherit_from.contains(&generic) {
                    tracing::warn!(
                        kind = %kind,
                        generic = %generic,
                        "the kind's fields differ from its generic's: its GraphQL type does not implement the generic's interface"
                    );
                }
            }
            builder = builder.register(object);
        }
        query = query.field(query_field(schema, model));
        (builder, mutation) = super::mutation::register(schema, model, builder, mutation);
    }
    (builder, query, mutation) = super::fixed::register(schema, builder, query, mutation);
    builder
        .register(query)
        .register(mutation)
        .extension(validated)
        .finish()
        .map_err(|e| format!("generating the GraphQL schema failed: {e}"))
}

/// The generics a node, profile or template implements: those it inherits from and those
/// that list it in `used_by`.
fn implemented(schema: &SchemaBranch, model: &ModelSchema) -> BTreeSet<String> {
    let kind = model.kind();
    let mut generics: BTreeSet<String> = model
        .inherit_from
        .iter()
        .filter(|g| has_type(schema, g))
        .cloned()
        .collect();
    for generic in schema.models().filter(|m| m.is_generic() && is_exposed(m)) {
        if generic.used_by.contains(&kind) {
            generics.insert(generic.kind());
        }
    }
    generics
}

/// Pairs (kind, generic it inherits from) whose GraphQL object cannot implement the generic's
/// interface because their fields differ.
#[cfg(test)]
pub(crate) fn implementation_gaps(schema: &SchemaBranch) -> Vec<(String, String)> {
    let models: Vec<&ModelSchema> = schema.models().filter(|m| is_exposed(m)).collect();
    let signatures: BTreeMap<String, Signature> = models
        .iter()
        .map(|m| (m.kind(), signature(schema, m)))
        .collect();
    let mut gaps = Vec::new();
    for model in models.iter().filter(|m| !m.is_generic()) {
        let own = &signatures[&model.kind()];
        // Generics that only list the kind in `used_by` (like `CoreNode` for groups, which have
        // no group memberships) are implemented when the fields allow it.
        for generic in implemented(schema, model) {
            if model.inherit_from.contains(&generic)
                && !signatures
                    .get(&generic)
                    .is_some_and(|theirs| theirs.is_satisfied_by(own))
            {
                gaps.push((model.kind(), generic));
            }
        }
    }
    gaps
}

/// Field types and argument names of a kind, to check that an object can implement a
/// generic's interface.
#[derive(Debug, Default)]
struct Signature(BTreeMap<String, (String, BTreeSet<String>)>);

impl Signature {
    fn is_satisfied_by(&self, object: &Signature) -> bool {
        self.0.iter().all(|(name, (ty, arguments))| {
            object.0.get(name).is_some_and(|(their_ty, their_args)| {
                their_ty == ty && arguments.is_subset(their_args)
            })
        })
    }
}

fn signature(schema: &SchemaBranch, model: &ModelSchema) -> Signature {
    Signature(
        node_fields(schema, model)
            .into_iter()
            .map(|f| {
                (
                    f.name.clone(),
                    (
                        f.ty.to_string(),
                        f.arguments.iter().map(|a| a.0.clone()).collect(),
                    ),
                )
            })
            .collect(),
    )
}

/// The class of a string literal (its raw text, without escapes) as the validators of the
/// generated schema's scalars see it: strings of one class are valid for the same scalars.
/// It must tell apart every difference the validators of [`register_common`] make, as the
/// document shapes of `shape` rely on it.
pub(crate) fn string_class(text: &str) -> u8 {
    u8::from(text.parse::<i64>().is_ok())
        | (u8::from(infrahub_graph::Timestamp::parse(text).is_ok()) << 1)
}

/// Scalars, enums, attribute types and inputs every schema has.
fn register_common(mut builder: SchemaBuilder) -> SchemaBuilder {
    builder = builder
        .register(Scalar::new(DATE_TIME).description("An ISO-8601 timestamp.").validator(|v| {
            matches!(v, GqlValue::String(s) if infrahub_graph::Timestamp::parse(s).is_ok())
        }))
        .register(
            Scalar::new(BIG_INT)
                .description("An integer of up to 64 bits.")
                .validator(|v| match v {
                    GqlValue::Number(n) => n.is_i64() || n.is_u64(),
                    GqlValue::String(s) => s.parse::<i64>().is_ok(),
                    _ => false,
                }),
        )
        .register(Scalar::new(GENERIC_SCALAR).description("Any JSON value."))
        .register(
            Enum::new("BranchRelativePermissionDecision")
                .description("A permission decision relative to the branch.")
                .item("DENY")
                .item("ALLOW")
                .item("ALLOW_DEFAULT")
                .item("ALLOW_OTHER"),
        )
        .register(
            Object::new("PermissionType").field(Field::new(
                "update_value",
                TypeRef::named("BranchRelativePermissionDecision"),
                |ctx| ready(decision(&ctx, Action::Update).map(|d| Some(FieldValue::value(d)))),
            )),
        );
    builder = super::fixed::register_permissions(builder);
    let common = [
        "is_default",
        "is_inherited",
        "is_protected",
        "is_visible",
        "updated_at",
    ];
    let mut interface = Interface::new("AttributeInterface");
    for name in common {
        let ty = if name == "updated_at" {
            TypeRef::named(DATE_TIME)
        } else {
            TypeRef::named(TypeRef::BOOLEAN)
        };
        interface = interface.field(InterfaceField::new(name, ty));
    }
    builder = builder.register(interface);
    let value_types = [
        ("TextAttribute", TypeRef::STRING, &[][..]),
        ("NumberAttribute", BIG_INT, &[][..]),
        ("CheckboxAttribute", TypeRef::BOOLEAN, &[][..]),
        ("ListAttribute", GENERIC_SCALAR, &[][..]),
        ("JSONAttribute", GENERIC_SCALAR, &[][..]),
        ("AnyAttribute", GENERIC_SCALAR, &[][..]),
        (
            "Dropdown",
            TypeRef::STRING,
            &["label", "color", "description"][..],
        ),
        (
            "IPHost",
            TypeRef::STRING,
            &[
                "ip",
                "hostmask",
                "netmask",
                "prefixlen",
                "version",
                "with_hostmask",
                "with_netmask",
            ][..],
        ),
        (
            "IPNetwork",
            TypeRef::STRING,
            &[
                "broadcast_address",
                "hostmask",
                "netmask",
                "prefixlen",
                "num_addresses",
                "version",
                "with_hostmask",
                "with_netmask",
            ][..],
        ),
        (
            "MacAddress",
            TypeRef::STRING,
            &[
                "oui",
                "ei",
                "version",
                "binary",
                "eui48",
                "eui64",
                "bare",
                "dot_notation",
                "semicolon_notation",
                "split_notation",
            ][..],
        ),
    ];
    for (type_name, value_type, extra) in value_types {
        builder = builder.register(attribute_object(type_name, value_type, extra));
    }
    builder = builder.register(relationship_property());
    builder = builder.register(
        async_graphql::dynamic::InputObject::new("OrderInput")
            .field(InputValue::new("disable", TypeRef::named(TypeRef::BOOLEAN))),
    );
    super::mutation::register_common(builder)
}

/// What an account may do, for the `permissions` fields.
#[derive(Clone, Copy)]
pub(crate) enum Action {
    View,
    Create,
    Update,
    Delete,
}

/// The decision for `action` for the request's account: authenticated accounts may do
/// everything, anonymous requests may only read.
pub(crate) fn decision(ctx: &ResolverContext<'_>, action: Action) -> Result<GqlValue, Error> {
    let authenticated = request(ctx)?.account.is_some();
    let allowed = authenticated || matches!(action, Action::View);
    Ok(GqlValue::Enum(Name::new(if allowed {
        "ALLOW"
    } else {
        "DENY"
    })))
}

/// An attribute object type (`TextAttribute`, `Dropdown`, ...).
fn attribute_object(name: &str, value_type: &str, extra: &[&str]) -> Object {
    let mut object = Object::new(name).implement("AttributeInterface");
    object = object
        .field(Field::new("id", TypeRef::named(TypeRef::STRING), |_| {
            FieldFuture::Value(None)
        }))
        .field(Field::new("value", TypeRef::named(value_type), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| attribute_value(&ctx, a)))
        }))
        .field(flag(AttributeFlag::IsDefault))
        .field(flag(AttributeFlag::IsInherited))
        .field(flag(AttributeFlag::IsProtected))
        .field(flag(AttributeFlag::IsVisible))
        .field(flag(AttributeFlag::IsFromProfile))
        .field(Field::new("updated_at", TypeRef::named(DATE_TIME), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| {
                a.node
                    .node
                    .attributes
                    .get(&a.name)
                    .and_then(|attr| attr.updated_at)
                    .map(|t| FieldValue::value(t.to_string()))
            }))
        }))
        .field(Field::new(
            "permissions",
            TypeRef::named("PermissionType"),
            |_| {
                FieldFuture::Value(Some(FieldValue::value(
                    GqlValue::Object(Default::default()),
                )))
            },
        ))
        .field(Field::new(
            "source",
            TypeRef::named(LINEAGE_SOURCE),
            |ctx| {
                ready(parent::<AttributeValue>(&ctx).map(|a| {
                    let id = a.node.node.attributes.get(&a.name).and_then(|x| x.source);
                    a.node.level.lineage_value(id).map(node_field_value)
                }))
            },
        ))
        .field(Field::new("owner", TypeRef::named(LINEAGE_OWNER), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| {
                let id = a.node.node.attributes.get(&a.name).and_then(|x| x.owner);
                a.node.level.lineage_value(id).map(node_field_value)
            }))
        }));
    for field in extra {
        let field_name = (*field).to_string();
        let type_name = name.to_string();
        let ty = match *field {
            "prefixlen" | "version" | "num_addresses" => TypeRef::INT,
            _ => TypeRef::STRING,
        };
        object = object.field(Field::new(*field, TypeRef::named(ty), move |ctx| {
            let field_name = field_name.clone();
            let type_name = type_name.clone();
            ready(parent::<AttributeValue>(&ctx).and_then(|a| {
                let value = a.node.node.value(&a.name);
                let derived = match type_name.as_str() {
                    "IPHost" => derived::ip_host(value, &field_name),
                    "IPNetwork" => derived::ip_network(value, &field_name),
                    "MacAddress" => derived::mac_address(value, &field_name),
                    _ => dropdown_field(&ctx, a, &field_name)?,
                };
                Ok((!derived.is_null()).then(|| FieldValue::value(to_gql(&derived))))
            }))
        }));
    }
    object
}

/// A boolean property of an attribute.
fn flag(flag: AttributeFlag) -> Field {
    Field::new(flag.name(), TypeRef::named(TypeRef::BOOLEAN), move |ctx| {
        ready(parent::<AttributeValue>(&ctx).map(|a| {
            a.node
                .node
                .attributes
                .get(&a.name)
                .map(|attr| FieldValue::value(flag.value(attr)))
        }))
    })
}

/// The `value` of an attribute: hashed passwords are never returned.
fn attribute_value<'a>(
    ctx: &ResolverContext<'a>,
    attribute: &AttributeValue,
) -> Option<FieldValue<'a>> {
    let schema = request(ctx).ok().map(|r| &r.schema);
    let hidden = schema
        .and_then(|s| s.get(&attribute.node.node.kind))
        .and_then(|m| m.attribute(&attribute.name))
        .is_some_and(|a| a.kind == AttributeKind::HashedPassword);
    let value = attribute.node.node.value(&attribute.name);
    if hidden || value.is_null() {
        return None;
    }
    Some(FieldValue::value(to_gql(value)))
}

/// `label`, `color` or `description` of the choice a Dropdown attribute holds.
fn dropdown_field(
    ctx: &ResolverContext<'_>,
    attribute: &AttributeValue,
    field: &str,
) -> Result<Value, Error> {
    let schema = &request(ctx)?.schema;
    let value = attribute.node.node.value(&attribute.name);
    let choice = schema
        .get(&attribute.node.node.kind)
        .and_then(|m| m.attribute(&attribute.name))
        .and_then(|a| a.choices.as_ref())
        .and_then(|choices| {
            choices
                .iter()
                .find(|c| Some(c.name.as_str()) == value.as_str())
        });
    Ok(choice
        .and_then(|c| match field {
            "label" => c.label.clone(),
            "color" => c.color.clone(),
            "description" => c.description.clone(),
            _ => None,
        })
        .map_or(Value::Null, Value::String))
}

/// `RelationshipProperty`: the properties of a link.
fn relationship_property() -> Object {
    let mut object = Object::new(RELATIONSHIP_PROPERTY);
    for flag in LinkFlag::ALL {
        object = object.field(Field::new(
            flag.name(),
            TypeRef::named(TypeRef::BOOLEAN),
            move |ctx| {
                ready(
                    parent::<EdgeValue>(&ctx).map(|e| Some(FieldValue::value(flag.value(&e.peer)))),
                )
            },
        ));
    }
    object
        .field(Field::new("updated_at", TypeRef::named(DATE_TIME), |ctx| {
            ready(
                parent::<EdgeValue>(&ctx)
                    .map(|e| Some(FieldValue::value(e.peer.updated_at.to_string()))),
            )
        }))
        .field(Field::new(
            "source",
            TypeRef::named(LINEAGE_SOURCE),
            |ctx| {
                ready(parent::<EdgeValue>(&ctx).map(|e| {
                    e.owner_level
                        .lineage_value(e.peer.source)
                        .map(node_field_value)
                }))
            },
        ))
        .field(Field::new("owner", TypeRef::named(LINEAGE_OWNER), |ctx| {
            ready(parent::<EdgeValue>(&ctx).map(|e| {
                e.owner_level
                    .lineage_value(e.peer.owner)
                    .map(node_field_value)
            }))
        }))
}

/// A node as a resolver value typed with its concrete kind.
pub(crate) fn node_field_value<'a>(node: NodeValue) -> FieldValue<'a> {
    let kind = node.node.kind.clone();
    FieldValue::owned_any(node).with_type(kind)
}

/// A borrowed node as the value of a field typed `K`: an interface (generic `K`) needs the
/// concrete type, an object type must not have it.
pub(crate) fn node_ref<'a>(node: &'a NodeValue, interface: bool) -> FieldValue<'a> {
    let value = FieldValue::borrowed_any(node);
    if interface {
        value.with_type(node.node.kind.clone())
    } else {
        value
    }
}

/// `Edged<K>`, `NestedEdged<K>`, `Paginated<K>` and `NestedPaginated<K>`.
fn register_wrappers(builder: SchemaBuilder, model: &ModelSchema) -> SchemaBuilder {
    let kind = model.kind();
    let interface = model.is_generic();
    let describe = |object: Object| match &model.description {
        Some(text) => object.description(text),
        None => object,
    };
    let edged = describe(Object::new(edged(&kind))).field(Field::new(
        "node",
        TypeRef::named(&kind),
        move |ctx| ready(parent::<NodeValue>(&ctx).map(|n| Some(node_ref(n, interface)))),
    ));
    let nested_edged = describe(Object::new(nested_edged(&kind)))
        .field(Field::new("node", TypeRef::named(&kind), move |ctx| {
            ready(
                parent::<EdgeValue>(&ctx).map(|e| e.node.as_ref().map(|n| node_ref(n, interface))),
            )
        }))
        .field(Field::new(
            "properties",
            TypeRef::named(RELATIONSHIP_PROPERTY),
            |ctx| ready(parent::<EdgeValue>(&ctx).map(|e| Some(FieldValue::borrowed_any(e)))),
        ));
    let paginated = describe(Object::new(paginated(&kind)))
        .field(Field::new(
            "count",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| ready(parent::<PageValue>(&ctx).map(|p| Some(FieldValue::value(p.count)))),
        ))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(fields::edged(&kind)),
            |ctx| {
                ready(parent::<PageValue>(&ctx).map(|p| {
                    Some(FieldValue::list(
                        p.edges.iter().map(|e| FieldValue::borrowed_any(e)),
                    ))
                }))
            },
        ))
        .field(permissions_field(|ctx| {
            parent::<PageValue>(ctx).map(|p| p.kind.clone())
        }));
    let nested_paginated = describe(Object::new(nested_paginated(&kind)))
        .field(Field::new(
            "count",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| ready(parent::<NestedPageValue>(&ctx).map(|p| Some(FieldValue::value(p.count)))),
        ))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(fields::nested_edged(&kind)),
            |ctx| {
                ready(parent::<NestedPageValue>(&ctx).map(|p| {
                    Some(FieldValue::list(
                        p.edges.iter().map(|e| FieldValue::borrowed_any(e)),
                    ))
                }))
            },
        ))
        .field(permissions_field(|ctx| {
            parent::<NestedPageValue>(ctx).map(|p| p.kind.clone())
        }));
    builder
        .register(edged)
        .register(nested_edged)
        .register(paginated)
        .register(nested_paginated)
}

/// The `permissions` field of page types.
fn permissions_field(kind_of: fn(&ResolverContext<'_>) -> Result<String, Error>) -> Field {
    Field::new(
        "permissions",
        TypeRef::named_nn("PaginatedObjectPermission"),
        move |ctx| {
            ready(kind_of(&ctx).and_then(|kind| {
                let decisions = [Action::View, Action::Create, Action::Update, Action::Delete]
                    .map(|a| decision(&ctx, a));
                let [view, create, update, delete] = decisions;
                let node = GqlValue::Object(
                    [
                        (Name::new("kind"), GqlValue::String(kind)),
                        (Name::new("view"), view?),
                        (Name::new("create"), create?),
                        (Name::new("update"), update?),
                        (Name::new("delete"), delete?),
                    ]
                    .into_iter()
                    .collect(),
                );
                let edge = GqlValue::Object([(Name::new("node"), node)].into_iter().collect());
                Ok(Some(FieldValue::value(GqlValue::Object(
                    [
                        (Name::new("count"), GqlValue::from(1)),
                        (Name::new("edges"), GqlValue::List(vec![edge])),
                    ]
                    .into_iter()
                    .collect(),
                ))))
            }))
        },
    )
}

/// One field of a node type, usable on objects and interfaces.
pub(crate) struct NodeField {
    name: String,
    ty: TypeRef,
    description: Option<String>,
    arguments: Vec<(String, TypeRef)>,
    resolver: Resolver,
}

#[derive(Clone)]
enum Resolver {
    Id,
    Hfid,
    DisplayLabel,
    UpdatedAt,
    Attribute(String),
    One(String),
    Many {
        name: String,
        peer: String,
    },
    /// A hierarchy field a level of the hierarchy does not have (`parent` at the top,
    /// `children` at the bottom): always empty.
    Absent {
        many: bool,
        peer: String,
    },
}

impl NodeField {
    fn interface_field(&self) -> InterfaceField {
        let mut field = InterfaceField::new(&self.name, self.ty.clone());
        if let Some(text) = &self.description {
            field = field.description(text);
        }
        for (name, ty) in &self.arguments {
            field = field.argument(InputValue::new(name, ty.clone()));
        }
        field
    }

    fn object_field(&self) -> Field {
        let resolver = self.resolver.clone();
        let mut field = Field::new(&self.name, self.ty.clone(), move |ctx| {
            resolve_node_field(ctx, &resolver)
        });
        if let Some(text) = &self.description {
            field = field.description(text);
        }
        for (name, ty) in &self.arguments {
            field = field.argument(InputValue::new(name, ty.clone()));
        }
        field
    }
}

fn resolve_node_field<'a>(ctx: ResolverContext<'a>, resolver: &Resolver) -> FieldFuture<'a> {
    let node = match parent::<NodeValue>(&ctx) {
        Ok(node) => node,
        Err(error) => return ready(Err(error)),
    };
    match resolver {
        Resolver::Id => plain(node.node.id.to_string()),
        Resolver::Hfid => match &node.node.hfid {
            Some(hfid) => plain(GqlValue::List(
                hfid.iter().map(|p| GqlValue::String(p.clone())).collect(),
            )),
            None => FieldFuture::Value(None),
        },
        Resolver::DisplayLabel => plain(node.node.display_label.clone()),
        Resolver::UpdatedAt => plain(node.node.updated_at.to_string()),
        Resolver::Attribute(name) => {
            if node.node.attributes.contains_key(name) {
                FieldFuture::Value(Some(FieldValue::owned_any(AttributeValue {
                    node: node.clone(),
                    name: name.clone(),
                })))
            } else {
                FieldFuture::Value(None)
            }
        }
        Resolver::One(name) => {
            let Some(peer) = node.node.peers(name).first() else {
                return FieldFuture::Value(None);
            };
            let peer_node = node
                .level
                .relationships
                .get(name)
                .and_then(|level| level.value(peer.id));
            FieldFuture::Value(Some(FieldValue::owned_any(EdgeValue {
                peer: peer.clone(),
                node: peer_node,
                owner_level: Arc::clone(&node.level),
            })))
        }
        Resolver::Many { name, peer } => {
            ready(nested_page(&ctx, node, name, peer).map(|p| Some(FieldValue::owned_any(p))))
        }
        Resolver::Absent { many: false, .. } => FieldFuture::Value(None),
        Resolver::Absent { many: true, peer } => {
            FieldFuture::Value(Some(FieldValue::owned_any(NestedPageValue {
                kind: peer.clone(),
                count: 0,
                edges: Vec::new(),
            })))
        }
    }
}

/// The peers of a cardinality-many relationship, filtered and paged by the field's arguments.
fn nested_page(
    ctx: &ResolverContext<'_>,
    node: &NodeValue,
    name: &str,
    peer_kind: &str,
) -> Result<NestedPageValue, Error> {
    let level = node.level.relationships.get(name);
    let mut offset = 0usize;
    let mut limit: Option<usize> = None;
    for (argument, value) in ctx.args.iter() {
        let value = to_json(value.as_value());
        match argument.as_str() {
            "offset" => offset = value.as_u64().unwrap_or(0) as usize,
            "limit" => limit = value.as_u64().map(|l| l as usize),
            _ => {}
        }
    }
    let filters = load::nested_filters(
        ctx.args
            .iter()
            .map(|(argument, value)| (argument.as_str(), to_json(value.as_value()))),
    );
    // The peers that pass the field's filters, as the engine evaluated them for the level.
    let passed = if filters.is_empty() {
        None
    } else {
        let key = (name.to_string(), load::filter_key(&filters));
        Some(
            node.level
                .filtered
                .get(&key)
                .ok_or_else(|| Error::new(format!("the filters of `{name}` were not evaluated")))?,
        )
    };
    let walked: Vec<Peer>;
    let listed: &[Peer] = match node.level.hierarchy.get(name) {
        Some(found) => {
            // Hierarchy walks have no link of their own: plain properties.
            walked = found
                .get(&node.node.id)
                .into_iter()
                .flatten()
                .map(|id| Peer {
                    id: *id,
                    is_protected: false,
                    is_visible: true,
                    source: None,
                    owner: None,
                    updated_at: node.node.updated_at,
                })
                .collect();
            &walked
        }
        None => node.node.peers(name),
    };
    let mut edges = Vec::new();
    for peer in listed {
        let peer_node = level.and_then(|l| l.value(peer.id));
        if passed.is_none_or(|passed| passed.contains(&peer.id)) {
            edges.push(EdgeValue {
                peer: peer.clone(),
                node: peer_node,
                owner_level: Arc::clone(&node.level),
            });
        }
    }
    let count = edges.len() as u64;
    let edges: Vec<EdgeValue> = edges
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(NestedPageValue {
        kind: peer_kind.to_string(),
        count,
        edges,
    })
}

/// The fields of the type of `model`.
pub(crate) fn node_fields(schema: &SchemaBranch, model: &ModelSchema) -> Vec<NodeField> {
    let mut fields = vec![
        NodeField {
            name: "id".into(),
            ty: TypeRef::named_nn(TypeRef::STRING),
            description: Some("Unique identifier".into()),
            arguments: Vec::new(),
            resolver: Resolver::Id,
        },
        NodeField {
            name: "hfid".into(),
            ty: TypeRef::named_nn_list(TypeRef::STRING),
            description: Some("Human friendly identifier".into()),
            arguments: Vec::new(),
            resolver: Resolver::Hfid,
        },
        NodeField {
            name: "display_label".into(),
            ty: TypeRef::named(TypeRef::STRING),
            description: None,
            arguments: Vec::new(),
            resolver: Resolver::DisplayLabel,
        },
        NodeField {
            name: "_updated_at".into(),
            ty: TypeRef::named(DATE_TIME),
            description: None,
            arguments: Vec::new(),
            resolver: Resolver::UpdatedAt,
        },
    ];
    for attribute in &model.attributes {
        let (type_name, _, _) = attribute_types(attribute.kind);
        fields.push(NodeField {
            name: attribute.name.clone(),
            ty: TypeRef::named(type_name),
            description: attribute.description.clone(),
            arguments: Vec::new(),
            resolver: Resolver::Attribute(attribute.name.clone()),
        });
    }
    if let Some(hierarchy) = super::load::hierarchy_kind(model).filter(|k| has_type(schema, k)) {
        // Every level has `parent` and `children`, as the hierarchy's generic does.
        for (name, many) in [("parent", false), ("children", true)] {
            if model.relationship(name).is_none() {
                fields.push(NodeField {
                    name: name.to_string(),
                    ty: if many {
                        TypeRef::named_nn(nested_paginated(&hierarchy))
                    } else {
                        TypeRef::named(nested_edged(&hierarchy))
                    },
                    description: None,
                    arguments: if many {
                        nested_arguments(schema, &hierarchy)
                    } else {
                        Vec::new()
                    },
                    resolver: Resolver::Absent {
                        many,
                        peer: hierarchy.clone(),
                    },
                });
            }
        }
        for name in super::load::HIERARCHY_FIELDS {
            let mut arguments = vec![
                ("offset".to_string(), TypeRef::named(TypeRef::INT)),
                ("limit".to_string(), TypeRef::named(TypeRef::INT)),
                ("ids".to_string(), TypeRef::named_list(TypeRef::ID)),
            ];
            if let Some(peer) = schema.get(&hierarchy) {
                for attribute in &peer.attributes {
                    arguments.extend(attribute_filters(attribute, "", false, true));
                }
            }
            fields.push(NodeField {
                name: name.to_string(),
                ty: TypeRef::named_nn(nested_paginated(&hierarchy)),
                description: None,
                arguments,
                resolver: Resolver::Many {
                    name: name.to_string(),
                    peer: hierarchy.clone(),
                },
            });
        }
    }
    for relationship in &model.relationships {
        // Hierarchy links are typed with the hierarchy's generic, so that every level of the
        // hierarchy can implement it.
        let peer = match &relationship.hierarchical {
            Some(hierarchy) if relationship.kind == RelationshipKind::Hierarchy => hierarchy,
            _ => &relationship.peer,
        };
        if !has_type(schema, peer) {
            continue;
        }
        if relationship.cardinality == Cardinality::One {
            fields.push(NodeField {
                name: relationship.name.clone(),
                ty: TypeRef::named(nested_edged(peer)),
                description: relationship.description.clone(),
                arguments: Vec::new(),
                resolver: Resolver::One(relationship.name.clone()),
            });
        } else {
            fields.push(NodeField {
                name: relationship.name.clone(),
                ty: TypeRef::named_nn(nested_paginated(peer)),
                description: relationship.description.clone(),
                arguments: nested_arguments(schema, peer),
                resolver: Resolver::Many {
                    name: relationship.name.clone(),
                    peer: peer.clone(),
                },
            });
        }
    }
    fields
}

/// Arguments of a cardinality-many relationship field.
fn nested_arguments(schema: &SchemaBranch, peer: &str) -> Vec<(String, TypeRef)> {
    let mut arguments = vec![
        ("offset".to_string(), TypeRef::named(TypeRef::INT)),
        ("limit".to_string(), TypeRef::named(TypeRef::INT)),
        ("order".to_string(), TypeRef::named("OrderInput")),
        ("ids".to_string(), TypeRef::named_list(TypeRef::ID)),
    ];
    if let Some(peer) = schema.get(peer) {
        for attribute in &peer.attributes {
            arguments.extend(attribute_filters(attribute, "", false, true));
        }
    }
    arguments
}

/// The filters of one attribute, named `<prefix><attribute>__...`.
fn attribute_filters(
    attribute: &AttributeSchema,
    prefix: &str,
    isnull: bool,
    properties: bool,
) -> Vec<(String, TypeRef)> {
    let (_, _, filter) = attribute_types(attribute.kind);
    let name = format!("{prefix}{}", attribute.name);
    let mut filters = vec![
        (format!("{name}__value"), TypeRef::named(filter)),
        (format!("{name}__values"), TypeRef::named_list(filter)),
    ];
    if isnull {
        filters.push((format!("{name}__isnull"), TypeRef::named(TypeRef::BOOLEAN)));
    }
    if properties {
        filters.extend([
            (format!("{name}__source__id"), TypeRef::named(TypeRef::ID)),
            (format!("{name}__owner__id"), TypeRef::named(TypeRef::ID)),
            (
                format!("{name}__is_visible"),
                TypeRef::named(TypeRef::BOOLEAN),
            ),
            (
                format!("{name}__is_protected"),
                TypeRef::named(TypeRef::BOOLEAN),
            ),
        ]);
    }
    filters
}

/// The arguments of the root query field of `model`.
fn query_arguments(schema: &SchemaBranch, model: &ModelSchema) -> Vec<(String, TypeRef)> {
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
fn query_field(schema: &SchemaBranch, model: &ModelSchema) -> Field {
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
                    .unwrap_or(false)
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
async fn query_nodes<'a>(
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    mod library {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infrahub-core/tests/support/library.rs"
        ));
    }

    use infrahub_core::schema::{ProcessOptions, SchemaFile, core_schema};

    use super::*;

    fn library_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(library_files(&path));
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
        files.sort();
        files
    }

    /// Every kind of the core schema and the whole schema library implements the interfaces of
    /// its generics, and the schema builds.
    #[test]
    fn every_kind_implements_its_generics() {
        let Some(library) = library::schema_library_or_skip("every_kind_implements_its_generics")
        else {
            return;
        };
        let mut files: Vec<SchemaFile> = Vec::new();
        for dir in ["base", "extensions"] {
            for path in library_files(&library.join(dir)) {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
                files.push(
                    SchemaFile::from_yaml(&text, Some(&path.display().to_string()))
                        .unwrap_or_else(|e| panic!("{e:?}")),
                );
            }
        }
        let options = ProcessOptions::default();
        let mut branch = core_schema(&options).unwrap_or_else(|e| panic!("{e:?}"));
        let merged = SchemaFile::merge(files).unwrap_or_else(|e| panic!("{e:?}"));
        branch = branch
            .with_file(&merged, &options)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(implementation_gaps(&branch), Vec::<(String, String)>::new());
        schema(&branch, Default::default()).unwrap_or_else(|e| panic!("{e}"));
    }
}
