//! The executable contract of [`GraphStore`]: every backend runs it.
//!
//! Each function takes a fresh, empty store, exercises one part of the contract stated on
//! [`GraphStore`] and panics with a message naming the rule that broke. Checks never sleep:
//! instants come from [`Commit::at`] and [`BranchOperation::at`](crate::BranchOperation).
//! A backend runs the whole suite with [`run_all`]:
//!
//! ```
//! use std::sync::Arc;
//!
//! use infrahub_graph::{GraphStore, conformance};
//!
//! /// Runs the whole suite against the backend that `open` builds, one fresh store per check.
//! async fn check_backend(open: impl Fn() -> Arc<dyn GraphStore>) {
//!     conformance::run_all(open).await;
//! }
//! ```
//!
//! | function | what it checks |
//! |---|---|
//! | [`default_branch_first`] | the first branch must be the default one; one default branch; listed first |
//! | [`branch_lifecycle`] | create, get, list, update (properties replaced), duplicate and unknown names |
//! | [`branch_deletion`] | a deleted branch is gone with every version written on it; main untouched; the name is reusable |
//! | [`branch_isolation`] | writes on a branch stay off main and main's writes after the branch point stay off the branch |
//! | [`time_travel`] | reads at every `Commit.at`, just before it and between commits, on main and on a branch |
//! | [`branch_shadowing`] | branch values shadow main's; main changes after the branch point stay invisible on the branch |
//! | [`delete_and_recreate`] | `DeleteNode` removes attributes and links on both ends; re-creating the same id starts empty |
//! | [`change_kind`] | `ChangeKind` keeps id and data, moves the node between labels, time-travels |
//! | [`global_data`] | `Scope::Global` writes are visible from every branch at once, never in a branch's changes |
//! | [`local_data_not_merged`] | `Scope::Local` writes stay on their branch, are flagged local and are never merged |
//! | [`merge_results`] | creates, updates, deletes, link add/remove, property-level merge, `keep_default`, epochs |
//! | [`rebase_results`] | the branch sees new main data, keeps its changes minus `drop`, time-travels across the rebase |
//! | [`change_enumeration`] | `changes()` lists every version of a branch in `(from, to]`, oldest first, with before/after |
//! | [`history`] | `history()` lists every version of every slot of a node, incoming links included, oldest first |
//! | [`query_filters`] | every [`Filter`] kind and [`Match`], labels, filters on a branch; `total` and `count()` agree |
//! | [`query_ordering`] | false < true < numbers < strings, nulls last; descending; ties by id; several keys |
//! | [`query_pagination`] | pages of 7 over 50 nodes cover each node once and in order; `total` ignores paging |
//! | [`selections`] | only the asked attributes and links are loaded; node metadata; `get_nodes` order |
//! | [`link_sides`] | which end sees a link with `From`, `To` and `Either`; link properties; link errors |
//! | [`atomicity`] | a changeset whose last op or a condition fails writes nothing at all |
//! | [`conditions`] | `Unique` (attributes, link field, `except`, own writes), `NodeExists`, `NotLinked` |
//! | [`concurrent_writers_and_readers`] | 8 writers × 50 changesets while a reader never sees half a changeset |
//! | [`concurrent_unique_creates`] | 16 racing creates under one `Unique` condition: exactly one wins |
//!
//! Where the trait's rustdoc leaves room, the suite holds backends to these readings:
//!
//! - Ordering compares numbers by value whether they are integers or floats; a node without the
//!   attribute sorts like `null`. Descending order is the exact reverse of ascending for values
//!   (so nulls come first), and ties are broken by ascending node id in both directions.
//! - `Match::Contains` only matches string values; `Match::Equals` on strings is case-sensitive.
//! - `Match::Between` orders values as the trait documents (numbers by value, strings byte by
//!   byte, numbers before strings); a range whose low end is above its high end matches nothing.
//! - `Property::Source` and `Property::Owner` compare with the node id as a JSON string.
//! - A failed commit does not move [`GraphStore::last_commit`], and every commit at or before
//!   `last_commit()` is visible: a read at that instant is repeatable.
//! - A `Unique` condition counts the changeset's own writes, so a created node must be named in
//!   `except` for its own value not to conflict.
//! - Refusals of a malformed request (second default branch, deleting the default branch,
//!   merging or rebasing the default branch) are [`ErrorKind::InvalidInput`].
//! - After a merge the branch starts a new epoch: its earlier writes are visible only through
//!   what the merge wrote on main (values kept by `keep_default` read as main's).
//!
//! [`Commit::at`]: crate::Commit::at
//! [`Filter`]: crate::Filter
//! [`Match`]: crate::Match
//! [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
//! [`selections`]: fn@selections
//! [`atomicity`]: fn@atomicity

mod atomicity;
mod branches;
mod changes;
mod concurrency;
mod data;
mod helpers;
mod merge;
mod queries;
mod selections;
mod time;

pub use atomicity::{atomicity, conditions};
pub use branches::{branch_deletion, branch_isolation, branch_lifecycle, default_branch_first};
pub use changes::{change_enumeration, history};
pub use concurrency::{concurrent_unique_creates, concurrent_writers_and_readers};
pub use data::{change_kind, delete_and_recreate, global_data, local_data_not_merged};
pub use merge::{merge_results, rebase_results};
pub use queries::{long_values, query_filters, query_ordering, query_pagination};
pub use selections::{link_sides, selections};
pub use time::{branch_shadowing, time_travel};

use std::sync::Arc;

use crate::store::GraphStore;

/// Runs every check of the suite, each with a fresh store from `new_store`.
pub async fn run_all(new_store: impl Fn() -> Arc<dyn GraphStore>) {
    default_branch_first(&*new_store()).await;
    branch_lifecycle(&*new_store()).await;
    branch_deletion(&*new_store()).await;
    branch_isolation(&*new_store()).await;
    time_travel(&*new_store()).await;
    branch_shadowing(&*new_store()).await;
    delete_and_recreate(&*new_store()).await;
    change_kind(&*new_store()).await;
    global_data(&*new_store()).await;
    local_data_not_merged(&*new_store()).await;
    merge_results(&*new_store()).await;
    rebase_results(&*new_store()).await;
    change_enumeration(&*new_store()).await;
    history(&*new_store()).await;
    query_filters(&*new_store()).await;
    query_ordering(&*new_store()).await;
    query_pagination(&*new_store()).await;
    long_values(&*new_store()).await;
    selections(&*new_store()).await;
    link_sides(&*new_store()).await;
    atomicity(&*new_store()).await;
    conditions(&*new_store()).await;
    concurrent_writers_and_readers(new_store()).await;
    concurrent_unique_creates(new_store()).await;
}
