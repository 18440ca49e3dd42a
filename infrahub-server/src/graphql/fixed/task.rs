//! `InfrahubTask`, `InfrahubTaskBranchStatus` and the task mutations (`InfrahubTaskCancel`,
//! `InfrahubTaskRetry`), in upstream's shapes.

#[allow(clippy::wildcard_imports)]
use super::*;

use async_graphql::dynamic::{Enum, Interface, InterfaceField};
use infrahub_worker::{
    MAX_PAGE, TaskFilter, TaskRecord, TaskState, TaskStore, can_cancel, can_retry,
};

/// The workflow whose tasks are `WebhookDeliveryTask`s.
const WEBHOOK_SEND: &str = "webhook-send";
/// Log lines per task when `log_limit` is not given.
const DEFAULT_LOG_LIMIT: usize = 1_000;

/// The fields every task type has (the `TaskNode` interface).
fn task_fields() -> Vec<(&'static str, TypeRef)> {
    vec![
        ("id", TypeRef::named_nn(TypeRef::STRING)),
        ("title", TypeRef::named_nn(TypeRef::STRING)),
        ("conclusion", TypeRef::named_nn(TypeRef::STRING)),
        ("state", TypeRef::named("TaskState")),
        ("progress", TypeRef::named(TypeRef::FLOAT)),
        ("workflow", TypeRef::named(TypeRef::STRING)),
        ("branch", TypeRef::named(TypeRef::STRING)),
        ("created_at", TypeRef::named_nn(TypeRef::STRING)),
        ("updated_at", TypeRef::named_nn(TypeRef::STRING)),
        ("parameters", TypeRef::named("GenericScalar")),
        ("tags", TypeRef::named_list(TypeRef::STRING)),
        ("start_time", TypeRef::named(TypeRef::STRING)),
        ("related_node", TypeRef::named(TypeRef::STRING)),
        ("related_node_kind", TypeRef::named(TypeRef::STRING)),
        ("related_nodes", TypeRef::named_list("TaskRelatedNode")),
        ("logs", TypeRef::named("TaskLogEdge")),
        ("available_actions", TypeRef::named_list_nn("TaskAction")),
        ("error", TypeRef::named("TaskError")),
    ]
}

/// Registers the task types, queries and mutations.
pub(super) fn register_tasks(
    mut builder: SchemaBuilder,
    mut query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    let mut interface = Interface::new("TaskNode");
    for (name, ty) in task_fields() {
        interface = interface.field(InterfaceField::new(name, ty));
    }
    let mut webhook_fields = task_fields();
    webhook_fields.push(("http_request", TypeRef::named("TaskHttpRequest")));
    webhook_fields.push(("http_response", TypeRef::named("TaskHttpResponse")));
    builder = builder
        .register(Enum::new("TaskState").items(TaskState::ALL.map(TaskState::as_str)))
        .register(value_object(
            "TaskRelatedNode",
            &[
                ("id", TypeRef::named_nn(TypeRef::STRING)),
                ("kind", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "TaskLog",
            &[
                ("id", TypeRef::named(TypeRef::STRING)),
                ("message", TypeRef::named_nn(TypeRef::STRING)),
                ("severity", TypeRef::named_nn(TypeRef::STRING)),
                ("task_id", TypeRef::named_nn(TypeRef::STRING)),
                ("timestamp", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "TaskLogNodes",
            &[("node", TypeRef::named("TaskLog"))],
        ))
        .register(value_object(
            "TaskLogEdge",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                ("edges", TypeRef::named_nn_list_nn("TaskLogNodes")),
            ],
        ))
        .register(value_object(
            "TaskAction",
            &[
                ("action", TypeRef::named_nn(TypeRef::STRING)),
                ("available", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("unavailability_reason", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "TaskError",
            &[
                ("status_class", TypeRef::named_nn(TypeRef::STRING)),
                ("message", TypeRef::named_nn(TypeRef::STRING)),
                ("remediation", TypeRef::named(TypeRef::STRING)),
            ],
        ))
        .register(value_object(
            "TaskHttpRequest",
            &[
                ("url", TypeRef::named_nn(TypeRef::STRING)),
                ("headers", TypeRef::named("GenericScalar")),
            ],
        ))
        .register(value_object(
            "TaskHttpResponse",
            &[
                ("status_code", TypeRef::named(TypeRef::INT)),
                ("body", TypeRef::named(TypeRef::STRING)),
                ("latency_ms", TypeRef::named(TypeRef::FLOAT)),
            ],
        ))
        .register(interface)
        .register(value_object("StandardTask", &task_fields()).implement("TaskNode"))
        .register(value_object("WebhookDeliveryTask", &webhook_fields).implement("TaskNode"))
        .register(task_nodes())
        .register(value_object(
            "Tasks",
            &[
                ("count", TypeRef::named_nn(TypeRef::INT)),
                ("edges", TypeRef::named_nn_list_nn("TaskNodes")),
            ],
        ))
        .register(
            InputObject::new("InfrahubTaskIdInput")
                .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING))),
        )
        .register(value_object(
            "InfrahubTaskAction",
            &[
                ("ok", TypeRef::named(TypeRef::BOOLEAN)),
                ("task", TypeRef::named("TaskInfo")),
            ],
        ));
    let list = |name: &str| InputValue::new(name, TypeRef::named_list(TypeRef::STRING));
    query = query
        .field(
            Field::new("InfrahubTask", TypeRef::named_nn("Tasks"), |ctx| {
                FieldFuture::new(async move { tasks(ctx, false).await })
            })
            .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
            .argument(list("ids"))
            .argument(InputValue::new("branch", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("state", TypeRef::named_list("TaskState")))
            .argument(list("workflow"))
            .argument(list("related_node__ids"))
            .argument(InputValue::new("q", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("since", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("until", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("log_limit", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("log_offset", TypeRef::named(TypeRef::INT))),
        )
        .field(
            Field::new(
                "InfrahubTaskBranchStatus",
                TypeRef::named_nn("Tasks"),
                |ctx| FieldFuture::new(async move { tasks(ctx, true).await }),
            )
            .argument(InputValue::new("branch", TypeRef::named(TypeRef::STRING))),
        );
    for name in ["InfrahubTaskCancel", "InfrahubTaskRetry"] {
        mutation = mutation.field(
            Field::new(name, TypeRef::named("InfrahubTaskAction"), move |ctx| {
                FieldFuture::new(async move { task_action(ctx, name).await })
            })
            .argument(InputValue::new("context", TypeRef::named("ContextInput")))
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("InfrahubTaskIdInput"),
            )),
        );
    }
    (builder, query, mutation)
}

/// A non-negative integer argument, at most `max`.
fn bounded(ctx: &ResolverContext<'_>, name: &str, max: usize) -> Result<Option<usize>, Error> {
    match ctx.args.get(name) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => {
            let n = value.i64()?;
            usize::try_from(n)
                .ok()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| Error::new(format!("`{name}` must be between 0 and {max}")))
        }
    }
}

fn strings(ctx: &ResolverContext<'_>, name: &str) -> Result<Option<Vec<String>>, Error> {
    match ctx.args.get(name).map(|v| to_json(v.as_value())) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > MAX_PAGE {
                return Err(Error::new(format!(
                    "`{name}` holds at most {MAX_PAGE} values"
                )));
            }
            Ok(Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            ))
        }
        Some(Value::String(one)) => Ok(Some(vec![one])),
        Some(_) => Err(Error::new(format!("`{name}` must be a list of strings"))),
    }
}

async fn tasks<'a>(
    ctx: ResolverContext<'a>,
    branch_status: bool,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let store = request.state.tasks.store();
    let branch = ctx
        .args
        .get("branch")
        .and_then(|v| v.string().ok().map(str::to_owned));
    let (filter, offset, limit) = if branch_status {
        let filter = TaskFilter {
            states: Some(
                TaskState::ALL
                    .into_iter()
                    .filter(|s| s.is_in_flight())
                    .collect(),
            ),
            database_change: Some(true),
            branch,
            ..TaskFilter::default()
        };
        (filter, 0, MAX_PAGE)
    } else {
        let states = match ctx.args.get("state").map(|v| to_json(v.as_value())) {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::parse::<TaskState>)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::new(e.to_string()))?,
            ),
            Some(Value::String(one)) => {
                Some(vec![one.parse().map_err(|e: infrahub_worker::Error| {
                    Error::new(e.to_string())
                })?])
            }
            _ => None,
        };
        let filter = TaskFilter {
            ids: strings(&ctx, "ids")?,
            states,
            workflows: strings(&ctx, "workflow")?,
            branch,
            // As upstream, only the first related node id is used.
            related_node: strings(&ctx, "related_node__ids")?
                .and_then(|ids| ids.into_iter().next()),
            q: ctx
                .args
                .get("q")
                .and_then(|v| v.string().ok().map(str::to_owned))
                .filter(|q| !q.is_empty()),
            // Ours: tasks created at or after `since`, before `until` (ISO-8601).
            since: super::diff::optional_time(&ctx, "since")?,
            until: super::diff::optional_time(&ctx, "until")?,
            ..TaskFilter::default()
        };
        let offset = bounded(&ctx, "offset", usize::MAX)?.unwrap_or(0);
        let limit = bounded(&ctx, "limit", MAX_PAGE)?.unwrap_or(10);
        (filter, offset, limit)
    };
    let log_limit = bounded(&ctx, "log_limit", MAX_PAGE)?.unwrap_or(DEFAULT_LOG_LIMIT);
    let log_offset = bounded(&ctx, "log_offset", usize::MAX)?.unwrap_or(0);
    let wants_logs = ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field("logs")
        .exists();
    let page = store
        .list(&filter, offset, limit)
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    let mut edges = Vec::with_capacity(page.tasks.len());
    for task in &page.tasks {
        let logs = if wants_logs {
            Some(task_logs(store.as_ref(), &task.id, log_offset, log_limit).await?)
        } else {
            None
        };
        edges.push(object_value(vec![("node", task_value(task, logs))]));
    }
    Ok(Some(FieldValue::value(object_value(vec![
        (
            "count",
            GqlValue::from(i64::try_from(page.count).unwrap_or(i64::MAX)),
        ),
        ("edges", GqlValue::List(edges)),
    ]))))
}

/// `TaskNodes`: its `node` is a `StandardTask` or, for webhook deliveries, a
/// `WebhookDeliveryTask`.
fn task_nodes() -> Object {
    Object::new("TaskNodes").field(Field::new("node", TypeRef::named("TaskNode"), |ctx| {
        let node = match ctx.parent_value.as_value() {
            Some(GqlValue::Object(map)) => map.get("node").cloned(),
            _ => None,
        };
        FieldFuture::Value(node.map(|node| {
            let webhook = matches!(&node, GqlValue::Object(map)
                if map.get("workflow") == Some(&GqlValue::String(WEBHOOK_SEND.to_owned())));
            FieldValue::value(node).with_type(if webhook {
                "WebhookDeliveryTask"
            } else {
                "StandardTask"
            })
        }))
    }))
}

async fn task_logs(
    store: &dyn TaskStore,
    id: &str,
    offset: usize,
    limit: usize,
) -> Result<GqlValue, Error> {
    let page = store
        .logs(id, offset, limit)
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    let edges = page
        .logs
        .into_iter()
        .map(|log| {
            object_value(vec![(
                "node",
                object_value(vec![
                    (
                        "id",
                        GqlValue::String(format!("{}:{}", log.task_id, log.index)),
                    ),
                    ("message", GqlValue::String(log.message)),
                    (
                        "severity",
                        GqlValue::String(log.severity.as_str().to_owned()),
                    ),
                    ("task_id", GqlValue::String(log.task_id)),
                    ("timestamp", GqlValue::String(log.timestamp.to_string())),
                ]),
            )])
        })
        .collect();
    Ok(object_value(vec![
        (
            "count",
            GqlValue::from(i64::try_from(page.count).unwrap_or(i64::MAX)),
        ),
        ("edges", GqlValue::List(edges)),
    ]))
}

fn optional_string(value: Option<String>) -> GqlValue {
    value.map_or(GqlValue::Null, GqlValue::String)
}

/// A task in the `TaskNode` shape (`logs` only when asked for).
fn task_value(task: &TaskRecord, logs: Option<GqlValue>) -> GqlValue {
    let action = |name: &str, available: bool, reason: &str| {
        object_value(vec![
            ("action", GqlValue::String(name.to_owned())),
            ("available", GqlValue::Boolean(available)),
            (
                "unavailability_reason",
                if available {
                    GqlValue::Null
                } else {
                    GqlValue::String(reason.to_owned())
                },
            ),
        ])
    };
    let first = task.related_nodes.first();
    let mut fields = vec![
        ("id", GqlValue::String(task.id.clone())),
        ("title", GqlValue::String(task.title.clone())),
        (
            "conclusion",
            GqlValue::String(task.state.conclusion().to_owned()),
        ),
        ("state", GqlValue::Enum(Name::new(task.state.as_str()))),
        (
            "progress",
            task.progress.map_or(GqlValue::Null, GqlValue::from),
        ),
        ("workflow", GqlValue::String(task.workflow.clone())),
        ("branch", optional_string(task.branch.clone())),
        ("created_at", GqlValue::String(task.created_at.to_string())),
        ("updated_at", GqlValue::String(task.updated_at.to_string())),
        ("parameters", to_gql(&task.parameters)),
        (
            "tags",
            GqlValue::List(task.tags().into_iter().map(GqlValue::String).collect()),
        ),
        (
            "start_time",
            optional_string(task.start_time.map(|t| t.to_string())),
        ),
        ("related_node", optional_string(first.map(|n| n.id.clone()))),
        (
            "related_node_kind",
            optional_string(first.map(|n| n.kind.clone())),
        ),
        (
            "related_nodes",
            GqlValue::List(
                task.related_nodes
                    .iter()
                    .map(|n| {
                        object_value(vec![
                            ("id", GqlValue::String(n.id.clone())),
                            ("kind", GqlValue::String(n.kind.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "available_actions",
            GqlValue::List(vec![
                action(
                    "RETRY",
                    can_retry(task.state),
                    "only a failed, cancelled or crashed task can be retried",
                ),
                action(
                    "CANCEL",
                    can_cancel(task.state),
                    "the task has finished or is being cancelled",
                ),
            ]),
        ),
        (
            "error",
            match (&task.error, task.state) {
                (Some(message), TaskState::Failed | TaskState::Crashed) => object_value(vec![
                    ("status_class", GqlValue::String("failed".to_owned())),
                    ("message", GqlValue::String(message.clone())),
                    ("remediation", GqlValue::Null),
                ]),
                _ => GqlValue::Null,
            },
        ),
    ];
    if let Some(logs) = logs {
        fields.push(("logs", logs));
    }
    object_value(fields)
}

async fn task_action<'a>(
    ctx: ResolverContext<'a>,
    name: &'static str,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    account_of(&ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("`data.id` is required"))?;
    let runtime = &request.state.tasks;
    let task = if name == "InfrahubTaskCancel" {
        runtime.cancel(id).await
    } else {
        runtime.retry(id).await
    }
    .map_err(|e| Error::new(e.to_string()))?;
    Ok(Some(FieldValue::value(object_value(vec![
        ("ok", GqlValue::Boolean(true)),
        (
            "task",
            object_value(vec![("id", GqlValue::String(task.id))]),
        ),
    ]))))
}
