//! What artifact definitions, generator definitions and check definitions share: reading a
//! definition, the attribute paths of its `parameters`, the members of its target group with
//! the values those paths read, and the commit of its repository.

use std::collections::{BTreeMap, HashMap};

use infrahub_core::engine::{Engine, Fields, Node};
use infrahub_graph::{BranchView, NodeId};
use serde_json::Value;

use super::engine_error;
use crate::repositories::{Repositories, RepositoryRecord};
use crate::{Error, Result};

/// The node of `kind` whose id (else name) is `id`.
pub(super) async fn one(
    engine: &Engine,
    view: &BranchView,
    kind: &str,
    id: &str,
    fields: &Fields,
) -> Result<Node> {
    engine
        .find(view, kind, id, fields)
        .await
        .map_err(|e| engine_error(&e))?
        .ok_or_else(|| {
            Error::workflow(format!("{kind} `{id}` not found on branch {}", view.branch))
        })
}

/// For parameters reading a peer (`site__name__value`), the peers' attributes by peer id.
async fn related_values(
    engine: &Engine,
    view: &BranchView,
    targets: &[Node],
    parameters: &BTreeMap<String, String>,
) -> Result<HashMap<NodeId, Node>> {
    let mut ids = Vec::new();
    for path in parameters.values() {
        let parts: Vec<&str> = path.split("__").collect();
        if parts.len() >= 3 {
            for target in targets {
                ids.extend(target.peers(parts[0]).iter().map(|p| p.id));
            }
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort();
    ids.dedup();
    let peers = engine
        .get_any(view, &ids, &Fields::default())
        .await
        .map_err(|e| engine_error(&e))?;
    Ok(peers.into_iter().map(|node| (node.id, node)).collect())
}

/// The value of attribute path `path` on `target` (`name__value`, `site__name__value`).
pub(super) fn path_value(
    target: &Node,
    path: &str,
    peers: &HashMap<NodeId, Node>,
) -> Option<Value> {
    let parts: Vec<&str> = path.split("__").collect();
    let (node, attribute, property) = match parts.as_slice() {
        [attribute] => (target, *attribute, "value"),
        [attribute, property] => (target, *attribute, *property),
        [relationship, attribute, property, ..] => {
            let peer = target.peers(relationship).first()?;
            (peers.get(&peer.id)?, *attribute, *property)
        }
        [] => return None,
    };
    let found = node.attributes.get(attribute)?;
    match property {
        "value" => Some(found.value.clone()),
        "is_protected" => Some(Value::Bool(found.is_protected)),
        "is_visible" => Some(Value::Bool(found.is_visible)),
        _ => None,
    }
}

/// The `parameters` of `definition`: variable name → attribute path on the target.
///
/// # Errors
///
/// A parameter whose value is not a string.
pub(super) fn parameter_paths(definition: &Node) -> Result<BTreeMap<String, String>> {
    let mut paths = BTreeMap::new();
    if let Some(map) = definition.value("parameters").as_object() {
        for (name, path) in map {
            let Some(path) = path.as_str() else {
                return Err(Error::workflow(format!(
                    "parameter `{name}` of the definition must be an attribute path such as `name__value`"
                )));
            };
            paths.insert(name.clone(), path.to_owned());
        }
    }
    Ok(paths)
}

/// The nodes `members` with what `parameters` read: their attributes and the relationships the
/// paths go through, and those peers by id.
pub(super) async fn read_targets(
    engine: &Engine,
    view: &BranchView,
    members: &[NodeId],
    parameters: &BTreeMap<String, String>,
) -> Result<(Vec<Node>, HashMap<NodeId, Node>)> {
    let relationships: Vec<String> = parameters
        .values()
        .filter_map(|path| {
            let parts: Vec<&str> = path.split("__").collect();
            (parts.len() >= 3).then(|| parts[0].to_owned())
        })
        .collect();
    let targets = engine
        .get_any(
            view,
            members,
            &Fields {
                attributes: None,
                relationships,
            },
        )
        .await
        .map_err(|e| engine_error(&e))?;
    let peers = related_values(engine, view, &targets, parameters).await?;
    Ok((targets, peers))
}

/// The variables `parameters` read on `target`, and the first parameter it does not have.
pub(super) fn variables_of(
    target: &Node,
    parameters: &BTreeMap<String, String>,
    peers: &HashMap<NodeId, Node>,
) -> std::result::Result<serde_json::Map<String, Value>, Error> {
    let mut variables = serde_json::Map::new();
    for (name, path) in parameters {
        let value = path_value(target, path, peers).ok_or_else(|| {
            Error::workflow(format!(
                "parameter `{name}`: `{path}` is not a value of {}",
                target.kind
            ))
        })?;
        variables.insert(name.clone(), value);
    }
    Ok(variables)
}

/// Repository `id` as read through `view`, and the commit it imported there.
pub(super) async fn repository_commit(
    repositories: &Repositories,
    view: &BranchView,
    id: &str,
) -> Result<(RepositoryRecord, String)> {
    let record = repositories.record(view, id).await?;
    let commit = record.commit.clone().ok_or_else(|| {
        Error::workflow(format!(
            "repository `{}` has no commit on branch {} yet",
            record.name, view.branch
        ))
    })?;
    Ok((record, commit))
}
