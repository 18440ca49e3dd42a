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

/// How long a mutation waits for its task (the task goes on if the client gives up first).
const WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether the mutation waits for its task: `wait_until_completion` (default true), and for
/// `BranchCreate` not the deprecated `background_execution: true`.
fn waits(ctx: &ResolverContext<'_>, default: bool) -> bool {
    let flag = |name: &str| ctx.args.get(name).and_then(|v| v.boolean().ok());
    flag("wait_until_completion").unwrap_or(default) && flag("background_execution") != Some(true)
}

/// A task error as a GraphQL error.
pub(super) fn task_error(error: &infrahub_worker::Error) -> Error {
    Error::new(error.message().to_owned())
}

/// Runs `submission` as a task: waits for it and fails with its error when `wait`, or answers
/// the task's id at once.
pub(super) async fn run_task(
    state: &crate::state::AppState,
    submission: infrahub_worker::Submission,
    wait: bool,
) -> Result<Option<String>, Error> {
    if !wait {
        let task = state
            .tasks
            .submit(submission)
            .await
            .map_err(|e| task_error(&e))?;
        return Ok(Some(task.id));
    }
    let task = state
        .tasks
        .execute(submission, WAIT)
        .await
        .map_err(|e| task_error(&e))?;
    match task.state {
        infrahub_worker::TaskState::Completed => Ok(None),
        state => {
            Err(Error::new(task.error.unwrap_or_else(|| {
                format!("the task {} ended {state}", task.id)
            })))
        }
    }
}

/// Runs a branch mutation as a task (`BranchUpdate` directly): checked here, then waited for
/// (`task` null) or submitted (`task { id }`).
pub(super) async fn branch_operation<'a>(
    ctx: ResolverContext<'a>,
    name: &'static str,
) -> Result<Option<FieldValue<'a>>, Error> {
    use infrahub_worker::workflows;
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
    let engine = &request.state.engine;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
    let branch = text("name").ok_or_else(|| Error::new("`data.name` is required"))?;
    if name == "BranchUpdate" {
        engine
            .update_branch(&branch, text("description"))
            .await
            .map_err(engine_error)?;
        return Ok(Some(FieldValue::value(object_value(vec![(
            "ok",
            GqlValue::Boolean(true),
        )]))));
    }
    let (workflow, parameters) = match name {
        "BranchCreate" => {
            infrahub_core::engine::validate_branch_name(&branch).map_err(engine_error)?;
            if engine.branch(&branch).await.is_ok() {
                return Err(Error::new(format!("The branch {branch} already exists")));
            }
            (
                workflows::BRANCH_CREATE,
                json!({
                    "name": branch,
                    "description": text("description"),
                    "sync_with_git": data.get("sync_with_git").and_then(Value::as_bool),
                    "created_by": account.id,
                }),
            )
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
            (workflows::BRANCH_DELETE, json!({"branch": branch}))
        }
        _ => {
            engine.branch(&branch).await.map_err(engine_error)?;
            let workflow = match name {
                "BranchMerge" => workflows::BRANCH_MERGE,
                "BranchRebase" => workflows::BRANCH_REBASE,
                _ => workflows::BRANCH_VALIDATE,
            };
            (workflow, json!({"branch": branch}))
        }
    };
    let wait = waits(&ctx, true);
    let submission = infrahub_worker::Submission {
        workflow: workflow.to_owned(),
        parameters,
        branch: Some(branch.clone()),
        account: Some(account.id.clone()),
        ..infrahub_worker::Submission::default()
    };
    let task = run_task(&request.state, submission, wait).await?;
    let mut answer = vec![("ok", GqlValue::Boolean(true))];
    if let Some(id) = task {
        answer.push(("task", object_value(vec![("id", GqlValue::String(id))])));
    }
    // As upstream, a submitted merge or rebase still answers the branch as it is now.
    if name != "BranchDelete"
        && let Ok(info) = engine.branch(&branch).await
    {
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
