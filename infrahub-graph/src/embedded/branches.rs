//! Branch operations: create, update, delete, merge, rebase; change enumeration and history.

use std::collections::BTreeSet;

use crate::branch::{BranchRecord, CreateBranchOptions, Epoch, GLOBAL_BRANCH};
use crate::change::{Change, SlotProperty};
use crate::changeset::Op;
use crate::error::{Error, ErrorKind, Result};
use crate::merge_rules::{keeps, merge_attribute, merge_link};
use crate::model::{
    AttributeValue, LinkProperties, NodeId, Scope, Slot, Status, Version, VersionData,
};
use crate::time::Timestamp;

use super::codec::decode;
use super::keys::{
    self, BN_DEFAULT, change_key, decode_changes, decode_reverse_link, decode_slot, link_slot,
    prefix_end, slot_key, split_version_key, value_key, version_key,
};
use super::read::BranchNames;
use super::registry::{Registry, StoredBranch};
use super::tables::{Kv, Pending, Table};
use super::view::{ViewSpec, Winner, resolve};
use super::write::{WriteContext, Writer};

const NEXT_BRANCH: &[u8] = b"next_branch";

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// Creates a branch record; the first branch must be the default branch.
pub(crate) fn create(
    kv: &dyn Kv,
    registry: &Registry,
    name: &str,
    options: CreateBranchOptions,
    at: Timestamp,
) -> Result<(Pending, StoredBranch)> {
    if name.is_empty() || name.contains('\0') || name == GLOBAL_BRANCH {
        return Err(invalid(format!("`{name}` cannot be used as a branch name")));
    }
    if registry.get(name).is_ok() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("branch `{name}` already exists"),
        ));
    }
    let mut pending = Pending::default();
    let number = if registry.is_empty() {
        if !options.is_default {
            return Err(invalid("the first branch must be the default branch"));
        }
        BN_DEFAULT
    } else {
        if options.is_default {
            return Err(invalid(format!(
                "the default branch is already `{}`",
                registry.default_name().unwrap_or_default()
            )));
        }
        let next = kv
            .get(Table::Meta, NEXT_BRANCH)?
            .and_then(|b| b.try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(BN_DEFAULT + 1);
        pending.put(
            Table::Meta,
            NEXT_BRANCH.to_vec(),
            (next + 1).to_be_bytes().to_vec(),
        );
        next
    };
    let record = BranchRecord {
        name: name.to_string(),
        id: uuid::Uuid::now_v7(),
        is_default: number == BN_DEFAULT,
        created_at: at,
        branched_from: at,
        epochs: if number == BN_DEFAULT {
            Vec::new()
        } else {
            vec![Epoch {
                start: at,
                branched_from: at,
            }]
        },
        properties: options.properties,
    };
    let stored = StoredBranch { number, record };
    pending.put(
        Table::Branches,
        name.as_bytes().to_vec(),
        encode_branch(&stored)?,
    );
    Ok((pending, stored))
}

pub(crate) fn encode_branch(branch: &StoredBranch) -> Result<Vec<u8>> {
    serde_json::to_vec(branch).map_err(|e| Error::storage("encoding a branch record", e))
}

pub(crate) fn decode_branch(bytes: &[u8]) -> Result<StoredBranch> {
    serde_json::from_slice(bytes).map_err(|e| Error::storage("decoding a branch record", e))
}

/// Removes every version, change, counter and index entry written on a branch, and the branch.
pub(crate) fn delete(kv: &dyn Kv, registry: &Registry, name: &str) -> Result<Pending> {
    let branch = registry.get(name)?;
    if branch.number == BN_DEFAULT {
        return Err(invalid(format!(
            "the default branch `{name}` cannot be deleted"
        )));
    }
    let number = branch.number;
    let mut pending = Pending::default();
    let prefix = number.to_be_bytes();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    kv.scan(
        Table::Changes,
        &prefix,
        &prefix_end(&prefix),
        false,
        &mut |key, value| {
            entries.push((key.to_vec(), value.to_vec()));
            true
        },
    )?;
    for (key, value) in entries {
        let at = Timestamp::from_key(
            key[4..12]
                .try_into()
                .map_err(|_| invalid("corrupt change key"))?,
        );
        for (slot, note) in decode_changes(&value) {
            let version = version_key(slot, number, at);
            if !note.is_empty()
                && let (Some(bytes), Some(Slot::Attribute { node, name })) =
                    (kv.get(Table::Versions, &version)?, decode_slot(slot))
                && let (Ok(stored), Ok(kind)) = (decode(&bytes), std::str::from_utf8(note))
                && let VersionData::Attribute(value) = stored.data
            {
                pending.remove(
                    Table::Values,
                    value_key(kind, &name, &value.value, node, number, at),
                );
            }
            pending.remove(Table::Versions, version);
        }
        pending.remove(Table::Changes, key);
    }
    let mut counters = Vec::new();
    kv.scan(
        Table::Counts,
        &prefix,
        &prefix_end(&prefix),
        false,
        &mut |key, _| {
            counters.push(key.to_vec());
            true
        },
    )?;
    for key in counters {
        pending.remove(Table::Counts, key);
    }
    pending.remove(Table::Branches, name.as_bytes().to_vec());
    Ok(pending)
}

/// Slots written on `branch` with a timestamp at or after `since`, in slot order.
fn changed_slots(kv: &dyn Kv, branch: u32, since: Timestamp) -> Result<BTreeSet<Vec<u8>>> {
    let start = change_key(branch, since);
    let end = prefix_end(&branch.to_be_bytes());
    let mut slots = BTreeSet::new();
    kv.scan(Table::Changes, &start, &end, false, &mut |_, value| {
        for (slot, _) in decode_changes(value) {
            slots.insert(slot.to_vec());
        }
        true
    })?;
    Ok(slots)
}

/// Every change on `branch` with `from < at <= to`.
pub(crate) fn changes(
    kv: &dyn Kv,
    registry: &Registry,
    name: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Change>> {
    let branch = registry.get(name)?;
    let number = branch.number;
    let start = change_key(number, from.plus_micros(1));
    let end = if to == Timestamp::MAX {
        prefix_end(&number.to_be_bytes())
    } else {
        change_key(number, to.plus_micros(1))
    };
    let mut entries: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    kv.scan(Table::Changes, &start, &end, false, &mut |key, value| {
        if let Ok(bytes) = key[4..12].try_into() {
            let at = Timestamp::from_key(bytes);
            for (slot, _) in decode_changes(value) {
                entries.push((at, slot.to_vec()));
            }
        }
        true
    })?;
    let mut out = Vec::with_capacity(entries.len());
    for (at, slot_bytes) in entries {
        let Some(slot) = decode_slot(&slot_bytes) else {
            continue;
        };
        let Some(bytes) = kv.get(Table::Versions, &version_key(&slot_bytes, number, at))? else {
            continue;
        };
        let stored = decode(&bytes)?;
        // What the branch saw just before, in the epoch of the version: a rebase writes the
        // branch's changes at the start of a new epoch, over the default branch as it was then.
        let before_view = if number == BN_DEFAULT {
            registry.view(&crate::branch::BranchView::at(name, at.plus_micros(-1)))?
        } else {
            let epoch = branch.record.epoch_at(at);
            let just_before = at.plus_micros(-1);
            ViewSpec {
                branch: number,
                name: name.to_string(),
                at: just_before,
                epoch_start: epoch.start,
                default_at: just_before.min(epoch.branched_from),
            }
        };
        let before = resolve(kv, &before_view, &slot_bytes)?.map(|w| to_version(registry, &w));
        out.push(Change {
            slot,
            before,
            after: Version {
                branch: name.to_string(),
                at,
                status: stored.status,
                local: stored.local,
                data: stored.data,
            },
        });
    }
    Ok(out)
}

fn to_version(names: &dyn BranchNames, winner: &Winner) -> Version {
    Version {
        branch: names.branch_name(winner.branch).to_string(),
        at: winner.at,
        status: winner.stored.status,
        local: winner.stored.local,
        data: winner.stored.data.clone(),
    }
}

/// Every version of every slot of a node, oldest first.
pub(crate) fn history(
    kv: &dyn Kv,
    names: &dyn BranchNames,
    id: NodeId,
) -> Result<Vec<(Slot, Version)>> {
    let mut out = Vec::new();
    let mut collect = |key: &[u8], value: &[u8]| -> Result<()> {
        if let (Some((slot, branch, at)), Ok(stored)) = (split_version_key(key), decode(value))
            && let Some(slot) = decode_slot(slot)
        {
            out.push((
                slot,
                Version {
                    branch: names.branch_name(branch).to_string(),
                    at,
                    status: stored.status,
                    local: stored.local,
                    data: stored.data,
                },
            ));
        }
        Ok(())
    };
    let prefix = id.as_bytes().to_vec();
    let mut failure = None;
    kv.scan(
        Table::Versions,
        &prefix,
        &prefix_end(&prefix),
        false,
        &mut |key, value| {
            if let Err(err) = collect(key, value) {
                failure = Some(err);
                return false;
            }
            true
        },
    )?;
    let mut incoming = Vec::new();
    kv.scan(
        Table::LinksTo,
        &prefix,
        &prefix_end(&prefix),
        false,
        &mut |key, _| {
            if let Some(link) = decode_reverse_link(key) {
                incoming.push(link);
            }
            true
        },
    )?;
    for (identifier, from) in incoming {
        let slot = link_slot(&identifier, from, id);
        kv.scan(
            Table::Versions,
            &slot,
            &prefix_end(&slot),
            false,
            &mut |key, value| {
                if let Err(err) = collect(key, value) {
                    failure = Some(err);
                    return false;
                }
                true
            },
        )?;
    }
    if let Some(err) = failure {
        return Err(err);
    }
    out.sort_by(|a, b| a.1.at.cmp(&b.1.at).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

fn attribute_of(winner: Option<&Winner>) -> Option<&AttributeValue> {
    match winner.map(|w| (&w.stored.data, w.stored.is_active())) {
        Some((VersionData::Attribute(value), true)) => Some(value),
        _ => None,
    }
}

fn link_of(winner: Option<&Winner>) -> Option<&LinkProperties> {
    match winner.map(|w| (&w.stored.data, w.stored.is_active())) {
        Some((VersionData::Link(props), true)) => Some(props),
        _ => None,
    }
}

/// Operations replaying a branch's changes of one epoch onto `target` (the default branch for
/// a merge, the branch's new epoch for a rebase), property by property, in an order that
/// creates nodes before their data and deletes them last.
fn replay_ops(
    kv: &dyn Kv,
    branch_view: &ViewSpec,
    base_view: &ViewSpec,
    target_view: &ViewSpec,
    slots: &BTreeSet<Vec<u8>>,
    skip: &[(Slot, SlotProperty)],
    include_local: bool,
) -> Result<Vec<Op>> {
    let mut creates = Vec::new();
    let mut data = Vec::new();
    let mut deletes = Vec::new();
    for slot_bytes in slots {
        let Some(slot) = decode_slot(slot_bytes) else {
            continue;
        };
        let Some(branch) = resolve(kv, branch_view, slot_bytes)? else {
            continue;
        };
        if branch.branch != branch_view.branch || (branch.stored.local && !include_local) {
            continue;
        }
        let scope = if branch.stored.local {
            Scope::Local
        } else {
            Scope::Branch
        };
        let base = resolve(kv, base_view, slot_bytes)?;
        let target = resolve(kv, target_view, slot_bytes)?;
        let base_active = base.as_ref().is_some_and(|w| w.stored.is_active());
        let target_active = target.as_ref().is_some_and(|w| w.stored.is_active());
        if keeps(skip, &slot, SlotProperty::Existence) {
            continue;
        }
        match (&slot, &branch.stored.data, branch.stored.status) {
            (Slot::Node { id }, VersionData::Node { kind, labels }, Status::Active) => {
                let base_kind = base
                    .as_ref()
                    .filter(|w| w.stored.is_active())
                    .map(|w| &w.stored.data);
                if !target_active {
                    if !base_active {
                        creates.push(Op::CreateNode {
                            id: *id,
                            kind: kind.clone(),
                            labels: labels.clone(),
                            scope,
                        });
                    }
                } else if base_kind != Some(&branch.stored.data) {
                    creates.push(Op::ChangeKind {
                        id: *id,
                        kind: kind.clone(),
                        labels: labels.clone(),
                        scope,
                    });
                }
            }
            (Slot::Node { id }, _, Status::Deleted) if base_active && target_active => {
                deletes.push(Op::DeleteNode { id: *id, scope });
            }
            (Slot::Attribute { node, name }, VersionData::Attribute(value), Status::Active) => {
                let merged = merge_attribute(
                    attribute_of(base.as_ref()),
                    value,
                    attribute_of(target.as_ref()),
                    &slot,
                    skip,
                );
                if attribute_of(target.as_ref()) != Some(&merged) {
                    data.push(Op::SetAttribute {
                        node: *node,
                        name: name.clone(),
                        value: merged,
                        scope,
                        indexed: branch.stored.indexed,
                    });
                }
            }
            (Slot::Attribute { node, name }, _, Status::Deleted)
                if base_active && target_active =>
            {
                data.push(Op::RemoveAttribute {
                    node: *node,
                    name: name.clone(),
                    scope,
                });
            }
            (
                Slot::Link {
                    identifier,
                    from,
                    to,
                },
                VersionData::Link(props),
                Status::Active,
            ) => {
                let merged = merge_link(
                    link_of(base.as_ref()),
                    props,
                    link_of(target.as_ref()),
                    &slot,
                    skip,
                );
                if link_of(target.as_ref()) != Some(&merged) {
                    data.push(Op::SetLink {
                        identifier: identifier.clone(),
                        from: *from,
                        to: *to,
                        properties: merged,
                        scope,
                    });
                }
            }
            (
                Slot::Link {
                    identifier,
                    from,
                    to,
                },
                _,
                Status::Deleted,
            ) if base_active && target_active => {
                data.push(Op::RemoveLink {
                    identifier: identifier.clone(),
                    from: *from,
                    to: *to,
                    scope,
                });
            }
            _ => {}
        }
    }
    creates.extend(data);
    creates.extend(deletes);
    Ok(creates)
}

/// Applies replayed operations; data of nodes that no longer exist on the target is skipped,
/// links to them are refused.
fn apply_replay(writer: &mut Writer<'_>, ops: &[Op]) -> Result<usize> {
    let mut applied = 0;
    for op in ops {
        match writer.apply(op) {
            Ok(()) => applied += 1,
            Err(err) if err.kind() == ErrorKind::NotFound => match op {
                Op::SetLink {
                    identifier,
                    from,
                    to,
                    ..
                } => {
                    return Err(Error::new(
                        ErrorKind::ConditionFailed,
                        format!("cannot apply the `{identifier}` link {from} -> {to}: {err}"),
                    ));
                }
                _ => continue,
            },
            Err(err) => return Err(err),
        }
    }
    Ok(applied)
}

/// Merges a branch into the default branch at `at`.
pub(crate) fn merge(
    kv: &dyn Kv,
    registry: &Registry,
    name: &str,
    keep_default: &[(Slot, SlotProperty)],
    at: Timestamp,
) -> Result<(Pending, StoredBranch, usize)> {
    let branch = registry.get(name)?.clone();
    if branch.number == BN_DEFAULT {
        return Err(invalid("the default branch cannot be merged into itself"));
    }
    let epoch = branch.record.current_epoch();
    let default_name = registry.default_name().unwrap_or("main").to_string();
    let branch_view = registry.write_view(name)?;
    let base_view = ViewSpec::default_branch(&default_name, epoch.branched_from);
    let target_view = ViewSpec::default_branch(&default_name, Timestamp::MAX);
    let slots = changed_slots(kv, branch.number, epoch.start)?;
    let ops = replay_ops(
        kv,
        &branch_view,
        &base_view,
        &target_view,
        &slots,
        keep_default,
        false,
    )?;
    let context = WriteContext {
        view: target_view,
        at,
    };
    let mut writer = Writer::new(kv, &context);
    let applied = apply_replay(&mut writer, &ops)?;
    let mut pending = writer.finish()?;
    let mut updated = branch;
    updated.record.branched_from = at;
    updated.record.epochs.push(Epoch {
        start: at,
        branched_from: at,
    });
    pending.put(
        Table::Branches,
        name.as_bytes().to_vec(),
        encode_branch(&updated)?,
    );
    Ok((pending, updated, applied))
}

/// Rebases a branch onto the default branch as of `at`, carrying its changes forward.
pub(crate) fn rebase(
    kv: &dyn Kv,
    registry: &Registry,
    name: &str,
    drop: &[(Slot, SlotProperty)],
    at: Timestamp,
) -> Result<(Pending, StoredBranch, usize)> {
    let branch = registry.get(name)?.clone();
    if branch.number == BN_DEFAULT {
        return Err(invalid("the default branch cannot be rebased"));
    }
    let epoch = branch.record.current_epoch();
    let default_name = registry.default_name().unwrap_or("main").to_string();
    let old_view = registry.write_view(name)?;
    let base_view = ViewSpec::default_branch(&default_name, epoch.branched_from);
    let new_view = ViewSpec {
        branch: branch.number,
        name: name.to_string(),
        at: Timestamp::MAX,
        epoch_start: at,
        default_at: at,
    };
    let slots = changed_slots(kv, branch.number, epoch.start)?;
    let ops = replay_ops(kv, &old_view, &base_view, &new_view, &slots, drop, true)?;
    let context = WriteContext { view: new_view, at };
    let mut writer = Writer::new(kv, &context);
    let applied = apply_replay(&mut writer, &ops)?;
    let mut pending = writer.finish()?;
    let mut updated = branch;
    updated.record.branched_from = at;
    updated.record.epochs.push(Epoch {
        start: at,
        branched_from: at,
    });
    pending.put(
        Table::Branches,
        name.as_bytes().to_vec(),
        encode_branch(&updated)?,
    );
    let _ = (slot_key, keys::BN_GLOBAL);
    Ok((pending, updated, applied))
}
