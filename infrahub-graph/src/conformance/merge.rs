//! Checks of merge and rebase.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_links, assert_value, assert_visible, at, attribute_of, commit, delete,
    expect_error, get_branch, ids, init, just_before, last_commit, link, merge, new_branch,
    node_ops, now, read_all, set, set_value, unlink,
};
use crate::change::{MergeOptions, RebaseOptions, SlotProperty};
use crate::error::ErrorKind;
use crate::model::{AttributeValue, Side, Slot};
use crate::store::GraphStore;

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
    assert_eq!(
        &*created.branch, MAIN,
        "{what}: a merged node lives on main"
    );
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
