//! The resource pool mutations: `InfrahubIPPrefixPoolGetResource` and
//! `InfrahubIPAddressPoolGetResource` (and upstream's deprecated names without `Infrahub`),
//! which hand out the next prefix or address of a pool, as the SDK's `allocate_next_ip_prefix`
//! and `allocate_next_ip_address` call them; the queries `InfrahubResourcePoolAllocated` and
//! `InfrahubResourcePoolUtilization` (the SDK's pool reports) and the IPAM helpers
//! `InfrahubIPPrefixGetNextAvailable` and `InfrahubIPAddressGetNextAvailable`.

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use async_graphql::{Error, Value as GqlValue};
use infrahub_core::engine::{Allocated, PoolInput};
use serde_json::Value;

use super::super::build::{BIG_INT, engine_error, request, to_json};
use super::super::mutation::pool_input;
use super::{object_value, value_object};

/// Which pool a mutation allocates from.
#[derive(Clone, Copy)]
enum Pool {
    Prefix,
    Address,
}

/// Registers the pool mutations and their types.
pub(super) fn register_pools(
    builder: SchemaBuilder,
    mut query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    let common = |name: &str| {
        InputObject::new(name)
            .field(
                InputValue::new("id", TypeRef::named(TypeRef::STRING))
                    .description("ID of the pool to allocate from"),
            )
            .field(
                InputValue::new("hfid", TypeRef::named_list(TypeRef::STRING))
                    .description("HFID of the pool to allocate from"),
            )
            .field(
                InputValue::new("identifier", TypeRef::named(TypeRef::STRING))
                    .description("Identifier for the allocated resource"),
            )
            .field(
                InputValue::new("prefix_length", TypeRef::named(TypeRef::INT))
                    .description("Size of the prefix (mask) to allocate"),
            )
            .field(
                InputValue::new("data", TypeRef::named("GenericScalar"))
                    .description("Additional data to pass to the newly created node"),
            )
    };
    let builder = builder
        .register(
            common("IPPrefixPoolGetResourceInput")
                .field(
                    InputValue::new("member_type", TypeRef::named(TypeRef::STRING))
                        .description("Type of members for the newly created prefix"),
                )
                .field(
                    InputValue::new("prefix_type", TypeRef::named(TypeRef::STRING))
                        .description("Kind of prefix to allocate"),
                ),
        )
        .register(
            common("IPAddressPoolGetResourceInput")
                .field(
                    InputValue::new("address_type", TypeRef::named(TypeRef::STRING))
                        .description("Kind of IP address to allocate"),
                )
                // The SDK sends the address kind under this name.
                .field(
                    InputValue::new("prefix_type", TypeRef::named(TypeRef::STRING))
                        .description("Kind of IP address to allocate (the SDK's name for it)"),
                ),
        )
        .register(value_object(
            "PoolAllocatedNode",
            &[
                ("id", TypeRef::named(TypeRef::STRING)),
                ("kind", TypeRef::named(TypeRef::STRING)),
                ("identifier", TypeRef::named(TypeRef::STRING)),
                ("display_label", TypeRef::named(TypeRef::STRING)),
                ("branch", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "IPPrefixPoolGetResource",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("node", TypeRef::named("PoolAllocatedNode")),
            ],
        ))
        .register(value_object(
            "IPAddressPoolGetResource",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("node", TypeRef::named("PoolAllocatedNode")),
            ],
        ));
    for (name, pool, deprecated) in [
        ("InfrahubIPPrefixPoolGetResource", Pool::Prefix, false),
        ("IPPrefixPoolGetResource", Pool::Prefix, true),
        ("InfrahubIPAddressPoolGetResource", Pool::Address, false),
        ("IPAddressPoolGetResource", Pool::Address, true),
    ] {
        let (output, input) = match pool {
            Pool::Prefix => ("IPPrefixPoolGetResource", "IPPrefixPoolGetResourceInput"),
            Pool::Address => ("IPAddressPoolGetResource", "IPAddressPoolGetResourceInput"),
        };
        let mut field = Field::new(name, TypeRef::named(output), move |ctx| {
            FieldFuture::new(async move { get_resource(ctx, pool).await })
        })
        .argument(InputValue::new("data", TypeRef::named_nn(input)));
        if deprecated {
            field = field.deprecation(Some("use the name prefixed with `Infrahub`"));
        }
        mutation = mutation.field(field);
    }
    let float = || TypeRef::named_nn(TypeRef::FLOAT);
    let builder = builder
        .register(value_object(
            "IPAddressGetNextAvailable",
            &[("address", TypeRef::named_nn(TypeRef::STRING))],
        ))
        .register(value_object(
            "IPPrefixGetNextAvailable",
            &[("prefix", TypeRef::named_nn(TypeRef::STRING))],
        ))
        .register(value_object(
            "PoolAllocatedEdge",
            &[("node", TypeRef::named_nn("PoolAllocatedNode"))],
        ))
        .register(value_object(
            "PoolAllocated",
            &[
                ("count", TypeRef::named_nn(BIG_INT)),
                ("edges", TypeRef::named_nn_list_nn("PoolAllocatedEdge")),
            ],
        ))
        .register(value_object(
            "IPPoolUtilizationResource",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("display_label", TypeRef::named_nn(TypeRef::STRING)),
                ("kind", TypeRef::named_nn(TypeRef::STRING)),
                ("weight", TypeRef::named_nn(BIG_INT)),
                ("utilization", float()),
                ("utilization_branches", float()),
                ("utilization_default_branch", float()),
            ],
        ))
        .register(value_object(
            "IPPrefixUtilizationEdge",
            &[("node", TypeRef::named_nn("IPPoolUtilizationResource"))],
        ))
        .register(value_object(
            "PoolUtilization",
            &[
                ("count", TypeRef::named_nn(BIG_INT)),
                ("utilization", float()),
                ("utilization_branches", float()),
                ("utilization_default_branch", float()),
                (
                    "edges",
                    TypeRef::named_nn_list_nn("IPPrefixUtilizationEdge"),
                ),
            ],
        ));
    for (name, output, address) in [
        (
            "InfrahubIPAddressGetNextAvailable",
            "IPAddressGetNextAvailable",
            true,
        ),
        (
            "InfrahubIPPrefixGetNextAvailable",
            "IPPrefixGetNextAvailable",
            false,
        ),
    ] {
        query = query.field(
            Field::new(name, TypeRef::named_nn(output), move |ctx| {
                FieldFuture::new(async move { next_available(ctx, address).await })
            })
            .argument(InputValue::new(
                "prefix_id",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .argument(InputValue::new(
                "prefix_length",
                TypeRef::named(TypeRef::INT),
            )),
        );
    }
    query = query
        .field(
            Field::new(
                "InfrahubResourcePoolAllocated",
                TypeRef::named_nn("PoolAllocated"),
                |ctx| FieldFuture::new(async move { allocated(ctx).await }),
            )
            .argument(InputValue::new(
                "pool_id",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .argument(InputValue::new(
                "resource_id",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT))),
        )
        .field(
            Field::new(
                "InfrahubResourcePoolUtilization",
                TypeRef::named_nn("PoolUtilization"),
                |ctx| FieldFuture::new(async move { utilization(ctx).await }),
            )
            .argument(InputValue::new(
                "pool_id",
                TypeRef::named_nn(TypeRef::STRING),
            )),
        );
    (builder, query, mutation)
}

fn text_argument(ctx: &ResolverContext<'_>, name: &str) -> Result<String, Error> {
    Ok(ctx.args.try_get(name)?.string()?.to_string())
}

fn int_argument(ctx: &ResolverContext<'_>, name: &str) -> Result<Option<i64>, Error> {
    match ctx.args.get(name) {
        Some(value) if !value.is_null() => Ok(Some(value.i64()?)),
        _ => Ok(None),
    }
}

async fn next_available<'a>(
    ctx: ResolverContext<'a>,
    address: bool,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let prefix = text_argument(&ctx, "prefix_id")?;
    let length = int_argument(&ctx, "prefix_length")?;
    let engine = &request.state.engine;
    let branch = &request.view.branch;
    let (key, value) = if address {
        (
            "address",
            engine.next_available_address(branch, &prefix, length).await,
        )
    } else {
        (
            "prefix",
            engine.next_available_prefix(branch, &prefix, length).await,
        )
    };
    let value = value.map_err(engine_error)?;
    Ok(Some(FieldValue::value(object_value(vec![(
        key,
        GqlValue::String(value),
    )]))))
}

async fn allocated<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let pool = text_argument(&ctx, "pool_id")?;
    let resource = text_argument(&ctx, "resource_id")?;
    let limit = int_argument(&ctx, "limit")?.map(|l| l.clamp(0, 10_000) as usize);
    let offset = int_argument(&ctx, "offset")?.unwrap_or(0).max(0) as usize;
    let (count, page) = request
        .state
        .engine
        .pool_allocated(&request.view.branch, &pool, &resource, offset, limit)
        .await
        .map_err(engine_error)?;
    let edges = page
        .into_iter()
        .map(|row| {
            object_value(vec![(
                "node",
                object_value(vec![
                    ("id", GqlValue::String(row.id.to_string())),
                    ("kind", GqlValue::String(row.kind)),
                    ("display_label", GqlValue::String(row.display_label)),
                    ("branch", GqlValue::String(row.branch)),
                    (
                        "identifier",
                        row.identifier.map_or(GqlValue::Null, GqlValue::String),
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

async fn utilization<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let pool = text_argument(&ctx, "pool_id")?;
    let ((all, branches, default), rows) = request
        .state
        .engine
        .pool_utilization(&request.view.branch, &pool)
        .await
        .map_err(engine_error)?;
    let float = |value: f64| GqlValue::from(value);
    let count = rows.len() as u64;
    let edges = rows
        .into_iter()
        .map(|row| {
            object_value(vec![(
                "node",
                object_value(vec![
                    ("id", GqlValue::String(row.id.to_string())),
                    ("display_label", GqlValue::String(row.display_label)),
                    ("kind", GqlValue::String(row.kind)),
                    ("weight", GqlValue::from(row.weight)),
                    ("utilization", float(row.utilization)),
                    ("utilization_branches", float(row.utilization_branches)),
                    (
                        "utilization_default_branch",
                        float(row.utilization_default_branch),
                    ),
                ]),
            )])
        })
        .collect();
    Ok(Some(FieldValue::value(object_value(vec![
        ("count", GqlValue::from(count)),
        ("utilization", float(all)),
        ("utilization_branches", float(branches)),
        ("utilization_default_branch", float(default)),
        ("edges", GqlValue::List(edges)),
    ]))))
}

async fn get_resource<'a>(
    ctx: ResolverContext<'a>,
    pool: Pool,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let mut input: PoolInput = pool_input(Some(&data))?.unwrap_or_default();
    if let Some(member_type) = &input.member_type
        && !["prefix", "address"].contains(&member_type.as_str())
    {
        return Err(Error::new(
            "Invalid member_type value, allowed values are ['prefix', 'address']",
        ));
    }
    if matches!(pool, Pool::Address) {
        input.member_type = None;
    }
    let branch = request.view.branch.clone();
    let on_default = branch == request.state.engine.default_branch();
    let permissions = request.permissions.clone();
    // The kind created is only known once the pool is read: its create permission is
    // checked then, before anything is written.
    let check = move |kind: &str| {
        if permissions.allows_object(kind, "create", on_default) {
            Ok(())
        } else {
            Err(infrahub_core::Error::new(
                infrahub_core::ErrorKind::Forbidden,
                format!(
                    "You do not have one of the following permissions: {}",
                    infrahub_core::permissions::object_identifier(
                        kind,
                        "create",
                        infrahub_core::permissions::required_decision(on_default),
                    )
                ),
            ))
        }
    };
    let allocated = request
        .state
        .engine
        .allocate_node(&branch, &input, &check)
        .await
        .map_err(engine_error)?;
    let Allocated::Node {
        id,
        kind,
        display_label,
    } = allocated
    else {
        return Err(Error::new("the pool did not hand out a node"));
    };
    let identifier = data
        .get("identifier")
        .and_then(Value::as_str)
        .map_or(GqlValue::Null, |text| GqlValue::String(text.to_string()));
    Ok(Some(FieldValue::value(object_value(vec![
        ("ok", GqlValue::Boolean(true)),
        (
            "node",
            object_value(vec![
                ("id", GqlValue::String(id.to_string())),
                ("kind", GqlValue::String(kind)),
                ("identifier", identifier),
                ("display_label", GqlValue::String(display_label)),
                ("branch", GqlValue::String(branch)),
            ]),
        ),
    ]))))
}
