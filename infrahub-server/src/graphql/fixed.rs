//! Root fields that do not depend on the branch schema: `InfrahubInfo`, `InfrahubStatus`,
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
    AttributeInput, BranchCreate, BranchInfo, Fields, NodeInput, NodeRef, PeerInput, QueryArgs,
    RelationshipInput,
};
use infrahub_core::schema::SchemaBranch;
use infrahub_graph::{BranchView, NodeId};
use serde_json::{Value, json};

use super::build::{
    engine_error, has_type, node_field_value, read_selected, ready, request, to_gql, to_json,
};
use super::mutation::relationship_fields;

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
                ready(request(&ctx).map(|r| {
                    let worker = object_value(vec![
                        ("id", GqlValue::String(r.state.deployment_id.clone())),
                        ("active", GqlValue::Boolean(true)),
                        ("schema_hash", GqlValue::String(r.schema.hash())),
                    ]);
                    Some(FieldValue::value(object_value(vec![
                        (
                            "summary",
                            // One process holds every branch's schema: always in sync.
                            object_value(vec![("schema_hash_synced", GqlValue::Boolean(true))]),
                        ),
                        (
                            "workers",
                            object_value(vec![(
                                "edges",
                                GqlValue::List(vec![object_value(vec![("node", worker)])]),
                            )]),
                        ),
                    ])))
                }))
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
    (builder, query, mutation) = register_diff(builder, query, mutation);
    register_branch_mutations(builder, query, mutation)
}

/// The branch mutations: typed as upstream, answering that branch operations are not
/// available yet.
fn register_branch_mutations(
    mut builder: SchemaBuilder,
    query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    builder = builder
        .register(value_object(
            "TaskInfo",
            &[("id", TypeRef::named(TypeRef::STRING))],
        ))
        .register(
            InputObject::new("BranchCreateInput")
                .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new(
                    "description",
                    TypeRef::named(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "origin_branch",
                    TypeRef::named(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "branched_from",
                    TypeRef::named(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "sync_with_git",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .field(InputValue::new(
                    "is_isolated",
                    TypeRef::named(TypeRef::BOOLEAN),
                )),
        )
        .register(
            InputObject::new("BranchNameInput")
                .field(InputValue::new("name", TypeRef::named(TypeRef::STRING))),
        )
        .register(
            InputObject::new("BranchUpdateInput")
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new(
                    "description",
                    TypeRef::named(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "is_isolated",
                    TypeRef::named(TypeRef::BOOLEAN),
                )),
        )
        .register(value_object(
            "BranchUpdate",
            &[("ok", TypeRef::named(TypeRef::BOOLEAN))],
        ));
    for name in [
        "BranchCreate",
        "BranchMerge",
        "BranchRebase",
        "BranchValidate",
        "BranchDelete",
    ] {
        let mut fields = vec![
            ("ok", TypeRef::named(TypeRef::BOOLEAN)),
            ("task", TypeRef::named("TaskInfo")),
        ];
        if name != "BranchDelete" {
            fields.push(("object", TypeRef::named("Branch")));
        }
        builder = builder.register(value_object(name, &fields));
    }
    let operation = |name: &'static str, input: &str, waits: bool| {
        let mut field = Field::new(name, TypeRef::named(name), move |ctx| {
            FieldFuture::new(async move { branch_operation(ctx, name).await })
        })
        .argument(InputValue::new("context", TypeRef::named("ContextInput")))
        .argument(InputValue::new("data", TypeRef::named_nn(input)));
        if waits {
            field = field.argument(InputValue::new(
                "wait_until_completion",
                TypeRef::named(TypeRef::BOOLEAN),
            ));
        }
        field
    };
    mutation = mutation
        .field(
            operation("BranchCreate", "BranchCreateInput", true).argument(InputValue::new(
                "background_execution",
                TypeRef::named(TypeRef::BOOLEAN),
            )),
        )
        .field(operation("BranchDelete", "BranchNameInput", true))
        .field(operation("BranchRebase", "BranchNameInput", true))
        .field(operation("BranchMerge", "BranchNameInput", true))
        .field(operation("BranchValidate", "BranchNameInput", true))
        .field(operation("BranchUpdate", "BranchUpdateInput", false));
    (builder, query, mutation)
}

/// A branch record in the `Branch` type's shape.
pub(crate) fn branch_value(branch: &BranchInfo) -> GqlValue {
    object_value(vec![
        ("id", GqlValue::String(branch.id.clone())),
        ("name", GqlValue::String(branch.name.clone())),
        ("description", GqlValue::String(branch.description.clone())),
        (
            "origin_branch",
            GqlValue::String(branch.origin_branch.clone()),
        ),
        (
            "branched_from",
            GqlValue::String(branch.branched_from.to_string()),
        ),
        (
            "created_at",
            GqlValue::String(branch.created_at.to_string()),
        ),
        ("sync_with_git", GqlValue::Boolean(branch.sync_with_git)),
        ("is_default", GqlValue::Boolean(branch.is_default)),
        ("is_isolated", GqlValue::Boolean(true)),
        (
            "has_schema_changes",
            GqlValue::Boolean(branch.has_schema_changes),
        ),
        (
            "graph_version",
            branch.graph_version.map_or(GqlValue::Null, GqlValue::from),
        ),
        ("status", GqlValue::String(branch.status.clone())),
    ])
}

/// Runs a branch mutation; the operation is complete when it answers (`task` is null).
async fn branch_operation<'a>(
    ctx: ResolverContext<'a>,
    name: &'static str,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let engine = &request.state.engine;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
    let branch = text("name").ok_or_else(|| Error::new("`data.name` is required"))?;
    let object = match name {
        "BranchCreate" => {
            let (info, _events) = engine
                .create_branch(BranchCreate {
                    name: branch,
                    description: text("description"),
                    sync_with_git: data.get("sync_with_git").and_then(Value::as_bool),
                    created_by: Some(account.id.clone()),
                })
                .await
                .map_err(engine_error)?;
            Some(info)
        }
        "BranchDelete" => {
            // As upstream: the account that created a branch may delete it; others need
            // `delete_branch`.
            let info = engine.branch(&branch).await.map_err(engine_error)?;
            if info.created_by.as_deref() != Some(account.id.as_str())
                && !crate::auth::has_global_permission(
                    &request.state,
                    Some(account),
                    "delete_branch",
                )
                .await
                .map_err(|e| Error::new(e.message().to_string()))?
            {
                return Err(Error::new(
                    "You are not allowed to delete a branch you did not create",
                ));
            }
            engine.delete_branch(&branch).await.map_err(engine_error)?;
            None
        }
        "BranchMerge" => Some(engine.merge_branch(&branch).await.map_err(engine_error)?.0),
        "BranchRebase" => Some(engine.rebase_branch(&branch).await.map_err(engine_error)?.0),
        "BranchValidate" => {
            let conflicts = engine
                .branch_conflicts(&branch)
                .await
                .map_err(engine_error)?;
            if !conflicts.is_empty() {
                return Err(Error::new(format!(
                    "Branch {branch} has {} conflict(s) with the default branch",
                    conflicts.len()
                )));
            }
            Some(engine.branch(&branch).await.map_err(engine_error)?)
        }
        _ => {
            engine
                .update_branch(&branch, text("description"))
                .await
                .map_err(engine_error)?;
            None
        }
    };
    let mut answer = vec![("ok", GqlValue::Boolean(true))];
    if let Some(info) = object {
        answer.push(("object", branch_value(&info)));
    }
    Ok(Some(FieldValue::value(object_value(answer))))
}

async fn branches<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let ids: Option<BTreeSet<String>> = ctx.args.get("ids").map(|v| match to_json(v.as_value()) {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    });
    let name = ctx
        .args
        .get("name")
        .and_then(|v| v.string().ok().map(str::to_string));
    let branches = request
        .state
        .engine
        .branches()
        .await
        .map_err(engine_error)?;
    let list: Vec<FieldValue<'a>> = branches
        .iter()
        .filter(|b| name.as_ref().is_none_or(|n| *n == b.name))
        .filter(|b| {
            ids.as_ref()
                .is_none_or(|ids| ids.is_empty() || ids.contains(&b.id))
        })
        .map(|b| FieldValue::value(branch_value(b)))
        .collect();
    Ok(Some(FieldValue::list(list)))
}

/// The account the request acts as, or an error for anonymous requests.
fn account_of<'a>(ctx: &ResolverContext<'a>) -> Result<&'a crate::account::Account, Error> {
    request(ctx)?
        .account
        .as_ref()
        .ok_or_else(|| Error::new("Authentication is required to perform this operation"))
}

async fn account_profile<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let id: NodeId = account
        .id
        .parse()
        .map_err(|_| Error::new("the account id is not a node id"))?;
    let fields = ctx.look_ahead().selection_fields();
    let nodes = read_selected(request, GENERIC_ACCOUNT, &[id], fields).await?;
    Ok(nodes.into_iter().next().map(node_field_value))
}

async fn account_tokens<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let engine = &request.state.engine;
    let view = BranchView::now(engine.default_branch());
    let mut args = QueryArgs {
        count: true,
        offset: ctx
            .args
            .get("offset")
            .and_then(|v| v.u64().ok())
            .unwrap_or(0) as usize,
        limit: ctx
            .args
            .get("limit")
            .and_then(|v| v.u64().ok())
            .map(|l| l as usize),
        ..QueryArgs::default()
    };
    args.filters
        .insert("account__ids".into(), json!([account.id]));
    let fields = Fields {
        attributes: Some(vec!["name".into(), "expiration".into()]),
        relationships: Vec::new(),
    };
    let (nodes, count) = engine
        .query(&view, ACCOUNT_TOKEN, &args, &fields)
        .await
        .map_err(engine_error)?;
    let edges = nodes
        .iter()
        .map(|n| {
            object_value(vec![(
                "node",
                object_value(vec![
                    ("id", GqlValue::String(n.id.to_string())),
                    ("name", to_gql(n.value("name"))),
                    ("expiration", to_gql(n.value("expiration"))),
                ]),
            )])
        })
        .collect();
    Ok(Some(FieldValue::value(object_value(vec![
        ("count", GqlValue::from(count)),
        ("edges", GqlValue::List(edges)),
    ]))))
}

async fn token_create<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let engine = &request.state.engine;
    let token = uuid::Uuid::new_v4().to_string();
    let mut input = NodeInput::default();
    let name = data
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| format!("token {}", &token[..8]), str::to_string);
    input
        .attributes
        .insert("name".into(), AttributeInput::value(Value::String(name)));
    input.attributes.insert(
        "token".into(),
        AttributeInput::value(Value::String(token.clone())),
    );
    if let Some(expiration) = data.get("expiration").and_then(Value::as_str) {
        input.attributes.insert(
            "expiration".into(),
            AttributeInput::value(Value::String(expiration.to_string())),
        );
    }
    input.relationships.insert(
        "account".into(),
        RelationshipInput::One(Some(PeerInput::id(account.id.clone()))),
    );
    let created = engine
        .create(engine.default_branch(), ACCOUNT_TOKEN, input)
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::value(object_value(vec![
        ("ok", GqlValue::Boolean(true)),
        (
            "object",
            object_value(vec![
                ("id", GqlValue::String(created.node.id.to_string())),
                (
                    "token",
                    object_value(vec![("value", GqlValue::String(token))]),
                ),
            ]),
        ),
    ]))))
}

async fn token_delete<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("`data.id` is required"))?;
    let engine = &request.state.engine;
    let view = BranchView::now(engine.default_branch());
    let token_id: NodeId = id
        .parse()
        .map_err(|_| Error::new(format!("`{id}` is not a token id")))?;
    let fields = Fields {
        attributes: Some(Vec::new()),
        relationships: vec!["account".into()],
    };
    let found = engine
        .get(&view, ACCOUNT_TOKEN, &[token_id], &fields)
        .await
        .map_err(engine_error)?;
    let owned = found.first().is_some_and(|t| {
        t.peers("account")
            .iter()
            .any(|p| p.id.to_string() == account.id)
    });
    if !owned {
        return Err(Error::new(format!(
            "Unable to find the token {id} of this account"
        )));
    }
    engine
        .delete(
            engine.default_branch(),
            ACCOUNT_TOKEN,
            &NodeRef {
                id: Some(id.to_string()),
                hfid: None,
            },
        )
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::value(object_value(vec![(
        "ok",
        GqlValue::Boolean(true),
    )]))))
}

/// A stable identifier for a link between two nodes.
fn link_id(identifier: &str, a: NodeId, b: NodeId) -> String {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    hasher.update(identifier.as_bytes());
    hasher.update(a.as_bytes());
    hasher.update(b.as_bytes());
    let digest: [u8; 16] = hasher.finalize().into();
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .to_string()
}

async fn relationships<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let engine = &request.state.engine;
    let identifiers: BTreeSet<String> = match to_json(ctx.args.try_get("ids")?.as_value()) {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    };
    let excluded: BTreeSet<String> = ctx
        .args
        .get("excluded_namespaces")
        .map(|v| match to_json(v.as_value()) {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => BTreeSet::new(),
        })
        .unwrap_or_default();
    let offset = ctx
        .args
        .get("offset")
        .and_then(|v| v.u64().ok())
        .unwrap_or(0) as usize;
    let limit = ctx
        .args
        .get("limit")
        .and_then(|v| v.u64().ok())
        .unwrap_or(10) as usize;
    // Every link with one of the identifiers, seen from the nodes of each kind that declares
    // it; each link once, from its outbound (or first) side.
    let mut links: BTreeMap<(String, NodeId, NodeId), (String, String)> = BTreeMap::new();
    let page = request.state.engine.options().query_size_limit.max(1);
    for model in request
        .schema
        .models()
        .filter(|m| m.is_node() && !excluded.contains(&m.namespace))
    {
        for relationship in model
            .relationships
            .iter()
            .filter(|r| identifiers.contains(r.identifier()))
        {
            let fields = Fields {
                attributes: Some(Vec::new()),
                relationships: vec![relationship.name.clone()],
            };
            let mut offset = 0;
            loop {
                let args = QueryArgs {
                    offset,
                    limit: Some(page),
                    order_disabled: true,
                    ..QueryArgs::default()
                };
                let (nodes, _) = engine
                    .query(&request.view, &model.kind(), &args, &fields)
                    .await
                    .map_err(engine_error)?;
                let read = nodes.len();
                let peer_ids: Vec<NodeId> = nodes
                    .iter()
                    .flat_map(|n| n.peers(&relationship.name).iter().map(|p| p.id))
                    .collect();
                let kinds: BTreeMap<NodeId, String> = if peer_ids.is_empty() {
                    BTreeMap::new()
                } else {
                    engine
                        .get_any(&request.view, &peer_ids, &Fields::minimal())
                        .await
                        .map_err(engine_error)?
                        .into_iter()
                        .map(|n| (n.id, n.kind))
                        .collect()
                };
                for node in &nodes {
                    for peer in node.peers(&relationship.name) {
                        let Some(peer_kind) = kinds.get(&peer.id) else {
                            continue;
                        };
                        let peer_namespace =
                            request.schema.get(peer_kind).map(|m| m.namespace.as_str());
                        if peer_namespace.is_some_and(|ns| excluded.contains(ns)) {
                            continue;
                        }
                        let inbound =
                            relationship.direction == infrahub_core::schema::Direction::Inbound;
                        let (source, destination) = if inbound {
                            ((peer.id, peer_kind.clone()), (node.id, node.kind.clone()))
                        } else {
                            ((node.id, node.kind.clone()), (peer.id, peer_kind.clone()))
                        };
                        let key = (
                            relationship.identifier().to_string(),
                            source.0.min(destination.0),
                            source.0.max(destination.0),
                        );
                        links.entry(key).or_insert((
                            format!("{}|{}", source.0, source.1),
                            format!("{}|{}", destination.0, destination.1),
                        ));
                    }
                }
                if read < page {
                    break;
                }
                offset += page;
            }
        }
    }
    let count = links.len();
    let edges: Vec<GqlValue> = links
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|((identifier, a, b), (source, destination))| {
            let peer = |text: &str| {
                let (id, kind) = text.split_once('|').unwrap_or((text, ""));
                object_value(vec![
                    ("id", GqlValue::String(id.to_string())),
                    ("kind", GqlValue::String(kind.to_string())),
                ])
            };
            object_value(vec![(
                "node",
                object_value(vec![
                    ("id", GqlValue::String(link_id(&identifier, a, b))),
                    ("identifier", GqlValue::String(identifier)),
                    (
                        "peers",
                        GqlValue::List(vec![peer(&source), peer(&destination)]),
                    ),
                ]),
            )])
        })
        .collect();
    Ok(Some(FieldValue::value(object_value(vec![
        ("count", GqlValue::from(count as u64)),
        ("edges", GqlValue::List(edges)),
    ]))))
}

/// `DiffTree`, `DiffTreeSummary`, `DiffUpdate` and `ResolveDiffConflict`.
fn register_diff(
    mut builder: SchemaBuilder,
    mut query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    use async_graphql::dynamic::Enum;
    let int = || TypeRef::named(TypeRef::INT);
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let date = || TypeRef::named(super::build::DATE_TIME);
    let date_nn = || TypeRef::named_nn(super::build::DATE_TIME);
    let action = || TypeRef::named_nn("DiffAction");
    let counts = |mut fields: Vec<(&'static str, TypeRef)>| {
        fields.extend([
            ("num_added", int()),
            ("num_updated", int()),
            ("num_removed", int()),
            ("num_conflicts", int()),
        ]);
        fields
    };
    builder = builder
        .register(Enum::new("DiffAction").items(["ADDED", "REMOVED", "UPDATED", "UNCHANGED"]))
        .register(Enum::new("ConflictSelection").items(["BASE_BRANCH", "DIFF_BRANCH"]))
        .register(Enum::new("RelationshipCardinality").items(["ONE", "MANY"]))
        .register(value_object(
            "ConflictDetails",
            &[
                ("uuid", string_nn()),
                ("base_branch_action", action()),
                ("base_branch_value", string()),
                ("base_branch_changed_at", date_nn()),
                ("base_branch_label", string()),
                ("diff_branch_action", action()),
                ("diff_branch_value", string()),
                ("diff_branch_changed_at", date_nn()),
                ("diff_branch_label", string()),
                ("selected_branch", TypeRef::named("ConflictSelection")),
                ("resolvable", TypeRef::named(TypeRef::BOOLEAN)),
            ],
        ))
        .register(value_object(
            "DiffProperty",
            &[
                ("property_type", string_nn()),
                ("last_changed_at", date_nn()),
                ("previous_value", string()),
                ("new_value", string()),
                ("previous_label", string()),
                ("new_label", string()),
                ("status", action()),
                ("path_identifier", string_nn()),
                ("conflict", TypeRef::named("ConflictDetails")),
            ],
        ))
        .register(value_object(
            "DiffSingleRelationship",
            &counts(vec![
                ("last_changed_at", date()),
                ("status", action()),
                ("peer_id", string_nn()),
                ("peer_label", string()),
                ("path_identifier", string_nn()),
                ("contains_conflict", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("conflict", TypeRef::named("ConflictDetails")),
                ("properties", TypeRef::named_nn_list("DiffProperty")),
            ]),
        ))
        .register(value_object(
            "DiffRelationship",
            &counts(vec![
                ("name", string_nn()),
                ("label", string()),
                ("last_changed_at", date()),
                ("cardinality", TypeRef::named_nn("RelationshipCardinality")),
                ("status", action()),
                ("path_identifier", string_nn()),
                (
                    "elements",
                    TypeRef::named_nn_list_nn("DiffSingleRelationship"),
                ),
                ("contains_conflict", TypeRef::named_nn(TypeRef::BOOLEAN)),
            ]),
        ))
        .register(value_object(
            "DiffAttribute",
            &counts(vec![
                ("name", string_nn()),
                ("last_changed_at", date_nn()),
                ("status", action()),
                ("path_identifier", string_nn()),
                ("properties", TypeRef::named_nn_list("DiffProperty")),
                ("contains_conflict", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("conflict", TypeRef::named("ConflictDetails")),
            ]),
        ))
        .register(value_object(
            "DiffNodeParent",
            &[
                ("uuid", string_nn()),
                ("kind", string()),
                ("relationship_name", string()),
            ],
        ))
        .register(value_object(
            "DiffNode",
            &counts(vec![
                ("uuid", string_nn()),
                ("kind", string_nn()),
                ("label", string_nn()),
                ("status", action()),
                ("path_identifier", string_nn()),
                ("conflict", TypeRef::named("ConflictDetails")),
                ("contains_conflict", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("last_changed_at", date()),
                ("parent", TypeRef::named("DiffNodeParent")),
                ("attributes", TypeRef::named_nn_list_nn("DiffAttribute")),
                (
                    "relationships",
                    TypeRef::named_nn_list_nn("DiffRelationship"),
                ),
            ]),
        ))
        .register(value_object(
            "DiffTree",
            &counts(vec![
                ("base_branch", string_nn()),
                ("diff_branch", string_nn()),
                ("from_time", date_nn()),
                ("to_time", date_nn()),
                ("num_untracked_base_changes", int()),
                ("num_untracked_diff_changes", int()),
                ("name", string()),
                ("nodes", TypeRef::named_nn_list("DiffNode")),
            ]),
        ))
        .register(value_object(
            "DiffTreeSummary",
            &counts(vec![
                ("base_branch", string_nn()),
                ("diff_branch", string_nn()),
                ("from_time", date_nn()),
                ("to_time", date_nn()),
                ("num_unchanged", int()),
                ("num_untracked_base_changes", int()),
                ("num_untracked_diff_changes", int()),
            ]),
        ))
        .register(value_object(
            "DiffUpdateMutation",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("task", TypeRef::named("TaskInfo")),
            ],
        ))
        .register(value_object(
            "ResolveDiffConflict",
            &[("ok", TypeRef::named(TypeRef::BOOLEAN))],
        ))
        .register(
            InputObject::new("IncExclFilterOptions")
                .field(InputValue::new(
                    "includes",
                    TypeRef::named_list(TypeRef::STRING),
                ))
                .field(InputValue::new(
                    "excludes",
                    TypeRef::named_list(TypeRef::STRING),
                )),
        )
        .register(
            InputObject::new("IncExclFilterStatusOptions")
                .field(InputValue::new(
                    "includes",
                    TypeRef::named_list("DiffAction"),
                ))
                .field(InputValue::new(
                    "excludes",
                    TypeRef::named_list("DiffAction"),
                )),
        )
        .register(
            InputObject::new("DiffTreeQueryFilters")
                .field(InputValue::new("ids", TypeRef::named_list(TypeRef::STRING)))
                .field(InputValue::new(
                    "status",
                    TypeRef::named("IncExclFilterStatusOptions"),
                ))
                .field(InputValue::new(
                    "kind",
                    TypeRef::named("IncExclFilterOptions"),
                ))
                .field(InputValue::new(
                    "namespace",
                    TypeRef::named("IncExclFilterOptions"),
                )),
        )
        .register(
            InputObject::new("DiffUpdateInput")
                .field(InputValue::new("branch", string_nn()))
                .field(InputValue::new("name", string()))
                .field(InputValue::new("from_time", date()))
                .field(InputValue::new("to_time", date()))
                .field(InputValue::new(
                    "wait_for_completion",
                    TypeRef::named(TypeRef::BOOLEAN),
                )),
        )
        .register(
            InputObject::new("ResolveDiffConflictInput")
                .field(InputValue::new("conflict_id", string()))
                .field(InputValue::new(
                    "selected_branch",
                    TypeRef::named("ConflictSelection"),
                )),
        );
    let tree_arguments = |field: Field, paged: bool| {
        let mut field = field
            .argument(InputValue::new("name", string()))
            .argument(InputValue::new("branch", string()))
            .argument(InputValue::new("from_time", date()))
            .argument(InputValue::new("to_time", date()))
            .argument(InputValue::new(
                "filters",
                TypeRef::named("DiffTreeQueryFilters"),
            ));
        if paged {
            field = field
                .argument(InputValue::new(
                    "root_node_uuids",
                    TypeRef::named_list(TypeRef::STRING),
                ))
                .argument(InputValue::new(
                    "include_parents",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .argument(InputValue::new("limit", int()))
                .argument(InputValue::new("offset", int()));
        }
        field
    };
    query = query
        .field(tree_arguments(
            Field::new("DiffTree", TypeRef::named("DiffTree"), |ctx| {
                FieldFuture::new(async move { diff_tree(ctx, false).await })
            }),
            true,
        ))
        .field(tree_arguments(
            Field::new(
                "DiffTreeSummary",
                TypeRef::named("DiffTreeSummary"),
                |ctx| FieldFuture::new(async move { diff_tree(ctx, true).await }),
            ),
            false,
        ));
    mutation = mutation
        .field(
            Field::new("DiffUpdate", TypeRef::named("DiffUpdateMutation"), |ctx| {
                FieldFuture::new(async move { diff_update(ctx).await })
            })
            .argument(InputValue::new("context", TypeRef::named("ContextInput")))
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("DiffUpdateInput"),
            ))
            .argument(InputValue::new(
                "wait_until_completion",
                TypeRef::named(TypeRef::BOOLEAN),
            )),
        )
        .field(
            Field::new(
                "ResolveDiffConflict",
                TypeRef::named("ResolveDiffConflict"),
                |ctx| FieldFuture::new(async move { resolve_conflict(ctx).await }),
            )
            .argument(InputValue::new("context", TypeRef::named("ContextInput")))
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("ResolveDiffConflictInput"),
            )),
        );
    (builder, query, mutation)
}

fn optional_time(
    ctx: &ResolverContext<'_>,
    name: &str,
) -> Result<Option<infrahub_graph::Timestamp>, Error> {
    match ctx.args.get(name).map(|v| to_json(v.as_value())) {
        Some(Value::String(text)) => infrahub_graph::Timestamp::parse(&text)
            .map(Some)
            .map_err(|e| Error::new(format!("`{name}`: {e}"))),
        _ => Ok(None),
    }
}

/// Whether a node of a diff passes `DiffTreeQueryFilters`.
fn passes_diff_filters(node: &Value, filters: &Value) -> bool {
    let list = |value: Option<&Value>| -> Option<Vec<String>> {
        value.and_then(Value::as_array).map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
    };
    if let Some(ids) = list(filters.get("ids"))
        && !ids.is_empty()
        && !node["uuid"]
            .as_str()
            .is_some_and(|id| ids.iter().any(|i| i == id))
    {
        return false;
    }
    let check = |filter: Option<&Value>, value: &str| -> bool {
        let Some(filter) = filter else {
            return true;
        };
        if let Some(includes) = list(filter.get("includes"))
            && !includes.is_empty()
            && !includes.iter().any(|i| i == value)
        {
            return false;
        }
        if let Some(excludes) = list(filter.get("excludes"))
            && excludes.iter().any(|e| e == value)
        {
            return false;
        }
        true
    };
    let kind = node["kind"].as_str().unwrap_or_default();
    let namespace: String = kind
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_uppercase())
        .map_or_else(|| kind.to_string(), |(i, _)| kind[..i].to_string());
    check(
        filters.get("status"),
        node["status"].as_str().unwrap_or_default(),
    ) && check(filters.get("kind"), kind)
        && check(filters.get("namespace"), &namespace)
}

async fn diff_tree<'a>(
    ctx: ResolverContext<'a>,
    summary: bool,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let engine = &request.state.engine;
    let branch = ctx
        .args
        .get("branch")
        .and_then(|v| v.string().ok().map(str::to_string))
        .unwrap_or_else(|| request.view.branch.clone());
    if branch == engine.default_branch() {
        return Ok(None);
    }
    let name = ctx
        .args
        .get("name")
        .and_then(|v| v.string().ok().map(str::to_string));
    let tree = engine
        .diff_tree(
            &branch,
            name.as_deref(),
            optional_time(&ctx, "from_time")?,
            optional_time(&ctx, "to_time")?,
        )
        .await
        .map_err(engine_error)?;
    let Some(tree) = tree else {
        return Ok(None);
    };
    let mut value = serde_json::to_value(&tree).map_err(|e| Error::new(e.to_string()))?;
    let filters = ctx
        .args
        .get("filters")
        .map(|v| to_json(v.as_value()))
        .unwrap_or(Value::Null);
    let roots: Vec<String> = match ctx
        .args
        .get("root_node_uuids")
        .map(|v| to_json(v.as_value()))
    {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(Value::Array(nodes)) = value.get_mut("nodes") {
        nodes.retain(|node| {
            (filters.is_null() || passes_diff_filters(node, &filters))
                && (roots.is_empty()
                    || node["uuid"]
                        .as_str()
                        .is_some_and(|id| roots.iter().any(|r| r == id)))
        });
        let offset = ctx
            .args
            .get("offset")
            .and_then(|v| v.u64().ok())
            .unwrap_or(0) as usize;
        let limit = ctx
            .args
            .get("limit")
            .and_then(|v| v.u64().ok())
            .map(|l| l as usize);
        let kept: Vec<Value> = nodes
            .drain(..)
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        *nodes = kept;
    }
    if summary && let Value::Object(map) = &mut value {
        map.shift_remove("nodes");
        map.shift_remove("name");
        map.insert("num_unchanged".into(), Value::from(0));
    }
    Ok(Some(FieldValue::value(to_gql(&value))))
}

async fn diff_update<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
    let branch = text("branch").ok_or_else(|| Error::new("`data.branch` is required"))?;
    let time = |key: &str| -> Result<Option<infrahub_graph::Timestamp>, Error> {
        text(key)
            .map(|t| {
                infrahub_graph::Timestamp::parse(&t)
                    .map_err(|e| Error::new(format!("`{key}`: {e}")))
            })
            .transpose()
    };
    request
        .state
        .engine
        .update_diff(
            &branch,
            text("name").as_deref(),
            time("from_time")?,
            time("to_time")?,
        )
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::value(object_value(vec![(
        "ok",
        GqlValue::Boolean(true),
    )]))))
}

async fn resolve_conflict<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let conflict = data
        .get("conflict_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("`data.conflict_id` is required"))?;
    let base = match data.get("selected_branch").and_then(Value::as_str) {
        Some("BASE_BRANCH") => true,
        Some("DIFF_BRANCH") => false,
        _ => {
            return Err(Error::new(
                "`data.selected_branch` must be BASE_BRANCH or DIFF_BRANCH",
            ));
        }
    };
    let engine = &request.state.engine;
    let branch = engine
        .branch_of_conflict(conflict)
        .await
        .map_err(engine_error)?;
    engine
        .resolve_conflict(&branch, conflict, base)
        .await
        .map_err(engine_error)?;
    Ok(Some(FieldValue::value(object_value(vec![(
        "ok",
        GqlValue::Boolean(true),
    )]))))
}
