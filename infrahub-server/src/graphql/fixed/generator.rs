//! `CoreGeneratorDefinitionRun(data: {id, nodes}, wait_until_completion)`: runs a generator
//! definition on its targets (or only on `nodes`) as task `request-generator-definition-run`,
//! waiting for it (the default) or answering `task { id }` at once, as upstream.

#[allow(clippy::wildcard_imports)]
use super::*;

use super::branch::run_task;

/// The most targets one request may name.
const MAX_NODES: usize = 10_000;

/// Registers the mutation and its types.
pub(super) fn register_generator(
    builder: SchemaBuilder,
    mutation: Object,
) -> (SchemaBuilder, Object) {
    let builder = builder
        .register(
            InputObject::new("GeneratorDefinitionRequestRunInput")
                .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new(
                    "nodes",
                    TypeRef::List(Box::new(TypeRef::named_nn(TypeRef::STRING))),
                )),
        )
        .register(value_object(
            "GeneratorDefinitionRequestRun",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("task", TypeRef::named("TaskInfo")),
            ],
        ));
    let mutation = mutation.field(
        Field::new(
            "CoreGeneratorDefinitionRun",
            TypeRef::named("GeneratorDefinitionRequestRun"),
            |ctx| FieldFuture::new(async move { run_generator(ctx).await }),
        )
        .argument(InputValue::new("context", TypeRef::named("ContextInput")))
        .argument(InputValue::new(
            "data",
            TypeRef::named_nn("GeneratorDefinitionRequestRunInput"),
        ))
        .argument(InputValue::new(
            "wait_until_completion",
            TypeRef::named(TypeRef::BOOLEAN),
        )),
    );
    (builder, mutation)
}

async fn run_generator<'a>(ctx: ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("data.id is required"))?;
    let nodes: Option<Vec<String>> = match data.get("nodes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.len() > MAX_NODES {
                return Err(Error::new(format!(
                    "data.nodes: at most {MAX_NODES} targets per request"
                )));
            }
            Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            )
        }
        Some(_) => return Err(Error::new("data.nodes must be a list of node ids")),
    };
    let definition = request
        .state
        .engine
        .find(
            &request.view,
            "CoreGeneratorDefinition",
            id,
            &Fields {
                attributes: Some(vec!["name".to_owned()]),
                relationships: Vec::new(),
            },
        )
        .await
        .map_err(engine_error)?
        .ok_or_else(|| {
            Error::new(format!(
                "generator definition `{id}` not found on branch {}",
                request.view.branch
            ))
        })?;
    let name = definition.value("name").as_str().map(str::to_owned);
    let mut submission = infrahub_worker::workflows::generator_submission(
        &definition.id.to_string(),
        name.as_deref(),
        &request.view.branch,
        nodes,
    );
    submission.account = Some(account.id.clone());
    let wait = ctx
        .args
        .get("wait_until_completion")
        .and_then(|v| v.boolean().ok())
        .unwrap_or(true);
    let task = run_task(&request.state, submission, wait).await?;
    let mut answer = vec![("ok", GqlValue::Boolean(true))];
    if let Some(id) = task {
        answer.push(("task", object_value(vec![("id", GqlValue::String(id))])));
    }
    Ok(Some(FieldValue::value(object_value(answer))))
}
