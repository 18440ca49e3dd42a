//! Change enumeration, merge and rebase.

use serde::{Deserialize, Serialize};

use crate::model::{Slot, Version};
use crate::time::Timestamp;

/// One write made on a branch, with the state just before it and the state it set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The slot written.
    pub slot: Slot,
    /// What the branch saw before the write (`None` if nothing).
    pub before: Option<Version>,
    /// The version written.
    pub after: Version,
}

/// Property of a slot, for merge and rebase choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotProperty {
    /// Existence of a node or link, or an attribute as a whole.
    Existence,
    /// Attribute value (with its `is_default`).
    Value,
    /// `is_protected`.
    IsProtected,
    /// `is_visible`.
    IsVisible,
    /// Lineage source.
    Source,
    /// Lineage owner.
    Owner,
}

/// Options of [`GraphStore::merge_branch`](crate::GraphStore::merge_branch).
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// Changes of the branch not to apply (conflicts resolved in favour of the default
    /// branch).
    pub keep_default: Vec<(Slot, SlotProperty)>,
}

/// Options of [`GraphStore::rebase_branch`](crate::GraphStore::rebase_branch).
#[derive(Clone, Debug, Default)]
pub struct RebaseOptions {
    /// Changes of the branch to drop (conflicts resolved in favour of the default branch).
    pub drop: Vec<(Slot, SlotProperty)>,
}

/// What a merge or rebase did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchOperation {
    /// When it took effect.
    pub at: Timestamp,
    /// Number of versions written.
    pub writes: usize,
}
