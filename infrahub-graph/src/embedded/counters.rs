//! Per-label node counters, versioned like everything else so that counts are exact at any
//! instant on any branch without scanning nodes.
//!
//! The default and global branches keep absolute counts; other branches keep the change since
//! the start of their current epoch, added to the default branch's count at the branch point.

use std::collections::{BTreeMap, HashMap};

use crate::error::Result;
use crate::time::Timestamp;

use super::keys::{BN_DEFAULT, BN_GLOBAL, count_key};
use super::tables::{Kv, Pending, Table};
use super::view::ViewSpec;

fn decode(bytes: &[u8]) -> i64 {
    bytes.try_into().map(i64::from_be_bytes).unwrap_or(0)
}

/// The latest counter of `label` on `branch` with a timestamp in `[from, to]`.
fn latest(
    kv: &dyn Kv,
    label: &str,
    branch: u32,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<i64>> {
    if to < from {
        return Ok(None);
    }
    let start = count_key(label, branch, from);
    let end = if to == Timestamp::MAX {
        super::keys::prefix_end(&count_key(label, branch, Timestamp::MIN)[..4 + label.len() + 1])
    } else {
        count_key(label, branch, to.plus_micros(1))
    };
    let mut found = None;
    kv.scan(Table::Counts, &start, &end, true, &mut |_, value| {
        found = Some(decode(value));
        false
    })?;
    Ok(found)
}

/// Number of visible nodes carrying `label` in `view`.
pub(crate) fn read(kv: &dyn Kv, view: &ViewSpec, label: &str) -> Result<u64> {
    let global = latest(kv, label, BN_GLOBAL, Timestamp::MIN, view.at)?.unwrap_or(0);
    let default = latest(kv, label, BN_DEFAULT, Timestamp::MIN, view.default_at)?.unwrap_or(0);
    let own = if view.is_default() {
        0
    } else {
        latest(kv, label, view.branch, view.epoch_start, view.at)?.unwrap_or(0)
    };
    Ok(u64::try_from(global + default + own).unwrap_or(0))
}

/// The latest counters written, kept by the writer thread (the only one that writes them) so
/// that a changeset does not scan for the counter it is about to replace. An entry holds the
/// lower bound its value was read with (the branch's epoch start, or the minimum) and is used
/// only for the same bound.
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    /// By branch, then label (looked up with a borrowed label).
    latest: HashMap<u32, HashMap<String, (Timestamp, i64)>>,
    entries: usize,
}

impl CountCache {
    /// Entries beyond which the cache starts over.
    const CAPACITY: usize = 16_384;

    /// Forgets every counter (after writes it did not see, or writes that were lost).
    pub(crate) fn clear(&mut self) {
        self.latest.clear();
        self.entries = 0;
    }

    fn get(&self, label: &str, branch: u32, from: Timestamp) -> Option<i64> {
        self.latest
            .get(&branch)?
            .get(label)
            .filter(|(bound, _)| *bound == from)
            .map(|(_, value)| *value)
    }

    fn put(&mut self, label: String, branch: u32, from: Timestamp, value: i64) {
        if self.entries >= Self::CAPACITY {
            self.clear();
        }
        let previous = self
            .latest
            .entry(branch)
            .or_default()
            .insert(label, (from, value));
        if previous.is_none() {
            self.entries += 1;
        }
    }
}

/// Count changes accumulated by a changeset, written once per label and branch.
#[derive(Debug, Default)]
pub(crate) struct CountDeltas {
    deltas: BTreeMap<(String, u32), i64>,
}

impl CountDeltas {
    pub(crate) fn add(&mut self, labels: &[String], branch: u32, delta: i64) {
        for label in labels {
            *self.deltas.entry((label.clone(), branch)).or_default() += delta;
        }
    }

    /// Writes the new counters at `at`; `epoch_start` bounds the branch-relative counters.
    /// With `cache`, the current counters are taken from it when it has them, and it holds the
    /// new ones afterwards (only once every counter was read, so that a failure leaves it as
    /// it was).
    pub(crate) fn write(
        self,
        kv: &dyn Kv,
        pending: &mut Pending,
        at: Timestamp,
        epoch_start: Timestamp,
        cache: Option<&mut CountCache>,
    ) -> Result<()> {
        let mut written = Vec::with_capacity(self.deltas.len());
        for ((label, branch), delta) in self.deltas {
            if delta == 0 {
                continue;
            }
            let from = if branch == BN_GLOBAL || branch == BN_DEFAULT {
                Timestamp::MIN
            } else {
                epoch_start
            };
            let cached = cache
                .as_deref()
                .and_then(|cache| cache.get(&label, branch, from));
            let current = match cached {
                Some(value) => value,
                None => latest(kv, &label, branch, from, Timestamp::MAX)?.unwrap_or(0),
            };
            pending.put(
                Table::Counts,
                count_key(&label, branch, at),
                (current + delta).to_be_bytes().to_vec(),
            );
            written.push((label, branch, from, current + delta));
        }
        if let Some(cache) = cache {
            for (label, branch, from, value) in written {
                cache.put(label, branch, from, value);
            }
        }
        Ok(())
    }
}
