//! Artifacts follow the data they were rendered from. Artifact generation records, for each
//! artifact, the nodes of its query's answer as the members of a `CoreGraphQLQueryGroup`
//! with the artifact among the subscribers (upstream's `update_group`). This process observes
//! the nodes every committed mutation writes; a moment after a change (changes arriving
//! together are handled together), the artifacts subscribed to a group holding a changed node
//! are generated again, each definition's as one `artifact-definition-generate` task limited
//! to them. An artifact whose content did not change is left as it is, and what generation
//! writes is not reported as a change, so nothing loops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_graph::{BranchView, NodeId};
use serde_json::json;

use crate::state::AppState;

/// How long changes are gathered before the artifacts they touch are regenerated.
const GATHER: Duration = Duration::from_millis(300);
/// Changed ids looked up per query.
const CHUNK: usize = 1_000;

/// Starts following changes for `state` (needs a Tokio runtime).
pub(crate) fn start(state: &Arc<AppState>) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<NodeId>)>();
    state
        .engine
        .observe_changes(Arc::new(move |branch: &str, ids: &[NodeId]| {
            let _ = sender.send((branch.to_owned(), ids.to_vec()));
        }));
    let weak: Weak<AppState> = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some((branch, ids)) = receiver.recv().await {
            let mut pending: BTreeMap<String, BTreeSet<NodeId>> = BTreeMap::new();
            pending.entry(branch).or_default().extend(ids);
            let deadline = tokio::time::Instant::now() + GATHER;
            while let Ok(Some((branch, ids))) =
                tokio::time::timeout_at(deadline, receiver.recv()).await
            {
                pending.entry(branch).or_default().extend(ids);
            }
            let Some(state) = weak.upgrade() else {
                return;
            };
            for (branch, ids) in pending {
                if let Err(message) = refresh(&state, &branch, ids).await {
                    tracing::warn!(%branch, %message, "regenerating the artifacts of changed nodes failed");
                }
            }
        }
    });
}

/// Submits the generation of the artifacts built from any of `changed` on `branch`.
async fn refresh(state: &AppState, branch: &str, changed: BTreeSet<NodeId>) -> Result<(), String> {
    if !state.knows_branch(branch).await {
        return Ok(());
    }
    let engine = &state.engine;
    let view = BranchView::now(branch);
    let changed: Vec<NodeId> = changed.into_iter().collect();
    let mut subscribers = BTreeSet::new();
    for chunk in changed.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        let mut offset = 0;
        loop {
            let args = QueryArgs {
                filters: BTreeMap::from([("members__ids".to_owned(), json!(ids))]),
                offset,
                ..QueryArgs::default()
            };
            let (groups, _) = engine
                .query(
                    &view,
                    "CoreGraphQLQueryGroup",
                    &args,
                    &Fields {
                        attributes: Some(Vec::new()),
                        relationships: vec!["subscribers".to_owned()],
                    },
                )
                .await
                .map_err(|e| e.message().to_owned())?;
            let count = groups.len();
            for group in groups {
                subscribers.extend(group.peers("subscribers").iter().map(|peer| peer.id));
            }
            if count == 0 || count < engine.options().query_size_limit {
                break;
            }
            offset += count;
        }
    }
    if subscribers.is_empty() {
        return Ok(());
    }
    let subscribers: Vec<NodeId> = subscribers.into_iter().collect();
    let artifacts = engine
        .get(
            &view,
            "CoreArtifact",
            &subscribers,
            &Fields {
                attributes: Some(Vec::new()),
                relationships: vec!["definition".to_owned()],
            },
        )
        .await
        .map_err(|e| e.message().to_owned())?;
    let mut by_definition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for artifact in artifacts {
        if let Some(definition) = artifact.peers("definition").first() {
            by_definition
                .entry(definition.id.to_string())
                .or_default()
                .push(artifact.id.to_string());
        }
    }
    for (definition, artifacts) in by_definition {
        let mut submission =
            infrahub_worker::workflows::generate_submission(&definition, None, branch);
        submission.parameters["limit"] = json!(artifacts);
        state
            .tasks
            .submit(submission)
            .await
            .map_err(|e| e.message().to_owned())?;
    }
    Ok(())
}
