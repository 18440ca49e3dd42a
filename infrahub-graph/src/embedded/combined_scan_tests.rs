//! Outgoing links are read in the same scan as the node's attributes when a read selects
//! them; links of other relationships in the way send the read back to separate scans. Both
//! paths must answer the same.

use super::EmbeddedGraph;
use crate::branch::BranchView;
use crate::changeset::{Changeset, Op};
use crate::model::{LinkProperties, NodeId, Scope, Side};
use crate::query::{Filter, LinkSelection, NodeQuery, Selection};
use crate::store::GraphStore;

fn create(changeset: &mut Changeset, id: NodeId) {
    changeset.push(Op::CreateNode {
        id,
        kind: "Thing".into(),
        labels: vec!["Thing".into()],
        scope: Scope::Branch,
    });
}

fn link(changeset: &mut Changeset, identifier: &str, from: NodeId, to: NodeId) {
    changeset.push(Op::SetLink {
        identifier: identifier.into(),
        from,
        to,
        properties: LinkProperties::visible(),
        scope: Scope::Branch,
    });
}

fn selecting(identifiers: &[&str]) -> Selection {
    Selection {
        attributes: Some(vec![]),
        links: identifiers
            .iter()
            .map(|identifier| LinkSelection {
                identifier: (*identifier).into(),
                side: Side::Either,
            })
            .collect(),
    }
}

/// Peers per identifier of `node`, through a query (combined scan) and a fetch by id.
async fn peers(
    store: &EmbeddedGraph,
    view: &BranchView,
    node: NodeId,
    identifiers: &[&str],
) -> Vec<Vec<(String, NodeId)>> {
    let select = selecting(identifiers);
    let query = NodeQuery {
        labels: vec!["Thing".into()],
        filters: vec![Filter::Ids(vec![node])],
        select: select.clone(),
        ..NodeQuery::default()
    };
    let by_query = store
        .query(view, &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .nodes;
    let by_id = store
        .get_nodes(view, &[node], &select)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    [by_query, by_id]
        .into_iter()
        .map(|nodes| {
            let mut found: Vec<(String, NodeId)> = nodes
                .iter()
                .flat_map(|n| n.links.iter().map(|l| (l.identifier.clone(), l.peer)))
                .collect();
            found.sort();
            found
        })
        .collect()
}

#[tokio::test]
async fn selected_links_read_with_the_node_match_separate_scans() {
    let store = EmbeddedGraph::in_memory().unwrap_or_else(|e| panic!("{e}"));
    super::memtable_tests::create_main(&store).await;
    let hub = NodeId::now_v7();
    let inbound = NodeId::now_v7();
    let peers_a: Vec<NodeId> = (0..40).map(|_| NodeId::now_v7()).collect();
    let peers_z: Vec<NodeId> = (0..3).map(|_| NodeId::now_v7()).collect();
    let mut changeset = Changeset::new("main");
    for id in [hub, inbound].iter().chain(&peers_a).chain(&peers_z) {
        create(&mut changeset, *id);
    }
    // 40 links of "aaa" sort before the "zzz" links in the hub's key range.
    for peer in &peers_a {
        link(&mut changeset, "aaa", hub, *peer);
    }
    for peer in &peers_z {
        link(&mut changeset, "zzz", hub, *peer);
    }
    link(&mut changeset, "zzz", inbound, hub);
    link(&mut changeset, "zzz", inbound, peers_a[0]);
    let before = store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .at;
    let mut changeset = Changeset::new("main");
    changeset.push(Op::RemoveLink {
        identifier: "zzz".into(),
        from: hub,
        to: peers_z[0],
        scope: Scope::Branch,
    });
    changeset.push(Op::RemoveLink {
        identifier: "zzz".into(),
        from: inbound,
        to: peers_a[0],
        scope: Scope::Branch,
    });
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let now = BranchView::now("main");
    let zzz_now: Vec<(String, NodeId)> = {
        let mut expected: Vec<(String, NodeId)> = peers_z[1..]
            .iter()
            .chain([&inbound])
            .map(|p| ("zzz".to_string(), *p))
            .collect();
        expected.sort();
        expected
    };
    // Past the 40 "aaa" links the combined scan gives up: same answer either way.
    for answer in peers(&store, &now, hub, &["zzz"]).await {
        assert_eq!(answer, zzz_now);
    }
    for answer in peers(&store, &now, hub, &["aaa"]).await {
        assert_eq!(answer.len(), 40);
    }
    for answer in peers(&store, &now, hub, &["aaa", "zzz"]).await {
        assert_eq!(answer.len(), 43);
    }
    // A node with few links reads them in the combined scan, removed ones left out, and at
    // a past instant the removed link is back.
    for answer in peers(&store, &now, peers_z[1], &["zzz"]).await {
        assert_eq!(answer, vec![("zzz".to_string(), hub)]);
    }
    for answer in peers(&store, &now, inbound, &["zzz"]).await {
        assert_eq!(answer, vec![("zzz".to_string(), hub)]);
    }
    // Which path each read took: the combined scan for `inbound`, separate scans for the
    // hub (the 40 "aaa" links are in the way).
    let snapshot = store.snapshot().unwrap_or_else(|e| panic!("{e}"));
    let view = super::view::ViewSpec::default_branch("main", crate::time::Timestamp::MAX);
    let zzz = ["zzz".to_string()];
    let core = |id| {
        super::read::node_core_with_links(&snapshot, &view, id, Some(&[]), &zzz)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("node {id} not visible"))
    };
    let combined = core(inbound)
        .out_links
        .unwrap_or_else(|| panic!("the combined scan gave up"));
    assert_eq!(combined["zzz"].len(), 1);
    assert!(core(hub).out_links.is_none());
    let past = BranchView::at("main", before);
    for answer in peers(&store, &past, hub, &["zzz"]).await {
        assert_eq!(answer.len(), 4);
    }
    let mut changeset = Changeset::new("main");
    changeset.push(Op::RemoveLink {
        identifier: "zzz".into(),
        from: hub,
        to: peers_z[1],
        scope: Scope::Branch,
    });
    for peer in &peers_a[..35] {
        changeset.push(Op::RemoveLink {
            identifier: "aaa".into(),
            from: hub,
            to: *peer,
            scope: Scope::Branch,
        });
    }
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for answer in peers(&store, &now, hub, &["zzz"]).await {
        let mut expected = vec![
            ("zzz".to_string(), inbound),
            ("zzz".to_string(), peers_z[2]),
        ];
        expected.sort();
        assert_eq!(answer, expected);
    }
}
