//! Checks of change enumeration and node history.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_history, attribute_version, change, changes_of, commit, delete,
    deleted_version, expect_error, ids, init, just_before, link, link_version, new_branch,
    node_ops, node_version, normalize_changes, set, unlink,
};
use crate::change::Change;
use crate::error::ErrorKind;
use crate::model::Slot;
use crate::store::GraphStore;
use crate::time::Timestamp;

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
