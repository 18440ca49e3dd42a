//! Branches: create, list, update, delete, validate (conflicts), merge and rebase, with each
//! branch's schema following its data.

use std::collections::{BTreeMap, HashMap};

use infrahub_graph::{
    BranchRecord, Change, CreateBranchOptions, GLOBAL_BRANCH, MergeOptions, RebaseOptions, Slot,
    Timestamp,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Engine;
use super::events::Event;
use super::registry::RegistryChange;
use crate::error::{Error, ErrorKind, Result};

/// A branch as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BranchInfo {
    /// Stable identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The branch it was created from.
    pub origin_branch: String,
    /// The default-branch instant the branch reads (moved by rebase and merge).
    pub branched_from: Timestamp,
    /// When it was created.
    pub created_at: Timestamp,
    /// Whether Git repositories follow the branch.
    pub sync_with_git: bool,
    /// Whether it is the default branch.
    pub is_default: bool,
    /// Whether its schema differs from the default branch's.
    pub has_schema_changes: bool,
    /// Version of the graph layout the branch was written with (none: current).
    pub graph_version: Option<i64>,
    /// `OPEN`, `NEED_REBASE`, `MERGED`, ...
    pub status: String,
    /// Id of the account that created it, when known.
    pub created_by: Option<String>,
}

/// What a new branch is made of.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BranchCreate {
    /// Name (git ref rules, 3 to 250 characters).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Whether Git repositories follow the branch (default `false`, as the SDK sends).
    pub sync_with_git: Option<bool>,
    /// Id of the account creating it (upstream lets the creator delete it).
    pub created_by: Option<String>,
}

/// A slot both the branch and the default branch changed since the branch point, to different
/// values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    /// What both sides wrote.
    pub slot: Slot,
    /// The branch's latest version.
    pub branch: Value,
    /// The default branch's latest version.
    pub base: Value,
}

impl Conflict {
    /// The id the diff gives this conflict on branch `branch`, which
    /// [`Engine::resolve_conflict`] takes.
    pub fn id(&self, branch: &str) -> String {
        super::diff::conflict_id(branch, &self.slot)
    }
}

/// Checks a branch name as upstream does (git ref rules, 3 to 250 characters).
pub fn validate_branch_name(name: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(Error::new(
            ErrorKind::Validation,
            format!("Branch name `{name}` is invalid: {why}"),
        ))
    };
    let length = name.chars().count();
    if !(3..=250).contains(&length) {
        return invalid("it must have between 3 and 250 characters");
    }
    if name == GLOBAL_BRANCH {
        return invalid("the name is reserved");
    }
    let mut problems = Vec::new();
    if name.contains("/.") {
        problems.push("/.");
    }
    if name.contains("..") {
        problems.push("..");
    }
    if name.starts_with('/') {
        problems.push("starts with /");
    }
    if name.contains("//") {
        problems.push("//");
    }
    if name.contains("@{") {
        problems.push("@{");
    }
    if name.contains('\\') {
        problems.push("backslash (\\)");
    }
    if name
        .chars()
        .any(|c| c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '['))
    {
        problems.push("disallowed ASCII characters/patterns");
    }
    if name.ends_with(".lock") {
        problems.push("ends with .lock");
    }
    if name.ends_with('/') {
        problems.push("ends with /");
    }
    if name.ends_with('.') {
        problems.push("ends with .");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        invalid(&format!(
            "it contains invalid patterns or characters: {}",
            problems.join(", ")
        ))
    }
}

fn text(properties: &Map<String, Value>, key: &str) -> Option<String> {
    properties
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn flag(properties: &Map<String, Value>, key: &str) -> bool {
    properties
        .get(key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

impl Engine {
    fn branch_info(&self, record: &BranchRecord) -> BranchInfo {
        let properties = &record.properties;
        BranchInfo {
            id: record.id.to_string(),
            name: record.name.clone(),
            description: text(properties, "description").unwrap_or_default(),
            origin_branch: text(properties, "origin_branch")
                .unwrap_or_else(|| self.default_branch().to_string()),
            branched_from: record.current_epoch().branched_from,
            created_at: record.created_at,
            sync_with_git: flag(properties, "sync_with_git"),
            is_default: record.is_default,
            has_schema_changes: flag(properties, "has_schema_changes"),
            graph_version: properties.get("graph_version").and_then(Value::as_i64),
            status: text(properties, "status").unwrap_or_else(|| "OPEN".into()),
            created_by: text(properties, "created_by"),
        }
    }

    /// Every branch, the default branch first.
    pub async fn branches(&self) -> Result<Vec<BranchInfo>> {
        let mut records = self.store().list_branches().await?;
        records.retain(|r| r.name != GLOBAL_BRANCH);
        records.sort_by(|a, b| b.is_default.cmp(&a.is_default).then(a.name.cmp(&b.name)));
        Ok(records.iter().map(|r| self.branch_info(r)).collect())
    }

    /// The branch called `name`.
    pub async fn branch(&self, name: &str) -> Result<BranchInfo> {
        let record = self.store().get_branch(name).await.map_err(|e| {
            if e.kind() == infrahub_graph::ErrorKind::NotFound {
                Error::new(ErrorKind::NotFound, format!("Branch: {name} not found."))
            } else {
                e.into()
            }
        })?;
        Ok(self.branch_info(&record))
    }

    /// Creates a branch from the default branch, now. No data is copied; the branch starts with
    /// the default branch's schema.
    pub async fn create_branch(&self, input: BranchCreate) -> Result<(BranchInfo, Vec<Event>)> {
        validate_branch_name(&input.name)?;
        if self.schema(&input.name).is_ok() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("The branch {} already exists", input.name),
            ));
        }
        let mut properties = Map::new();
        properties.insert(
            "description".into(),
            Value::String(input.description.unwrap_or_default()),
        );
        properties.insert(
            "origin_branch".into(),
            Value::String(self.default_branch().to_string()),
        );
        properties.insert(
            "sync_with_git".into(),
            Value::Bool(input.sync_with_git.unwrap_or(false)),
        );
        properties.insert("status".into(), Value::String("OPEN".into()));
        properties.insert("has_schema_changes".into(), Value::Bool(false));
        properties.insert(
            super::migrations::GRAPH_VERSION_PROPERTY.into(),
            Value::from(super::migrations::GRAPH_VERSION),
        );
        if let Some(account) = input.created_by {
            properties.insert("created_by".into(), Value::String(account));
        }
        let record = self
            .store()
            .create_branch(
                &input.name,
                CreateBranchOptions {
                    properties,
                    is_default: false,
                },
            )
            .await?;
        if self.is_shared() {
            // Another server may have changed the default branch's schema since this one
            // last heard: the new branch starts from what is stored.
            self.reload_schema(&record.name).await?;
        } else {
            let schema = self.schema(self.default_branch())?;
            match self.schema_hash(self.default_branch()) {
                Some(hash) => self.set_schema_hashed(&record.name, (*schema).clone(), hash),
                None => self.set_schema(&record.name, (*schema).clone()),
            }
        }
        self.notify_registry(RegistryChange::Branch(record.name.clone()));
        let event = Event::BranchCreated {
            branch: record.name.clone(),
            at: record.created_at,
        };
        Ok((self.branch_info(&record), vec![event]))
    }

    /// Changes a branch's description.
    pub async fn update_branch(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<BranchInfo> {
        let record = self.store().get_branch(name).await?;
        let mut properties = record.properties.clone();
        if let Some(description) = description {
            properties.insert("description".into(), Value::String(description));
        }
        let record = self.store().update_branch(name, properties).await?;
        Ok(self.branch_info(&record))
    }

    /// Deletes a branch and everything written on it.
    pub async fn delete_branch(&self, name: &str) -> Result<Vec<Event>> {
        if name == self.default_branch() {
            return Err(Error::new(
                ErrorKind::Validation,
                "The default branch cannot be deleted",
            ));
        }
        let _guard = self.named_lock(&branch_lock_name(name)).await?;
        self.branch(name).await?;
        self.store().delete_branch(name).await?;
        self.forget_schema(name);
        self.notify_registry(RegistryChange::Branch(name.to_string()));
        Ok(vec![Event::BranchDeleted {
            branch: name.to_string(),
            at: Timestamp::now(),
        }])
    }

    /// The conflicts between a branch and the default branch: slots both changed since the
    /// branch point, to different values.
    pub async fn branch_conflicts(&self, name: &str) -> Result<Vec<Conflict>> {
        let record = self.store().get_branch(name).await?;
        if record.is_default {
            return Ok(Vec::new());
        }
        let epoch = record.current_epoch();
        let now = self.store().last_commit().await?;
        let ours = latest_by_slot(
            self.store()
                .changes(name, epoch.start.plus_micros(-1), now)
                .await?,
        );
        if ours.is_empty() {
            return Ok(Vec::new());
        }
        let theirs = latest_by_slot(
            self.store()
                .changes(self.default_branch(), epoch.branched_from, now)
                .await?,
        );
        let mut conflicts = Vec::new();
        for (key, (slot, mine)) in &ours {
            // The engine's own attributes (IPAM keys) follow the data they derive from and are
            // made right after a merge: never a conflict for the user to resolve.
            if matches!(slot, Slot::Attribute { name, .. } if name.starts_with('~')) {
                continue;
            }
            if let Some((_, base)) = theirs.get(key)
                && mine != base
                && !self.ipam_managed(name, slot).await?
            {
                conflicts.push(Conflict {
                    slot: slot.clone(),
                    branch: mine.clone(),
                    base: base.clone(),
                });
            }
        }
        Ok(conflicts)
    }

    /// Merges a branch into the default branch at one instant: refused while the branch
    /// conflicts with the default branch. The branch's schema becomes the default branch's.
    pub async fn merge_branch(&self, name: &str) -> Result<(BranchInfo, Vec<Event>)> {
        if name == self.default_branch() {
            return Err(Error::new(
                ErrorKind::Validation,
                "The default branch cannot be merged into itself",
            ));
        }
        let guard = self.named_lock(&branch_lock_name(name)).await?;
        let schema_guard = self.named_lock(super::locks::SCHEMA_LOCK).await?;
        self.branch(name).await?;
        self.sync_before_change(&[self.default_branch(), name])
            .await?;
        let mut keep_default = self.resolved_conflicts(name, "merged").await?;
        keep_default.extend(self.ipam_dangling(name).await?);
        let before = self.store().last_commit().await?;
        guard.ensure_held()?;
        schema_guard.ensure_held()?;
        let operation = self
            .store()
            .merge_branch(name, MergeOptions { keep_default })
            .await?;
        // Both sides may have moved the same prefixes and addresses: the IPAM hierarchy of
        // what the merge brought is made right again.
        if let Err(error) = self.reconcile_after_merge(name, before, operation.at).await {
            // The merge is done: the hierarchy is repaired by the next write of each node.
            tracing::error!(%error, branch = name, "reconciling the IPAM hierarchy after a merge failed");
        }
        // A merge may write nodes of any kind into the default branch.
        self.notify_commit(self.default_branch(), &[super::ANY_KIND]);
        self.reload_schema(self.default_branch()).await?;
        self.reload_schema(name).await?;
        self.notify_registry(RegistryChange::Branch(name.to_string()));
        let record = self.store().get_branch(name).await?;
        let mut properties = record.properties.clone();
        properties.insert("has_schema_changes".into(), Value::Bool(false));
        properties.remove("conflict_choices");
        properties.remove("diffs");
        let record = self.store().update_branch(name, properties).await?;
        Ok((
            self.branch_info(&record),
            vec![Event::BranchMerged {
                branch: name.to_string(),
                at: operation.at,
            }],
        ))
    }

    /// Moves a branch's branch point to now, keeping its changes: refused while the branch
    /// conflicts with the default branch.
    pub async fn rebase_branch(&self, name: &str) -> Result<(BranchInfo, Vec<Event>)> {
        if name == self.default_branch() {
            return Err(Error::new(
                ErrorKind::Validation,
                "The default branch cannot be rebased",
            ));
        }
        let guard = self.named_lock(&branch_lock_name(name)).await?;
        let schema_guard = self.named_lock(super::locks::SCHEMA_LOCK).await?;
        self.branch(name).await?;
        self.sync_before_change(&[self.default_branch(), name])
            .await?;
        let mut drop = self.resolved_conflicts(name, "rebased").await?;
        drop.extend(self.ipam_dangling(name).await?);
        let started = self
            .store()
            .get_branch(name)
            .await?
            .current_epoch()
            .branched_from;
        guard.ensure_held()?;
        schema_guard.ensure_held()?;
        let operation = self
            .store()
            .rebase_branch(name, RebaseOptions { drop })
            .await?;
        // What the default branch moved meets what the branch moved: the IPAM hierarchy and
        // what prefixes hold are made right on the branch.
        if let Err(error) = self
            .reconcile_after_rebase(name, started, operation.at)
            .await
        {
            tracing::error!(%error, branch = name, "reconciling the IPAM hierarchy after a rebase failed");
        }
        self.reload_schema(name).await?;
        self.notify_registry(RegistryChange::Rebased(name.to_string()));
        let record = self.store().get_branch(name).await?;
        let mut properties = record.properties.clone();
        properties.remove("conflict_choices");
        let record = self.store().update_branch(name, properties).await?;
        Ok((
            self.branch_info(&record),
            vec![Event::BranchRebased {
                branch: name.to_string(),
                at: operation.at,
            }],
        ))
    }

    /// The conflicts of `name`, all resolved, as the slots where the default branch's version
    /// wins; an error naming the unresolved ones otherwise.
    async fn resolved_conflicts(
        &self,
        name: &str,
        action: &str,
    ) -> Result<Vec<(Slot, infrahub_graph::SlotProperty)>> {
        let conflicts = self.branch_conflicts(name).await?;
        let choices = self.conflict_choices(name).await?;
        let mut unresolved = Vec::new();
        let mut keep_default = Vec::new();
        for conflict in conflicts {
            match choices
                .get(&super::diff::conflict_id(name, &conflict.slot))
                .and_then(Value::as_str)
            {
                Some("BASE_BRANCH") => {
                    keep_default.push((conflict.slot, infrahub_graph::SlotProperty::Existence));
                }
                Some("DIFF_BRANCH") => {}
                _ => unresolved.push(conflict),
            }
        }
        if unresolved.is_empty() {
            Ok(keep_default)
        } else {
            Err(conflict_error(name, action, &unresolved))
        }
    }

    /// Records that a branch's schema now differs from the default branch's.
    pub(crate) async fn mark_schema_changed(&self, name: &str) -> Result<()> {
        if name == self.default_branch() {
            return Ok(());
        }
        let record = self.store().get_branch(name).await?;
        if flag(&record.properties, "has_schema_changes") {
            return Ok(());
        }
        let mut properties = record.properties.clone();
        properties.insert("has_schema_changes".into(), Value::Bool(true));
        self.store().update_branch(name, properties).await?;
        Ok(())
    }
}

/// The lock that keeps merges, rebases and deletes of one branch apart.
fn branch_lock_name(branch: &str) -> String {
    format!("global.branch.{branch}")
}

/// The latest version each slot got among `changes`, keyed by the slot's encoding.
fn latest_by_slot(changes: Vec<Change>) -> HashMap<String, (Slot, Value)> {
    let mut latest: BTreeMap<String, (Slot, Timestamp, Value)> = BTreeMap::new();
    for change in changes {
        if change.after.local {
            continue;
        }
        let key = format!("{:?}", change.slot);
        let value =
            serde_json::to_value((&change.after.status, &change.after.data)).unwrap_or(Value::Null);
        match latest.get(&key) {
            Some((_, at, _)) if *at > change.after.at => {}
            _ => {
                latest.insert(key, (change.slot, change.after.at, value));
            }
        }
    }
    latest
        .into_iter()
        .map(|(k, (slot, _, value))| (k, (slot, value)))
        .collect()
}

fn conflict_error(name: &str, action: &str, conflicts: &[Conflict]) -> Error {
    let listed: Vec<String> = conflicts
        .iter()
        .take(10)
        .map(|c| format!("{:?}", c.slot))
        .collect();
    Error::new(
        ErrorKind::Conflict,
        format!(
            "Branch {name} cannot be {action}: {} conflict(s) with the default branch ({}{})",
            conflicts.len(),
            listed.join(", "),
            if conflicts.len() > 10 { ", ..." } else { "" }
        ),
    )
}
