//! Checks of node data: delete and re-create, kind changes, global and local data.

use serde_json::json;

use super::helpers::{
    FEATURE, MAIN, assert_links, assert_value, assert_visible, at, attribute_is, changes_of,
    changeset, commit, create, create_in, delete, everything, expect_error, expect_matches,
    history_of, ids, ids_of, init, just_before, link, link_ends, merge, new_branch, node_ops, now,
    read, read_all, set, set_in, slot_touches, sorted_strings, unlink,
};
use crate::branch::GLOBAL_BRANCH;
use crate::change::MergeOptions;
use crate::changeset::Op;
use crate::error::ErrorKind;
use crate::model::{AttributeValue, LinkProperties, Scope, Side, Slot, Status, new_node_id};
use crate::query::{Filter, Match, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

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
            &*seen.branch, GLOBAL_BRANCH,
            "{what}: NodeData.branch of a global node on `{branch}`"
        );
        let name = seen
            .attributes
            .get("name")
            .unwrap_or_else(|| panic!("{what}: global attribute missing"));
        assert_eq!(
            (&name.value.value, &*name.branch),
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
