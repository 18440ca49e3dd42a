//! The `Relationship` query: the links of relationships by identifier, between given nodes.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A stable identifier for a link between two nodes.
pub(super) fn link_id(identifier: &str, a: NodeId, b: NodeId) -> String {
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

pub(super) async fn relationships<'a>(
    ctx: ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
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
