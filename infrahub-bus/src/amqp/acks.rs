//! Acknowledgements of one consuming channel, coalesced.
//!
//! RabbitMQ spends a large part of a persistent work queue's cost on handling one `basic.ack`
//! frame per message. When acks arrive faster than they can be sent, the deliveries acked
//! since the last frame that form an unbroken run from the oldest unsettled delivery go out as
//! one `basic.ack` with `multiple` (every delivery up to that tag); acks behind a delivery
//! still being handled go out one by one, so a slow message never holds the prefetch window
//! of the others. Every settlement of the channel goes through its book, so no tag is acked
//! twice (which closes the channel) and a `basic.nack` always reaches the broker before a
//! `multiple` ack that would cover its tag.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use lapin::Acker;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::Notify;

/// Where one delivery of the channel stands.
enum Entry {
    /// Delivered, being handled.
    Pending(Acker),
    /// Handled: to be acked in the next frame.
    Acked(Acker),
    /// Its `basic.nack` is being sent: acks beyond it wait for it.
    Nacking,
}

#[derive(Default)]
struct State {
    /// Deliveries not yet settled with the broker, by delivery tag.
    entries: BTreeMap<u64, Entry>,
    /// Whether a task is sending acks.
    flushing: bool,
}

/// The acknowledgement book of one consuming channel.
#[derive(Default)]
pub(super) struct AckBook {
    state: Mutex<State>,
    /// Signalled when a flush ends.
    flushed: Notify,
}

impl AckBook {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a delivery handed to the consumer.
    pub(super) fn delivered(&self, tag: u64, acker: Acker) {
        self.state().entries.insert(tag, Entry::Pending(acker));
    }

    /// Marks `tag` handled; its ack goes out with the next frame (sent by a task of its own
    /// unless one is already sending).
    pub(super) fn ack(self: &Arc<Self>, tag: u64) {
        {
            let mut state = self.state();
            let Some(entry) = state.entries.get_mut(&tag) else {
                return;
            };
            if let Entry::Pending(acker) = entry {
                *entry = Entry::Acked(acker.clone());
            }
        }
        self.ack_waiting();
    }

    /// Gives `tag` back to the queue (`requeue`) or drops it, before any later `multiple` ack.
    pub(super) async fn nack(self: &Arc<Self>, tag: u64, requeue: bool) {
        let acker = {
            let mut state = self.state();
            match state.entries.get_mut(&tag) {
                Some(entry @ Entry::Pending(_)) => match std::mem::replace(entry, Entry::Nacking) {
                    Entry::Pending(acker) => acker,
                    Entry::Acked(_) | Entry::Nacking => return,
                },
                _ => return,
            }
        };
        let options = BasicNackOptions {
            requeue,
            ..BasicNackOptions::default()
        };
        if let Err(err) = acker.nack(options).await {
            tracing::debug!(
                "bus: cannot give a delivery back (the channel closed: it returns by itself): {err}"
            );
        }
        self.state().entries.remove(&tag);
        // Acks that waited behind this delivery can go now.
        self.ack_waiting();
    }

    /// Starts a flush when acked deliveries wait and none runs.
    fn ack_waiting(self: &Arc<Self>) {
        let start = {
            let mut state = self.state();
            let waiting = state
                .entries
                .values()
                .any(|entry| matches!(entry, Entry::Acked(_)));
            waiting && !std::mem::replace(&mut state.flushing, true)
        };
        if start && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(self).flush());
        } else if start {
            self.state().flushing = false;
        }
    }

    /// Sends what is acked until nothing is left: one `multiple` ack for the run of acked
    /// deliveries from the oldest, single acks for those behind a pending one.
    async fn flush(self: Arc<Self>) {
        loop {
            let (run, singles) = {
                let mut state = self.state();
                let mut run: Option<(Acker, bool)> = None;
                while let Some(entry) = state.entries.first_entry() {
                    if !matches!(entry.get(), Entry::Acked(_)) {
                        break;
                    }
                    if let Entry::Acked(acker) = entry.remove() {
                        run = Some((acker, run.is_some()));
                    }
                }
                // Acked behind a delivery still pending or being nacked: one by one.
                let mut singles = Vec::new();
                state.entries.retain(|_, entry| match entry {
                    Entry::Acked(acker) => {
                        singles.push(acker.clone());
                        false
                    }
                    Entry::Pending(_) | Entry::Nacking => true,
                });
                if run.is_none() && singles.is_empty() {
                    state.flushing = false;
                    drop(state);
                    self.flushed.notify_waiters();
                    return;
                }
                (run, singles)
            };
            if let Some((acker, multiple)) = run
                && let Err(err) = acker.ack(BasicAckOptions { multiple }).await
            {
                tracing::debug!(
                    "bus: cannot acknowledge deliveries (the channel closed: they come again): {err}"
                );
            }
            for acker in singles {
                if let Err(err) = acker.ack(BasicAckOptions::default()).await {
                    tracing::debug!(
                        "bus: cannot acknowledge a delivery (the channel closed: it comes again): {err}"
                    );
                }
            }
        }
    }

    /// Waits until every ack recorded so far has been sent (before the channel closes).
    pub(super) async fn drain(self: &Arc<Self>) {
        loop {
            let flushed = self.flushed.notified();
            self.ack_waiting();
            if !self.state().flushing {
                return;
            }
            flushed.await;
        }
    }
}

impl std::fmt::Debug for AckBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckBook")
            .field("unsettled", &self.state().entries.len())
            .finish()
    }
}
