//! The `Branch` query and the branch mutations (create, update, delete, validate, rebase,
//! merge: done before they answer).

#[allow(clippy::wildcard_imports)]
use super::*;

/// The branch mutations: typed as upstream, answering that branch operations are not
/// available yet.
pub(super) fn register_branch_mutations(
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
pub(super) fn branch_value(branch: &BranchInfo) -> GqlValue {
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
pub(super) async fn branch_operation<'a>(
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

pub(super) async fn branches<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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
