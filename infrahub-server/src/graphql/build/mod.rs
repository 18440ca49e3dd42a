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
    AttributeFlag, LinkFlag, NodeMeta, RELATIONSHIP_PROPERTY, edged, nested_edged,
    nested_paginated, paginated,
};
use super::load::{self, Plan};
use super::values::{AttributeValue, EdgeValue, NestedPageValue, NodeValue, PageValue};

mod nodes;
mod query;
mod types;

use nodes::attribute_filters;
pub(crate) use nodes::node_fields;
use query::query_field;
pub(crate) use query::{complete_selected, query_args_from, read_selected};
use types::{attribute_object, register_wrappers, relationship_property};
pub(crate) use types::{node_field_value, node_ref};

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
///
/// A database that cannot be reached is flagged `extensions.http_status = 503`, as upstream
/// flags its GraphQL errors: the SDK retries those (with `retry_on_failure`) and fails fast on
/// the others.
pub(crate) fn engine_error(error: infrahub_core::Error) -> Error {
    let status = error_http_status(&error);
    let answer = Error::new(error.message().to_string());
    match status {
        Some(status) => async_graphql::ErrorExtensions::extend_with(answer, |_, extensions| {
            extensions.set("http_status", status);
        }),
        None => answer,
    }
}

/// The HTTP status a GraphQL error for `error` carries in its extensions: 503 when the store
/// is unavailable, none otherwise.
pub(crate) fn error_http_status(error: &infrahub_core::Error) -> Option<u16> {
    (error.kind() == infrahub_core::ErrorKind::Unavailable).then_some(503)
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

/// The class of a string literal (its value, escapes decoded) as the validators of the
/// generated schema's scalars see it: strings of one class are valid for the same scalars.
/// It must tell apart every difference the validators of [`register_common`] make, as the
/// document shapes of `lex` rely on it.
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
                // The attribute's `permissions` field hands over the node's kind.
                |ctx| {
                    ready(
                        ctx.parent_value
                            .as_value()
                            .and_then(|value| match value {
                                GqlValue::Object(map) => map.get("kind").cloned(),
                                _ => None,
                            })
                            .and_then(|kind| match kind {
                                GqlValue::String(kind) => Some(kind),
                                _ => None,
                            })
                            .ok_or_else(|| Error::new("no kind for the attribute's permissions"))
                            .and_then(|kind| decision(&ctx, &kind, Action::Update))
                            .map(|d| Some(FieldValue::value(d))),
                    )
                },
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
            .field(InputValue::new("disable", TypeRef::named(TypeRef::BOOLEAN)))
            .field(
                InputValue::new("fields", TypeRef::named_nn_list(TypeRef::STRING)).description(
                    "An ordering replacing the kind's order_by: attribute paths (name__value), \
                     each optionally ending in __desc or __asc (an extension of this server)",
                ),
            ),
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

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// The caller's decision for `action` on nodes of `kind` on the request's branch, as upstream
/// reports it (`BranchRelativePermissionDecision`): `ALLOW` when allowed on this branch,
/// `ALLOW_DEFAULT` or `ALLOW_OTHER` when allowed only on the default branch or only on the
/// others, `DENY` otherwise. Changes to accounts, groups, roles, permissions and repositories
/// follow the matching `manage_*` global permission, as upstream.
pub(crate) fn decision(
    ctx: &ResolverContext<'_>,
    kind: &str,
    action: Action,
) -> Result<GqlValue, Error> {
    use infrahub_core::permissions::decision::{ALLOW_DEFAULT, ALLOW_OTHER};
    let request = request(ctx)?;
    let answer = |name: &str| Ok(GqlValue::Enum(Name::new(name)));
    let permissions = &request.permissions;
    if permissions.is_super_admin() {
        return answer("ALLOW");
    }
    if !matches!(action, Action::View) {
        let model = request.schema.get(kind);
        let is = |target: &str| {
            kind == target || model.is_some_and(|m| m.inherit_from.iter().any(|g| g == target))
        };
        let managed = if is("CoreGenericAccount") || is("CoreAccountGroup") || is("CoreAccountRole")
        {
            Some("manage_accounts")
        } else if is("CoreBasePermission") {
            Some("manage_permissions")
        } else if is("CoreGenericRepository") {
            Some("manage_repositories")
        } else {
            None
        };
        if let Some(global) = managed {
            return answer(if permissions.has_global(global) {
                "ALLOW"
            } else {
                "DENY"
            });
        }
    }
    let (namespace, name) = infrahub_core::permissions::split_kind(kind);
    let bits = permissions.object_decision(namespace, name, action.name());
    let on_default = request.view.branch == request.state.engine.default_branch();
    let here = if on_default {
        ALLOW_DEFAULT
    } else {
        ALLOW_OTHER
    };
    answer(if bits & here != 0 {
        "ALLOW"
    } else if bits & ALLOW_DEFAULT != 0 {
        "ALLOW_DEFAULT"
    } else if bits & ALLOW_OTHER != 0 {
        "ALLOW_OTHER"
    } else {
        "DENY"
    })
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
