//! Checks of reads in time: time travel and branch shadowing.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_value, assert_visible, at, attribute_is, commit, count_of, delete,
    expect_matches, ids, init, just_before, labelled, last_commit, midpoint, new_branch, node_ops,
    now, read_all, remove_attribute, set,
};
use crate::model::new_node_id;
use crate::query::Match;
use crate::store::GraphStore;

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
            (&state.value.value, &*state.branch, state.updated_at),
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
