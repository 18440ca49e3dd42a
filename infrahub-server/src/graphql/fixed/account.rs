//! The current account: `AccountProfile`, `InfrahubAccountToken` and the token mutations.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The account the request acts as, or an error for anonymous requests.
pub(super) fn account_of<'a>(
    ctx: &ResolverContext<'a>,
) -> Result<&'a crate::account::Account, Error> {
    request(ctx)?
        .account
        .as_ref()
        .ok_or_else(|| Error::new("Authentication is required to perform this operation"))
}

pub(super) async fn account_profile<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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

pub(super) async fn account_tokens<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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

pub(super) async fn token_create<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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

pub(super) async fn token_delete<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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

/// `InfrahubPermissions`: the global and object permissions the caller holds through its roles
/// (for a request without credentials, the anonymous access role's), as upstream lists them.
/// A global permission's `name` is its action (global permissions have no name of their own);
/// an object permission's `branch` is the request's branch.
pub(super) async fn permissions<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
    let request = request(&ctx)?;
    let (globals, objects) =
        crate::auth::caller_permission_nodes(&request.state, request.account.as_ref())
            .await
            .map_err(|e| Error::new(e.message()))?;
    let text = |node: &infrahub_core::engine::Node, name: &str| to_gql(node.value(name));
    let decision =
        |node: &infrahub_core::engine::Node| GqlValue::String(node.value("decision").to_string());
    let page = |nodes: Vec<GqlValue>| {
        object_value(vec![
            ("count", GqlValue::from(nodes.len())),
            (
                "edges",
                GqlValue::List(
                    nodes
                        .into_iter()
                        .map(|node| object_value(vec![("node", node)]))
                        .collect(),
                ),
            ),
        ])
    };
    let globals = globals
        .iter()
        .map(|node| {
            object_value(vec![
                ("id", GqlValue::String(node.id.to_string())),
                ("name", text(node, "action")),
                ("action", text(node, "action")),
                ("decision", decision(node)),
                ("description", text(node, "description")),
                ("identifier", text(node, "identifier")),
            ])
        })
        .collect();
    let objects = objects
        .iter()
        .map(|node| {
            object_value(vec![
                ("id", GqlValue::String(node.id.to_string())),
                ("branch", GqlValue::String(request.view.branch.clone())),
                ("namespace", text(node, "namespace")),
                ("name", text(node, "name")),
                ("action", text(node, "action")),
                ("decision", decision(node)),
                ("description", text(node, "description")),
                ("identifier", text(node, "identifier")),
            ])
        })
        .collect();
    Ok(Some(FieldValue::value(object_value(vec![
        ("global_permissions", page(globals)),
        ("object_permissions", page(objects)),
    ]))))
}
