//! `update_group=true` of `/api/query/{query}`: the nodes a stored query's answer holds are
//! recorded as the members of a `CoreGraphQLQueryGroup` of that query and its variables, and
//! the `subscribers` (the artifacts or generator instances built from the answer) are added to
//! the group's subscribers. Upstream does the same in a background message; here it happens
//! before the answer, so a caller that reads the group next sees it.
//!
//! The group is named `<query name>__<hash>`, where the hash is the MD5 of the variables as
//! the SDK's `dict_hash` writes them (ujson with sorted keys), so the names match upstream's.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use infrahub_core::engine::{
    AttributeInput, Fields, NodeInput, PeerInput, QueryArgs, RelationshipInput,
};
use infrahub_graph::{BranchView, NodeId};
use serde_json::{Map, Value, json};

use super::error::{RestError, engine_error};
use crate::app::AppState;

/// Kind of the groups recorded.
const GROUP_KIND: &str = "CoreGraphQLQueryGroup";
/// The most subscribers one request may add.
pub(super) const MAX_SUBSCRIBERS: usize = 100;
/// The most members one group records (ids beyond are left out, with a warning).
const MAX_MEMBERS: usize = 50_000;

/// Records `nodes` (the ids the answer of stored query `query_id` on `branch` with
/// `variables` holds, see [`take_member_ids`]) in the query's group and adds `subscribers`
/// to it.
pub(super) async fn record(
    state: &Arc<AppState>,
    branch: &str,
    query_id: &str,
    variables: &Map<String, Value>,
    nodes: &BTreeSet<String>,
    subscribers: &[String],
) -> Result<(), RestError> {
    let view = BranchView::now(branch);
    let (id, name, _) = super::query::find_query(state, &view, query_id).await?;
    let candidates: Vec<NodeId> = nodes
        .iter()
        .filter_map(|text| text.parse::<NodeId>().ok())
        .take(MAX_MEMBERS)
        .collect();
    // Only nodes are members: an attribute's `id`, or a value that merely looks like an id,
    // is left out.
    let members = state
        .engine
        .matching(&view, "CoreNode", &candidates, &QueryArgs::default())
        .await
        .map_err(|error| engine_error(&error))?;
    let hash = dict_hash(variables);
    let group_name = format!("{name}__{hash}");
    let existing = existing_group(state, &view, &group_name).await?;
    let mut all_subscribers: BTreeSet<String> = existing
        .as_ref()
        .map(|group| group.subscribers.clone())
        .unwrap_or_default();
    all_subscribers.extend(subscribers.iter().cloned());
    if let Some(group) = &existing {
        // The name holds the query and the variables' hash: with the same members and no
        // new subscriber the group already says all this request would write.
        let member_ids: BTreeSet<String> = members.iter().map(ToString::to_string).collect();
        if group.members == member_ids && group.subscribers == all_subscribers {
            return Ok(());
        }
    }
    let mut input = NodeInput::default();
    let plain = |value: Value| AttributeInput::value(value);
    input
        .attributes
        .insert("name".into(), plain(json!(group_name)));
    input.attributes.insert(
        "label".into(),
        plain(json!(format!("Query {name} Hash({})", &hash[..8]))),
    );
    input
        .attributes
        .insert("group_type".into(), plain(json!("internal")));
    input
        .attributes
        .insert("parameters".into(), plain(Value::Object(variables.clone())));
    input.relationships.insert(
        "query".into(),
        RelationshipInput::One(Some(PeerInput::id(id))),
    );
    input.relationships.insert(
        "members".into(),
        RelationshipInput::Many(
            members
                .iter()
                .map(|member| PeerInput::id(member.to_string()))
                .collect(),
        ),
    );
    input.relationships.insert(
        "subscribers".into(),
        RelationshipInput::Many(all_subscribers.into_iter().map(PeerInput::id).collect()),
    );
    let result = match existing {
        Some(group) => {
            input.id = Some(group.id);
            state.engine.update(branch, GROUP_KIND, input).await
        }
        None => state.engine.create(branch, GROUP_KIND, input).await,
    };
    result.map_err(|error| engine_error(&error))?;
    Ok(())
}

/// A query group as stored.
struct ExistingGroup {
    id: String,
    subscribers: BTreeSet<String>,
    members: BTreeSet<String>,
}

/// The group named `name` with its subscribers and members, when it exists.
async fn existing_group(
    state: &AppState,
    view: &BranchView,
    name: &str,
) -> Result<Option<ExistingGroup>, RestError> {
    let args = QueryArgs {
        filters: std::collections::BTreeMap::from([("name__value".to_owned(), Value::from(name))]),
        limit: Some(1),
        ..QueryArgs::default()
    };
    let fields = Fields {
        attributes: Some(vec!["name".to_owned()]),
        relationships: vec!["subscribers".to_owned(), "members".to_owned()],
    };
    let (nodes, _) = state
        .engine
        .query(view, GROUP_KIND, &args, &fields)
        .await
        .map_err(|error| engine_error(&error))?;
    let ids = |node: &infrahub_core::engine::Node, name: &str| -> BTreeSet<String> {
        node.peers(name)
            .iter()
            .map(|peer| peer.id.to_string())
            .collect()
    };
    Ok(nodes.first().map(|node| ExistingGroup {
        id: node.id.to_string(),
        subscribers: ids(node, "subscribers"),
        members: ids(node, "members"),
    }))
}

/// The alias under which [`with_member_ids`] selects the id of every node.
pub(crate) const MEMBER_ID: &str = "_infrahub_member_id";

/// `document` with `_infrahub_member_id: id` selected in every `node { ... }` selection (the
/// node of an edge, or the peer of a relationship), so that the answer names every node it
/// holds whether or not the query selects their ids, as upstream's resolvers record them;
/// `None` when it does not parse (it then fails as it is).
pub(crate) fn with_member_ids(document: &str) -> Option<String> {
    use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};
    use async_graphql::parser::{Pos, Positioned};

    fn walk(set: &Positioned<SelectionSet>, inside_node: bool, at: &mut Vec<Pos>) {
        if inside_node {
            at.push(set.pos);
        }
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    if !field.node.selection_set.node.items.is_empty() {
                        let is_node = field.node.name.node.as_str() == "node";
                        walk(&field.node.selection_set, is_node, at);
                    }
                }
                Selection::InlineFragment(inline) => walk(&inline.node.selection_set, false, at),
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    let parsed = async_graphql::parser::parse_query(document).ok()?;
    let mut at = Vec::new();
    match &parsed.operations {
        DocumentOperations::Single(operation) => {
            walk(&operation.node.selection_set, false, &mut at);
        }
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values() {
                walk(&operation.node.selection_set, false, &mut at);
            }
        }
    }
    // Fragment definitions are left alone: their type may have no `id` (the nodes they
    // are spread into have theirs selected already).
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(document.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut offsets: Vec<usize> = at
        .iter()
        .filter_map(|pos| {
            let start = *line_starts.get(pos.line.checked_sub(1)?)?;
            let line = &document[start..];
            let within = line.char_indices().nth(pos.column.checked_sub(1)?)?.0;
            let offset = start + within;
            (document[offset..].starts_with('{')).then_some(offset + 1)
        })
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    let mut rewritten = String::with_capacity(document.len() + offsets.len() * 32);
    let mut last = 0;
    for offset in offsets {
        rewritten.push_str(&document[last..offset]);
        rewritten.push_str(&format!(" {MEMBER_ID}: id "));
        last = offset;
    }
    rewritten.push_str(&document[last..]);
    Some(rewritten)
}

/// Removes the ids [`with_member_ids`] added from `value`, collecting them into `ids` (and
/// the strings under `id` keys, which are filtered to nodes later).
pub(crate) fn take_member_ids(value: &mut Value, ids: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(id)) = object.remove(MEMBER_ID) {
                ids.insert(id);
            }
            for (key, item) in object.iter_mut() {
                match item {
                    Value::String(text) if key == "id" => {
                        ids.insert(text.clone());
                    }
                    _ => take_member_ids(item, ids),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| take_member_ids(item, ids)),
        _ => {}
    }
}

/// Every string under an `id` key of an object of `value`.
#[cfg(test)]
fn collect_ids(value: &Value, ids: &mut BTreeSet<String>) {
    take_member_ids(&mut value.clone(), ids);
}

/// The SDK's `dict_hash`: the MD5 of the value as `ujson.dumps(value, sort_keys=True)`
/// writes it (no spaces, keys sorted, `/` and every non-ASCII character escaped).
pub(crate) fn dict_hash(variables: &Map<String, Value>) -> String {
    let mut text = String::new();
    ujson(&Value::Object(variables.clone()), &mut text);
    use md5::{Digest, Md5};
    Md5::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn ujson(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => ujson_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                ujson(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                ujson_string(key, out);
                out.push(':');
                ujson(&object[key], out);
            }
            out.push('}');
        }
    }
}

fn ujson_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_the_sdk_does() {
        // Both checked with infrahub_sdk.utils.dict_hash.
        let empty = Map::new();
        assert_eq!(dict_hash(&empty), "99914b932bd37a50b983c5e7c90ae93b");
        let Value::Object(variables) = json!({"name": "a/é", "b": 1, "a": [true, null]}) else {
            unreachable!()
        };
        let mut text = String::new();
        ujson(&Value::Object(variables.clone()), &mut text);
        assert_eq!(text, r#"{"a":[true,null],"b":1,"name":"a\/\u00e9"}"#);
        assert_eq!(dict_hash(&variables), "1f1401ba233cf296e0eb6a5293c4fbab");
    }

    #[test]
    fn collects_ids_at_any_depth() {
        let mut ids = BTreeSet::new();
        collect_ids(
            &json!({"A": {"edges": [{"node": {"id": "1", "peer": {"node": {"id": "2"}}, "name": {"value": "id"}}}]}}),
            &mut ids,
        );
        assert_eq!(ids, BTreeSet::from(["1".to_owned(), "2".to_owned()]));
    }
}

#[cfg(test)]
mod member_ids {
    use super::*;

    #[test]
    fn every_node_selection_gets_its_id() {
        let query = "query ($n: String) {\n  LabDevice(name__value: $n) { edges { node { name { value } site { node { name { value } } } ...F } } }\n}\nfragment F on LabDevice { role { value } }";
        let rewritten = with_member_ids(query).unwrap();
        assert_eq!(
            rewritten.matches("_infrahub_member_id: id").count(),
            2,
            "{rewritten}"
        );
        assert!(async_graphql::parser::parse_query(&rewritten).is_ok());
        assert!(with_member_ids("query {").is_none());
        let mut answer = json!({"LabDevice": {"edges": [{"node": {"_infrahub_member_id": "a", "name": {"value": "x"}, "site": {"node": {"_infrahub_member_id": "b"}}}}]}});
        let mut ids = BTreeSet::new();
        take_member_ids(&mut answer, &mut ids);
        assert_eq!(ids, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
        assert_eq!(
            answer,
            json!({"LabDevice": {"edges": [{"node": {"name": {"value": "x"}, "site": {"node": {}}}}]}})
        );
    }
}
