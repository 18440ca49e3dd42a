//! Checks of all-or-nothing commits and changeset conditions.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_links, assert_value, assert_visible, changes_of, changeset, commit,
    create, delete, everything, expect_condition_failed, expect_error, expect_matches, history_of,
    ids, init, last_commit, link, new_branch, node_ops, now, read, remove_attribute, set,
    try_commit, unlink,
};
use crate::changeset::{Changeset, Condition, UniqueField};
use crate::error::ErrorKind;
use crate::model::{NodeId, Side, new_node_id};
use crate::store::GraphStore;
use crate::time::Timestamp;

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

/// `Unique` (attributes, link field, `except`, the changeset's own writes), `NodeExists`,
/// `NotLinked` and `LinkCount` conditions, with the failing condition's index and description in the error.
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

    // LinkCount: d2 holds one `device` link (from i2).
    let count = |node: NodeId, min: usize, max: Option<usize>| Condition::LinkCount {
        node,
        identifier: "device".into(),
        side: Side::To,
        min,
        max,
        description: "device link count".into(),
    };
    let before = last_commit(store).await;
    let error = expect_condition_failed(
        try_commit(
            store,
            MAIN,
            vec![link("device", i1, d2)],
            vec![count(d2, 0, Some(1))],
        )
        .await,
        0,
        &format!("{what}: LinkCount over its maximum with the changeset's own link"),
    );
    assert!(
        error.to_string().contains("device link count"),
        "{what}: a failed LinkCount carries its description: {error}"
    );
    assert_nothing_written(
        store,
        MAIN,
        before,
        &format!("{what}: after a failed LinkCount"),
    )
    .await;
    expect_condition_failed(
        try_commit(store, MAIN, note(d2, "few"), vec![count(d2, 2, None)]).await,
        0,
        &format!("{what}: LinkCount under its minimum"),
    );
    try_commit(
        store,
        MAIN,
        note(d2, "one"),
        vec![count(d2, 1, Some(1)), count(d1, 0, Some(0))],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: LinkCount within its bounds: {error}"));
    try_commit(
        store,
        MAIN,
        note(d2, "gone"),
        vec![count(new_node_id(), 1, Some(1))],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: LinkCount on a node that is not visible: {error}"));
    try_commit(
        store,
        MAIN,
        vec![link("device", i1, d2)],
        vec![count(d2, 2, Some(2))],
    )
    .await
    .unwrap_or_else(|error| panic!("{what}: LinkCount counts the changeset's own link: {error}"));
    try_commit(
        store,
        MAIN,
        vec![unlink("device", i1, d2)],
        vec![count(d2, 0, Some(1))],
    )
    .await
    .unwrap_or_else(|error| {
        panic!("{what}: LinkCount after the changeset removes a link: {error}")
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
