//! Resolving which version of a slot a branch view sees.

use crate::error::Result;
use crate::time::Timestamp;

use super::codec::{Stored, decode};
use super::keys::{BN_DEFAULT, BN_GLOBAL, split_version_key, version_key};
use super::tables::{Kv, Table};

/// A branch view with its epoch resolved: which versions it may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ViewSpec {
    /// Number of the branch read.
    pub(crate) branch: u32,
    /// Name of the branch read.
    pub(crate) name: String,
    /// Instant read (`Timestamp::MAX` for now).
    pub(crate) at: Timestamp,
    /// Versions of the branch older than this belong to an earlier epoch.
    pub(crate) epoch_start: Timestamp,
    /// Instant the default branch is read at.
    pub(crate) default_at: Timestamp,
}

/// The version a view sees for a slot.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Winner {
    pub(crate) stored: Stored,
    pub(crate) branch: u32,
    pub(crate) at: Timestamp,
}

impl ViewSpec {
    /// The default branch at `at`.
    pub(crate) fn default_branch(name: &str, at: Timestamp) -> Self {
        ViewSpec {
            branch: BN_DEFAULT,
            name: name.to_string(),
            at,
            epoch_start: Timestamp::MIN,
            default_at: at,
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        self.branch == BN_DEFAULT
    }

    /// The precedence of a version for this view: `None` if invisible, else a rank where a
    /// higher value wins.
    pub(crate) fn rank(&self, branch: u32, at: Timestamp) -> Option<(u8, Timestamp)> {
        if branch == BN_GLOBAL {
            return (at <= self.at).then_some((1, at));
        }
        if branch == BN_DEFAULT {
            return (at <= self.default_at).then_some((1, at));
        }
        (branch == self.branch && at >= self.epoch_start && at <= self.at).then_some((2, at))
    }
}

/// Older default-branch versions a shared scan walks past before the global branch gets a scan
/// of its own.
const SHARED_SCAN_SKIPS: usize = 4;

/// A candidate winner: rank, branch number and encoded version.
type Best = Option<((u8, Timestamp), u32, Vec<u8>)>;

/// Keeps the newest version of `branch` in `[lower, upper]` that `view` sees, if it outranks
/// `best`.
fn consider(
    kv: &dyn Kv,
    view: &ViewSpec,
    slot: &[u8],
    best: &mut Best,
    branch: u32,
    upper: Timestamp,
    lower: Timestamp,
) -> Result<()> {
    if upper < lower {
        return Ok(());
    }
    let start = version_key(slot, branch, lower);
    let end = if upper == Timestamp::MAX {
        version_key(slot, branch + 1, Timestamp::MIN)
    } else {
        version_key(slot, branch, upper.plus_micros(1))
    };
    kv.scan(Table::Versions, &start, &end, true, &mut |key, value| {
        if let Some((_, bn, at)) = split_version_key(key)
            && let Some(rank) = view.rank(bn, at)
        {
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                *best = Some((rank, bn, value.to_vec()));
            }
            return false;
        }
        true
    })
}

/// The winning version of the slot `slot` for `view`, active or not.
pub(crate) fn resolve(kv: &dyn Kv, view: &ViewSpec, slot: &[u8]) -> Result<Option<Winner>> {
    let mut best: Best = None;
    // The global and default branches (numbers 0 and 1) in one reverse scan: the default
    // branch's versions newest first, then the global ones. Most slots live on one of the two
    // with a short history; a slot with a long default-branch history gets its own global scan
    // rather than a walk through all of it.
    const _: () = assert!(BN_DEFAULT == BN_GLOBAL + 1);
    let start = version_key(slot, BN_GLOBAL, Timestamp::MIN);
    let end = if view.default_at == Timestamp::MAX {
        version_key(slot, BN_DEFAULT + 1, Timestamp::MIN)
    } else {
        version_key(slot, BN_DEFAULT, view.default_at.plus_micros(1))
    };
    let mut default_found = false;
    let mut older_defaults = 0;
    kv.scan(Table::Versions, &start, &end, true, &mut |key, value| {
        let Some((_, bn, at)) = split_version_key(key) else {
            return true;
        };
        if bn == BN_DEFAULT && default_found {
            older_defaults += 1;
            return older_defaults <= SHARED_SCAN_SKIPS;
        }
        let Some(rank) = view.rank(bn, at) else {
            return true;
        };
        if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
            best = Some((rank, bn, value.to_vec()));
        }
        // The newest visible global version ends the scan; the default branch's is kept
        // while the global versions after it are looked at.
        if bn == BN_DEFAULT {
            default_found = true;
        }
        bn == BN_DEFAULT
    })?;
    if older_defaults > SHARED_SCAN_SKIPS {
        consider(
            kv,
            view,
            slot,
            &mut best,
            BN_GLOBAL,
            view.at,
            Timestamp::MIN,
        )?;
    }
    if !view.is_default() {
        consider(
            kv,
            view,
            slot,
            &mut best,
            view.branch,
            view.at,
            view.epoch_start,
        )?;
    }
    match best {
        Some(((_, at), branch, bytes)) => Ok(Some(Winner {
            stored: decode(&bytes)?,
            branch,
            at,
        })),
        None => Ok(None),
    }
}

/// The winning version of `slot` if it is active.
pub(crate) fn visible(kv: &dyn Kv, view: &ViewSpec, slot: &[u8]) -> Result<Option<Winner>> {
    Ok(resolve(kv, view, slot)?.filter(|w| w.stored.is_active()))
}

/// Scans every slot with versions in `[start, end)` and reports each slot's winner for `view`
/// (active or not) in slot order, until `visit` returns `false`.
pub(crate) fn scan_winners(
    kv: &dyn Kv,
    view: &ViewSpec,
    start: &[u8],
    end: &[u8],
    visit: &mut dyn FnMut(&[u8], Winner) -> Result<bool>,
) -> Result<()> {
    scan_winners_of(kv, view, start, end, &mut |_| Want::Take, visit)
}

/// What [`scan_winners_of`] does with a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Resolve the slot and report its winner.
    Take,
    /// Pass over the slot's versions without decoding them.
    Skip,
    /// End the scan before this slot.
    Stop,
}

/// Like [`scan_winners`], passing over (without decoding) the slots `wanted` skips and ending
/// the scan at the first slot it stops at.
pub(crate) fn scan_winners_of(
    kv: &dyn Kv,
    view: &ViewSpec,
    start: &[u8],
    end: &[u8],
    wanted: &mut dyn FnMut(&[u8]) -> Want,
    visit: &mut dyn FnMut(&[u8], Winner) -> Result<bool>,
) -> Result<()> {
    let mut from = start.to_vec();
    loop {
        match scan_winners_from(kv, view, &from, end, wanted, visit)? {
            Scanned::Done => return Ok(()),
            Scanned::LongHistory(slot, skipped) => {
                // A slot written many times (a counter, an aggregate) is resolved by the
                // seeking lookup, and the scan goes on after it: a forward walk through its
                // whole history would cost every read of the node as much as the history.
                // A skipped slot needs no lookup.
                if !skipped
                    && let Some(winner) = resolve(kv, view, &slot)?
                    && !visit(&slot, winner)?
                {
                    return Ok(());
                }
                from = after_slot(&slot);
            }
        }
    }
}

/// Versions of one slot a forward scan walks before it looks the slot up instead.
const LONG_HISTORY: usize = 16;

/// The first key after every version of `slot`.
fn after_slot(slot: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(slot.len() + 13);
    key.extend_from_slice(slot);
    key.extend_from_slice(&[0xFF; 12]);
    key.push(0);
    key
}

/// How one forward pass of [`scan_winners_of`] ended.
enum Scanned {
    /// The range is done, or `visit` or `wanted` ended the scan.
    Done,
    /// The slot has a long history: resolve it unless it is skipped (the flag), and go on
    /// after it.
    LongHistory(Vec<u8>, bool),
}

/// One forward pass of [`scan_winners_of`] from `start`.
fn scan_winners_from(
    kv: &dyn Kv,
    view: &ViewSpec,
    start: &[u8],
    end: &[u8],
    wanted: &mut dyn FnMut(&[u8]) -> Want,
    visit: &mut dyn FnMut(&[u8], Winner) -> Result<bool>,
) -> Result<Scanned> {
    let mut skipping = false;
    let mut current: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let mut best: Option<((u8, Timestamp), u32, Vec<u8>)> = None;
    let mut failure = None;
    let mut stopped = false;
    let mut long = None;
    let mut flush = |slot: &[u8], best: &mut Option<((u8, Timestamp), u32, Vec<u8>)>| -> bool {
        if let Some(((_, at), branch, bytes)) = best.take() {
            match decode(&bytes).and_then(|stored| visit(slot, Winner { stored, branch, at })) {
                Ok(more) => return more,
                Err(err) => {
                    failure = Some(err);
                    return false;
                }
            }
        }
        true
    };
    kv.scan(Table::Versions, start, end, false, &mut |key, value| {
        let Some((slot, branch, at)) = split_version_key(key) else {
            return true;
        };
        if slot != current.as_slice() {
            if !current.is_empty() && !flush(&current, &mut best) {
                stopped = true;
                return false;
            }
            current.clear();
            seen = 0;
            match wanted(slot) {
                Want::Stop => {
                    stopped = true;
                    return false;
                }
                want => skipping = want == Want::Skip,
            }
            current.extend_from_slice(slot);
        }
        seen += 1;
        if seen > LONG_HISTORY {
            long = Some((current.clone(), skipping));
            best = None;
            return false;
        }
        if skipping {
            return true;
        }
        if let Some(rank) = view.rank(branch, at)
            && best.as_ref().is_none_or(|(r, _, _)| rank > *r)
        {
            best = Some((rank, branch, value.to_vec()));
        }
        true
    })?;
    if let Some((slot, skipped)) = long {
        // Only a scan that went on (no failure, nothing stopped) meets a long history.
        return Ok(Scanned::LongHistory(slot, skipped));
    }
    if !stopped && !current.is_empty() {
        flush(&current, &mut best);
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(Scanned::Done),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::embedded::codec::encode;
    use crate::embedded::keys::attribute_slot;
    use crate::embedded::tables::Fixed;
    use crate::model::{AttributeValue, NodeId, Status, VersionData};

    /// A slot with versions `(branch, micros, value)`.
    fn slot_with(versions: &[(u32, i64, i64)]) -> (Vec<u8>, Fixed) {
        let slot = attribute_slot(NodeId::now_v7(), "name");
        let mut map = BTreeMap::new();
        for (branch, micros, value) in versions {
            let data = VersionData::Attribute(AttributeValue::new(json!(value)));
            map.insert(
                version_key(&slot, *branch, Timestamp::from_micros(*micros)),
                encode(Status::Active, false, false, &data),
            );
        }
        (slot, Fixed(map))
    }

    fn value_seen(kv: &Fixed, slot: &[u8], view: &ViewSpec) -> Option<serde_json::Value> {
        let winner = resolve(kv, view, slot).unwrap_or_else(|e| panic!("{e}"))?;
        match winner.stored.data {
            VersionData::Attribute(value) => Some(value.value),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn branch_view(at: i64, default_at: i64) -> ViewSpec {
        ViewSpec {
            branch: 7,
            name: "b".into(),
            at: Timestamp::from_micros(at),
            epoch_start: Timestamp::MIN,
            default_at: Timestamp::from_micros(default_at),
        }
    }

    #[test]
    fn global_and_default_versions_compete_by_time_whatever_the_history_length() {
        let now = ViewSpec::default_branch("main", Timestamp::MAX);
        let at = |micros| ViewSpec::default_branch("main", Timestamp::from_micros(micros));
        // Short and long default-branch histories (the long one takes the separate global
        // scan), with a global version older, newer, or absent.
        for history in [1_i64, 3, 12] {
            let defaults: Vec<(u32, i64, i64)> =
                (1..=history).map(|t| (BN_DEFAULT, t * 10, t)).collect();
            let (slot, kv) = slot_with(&defaults);
            assert_eq!(value_seen(&kv, &slot, &now), Some(json!(history)));
            assert_eq!(value_seen(&kv, &slot, &at(10)), Some(json!(1)));
            assert_eq!(value_seen(&kv, &slot, &at(5)), None);

            let mut with_old_global = defaults.clone();
            with_old_global.push((BN_GLOBAL, 5, 500));
            let (slot, kv) = slot_with(&with_old_global);
            assert_eq!(value_seen(&kv, &slot, &now), Some(json!(history)));
            assert_eq!(value_seen(&kv, &slot, &at(7)), Some(json!(500)));

            let mut with_new_global = defaults.clone();
            with_new_global.push((BN_GLOBAL, 1000, 900));
            let (slot, kv) = slot_with(&with_new_global);
            assert_eq!(value_seen(&kv, &slot, &now), Some(json!(900)));
            assert_eq!(value_seen(&kv, &slot, &at(999)), Some(json!(history)));
            // A branch reading the default branch at an earlier instant still sees global
            // versions up to its own instant.
            assert_eq!(
                value_seen(&kv, &slot, &branch_view(2000, 15)),
                Some(json!(900))
            );
            assert_eq!(
                value_seen(&kv, &slot, &branch_view(999, 15)),
                Some(json!(1))
            );
        }
    }

    #[test]
    fn branch_versions_outrank_default_and_global_ones() {
        let (slot, kv) = slot_with(&[(BN_DEFAULT, 10, 1), (BN_GLOBAL, 30, 3), (7, 20, 2)]);
        assert_eq!(
            value_seen(&kv, &slot, &branch_view(100, 100)),
            Some(json!(2))
        );
        assert_eq!(
            value_seen(&kv, &slot, &branch_view(15, 100)),
            Some(json!(1))
        );
    }

    /// What a forward scan over `kv` reports: each slot's winning value, skipping the slots
    /// named `skip`.
    fn scanned(
        kv: &Fixed,
        view: &ViewSpec,
        skip: &[Vec<u8>],
    ) -> Vec<(Vec<u8>, Option<serde_json::Value>)> {
        let mut seen = Vec::new();
        let mut wanted = |slot: &[u8]| {
            if skip.iter().any(|s| s.as_slice() == slot) {
                Want::Skip
            } else {
                Want::Take
            }
        };
        scan_winners_of(
            kv,
            view,
            &[],
            &[0xFF; 40],
            &mut wanted,
            &mut |slot, winner| {
                let value = match winner.stored.data {
                    VersionData::Attribute(value) => Some(value.value),
                    _ => None,
                };
                seen.push((slot.to_vec(), value));
                Ok(true)
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        seen
    }

    #[test]
    fn a_scan_past_long_histories_sees_what_a_lookup_sees() {
        // Slots of one node with short and long histories on the global, default and a
        // branch, side by side: the scan looks the long ones up and goes on after them.
        let node = NodeId::now_v7();
        let mut map = BTreeMap::new();
        let mut slots = Vec::new();
        for (n, (globals, defaults, branch)) in [
            (0_i64, 3_i64, 0_i64),
            (0, 200, 0),
            (40, 0, 0),
            (2, 100, 50),
            (0, 1, 300),
            (1, 0, 0),
        ]
        .into_iter()
        .enumerate()
        {
            let slot = attribute_slot(node, &format!("a{n}"));
            let mut put = |branch: u32, micros: i64, value: i64| {
                let data = VersionData::Attribute(AttributeValue::new(json!(value)));
                map.insert(
                    version_key(&slot, branch, Timestamp::from_micros(micros)),
                    encode(Status::Active, false, false, &data),
                );
            };
            for t in 0..globals {
                put(BN_GLOBAL, 1 + t * 3, 1000 + t);
            }
            for t in 0..defaults {
                put(BN_DEFAULT, 2 + t * 3, 2000 + t);
            }
            for t in 0..branch {
                put(7, 3 + t * 3, 3000 + t);
            }
            slots.push(slot);
        }
        let kv = Fixed(map);
        let views = [
            ViewSpec::default_branch("main", Timestamp::MAX),
            ViewSpec::default_branch("main", Timestamp::from_micros(100)),
            branch_view(i64::MAX, i64::MAX),
            branch_view(200, 400),
            branch_view(50, 20),
        ];
        for view in &views {
            let expected: Vec<(Vec<u8>, Option<serde_json::Value>)> = slots
                .iter()
                .filter_map(|slot| {
                    resolve(&kv, view, slot)
                        .unwrap_or_else(|e| panic!("{e}"))
                        .map(|_| (slot.clone(), value_seen(&kv, slot, view)))
                })
                .collect();
            assert_eq!(scanned(&kv, view, &[]), expected, "{view:?}");
            let skip = vec![slots[1].clone(), slots[2].clone()];
            let without: Vec<_> = expected
                .iter()
                .filter(|(slot, _)| !skip.contains(slot))
                .cloned()
                .collect();
            assert_eq!(scanned(&kv, view, &skip), without, "{view:?}");
        }
    }
}
