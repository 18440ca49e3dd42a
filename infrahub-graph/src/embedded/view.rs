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

/// The winning version of the slot `slot` for `view`, active or not.
pub(crate) fn resolve(kv: &dyn Kv, view: &ViewSpec, slot: &[u8]) -> Result<Option<Winner>> {
    let mut best: Option<((u8, Timestamp), u32, Vec<u8>)> = None;
    let mut consider = |branch: u32, upper: Timestamp, lower: Timestamp| -> Result<()> {
        if upper < lower {
            return Ok(());
        }
        let start = version_key(slot, branch, lower);
        let end = version_key(slot, branch, upper.plus_micros(1).max(upper));
        let inclusive_end = if upper == Timestamp::MAX {
            version_key(slot, branch + 1, Timestamp::MIN)
        } else {
            end
        };
        kv.scan(
            Table::Versions,
            &start,
            &inclusive_end,
            true,
            &mut |key, value| {
                if let Some((_, bn, at)) = split_version_key(key)
                    && let Some(rank) = view.rank(bn, at)
                {
                    if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                        best = Some((rank, bn, value.to_vec()));
                    }
                    return false;
                }
                true
            },
        )
    };
    consider(BN_GLOBAL, view.at, Timestamp::MIN)?;
    consider(BN_DEFAULT, view.default_at, Timestamp::MIN)?;
    if !view.is_default() {
        consider(view.branch, view.at, view.epoch_start)?;
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
    scan_winners_of(kv, view, start, end, &|_| true, visit)
}

/// Like [`scan_winners`], skipping (without decoding) the slots `wanted` rejects.
pub(crate) fn scan_winners_of(
    kv: &dyn Kv,
    view: &ViewSpec,
    start: &[u8],
    end: &[u8],
    wanted: &dyn Fn(&[u8]) -> bool,
    visit: &mut dyn FnMut(&[u8], Winner) -> Result<bool>,
) -> Result<()> {
    let mut skipping = false;
    let mut current: Vec<u8> = Vec::new();
    let mut best: Option<((u8, Timestamp), u32, Vec<u8>)> = None;
    let mut failure = None;
    let mut stopped = false;
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
            current.extend_from_slice(slot);
            skipping = !wanted(slot);
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
    if !stopped && !current.is_empty() {
        flush(&current, &mut best);
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
