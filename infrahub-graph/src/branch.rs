//! Branch records and branch views.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// Name of the branch holding branch-agnostic data, visible from every branch.
pub const GLOBAL_BRANCH: &str = "-global-";

/// Stored information about a branch. Creating one copies no data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchRecord {
    /// Unique name.
    pub name: String,
    /// Stable identifier.
    pub id: uuid::Uuid,
    /// Whether this is the default branch (`main`).
    pub is_default: bool,
    /// When the branch was created.
    pub created_at: Timestamp,
    /// The default-branch instant this branch reads the default branch at; moved forward by
    /// rebase and merge.
    pub branched_from: Timestamp,
    /// Epochs of the branch: each rebase or merge starts a new one. Records written before the
    /// current epoch started belong to earlier states of the branch.
    pub epochs: Vec<Epoch>,
    /// Free-form properties kept for the caller (description, status, schema hash, ...).
    pub properties: Map<String, Value>,
}

/// A period of a branch's life between two rebases or merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// From when records of the branch belong to this epoch.
    pub start: Timestamp,
    /// The default-branch instant read during this epoch.
    pub branched_from: Timestamp,
}

impl BranchRecord {
    /// The epoch in force at `at` (the first one for instants before the branch existed).
    pub fn epoch_at(&self, at: Timestamp) -> Epoch {
        self.epochs
            .iter()
            .rev()
            .find(|e| e.start <= at)
            .or_else(|| self.epochs.first())
            .copied()
            .unwrap_or(Epoch {
                start: self.created_at,
                branched_from: self.branched_from,
            })
    }

    /// The epoch in force now.
    pub fn current_epoch(&self) -> Epoch {
        self.epochs.last().copied().unwrap_or(Epoch {
            start: self.created_at,
            branched_from: self.branched_from,
        })
    }
}

/// What a read sees: a branch, now or at a past instant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BranchView {
    /// Branch name.
    pub branch: String,
    /// Instant to read at; `None` for now.
    pub at: Option<Timestamp>,
}

impl BranchView {
    /// The branch now.
    pub fn now(branch: impl Into<String>) -> Self {
        BranchView {
            branch: branch.into(),
            at: None,
        }
    }

    /// The branch at `at`.
    pub fn at(branch: impl Into<String>, at: Timestamp) -> Self {
        BranchView {
            branch: branch.into(),
            at: Some(at),
        }
    }
}

/// Options of [`GraphStore::create_branch`](crate::GraphStore::create_branch).
#[derive(Clone, Debug, Default)]
pub struct CreateBranchOptions {
    /// Properties to store with the branch.
    pub properties: Map<String, Value>,
    /// Whether this is the default branch (only when creating the store's first branch).
    pub is_default: bool,
}
