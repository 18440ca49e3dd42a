//! Whole orderings of listings, kept for the pages after the first.
//!
//! Clients page through a listing with `offset` and `limit` (the SDK asks 50 nodes at a time),
//! and a page at offset `n` must find (and, ordered, order) the first `n + limit` matches:
//! paging through `N` nodes that way costs `N² / limit`. So when a page past the first is asked (or a first
//! page that sees every match anyway, to count them), the whole ordering is computed once and,
//! when more pages follow, kept for them.
//!
//! An ordering is kept with what it depends on: the query's labels, filters and order, the
//! resolved view, and the content of the snapshot, told by the memtable's count of batches:
//! every batch the writer applies (branch operations included) adds a layer, and a snapshot
//! holds exactly the batches before its memtable's count (see [`super::flusher::Shared::view`]).
//! Any write therefore makes the kept orderings unreachable; they age out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::model::NodeId;
use crate::query::{Filter, NodeQuery, OrderBy};

use super::view::ViewSpec;

/// How many orderings are kept.
const CAPACITY: usize = 8;

/// What an ordering depends on.
#[derive(Debug, PartialEq)]
struct Key {
    content: u64,
    view: ViewSpec,
    labels: Vec<String>,
    filters: Vec<Filter>,
    order: Vec<OrderBy>,
}

impl Key {
    fn new(content: u64, view: &ViewSpec, query: &NodeQuery) -> Key {
        Key {
            content,
            view: view.clone(),
            labels: query.labels.clone(),
            filters: query.filters.clone(),
            order: query.order.clone(),
        }
    }
}

/// The ids of every match of a query, in its order.
pub(crate) type Ordering = Arc<Vec<NodeId>>;

/// The orderings kept, newest last.
#[derive(Debug, Default)]
pub(crate) struct OrderCache {
    kept: Mutex<VecDeque<(Key, Ordering)>>,
}

impl OrderCache {
    /// The ordering of `query` in `view` over the snapshot whose content is `content`, if kept.
    pub(crate) fn get(&self, content: u64, view: &ViewSpec, query: &NodeQuery) -> Option<Ordering> {
        let kept = self.kept.lock().ok()?;
        kept.iter()
            .find(|(key, _)| {
                key.content == content
                    && key.view == *view
                    && key.labels == query.labels
                    && key.filters == query.filters
                    && key.order == query.order
            })
            .map(|(_, ordering)| Arc::clone(ordering))
    }

    /// Keeps the ordering of `query`, dropping the oldest beyond [`CAPACITY`] and those of
    /// older content (readers move on to newer snapshots).
    pub(crate) fn put(&self, content: u64, view: &ViewSpec, query: &NodeQuery, ids: Ordering) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        kept.retain(|(k, _)| k.content >= content);
        if kept.len() >= CAPACITY {
            kept.pop_front();
        }
        kept.push_back((Key::new(content, view, query), ids));
    }
}

#[cfg(test)]
impl OrderCache {
    /// How many orderings are kept.
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().map(|k| k.len()).unwrap_or(0)
    }
}
