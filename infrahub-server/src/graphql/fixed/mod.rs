//! Root fields that do not depend on the branch schema: `InfrahubInfo`, `InfrahubStatus`,
//! `InfrahubGraphQLQueryReport`, `ConvertObjectType`,
//! `Branch`, `AccountProfile`, `InfrahubAccountToken`, `Relationship`, the diff queries, the
//! account token mutations, and the branch mutations (create, update, delete, validate,
//! rebase, merge: done before they answer).

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use async_graphql::{Error, Name, Value as GqlValue};
use infrahub_core::engine::{
    AttributeInput, BranchInfo, Fields, NodeInput, NodeRef, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_core::schema::SchemaBranch;
use infrahub_graph::{BranchView, NodeId};
use serde_json::{Value, json};

use super::build::{
    engine_error, has_type, node_field_value, read_selected, ready, request, to_gql, to_json,
};
use super::mutation::relationship_fields;

mod account;
mod branch;
mod convert;
mod diff;
mod generator;
mod pools;
mod proposed_change;
mod relationship;
mod report;
mod task;

use account::{
    account_of, account_profile, account_tokens, permissions, token_create, token_delete,
};
use branch::{branches, register_branch_mutations};
use diff::register_diff;
use pools::register_pools;
use relationship::relationships;
use task::register_tasks;

/// Kind of the current account's generic.
const GENERIC_ACCOUNT: &str = "CoreGenericAccount";
/// Kind of API tokens.
const ACCOUNT_TOKEN: &str = "InternalAccountToken";

/// Enum types whose values objects built from JSON hold as strings.
const ENUMS: &[&str] = &[
    "DiffAction",
    "ConflictSelection",
    "RelationshipCardinality",
    "BranchRelativePermissionDecision",
];

/// Turns strings into enum values for a field of enum type.
fn as_enum(value: GqlValue) -> GqlValue {
    match value {
        GqlValue::String(text) => GqlValue::Enum(Name::new(text)),
        GqlValue::List(items) => GqlValue::List(items.into_iter().map(as_enum).collect()),
        other => other,
    }
}

/// An object type whose fields read the keys of a GraphQL object value.
fn value_object(name: &str, fields: &[(&str, TypeRef)]) -> Object {
    let mut object = Object::new(name);
    for (field, ty) in fields {
        let key = (*field).to_string();
        let is_enum = ENUMS.contains(&ty.type_name());
        object = object.field(Field::new(*field, ty.clone(), move |ctx| {
            let value = match ctx.parent_value.as_value() {
                Some(GqlValue::Object(map)) => map.get(key.as_str()).cloned(),
                _ => None,
            };
            let value = if is_enum { value.map(as_enum) } else { value };
            FieldFuture::Value(
                value
                    .filter(|v| *v != GqlValue::Null)
                    .map(FieldValue::value),
            )
        }));
    }
    object
}

fn object_value(entries: Vec<(&str, GqlValue)>) -> GqlValue {
    GqlValue::Object(
        entries
            .into_iter()
            .map(|(k, v)| (Name::new(k), v))
            .collect(),
    )
}

/// `PaginatedObjectPermission` and its parts.
pub(crate) fn register_permissions(builder: SchemaBuilder) -> SchemaBuilder {
    let decision = || TypeRef::named_nn("BranchRelativePermissionDecision");
    builder
        .register(value_object(
            "ObjectPermission",
            &[
                ("kind", TypeRef::named_nn(TypeRef::STRING)),
                ("view", decision()),
                ("create", decision()),
                ("update", decision()),
                ("delete", decision()),
            ],
        ))
        .register(value_object(
            "ObjectPermissionNode",
            &[("node", TypeRef::named_nn("ObjectPermission"))],
        ))
        .register(value_object(
            "PaginatedObjectPermission",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                ("edges", TypeRef::named_nn_list_nn("ObjectPermissionNode")),
            ],
        ))
}

/// Registers the fixed root fields and their types.
pub(crate) fn register(
    schema: &SchemaBranch,
    mut builder: SchemaBuilder,
    mut query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    builder = builder
        .register(value_object(
            "Info",
            &[
                ("deployment_id", TypeRef::named_nn(TypeRef::STRING)),
                ("version", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "StatusSummary",
            &[("schema_hash_synced", TypeRef::named_nn(TypeRef::BOOLEAN))],
        ))
        .register(value_object(
            "StatusWorker",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("active", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("schema_hash", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "StatusWorkerEdge",
            &[("node", TypeRef::named_nn("StatusWorker"))],
        ))
        .register(value_object(
            "StatusWorkerEdges",
            &[("edges", TypeRef::named_nn_list_nn("StatusWorkerEdge"))],
        ))
        .register(value_object(
            "Status",
            &[
                ("summary", TypeRef::named_nn("StatusSummary")),
                ("workers", TypeRef::named_nn("StatusWorkerEdges")),
            ],
        ))
        .register(value_object(
            "Branch",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("name", TypeRef::named_nn(TypeRef::STRING)),
                ("description", TypeRef::named(TypeRef::STRING)),
                ("origin_branch", TypeRef::named(TypeRef::STRING)),
                ("branched_from", TypeRef::named(TypeRef::STRING)),
                ("created_at", TypeRef::named(TypeRef::STRING)),
                ("sync_with_git", TypeRef::named(TypeRef::BOOLEAN)),
                ("is_default", TypeRef::named(TypeRef::BOOLEAN)),
                ("is_isolated", TypeRef::named(TypeRef::BOOLEAN)),
                ("has_schema_changes", TypeRef::named(TypeRef::BOOLEAN)),
                ("graph_version", TypeRef::named(TypeRef::INT)),
                ("status", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "RelationshipPeer",
            &[
                ("id", TypeRef::named(TypeRef::STRING)),
                ("kind", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "Relationship",
            &[
                ("id", TypeRef::named(TypeRef::STRING)),
                ("identifier", TypeRef::named(TypeRef::STRING)),
                ("peers", TypeRef::named_nn_list("RelationshipPeer")),
            ],
        ))
        .register(value_object(
            "RelationshipNode",
            &[("node", TypeRef::named_nn("Relationship"))],
        ))
        .register(value_object(
            "Relationships",
            &[
                ("edges", TypeRef::named_nn_list_nn("RelationshipNode")),
                ("count", TypeRef::named_nn(TypeRef::INT)),
            ],
        ))
        .register(value_object(
            "AccountTokenNode",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("name", TypeRef::named(TypeRef::STRING)),
                ("expiration", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "AccountTokenEdge",
            &[("node", TypeRef::named_nn("AccountTokenNode"))],
        ))
        .register(value_object(
            "AccountTokenEdges",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                ("edges", TypeRef::named_nn_list_nn("AccountTokenEdge")),
            ],
        ))
        .register(value_object(
            "ValueType",
            &[("value", TypeRef::named_nn(TypeRef::STRING))],
        ))
        .register(value_object(
            "AccountGlobalPermissionNode",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("name", TypeRef::named_nn(TypeRef::STRING)),
                ("action", TypeRef::named_nn(TypeRef::STRING)),
                ("decision", TypeRef::named_nn(TypeRef::STRING)),
                ("description", TypeRef::named(TypeRef::STRING)),
                ("identifier", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "AccountObjectPermissionNode",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("branch", TypeRef::named_nn(TypeRef::STRING)),
                ("namespace", TypeRef::named_nn(TypeRef::STRING)),
                ("name", TypeRef::named_nn(TypeRef::STRING)),
                ("action", TypeRef::named_nn(TypeRef::STRING)),
                ("decision", TypeRef::named_nn(TypeRef::STRING)),
                ("description", TypeRef::named(TypeRef::STRING)),
                ("identifier", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "AccountGlobalPermissionEdge",
            &[("node", TypeRef::named_nn("AccountGlobalPermissionNode"))],
        ))
        .register(value_object(
            "AccountObjectPermissionEdge",
            &[("node", TypeRef::named_nn("AccountObjectPermissionNode"))],
        ))
        .register(value_object(
            "AccountGlobalPermissionEdges",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                (
                    "edges",
                    TypeRef::named_nn_list_nn("AccountGlobalPermissionEdge"),
                ),
            ],
        ))
        .register(value_object(
            "AccountObjectPermissionEdges",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                (
                    "edges",
                    TypeRef::named_nn_list_nn("AccountObjectPermissionEdge"),
                ),
            ],
        ))
        .register(value_object(
            "AccountPermissionsEdges",
            &[
                (
                    "global_permissions",
                    TypeRef::named("AccountGlobalPermissionEdges"),
                ),
                (
                    "object_permissions",
                    TypeRef::named("AccountObjectPermissionEdges"),
                ),
            ],
        ))
        .register(value_object(
            "InfrahubAccountTokenType",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("token", TypeRef::named("ValueType")),
            ],
        ))
        .register(value_object(
            "InfrahubAccountTokenCreate",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("object", TypeRef::named("InfrahubAccountTokenType")),
            ],
        ))
        .register(value_object(
            "InfrahubAccountTokenDelete",
            &[("ok", TypeRef::named(TypeRef::BOOLEAN))],
        ))
        .register(
            InputObject::new("InfrahubAccountTokenCreateInput")
                .field(
                    InputValue::new("name", TypeRef::named(TypeRef::STRING))
                        .description("The name of the token"),
                )
                .field(
                    InputValue::new("expiration", TypeRef::named(TypeRef::STRING))
                        .description("Timestamp when the token expires"),
                ),
        )
        .register(
            InputObject::new("InfrahubAccountTokenDeleteInput").field(
                InputValue::new("id", TypeRef::named(TypeRef::STRING))
                    .description("The id of the token to delete"),
            ),
        );
    query = query
        .field(Field::new(
            "InfrahubInfo",
            TypeRef::named_nn("Info"),
            |ctx| {
                ready(request(&ctx).map(|r| {
                    Some(FieldValue::value(object_value(vec![
                        (
                            "deployment_id",
                            GqlValue::String(r.state.deployment_id.clone()),
                        ),
                        ("version", GqlValue::String(crate::app::VERSION.to_string())),
                    ])))
                }))
            },
        ))
        .field(
            Field::new("InfrahubStatus", TypeRef::named_nn("Status"), |ctx| {
                FieldFuture::new(async move { status(ctx).await })
            })
            .description("Retrieve the status of all infrahub workers."),
        )
        .field(
            Field::new("Branch", TypeRef::named_nn_list_nn("Branch"), |ctx| {
                FieldFuture::new(async move { branches(ctx).await })
            })
            .description("Retrieve information about active branches.")
            .argument(InputValue::new("ids", TypeRef::named_list(TypeRef::ID)))
            .argument(InputValue::new("name", TypeRef::named(TypeRef::STRING))),
        )
        .field(
            Field::new(
                "InfrahubAccountToken",
                TypeRef::named_nn("AccountTokenEdges"),
                |ctx| FieldFuture::new(async move { account_tokens(ctx).await }),
            )
            .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT))),
        )
        .field(
            Field::new(
                "InfrahubPermissions",
                TypeRef::named("AccountPermissionsEdges"),
                |ctx| FieldFuture::new(async move { permissions(ctx).await }),
            )
            .description("The permissions the current account holds through its roles."),
        )
        .field(
            Field::new("Relationship", TypeRef::named_nn("Relationships"), |ctx| {
                FieldFuture::new(async move { relationships(ctx).await })
            })
            .argument(InputValue::new(
                "ids",
                TypeRef::named_nn_list_nn(TypeRef::STRING),
            ))
            .argument(InputValue::new(
                "excluded_namespaces",
                TypeRef::named_list(TypeRef::STRING),
            ))
            .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT))),
        );
    if has_type(schema, GENERIC_ACCOUNT) {
        query = query.field(Field::new(
            "AccountProfile",
            TypeRef::named(GENERIC_ACCOUNT),
            |ctx| FieldFuture::new(async move { account_profile(ctx).await }),
        ));
    }
    mutation = mutation
        .field(
            Field::new(
                "InfrahubAccountTokenCreate",
                TypeRef::named("InfrahubAccountTokenCreate"),
                |ctx| FieldFuture::new(async move { token_create(ctx).await }),
            )
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("InfrahubAccountTokenCreateInput"),
            )),
        )
        .field(
            Field::new(
                "InfrahubAccountTokenDelete",
                TypeRef::named("InfrahubAccountTokenDelete"),
                |ctx| FieldFuture::new(async move { token_delete(ctx).await }),
            )
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("InfrahubAccountTokenDeleteInput"),
            )),
        );
    mutation = relationship_fields(mutation);
    (builder, query, mutation) = register_pools(builder, query, mutation);
    (builder, query, mutation) = register_diff(builder, query, mutation);
    (builder, query, mutation) = register_tasks(builder, query, mutation);
    (builder, mutation) = super::repository::register_repository_mutations(builder, mutation);
    (builder, mutation) = generator::register_generator(builder, mutation);
    (builder, mutation) = proposed_change::register_proposed_change(builder, mutation);
    (builder, query) = report::register_report(builder, query);
    (builder, mutation) = convert::register_convert(builder, mutation);
    register_branch_mutations(builder, query, mutation)
}

/// `InfrahubStatus`: the API servers and workers the deployment's cache knows, with the
/// schema hash each holds for the request's branch, and whether the active ones agree.
async fn status<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let workers = request
        .state
        .cluster
        .workers(&request.view.branch)
        .await
        .map_err(|e| Error::new(format!("the worker status is unavailable: {e}")))?;
    let synced = crate::cluster::schema_hash_synced(&workers);
    let edges = workers
        .into_iter()
        .map(|worker| {
            object_value(vec![(
                "node",
                object_value(vec![
                    ("id", GqlValue::String(worker.id)),
                    ("active", GqlValue::Boolean(worker.active)),
                    (
                        "schema_hash",
                        worker.schema_hash.map_or(GqlValue::Null, GqlValue::String),
                    ),
                ]),
            )])
        })
        .collect();
    Ok(Some(FieldValue::value(object_value(vec![
        (
            "summary",
            object_value(vec![("schema_hash_synced", GqlValue::Boolean(synced))]),
        ),
        (
            "workers",
            object_value(vec![("edges", GqlValue::List(edges))]),
        ),
    ]))))
}
