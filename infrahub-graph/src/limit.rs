//! [`ConcurrencyLimit`]: at most N store calls at once (the `database.max_concurrent_queries`
//! setting of the server).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::branch::{BranchRecord, BranchView, CreateBranchOptions};
use crate::change::{BranchOperation, Change, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit};
use crate::error::Result;
use crate::model::{NodeData, NodeId, Slot, Version};
use crate::query::{NodeQuery, QueryResult, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

/// A [`GraphStore`] letting at most `max` calls reach the store it wraps at once; the others
/// wait. A call finding every slot taken waits `delay` and tries again (as upstream Infrahub's
/// `max_concurrent_queries_delay`); with a zero `delay` it queues for the next free slot, first
/// come first served.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> infrahub_graph::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use infrahub_graph::{ConcurrencyLimit, EmbeddedGraph, GraphStore};
///
/// let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory()?);
/// let limited = ConcurrencyLimit::new(store, 4, Duration::from_millis(10));
/// assert!(limited.list_branches().await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConcurrencyLimit {
    inner: Arc<dyn GraphStore>,
    slots: Semaphore,
    delay: Duration,
}

impl ConcurrencyLimit {
    /// Wraps `inner`; `max` is at least 1 (and at most [`Semaphore::MAX_PERMITS`], a limit
    /// no deployment reaches).
    pub fn new(inner: Arc<dyn GraphStore>, max: usize, delay: Duration) -> Self {
        ConcurrencyLimit {
            inner,
            slots: Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS)),
            delay,
        }
    }

    async fn slot(&self) -> SemaphorePermit<'_> {
        if !self.delay.is_zero() {
            loop {
                if let Ok(permit) = self.slots.try_acquire() {
                    return permit;
                }
                tokio::time::sleep(self.delay).await;
            }
        }
        // The semaphore is never closed.
        self.slots
            .acquire()
            .await
            .expect("the concurrency limit's semaphore stays open")
    }
}

#[async_trait]
impl GraphStore for ConcurrencyLimit {
    async fn create_branch(
        &self,
        name: &str,
        options: CreateBranchOptions,
    ) -> Result<BranchRecord> {
        let _slot = self.slot().await;
        self.inner.create_branch(name, options).await
    }

    async fn get_branch(&self, name: &str) -> Result<BranchRecord> {
        let _slot = self.slot().await;
        self.inner.get_branch(name).await
    }

    async fn list_branches(&self) -> Result<Vec<BranchRecord>> {
        let _slot = self.slot().await;
        self.inner.list_branches().await
    }

    async fn update_branch(
        &self,
        name: &str,
        properties: serde_json::Map<String, serde_json::Value>,
    ) -> Result<BranchRecord> {
        let _slot = self.slot().await;
        self.inner.update_branch(name, properties).await
    }

    async fn delete_branch(&self, name: &str) -> Result<()> {
        let _slot = self.slot().await;
        self.inner.delete_branch(name).await
    }

    async fn commit(&self, changeset: Changeset) -> Result<Commit> {
        let _slot = self.slot().await;
        self.inner.commit(changeset).await
    }

    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>> {
        let _slot = self.slot().await;
        self.inner.get_nodes(view, ids, select).await
    }

    async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
        let _slot = self.slot().await;
        self.inner.query(view, query).await
    }

    async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
        let _slot = self.slot().await;
        self.inner.count(view, query).await
    }

    async fn changes(&self, branch: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Change>> {
        let _slot = self.slot().await;
        self.inner.changes(branch, from, to).await
    }

    async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>> {
        let _slot = self.slot().await;
        self.inner.history(id).await
    }

    async fn merge_branch(&self, branch: &str, options: MergeOptions) -> Result<BranchOperation> {
        let _slot = self.slot().await;
        self.inner.merge_branch(branch, options).await
    }

    async fn rebase_branch(&self, branch: &str, options: RebaseOptions) -> Result<BranchOperation> {
        let _slot = self.slot().await;
        self.inner.rebase_branch(branch, options).await
    }

    async fn last_commit(&self) -> Result<Timestamp> {
        let _slot = self.slot().await;
        self.inner.last_commit().await
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::EmbeddedGraph;

    /// A real store that records how many of its calls run at once (each call holds for a
    /// moment, so that calls overlap when nothing stops them).
    #[derive(Debug, Default)]
    struct Gauge {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    #[derive(Debug)]
    struct Observed {
        inner: EmbeddedGraph,
        gauge: Arc<Gauge>,
    }

    #[async_trait]
    impl GraphStore for Observed {
        async fn create_branch(
            &self,
            name: &str,
            options: CreateBranchOptions,
        ) -> Result<BranchRecord> {
            self.inner.create_branch(name, options).await
        }
        async fn get_branch(&self, name: &str) -> Result<BranchRecord> {
            self.inner.get_branch(name).await
        }
        async fn list_branches(&self) -> Result<Vec<BranchRecord>> {
            let now = self.gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.gauge.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            let answer = self.inner.list_branches().await;
            self.gauge.now.fetch_sub(1, Ordering::SeqCst);
            answer
        }
        async fn update_branch(
            &self,
            name: &str,
            properties: serde_json::Map<String, serde_json::Value>,
        ) -> Result<BranchRecord> {
            self.inner.update_branch(name, properties).await
        }
        async fn delete_branch(&self, name: &str) -> Result<()> {
            self.inner.delete_branch(name).await
        }
        async fn commit(&self, changeset: Changeset) -> Result<Commit> {
            self.inner.commit(changeset).await
        }
        async fn get_nodes(
            &self,
            view: &BranchView,
            ids: &[NodeId],
            select: &Selection,
        ) -> Result<Vec<NodeData>> {
            self.inner.get_nodes(view, ids, select).await
        }
        async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
            self.inner.query(view, query).await
        }
        async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
            self.inner.count(view, query).await
        }
        async fn changes(
            &self,
            branch: &str,
            from: Timestamp,
            to: Timestamp,
        ) -> Result<Vec<Change>> {
            self.inner.changes(branch, from, to).await
        }
        async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>> {
            self.inner.history(id).await
        }
        async fn merge_branch(
            &self,
            branch: &str,
            options: MergeOptions,
        ) -> Result<BranchOperation> {
            self.inner.merge_branch(branch, options).await
        }
        async fn rebase_branch(
            &self,
            branch: &str,
            options: RebaseOptions,
        ) -> Result<BranchOperation> {
            self.inner.rebase_branch(branch, options).await
        }
        async fn last_commit(&self) -> Result<Timestamp> {
            self.inner.last_commit().await
        }
    }

    async fn most_at_once(max: Option<usize>, delay: Duration) -> usize {
        let gauge = Arc::new(Gauge::default());
        let observed: Arc<dyn GraphStore> = Arc::new(Observed {
            inner: EmbeddedGraph::in_memory().unwrap(),
            gauge: Arc::clone(&gauge),
        });
        let store: Arc<dyn GraphStore> = match max {
            Some(max) => Arc::new(ConcurrencyLimit::new(observed, max, delay)),
            None => observed,
        };
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.list_branches().await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        gauge.most.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_calls_than_the_limit_run_at_once() {
        assert!(
            most_at_once(None, Duration::ZERO).await > 2,
            "without a limit the calls overlap"
        );
        // A limit beyond what a semaphore holds is no limit, not a panic.
        let store: Arc<dyn GraphStore> = Arc::new(EmbeddedGraph::in_memory().unwrap());
        let unlimited = ConcurrencyLimit::new(store, usize::MAX, Duration::ZERO);
        assert!(unlimited.list_branches().await.unwrap().is_empty());
        for delay in [Duration::ZERO, Duration::from_millis(1)] {
            assert!(most_at_once(Some(2), delay).await <= 2);
            assert_eq!(most_at_once(Some(1), delay).await, 1);
        }
    }
}
