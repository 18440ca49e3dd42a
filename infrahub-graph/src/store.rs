//! The `GraphStore` trait: what `infrahub-core` persists and reads, whatever the backend.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::branch::{BranchRecord, BranchView, CreateBranchOptions};
use crate::change::{BranchOperation, Change, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit};
use crate::error::Result;
use crate::model::{NodeData, NodeId, Slot, Version};
use crate::query::{NodeQuery, QueryResult, Selection};
use crate::time::Timestamp;

/// Versioned graph storage.
///
/// # Contract
///
/// - **Records.** Every fact is a version of a [`Slot`] (node existence, attribute, link) on a
///   branch at a timestamp, active or deleted. Writes append versions; nothing is rewritten.
/// - **Changesets.** [`commit`](GraphStore::commit) applies all writes of a changeset at one
///   timestamp, after checking its conditions against the latest state including the
///   changeset's own writes; either everything is written and durable when it returns, or
///   nothing is. Timestamps of successive commits strictly increase.
/// - **Reads.** Reading branch `B` at `T` sees the global branch at `T`, the default branch at
///   `min(T, B.branched_from)` (the branch point of the epoch in force at `T`), and `B`'s own
///   versions of that epoch up to `T`. Per slot, `B`'s version wins over the others; between
///   the global and default branches the latest wins. A slot is visible when the winner is
///   active. Reads see one committed state; they never block on writers and never see part of
///   a changeset.
/// - **Branches.** Creating a branch copies nothing. Merge applies the branch's changes of its
///   current epoch onto the default branch at one new timestamp, property by property, and
///   starts a new epoch; rebase moves the branch point to now and carries the branch's changes
///   forward; both cost in proportion to the branch's changes. Deleting a branch removes every
///   version written on it. Local and global versions are never merged.
#[async_trait]
pub trait GraphStore: Send + Sync + Debug + 'static {
    /// Creates a branch named `name` reading the default branch from now on. The first branch
    /// created must be the default branch (`options.is_default`).
    async fn create_branch(&self, name: &str, options: CreateBranchOptions)
    -> Result<BranchRecord>;

    /// The branch called `name`.
    async fn get_branch(&self, name: &str) -> Result<BranchRecord>;

    /// Every branch, default branch first.
    async fn list_branches(&self) -> Result<Vec<BranchRecord>>;

    /// Replaces the free-form properties of a branch.
    async fn update_branch(
        &self,
        name: &str,
        properties: serde_json::Map<String, serde_json::Value>,
    ) -> Result<BranchRecord>;

    /// Deletes a branch and every version written on it. The default branch cannot be deleted.
    async fn delete_branch(&self, name: &str) -> Result<()>;

    /// Applies a changeset atomically and durably.
    async fn commit(&self, changeset: Changeset) -> Result<Commit>;

    /// Reads nodes by id through a branch view, in the order asked; ids not visible are left
    /// out.
    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>>;

    /// Lists nodes through a branch view.
    async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult>;

    /// Counts the nodes a query matches without loading them.
    async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64>;

    /// Every version written on `branch` with a timestamp in `(from, to]`, oldest first, with
    /// what the branch saw just before each one.
    async fn changes(&self, branch: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Change>>;

    /// Every version of every slot of a node on every branch (existence, attributes, outgoing
    /// and incoming links), oldest first.
    async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>>;

    /// Merges `branch` into the default branch.
    async fn merge_branch(&self, branch: &str, options: MergeOptions) -> Result<BranchOperation>;

    /// Rebases `branch` onto the current default branch.
    async fn rebase_branch(&self, branch: &str, options: RebaseOptions) -> Result<BranchOperation>;

    /// The latest timestamp written.
    async fn last_commit(&self) -> Result<Timestamp>;
}
