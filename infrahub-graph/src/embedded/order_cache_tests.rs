//! Pages past the first of an ordered listing reuse its whole ordering, and only while
//! nothing was written, in the same view.

use serde_json::json;

use super::EmbeddedGraph;
use crate::branch::{BranchView, CreateBranchOptions};
use crate::changeset::{Changeset, Op};
use crate::model::{AttributeValue, NodeId, Scope};
use crate::query::{Filter, Match, NodeQuery, OrderBy, Property, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

const PAGE: usize = 25;

/// A listing of `Thing`s: its filters, and whether it is ordered by name (else by id).
struct Listing {
    filters: Vec<Filter>,
    by_name: bool,
}

fn listing(of: &Listing, offset: usize, limit: Option<usize>) -> NodeQuery {
    NodeQuery {
        labels: vec!["Thing".into()],
        filters: of.filters.clone(),
        order: if of.by_name {
            vec![OrderBy {
                attribute: "name".into(),
                descending: false,
            }]
        } else {
            Vec::new()
        },
        offset,
        limit,
        select: Selection::all_attributes(),
        count: true,
    }
}

/// The names on one page, and the total.
async fn page(
    store: &EmbeddedGraph,
    of: &Listing,
    view: &BranchView,
    offset: usize,
) -> (Vec<String>, u64) {
    let result = store
        .query(view, &listing(of, offset, Some(PAGE)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names = result
        .nodes
        .iter()
        .map(|n| n.attributes["name"].value.value.to_string())
        .collect();
    (names, result.total.unwrap_or_default())
}

/// What every page must hold: the whole listing read in one query (a first page, which
/// never uses kept orderings), cut into pages.
async fn check_pages(store: &EmbeddedGraph, of: &Listing, view: &BranchView) {
    let (first, _) = page(store, of, view, 0).await;
    let whole = store
        .query(view, &listing(of, 0, None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = whole
        .nodes
        .iter()
        .map(|n| n.attributes["name"].value.value.to_string())
        .collect();
    assert_eq!(
        first,
        names[..PAGE.min(names.len())],
        "first page of {view:?}"
    );
    for offset in (PAGE..names.len() + PAGE).step_by(PAGE) {
        let (got, total) = page(store, of, view, offset).await;
        let end = (offset + PAGE).min(names.len());
        let expected = names.get(offset..end).unwrap_or_default();
        assert_eq!(got, expected, "page at {offset} of {view:?}");
        assert_eq!(total, names.len() as u64);
    }
}

async fn commit(store: &EmbeddedGraph, changeset: Changeset) {
    store
        .commit(changeset)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn set_name(changeset: &mut Changeset, id: NodeId, name: &str) {
    changeset.push(Op::SetAttribute {
        node: id,
        name: "name".into(),
        value: AttributeValue::new(json!(name)),
        scope: Scope::Branch,
        indexed: true,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_right_across_writes_branches_and_time() {
    for by_name in [true, false] {
        let of = Listing {
            filters: Vec::new(),
            by_name,
        };
        pages_stay_right(of, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_pages_stay_right_across_writes_branches_and_time() {
    // Counting a filtered listing sees every match: the first page keeps the ordering.
    for by_name in [true, false] {
        let of = Listing {
            filters: vec![Filter::Attribute {
                name: "name".into(),
                property: Property::Value,
                matches: Match::Contains("n".into()),
            }],
            by_name,
        };
        pages_stay_right(of, 0).await;
    }
}

/// Pages through the listing `of`; `kept_after_first_page` orderings are kept after the
/// first page alone.
async fn pages_stay_right(of: Listing, kept_after_first_page: usize) {
    let dir = std::env::temp_dir().join(format!("infrahub-orders-{}", NodeId::now_v7()));
    let store = EmbeddedGraph::open(&dir, super::EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    super::memtable_tests::create_main(&store).await;
    let main = BranchView::now("main");
    let mut ids = Vec::new();
    for batch in 0..12 {
        let mut changeset = Changeset::new("main");
        for index in 0..10 {
            let id = NodeId::now_v7();
            let number = (batch * 10 + index) * 37 % 120;
            super::memtable_tests::push_thing(
                &mut changeset,
                id,
                "name",
                json!(format!("n{number:03}")),
            );
            ids.push(id);
        }
        commit(&store, changeset).await;
    }

    // The first deep page keeps the ordering (a counted filtered listing: the first page
    // already did); the next ones use it.
    assert_eq!(store.inner.orders.len(), 0);
    page(&store, &of, &main, 0).await;
    assert_eq!(store.inner.orders.len(), 1 - kept_after_first_page);
    page(&store, &of, &main, PAGE).await;
    assert_eq!(store.inner.orders.len(), 1);
    check_pages(&store, &of, &main).await;
    assert_eq!(
        store.inner.orders.len(),
        1,
        "the later pages did not reuse it"
    );
    let before_writes = Timestamp::now();

    // A node that sorts first, a renamed node, a deleted node: every page moves.
    let mut changeset = Changeset::new("main");
    super::memtable_tests::push_thing(&mut changeset, NodeId::now_v7(), "name", json!("a-first"));
    commit(&store, changeset).await;
    check_pages(&store, &of, &main).await;
    let mut changeset = Changeset::new("main");
    set_name(&mut changeset, ids[3], "m-renamed");
    commit(&store, changeset).await;
    check_pages(&store, &of, &main).await;
    let mut changeset = Changeset::new("main");
    changeset.push(Op::DeleteNode {
        id: ids[50],
        scope: Scope::Branch,
    });
    commit(&store, changeset).await;
    check_pages(&store, &of, &main).await;

    // Another branch, and the past, page apart from main now.
    store
        .create_branch("b1", CreateBranchOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut changeset = Changeset::new("b1");
    super::memtable_tests::push_thing(&mut changeset, NodeId::now_v7(), "name", json!("b-only"));
    set_name(&mut changeset, ids[7], "z-last-on-b1");
    commit(&store, changeset).await;
    let branch = BranchView::now("b1");
    let past = BranchView::at("main", before_writes);
    for _ in 0..2 {
        check_pages(&store, &of, &main).await;
        check_pages(&store, &of, &branch).await;
        check_pages(&store, &of, &past).await;
    }
    // The views differ (on their first pages, where the renamed nodes are in id order).
    assert_ne!(
        page(&store, &of, &branch, 0).await,
        page(&store, &of, &main, 0).await
    );
    assert_ne!(
        page(&store, &of, &past, 0).await,
        page(&store, &of, &main, 0).await
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
