//! `DiffTree`, `DiffTreeSummary`, `DiffUpdate` and `ResolveDiffConflict`.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `DiffTree`, `DiffTreeSummary`, `DiffUpdate` and `ResolveDiffConflict`.
pub(super) fn register_diff(
    mut builder: SchemaBuilder,
    mut query: Object,
    mut mutation: Object,
) -> (SchemaBuilder, Object, Object) {
    use async_graphql::dynamic::Enum;
    let int = || TypeRef::named(TypeRef::INT);
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let date = || TypeRef::named(super::super::build::DATE_TIME);
    let date_nn = || TypeRef::named_nn(super::super::build::DATE_TIME);
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

pub(super) fn optional_time(
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
pub(super) fn passes_diff_filters(node: &Value, filters: &Value) -> bool {
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

pub(super) async fn diff_tree<'a>(
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

pub(super) async fn diff_update<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let account = account_of(&ctx)?;
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
    let (from_time, to_time) = (time("from_time")?, time("to_time")?);
    // As upstream: in the background unless asked to wait (`wait_until_completion`, or the
    // deprecated `data.wait_for_completion`); waiting, the diff runs here and there is no task.
    let wait = ctx
        .args
        .get("wait_until_completion")
        .and_then(|v| v.boolean().ok())
        .unwrap_or(false)
        || data.get("wait_for_completion").and_then(Value::as_bool) == Some(true);
    let mut answer = vec![("ok", GqlValue::Boolean(true))];
    if wait {
        request
            .state
            .engine
            .update_diff(&branch, text("name").as_deref(), from_time, to_time)
            .await
            .map_err(engine_error)?;
    } else {
        request
            .state
            .engine
            .branch(&branch)
            .await
            .map_err(engine_error)?;
        let submission = infrahub_worker::Submission {
            workflow: infrahub_worker::workflows::DIFF_UPDATE.to_owned(),
            parameters: json!({
                "branch": branch,
                "name": text("name"),
                "from_time": from_time.map(|t| t.to_string()),
                "to_time": to_time.map(|t| t.to_string()),
            }),
            branch: Some(branch.clone()),
            account: Some(account.id.clone()),
            ..infrahub_worker::Submission::default()
        };
        if let Some(id) = super::branch::run_task(&request.state, submission, false).await? {
            answer.push(("task", object_value(vec![("id", GqlValue::String(id))])));
        }
    }
    Ok(Some(FieldValue::value(object_value(answer))))
}

pub(super) async fn resolve_conflict<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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
