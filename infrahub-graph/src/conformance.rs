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
//! - `Property::Source` and `Property::Owner` compare with the node id as a JSON string.
//! - A failed commit does not move [`GraphStore::last_commit`], and every commit at or before
//!   `last_commit()` is visible: a read at that instant is repeatable.
//! - A `Unique` condition counts the changeset's own writes, so a created node must be named in
//!   `except` for its own value not to conflict.
//! - Refusals of a malformed request (second default branch, deleting the default branch,
//!   merging or rebasing the default branch) are [`ErrorKind::InvalidInput`].
//! - After a merge the branch starts a new epoch: its earlier writes are visible only through
//!   what the merge wrote on main (values kept by `keep_default` read as main's).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::branch::{BranchRecord, BranchView, CreateBranchOptions, GLOBAL_BRANCH};
use crate::change::{BranchOperation, Change, MergeOptions, RebaseOptions, SlotProperty};
use crate::changeset::{Changeset, Commit, Condition, Op, UniqueField};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AttributeValue, LinkProperties, NodeData, NodeId, Scope, Side, Slot, Status, Version,
    VersionData, new_node_id,
};
use crate::query::{
    Filter, LinkSelection, Match, NodeQuery, OrderBy, Property, QueryResult, Selection,
};
use crate::store::GraphStore;
use crate::time::Timestamp;

const MAIN: &str = "main";
const FEATURE: &str = "feature";

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
    selections(&*new_store()).await;
    link_sides(&*new_store()).await;
    atomicity(&*new_store()).await;
    conditions(&*new_store()).await;
    concurrent_writers_and_readers(new_store()).await;
    concurrent_unique_creates(new_store()).await;
}

// ---------------------------------------------------------------------------------------------
// Branches

/// The first branch created must be the default branch; there is only one default branch and
/// it is listed first.
pub async fn default_branch_first(store: &dyn GraphStore) {
    let what = "default_branch_first";
    expect_error(
        store
            .create_branch("aaa", CreateBranchOptions::default())
            .await,
        ErrorKind::InvalidInput,
        &format!("{what}: creating a non-default branch in an empty store"),
    );
    expect_error(
        store.get_branch("aaa").await,
        ErrorKind::NotFound,
        &format!("{what}: the refused branch `aaa`"),
    );
    expect_error(
        store
            .commit(changeset(
                MAIN,
                vec![create(new_node_id(), "TestNode", &["TestNode"])],
            ))
            .await,
        ErrorKind::NotFound,
        &format!("{what}: committing to `{MAIN}` before it exists"),
    );

    let properties = props(&[("description", json!("the default branch"))]);
    let main = store
        .create_branch(
            MAIN,
            CreateBranchOptions {
                properties: properties.clone(),
                is_default: true,
            },
        )
        .await
        .unwrap_or_else(|error| panic!("{what}: creating the default branch failed: {error}"));
    assert_eq!(
        main.name, MAIN,
        "{what}: name of the created default branch"
    );
    assert!(
        main.is_default,
        "{what}: the branch created with is_default must be the default branch"
    );
    assert_eq!(
        main.properties, properties,
        "{what}: properties of the default branch"
    );

    let aaa = new_branch(store, "aaa").await;
    assert!(
        !aaa.is_default,
        "{what}: a branch created without is_default must not be the default branch"
    );
    expect_error(
        store
            .create_branch(
                "second-default",
                CreateBranchOptions {
                    is_default: true,
                    ..Default::default()
                },
            )
            .await,
        ErrorKind::InvalidInput,
        &format!("{what}: creating a second default branch"),
    );
    expect_error(
        store.get_branch("second-default").await,
        ErrorKind::NotFound,
        &format!("{what}: the refused second default branch"),
    );

    let listed = list_branches(store).await;
    assert_eq!(
        listed.first().map(|branch| branch.name.as_str()),
        Some(MAIN),
        "{what}: list_branches must list the default branch first (even when another name sorts before it)"
    );
    assert_eq!(
        branch_names(&listed),
        vec![MAIN.to_string(), "aaa".to_string()],
        "{what}: listed branches"
    );
    assert_eq!(
        listed.iter().filter(|branch| branch.is_default).count(),
        1,
        "{what}: exactly one listed branch is the default branch"
    );
}

/// Branches are created, read, listed and updated; names are unique.
pub async fn branch_lifecycle(store: &dyn GraphStore) {
    let what = "branch_lifecycle";
    let main = init(store).await;
    let base = commit(
        store,
        MAIN,
        vec![create(new_node_id(), "TestNode", &["TestNode"])],
        what,
    )
    .await;

    expect_error(
        store
            .create_branch(MAIN, CreateBranchOptions::default())
            .await,
        ErrorKind::AlreadyExists,
        &format!("{what}: creating `{MAIN}` twice"),
    );
    assert!(
        store
            .create_branch(GLOBAL_BRANCH, CreateBranchOptions::default())
            .await
            .is_err(),
        "{what}: creating a branch named `{GLOBAL_BRANCH}` must fail"
    );

    let description = props(&[("description", json!("first feature"))]);
    let feature = store
        .create_branch(
            "feature-a",
            CreateBranchOptions {
                properties: description.clone(),
                is_default: false,
            },
        )
        .await
        .unwrap_or_else(|error| panic!("{what}: creating `feature-a` failed: {error}"));
    assert_eq!(
        feature.name, "feature-a",
        "{what}: name of the created branch"
    );
    assert!(
        !feature.is_default,
        "{what}: `feature-a` must not be the default branch"
    );
    assert_eq!(
        feature.properties, description,
        "{what}: properties given at creation"
    );
    assert_ne!(feature.id, main.id, "{what}: branch ids must differ");
    assert!(
        feature.branched_from >= base.at,
        "{what}: a new branch must read main at or after the last commit"
    );
    assert!(
        feature.created_at >= base.at,
        "{what}: created_at of a branch created after a commit"
    );
    assert_eq!(
        feature.current_epoch().branched_from,
        feature.branched_from,
        "{what}: the current epoch of a new branch reads main at branched_from"
    );
    assert_eq!(
        get_branch(store, "feature-a").await,
        feature,
        "{what}: get_branch returns what create_branch returned"
    );

    let later = commit(
        store,
        MAIN,
        vec![create(new_node_id(), "TestNode", &["TestNode"])],
        what,
    )
    .await;
    assert!(
        later.at > feature.branched_from,
        "{what}: a commit made after create_branch returned must be later than the branch point"
    );

    expect_error(
        store.get_branch("missing").await,
        ErrorKind::NotFound,
        &format!("{what}: get_branch(`missing`)"),
    );
    expect_error(
        store
            .create_branch("feature-a", CreateBranchOptions::default())
            .await,
        ErrorKind::AlreadyExists,
        &format!("{what}: creating `feature-a` twice"),
    );

    new_branch(store, "feature-b").await;
    let listed = list_branches(store).await;
    assert_eq!(
        listed.first().map(|branch| branch.name.as_str()),
        Some(MAIN),
        "{what}: list_branches must list the default branch first"
    );
    let mut names = branch_names(&listed);
    names.sort();
    assert_eq!(
        names,
        vec!["feature-a", "feature-b", MAIN],
        "{what}: every branch listed exactly once"
    );

    let status = props(&[("status", json!("open"))]);
    let updated = store
        .update_branch("feature-a", status.clone())
        .await
        .unwrap_or_else(|error| panic!("{what}: update_branch(`feature-a`) failed: {error}"));
    assert_eq!(
        updated.properties, status,
        "{what}: update_branch replaces the properties (the old ones are gone)"
    );
    assert_eq!(
        (
            updated.name.as_str(),
            updated.id,
            updated.is_default,
            updated.created_at,
            updated.branched_from
        ),
        (
            feature.name.as_str(),
            feature.id,
            feature.is_default,
            feature.created_at,
            feature.branched_from
        ),
        "{what}: update_branch changes only the properties"
    );
    assert_eq!(
        get_branch(store, "feature-a").await,
        updated,
        "{what}: get_branch after update_branch"
    );
    expect_error(
        store.update_branch("missing", status).await,
        ErrorKind::NotFound,
        &format!("{what}: update_branch(`missing`)"),
    );
    let main_update = props(&[("description", json!("production"))]);
    let main_updated = store
        .update_branch(MAIN, main_update.clone())
        .await
        .unwrap_or_else(|error| panic!("{what}: update_branch(`{MAIN}`) failed: {error}"));
    assert!(
        main_updated.is_default,
        "{what}: updating the default branch keeps it the default branch"
    );
    assert_eq!(
        main_updated.properties, main_update,
        "{what}: properties of the default branch after update"
    );
}

/// Deleting a branch removes it and every version written on it, and leaves main untouched.
pub async fn branch_deletion(store: &dyn GraphStore) {
    let what = "branch_deletion";
    init(store).await;
    let shared = new_node_id();
    commit(
        store,
        MAIN,
        node_ops(
            shared,
            "TestNode",
            &["TestNode"],
            &[("name", json!("main-value"))],
        ),
        what,
    )
    .await;
    let old = new_branch(store, FEATURE).await;
    let on_branch = new_node_id();
    let mut ops = vec![set(shared, "name", json!("branch-value"))];
    ops.extend(node_ops(
        on_branch,
        "TestNode",
        &["TestNode"],
        &[("name", json!("branch-node"))],
    ));
    ops.push(link("rel", on_branch, shared));
    commit(store, FEATURE, ops, what).await;
    assert!(
        history_of(store, shared)
            .await
            .iter()
            .any(|(_, version)| version.branch == FEATURE),
        "{what}: history must list the version written on `{FEATURE}` before the deletion"
    );

    store
        .delete_branch(FEATURE)
        .await
        .unwrap_or_else(|error| panic!("{what}: delete_branch(`{FEATURE}`) failed: {error}"));
    expect_error(
        store.get_branch(FEATURE).await,
        ErrorKind::NotFound,
        &format!("{what}: get_branch after deletion"),
    );
    assert!(
        !branch_names(&list_branches(store).await).contains(&FEATURE.to_string()),
        "{what}: a deleted branch must not be listed"
    );
    expect_error(
        store.delete_branch(FEATURE).await,
        ErrorKind::NotFound,
        &format!("{what}: deleting twice"),
    );
    expect_error(
        store
            .commit(changeset(FEATURE, vec![set(shared, "name", json!("late"))]))
            .await,
        ErrorKind::NotFound,
        &format!("{what}: committing to a deleted branch"),
    );
    expect_error(
        store
            .get_nodes(&now(FEATURE), &[shared], &Selection::all_attributes())
            .await,
        ErrorKind::NotFound,
        &format!("{what}: reading a deleted branch"),
    );
    expect_error(
        store.changes(FEATURE, Timestamp::MIN, Timestamp::MAX).await,
        ErrorKind::NotFound,
        &format!("{what}: changes of a deleted branch"),
    );

    assert_value(
        store,
        &now(MAIN),
        shared,
        "name",
        Some(json!("main-value")),
        what,
    )
    .await;
    assert_links(store, &now(MAIN), shared, "rel", Side::Either, &[], what).await;
    assert_visible(store, &now(MAIN), on_branch, false, what).await;
    assert!(
        history_of(store, shared)
            .await
            .iter()
            .all(|(_, version)| version.branch != FEATURE),
        "{what}: deleting a branch must remove every version written on it (history of a main node)"
    );
    assert_eq!(
        history_of(store, on_branch).await,
        Vec::new(),
        "{what}: a node created only on a deleted branch has no history left"
    );

    expect_error(
        store.delete_branch(MAIN).await,
        ErrorKind::InvalidInput,
        &format!("{what}: deleting the default branch"),
    );
    assert!(
        get_branch(store, MAIN).await.is_default,
        "{what}: the default branch survives a refused deletion"
    );

    let recreated = new_branch(store, FEATURE).await;
    assert_ne!(
        recreated.id, old.id,
        "{what}: a re-created branch is a new branch"
    );
    assert_value(
        store,
        &now(FEATURE),
        shared,
        "name",
        Some(json!("main-value")),
        what,
    )
    .await;
    assert_visible(store, &now(FEATURE), on_branch, false, what).await;
}

/// Writes on a branch are invisible on main, and main's writes after the branch point are
/// invisible on the branch.
pub async fn branch_isolation(store: &dyn GraphStore) {
    let what = "branch_isolation";
    init(store).await;
    let label = ["TestIsolated"];
    let shared = new_node_id();
    commit(
        store,
        MAIN,
        node_ops(shared, "TestIsolated", &label, &[("name", json!("shared"))]),
        what,
    )
    .await;
    new_branch(store, FEATURE).await;

    let on_branch = new_node_id();
    let mut ops = node_ops(
        on_branch,
        "TestIsolated",
        &label,
        &[("name", json!("branch"))],
    );
    ops.push(link("rel", shared, on_branch));
    commit(store, FEATURE, ops, what).await;
    let on_main = new_node_id();
    let mut ops = node_ops(on_main, "TestIsolated", &label, &[("name", json!("main"))]);
    ops.push(link("rel", shared, on_main));
    commit(store, MAIN, ops, what).await;

    let main = now(MAIN);
    let feature = now(FEATURE);
    assert_visible(store, &main, shared, true, what).await;
    assert_visible(store, &feature, shared, true, what).await;
    assert_visible(store, &main, on_branch, false, what).await;
    assert_visible(store, &feature, on_branch, true, what).await;
    assert_visible(store, &main, on_main, true, what).await;
    assert_visible(store, &feature, on_main, false, what).await;
    assert_links(
        store,
        &main,
        shared,
        "rel",
        Side::From,
        &[(on_main, Side::From)],
        what,
    )
    .await;
    assert_links(
        store,
        &feature,
        shared,
        "rel",
        Side::From,
        &[(on_branch, Side::From)],
        what,
    )
    .await;
    expect_matches(
        store,
        &main,
        &label,
        vec![],
        &[shared, on_main],
        &format!("{what}: listing on main"),
    )
    .await;
    expect_matches(
        store,
        &feature,
        &label,
        vec![],
        &[shared, on_branch],
        &format!("{what}: listing on the branch"),
    )
    .await;
    expect_matches(
        store,
        &feature,
        &label,
        vec![attribute_is("name", Match::Equals(json!("main")))],
        &[],
        &format!(
            "{what}: filtering on the branch for a value written on main after the branch point"
        ),
    )
    .await;

    let main_changes = changes_of(store, MAIN, Timestamp::MIN, Timestamp::MAX).await;
    assert!(
        main_changes
            .iter()
            .all(|change| change.after.branch == MAIN && !slot_touches(&change.slot, on_branch)),
        "{what}: changes of main must not include versions written on `{FEATURE}`: {main_changes:?}"
    );

    new_branch(store, "other").await;
    let other = now("other");
    assert_visible(store, &other, on_main, true, what).await;
    assert_visible(store, &other, on_branch, false, what).await;
}

// ---------------------------------------------------------------------------------------------
// Time travel and shadowing

/// Reads at every commit instant, just before it and between commits see the state of that
/// instant, on main and on a branch.
pub async fn time_travel(store: &dyn GraphStore) {
    let what = "time_travel";
    init(store).await;
    let label = ["TestCounter"];
    let counter = new_node_id();
    let second = new_node_id();
    let mut commits = vec![
        commit(
            store,
            MAIN,
            node_ops(counter, "TestCounter", &label, &[("counter", json!(0))]),
            what,
        )
        .await,
    ];
    for i in 1..=5 {
        if i == 3 {
            new_branch(store, FEATURE).await;
        }
        let mut ops = vec![set(counter, "counter", json!(i))];
        if i == 3 {
            ops.extend(node_ops(
                second,
                "TestCounter",
                &label,
                &[("counter", json!(-1))],
            ));
        }
        commits.push(commit(store, MAIN, ops, what).await);
        assert_eq!(
            last_commit(store).await,
            commits[i].at,
            "{what}: last_commit after commit {i}"
        );
    }
    for pair in commits.windows(2) {
        assert!(
            pair[0].at < pair[1].at,
            "{what}: successive commits must have strictly increasing timestamps"
        );
    }

    let before_all = at(MAIN, just_before(commits[0].at));
    assert_visible(store, &before_all, counter, false, what).await;
    assert_eq!(
        count_of(store, &before_all, &labelled(&label)).await,
        0,
        "{what}: count before the first commit"
    );

    for (i, done) in commits.iter().enumerate() {
        let view = at(MAIN, done.at);
        assert_value(store, &view, counter, "counter", Some(json!(i)), what).await;
        if i > 0 {
            let just_before_view = at(MAIN, just_before(done.at));
            assert_value(
                store,
                &just_before_view,
                counter,
                "counter",
                Some(json!(i - 1)),
                what,
            )
            .await;
            expect_matches(
                store,
                &view,
                &label,
                vec![attribute_is("counter", Match::Equals(json!(i - 1)))],
                &[],
                &format!(
                    "{what}: the value replaced at commit {i} must not match at {}",
                    done.at
                ),
            )
            .await;
        }
        if let Some(next) = commits.get(i + 1) {
            let between = at(MAIN, midpoint(done.at, next.at));
            assert_value(store, &between, counter, "counter", Some(json!(i)), what).await;
        }
        expect_matches(
            store,
            &view,
            &label,
            vec![attribute_is("counter", Match::Equals(json!(i)))],
            &[counter],
            &format!("{what}: filtering at commit {i}"),
        )
        .await;
        let expected = if i >= 3 { 2 } else { 1 };
        assert_eq!(
            count_of(store, &view, &labelled(&label)).await,
            expected,
            "{what}: count at commit {i}"
        );
    }
    assert_value(store, &now(MAIN), counter, "counter", Some(json!(5)), what).await;

    let branch_first = commit(
        store,
        FEATURE,
        vec![set(counter, "counter", json!(100))],
        what,
    )
    .await;
    let branch_second = commit(
        store,
        FEATURE,
        vec![set(counter, "counter", json!(101))],
        what,
    )
    .await;
    let before_branch_writes = at(FEATURE, just_before(branch_first.at));
    assert_value(
        store,
        &before_branch_writes,
        counter,
        "counter",
        Some(json!(2)),
        what,
    )
    .await;
    assert_visible(store, &before_branch_writes, second, false, what).await;
    assert_value(
        store,
        &at(FEATURE, branch_first.at),
        counter,
        "counter",
        Some(json!(100)),
        what,
    )
    .await;
    assert_value(
        store,
        &at(FEATURE, just_before(branch_second.at)),
        counter,
        "counter",
        Some(json!(100)),
        what,
    )
    .await;
    assert_value(
        store,
        &at(FEATURE, branch_second.at),
        counter,
        "counter",
        Some(json!(101)),
        what,
    )
    .await;
    assert_value(
        store,
        &at(MAIN, branch_second.at),
        counter,
        "counter",
        Some(json!(5)),
        what,
    )
    .await;

    let deleted = commit(store, MAIN, vec![delete(counter)], what).await;
    assert_visible(store, &at(MAIN, deleted.at), counter, false, what).await;
    assert_value(
        store,
        &at(MAIN, just_before(deleted.at)),
        counter,
        "counter",
        Some(json!(5)),
        what,
    )
    .await;
    assert_visible(store, &now(MAIN), counter, false, what).await;
    assert_value(
        store,
        &now(FEATURE),
        counter,
        "counter",
        Some(json!(101)),
        what,
    )
    .await;
}

/// Branch values shadow main's, and main's changes after the branch point stay invisible on the
/// branch.
pub async fn branch_shadowing(store: &dyn GraphStore) {
    let what = "branch_shadowing";
    init(store).await;
    let label = ["TestShadow"];
    let [node, deleted_on_main, deleted_on_branch] = ids();
    let mut ops = node_ops(
        node,
        "TestShadow",
        &label,
        &[
            ("name", json!("n")),
            ("description", json!("main-1")),
            ("mtu", json!(1500)),
            ("speed", json!(10)),
        ],
    );
    ops.extend(node_ops(
        deleted_on_main,
        "TestShadow",
        &label,
        &[("name", json!("d"))],
    ));
    ops.extend(node_ops(
        deleted_on_branch,
        "TestShadow",
        &label,
        &[("name", json!("e"))],
    ));
    let base = commit(store, MAIN, ops, what).await;
    new_branch(store, FEATURE).await;

    let branch_write = commit(
        store,
        FEATURE,
        vec![
            set(node, "description", json!("branch")),
            set(node, "mtu", json!(1)),
            remove_attribute(node, "name"),
            delete(deleted_on_branch),
        ],
        what,
    )
    .await;
    commit(
        store,
        MAIN,
        vec![
            set(node, "description", json!("main-2")),
            set(node, "mtu", json!(9000)),
            set(node, "speed", json!(20)),
            set(node, "role", json!("core")),
            delete(deleted_on_main),
        ],
        what,
    )
    .await;

    let feature = now(FEATURE);
    let seen = read_all(store, &feature, node)
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible on the branch"));
    let expected_branch_side = [
        ("description", json!("branch"), FEATURE, branch_write.at),
        ("mtu", json!(1), FEATURE, branch_write.at),
        ("speed", json!(10), MAIN, base.at),
    ];
    for (name, value, branch, written) in expected_branch_side {
        let state = seen
            .attributes
            .get(name)
            .unwrap_or_else(|| panic!("{what}: attribute `{name}` missing on the branch"));
        assert_eq!(
            (&state.value.value, state.branch.as_str(), state.updated_at),
            (&value, branch, written),
            "{what}: attribute `{name}` on the branch (value, branch written on, updated_at)"
        );
    }
    assert!(
        !seen.attributes.contains_key("name"),
        "{what}: an attribute removed on the branch is gone there"
    );
    assert!(
        !seen.attributes.contains_key("role"),
        "{what}: an attribute created on main after the branch point is invisible on the branch"
    );
    assert_visible(store, &feature, deleted_on_main, true, what).await;
    assert_visible(store, &feature, deleted_on_branch, false, what).await;

    let main = now(MAIN);
    for (name, value) in [
        ("name", json!("n")),
        ("description", json!("main-2")),
        ("mtu", json!(9000)),
        ("speed", json!(20)),
        ("role", json!("core")),
    ] {
        assert_value(store, &main, node, name, Some(value), what).await;
    }
    assert_visible(store, &main, deleted_on_main, false, what).await;
    assert_visible(store, &main, deleted_on_branch, true, what).await;

    let on_branch = |expected: &'static str| format!("{what}: filter on the branch ({expected})");
    expect_matches(
        store,
        &feature,
        &label,
        vec![attribute_is("description", Match::Equals(json!("branch")))],
        &[node],
        &on_branch("branch value"),
    )
    .await;
    expect_matches(
        store,
        &feature,
        &label,
        vec![attribute_is("description", Match::Equals(json!("main-2")))],
        &[],
        &on_branch("main value after the branch point"),
    )
    .await;
    expect_matches(
        store,
        &feature,
        &label,
        vec![attribute_is("name", Match::IsNull(true))],
        &[node],
        &on_branch("attribute removed on the branch"),
    )
    .await;
    expect_matches(
        store,
        &feature,
        &label,
        vec![],
        &[node, deleted_on_main],
        &on_branch("listing"),
    )
    .await;
    expect_matches(
        store,
        &main,
        &label,
        vec![attribute_is("name", Match::IsNull(true))],
        &[],
        &format!("{what}: an attribute removed on the branch is still set on main"),
    )
    .await;
    expect_matches(
        store,
        &main,
        &label,
        vec![],
        &[node, deleted_on_branch],
        &format!("{what}: listing on main"),
    )
    .await;

    new_branch(store, "later").await;
    let later = now("later");
    assert_value(
        store,
        &later,
        node,
        "description",
        Some(json!("main-2")),
        what,
    )
    .await;
    assert_visible(store, &later, deleted_on_main, false, what).await;
    assert_visible(store, &later, deleted_on_branch, true, what).await;
}

// ---------------------------------------------------------------------------------------------
// Deletes, kinds, global and local data

/// `DeleteNode` removes the node, its attributes and every link to or from it; the same id
/// can be created again and starts empty.
pub async fn delete_and_recreate(store: &dyn GraphStore) {
    let what = "delete_and_recreate";
    init(store).await;
    let label = ["TestRecreate"];
    let [node, peer, source] = ids();
    let mut ops = node_ops(
        node,
        "TestRecreate",
        &label,
        &[("a", json!(1)), ("b", json!(2))],
    );
    ops.extend(node_ops(peer, "TestRecreate", &label, &[]));
    ops.extend(node_ops(source, "TestRecreate", &label, &[]));
    ops.push(link("out", node, peer));
    ops.push(link("in", source, node));
    let created = commit(store, MAIN, ops, what).await;
    let deleted = commit(store, MAIN, vec![delete(node)], what).await;

    let main = now(MAIN);
    assert_visible(store, &main, node, false, what).await;
    let listed = store
        .get_nodes(&main, &[node, peer], &Selection::nothing())
        .await
        .unwrap_or_else(|error| panic!("{what}: get_nodes failed: {error}"));
    assert_eq!(
        ids_of(&listed),
        vec![peer],
        "{what}: get_nodes leaves out a deleted node"
    );
    assert_links(store, &main, peer, "out", Side::Either, &[], what).await;
    assert_links(store, &main, source, "in", Side::Either, &[], what).await;
    expect_matches(
        store,
        &main,
        &label,
        vec![Filter::Linked {
            identifier: "out".into(),
            side: Side::To,
            peers: vec![node],
        }],
        &[],
        &format!("{what}: a link of a deleted node must not match"),
    )
    .await;
    for (op, kind, case) in [
        (
            set(node, "a", json!(3)),
            ErrorKind::NotFound,
            "setting an attribute of a deleted node",
        ),
        (delete(node), ErrorKind::NotFound, "deleting a deleted node"),
        (
            link("out", peer, node),
            ErrorKind::NotFound,
            "linking to a deleted node",
        ),
        (
            unlink("out", node, peer),
            ErrorKind::NotFound,
            "removing a link removed by DeleteNode",
        ),
    ] {
        expect_error(
            store.commit(changeset(MAIN, vec![op])).await,
            kind,
            &format!("{what}: {case}"),
        );
    }

    let recreated = commit(
        store,
        MAIN,
        vec![create(node, "TestRecreated", &["TestRecreated"])],
        what,
    )
    .await;
    let seen = read(store, &main, node, &everything(&["out", "in"]))
        .await
        .unwrap_or_else(|| panic!("{what}: a re-created node must be visible"));
    assert_eq!(
        seen.kind, "TestRecreated",
        "{what}: kind of the re-created node"
    );
    assert_eq!(
        seen.created_at, recreated.at,
        "{what}: created_at of the re-created node"
    );
    assert!(
        seen.attributes.is_empty(),
        "{what}: a re-created node must not get its old attributes back: {seen:?}"
    );
    assert!(
        seen.links.is_empty(),
        "{what}: a re-created node must not get its old links back: {seen:?}"
    );
    expect_error(
        store
            .commit(changeset(
                MAIN,
                vec![create(node, "TestRecreated", &["TestRecreated"])],
            ))
            .await,
        ErrorKind::AlreadyExists,
        &format!("{what}: creating a visible id again"),
    );
    commit(store, MAIN, vec![set(node, "a", json!(10))], what).await;
    assert_value(store, &main, node, "a", Some(json!(10)), what).await;
    assert_value(store, &main, node, "b", None, what).await;

    let first_life = at(MAIN, created.at);
    assert_value(store, &first_life, node, "a", Some(json!(1)), what).await;
    assert_links(
        store,
        &first_life,
        peer,
        "out",
        Side::To,
        &[(node, Side::To)],
        what,
    )
    .await;
    assert_visible(store, &at(MAIN, deleted.at), node, false, what).await;
    assert_visible(
        store,
        &at(MAIN, just_before(recreated.at)),
        node,
        false,
        what,
    )
    .await;
    assert_value(store, &at(MAIN, recreated.at), node, "a", None, what).await;

    let existence: Vec<(Timestamp, Status)> = history_of(store, node)
        .await
        .into_iter()
        .filter(|(slot, _)| *slot == Slot::Node { id: node })
        .map(|(_, version)| (version.at, version.status))
        .collect();
    assert_eq!(
        existence,
        vec![
            (created.at, Status::Active),
            (deleted.at, Status::Deleted),
            (recreated.at, Status::Active)
        ],
        "{what}: history of the node's existence"
    );

    // The same on a branch: main keeps the node, the branch sees the re-created one.
    let kept = new_node_id();
    let mut ops = node_ops(kept, "TestRecreate", &label, &[("name", json!("k"))]);
    ops.push(link("out", kept, peer));
    commit(store, MAIN, ops, what).await;
    new_branch(store, FEATURE).await;
    commit(store, FEATURE, vec![delete(kept)], what).await;
    let feature = now(FEATURE);
    assert_links(store, &feature, peer, "out", Side::To, &[], what).await;
    commit(
        store,
        FEATURE,
        vec![create(kept, "TestRecreated", &["TestRecreated"])],
        what,
    )
    .await;
    let on_branch = read(store, &feature, kept, &everything(&["out"]))
        .await
        .unwrap_or_else(|| panic!("{what}: a node re-created on a branch must be visible there"));
    assert!(
        on_branch.attributes.is_empty() && on_branch.links.is_empty(),
        "{what}: a node deleted and re-created on a branch starts empty there: {on_branch:?}"
    );
    assert_value(store, &main, kept, "name", Some(json!("k")), what).await;
    assert_links(
        store,
        &main,
        peer,
        "out",
        Side::To,
        &[(kept, Side::To)],
        what,
    )
    .await;
}

/// `ChangeKind` changes kind and labels, keeps id, attributes and links.
pub async fn change_kind(store: &dyn GraphStore) {
    let what = "change_kind";
    init(store).await;
    let [node, peer] = ids();
    let mut ops = node_ops(node, "TestOld", &["TestOld"], &[("name", json!("n"))]);
    ops.extend(node_ops(peer, "TestPeer", &["TestPeer"], &[]));
    ops.push(link("rel", node, peer));
    let created = commit(store, MAIN, ops, what).await;
    let changed = commit(
        store,
        MAIN,
        vec![Op::ChangeKind {
            id: node,
            kind: "TestNew".into(),
            labels: vec!["TestNew".into(), "TestGeneric".into()],
            scope: Scope::Branch,
        }],
        what,
    )
    .await;
    let main = now(MAIN);
    let seen = read(store, &main, node, &everything(&["rel"]))
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible after ChangeKind"));
    assert_eq!(seen.kind, "TestNew", "{what}: kind after ChangeKind");
    assert_eq!(
        sorted_strings(&seen.labels),
        vec!["TestGeneric", "TestNew"],
        "{what}: labels after ChangeKind"
    );
    assert_eq!(
        seen.created_at, changed.at,
        "{what}: created_at is the time of the kind change"
    );
    assert_eq!(
        seen.attributes.get("name").map(|state| &state.value.value),
        Some(&json!("n")),
        "{what}: attributes survive ChangeKind"
    );
    assert_eq!(
        link_ends(&seen),
        vec![(peer, Side::From)],
        "{what}: links survive ChangeKind"
    );
    expect_matches(
        store,
        &main,
        &["TestOld"],
        vec![],
        &[],
        &format!("{what}: old label after ChangeKind"),
    )
    .await;
    expect_matches(
        store,
        &main,
        &["TestGeneric"],
        vec![],
        &[node],
        &format!("{what}: new label after ChangeKind"),
    )
    .await;
    let before = read(store, &at(MAIN, created.at), node, &Selection::nothing())
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible before ChangeKind"));
    assert_eq!(
        before.kind, "TestOld",
        "{what}: kind before ChangeKind (time travel)"
    );
    expect_matches(
        store,
        &at(MAIN, created.at),
        &["TestOld"],
        vec![],
        &[node],
        &format!("{what}: old label before ChangeKind (time travel)"),
    )
    .await;
    expect_error(
        store
            .commit(changeset(
                MAIN,
                vec![Op::ChangeKind {
                    id: new_node_id(),
                    kind: "TestNew".into(),
                    labels: vec!["TestNew".into()],
                    scope: Scope::Branch,
                }],
            ))
            .await,
        ErrorKind::NotFound,
        &format!("{what}: ChangeKind of a missing node"),
    );
}

/// `Scope::Global` writes land on the global branch and are visible from every branch at once.
pub async fn global_data(store: &dyn GraphStore) {
    let what = "global_data";
    init(store).await;
    let feature = new_branch(store, FEATURE).await;
    let label = ["TestGlobal"];
    let [tag, other] = ids();
    let written = commit(
        store,
        FEATURE,
        vec![
            create_in(tag, "TestGlobal", &label, Scope::Global),
            set_in(tag, "name", AttributeValue::new(json!("g1")), Scope::Global),
            create_in(other, "TestGlobal", &label, Scope::Global),
            Op::SetLink {
                identifier: "tagged".into(),
                from: tag,
                to: other,
                properties: LinkProperties::visible(),
                scope: Scope::Global,
            },
        ],
        what,
    )
    .await;
    assert!(
        written.at > feature.branched_from,
        "{what}: precondition: the global write is after the branch point"
    );

    for branch in [MAIN, FEATURE] {
        let seen = read_all(store, &now(branch), tag)
            .await
            .unwrap_or_else(|| panic!("{what}: a global node must be visible on `{branch}`"));
        assert_eq!(
            seen.branch, GLOBAL_BRANCH,
            "{what}: NodeData.branch of a global node on `{branch}`"
        );
        let name = seen
            .attributes
            .get("name")
            .unwrap_or_else(|| panic!("{what}: global attribute missing"));
        assert_eq!(
            (&name.value.value, name.branch.as_str()),
            (&json!("g1"), GLOBAL_BRANCH),
            "{what}: global attribute on `{branch}`"
        );
        assert_visible(store, &at(branch, written.at), tag, true, what).await;
        assert_visible(
            store,
            &at(branch, just_before(written.at)),
            tag,
            false,
            what,
        )
        .await;
        assert_links(
            store,
            &now(branch),
            tag,
            "tagged",
            Side::From,
            &[(other, Side::From)],
            what,
        )
        .await;
    }

    let update = commit(
        store,
        MAIN,
        vec![set_in(
            tag,
            "name",
            AttributeValue::new(json!("g2")),
            Scope::Global,
        )],
        what,
    )
    .await;
    assert_value(store, &now(FEATURE), tag, "name", Some(json!("g2")), what).await;
    assert_value(
        store,
        &at(FEATURE, update.at),
        tag,
        "name",
        Some(json!("g2")),
        what,
    )
    .await;
    assert_value(
        store,
        &at(FEATURE, just_before(update.at)),
        tag,
        "name",
        Some(json!("g1")),
        what,
    )
    .await;
    assert_value(
        store,
        &at(MAIN, written.at),
        tag,
        "name",
        Some(json!("g1")),
        what,
    )
    .await;
    expect_matches(
        store,
        &now(FEATURE),
        &label,
        vec![attribute_is("name", Match::Equals(json!("g2")))],
        &[tag],
        &format!("{what}: filtering global data on a branch"),
    )
    .await;

    for branch in [MAIN, FEATURE] {
        let listed = changes_of(store, branch, Timestamp::MIN, Timestamp::MAX).await;
        assert!(
            listed.iter().all(
                |change| !slot_touches(&change.slot, tag) && !slot_touches(&change.slot, other)
            ),
            "{what}: global versions must not be listed in the changes of `{branch}`: {listed:?}"
        );
    }
    let versions = history_of(store, tag).await;
    assert!(
        !versions.is_empty(),
        "{what}: history of a global node must not be empty"
    );
    assert!(
        versions
            .iter()
            .all(|(_, version)| version.branch == GLOBAL_BRANCH && !version.local),
        "{what}: every version of a global node is on `{GLOBAL_BRANCH}`: {versions:?}"
    );

    new_branch(store, "later").await;
    assert_value(store, &now("later"), tag, "name", Some(json!("g2")), what).await;
    store
        .delete_branch(FEATURE)
        .await
        .unwrap_or_else(|error| panic!("{what}: delete_branch(`{FEATURE}`) failed: {error}"));
    assert_value(store, &now(MAIN), tag, "name", Some(json!("g2")), what).await;
    assert_eq!(
        history_of(store, tag).await.len(),
        versions.len(),
        "{what}: deleting the branch a global write came from must not remove it"
    );
}

/// `Scope::Local` writes stay on their branch, are flagged local and are never merged.
pub async fn local_data_not_merged(store: &dyn GraphStore) {
    let what = "local_data_not_merged";
    init(store).await;
    let label = ["TestLocal"];
    let [node, local] = ids();
    commit(
        store,
        MAIN,
        node_ops(node, "TestLocal", &label, &[("name", json!("n"))]),
        what,
    )
    .await;
    new_branch(store, FEATURE).await;
    commit(
        store,
        FEATURE,
        vec![
            create_in(local, "TestLocal", &label, Scope::Local),
            set_in(local, "note", AttributeValue::new(json!("x")), Scope::Local),
            set_in(
                node,
                "comment",
                AttributeValue::new(json!("local comment")),
                Scope::Local,
            ),
            set(node, "name", json!("renamed")),
        ],
        what,
    )
    .await;

    let feature = now(FEATURE);
    let main = now(MAIN);
    assert_value(store, &feature, local, "note", Some(json!("x")), what).await;
    assert_value(
        store,
        &feature,
        node,
        "comment",
        Some(json!("local comment")),
        what,
    )
    .await;
    assert_visible(store, &main, local, false, what).await;
    assert_value(store, &main, node, "comment", None, what).await;

    let comment = Slot::Attribute {
        node,
        name: "comment".into(),
    };
    let name = Slot::Attribute {
        node,
        name: "name".into(),
    };
    let listed = changes_of(store, FEATURE, Timestamp::MIN, Timestamp::MAX).await;
    let name_change = listed
        .iter()
        .find(|change| change.slot == name)
        .unwrap_or_else(|| {
            panic!("{what}: the branch-aware change of `name` is missing from changes()")
        });
    assert!(
        !name_change.after.local,
        "{what}: a Scope::Branch version must not be flagged local"
    );
    for change in listed
        .iter()
        .filter(|change| change.slot == comment || slot_touches(&change.slot, local))
    {
        assert!(
            change.after.local,
            "{what}: a Scope::Local version listed by changes() must be flagged local: {change:?}"
        );
    }
    let local_history = history_of(store, local).await;
    assert!(
        !local_history.is_empty(),
        "{what}: history of a local node must not be empty"
    );
    assert!(
        local_history
            .iter()
            .all(|(_, version)| version.local && version.branch == FEATURE),
        "{what}: versions of a local node are local and on `{FEATURE}`: {local_history:?}"
    );

    merge(store, FEATURE, MergeOptions::default(), what).await;
    assert_value(store, &main, node, "name", Some(json!("renamed")), what).await;
    assert_visible(store, &main, local, false, what).await;
    assert_value(store, &main, node, "comment", None, what).await;
    expect_matches(
        store,
        &main,
        &label,
        vec![],
        &[node],
        &format!("{what}: listing main after the merge"),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Merge and rebase

/// Merge applies the branch's changes property by property at a new timestamp, honours
/// `keep_default`, time-travels, and starts a new epoch of the branch.
pub async fn merge_results(store: &dyn GraphStore) {
    let what = "merge_results";
    init(store).await;
    let label = ["TestMerge"];
    let [a, b, d, e, c, c2] = ids();
    let mut ops = node_ops(
        a,
        "TestMerge",
        &label,
        &[
            ("name", json!("a")),
            ("description", json!("a-main")),
            ("mtu", json!(1500)),
            ("role", json!("edge")),
        ],
    );
    ops.extend(node_ops(b, "TestMerge", &label, &[("name", json!("b"))]));
    ops.extend(node_ops(d, "TestMerge", &label, &[("name", json!("d"))]));
    ops.extend(node_ops(e, "TestMerge", &label, &[("name", json!("e"))]));
    ops.push(link("peer", a, b));
    commit(store, MAIN, ops, what).await;
    let feature = new_branch(store, FEATURE).await;

    let mut ops = node_ops(
        c,
        "TestMerge",
        &label,
        &[("name", json!("c")), ("mtu", json!(9000))],
    );
    ops.extend(node_ops(c2, "TestMerge", &label, &[("name", json!("c2"))]));
    ops.extend([
        set(a, "description", json!("a-branch")),
        set(a, "mtu", json!(9216)),
        delete(d),
        unlink("peer", a, b),
        link("peer", a, c),
        set_value(
            b,
            "name",
            AttributeValue {
                is_protected: true,
                ..AttributeValue::new(json!("b"))
            },
        ),
        set(e, "name", json!("e-branch")),
    ]);
    let branch_write = commit(store, FEATURE, ops, what).await;
    let main_write = commit(
        store,
        MAIN,
        vec![
            set(b, "name", json!("b-main")),
            set(a, "mtu", json!(1400)),
            set_value(
                e,
                "name",
                AttributeValue {
                    is_visible: false,
                    ..AttributeValue::new(json!("e"))
                },
            ),
            set(a, "role", json!("core")),
        ],
        what,
    )
    .await;

    let options = MergeOptions {
        keep_default: vec![
            (
                Slot::Attribute {
                    node: a,
                    name: "mtu".into(),
                },
                SlotProperty::Value,
            ),
            (Slot::Node { id: c2 }, SlotProperty::Existence),
        ],
    };
    let merged = merge(store, FEATURE, options, what).await;
    assert!(
        merged.at > main_write.at && merged.at > branch_write.at,
        "{what}: the merge must take effect at a new timestamp"
    );
    assert!(
        merged.writes > 0,
        "{what}: the merge must report its writes"
    );
    assert_eq!(
        last_commit(store).await,
        merged.at,
        "{what}: last_commit after the merge"
    );

    let main = now(MAIN);
    let created = read_all(store, &main, c)
        .await
        .unwrap_or_else(|| panic!("{what}: a node created on the branch must be on main"));
    assert_eq!(created.branch, MAIN, "{what}: a merged node lives on main");
    assert_eq!(
        created.created_at, merged.at,
        "{what}: a merged node is created at the merge timestamp"
    );
    assert_value(store, &main, c, "mtu", Some(json!(9000)), what).await;
    assert_value(
        store,
        &main,
        a,
        "description",
        Some(json!("a-branch")),
        what,
    )
    .await;
    assert_value(store, &main, a, "mtu", Some(json!(1400)), what).await;
    assert_value(store, &main, a, "role", Some(json!("core")), what).await;
    assert_value(store, &main, a, "name", Some(json!("a")), what).await;
    assert_visible(store, &main, d, false, what).await;
    assert_visible(store, &main, c2, false, what).await;
    assert_links(
        store,
        &main,
        a,
        "peer",
        Side::From,
        &[(c, Side::From)],
        what,
    )
    .await;
    assert_links(store, &main, b, "peer", Side::To, &[], what).await;
    let protected = attribute_of(store, &main, b, "name").await;
    assert_eq!(
        protected
            .as_ref()
            .map(|value| (&value.value, value.is_protected)),
        Some((&json!("b-main"), true)),
        "{what}: a branch that changed only is_protected keeps main's newer value and sets is_protected"
    );
    let hidden = attribute_of(store, &main, e, "name").await;
    assert_eq!(
        hidden
            .as_ref()
            .map(|value| (&value.value, value.is_visible)),
        Some((&json!("e-branch"), false)),
        "{what}: a branch that changed only the value keeps main's newer is_visible"
    );

    let before = at(MAIN, just_before(merged.at));
    assert_visible(store, &before, c, false, what).await;
    assert_visible(store, &before, d, true, what).await;
    assert_value(
        store,
        &before,
        a,
        "description",
        Some(json!("a-main")),
        what,
    )
    .await;
    assert_links(
        store,
        &before,
        a,
        "peer",
        Side::From,
        &[(b, Side::From)],
        what,
    )
    .await;
    let unprotected = attribute_of(store, &before, b, "name").await;
    assert_eq!(
        unprotected
            .as_ref()
            .map(|value| (&value.value, value.is_protected)),
        Some((&json!("b-main"), false)),
        "{what}: main just before the merge"
    );
    let after = at(MAIN, merged.at);
    assert_visible(store, &after, c, true, what).await;
    assert_visible(store, &after, d, false, what).await;
    assert_value(
        store,
        &after,
        a,
        "description",
        Some(json!("a-branch")),
        what,
    )
    .await;

    let record = get_branch(store, FEATURE).await;
    assert!(
        record.branched_from >= merged.at,
        "{what}: after a merge the branch reads main as of the merge"
    );
    assert_eq!(
        record.epochs.len(),
        feature.epochs.len() + 1,
        "{what}: a merge starts a new epoch of the branch"
    );
    let branch_now = now(FEATURE);
    assert_value(
        store,
        &branch_now,
        a,
        "description",
        Some(json!("a-branch")),
        what,
    )
    .await;
    assert_value(store, &branch_now, a, "mtu", Some(json!(1400)), what).await;
    assert_value(store, &branch_now, a, "role", Some(json!("core")), what).await;
    assert_visible(store, &branch_now, c, true, what).await;
    assert_visible(store, &branch_now, d, false, what).await;
    let branch_before = at(FEATURE, just_before(merged.at));
    assert_value(store, &branch_before, a, "mtu", Some(json!(9216)), what).await;
    assert_value(store, &branch_before, a, "role", Some(json!("edge")), what).await;
    assert_visible(store, &branch_before, c2, true, what).await;

    commit(
        store,
        MAIN,
        vec![set(a, "description", json!("a-main-2"))],
        what,
    )
    .await;
    assert_value(
        store,
        &now(FEATURE),
        a,
        "description",
        Some(json!("a-branch")),
        what,
    )
    .await;
    commit(store, FEATURE, vec![set(a, "name", json!("a-2"))], what).await;
    merge(store, FEATURE, MergeOptions::default(), what).await;
    assert_value(store, &main, a, "name", Some(json!("a-2")), what).await;
    assert_value(
        store,
        &main,
        a,
        "description",
        Some(json!("a-main-2")),
        what,
    )
    .await;
    assert_value(store, &main, b, "name", Some(json!("b-main")), what).await;
    assert_visible(store, &main, c, true, what).await;

    expect_error(
        store.merge_branch(MAIN, MergeOptions::default()).await,
        ErrorKind::InvalidInput,
        &format!("{what}: merging the default branch into itself"),
    );
    expect_error(
        store.merge_branch("missing", MergeOptions::default()).await,
        ErrorKind::NotFound,
        &format!("{what}: merging a missing branch"),
    );
}

/// Rebase makes the branch read main as of now, keeps its changes minus `drop`, and keeps
/// time travel before the rebase on the old branch point.
pub async fn rebase_results(store: &dyn GraphStore) {
    let what = "rebase_results";
    init(store).await;
    let label = ["TestRebase"];
    let [a, c, m] = ids();
    commit(
        store,
        MAIN,
        node_ops(
            a,
            "TestRebase",
            &label,
            &[("a", json!("1")), ("d", json!("main-d"))],
        ),
        what,
    )
    .await;
    let feature = new_branch(store, FEATURE).await;
    let mut ops = vec![
        set(a, "a", json!("2")),
        set(a, "d", json!("branch-d")),
        set(a, "e", json!("branch-only")),
    ];
    ops.extend(node_ops(c, "TestRebase", &label, &[("name", json!("c"))]));
    commit(store, FEATURE, ops, what).await;
    let mut ops = node_ops(m, "TestRebase", &label, &[("name", json!("m"))]);
    ops.extend([set(a, "b", json!("main")), set(a, "d", json!("main-d2"))]);
    let main_write = commit(store, MAIN, ops, what).await;

    let options = RebaseOptions {
        drop: vec![(
            Slot::Attribute {
                node: a,
                name: "d".into(),
            },
            SlotProperty::Value,
        )],
    };
    let rebased = store
        .rebase_branch(FEATURE, options)
        .await
        .unwrap_or_else(|error| panic!("{what}: rebase_branch(`{FEATURE}`) failed: {error}"));
    assert!(
        rebased.at > main_write.at,
        "{what}: the rebase must take effect at a new timestamp"
    );
    let record = get_branch(store, FEATURE).await;
    assert!(
        record.branched_from >= main_write.at,
        "{what}: after a rebase the branch reads main as of the rebase"
    );
    assert_eq!(
        record.epochs.len(),
        feature.epochs.len() + 1,
        "{what}: a rebase starts a new epoch of the branch"
    );

    let branch_now = now(FEATURE);
    assert_visible(store, &branch_now, m, true, what).await;
    assert_visible(store, &branch_now, c, true, what).await;
    for (name, value) in [
        ("a", "2"),
        ("b", "main"),
        ("d", "main-d2"),
        ("e", "branch-only"),
    ] {
        assert_value(store, &branch_now, a, name, Some(json!(value)), what).await;
    }
    let main = now(MAIN);
    assert_visible(store, &main, c, false, what).await;
    for (name, value) in [
        ("a", Some("1")),
        ("b", Some("main")),
        ("d", Some("main-d2")),
        ("e", None),
    ] {
        assert_value(store, &main, a, name, value.map(|text| json!(text)), what).await;
    }
    let branch_before = at(FEATURE, just_before(rebased.at));
    assert_visible(store, &branch_before, m, false, what).await;
    assert_value(store, &branch_before, a, "d", Some(json!("branch-d")), what).await;
    assert_value(store, &branch_before, a, "a", Some(json!("2")), what).await;
    assert_value(store, &branch_before, a, "b", None, what).await;

    commit(store, MAIN, vec![set(a, "b", json!("main-2"))], what).await;
    assert_value(store, &now(FEATURE), a, "b", Some(json!("main")), what).await;

    merge(store, FEATURE, MergeOptions::default(), what).await;
    for (name, value) in [
        ("a", "2"),
        ("b", "main-2"),
        ("d", "main-d2"),
        ("e", "branch-only"),
    ] {
        assert_value(store, &main, a, name, Some(json!(value)), what).await;
    }
    assert_visible(store, &main, c, true, what).await;

    expect_error(
        store.rebase_branch(MAIN, RebaseOptions::default()).await,
        ErrorKind::InvalidInput,
        &format!("{what}: rebasing the default branch"),
    );
    expect_error(
        store
            .rebase_branch("missing", RebaseOptions::default())
            .await,
        ErrorKind::NotFound,
        &format!("{what}: rebasing a missing branch"),
    );
}

// ---------------------------------------------------------------------------------------------
// Changes and history

/// `changes(branch, from, to)` lists one change per version written on the branch in
/// `(from, to]`, oldest first, with what the branch saw before.
pub async fn change_enumeration(store: &dyn GraphStore) {
    let what = "change_enumeration";
    init(store).await;
    let label = ["TestChange"];
    let [main_node, node] = ids();
    let base = commit(
        store,
        MAIN,
        node_ops(main_node, "TestChange", &label, &[("name", json!("m"))]),
        what,
    )
    .await;
    new_branch(store, FEATURE).await;
    let created = commit(
        store,
        FEATURE,
        node_ops(node, "TestChange", &label, &[("x", json!(1))]),
        what,
    )
    .await;
    let updated = commit(
        store,
        FEATURE,
        vec![
            set(node, "x", json!(2)),
            set(main_node, "name", json!("m-f")),
        ],
        what,
    )
    .await;
    let linked = commit(store, FEATURE, vec![link("rel", node, main_node)], what).await;
    let deleted = commit(store, FEATURE, vec![delete(node)], what).await;

    let existence = Slot::Node { id: node };
    let x = Slot::Attribute {
        node,
        name: "x".into(),
    };
    let name = Slot::Attribute {
        node: main_node,
        name: "name".into(),
    };
    let rel = Slot::Link {
        identifier: "rel".into(),
        from: node,
        to: main_node,
    };
    let created_version = node_version(FEATURE, created.at, "TestChange", &label);
    let expected_created = vec![
        change(&existence, None, created_version.clone()),
        change(&x, None, attribute_version(FEATURE, created.at, json!(1))),
    ];
    let expected_updated = vec![
        change(
            &x,
            Some(attribute_version(FEATURE, created.at, json!(1))),
            attribute_version(FEATURE, updated.at, json!(2)),
        ),
        change(
            &name,
            Some(attribute_version(MAIN, base.at, json!("m"))),
            attribute_version(FEATURE, updated.at, json!("m-f")),
        ),
    ];
    let expected_linked = vec![change(&rel, None, link_version(FEATURE, linked.at))];
    let expected_deleted = vec![
        change(
            &existence,
            Some(created_version),
            deleted_version(FEATURE, deleted.at),
        ),
        change(
            &x,
            Some(attribute_version(FEATURE, updated.at, json!(2))),
            deleted_version(FEATURE, deleted.at),
        ),
        change(
            &rel,
            Some(link_version(FEATURE, linked.at)),
            deleted_version(FEATURE, deleted.at),
        ),
    ];
    let all: Vec<Change> = [
        &expected_created,
        &expected_updated,
        &expected_linked,
        &expected_deleted,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();

    let cases = [
        ("everything", Timestamp::MIN, Timestamp::MAX, all),
        (
            "exactly one commit",
            created.at,
            updated.at,
            expected_updated.clone(),
        ),
        (
            "`from` is exclusive, `to` inclusive",
            just_before(created.at),
            created.at,
            expected_created,
        ),
        (
            "two commits",
            updated.at,
            deleted.at,
            [expected_linked, expected_deleted].concat(),
        ),
        ("an empty range", updated.at, updated.at, Vec::new()),
        (
            "after the last write",
            deleted.at,
            Timestamp::MAX,
            Vec::new(),
        ),
    ];
    for (case, from, to, expected) in cases {
        let listed = changes_of(store, FEATURE, from, to).await;
        assert!(
            listed
                .windows(2)
                .all(|pair| pair[0].after.at <= pair[1].after.at),
            "{what}: changes must be listed oldest first ({case}): {listed:?}"
        );
        assert_eq!(
            normalize_changes(listed),
            normalize_changes(expected),
            "{what}: changes of `{FEATURE}` ({case})"
        );
    }

    let on_main = changes_of(store, MAIN, Timestamp::MIN, Timestamp::MAX).await;
    let expected_main = vec![
        change(
            &Slot::Node { id: main_node },
            None,
            node_version(MAIN, base.at, "TestChange", &label),
        ),
        change(&name, None, attribute_version(MAIN, base.at, json!("m"))),
    ];
    assert_eq!(
        normalize_changes(on_main),
        normalize_changes(expected_main),
        "{what}: changes of main"
    );
    expect_error(
        store
            .changes("missing", Timestamp::MIN, Timestamp::MAX)
            .await,
        ErrorKind::NotFound,
        &format!("{what}: changes of a missing branch"),
    );
}

/// `history(id)` lists every version of every slot of a node on every branch, incoming links
/// included, oldest first.
pub async fn history(store: &dyn GraphStore) {
    let what = "history";
    init(store).await;
    let label = ["TestHistory"];
    let [node, peer, source] = ids();
    let mut ops = node_ops(node, "TestHistory", &label, &[("a", json!(1))]);
    ops.extend(node_ops(peer, "TestHistory", &label, &[]));
    ops.extend(node_ops(source, "TestHistory", &label, &[]));
    let created = commit(store, MAIN, ops, what).await;
    new_branch(store, FEATURE).await;
    let on_branch = commit(store, FEATURE, vec![set(node, "a", json!(2))], what).await;
    let updated = commit(store, MAIN, vec![set(node, "a", json!(3))], what).await;
    let linked = commit(
        store,
        MAIN,
        vec![link("out", node, peer), link("in", source, node)],
        what,
    )
    .await;
    let unlinked = commit(store, MAIN, vec![unlink("out", node, peer)], what).await;
    let deleted = commit(store, MAIN, vec![delete(node)], what).await;

    let existence = Slot::Node { id: node };
    let a = Slot::Attribute {
        node,
        name: "a".into(),
    };
    let out = Slot::Link {
        identifier: "out".into(),
        from: node,
        to: peer,
    };
    let incoming = Slot::Link {
        identifier: "in".into(),
        from: source,
        to: node,
    };
    let expected = vec![
        (
            existence.clone(),
            node_version(MAIN, created.at, "TestHistory", &label),
        ),
        (a.clone(), attribute_version(MAIN, created.at, json!(1))),
        (
            a.clone(),
            attribute_version(FEATURE, on_branch.at, json!(2)),
        ),
        (a.clone(), attribute_version(MAIN, updated.at, json!(3))),
        (out.clone(), link_version(MAIN, linked.at)),
        (incoming.clone(), link_version(MAIN, linked.at)),
        (out.clone(), deleted_version(MAIN, unlinked.at)),
        (existence, deleted_version(MAIN, deleted.at)),
        (a, deleted_version(MAIN, deleted.at)),
        (incoming, deleted_version(MAIN, deleted.at)),
    ];
    assert_history(store, node, expected, what).await;

    let expected_peer = vec![
        (
            Slot::Node { id: peer },
            node_version(MAIN, created.at, "TestHistory", &label),
        ),
        (out.clone(), link_version(MAIN, linked.at)),
        (out, deleted_version(MAIN, unlinked.at)),
    ];
    assert_history(
        store,
        peer,
        expected_peer,
        &format!("{what} (incoming links)"),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Queries

/// A filter check: description, labels, filters, expected matches.
type FilterCase<'a> = (&'a str, &'a [&'a str], Vec<Filter>, Vec<NodeId>);
/// A filter check on a branch: description, filters, matches on the branch, matches on main.
type BranchFilterCase<'a> = (&'a str, Vec<Filter>, Vec<NodeId>, Vec<NodeId>);
/// A link selection check: description, selection, expected (identifier, peer, side).
type LinkCase<'a> = (&'a str, Vec<LinkSelection>, Vec<(String, NodeId, Side)>);

/// Every filter kind, label matching, filters on a branch, and `total`/`count()` agreeing with
/// the matches.
pub async fn query_filters(store: &dyn GraphStore) {
    let what = "query_filters";
    init(store).await;
    let filtered = ["Filtered"];
    let [n1, n2, n3, n4, unrelated, source, owner, s1, s2, s3] = ids();
    let mut ops = Vec::new();
    ops.extend(node_ops(source, "TestLineage", &["TestLineage"], &[]));
    ops.extend(node_ops(owner, "TestLineage", &["TestLineage"], &[]));
    ops.extend(node_ops(
        n1,
        "TestDevice",
        &["TestDevice", "Filtered"],
        &[
            ("role", json!("core")),
            ("mtu", json!(1500)),
            ("status", Value::Null),
            ("serial", json!(123)),
        ],
    ));
    ops.push(set_value(
        n1,
        "name",
        AttributeValue {
            is_protected: true,
            source: Some(source),
            owner: Some(owner),
            ..AttributeValue::new(json!("Alpha-Router"))
        },
    ));
    ops.extend(node_ops(
        n2,
        "TestDevice",
        &["TestDevice", "Filtered"],
        &[
            ("name", json!("beta-switch")),
            ("mtu", json!(9000)),
            ("status", json!("active")),
            ("serial", json!("A123")),
        ],
    ));
    ops.push(set_value(
        n2,
        "role",
        AttributeValue {
            is_visible: false,
            ..AttributeValue::new(json!("edge"))
        },
    ));
    ops.extend(node_ops(
        n3,
        "TestDevice",
        &["TestDevice", "Filtered"],
        &[
            ("name", json!("Gamma")),
            ("role", json!("edge")),
            ("mtu", json!(1500)),
        ],
    ));
    ops.extend(node_ops(
        n4,
        "TestOther",
        &["TestOther", "Filtered", "Other"],
        &[
            ("name", json!("delta-ROUTER")),
            ("role", json!("core")),
            ("mtu", json!(9216)),
            ("status", json!("active")),
            ("serial", json!("xyz")),
        ],
    ));
    ops.extend(node_ops(
        unrelated,
        "TestUnrelated",
        &["TestUnrelated"],
        &[("name", json!("Alpha-Router"))],
    ));
    for (site, name, region) in [
        (s1, "paris", "eu"),
        (s2, "nyc", "us"),
        (s3, "tokyo", "apac"),
    ] {
        ops.extend(node_ops(
            site,
            "TestSite",
            &["Site"],
            &[("name", json!(name)), ("region", json!(region))],
        ));
    }
    ops.extend([
        link("site", n1, s1),
        link("site", n2, s1),
        link("site", n3, s2),
    ]);
    commit(store, MAIN, ops, what).await;

    let main = now(MAIN);
    let value = |name: &str, matches: Match| attribute_is(name, matches);
    let property = |name: &str, property: Property, matches: Match| Filter::Attribute {
        name: name.into(),
        property,
        matches,
    };
    let linked = |side: Side, peers: Vec<NodeId>| Filter::Linked {
        identifier: "site".into(),
        side,
        peers,
    };
    let link_is_null = |side: Side, is_null: bool| Filter::LinkIsNull {
        identifier: "site".into(),
        side,
        is_null,
    };
    let peer = |side: Side, labels: &[&str], filters: Vec<Filter>| Filter::Peer {
        identifier: "site".into(),
        side,
        peer_labels: labels.iter().map(|label| label.to_string()).collect(),
        peer_filters: filters,
    };
    let cases: Vec<FilterCase<'_>> = vec![
        ("no filter", &filtered, vec![], vec![n1, n2, n3, n4]),
        (
            "Ids (other labels left out)",
            &filtered,
            vec![Filter::Ids(vec![n1, n3, unrelated])],
            vec![n1, n3],
        ),
        (
            "Ids of nothing",
            &filtered,
            vec![Filter::Ids(vec![])],
            vec![],
        ),
        (
            "Equals",
            &filtered,
            vec![value("name", Match::Equals(json!("Gamma")))],
            vec![n3],
        ),
        (
            "Equals is case-sensitive",
            &filtered,
            vec![value("name", Match::Equals(json!("gamma")))],
            vec![],
        ),
        (
            "Equals on a number",
            &filtered,
            vec![value("mtu", Match::Equals(json!(1500)))],
            vec![n1, n3],
        ),
        (
            "In",
            &filtered,
            vec![value(
                "role",
                Match::In(vec![json!("core"), json!("nothing")]),
            )],
            vec![n1, n4],
        ),
        (
            "In on numbers",
            &filtered,
            vec![value("mtu", Match::In(vec![json!(9000), json!(9216)]))],
            vec![n2, n4],
        ),
        (
            "IsNull(true): null or absent",
            &filtered,
            vec![value("status", Match::IsNull(true))],
            vec![n1, n3],
        ),
        (
            "IsNull(false)",
            &filtered,
            vec![value("status", Match::IsNull(false))],
            vec![n2, n4],
        ),
        (
            "Contains ignores case",
            &filtered,
            vec![value("name", Match::Contains("router".into()))],
            vec![n1, n4],
        ),
        (
            "Contains upper case",
            &filtered,
            vec![value("name", Match::Contains("ROUT".into()))],
            vec![n1, n4],
        ),
        (
            "Contains only matches strings",
            &filtered,
            vec![value("serial", Match::Contains("12".into()))],
            vec![n2],
        ),
        (
            "IsProtected",
            &filtered,
            vec![property(
                "name",
                Property::IsProtected,
                Match::Equals(json!(true)),
            )],
            vec![n1],
        ),
        (
            "IsProtected false",
            &filtered,
            vec![property(
                "name",
                Property::IsProtected,
                Match::Equals(json!(false)),
            )],
            vec![n2, n3, n4],
        ),
        (
            "IsVisible",
            &filtered,
            vec![property(
                "role",
                Property::IsVisible,
                Match::Equals(json!(false)),
            )],
            vec![n2],
        ),
        (
            "Source",
            &filtered,
            vec![property(
                "name",
                Property::Source,
                Match::Equals(json!(source.to_string())),
            )],
            vec![n1],
        ),
        (
            "Owner",
            &filtered,
            vec![property(
                "name",
                Property::Owner,
                Match::Equals(json!(owner.to_string())),
            )],
            vec![n1],
        ),
        (
            "Owner IsNull",
            &filtered,
            vec![property("name", Property::Owner, Match::IsNull(true))],
            vec![n2, n3, n4],
        ),
        (
            "AnyAttribute Equals",
            &filtered,
            vec![Filter::AnyAttribute {
                matches: Match::Equals(json!("edge")),
            }],
            vec![n2, n3],
        ),
        (
            "AnyAttribute Contains",
            &filtered,
            vec![Filter::AnyAttribute {
                matches: Match::Contains("ALPHA".into()),
            }],
            vec![n1],
        ),
        (
            "AnyAttribute on a number",
            &filtered,
            vec![Filter::AnyAttribute {
                matches: Match::Equals(json!(9216)),
            }],
            vec![n4],
        ),
        (
            "Linked from",
            &filtered,
            vec![linked(Side::From, vec![s1])],
            vec![n1, n2],
        ),
        (
            "Linked to any of several peers",
            &filtered,
            vec![linked(Side::From, vec![s1, s2])],
            vec![n1, n2, n3],
        ),
        (
            "Linked on the wrong side",
            &filtered,
            vec![linked(Side::To, vec![s1])],
            vec![],
        ),
        (
            "Linked either side",
            &filtered,
            vec![linked(Side::Either, vec![s2])],
            vec![n3],
        ),
        (
            "Linked seen from the `to` end",
            &["Site"],
            vec![linked(Side::To, vec![n1])],
            vec![s1],
        ),
        (
            "Linked either side from the `to` end",
            &["Site"],
            vec![linked(Side::Either, vec![n3])],
            vec![s2],
        ),
        (
            "LinkIsNull(true)",
            &filtered,
            vec![link_is_null(Side::From, true)],
            vec![n4],
        ),
        (
            "LinkIsNull(false)",
            &filtered,
            vec![link_is_null(Side::From, false)],
            vec![n1, n2, n3],
        ),
        (
            "LinkIsNull on the wrong side",
            &filtered,
            vec![link_is_null(Side::To, false)],
            vec![],
        ),
        (
            "LinkIsNull from the `to` end",
            &["Site"],
            vec![link_is_null(Side::To, true)],
            vec![s3],
        ),
        (
            "Peer with a filter",
            &filtered,
            vec![peer(
                Side::From,
                &["Site"],
                vec![value("region", Match::Equals(json!("eu")))],
            )],
            vec![n1, n2],
        ),
        (
            "Peer without filters",
            &filtered,
            vec![peer(Side::From, &["Site"], vec![])],
            vec![n1, n2, n3],
        ),
        (
            "Peer with other labels",
            &filtered,
            vec![peer(Side::From, &["Nope"], vec![])],
            vec![],
        ),
        (
            "Peer from the `to` end",
            &["Site"],
            vec![peer(
                Side::To,
                &["Filtered"],
                vec![value("role", Match::Equals(json!("edge")))],
            )],
            vec![s1, s2],
        ),
        (
            "all filters must pass",
            &filtered,
            vec![
                value("role", Match::Equals(json!("core"))),
                value("mtu", Match::Equals(json!(1500))),
            ],
            vec![n1],
        ),
        (
            "any of the labels",
            &["Other", "Site"],
            vec![],
            vec![n4, s1, s2, s3],
        ),
        (
            "unknown attribute",
            &filtered,
            vec![value("missing", Match::Equals(json!(1)))],
            vec![],
        ),
    ];
    for (case, labels, filters, expected) in cases {
        expect_matches(
            store,
            &main,
            labels,
            filters,
            &expected,
            &format!("{what}: {case}"),
        )
        .await;
    }

    new_branch(store, FEATURE).await;
    commit(
        store,
        FEATURE,
        vec![
            unlink("site", n2, s1),
            set(n3, "role", json!("core")),
            delete(n4),
        ],
        what,
    )
    .await;
    let feature = now(FEATURE);
    let branch_cases: Vec<BranchFilterCase<'_>> = vec![
        (
            "Linked after unlink on the branch",
            vec![linked(Side::From, vec![s1])],
            vec![n1],
            vec![n1, n2],
        ),
        (
            "Equals after an update on the branch",
            vec![value("role", Match::Equals(json!("core")))],
            vec![n1, n3],
            vec![n1, n4],
        ),
        (
            "LinkIsNull after a delete on the branch",
            vec![link_is_null(Side::From, true)],
            vec![n2],
            vec![n4],
        ),
    ];
    for (case, filters, on_branch, on_main) in branch_cases {
        expect_matches(
            store,
            &feature,
            &filtered,
            filters.clone(),
            &on_branch,
            &format!("{what}: {case} (branch)"),
        )
        .await;
        expect_matches(
            store,
            &main,
            &filtered,
            filters,
            &on_main,
            &format!("{what}: {case} (main)"),
        )
        .await;
    }
}

/// Ordering: false < true < numbers < strings, nulls last; descending reverses; ties fall
/// back to node id order; several keys; ordering on a branch uses the branch's values.
pub async fn query_ordering(store: &dyn GraphStore) {
    let what = "query_ordering";
    init(store).await;
    let label = ["Ranked"];
    let [
        r_false,
        r_true,
        r_negative,
        r_two,
        r_two_again,
        r_two_half,
        r_ten,
        r_apple,
        r_apple_again,
        r_banana,
    ] = ids();
    let [r_null, r_absent, r_null_again] = ids();
    let mut ops = Vec::new();
    for (id, rank) in [
        (r_false, Some(json!(false))),
        (r_true, Some(json!(true))),
        (r_negative, Some(json!(-3))),
        (r_two, Some(json!(2))),
        (r_two_again, Some(json!(2))),
        (r_two_half, Some(json!(2.5))),
        (r_ten, Some(json!(10))),
        (r_apple, Some(json!("apple"))),
        (r_apple_again, Some(json!("apple"))),
        (r_banana, Some(json!("banana"))),
        (r_null, Some(Value::Null)),
        (r_absent, None),
        (r_null_again, Some(Value::Null)),
    ] {
        ops.push(create(id, "TestRanked", &label));
        if let Some(rank) = rank {
            ops.push(set(id, "rank", rank));
        }
    }
    commit(store, MAIN, ops, what).await;

    let twos = sorted_ids([r_two, r_two_again]);
    let apples = sorted_ids([r_apple, r_apple_again]);
    let nulls = sorted_ids([r_null, r_absent, r_null_again]);
    let ascending: Vec<NodeId> = [
        vec![r_false, r_true, r_negative],
        twos.clone(),
        vec![r_two_half, r_ten],
        apples.clone(),
        vec![r_banana],
        nulls.clone(),
    ]
    .concat();
    let descending: Vec<NodeId> = [
        nulls,
        vec![r_banana],
        apples,
        vec![r_ten, r_two_half],
        twos,
        vec![r_negative, r_true, r_false],
    ]
    .concat();
    let main = now(MAIN);
    let by_rank = |descending: bool| NodeQuery {
        order: vec![OrderBy {
            attribute: "rank".into(),
            descending,
        }],
        ..labelled(&label)
    };
    assert_eq!(
        query_ids(store, &main, &by_rank(false)).await,
        ascending,
        "{what}: ascending order (false < true < numbers < strings, nulls and absent last, ties by id)"
    );
    assert_eq!(
        query_ids(store, &main, &by_rank(true)).await,
        descending,
        "{what}: descending order (the reverse, ties still by id)"
    );
    assert_eq!(
        query_ids(store, &main, &labelled(&label)).await,
        sorted_ids(ascending.clone()),
        "{what}: without order, nodes come in id order"
    );

    new_branch(store, FEATURE).await;
    commit(
        store,
        FEATURE,
        vec![set(r_banana, "rank", json!(-10))],
        what,
    )
    .await;
    let mut on_branch = ascending.clone();
    on_branch.retain(|id| *id != r_banana);
    on_branch.insert(2, r_banana);
    assert_eq!(
        query_ids(store, &now(FEATURE), &by_rank(false)).await,
        on_branch,
        "{what}: ordering on a branch uses the branch's values"
    );
    assert_eq!(
        query_ids(store, &main, &by_rank(false)).await,
        ascending,
        "{what}: main's order is unchanged"
    );

    let grouped = ["Grouped"];
    let [x_one, x_three, x_three_again, y_two, y_one, no_group] = ids();
    let mut ops = Vec::new();
    for (id, group, rank) in [
        (x_one, Some("x"), 1),
        (x_three, Some("x"), 3),
        (x_three_again, Some("x"), 3),
        (y_two, Some("y"), 2),
        (y_one, Some("y"), 1),
        (no_group, None, 5),
    ] {
        ops.push(create(id, "TestGrouped", &grouped));
        ops.push(set(id, "rank", json!(rank)));
        if let Some(group) = group {
            ops.push(set(id, "group", json!(group)));
        }
    }
    commit(store, MAIN, ops, what).await;
    let query = NodeQuery {
        order: vec![
            OrderBy {
                attribute: "group".into(),
                descending: false,
            },
            OrderBy {
                attribute: "rank".into(),
                descending: true,
            },
        ],
        ..labelled(&grouped)
    };
    let expected = [
        sorted_ids([x_three, x_three_again]),
        vec![x_one, y_two, y_one, no_group],
    ]
    .concat();
    assert_eq!(
        query_ids(store, &main, &query).await,
        expected,
        "{what}: ordering by two keys (group asc, rank desc)"
    );
}

/// Pages of 7 over 50 nodes cover every node exactly once and in order; `total` and
/// `count()` ignore paging.
pub async fn query_pagination(store: &dyn GraphStore) {
    let what = "query_pagination";
    init(store).await;
    let label = ["Paged"];
    let mut nodes: Vec<(i64, NodeId)> = Vec::new();
    let mut ops = Vec::new();
    for index in 0..50_i64 {
        let id = new_node_id();
        nodes.push((index % 4, id));
        ops.extend(node_ops(
            id,
            "TestPaged",
            &label,
            &[("bucket", json!(index % 4)), ("index", json!(index))],
        ));
    }
    commit(store, MAIN, ops, what).await;
    let main = now(MAIN);

    let mut by_bucket = nodes.clone();
    by_bucket.sort();
    let ascending: Vec<NodeId> = by_bucket.iter().map(|(_, id)| *id).collect();
    let mut descending_pairs = nodes.clone();
    descending_pairs.sort_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(&right.1)));
    let descending: Vec<NodeId> = descending_pairs.iter().map(|(_, id)| *id).collect();
    let in_id_order = sorted_ids(nodes.iter().map(|(_, id)| *id));
    let ordered = |descending: bool| NodeQuery {
        order: vec![OrderBy {
            attribute: "bucket".into(),
            descending,
        }],
        ..labelled(&label)
    };
    let second_bucket = NodeQuery {
        filters: vec![attribute_is("bucket", Match::Equals(json!(1)))],
        ..labelled(&label)
    };
    let second_bucket_ids = sorted_ids(
        nodes
            .iter()
            .filter(|(bucket, _)| *bucket == 1)
            .map(|(_, id)| *id),
    );

    let cases = [
        ("bucket ascending", ordered(false), ascending, 7),
        ("bucket descending", ordered(true), descending, 7),
        ("id order", labelled(&label), in_id_order, 7),
        ("filtered", second_bucket, second_bucket_ids, 5),
    ];
    for (case, query, expected, page_size) in cases {
        assert_eq!(
            query_ids(store, &main, &query).await,
            expected,
            "{what}: full result ({case})"
        );
        let total = expected.len();
        let mut seen = Vec::new();
        let mut offset = 0;
        while offset < total {
            let page = NodeQuery {
                offset,
                limit: Some(page_size),
                count: true,
                ..query.clone()
            };
            let result = run_query(store, &main, &page).await;
            assert_eq!(
                result.total,
                Some(total as u64),
                "{what}: total of the page at offset {offset} ({case})"
            );
            assert_eq!(
                result.nodes.len(),
                page_size.min(total - offset),
                "{what}: size of the page at offset {offset} ({case})"
            );
            assert_eq!(
                count_of(store, &main, &page).await,
                total as u64,
                "{what}: count() ignores paging ({case})"
            );
            seen.extend(ids_of(&result.nodes));
            offset += page_size;
        }
        assert_eq!(
            seen, expected,
            "{what}: pages must cover every node exactly once, in order ({case})"
        );
        let past_end = NodeQuery {
            offset: total + page_size,
            limit: Some(page_size),
            count: true,
            ..query.clone()
        };
        let result = run_query(store, &main, &past_end).await;
        assert!(
            result.nodes.is_empty(),
            "{what}: a page past the end is empty ({case})"
        );
        assert_eq!(
            result.total,
            Some(total as u64),
            "{what}: total of a page past the end ({case})"
        );
        let empty_page = NodeQuery {
            limit: Some(0),
            count: true,
            ..query
        };
        let result = run_query(store, &main, &empty_page).await;
        assert!(
            result.nodes.is_empty(),
            "{what}: limit 0 returns no node ({case})"
        );
        assert_eq!(
            result.total,
            Some(total as u64),
            "{what}: total with limit 0 ({case})"
        );
    }
}

/// Only the asked attributes and links are loaded; node metadata; `get_nodes` order.
pub async fn selections(store: &dyn GraphStore) {
    let what = "selections";
    init(store).await;
    let label = ["TestSelect"];
    let [node, out_peer, in_peer, other_peer] = ids();
    let big = "x".repeat(100_000);
    let mut ops = node_ops(
        node,
        "TestSelect",
        &label,
        &[("a", json!("a")), ("b", json!(1))],
    );
    ops.push(Op::SetAttribute {
        node,
        name: "big".into(),
        value: AttributeValue::new(json!(big)),
        scope: Scope::Branch,
        indexed: false,
    });
    for peer in [out_peer, in_peer, other_peer] {
        ops.push(create(peer, "TestSelect", &label));
    }
    ops.extend([
        link("l1", node, out_peer),
        link("l2", in_peer, node),
        link("l3", node, other_peer),
    ]);
    let created = commit(store, MAIN, ops, what).await;
    let lineage = AttributeValue {
        value: json!("c"),
        is_default: true,
        is_protected: true,
        is_visible: false,
        source: Some(out_peer),
        owner: Some(in_peer),
    };
    let updated = commit(
        store,
        MAIN,
        vec![set_value(node, "c", lineage.clone())],
        what,
    )
    .await;
    let main = now(MAIN);

    let all = read_all(store, &main, node)
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible"));
    assert_eq!(
        all.attributes
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["a", "b", "big", "c"],
        "{what}: attributes: None loads every attribute"
    );
    assert!(
        all.links.is_empty(),
        "{what}: no link is loaded unless asked: {:?}",
        all.links
    );
    assert_eq!(
        all.attributes.get("big").map(|state| &state.value.value),
        Some(&json!(big)),
        "{what}: large value"
    );
    let c = all
        .attributes
        .get("c")
        .unwrap_or_else(|| panic!("{what}: attribute `c` missing"));
    assert_eq!(c.value, lineage, "{what}: attribute properties round-trip");
    assert_eq!(
        (c.updated_at, c.branch.as_str()),
        (updated.at, MAIN),
        "{what}: attribute updated_at and branch"
    );
    assert_eq!(
        all.attributes.get("a").map(|state| state.updated_at),
        Some(created.at),
        "{what}: updated_at of an attribute written once"
    );
    assert_eq!(
        (
            all.kind.as_str(),
            sorted_strings(&all.labels),
            all.branch.as_str(),
            all.created_at,
            all.updated_at
        ),
        (
            "TestSelect",
            vec!["TestSelect".to_string()],
            MAIN,
            created.at,
            updated.at
        ),
        "{what}: kind, labels, branch, created_at, updated_at (latest loaded write)"
    );

    let nothing = read(store, &main, node, &Selection::nothing())
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible"));
    assert!(
        nothing.attributes.is_empty() && nothing.links.is_empty(),
        "{what}: Selection::nothing loads neither attributes nor links: {nothing:?}"
    );
    assert_eq!(
        nothing.updated_at, created.at,
        "{what}: updated_at when only the node itself is loaded"
    );

    let some = Selection {
        attributes: Some(vec!["a".into(), "c".into(), "missing".into()]),
        links: Vec::new(),
    };
    let partial = read(store, &main, node, &some)
        .await
        .unwrap_or_else(|| panic!("{what}: node invisible"));
    assert_eq!(
        partial
            .attributes
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["a", "c"],
        "{what}: only the asked attributes are loaded"
    );

    let link_cases: Vec<LinkCase<'_>> = vec![
        (
            "one identifier",
            vec![link_selection("l1", Side::From)],
            vec![("l1".into(), out_peer, Side::From)],
        ),
        (
            "two identifiers",
            vec![
                link_selection("l1", Side::From),
                link_selection("l2", Side::To),
            ],
            vec![
                ("l1".into(), out_peer, Side::From),
                ("l2".into(), in_peer, Side::To),
            ],
        ),
        ("wrong side", vec![link_selection("l2", Side::From)], vec![]),
        (
            "unknown identifier",
            vec![link_selection("l9", Side::Either)],
            vec![],
        ),
    ];
    for (case, links, expected) in link_cases {
        let selection = Selection {
            attributes: Some(Vec::new()),
            links,
        };
        let loaded = read(store, &main, node, &selection)
            .await
            .unwrap_or_else(|| panic!("{what}: node invisible"));
        assert!(
            loaded.attributes.is_empty(),
            "{what}: no attribute loaded with an empty list ({case})"
        );
        let mut seen: Vec<(String, NodeId, Side)> = loaded
            .links
            .iter()
            .map(|link| (link.identifier.clone(), link.peer, link.side))
            .collect();
        seen.sort_by(|left, right| (&left.0, left.1).cmp(&(&right.0, right.1)));
        assert_eq!(
            seen, expected,
            "{what}: only the asked links are loaded ({case})"
        );
    }

    let query = NodeQuery {
        filters: vec![Filter::Ids(vec![node])],
        select: Selection {
            attributes: Some(vec!["b".into()]),
            links: vec![link_selection("l3", Side::From)],
        },
        ..labelled(&label)
    };
    let listed = run_query(store, &main, &query).await;
    let first = listed
        .nodes
        .first()
        .unwrap_or_else(|| panic!("{what}: query returned nothing"));
    assert_eq!(
        (
            first
                .attributes
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            link_ends(first)
        ),
        (vec!["b"], vec![(other_peer, Side::From)]),
        "{what}: query honours its selection"
    );

    let missing = new_node_id();
    let ordered = store
        .get_nodes(
            &main,
            &[other_peer, node, missing, out_peer],
            &Selection::nothing(),
        )
        .await
        .unwrap_or_else(|error| panic!("{what}: get_nodes failed: {error}"));
    assert_eq!(
        ids_of(&ordered),
        vec![other_peer, node, out_peer],
        "{what}: get_nodes keeps the asked order"
    );
    let none = store
        .get_nodes(&main, &[], &Selection::all_attributes())
        .await
        .unwrap_or_else(|error| panic!("{what}: get_nodes of no id failed: {error}"));
    assert!(
        none.is_empty(),
        "{what}: get_nodes of no id returns nothing"
    );
}

/// Which end of a link sees it with `From`, `To` and `Either`; link properties; link errors.
pub async fn link_sides(store: &dyn GraphStore) {
    let what = "link_sides";
    init(store).await;
    let label = ["TestLinked"];
    let [a, b, c, d] = ids();
    let mut ops = Vec::new();
    for id in [a, b, c, d] {
        ops.push(create(id, "TestLinked", &label));
    }
    commit(store, MAIN, ops, what).await;
    let properties = LinkProperties {
        is_protected: true,
        is_visible: true,
        source: Some(c),
        owner: Some(d),
        hierarchy: Some("TestHierarchy".into()),
    };
    let linked = commit(
        store,
        MAIN,
        vec![
            Op::SetLink {
                identifier: "r".into(),
                from: a,
                to: b,
                properties: properties.clone(),
                scope: Scope::Branch,
            },
            link("r", c, a),
            link("other", a, d),
        ],
        what,
    )
    .await;
    let main = now(MAIN);
    let cases = [
        (a, Side::From, vec![(b, Side::From)]),
        (a, Side::To, vec![(c, Side::To)]),
        (a, Side::Either, vec![(b, Side::From), (c, Side::To)]),
        (b, Side::From, vec![]),
        (b, Side::To, vec![(a, Side::To)]),
        (b, Side::Either, vec![(a, Side::To)]),
        (c, Side::From, vec![(a, Side::From)]),
        (d, Side::Either, vec![]),
    ];
    for (node, side, expected) in cases {
        assert_links(store, &main, node, "r", side, &expected, what).await;
    }
    assert_links(store, &main, d, "other", Side::To, &[(a, Side::To)], what).await;

    let seen = read(
        store,
        &main,
        b,
        &Selection {
            attributes: Some(Vec::new()),
            links: vec![link_selection("r", Side::To)],
        },
    )
    .await
    .unwrap_or_else(|| panic!("{what}: node invisible"));
    let state = seen
        .links
        .first()
        .unwrap_or_else(|| panic!("{what}: link missing"));
    assert_eq!(
        (
            &state.identifier,
            &state.properties,
            state.updated_at,
            state.branch.as_str()
        ),
        (&"r".to_string(), &properties, linked.at, MAIN),
        "{what}: link identifier, properties, updated_at and branch"
    );

    let changed = LinkProperties {
        is_protected: false,
        ..properties
    };
    commit(
        store,
        MAIN,
        vec![Op::SetLink {
            identifier: "r".into(),
            from: a,
            to: b,
            properties: changed.clone(),
            scope: Scope::Branch,
        }],
        what,
    )
    .await;
    let again = read(
        store,
        &main,
        a,
        &Selection {
            attributes: Some(Vec::new()),
            links: vec![link_selection("r", Side::From)],
        },
    )
    .await
    .unwrap_or_else(|| panic!("{what}: node invisible"));
    assert_eq!(
        again.links.len(),
        1,
        "{what}: setting an existing link updates it instead of adding one"
    );
    assert_eq!(
        again.links.first().map(|link| &link.properties),
        Some(&changed),
        "{what}: updated link properties"
    );

    let missing = new_node_id();
    for (op, case) in [
        (link("r", a, missing), "SetLink to a missing node"),
        (link("r", missing, a), "SetLink from a missing node"),
        (
            unlink("r", b, a),
            "RemoveLink of a link that does not exist (wrong direction)",
        ),
        (
            unlink("x", a, b),
            "RemoveLink of a link that does not exist (wrong identifier)",
        ),
    ] {
        expect_error(
            store.commit(changeset(MAIN, vec![op])).await,
            ErrorKind::NotFound,
            &format!("{what}: {case}"),
        );
    }
    commit(store, MAIN, vec![unlink("r", a, b)], what).await;
    assert_links(store, &main, a, "r", Side::Either, &[(c, Side::To)], what).await;
    assert_links(store, &main, b, "r", Side::Either, &[], what).await;
}

// ---------------------------------------------------------------------------------------------
// Atomicity and conditions

/// A changeset whose last op or a condition fails leaves no node, attribute, link, change or
/// history entry, and does not advance `last_commit`.
pub async fn atomicity(store: &dyn GraphStore) {
    let what = "atomicity";
    init(store).await;
    let label = ["TestAtom"];
    let [anchor, node, missing] = ids();
    commit(
        store,
        MAIN,
        node_ops(anchor, "TestAtom", &label, &[("name", json!("anchor"))]),
        what,
    )
    .await;
    new_branch(store, FEATURE).await;
    let writes = || {
        let mut ops = node_ops(node, "TestAtom", &label, &[("name", json!("x"))]);
        ops.extend([
            link("rel", node, anchor),
            set(anchor, "touched", json!("yes")),
            remove_attribute(anchor, "name"),
        ]);
        ops
    };
    let failing_ops = [
        (
            set(missing, "name", json!("m")),
            ErrorKind::NotFound,
            "setting an attribute of a missing node",
        ),
        (
            unlink("rel", anchor, node),
            ErrorKind::NotFound,
            "removing a link that does not exist",
        ),
        (
            create(anchor, "TestAtom", &label),
            ErrorKind::AlreadyExists,
            "creating a visible id",
        ),
        (
            create(node, "TestAtom", &label),
            ErrorKind::AlreadyExists,
            "creating an id created earlier in the changeset",
        ),
        (
            link("rel", node, missing),
            ErrorKind::NotFound,
            "linking to a missing node",
        ),
        (
            delete(missing),
            ErrorKind::NotFound,
            "deleting a missing node",
        ),
    ];
    for branch in [MAIN, FEATURE] {
        for (last, kind, case) in &failing_ops {
            let before = last_commit(store).await;
            let mut ops = writes();
            ops.push(last.clone());
            expect_error(
                store.commit(changeset(branch, ops)).await,
                *kind,
                &format!("{what}: last op {case} on `{branch}`"),
            );
            assert_untouched(
                store,
                branch,
                before,
                node,
                anchor,
                &format!("{what}: after a failed last op ({case}) on `{branch}`"),
            )
            .await;
        }
        let before = last_commit(store).await;
        let failing = Changeset {
            branch: branch.into(),
            ops: writes(),
            conditions: vec![
                Condition::NodeExists {
                    id: anchor,
                    description: "anchor exists".into(),
                },
                Condition::NodeExists {
                    id: missing,
                    description: "missing node exists".into(),
                },
            ],
        };
        expect_condition_failed(
            store.commit(failing).await,
            1,
            &format!("{what}: failing condition on `{branch}`"),
        );
        assert_untouched(
            store,
            branch,
            before,
            node,
            anchor,
            &format!("{what}: after a failed condition on `{branch}`"),
        )
        .await;
    }

    let before = last_commit(store).await;
    let done = commit(store, MAIN, writes(), what).await;
    assert!(
        done.at > before,
        "{what}: a commit after failed ones gets a later timestamp"
    );
    let main = now(MAIN);
    assert_value(store, &main, node, "name", Some(json!("x")), what).await;
    assert_value(store, &main, anchor, "touched", Some(json!("yes")), what).await;
    assert_value(store, &main, anchor, "name", None, what).await;
    assert_links(
        store,
        &main,
        anchor,
        "rel",
        Side::To,
        &[(node, Side::To)],
        what,
    )
    .await;
}

/// `Unique` (attributes, link field, `except`, the changeset's own writes), `NodeExists` and
/// `NotLinked` conditions, with the failing condition's index and description in the error.
pub async fn conditions(store: &dyn GraphStore) {
    let what = "conditions";
    init(store).await;
    let unique_label = ["TestUnique"];
    let iface_label = ["TestIface"];
    let [holder, d1, d2, d3, i1] = ids();
    let mut ops = node_ops(
        holder,
        "TestUnique",
        &unique_label,
        &[("name", json!("taken"))],
    );
    for device in [d1, d2, d3] {
        ops.extend(node_ops(device, "TestDev", &["TestDev"], &[]));
    }
    ops.extend(node_ops(
        i1,
        "TestIface",
        &iface_label,
        &[("name", json!("eth0"))],
    ));
    ops.push(link("device", i1, d1));
    commit(store, MAIN, ops, what).await;
    let main = now(MAIN);
    let unique_name = |labels: &[&str], name: &str, except: Option<NodeId>| Condition::Unique {
        labels: labels.iter().map(|label| label.to_string()).collect(),
        fields: vec![UniqueField::Attribute {
            name: "name".into(),
            value: json!(name),
        }],
        except,
        description: format!("name `{name}` must be unique"),
    };

    // Unique on an attribute.
    let newcomer = new_node_id();
    let before = last_commit(store).await;
    let error = expect_condition_failed(
        try_commit(
            store,
            MAIN,
            node_ops(
                newcomer,
                "TestUnique",
                &unique_label,
                &[("name", json!("taken"))],
            ),
            vec![unique_name(&unique_label, "taken", Some(newcomer))],
        )
        .await,
        0,
        &format!("{what}: Unique on a taken attribute value"),
    );
    assert!(
        error.to_string().contains("name `taken` must be unique"),
        "{what}: the error of a failed condition carries its description: {error}"
    );
    assert_visible(store, &main, newcomer, false, what).await;
    assert_nothing_written(
        store,
        MAIN,
        before,
        &format!("{what}: after a failed Unique"),
    )
    .await;

    try_commit(
        store,
        MAIN,
        node_ops(
            newcomer,
            "TestOtherUnique",
            &["TestOtherUnique"],
            &[("name", json!("taken"))],
        ),
        vec![unique_name(&["TestOtherUnique"], "taken", Some(newcomer))],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: Unique only looks among its labels: {error}"));

    let fresh = new_node_id();
    expect_condition_failed(
        try_commit(
            store,
            MAIN,
            node_ops(
                fresh,
                "TestUnique",
                &unique_label,
                &[("name", json!("fresh"))],
            ),
            vec![unique_name(&unique_label, "fresh", None)],
        )
        .await,
        0,
        &format!(
            "{what}: Unique counts the changeset's own writes (the created node holds the value)"
        ),
    );
    try_commit(
        store,
        MAIN,
        node_ops(
            fresh,
            "TestUnique",
            &unique_label,
            &[("name", json!("fresh"))],
        ),
        vec![unique_name(&unique_label, "fresh", Some(fresh))],
    )
    .await
    .unwrap_or_else(|error| {
        panic!("{what}: Unique with `except` set to the created node: {error}")
    });
    try_commit(
        store,
        MAIN,
        vec![set(holder, "name", json!("taken"))],
        vec![unique_name(&unique_label, "taken", Some(holder))],
    )
    .await
    .unwrap_or_else(|error| {
        panic!("{what}: Unique with `except` set to the holder of the value: {error}")
    });
    let successor = new_node_id();
    let mut ops = vec![set(holder, "name", json!("renamed"))];
    ops.extend(node_ops(
        successor,
        "TestUnique",
        &unique_label,
        &[("name", json!("taken"))],
    ));
    try_commit(
        store,
        MAIN,
        ops,
        vec![unique_name(&unique_label, "taken", Some(successor))],
    )
    .await
    .unwrap_or_else(|error| {
        panic!("{what}: Unique sees a value released earlier in the same changeset: {error}")
    });

    // Unique with a link field.
    let on_device = |device: NodeId, except: NodeId| Condition::Unique {
        labels: vec!["TestIface".into()],
        fields: vec![
            UniqueField::Attribute {
                name: "name".into(),
                value: json!("eth0"),
            },
            UniqueField::Link {
                identifier: "device".into(),
                side: Side::From,
                peer: device,
            },
        ],
        except: Some(except),
        description: "interface names are unique per device".into(),
    };
    let i2 = new_node_id();
    let interface = |device: NodeId| {
        let mut ops = node_ops(i2, "TestIface", &iface_label, &[("name", json!("eth0"))]);
        ops.push(link("device", i2, device));
        ops
    };
    expect_condition_failed(
        try_commit(store, MAIN, interface(d1), vec![on_device(d1, i2)]).await,
        0,
        &format!("{what}: Unique with a link field, taken on that device"),
    );
    assert_visible(store, &main, i2, false, what).await;
    try_commit(store, MAIN, interface(d2), vec![on_device(d2, i2)])
        .await
        .unwrap_or_else(|error| {
            panic!("{what}: Unique with a link field, free on another device: {error}")
        });
    let i3 = new_node_id();
    let mut ops = node_ops(i3, "TestIface", &iface_label, &[("name", json!("eth1"))]);
    ops.push(link("device", i3, d2));
    let link_only = Condition::Unique {
        labels: vec!["TestIface".into()],
        fields: vec![UniqueField::Link {
            identifier: "device".into(),
            side: Side::From,
            peer: d2,
        }],
        except: Some(i3),
        description: "one interface per device".into(),
    };
    expect_condition_failed(
        try_commit(store, MAIN, ops, vec![link_only]).await,
        0,
        &format!("{what}: Unique on a link field alone"),
    );

    // NodeExists.
    let note = |node: NodeId, text: &str| vec![set(node, "note", json!(text))];
    let exists = |id: NodeId| Condition::NodeExists {
        id,
        description: "node must exist".into(),
    };
    try_commit(store, MAIN, note(holder, "kept"), vec![exists(holder)])
        .await
        .unwrap_or_else(|error| panic!("{what}: NodeExists on a visible node: {error}"));
    expect_condition_failed(
        try_commit(
            store,
            MAIN,
            note(holder, "lost"),
            vec![exists(new_node_id())],
        )
        .await,
        0,
        &format!("{what}: NodeExists on a missing node"),
    );
    assert_value(store, &main, holder, "note", Some(json!("kept")), what).await;
    expect_condition_failed(
        try_commit(store, MAIN, vec![delete(holder)], vec![exists(holder)]).await,
        0,
        &format!("{what}: NodeExists on a node the changeset deletes"),
    );
    assert_visible(store, &main, holder, true, what).await;

    // NotLinked.
    let not_linked = |node: NodeId, side: Side| Condition::NotLinked {
        node,
        identifier: "device".into(),
        side,
        description: "device must be free".into(),
    };
    expect_condition_failed(
        try_commit(
            store,
            MAIN,
            note(d1, "busy"),
            vec![not_linked(d1, Side::To)],
        )
        .await,
        0,
        &format!("{what}: NotLinked on a linked node"),
    );
    assert_value(store, &main, d1, "note", None, what).await;
    try_commit(
        store,
        MAIN,
        note(d3, "free"),
        vec![not_linked(d3, Side::To)],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: NotLinked on a node without links: {error}"));
    try_commit(
        store,
        MAIN,
        note(d1, "from"),
        vec![not_linked(d1, Side::From)],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: NotLinked on the other side: {error}"));
    try_commit(
        store,
        MAIN,
        vec![unlink("device", i1, d1)],
        vec![not_linked(d1, Side::To)],
    )
    .await
    .unwrap_or_else(|error| {
        panic!("{what}: NotLinked after the changeset removes the link: {error}")
    });

    // Index of the failing condition among several.
    expect_condition_failed(
        try_commit(
            store,
            MAIN,
            note(d2, "x"),
            vec![
                exists(d2),
                not_linked(d3, Side::To),
                not_linked(d2, Side::To),
            ],
        )
        .await,
        2,
        &format!("{what}: index of the failing condition"),
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

const WRITERS: usize = 8;
const CHANGESETS_PER_WRITER: i64 = 50;

/// 8 tasks commit 50 changesets each while a reader checks that no partial changeset is ever
/// visible; afterwards every acknowledged changeset is present, at its own timestamp.
pub async fn concurrent_writers_and_readers(store: Arc<dyn GraphStore>) {
    let what = "concurrent_writers_and_readers";
    init(&*store).await;
    let pairs: Vec<NodeId> = (0..WRITERS).map(|_| new_node_id()).collect();
    let mut ops = Vec::new();
    for (writer, pair) in pairs.iter().enumerate() {
        ops.extend(node_ops(
            *pair,
            "TestPair",
            &["TestPair"],
            &[
                ("writer", json!(writer)),
                ("left", json!(-1)),
                ("right", json!(-1)),
            ],
        ));
    }
    commit(&*store, MAIN, ops, what).await;

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                check_pairs_consistent(&*store, &now(MAIN)).await;
                let latest = last_commit(&*store).await;
                let seen = check_pairs_consistent(&*store, &at(MAIN, latest)).await;
                if samples.len() < 100 {
                    samples.push((latest, seen));
                }
                if finished {
                    break samples;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut writers = JoinSet::new();
    for (writer, pair) in pairs.iter().copied().enumerate() {
        let store = Arc::clone(&store);
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            for seq in 0..CHANGESETS_PER_WRITER {
                let item = new_node_id();
                let mut ops = vec![set(pair, "left", json!(seq))];
                ops.extend(node_ops(
                    item,
                    "TestItem",
                    &["TestItem"],
                    &[("writer", json!(writer)), ("seq", json!(seq))],
                ));
                ops.push(set(pair, "right", json!(seq)));
                let done = commit(&*store, MAIN, ops, what).await;
                assert!(
                    last_commit(&*store).await >= done.at,
                    "{what}: last_commit must not be older than an acknowledged commit"
                );
                if seq % 10 == 0 {
                    assert_value(
                        &*store,
                        &now(MAIN),
                        pair,
                        "left",
                        Some(json!(seq)),
                        "an acknowledged commit is visible",
                    )
                    .await;
                }
                acknowledged.push((seq, done.at));
            }
            (writer, pair, acknowledged)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = writers.join_next().await {
        results.push(joined.unwrap_or_else(|error| rethrow(error, "a writer task")));
    }
    done.store(true, Ordering::Release);
    let samples = reader
        .await
        .unwrap_or_else(|error| rethrow(error, "the reader task"));
    for (instant, seen) in samples {
        assert_eq!(
            check_pairs_consistent(&*store, &at(MAIN, instant)).await,
            seen,
            "{what}: a read at {instant} (last_commit while writers ran) must see the same state \
             once the writers are done: every commit at or before last_commit() is visible"
        );
    }

    let mut instants = BTreeSet::new();
    let main = now(MAIN);
    for (writer, pair, acknowledged) in &results {
        assert_eq!(
            acknowledged.len(),
            CHANGESETS_PER_WRITER as usize,
            "{what}: commits of writer {writer}"
        );
        assert!(
            acknowledged.windows(2).all(|pair| pair[0].1 < pair[1].1),
            "{what}: successive commits of writer {writer} must have increasing timestamps"
        );
        for (seq, at_commit) in acknowledged {
            instants.insert(*at_commit);
            let seen = read_all(&*store, &at(MAIN, *at_commit), *pair)
                .await
                .unwrap_or_else(|| {
                    panic!("{what}: pair of writer {writer} invisible at {at_commit}")
                });
            assert_eq!(
                (int_attribute(&seen, "left"), int_attribute(&seen, "right")),
                (Some(*seq), Some(*seq)),
                "{what}: writer {writer}'s changeset {seq} read at its own timestamp"
            );
        }
        assert_value(
            &*store,
            &main,
            *pair,
            "left",
            Some(json!(CHANGESETS_PER_WRITER - 1)),
            what,
        )
        .await;
        assert_value(
            &*store,
            &main,
            *pair,
            "right",
            Some(json!(CHANGESETS_PER_WRITER - 1)),
            what,
        )
        .await;
    }
    let total = WRITERS * CHANGESETS_PER_WRITER as usize;
    assert_eq!(
        instants.len(),
        total,
        "{what}: every commit must get its own timestamp (strictly increasing)"
    );
    assert_eq!(
        count_of(&*store, &main, &labelled(&["TestItem"])).await,
        total as u64,
        "{what}: acknowledged items"
    );
    check_pairs_consistent(&*store, &main).await;
}

/// 16 tasks race to create a node with the same unique `name`: exactly one succeeds, the others
/// get `ConditionFailed`.
pub async fn concurrent_unique_creates(store: Arc<dyn GraphStore>) {
    let what = "concurrent_unique_creates";
    init(&*store).await;
    let mut racers = JoinSet::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        racers.spawn(async move {
            let id = new_node_id();
            let condition = Condition::Unique {
                labels: vec!["TestRacer".into()],
                fields: vec![UniqueField::Attribute {
                    name: "name".into(),
                    value: json!("racer"),
                }],
                except: Some(id),
                description: "racer names are unique".into(),
            };
            let result = try_commit(
                &*store,
                MAIN,
                node_ops(id, "TestRacer", &["TestRacer"], &[("name", json!("racer"))]),
                vec![condition],
            )
            .await;
            (id, result)
        });
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    while let Some(joined) = racers.join_next().await {
        let (id, result) = joined.unwrap_or_else(|error| rethrow(error, "a racing task"));
        match result {
            Ok(_) => winners.push(id),
            Err(error) => {
                assert_eq!(
                    (error.kind(), error.condition()),
                    (ErrorKind::ConditionFailed, Some(0)),
                    "{what}: a losing create must fail its Unique condition: {error}"
                );
                losers += 1;
            }
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "{what}: exactly one racing create must succeed ({losers} failed)"
    );
    expect_matches(
        &*store,
        &now(MAIN),
        &["TestRacer"],
        vec![attribute_is("name", Match::Equals(json!("racer")))],
        &winners,
        &format!("{what}: only the winner holds the name"),
    )
    .await;
}

/// Reads pairs and items in one query and checks that every pair has `left == right` and that
/// exactly the items of the changesets the pair has seen are visible; returns each writer's
/// last visible changeset.
async fn check_pairs_consistent(store: &dyn GraphStore, view: &BranchView) -> Vec<i64> {
    let what = "concurrent_writers_and_readers";
    let query = NodeQuery {
        select: Selection::all_attributes(),
        ..labelled(&["TestPair", "TestItem"])
    };
    let result = run_query(store, view, &query).await;
    let mut left_by_writer: Vec<Option<i64>> = vec![None; WRITERS];
    let mut items: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); WRITERS];
    for node in &result.nodes {
        let writer = int_attribute(node, "writer")
            .and_then(|writer| usize::try_from(writer).ok())
            .filter(|writer| *writer < WRITERS)
            .unwrap_or_else(|| panic!("{what}: node without a valid writer attribute: {node:?}"));
        if node.kind == "TestPair" {
            let (left, right) = (int_attribute(node, "left"), int_attribute(node, "right"));
            assert_eq!(
                left,
                right,
                "{what}: a reader saw half a changeset of writer {writer} on {}",
                describe(view)
            );
            left_by_writer[writer] = left;
        } else {
            let seq = int_attribute(node, "seq")
                .unwrap_or_else(|| panic!("{what}: item without seq: {node:?}"));
            items[writer].insert(seq);
        }
    }
    let mut lefts = Vec::with_capacity(WRITERS);
    for (writer, left) in left_by_writer.into_iter().enumerate() {
        let left = left.unwrap_or_else(|| {
            panic!(
                "{what}: pair of writer {writer} invisible on {}",
                describe(view)
            )
        });
        let expected: BTreeSet<i64> = (0..=left).collect();
        assert_eq!(
            items[writer],
            expected,
            "{what}: items of writer {writer} must be exactly those of the changesets its pair reflects ({})",
            describe(view)
        );
        lefts.push(left);
    }
    lefts
}

fn rethrow<T>(error: tokio::task::JoinError, task: &str) -> T {
    if error.is_panic() {
        std::panic::resume_unwind(error.into_panic());
    }
    panic!("{task} did not finish: {error}")
}

// ---------------------------------------------------------------------------------------------
// Helpers: setup

async fn init(store: &dyn GraphStore) -> BranchRecord {
    store
        .create_branch(
            MAIN,
            CreateBranchOptions {
                is_default: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|error| panic!("creating the default branch `{MAIN}` failed: {error}"))
}

async fn new_branch(store: &dyn GraphStore, name: &str) -> BranchRecord {
    store
        .create_branch(name, CreateBranchOptions::default())
        .await
        .unwrap_or_else(|error| panic!("creating branch `{name}` failed: {error}"))
}

async fn get_branch(store: &dyn GraphStore, name: &str) -> BranchRecord {
    store
        .get_branch(name)
        .await
        .unwrap_or_else(|error| panic!("get_branch(`{name}`) failed: {error}"))
}

async fn list_branches(store: &dyn GraphStore) -> Vec<BranchRecord> {
    store
        .list_branches()
        .await
        .unwrap_or_else(|error| panic!("list_branches failed: {error}"))
}

/// Names of the listed branches, in order, without the global branch (whether it is listed is
/// up to the backend).
fn branch_names(branches: &[BranchRecord]) -> Vec<String> {
    branches
        .iter()
        .map(|branch| branch.name.clone())
        .filter(|name| name != GLOBAL_BRANCH)
        .collect()
}

async fn merge(
    store: &dyn GraphStore,
    branch: &str,
    options: MergeOptions,
    what: &str,
) -> BranchOperation {
    store
        .merge_branch(branch, options)
        .await
        .unwrap_or_else(|error| panic!("{what}: merge_branch(`{branch}`) failed: {error}"))
}

fn props(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

fn ids<const N: usize>() -> [NodeId; N] {
    std::array::from_fn(|_| new_node_id())
}

// ---------------------------------------------------------------------------------------------
// Helpers: changesets

fn changeset(branch: &str, ops: Vec<Op>) -> Changeset {
    Changeset {
        branch: branch.into(),
        ops,
        conditions: Vec::new(),
    }
}

fn create(id: NodeId, kind: &str, labels: &[&str]) -> Op {
    create_in(id, kind, labels, Scope::Branch)
}

fn create_in(id: NodeId, kind: &str, labels: &[&str], scope: Scope) -> Op {
    Op::CreateNode {
        id,
        kind: kind.into(),
        labels: labels.iter().map(|label| label.to_string()).collect(),
        scope,
    }
}

/// Creates a node and sets its attributes.
fn node_ops(id: NodeId, kind: &str, labels: &[&str], attributes: &[(&str, Value)]) -> Vec<Op> {
    let mut ops = vec![create(id, kind, labels)];
    ops.extend(
        attributes
            .iter()
            .map(|(name, value)| set(id, name, value.clone())),
    );
    ops
}

fn set(node: NodeId, name: &str, value: Value) -> Op {
    set_value(node, name, AttributeValue::new(value))
}

fn set_value(node: NodeId, name: &str, value: AttributeValue) -> Op {
    set_in(node, name, value, Scope::Branch)
}

fn set_in(node: NodeId, name: &str, value: AttributeValue, scope: Scope) -> Op {
    Op::SetAttribute {
        node,
        name: name.into(),
        value,
        scope,
        indexed: true,
    }
}

fn remove_attribute(node: NodeId, name: &str) -> Op {
    Op::RemoveAttribute {
        node,
        name: name.into(),
        scope: Scope::Branch,
    }
}

fn delete(id: NodeId) -> Op {
    Op::DeleteNode {
        id,
        scope: Scope::Branch,
    }
}

fn link(identifier: &str, from: NodeId, to: NodeId) -> Op {
    Op::SetLink {
        identifier: identifier.into(),
        from,
        to,
        properties: LinkProperties::visible(),
        scope: Scope::Branch,
    }
}

fn unlink(identifier: &str, from: NodeId, to: NodeId) -> Op {
    Op::RemoveLink {
        identifier: identifier.into(),
        from,
        to,
        scope: Scope::Branch,
    }
}

async fn try_commit(
    store: &dyn GraphStore,
    branch: &str,
    ops: Vec<Op>,
    conditions: Vec<Condition>,
) -> Result<Commit> {
    store
        .commit(Changeset {
            branch: branch.into(),
            ops,
            conditions,
        })
        .await
}

async fn commit(store: &dyn GraphStore, branch: &str, ops: Vec<Op>, what: &str) -> Commit {
    store
        .commit(changeset(branch, ops))
        .await
        .unwrap_or_else(|error| panic!("{what}: commit on `{branch}` failed: {error}"))
}

#[track_caller]
fn expect_error<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(value) => panic!("{what}: expected a {kind:?} error, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "{what}: wrong error kind ({error})");
            error
        }
    }
}

#[track_caller]
fn expect_condition_failed<T: Debug>(result: Result<T>, index: usize, what: &str) -> Error {
    let error = expect_error(result, ErrorKind::ConditionFailed, what);
    assert_eq!(
        error.condition(),
        Some(index),
        "{what}: index of the failed condition ({error})"
    );
    error
}

async fn assert_nothing_written(
    store: &dyn GraphStore,
    branch: &str,
    before: Timestamp,
    what: &str,
) {
    assert_eq!(
        last_commit(store).await,
        before,
        "{what}: a failed commit must not advance last_commit"
    );
    let written = changes_of(store, branch, before, Timestamp::MAX).await;
    assert!(
        written.is_empty(),
        "{what}: a failed commit left changes on `{branch}`: {written:?}"
    );
}

/// Checks that none of the writes of [`atomicity`]'s changeset is visible.
async fn assert_untouched(
    store: &dyn GraphStore,
    branch: &str,
    before: Timestamp,
    node: NodeId,
    anchor: NodeId,
    what: &str,
) {
    let view = now(branch);
    assert_nothing_written(store, branch, before, what).await;
    assert_visible(store, &view, node, false, what).await;
    assert_eq!(
        history_of(store, node).await,
        Vec::new(),
        "{what}: the created node must have no history"
    );
    let seen = read(store, &view, anchor, &everything(&["rel"]))
        .await
        .unwrap_or_else(|| panic!("{what}: the existing node must stay visible"));
    assert_eq!(
        seen.attributes
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["name"],
        "{what}: attributes of the existing node must be unchanged"
    );
    assert!(
        seen.links.is_empty(),
        "{what}: no link must have been written: {:?}",
        seen.links
    );
    expect_matches(
        store,
        &view,
        &["TestAtom"],
        vec![],
        &[anchor],
        &format!("{what}: listing"),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Helpers: reads

fn now(branch: &str) -> BranchView {
    BranchView::now(branch)
}

fn at(branch: &str, instant: Timestamp) -> BranchView {
    BranchView::at(branch, instant)
}

fn just_before(instant: Timestamp) -> Timestamp {
    instant.plus_micros(-1)
}

fn midpoint(earlier: Timestamp, later: Timestamp) -> Timestamp {
    earlier.plus_micros((later.as_micros() - earlier.as_micros()) / 2)
}

fn describe(view: &BranchView) -> String {
    match view.at {
        Some(instant) => format!("`{}` at {instant}", view.branch),
        None => format!("`{}`", view.branch),
    }
}

/// Every attribute and the links of `identifiers` on either side.
fn everything(identifiers: &[&str]) -> Selection {
    Selection {
        attributes: None,
        links: identifiers
            .iter()
            .map(|identifier| link_selection(identifier, Side::Either))
            .collect(),
    }
}

fn link_selection(identifier: &str, side: Side) -> LinkSelection {
    LinkSelection {
        identifier: identifier.into(),
        side,
    }
}

async fn read(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    select: &Selection,
) -> Option<NodeData> {
    let mut nodes = store
        .get_nodes(view, &[id], select)
        .await
        .unwrap_or_else(|error| panic!("get_nodes({id}) on {} failed: {error}", describe(view)));
    assert!(
        nodes.len() <= 1,
        "get_nodes of one id on {} returned {} nodes",
        describe(view),
        nodes.len()
    );
    if let Some(node) = nodes.first() {
        assert_eq!(
            node.id,
            id,
            "get_nodes on {} returned another node",
            describe(view)
        );
    }
    nodes.pop()
}

async fn read_all(store: &dyn GraphStore, view: &BranchView, id: NodeId) -> Option<NodeData> {
    read(store, view, id, &Selection::all_attributes()).await
}

async fn attribute_of(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    name: &str,
) -> Option<AttributeValue> {
    let select = Selection {
        attributes: Some(vec![name.into()]),
        links: Vec::new(),
    };
    read(store, view, id, &select)
        .await
        .and_then(|node| node.attributes.get(name).map(|state| state.value.clone()))
}

async fn assert_value(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    name: &str,
    expected: Option<Value>,
    what: &str,
) {
    assert_visible(store, view, id, true, what).await;
    let value = attribute_of(store, view, id, name)
        .await
        .map(|value| value.value);
    assert_eq!(
        value,
        expected,
        "{what}: attribute `{name}` of {id} on {}",
        describe(view)
    );
}

async fn assert_visible(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    expected: bool,
    what: &str,
) {
    let visible = read(store, view, id, &Selection::nothing()).await.is_some();
    assert_eq!(
        visible,
        expected,
        "{what}: visibility of node {id} on {}",
        describe(view)
    );
}

fn link_ends(node: &NodeData) -> Vec<(NodeId, Side)> {
    let mut ends: Vec<(NodeId, Side)> = node
        .links
        .iter()
        .map(|link| (link.peer, link.side))
        .collect();
    ends.sort_by_key(|(peer, side)| (*peer, *side as u8));
    ends
}

async fn assert_links(
    store: &dyn GraphStore,
    view: &BranchView,
    id: NodeId,
    identifier: &str,
    side: Side,
    expected: &[(NodeId, Side)],
    what: &str,
) {
    let select = Selection {
        attributes: Some(Vec::new()),
        links: vec![link_selection(identifier, side)],
    };
    let node = read(store, view, id, &select).await.unwrap_or_else(|| {
        panic!(
            "{what}: node {id} invisible on {} while reading its links",
            describe(view)
        )
    });
    assert!(
        node.links.iter().all(|link| link.identifier == identifier),
        "{what}: links of another identifier loaded: {:?}",
        node.links
    );
    let mut expected = expected.to_vec();
    expected.sort_by_key(|(peer, side)| (*peer, *side as u8));
    assert_eq!(
        link_ends(&node),
        expected,
        "{what}: `{identifier}` links of {id} seen with {side:?} on {}",
        describe(view)
    );
}

fn int_attribute(node: &NodeData, name: &str) -> Option<i64> {
    node.attributes
        .get(name)
        .and_then(|state| state.value.value.as_i64())
}

fn ids_of(nodes: &[NodeData]) -> Vec<NodeId> {
    nodes.iter().map(|node| node.id).collect()
}

fn sorted_ids(ids: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = ids.into_iter().collect();
    ids.sort();
    ids
}

fn sorted_strings(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values
}

fn slot_touches(slot: &Slot, id: NodeId) -> bool {
    match slot {
        Slot::Node { id: node } | Slot::Attribute { node, .. } => *node == id,
        Slot::Link { from, to, .. } => *from == id || *to == id,
    }
}

async fn last_commit(store: &dyn GraphStore) -> Timestamp {
    store
        .last_commit()
        .await
        .unwrap_or_else(|error| panic!("last_commit failed: {error}"))
}

async fn changes_of(
    store: &dyn GraphStore,
    branch: &str,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Change> {
    store
        .changes(branch, from, to)
        .await
        .unwrap_or_else(|error| panic!("changes(`{branch}`, {from}, {to}) failed: {error}"))
}

async fn history_of(store: &dyn GraphStore, id: NodeId) -> Vec<(Slot, Version)> {
    store
        .history(id)
        .await
        .unwrap_or_else(|error| panic!("history({id}) failed: {error}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers: queries

fn labelled(labels: &[&str]) -> NodeQuery {
    NodeQuery {
        labels: labels.iter().map(|label| label.to_string()).collect(),
        select: Selection::nothing(),
        ..Default::default()
    }
}

fn attribute_is(name: &str, matches: Match) -> Filter {
    Filter::Attribute {
        name: name.into(),
        property: Property::Value,
        matches,
    }
}

async fn run_query(store: &dyn GraphStore, view: &BranchView, query: &NodeQuery) -> QueryResult {
    store
        .query(view, query)
        .await
        .unwrap_or_else(|error| panic!("query on {} failed: {error}\n{query:?}", describe(view)))
}

async fn query_ids(store: &dyn GraphStore, view: &BranchView, query: &NodeQuery) -> Vec<NodeId> {
    ids_of(&run_query(store, view, query).await.nodes)
}

async fn count_of(store: &dyn GraphStore, view: &BranchView, query: &NodeQuery) -> u64 {
    store
        .count(view, query)
        .await
        .unwrap_or_else(|error| panic!("count on {} failed: {error}\n{query:?}", describe(view)))
}

/// Checks that a query returns `expected` in id order, with `total` and `count()` equal to the
/// number of matches.
async fn expect_matches(
    store: &dyn GraphStore,
    view: &BranchView,
    labels: &[&str],
    filters: Vec<Filter>,
    expected: &[NodeId],
    what: &str,
) {
    let expected = sorted_ids(expected.iter().copied());
    let query = NodeQuery {
        filters,
        count: true,
        ..labelled(labels)
    };
    let result = run_query(store, view, &query).await;
    assert_eq!(
        ids_of(&result.nodes),
        expected,
        "{what}: matching nodes, in id order, on {}",
        describe(view)
    );
    assert_eq!(
        result.total,
        Some(expected.len() as u64),
        "{what}: total on {}",
        describe(view)
    );
    assert_eq!(
        count_of(store, view, &query).await,
        expected.len() as u64,
        "{what}: count() on {}",
        describe(view)
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers: versions

fn version(branch: &str, at: Timestamp, status: Status, data: VersionData) -> Version {
    Version {
        branch: branch.into(),
        at,
        status,
        local: false,
        data,
    }
}

fn node_version(branch: &str, at: Timestamp, kind: &str, labels: &[&str]) -> Version {
    let labels = labels.iter().map(|label| label.to_string()).collect();
    version(
        branch,
        at,
        Status::Active,
        VersionData::Node {
            kind: kind.into(),
            labels,
        },
    )
}

fn attribute_version(branch: &str, at: Timestamp, value: Value) -> Version {
    version(
        branch,
        at,
        Status::Active,
        VersionData::Attribute(AttributeValue::new(value)),
    )
}

fn link_version(branch: &str, at: Timestamp) -> Version {
    version(
        branch,
        at,
        Status::Active,
        VersionData::Link(LinkProperties::visible()),
    )
}

fn deleted_version(branch: &str, at: Timestamp) -> Version {
    version(branch, at, Status::Deleted, VersionData::None)
}

fn change(slot: &Slot, before: Option<Version>, after: Version) -> Change {
    Change {
        slot: slot.clone(),
        before,
        after,
    }
}

/// A deleted version's data is not part of the contract: compare only status, branch, time
/// and locality.
fn normalize_version(mut version: Version) -> Version {
    if version.status == Status::Deleted {
        version.data = VersionData::None;
    }
    version
}

/// Changes of one timestamp come in no particular order: sort them by slot within a timestamp.
fn normalize_changes(changes: Vec<Change>) -> Vec<Change> {
    let mut changes: Vec<Change> = changes
        .into_iter()
        .map(|change| Change {
            slot: change.slot,
            before: change.before.map(normalize_version),
            after: normalize_version(change.after),
        })
        .collect();
    changes.sort_by(|left, right| (left.after.at, &left.slot).cmp(&(right.after.at, &right.slot)));
    changes
}

async fn assert_history(
    store: &dyn GraphStore,
    id: NodeId,
    expected: Vec<(Slot, Version)>,
    what: &str,
) {
    let listed = history_of(store, id).await;
    assert!(
        listed.windows(2).all(|pair| pair[0].1.at <= pair[1].1.at),
        "{what}: history of {id} must be oldest first: {listed:?}"
    );
    let normalize = |entries: Vec<(Slot, Version)>| {
        let mut entries: Vec<(Slot, Version)> = entries
            .into_iter()
            .map(|(slot, version)| (slot, normalize_version(version)))
            .collect();
        entries.sort_by(|left, right| {
            (left.1.at, &left.0, &left.1.branch).cmp(&(right.1.at, &right.0, &right.1.branch))
        });
        entries
    };
    assert_eq!(
        normalize(listed),
        normalize(expected),
        "{what}: history of {id}"
    );
}
