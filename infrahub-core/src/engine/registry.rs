//! The registry of branch schemas kept in memory, and keeping it in step with a store that
//! other servers write too.
//!
//! Each server holds every branch's schema. When another server creates, deletes, merges or
//! rebases a branch or loads a schema, the store moves and this server's registry must follow:
//! the server hears of it on the bus (upstream's `refresh.registry.*` broadcasts) and calls
//! [`Engine::refresh_registry`]; a periodic full refresh is the safety net for a missed
//! message. Changes made by this engine are told to [`RegistryObserver`]s so that the server
//! can broadcast them.

use std::collections::HashSet;
use std::sync::Arc;

use infrahub_graph::{BranchView, Selection};

use super::{Engine, SCHEMA_HASH_ATTRIBUTE, SCHEMA_NODE};
use crate::error::Result;

/// Told the branch whose schema or existence this engine just changed (created, deleted,
/// merged, rebased, schema loaded; a merge also changes the default branch). Observers run on
/// the committing task: they must be quick (queue a message).
pub type RegistryObserver = Arc<dyn Fn(&RegistryChange) + Send + Sync>;

/// A change of the registry of branches and their schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryChange {
    /// The branch was created, deleted or merged, or its schema changed.
    Branch(String),
    /// The branch was rebased on the default branch.
    Rebased(String),
}

impl RegistryChange {
    /// The branch the change is about.
    pub fn branch(&self) -> &str {
        match self {
            RegistryChange::Branch(branch) | RegistryChange::Rebased(branch) => branch,
        }
    }
}

/// What [`Engine::refresh_registry`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryRefresh {
    /// Branches found in the store that the registry did not know.
    pub added: Vec<String>,
    /// Branches the registry knew that are gone from the store.
    pub removed: Vec<String>,
    /// Branches whose schema was read again because the stored one changed.
    pub reloaded: Vec<String>,
}

impl RegistryRefresh {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.reloaded.is_empty()
    }
}

impl Engine {
    /// Adds an observer told of every registry change this engine makes (see
    /// [`RegistryObserver`]).
    pub fn observe_registry(&self, observer: RegistryObserver) {
        if let Ok(mut observers) = self.registry_observers.write() {
            observers.push(RegistryObserverEntry(observer));
        }
    }

    pub(crate) fn notify_registry(&self, change: RegistryChange) {
        if let Ok(observers) = self.registry_observers.read() {
            for RegistryObserverEntry(observer) in observers.iter() {
                observer(&change);
            }
        }
    }

    /// Every branch the registry holds with the hash of its schema, by name.
    pub fn schema_hashes(&self) -> Vec<(String, String)> {
        let mut hashes: Vec<_> = self
            .schema_hashes
            .lock()
            .map(|hashes| hashes.iter().map(|(b, h)| (b.clone(), h.clone())).collect())
            .unwrap_or_default();
        hashes.sort();
        hashes
    }

    /// Brings the registry in step with the store: branches created or deleted elsewhere are
    /// added or dropped, and the schema of `branch` (with the default branch's), or of every
    /// branch when `None`, is read again when the stored one changed. Costs one store call
    /// for the branch list plus one per branch checked.
    pub async fn refresh_registry(&self, branch: Option<&str>) -> Result<RegistryRefresh> {
        let mut refresh = RegistryRefresh::default();
        let stored = self.store().list_branches().await?;
        let stored_names: HashSet<&str> = stored.iter().map(|b| b.name.as_str()).collect();
        let known: Vec<String> = self
            .schemas
            .read()
            .map(|schemas| schemas.keys().cloned().collect())
            .unwrap_or_default();
        for name in &known {
            if !stored_names.contains(name.as_str()) {
                self.forget_schema(name);
                refresh.removed.push(name.clone());
            }
        }
        let known: HashSet<&str> = known.iter().map(String::as_str).collect();
        for record in &stored {
            let name = record.name.as_str();
            let check = match branch {
                Some(hint) => name == hint || name == self.default_branch(),
                None => true,
            };
            if !known.contains(name) {
                self.reload_schema(name).await?;
                refresh.added.push(name.to_string());
            } else if check && self.sync_schema(name).await? {
                refresh.reloaded.push(name.to_string());
            }
        }
        if !refresh.is_empty() {
            tracing::debug!(?refresh, "registry refreshed from the store");
        }
        Ok(refresh)
    }

    /// Reads `branch`'s schema again when the stored one is not the one held; returns whether
    /// it did.
    pub(crate) async fn sync_schema(&self, branch: &str) -> Result<bool> {
        let stored = self.stored_schema_hash(branch).await?;
        if stored.is_some() && stored == self.schema_hash(branch) {
            return Ok(false);
        }
        self.reload_schema(branch).await?;
        Ok(true)
    }

    /// In a shared deployment, reads again the schemas of `branches` that another server
    /// changed: called under the schema lock before a change builds on them.
    pub(crate) async fn sync_before_change(&self, branches: &[&str]) -> Result<()> {
        if self.is_shared() {
            for branch in branches {
                self.sync_schema(branch).await?;
            }
        }
        Ok(())
    }

    /// The hash stored beside `branch`'s schema (none for a schema written before hashes
    /// were stored).
    async fn stored_schema_hash(&self, branch: &str) -> Result<Option<String>> {
        let select = Selection {
            attributes: Some(vec![SCHEMA_HASH_ATTRIBUTE.to_string()]),
            links: Vec::new(),
        };
        let nodes = self
            .store()
            .get_nodes(&BranchView::now(branch), &[SCHEMA_NODE], &select)
            .await?;
        Ok(nodes
            .first()
            .and_then(|node| node.attributes.get(SCHEMA_HASH_ATTRIBUTE))
            .and_then(|attribute| attribute.value.value.as_str().map(str::to_string)))
    }

    /// Reads `branch`'s schema from the store into the registry.
    pub(crate) async fn reload_schema(&self, branch: &str) -> Result<()> {
        let schema = self.read_schema(&BranchView::now(branch)).await?;
        self.set_schema(branch, schema);
        Ok(())
    }
}

/// A [`RegistryObserver`] with a `Debug` form.
pub(crate) struct RegistryObserverEntry(RegistryObserver);

impl std::fmt::Debug for RegistryObserverEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistryObserver")
    }
}
