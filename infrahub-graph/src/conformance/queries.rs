//! Checks of node queries: filters, ordering and pagination.

use serde_json::{Value, json};

use super::helpers::{
    FEATURE, MAIN, attribute_is, commit, count_of, create, delete, expect_matches, ids, ids_of,
    init, labelled, link, new_branch, node_ops, now, query_ids, run_query, set, set_value,
    sorted_ids, unlink,
};
use crate::model::{AttributeValue, NodeId, Side, new_node_id};
use crate::query::{Filter, Match, NodeQuery, OrderBy, Property};
use crate::store::GraphStore;

/// A filter check: description, labels, filters, expected matches.
type FilterCase<'a> = (&'a str, &'a [&'a str], Vec<Filter>, Vec<NodeId>);
/// A filter check on a branch: description, filters, matches on the branch, matches on main.
type BranchFilterCase<'a> = (&'a str, Vec<Filter>, Vec<NodeId>, Vec<NodeId>);

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
            "Between numbers, both ends included",
            &filtered,
            vec![value("mtu", Match::Between(json!(1500), json!(9000)))],
            vec![n1, n2, n3],
        ),
        (
            "Between compares integers and floats by value",
            &filtered,
            vec![value("mtu", Match::Between(json!(9000.0), json!(1e9)))],
            vec![n2, n4],
        ),
        (
            "Between strings, byte by byte",
            &filtered,
            vec![value("name", Match::Between(json!("B"), json!("c")))],
            vec![n2, n3],
        ),
        (
            "Between numbers leaves strings and nulls out",
            &filtered,
            vec![value("serial", Match::Between(json!(0), json!(1000)))],
            vec![n1],
        ),
        (
            "Between an empty range",
            &filtered,
            vec![value("mtu", Match::Between(json!(9000), json!(1500)))],
            vec![],
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
                property: Property::Value,
                matches: Match::Equals(json!("edge")),
            }],
            vec![n2, n3],
        ),
        (
            "AnyAttribute Contains",
            &filtered,
            vec![Filter::AnyAttribute {
                property: Property::Value,
                matches: Match::Contains("ALPHA".into()),
            }],
            vec![n1],
        ),
        (
            "AnyAttribute Source",
            &filtered,
            vec![Filter::AnyAttribute {
                property: Property::Source,
                matches: Match::Equals(json!(source.to_string())),
            }],
            vec![n1],
        ),
        (
            "AnyAttribute IsProtected",
            &filtered,
            vec![Filter::AnyAttribute {
                property: Property::IsProtected,
                matches: Match::Equals(json!(true)),
            }],
            vec![n1],
        ),
        (
            "AnyAttribute on a number",
            &filtered,
            vec![Filter::AnyAttribute {
                property: Property::Value,
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

/// Indexed string values far longer than any index key (20,000 characters, two of them equal
/// on their first 19,000): stored and read back whole, told apart by equality, found by a
/// text they contain.
pub async fn long_values(store: &dyn GraphStore) {
    let what = "long_values";
    init(store).await;
    let [a, b] = ids();
    let prefix = "x".repeat(19_000);
    let first = format!("{prefix}{}", "a".repeat(1_000));
    let second = format!("{prefix}{}", "b".repeat(999)) + "z";
    let mut ops = node_ops(a, "TestLong", &["TestLong"], &[("text", json!(first))]);
    ops.extend(node_ops(
        b,
        "TestLong",
        &["TestLong"],
        &[("text", json!(second))],
    ));
    commit(store, MAIN, ops, what).await;
    let main = now(MAIN);
    let equal = |value: &str| NodeQuery {
        filters: vec![attribute_is("text", Match::Equals(json!(value)))],
        ..labelled(&["TestLong"])
    };
    assert_eq!(
        query_ids(store, &main, &equal(&first)).await,
        vec![a],
        "{what}: first"
    );
    assert_eq!(
        query_ids(store, &main, &equal(&second)).await,
        vec![b],
        "{what}: second"
    );
    assert!(
        query_ids(store, &main, &equal(&prefix)).await.is_empty(),
        "{what}: the common prefix alone matches nothing"
    );
    let containing = NodeQuery {
        filters: vec![attribute_is("text", Match::Contains("BZ".into()))],
        ..labelled(&["TestLong"])
    };
    assert_eq!(
        query_ids(store, &main, &containing).await,
        vec![b],
        "{what}: contains"
    );
    let read = NodeQuery {
        filters: vec![crate::query::Filter::Ids(vec![a])],
        select: crate::query::Selection::all_attributes(),
        ..labelled(&["TestLong"])
    };
    let nodes = run_query(store, &main, &read).await.nodes;
    assert_eq!(
        nodes[0].attributes["text"].value.value,
        json!(first),
        "{what}: read back whole"
    );
}
