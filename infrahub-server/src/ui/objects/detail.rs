//! `GET /objects/{kind}/{id}`: one object, its attributes with their metadata, its
//! cardinality-one relationships, and a tab per cardinality-many relationship (groups,
//! profiles, hierarchy children included) with the peers page by page.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::{
    Page, UiError, attribute_label, attribute_selection, bounded, branch_schema, display_value,
    exposed_relationships, is_block, is_one, model_label, model_of, node_id, ordered_attributes,
    param, peer_kind, peer_view, query_pairs, relationship_label,
};

/// Peers per page of a relationship tab unless `limit` says otherwise.
const TAB_LIMIT: usize = 50;
/// Most peers per page of a relationship tab.
const MAX_TAB_LIMIT: usize = 200;
/// Largest `offset` of a relationship tab.
const MAX_OFFSET: usize = 10_000_000;

/// The concrete kind of node `id` when `kind` is a generic, or a 404.
pub(super) async fn concrete_kind(page: &Page, kind: &str, id: &str) -> Result<String, UiError> {
    let data = page
        .graphql(
            &format!(
                "query($ids: [ID]) {{ {kind}(ids: $ids) {{ edges {{ node {{ __typename }} }} }} }}"
            ),
            json!({"ids": [id]}),
        )
        .await?;
    data[kind]["edges"][0]["node"]["__typename"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| UiError::not_found(format!("{kind} {id} not found.")))
}

/// `GET /objects/{kind}/{id}`.
pub(super) async fn detail(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let schema = branch_schema(&page)?;
    let model = model_of(&schema, &kind)?;
    let id = node_id(&kind, &id)?;
    if model.is_generic() {
        let concrete = concrete_kind(&page, &kind, &id).await?;
        if concrete != kind {
            return Ok(
                Redirect::to(&page.link(&format!("/objects/{concrete}/{id}"), &[])).into_response(),
            );
        }
    }
    let params = query_pairs(&page);
    let relationships = exposed_relationships(&schema, model);
    let tab = param(&params, "tab");
    let tab_relationship = relationships
        .iter()
        .find(|r| !is_one(r) && r.name == tab)
        .copied();
    let offset = bounded(&params, "offset", 0, MAX_OFFSET);
    let limit = bounded(&params, "limit", TAB_LIMIT, MAX_TAB_LIMIT).max(1);

    let attributes = ordered_attributes(model);
    let mut selection = vec!["id display_label hfid __typename".to_string()];
    for attribute in &attributes {
        selection.push(attribute_selection(attribute, true));
    }
    for relationship in &relationships {
        if is_one(relationship) {
            selection.push(format!(
                "{} {{ node {{ id display_label __typename }} }}",
                relationship.name
            ));
        } else if Some(relationship.name.as_str()) == tab_relationship.map(|r| r.name.as_str()) {
            selection.push(format!(
                "{} (offset: $offset, limit: $limit) {{ count edges {{ node {{ id display_label __typename }} }} }}",
                relationship.name
            ));
        } else {
            selection.push(format!("{} {{ count }}", relationship.name));
        }
    }
    // The paging variables are declared only when the tab uses them.
    let (declared, variables) = if tab_relationship.is_some() {
        (
            ", $offset: Int, $limit: Int",
            json!({"ids": [id], "offset": offset, "limit": limit}),
        )
    } else {
        ("", json!({"ids": [id]}))
    };
    let document = format!(
        "query($ids: [ID]{declared}) {{ {kind}(ids: $ids) {{ edges {{ node {{ {} }} }} }} }}",
        selection.join(" ")
    );
    let data = page.graphql(&document, variables).await?;
    let node = &data[&kind]["edges"][0]["node"];
    if !node.is_object() {
        return Err(UiError::not_found(format!(
            "{} {id} not found on branch {}.",
            model_label(model),
            page.branch
        )));
    }

    let attribute_rows: Vec<Value> = attributes
        .iter()
        .map(|attribute| {
            let field = &node[&attribute.name];
            let lineage = |name: &str| {
                let peer = &field[name];
                if peer.is_object() {
                    peer_view(peer, "CoreNode")
                } else {
                    Value::Null
                }
            };
            json!({
                "name": attribute.name,
                "label": attribute_label(attribute),
                "kind": attribute.kind.as_str(),
                "text": display_value(attribute, &field["value"]),
                "block": is_block(attribute),
                "is_protected": field["is_protected"].as_bool().unwrap_or(false),
                "is_default": field["is_default"].as_bool().unwrap_or(false),
                "is_from_profile": field["is_from_profile"].as_bool().unwrap_or(false),
                "updated_at": field["updated_at"],
                "source": lineage("source"),
                "owner": lineage("owner"),
                "read_only": attribute.read_only,
            })
        })
        .collect();
    let mut one_rows = Vec::new();
    let mut tabs = Vec::new();
    for relationship in &relationships {
        let field = &node[&relationship.name];
        if is_one(relationship) {
            let peer = &field["node"];
            one_rows.push(json!({
                "name": relationship.name,
                "label": relationship_label(relationship),
                "peer": peer.is_object().then(|| peer_view(peer, peer_kind(relationship))),
            }));
        } else {
            tabs.push(json!({
                "name": relationship.name,
                "label": relationship_label(relationship),
                "count": field["count"].as_u64().unwrap_or(0),
                "current": Some(relationship.name.as_str()) == tab_relationship.map(|r| r.name.as_str()),
            }));
        }
    }
    let tab_view = tab_relationship.map(|relationship| {
        let field = &node[&relationship.name];
        let peers: Vec<Value> = field["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| peer_view(&e["node"], peer_kind(relationship)))
            .collect();
        // A component or parent-side relationship: its peers are created from here.
        let create_kind = super::form::child_create(&schema, model, relationship);
        json!({
            "name": relationship.name,
            "label": relationship_label(relationship),
            "peer_kind": peer_kind(relationship),
            "peers": peers,
            "total": field["count"].as_u64().unwrap_or(0),
            "create": create_kind.map(|(peer, reverse)| json!({
                "kind": peer,
                "path": page.link(&format!("/objects/{peer}/new"), &[(reverse.as_str(), id.as_str())]),
            })),
            "base": page.link(
                &format!("/objects/{kind}/{id}"),
                &[("tab", relationship.name.as_str()), ("limit", &limit.to_string())],
            ),
        })
    });
    // An artifact shows its content (the start of it when it is large).
    let artifact = if kind == "CoreArtifact" {
        artifact_content(&page, &id, node["storage_id"]["value"].as_str()).await
    } else {
        None
    };
    page.render(
        "objects_detail.html",
        json!({
            "kind": kind,
            "kind_label": model_label(model),
            "id": id,
            "label": node["display_label"].as_str().filter(|l| !l.is_empty()).unwrap_or(&id),
            "hfid": node["hfid"],
            "attributes": attribute_rows,
            "relationships": one_rows,
            "tabs": tabs,
            "tab": tab_view,
            "offset": offset,
            "limit": limit,
            "artifact": artifact,
            "tasks_path": page.link("/tasks", &[("related_node", id.as_str())]),
            "actions": super::actions::actions_of(&kind)
                .iter()
                .map(|(action, label)| json!({"action": action, "label": label}))
                .collect::<Vec<_>>(),
            "action_path": page.link(&format!("/objects/{kind}/{id}/action"), &[]),
            "notice": page
                .uri
                .split_once('?')
                .and_then(|(_, query)| {
                    crate::ui::form_pairs(query)
                        .into_iter()
                        .find(|(name, _)| name == "done")
                })
                .and_then(|(_, done)| super::actions::notice(&done)),
        }),
    )
    .await
}

/// The most of an artifact's content a page shows (bytes).
const ARTIFACT_PREVIEW: usize = 256 * 1024;

/// An artifact's content for its page: `{text, truncated, raw}`, or `{missing}` when the object
/// store does not have it; `None` before it is generated.
async fn artifact_content(page: &Page, id: &str, storage_id: Option<&str>) -> Option<Value> {
    use object_store::ObjectStoreExt;
    let storage_id = storage_id?;
    let raw = page.link(&format!("/api/artifact/{id}"), &[]);
    let path = object_store::path::Path::from(storage_id);
    let bytes = match page.state.objects.get(&path).await {
        Ok(stored) => stored.bytes().await.ok(),
        Err(_) => None,
    };
    let Some(bytes) = bytes else {
        return Some(json!({"missing": true, "raw": raw}));
    };
    let truncated = bytes.len() > ARTIFACT_PREVIEW;
    let shown = &bytes[..bytes.len().min(ARTIFACT_PREVIEW)];
    Some(json!({
        "text": String::from_utf8_lossy(shown),
        "truncated": truncated,
        "size": bytes.len(),
        "raw": raw,
    }))
}
