//! Checks of what a read loads: attribute and link selections, and which end sees a link.

use serde_json::json;

use super::helpers::{
    MAIN, assert_links, changeset, commit, create, expect_error, ids, ids_of, init, labelled, link,
    link_ends, link_selection, node_ops, now, read, read_all, run_query, set_value, sorted_strings,
    unlink,
};
use crate::changeset::Op;
use crate::error::ErrorKind;
use crate::model::{AttributeValue, LinkProperties, NodeId, Scope, Side, new_node_id};
use crate::query::{Filter, LinkSelection, NodeQuery, Selection};
use crate::store::GraphStore;

/// A link selection check: description, selection, expected (identifier, peer, side).
type LinkCase<'a> = (&'a str, Vec<LinkSelection>, Vec<(String, NodeId, Side)>);

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
        is_from_profile: true,
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
        (c.updated_at, &*c.branch),
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
            &*all.branch,
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
            &*state.branch
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
