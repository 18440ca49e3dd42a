//! The resource pool mutations: `InfrahubIPPrefixPoolGetResource` and
//! `InfrahubIPAddressPoolGetResource` (and upstream's deprecated names without `Infrahub`),
//! which hand out the next prefix or address of a pool, as the SDK's `allocate_next_ip_prefix`
//! and `allocate_next_ip_address` call them.

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use async_graphql::{Error, Value as GqlValue};
use infrahub_core::engine::{Allocated, PoolInput};
use serde_json::Value;

use super::super::build::{engine_error, request, to_json};
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
    mut mutation: Object,
) -> (SchemaBuilder, Object) {
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
    (builder, mutation)
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
