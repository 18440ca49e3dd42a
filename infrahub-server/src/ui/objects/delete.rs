//! `GET /objects/{kind}/{id}/delete`: the confirmation, with the objects the delete cascades
//! to (the peers of relationships with `on_delete: cascade`, components by default, and
//! theirs); `POST` runs `<Kind>Delete` and goes back to the list.

use std::collections::BTreeSet;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use infrahub_core::schema::OnDelete;
use serde_json::{Value, json};

use super::{
    Page, UiError, branch_schema, exposed, is_one, model_label, model_of, node_id, object_model,
    peer_view,
};

/// Most cascaded objects listed (and read).
const MAX_CASCADE: usize = 500;

/// The node `id` of `kind` (`{id, display_label, __typename}`), or a 404.
async fn read_node(page: &Page, kind: &str, id: &str) -> Result<Value, UiError> {
    let data = page
        .graphql(
            &format!(
                "query($ids: [ID]) {{ {kind}(ids: $ids) {{ edges {{ node {{ id display_label __typename }} }} }} }}"
            ),
            json!({"ids": [id]}),
        )
        .await?;
    let node = data[kind]["edges"][0]["node"].clone();
    if node.is_object() {
        Ok(node)
    } else {
        Err(UiError::not_found(format!(
            "{kind} {id} not found on branch {}.",
            page.branch
        )))
    }
}

/// The objects deleting node `id` (of concrete kind `kind`) also deletes, read through the
/// API; whether the list stops at [`MAX_CASCADE`].
async fn cascade(page: &Page, kind: &str, id: &str) -> Result<(Vec<Value>, bool), UiError> {
    let schema = branch_schema(page)?;
    let mut seen: BTreeSet<String> = BTreeSet::from([id.to_string()]);
    let mut queue: Vec<(String, String)> = vec![(kind.to_string(), id.to_string())];
    let mut found = Vec::new();
    while let Some((kind, id)) = queue.pop() {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        let cascading: Vec<_> = model
            .relationships
            .iter()
            .filter(|r| r.on_delete == Some(OnDelete::Cascade) && exposed(&schema, &r.peer))
            .collect();
        if cascading.is_empty() {
            continue;
        }
        let selection: Vec<String> = cascading
            .iter()
            .map(|r| {
                if is_one(r) {
                    format!("{} {{ node {{ id display_label __typename }} }}", r.name)
                } else {
                    format!(
                        "{}(limit: {MAX_CASCADE}) {{ edges {{ node {{ id display_label __typename }} }} }}",
                        r.name
                    )
                }
            })
            .collect();
        let data = page
            .graphql(
                &format!(
                    "query($ids: [ID]) {{ {kind}(ids: $ids) {{ edges {{ node {{ {} }} }} }} }}",
                    selection.join(" ")
                ),
                json!({"ids": [id]}),
            )
            .await?;
        let node = &data[&kind]["edges"][0]["node"];
        for relationship in cascading {
            let field = &node[&relationship.name];
            let peers: Vec<&Value> = if is_one(relationship) {
                vec![&field["node"]]
            } else {
                field["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| &e["node"])
                    .collect()
            };
            for peer in peers {
                let Some(peer_id) = peer["id"].as_str() else {
                    continue;
                };
                if !seen.insert(peer_id.to_string()) {
                    continue;
                }
                if found.len() >= MAX_CASCADE {
                    return Ok((found, true));
                }
                let mut view = peer_view(peer, &relationship.peer);
                view["via"] = json!(relationship.name);
                let peer_kind = view["kind"].as_str().unwrap_or_default().to_string();
                found.push(view);
                queue.push((peer_kind, peer_id.to_string()));
            }
        }
    }
    Ok((found, false))
}

/// Renders the confirmation of the delete of `node`, with `errors`.
async fn render_confirm(
    page: &Page,
    kind: &str,
    label: &str,
    node: &Value,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, UiError> {
    let id = node["id"].as_str().unwrap_or_default();
    let (cascaded, truncated) = cascade(page, kind, id).await?;
    page.render_status(
        status,
        "objects_delete.html",
        json!({
            "kind": kind,
            "kind_label": label,
            "object": peer_view(node, kind),
            "cascade": cascaded,
            "truncated": truncated,
            "errors": errors,
            "action": page.link(&format!("/objects/{kind}/{id}/delete"), &[]),
        }),
    )
    .await
}

/// `GET /objects/{kind}/{id}/delete`.
pub(super) async fn confirm(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let model = model_of(&schema, &kind)?;
    let id = node_id(&kind, &id)?;
    let node = read_node(&page, &kind, &id).await?;
    let concrete = node["__typename"].as_str().unwrap_or(&kind).to_string();
    if concrete != kind {
        return Ok(
            Redirect::to(&page.link(&format!("/objects/{concrete}/{id}/delete"), &[]))
                .into_response(),
        );
    }
    render_confirm(
        &page,
        &kind,
        &model_label(model),
        &node,
        &[],
        StatusCode::OK,
    )
    .await
}

/// `POST /objects/{kind}/{id}/delete`: runs `<Kind>Delete`; the list, or the confirmation
/// again with the API's error.
pub(super) async fn delete_submit(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let schema = branch_schema(&page)?;
    let model = object_model(&schema, &kind, "delete")?;
    let id = node_id(&kind, &id)?;
    let node = read_node(&page, &kind, &id).await?;
    let (_, errors) = page
        .graphql_result(
            &format!("mutation($data: DeleteInput!) {{ {kind}Delete(data: $data) {{ ok }} }}"),
            json!({"data": {"id": id}}),
        )
        .await?;
    if errors.is_empty() {
        return Ok(page.redirect(&format!("/objects/{kind}"), &[]));
    }
    let status = if errors.iter().any(|e| e.contains("permission")) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_confirm(&page, &kind, &model_label(model), &node, &errors, status).await
}
