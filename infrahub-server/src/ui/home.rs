//! The home page, the global search and the menu addresses that name another page.

use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{Page, UiError};
use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("home.html", include_str!("templates/home.html")),
    ("search.html", include_str!("templates/search.html")),
    ("login.html", include_str!("templates/login.html")),
];

/// Upstream's menu addresses of pages this frontend serves as object lists.
const ALIASES: &[(&str, &str)] = &[
    ("/ipam", "/objects/BuiltinIPPrefix"),
    ("/ipam/prefixes", "/objects/BuiltinIPPrefix"),
    ("/ipam/ip_addresses", "/objects/BuiltinIPAddress"),
    ("/ipam/namespaces", "/objects/BuiltinIPNamespace"),
    ("/proposed-changes", "/objects/CoreProposedChange"),
    ("/resource-manager", "/objects/CoreResourcePool"),
    ("/role-management", "/objects/CoreGenericAccount"),
];

/// Routes that send upstream's menu addresses to the page serving them.
pub(super) fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for (from, to) in ALIASES {
        router = router.route(
            from,
            get(move |page: Page| async move { Ok::<_, UiError>(page.redirect(to, &[])) }),
        );
    }
    router
}

/// Most kinds counted on the home page.
const HOME_KINDS: usize = 40;

/// `GET /`: the kinds of the menu's object section with their number of objects, and the
/// branches.
pub(super) async fn home(page: Page) -> Result<Response, UiError> {
    let layout = page.layout().await?;
    let mut kinds: Vec<(String, String)> = Vec::new();
    collect_kinds(&layout["menu"]["object"], &mut kinds);
    kinds.truncate(HOME_KINDS);
    let schema = page
        .state
        .engine
        .schema(&page.branch)
        .map_err(|e| UiError::not_found(e.to_string()))?;
    kinds.retain(|(kind, _)| schema.get(kind).is_some());
    let mut counts = Vec::new();
    if !kinds.is_empty() {
        let fields: Vec<String> = kinds
            .iter()
            .enumerate()
            .map(|(i, (kind, _))| format!("k{i}: {kind} {{ count }}"))
            .collect();
        let data = page
            .graphql(&format!("query {{ {} }}", fields.join(" ")), json!({}))
            .await?;
        for (i, (kind, label)) in kinds.iter().enumerate() {
            counts.push(json!({
                "kind": kind,
                "label": label,
                "count": data[format!("k{i}")]["count"],
            }));
        }
    }
    page.render("home.html", json!({ "kinds": counts })).await
}

/// The kinds the menu entries link to, with their labels.
fn collect_kinds(items: &Value, out: &mut Vec<(String, String)>) {
    for item in items.as_array().into_iter().flatten() {
        if let Some(kind) = item["path"]
            .as_str()
            .and_then(|p| p.strip_prefix("/objects/"))
            .filter(|k| !k.contains('/'))
            && !out.iter().any(|(k, _)| k == kind)
        {
            let label = item["label"].as_str().unwrap_or(kind).to_string();
            out.push((kind.to_string(), label));
        }
        collect_kinds(&item["children"], out);
    }
}

/// The search parameters.
#[derive(Debug, serde::Deserialize)]
pub(super) struct SearchParams {
    #[serde(default)]
    q: String,
}

/// Most results shown by the global search.
const SEARCH_LIMIT: usize = 50;
/// Longest search text.
const MAX_SEARCH_TEXT: usize = 256;

/// `GET /search?q=`: nodes whose id is `q`, or one of whose attribute values contains it
/// (names and the values human-friendly ids are made of), through the `CoreNode` query.
pub(super) async fn search(
    page: Page,
    Query(params): Query<SearchParams>,
) -> Result<Response, UiError> {
    let text = params.q.trim().to_string();
    if text.chars().count() > MAX_SEARCH_TEXT {
        return Err(UiError::bad_request(format!(
            "the search text is longer than {MAX_SEARCH_TEXT} characters"
        )));
    }
    let mut results: Vec<Value> = Vec::new();
    let mut total = 0;
    if !text.is_empty() {
        let select = "count edges { node { id display_label __typename hfid } }";
        if uuid::Uuid::parse_str(&text).is_ok() {
            let data = page
                .graphql(
                    &format!("query($ids: [ID]) {{ CoreNode(ids: $ids) {{ {select} }} }}"),
                    json!({ "ids": [text] }),
                )
                .await?;
            collect_results(&data, &mut results, &mut total);
        }
        if results.is_empty() {
            let data = page
                .graphql(
                    &format!(
                        "query($q: String, $limit: Int) {{ CoreNode(any__value: $q, \
                         partial_match: true, limit: $limit) {{ {select} }} }}"
                    ),
                    json!({ "q": text, "limit": SEARCH_LIMIT }),
                )
                .await?;
            collect_results(&data, &mut results, &mut total);
        }
    }
    page.render(
        "search.html",
        json!({
            "search_text": text,
            "results": results,
            "total": total,
            "limit": SEARCH_LIMIT,
        }),
    )
    .await
}

fn collect_results(data: &Value, results: &mut Vec<Value>, total: &mut u64) {
    *total = data["CoreNode"]["count"].as_u64().unwrap_or(0);
    for edge in data["CoreNode"]["edges"].as_array().into_iter().flatten() {
        let node = &edge["node"];
        results.push(json!({
            "id": node["id"],
            "kind": node["__typename"],
            "label": node["display_label"],
            "hfid": node["hfid"],
        }));
    }
}
