//! `CoreProposedChangeRunCheck(data: {id, check_type})`: runs the checks of a proposed change.
//! This server runs the user checks (`check_type: USER`, task
//! `proposed-changed-user-checks`); the other kinds belong to the proposed-change pipeline,
//! which it does not have yet, and are refused saying so.

#[allow(clippy::wildcard_imports)]
use super::*;

use async_graphql::dynamic::Enum;

/// The check types of upstream's `CheckType` enum.
const CHECK_TYPES: [&str; 8] = [
    "ARTIFACT",
    "DATA",
    "GENERATOR",
    "REPOSITORY",
    "SCHEMA",
    "TEST",
    "USER",
    "ALL",
];

/// Registers the mutation and its types.
pub(super) fn register_proposed_change(
    builder: SchemaBuilder,
    mutation: Object,
) -> (SchemaBuilder, Object) {
    let builder = builder
        .register(Enum::new("CheckType").items(CHECK_TYPES))
        .register(
            InputObject::new("ProposedChangeRequestRunCheckInput")
                .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("check_type", TypeRef::named("CheckType"))),
        )
        .register(value_object(
            "ProposedChangeRequestRunCheck",
            &[("ok", TypeRef::named(TypeRef::BOOLEAN))],
        ));
    let mutation = mutation.field(
        Field::new(
            "CoreProposedChangeRunCheck",
            TypeRef::named("ProposedChangeRequestRunCheck"),
            |ctx| FieldFuture::new(async move { run_check(ctx).await }),
        )
        .argument(InputValue::new("context", TypeRef::named("ContextInput")))
        .argument(InputValue::new(
            "data",
            TypeRef::named_nn("ProposedChangeRequestRunCheckInput"),
        )),
    );
    (builder, mutation)
}

async fn run_check<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("data.id is required"))?;
    let check_type = data
        .get("check_type")
        .and_then(Value::as_str)
        .unwrap_or("ALL");
    if check_type != "USER" {
        return Err(Error::new(format!(
            "check_type {check_type} is not run by this server yet: only USER checks are (the other checks belong to the proposed-change pipeline, not built yet)"
        )));
    }
    let view = BranchView::now(request.state.engine.default_branch());
    let proposed = request
        .state
        .engine
        .find(&view, "CoreProposedChange", id, &Fields::minimal())
        .await
        .map_err(engine_error)?
        .ok_or_else(|| Error::new(format!("proposed change `{id}` not found")))?;
    let mut submission =
        infrahub_worker::workflows::user_checks_submission(&proposed.id.to_string());
    submission.account = Some(account.id.clone());
    request
        .state
        .tasks
        .submit(submission)
        .await
        .map_err(|e| Error::new(format!("submitting the checks: {e}")))?;
    Ok(Some(FieldValue::value(object_value(vec![(
        "ok",
        GqlValue::Boolean(true),
    )]))))
}
