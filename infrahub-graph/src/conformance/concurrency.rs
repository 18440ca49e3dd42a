//! Checks of concurrent writers, readers and racing conditional creates.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use tokio::task::JoinSet;

use super::helpers::{
    MAIN, assert_value, at, attribute_is, commit, count_of, describe, expect_matches, init,
    int_attribute, labelled, last_commit, node_ops, now, read_all, run_query, set, try_commit,
};
use crate::branch::BranchView;
use crate::changeset::{Condition, UniqueField};
use crate::error::ErrorKind;
use crate::model::{NodeId, new_node_id};
use crate::query::{Match, NodeQuery, Selection};
use crate::store::GraphStore;

const WRITERS: usize = 8;
const CHANGESETS_PER_WRITER: i64 = 50;

/// 8 tasks commit 50 changesets each while a reader checks that no partial changeset is ever
/// visible; afterwards every acknowledged changeset is present, at its own timestamp.
pub async fn concurrent_writers_and_readers(store: Arc<dyn GraphStore>) {
    let what = "concurrent_writers_and_readers";
    init(&*store).await;
    let pairs: Vec<NodeId> = (0..WRITERS).map(|_| new_node_id()).collect();
    let mut ops = Vec::new();
    for (writer, pair) in pairs.iter().enumerate() {
        ops.extend(node_ops(
            *pair,
            "TestPair",
            &["TestPair"],
            &[
                ("writer", json!(writer)),
                ("left", json!(-1)),
                ("right", json!(-1)),
            ],
        ));
    }
    commit(&*store, MAIN, ops, what).await;

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                check_pairs_consistent(&*store, &now(MAIN)).await;
                let latest = last_commit(&*store).await;
                let seen = check_pairs_consistent(&*store, &at(MAIN, latest)).await;
                if samples.len() < 100 {
                    samples.push((latest, seen));
                }
                if finished {
                    break samples;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut writers = JoinSet::new();
    for (writer, pair) in pairs.iter().copied().enumerate() {
        let store = Arc::clone(&store);
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            for seq in 0..CHANGESETS_PER_WRITER {
                let item = new_node_id();
                let mut ops = vec![set(pair, "left", json!(seq))];
                ops.extend(node_ops(
                    item,
                    "TestItem",
                    &["TestItem"],
                    &[("writer", json!(writer)), ("seq", json!(seq))],
                ));
                ops.push(set(pair, "right", json!(seq)));
                let done = commit(&*store, MAIN, ops, what).await;
                assert!(
                    last_commit(&*store).await >= done.at,
                    "{what}: last_commit must not be older than an acknowledged commit"
                );
                if seq % 10 == 0 {
                    assert_value(
                        &*store,
                        &now(MAIN),
                        pair,
                        "left",
                        Some(json!(seq)),
                        "an acknowledged commit is visible",
                    )
                    .await;
                }
                acknowledged.push((seq, done.at));
            }
            (writer, pair, acknowledged)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = writers.join_next().await {
        results.push(joined.unwrap_or_else(|error| rethrow(error, "a writer task")));
    }
    done.store(true, Ordering::Release);
    let samples = reader
        .await
        .unwrap_or_else(|error| rethrow(error, "the reader task"));
    for (instant, seen) in samples {
        assert_eq!(
            check_pairs_consistent(&*store, &at(MAIN, instant)).await,
            seen,
            "{what}: a read at {instant} (last_commit while writers ran) must see the same state \
             once the writers are done: every commit at or before last_commit() is visible"
        );
    }

    let mut instants = BTreeSet::new();
    let main = now(MAIN);
    for (writer, pair, acknowledged) in &results {
        assert_eq!(
            acknowledged.len(),
            CHANGESETS_PER_WRITER as usize,
            "{what}: commits of writer {writer}"
        );
        assert!(
            acknowledged.windows(2).all(|pair| pair[0].1 < pair[1].1),
            "{what}: successive commits of writer {writer} must have increasing timestamps"
        );
        for (seq, at_commit) in acknowledged {
            instants.insert(*at_commit);
            let seen = read_all(&*store, &at(MAIN, *at_commit), *pair)
                .await
                .unwrap_or_else(|| {
                    panic!("{what}: pair of writer {writer} invisible at {at_commit}")
                });
            assert_eq!(
                (int_attribute(&seen, "left"), int_attribute(&seen, "right")),
                (Some(*seq), Some(*seq)),
                "{what}: writer {writer}'s changeset {seq} read at its own timestamp"
            );
        }
        assert_value(
            &*store,
            &main,
            *pair,
            "left",
            Some(json!(CHANGESETS_PER_WRITER - 1)),
            what,
        )
        .await;
        assert_value(
            &*store,
            &main,
            *pair,
            "right",
            Some(json!(CHANGESETS_PER_WRITER - 1)),
            what,
        )
        .await;
    }
    let total = WRITERS * CHANGESETS_PER_WRITER as usize;
    assert_eq!(
        instants.len(),
        total,
        "{what}: every commit must get its own timestamp (strictly increasing)"
    );
    assert_eq!(
        count_of(&*store, &main, &labelled(&["TestItem"])).await,
        total as u64,
        "{what}: acknowledged items"
    );
    check_pairs_consistent(&*store, &main).await;
}

/// 16 tasks race to create a node with the same unique `name`: exactly one succeeds, the others
/// get `ConditionFailed`.
pub async fn concurrent_unique_creates(store: Arc<dyn GraphStore>) {
    let what = "concurrent_unique_creates";
    init(&*store).await;
    let mut racers = JoinSet::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        racers.spawn(async move {
            let id = new_node_id();
            let condition = Condition::Unique {
                labels: vec!["TestRacer".into()],
                fields: vec![UniqueField::Attribute {
                    name: "name".into(),
                    value: json!("racer"),
                }],
                except: Some(id),
                description: "racer names are unique".into(),
            };
            let result = try_commit(
                &*store,
                MAIN,
                node_ops(id, "TestRacer", &["TestRacer"], &[("name", json!("racer"))]),
                vec![condition],
            )
            .await;
            (id, result)
        });
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    while let Some(joined) = racers.join_next().await {
        let (id, result) = joined.unwrap_or_else(|error| rethrow(error, "a racing task"));
        match result {
            Ok(_) => winners.push(id),
            Err(error) => {
                assert_eq!(
                    (error.kind(), error.condition()),
                    (ErrorKind::ConditionFailed, Some(0)),
                    "{what}: a losing create must fail its Unique condition: {error}"
                );
                losers += 1;
            }
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "{what}: exactly one racing create must succeed ({losers} failed)"
    );
    expect_matches(
        &*store,
        &now(MAIN),
        &["TestRacer"],
        vec![attribute_is("name", Match::Equals(json!("racer")))],
        &winners,
        &format!("{what}: only the winner holds the name"),
    )
    .await;
}

/// Reads pairs and items in one query and checks that every pair has `left == right` and that
/// exactly the items of the changesets the pair has seen are visible; returns each writer's
/// last visible changeset.
async fn check_pairs_consistent(store: &dyn GraphStore, view: &BranchView) -> Vec<i64> {
    let what = "concurrent_writers_and_readers";
    let query = NodeQuery {
        select: Selection::all_attributes(),
        ..labelled(&["TestPair", "TestItem"])
    };
    let result = run_query(store, view, &query).await;
    let mut left_by_writer: Vec<Option<i64>> = vec![None; WRITERS];
    let mut items: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); WRITERS];
    for node in &result.nodes {
        let writer = int_attribute(node, "writer")
            .and_then(|writer| usize::try_from(writer).ok())
            .filter(|writer| *writer < WRITERS)
            .unwrap_or_else(|| panic!("{what}: node without a valid writer attribute: {node:?}"));
        if node.kind == "TestPair" {
            let (left, right) = (int_attribute(node, "left"), int_attribute(node, "right"));
            assert_eq!(
                left,
                right,
                "{what}: a reader saw half a changeset of writer {writer} on {}",
                describe(view)
            );
            left_by_writer[writer] = left;
        } else {
            let seq = int_attribute(node, "seq")
                .unwrap_or_else(|| panic!("{what}: item without seq: {node:?}"));
            items[writer].insert(seq);
        }
    }
    let mut lefts = Vec::with_capacity(WRITERS);
    for (writer, left) in left_by_writer.into_iter().enumerate() {
        let left = left.unwrap_or_else(|| {
            panic!(
                "{what}: pair of writer {writer} invisible on {}",
                describe(view)
            )
        });
        let expected: BTreeSet<i64> = (0..=left).collect();
        assert_eq!(
            items[writer],
            expected,
            "{what}: items of writer {writer} must be exactly those of the changesets its pair reflects ({})",
            describe(view)
        );
        lefts.push(left);
    }
    lefts
}

fn rethrow<T>(error: tokio::task::JoinError, task: &str) -> T {
    if error.is_panic() {
        std::panic::resume_unwind(error.into_panic());
    }
    panic!("{task} did not finish: {error}")
}
