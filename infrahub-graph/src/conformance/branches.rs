//! Checks of branches: the default branch, lifecycle, deletion and isolation.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_links, assert_value, assert_visible, attribute_is, branch_names,
    changes_of, changeset, commit, create, expect_error, expect_matches, get_branch, history_of,
    init, labelled, link, list_branches, new_branch, node_ops, now, props, set, slot_touches,
};
use crate::branch::{CreateBranchOptions, GLOBAL_BRANCH};
use crate::error::ErrorKind;
use crate::model::{Side, new_node_id};
use crate::query::{Match, NodeQuery, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

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
    // Queries and counts too, whether or not nodes would match.
    for labels in [&["TestNode"][..], &["NoSuchLabel"][..]] {
        for count in [false, true] {
            let query = NodeQuery {
                count,
                ..labelled(labels)
            };
            expect_error(
                store.query(&now(FEATURE), &query).await,
                ErrorKind::NotFound,
                &format!("{what}: querying {labels:?} on a deleted branch (count: {count})"),
            );
        }
        expect_error(
            store.count(&now(FEATURE), &labelled(labels)).await,
            ErrorKind::NotFound,
            &format!("{what}: counting {labels:?} on a deleted branch"),
        );
    }
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
