//! `POST /objects/{kind}/{id}/action`: what some kinds' pages offer besides editing, through
//! the same API calls (and so the same permission checks) as any client:
//!
//! - a repository (`CoreRepository`, `CoreReadOnlyRepository`): `connectivity`
//!   (`InfrahubRepositoryConnectivity`) and `import` (`InfrahubRepositoryProcess`);
//! - an artifact definition: `generate` (as `POST /api/artifact/generate/{id}`);
//! - a generator definition: `run` (`CoreGeneratorDefinitionRun`, not waited for).
//!
//! A task started goes to its page; otherwise back to the object with a fixed notice.

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Page, UiError, node_id};

/// The actions of `kind`'s pages: (action, button label).
pub(super) fn actions_of(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "CoreRepository" | "CoreReadOnlyRepository" => &[
            ("connectivity", "Check connectivity"),
            ("import", "Import again"),
        ],
        "CoreArtifactDefinition" => &[("generate", "Generate artifacts")],
        "CoreGeneratorDefinition" => &[("run", "Run generator")],
        _ => &[],
    }
}

/// The notice after `done` (fixed texts, never echoed from the address).
pub(super) fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "connectivity" => "The repository answered: its location and credentials work.",
        "import" => "The import of the repository's current commit was submitted.",
        _ => return None,
    })
}

/// Runs the action the form names.
pub(super) async fn act(
    page: Page,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, UiError> {
    page.check_writable()?;
    let id = node_id(&kind, &id)?;
    let fields = crate::ui::form_pairs(&String::from_utf8_lossy(&body));
    let action = fields
        .iter()
        .find(|(name, _)| name == "action")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    if !actions_of(&kind).iter().any(|(name, _)| *name == action) {
        return Err(UiError::bad_request(format!(
            "{kind} has no action `{action}`"
        )));
    }
    let back = format!("/objects/{kind}/{id}");
    match action {
        "connectivity" => {
            let data = page
                .graphql(
                    "mutation($data: IdentifierInput!) { InfrahubRepositoryConnectivity(data: $data) { ok message } }",
                    json!({"data": {"id": id}}),
                )
                .await?;
            let answer = &data["InfrahubRepositoryConnectivity"];
            if answer["ok"] == Value::Bool(true) {
                Ok(page.redirect(&back, &[("done", "connectivity")]))
            } else {
                Err(UiError::bad_request(format!(
                    "The repository cannot be reached: {}",
                    answer["message"].as_str().unwrap_or("no reason given")
                )))
            }
        }
        "import" => {
            page.graphql(
                "mutation($data: IdentifierInput!) { InfrahubRepositoryProcess(data: $data) { ok } }",
                json!({"data": {"id": id}}),
            )
            .await?;
            Ok(page.redirect(&back, &[("done", "import")]))
        }
        "generate" => {
            let account = page
                .account
                .clone()
                .ok_or_else(|| UiError::Login(page.uri.clone()))?;
            let task = crate::rest::artifact::submit_generation(
                &page.state,
                &account,
                &page.branch,
                &id,
                None,
            )
            .await?;
            Ok(page.redirect(&format!("/tasks/{task}"), &[]))
        }
        "run" => {
            let data = page
                .graphql(
                    "mutation($data: GeneratorDefinitionRequestRunInput!) { CoreGeneratorDefinitionRun(data: $data, wait_until_completion: false) { ok task { id } } }",
                    json!({"data": {"id": id}}),
                )
                .await?;
            let task = data["CoreGeneratorDefinitionRun"]["task"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(page.redirect(&format!("/tasks/{task}"), &[]))
        }
        _ => Err(UiError::bad_request(format!(
            "{kind} has no action `{action}`"
        ))),
    }
}
