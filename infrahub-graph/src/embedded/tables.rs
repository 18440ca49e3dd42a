//! The tables of the embedded store and a small key-value access layer over them, shared by
//! read transactions, the write transaction, and the write overlay of a changeset being
//! validated.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};

use crate::error::{Error, Result};

type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// The tables, in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Table {
    /// Store metadata: clock, branch numbers, journal position.
    Meta,
    /// Branch records by name.
    Branches,
    /// Every version of every slot: `slot ‖ branch ‖ ts`.
    Versions,
    /// Reverse link index: `to ‖ identifier ‖ from`.
    LinksTo,
    /// Label index: `label ‖ node`.
    Labels,
    /// Kinds carrying a label: `label ‖ kind`.
    LabelKinds,
    /// Attribute value index: `kind ‖ attribute ‖ value ‖ node ‖ branch ‖ ts`.
    Values,
    /// Change log: `branch ‖ ts ‖ slot`.
    Changes,
    /// Node counters: `label ‖ branch ‖ ts` → count.
    Counts,
}

pub(crate) const ALL_TABLES: [Table; 9] = [
    Table::Meta,
    Table::Branches,
    Table::Versions,
    Table::LinksTo,
    Table::Labels,
    Table::LabelKinds,
    Table::Values,
    Table::Changes,
    Table::Counts,
];

impl Table {
    pub(crate) fn definition(self) -> Def {
        TableDefinition::new(match self {
            Table::Meta => "meta",
            Table::Branches => "branches",
            Table::Versions => "versions",
            Table::LinksTo => "links_to",
            Table::Labels => "labels",
            Table::LabelKinds => "label_kinds",
            Table::Values => "values",
            Table::Changes => "changes",
            Table::Counts => "counts",
        })
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_index(index: u8) -> Option<Table> {
        ALL_TABLES.get(index as usize).copied()
    }
}

pub(crate) fn storage(context: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::storage(context.to_string(), err)
}

/// Read access to the tables.
pub(crate) trait Kv {
    /// The value under `key`.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visits the entries with `start <= key < end` in key order (reversed if asked) until
    /// `visit` returns `false`.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;
}

/// Opened tables of one redb transaction.
pub(crate) struct Tables<T> {
    tables: Vec<T>,
}

impl<T> std::fmt::Debug for Tables<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("tables", &self.tables.len())
            .finish()
    }
}

impl<T> Tables<T> {
    pub(crate) fn new(tables: Vec<T>) -> Self {
        Tables { tables }
    }

    pub(crate) fn table_mut(&mut self, table: Table) -> &mut T {
        &mut self.tables[table.index()]
    }
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Kv for Tables<T> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let found = self.tables[table.index()]
            .get(key)
            .map_err(|e| storage("reading", e))?;
        Ok(found.map(|guard| guard.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let range = self.tables[table.index()]
            .range::<&[u8]>(start..end)
            .map_err(|e| storage("scanning", e))?;
        if reverse {
            for entry in range.rev() {
                let (key, value) = entry.map_err(|e| storage("scanning", e))?;
                if !visit(key.value(), value.value()) {
                    break;
                }
            }
        } else {
            for entry in range {
                let (key, value) = entry.map_err(|e| storage("scanning", e))?;
                if !visit(key.value(), value.value()) {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Writes made by a changeset that is being validated, layered over the committed state.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// `(table, key)` → new value, or `None` for a removal.
    entries: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl Pending {
    pub(crate) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.entries.insert((table, key), Some(value));
    }

    pub(crate) fn remove(&mut self, table: Table, key: Vec<u8>) {
        self.entries.insert((table, key), None);
    }

    /// Number of writes.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no write.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a write (replacing an earlier one of the same key).
    pub(crate) fn set(&mut self, table: Table, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.entries.insert((table, key), value);
    }

    /// Every write, in table and key order, without consuming them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        self.entries
            .iter()
            .map(|((table, key), value)| (*table, key.as_slice(), value.as_deref()))
    }

    /// Every pending write, in table and key order.
    pub(crate) fn into_writes(self) -> impl Iterator<Item = (Table, Vec<u8>, Option<Vec<u8>>)> {
        self.entries
            .into_iter()
            .map(|((table, key), value)| (table, key, value))
    }
}

/// The committed state seen through pending writes.
pub(crate) struct Overlay<'a> {
    pub(crate) base: &'a dyn Kv,
    pub(crate) pending: &'a Pending,
}

impl Kv for Overlay<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending.entries.get(&(table, key.to_vec())) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(table, key),
        }
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_layered(
            self.base,
            std::slice::from_ref(&self.pending),
            table,
            start,
            end,
            reverse,
            visit,
        )
    }
}

/// A write in a layer: the key, and the value (`None` for a removal).
type LayerWrite<'a> = (&'a [u8], Option<&'a [u8]>);

/// One layer's writes in a key range, in scan order.
type LayerRange<'a> = Box<dyn Iterator<Item = LayerWrite<'a>> + 'a>;

/// The writes of several layers in a key range, merged lazily in scan order; where layers
/// write the same key, the newest (last) layer's write wins.
struct MergedLayers<'a> {
    /// Each layer's range (oldest first) with its next write; exhausted ranges are dropped.
    ranges: Vec<(LayerRange<'a>, LayerWrite<'a>)>,
    /// The next key in scan order, once worked out.
    next: Option<&'a [u8]>,
    reverse: bool,
}

impl<'a> MergedLayers<'a> {
    fn new<P: std::ops::Deref<Target = Pending>>(
        layers: &'a [P],
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> Self {
        let lower = (table, start.to_vec());
        let upper = (table, end.to_vec());
        let ranges = layers
            .iter()
            .filter_map(|layer| {
                let mut range = layer
                    .entries
                    .range::<(Table, Vec<u8>), _>((
                        Bound::Included(&lower),
                        Bound::Excluded(&upper),
                    ))
                    .map(|((_, key), value)| (key.as_slice(), value.as_deref()));
                // Layers with nothing in the range are left out before anything is allocated.
                let head = if reverse {
                    range.next_back()
                } else {
                    range.next()
                }?;
                let range: LayerRange<'a> = if reverse {
                    Box::new(range.rev())
                } else {
                    Box::new(range)
                };
                Some((range, head))
            })
            .collect();
        MergedLayers {
            ranges,
            next: None,
            reverse,
        }
    }

    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The next key in scan order, without taking it.
    fn peek_key(&mut self) -> Option<&'a [u8]> {
        if self.next.is_none() {
            let reverse = self.reverse;
            self.next = self
                .ranges
                .iter()
                .map(|(_, (key, _))| *key)
                .reduce(|best, key| {
                    if (reverse && key > best) || (!reverse && key < best) {
                        key
                    } else {
                        best
                    }
                });
        }
        self.next
    }

    /// Takes the next key and the newest layer's write of it.
    fn take(&mut self, key: &[u8]) -> Option<Option<&'a [u8]>> {
        self.next = None;
        let mut value = None;
        self.ranges.retain_mut(|(range, head)| {
            if head.0 != key {
                return true;
            }
            value = Some(head.1);
            match range.next() {
                Some(next) => {
                    *head = next;
                    true
                }
                None => false,
            }
        });
        value
    }
}

/// Scans `base` with the writes of `layers` (oldest first) laid over it: a layer's write
/// replaces the base's entry and older layers' writes of the same key, a removal hides it.
fn scan_layered<P: std::ops::Deref<Target = Pending>>(
    base: &dyn Kv,
    layers: &[P],
    table: Table,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    let mut writes = MergedLayers::new(layers, table, start, end, reverse);
    if writes.is_empty() {
        return base.scan(table, start, end, reverse, visit);
    }
    let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
    let mut stopped = false;
    base.scan(table, start, end, reverse, &mut |key, value| {
        while let Some(next) = writes.peek_key() {
            if before(next, key) {
                if let Some(Some(v)) = writes.take(next)
                    && !visit(next, v)
                {
                    stopped = true;
                    return false;
                }
                continue;
            }
            if next == key {
                let more = match writes.take(next) {
                    Some(Some(v)) => visit(next, v),
                    _ => true,
                };
                stopped = !more;
                return more;
            }
            break;
        }
        let more = visit(key, value);
        stopped = !more;
        more
    })?;
    if !stopped {
        while let Some(next) = writes.peek_key() {
            if let Some(Some(v)) = writes.take(next)
                && !visit(next, v)
            {
                break;
            }
        }
    }
    Ok(())
}

/// Writes acknowledged (and journaled) but not yet in the database, in layers, newest last.
/// Readers see them over the database; a flusher moves them into the database in one
/// transaction from time to time, so that a lone writer does not pay for a database
/// transaction per changeset.
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    layers: Vec<Layer>,
    layers_only: Vec<Arc<Pending>>,
    entries: usize,
    next_id: u64,
}

/// One batch of writes in a memtable.
#[derive(Debug, Clone)]
struct Layer {
    id: u64,
    made: std::time::Instant,
}

impl Memtable {
    /// This memtable with one more layer on top.
    pub(crate) fn with_layer(&self, layer: Pending) -> Memtable {
        let mut next = Memtable {
            layers: self.layers.clone(),
            layers_only: self.layers_only.clone(),
            entries: self.entries,
            next_id: self.next_id,
        };
        if !layer.is_empty() {
            next.entries += layer.len();
            next.layers.push(Layer {
                id: next.next_id,
                made: std::time::Instant::now(),
            });
            next.layers_only.push(Arc::new(layer));
            next.next_id += 1;
        }
        next
    }

    /// This memtable without its layers up to `id` (moved into the database).
    pub(crate) fn without_through(&self, id: u64) -> Memtable {
        let keep = self
            .layers
            .iter()
            .position(|l| l.id > id)
            .unwrap_or(self.layers.len());
        let layers_only: Vec<Arc<Pending>> = self.layers_only[keep..].to_vec();
        Memtable {
            entries: layers_only.iter().map(|l| l.len()).sum(),
            layers: self.layers[keep..].to_vec(),
            layers_only,
            next_id: self.next_id,
        }
    }

    /// The number of batches the writer has applied in this process: it tells the content of a
    /// snapshot taken with this memtable (every batch adds a layer, moving layers into the
    /// database keeps it).
    pub(crate) fn content(&self) -> u64 {
        self.next_id
    }

    /// Id of the newest layer, if any.
    pub(crate) fn last_id(&self) -> Option<u64> {
        self.layers.last().map(|l| l.id)
    }

    /// Age of the oldest layer.
    pub(crate) fn age(&self) -> Option<std::time::Duration> {
        self.layers.first().map(|l| l.made.elapsed())
    }

    /// Number of writes held (a key written twice counts twice).
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Number of layers.
    pub(crate) fn depth(&self) -> usize {
        self.layers.len()
    }

    /// The layers, oldest first.
    pub(crate) fn layers(&self) -> &[Arc<Pending>] {
        &self.layers_only
    }

    /// The memtable seen over `base`.
    pub(crate) fn over<'a>(&'a self, base: &'a dyn Kv) -> MemView<'a> {
        MemView {
            layers: &self.layers_only,
            base,
        }
    }
}

/// A base seen through memtable layers.
pub(crate) struct MemView<'a> {
    layers: &'a [Arc<Pending>],
    base: &'a dyn Kv,
}

impl Kv for MemView<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let wanted = (table, key.to_vec());
        for layer in self.layers.iter().rev() {
            if let Some(value) = layer.entries.get(&wanted) {
                return Ok(value.clone());
            }
        }
        self.base.get(table, key)
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        scan_layered(self.base, self.layers, table, start, end, reverse, visit)
    }
}

/// A fixed key-value set for tests (one table).
#[cfg(test)]
pub(crate) struct Fixed(pub(crate) BTreeMap<Vec<u8>, Vec<u8>>);

#[cfg(test)]
impl Kv for Fixed {
    fn get(&self, _: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(
        &self,
        _: Table,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let items: Vec<_> = self.0.range(start.to_vec()..end.to_vec()).collect();
        let iter: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(items.into_iter().rev())
        } else {
            Box::new(items.into_iter())
        };
        for (k, v) in iter {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kv: &dyn Kv, reverse: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = kv.scan(Table::Versions, &[0], &[100], reverse, &mut |k, _| {
            out.push(k[0]);
            true
        });
        out
    }

    #[test]
    fn overlay_merges_puts_and_removals_in_both_directions() {
        let base = Fixed(
            [1u8, 3, 5, 7]
                .iter()
                .map(|k| (vec![*k], vec![*k]))
                .collect(),
        );
        let mut pending = Pending::default();
        pending.put(Table::Versions, vec![4], vec![4]);
        pending.remove(Table::Versions, vec![5]);
        pending.put(Table::Versions, vec![9], vec![9]);
        pending.put(Table::Labels, vec![2], vec![2]);
        let overlay = Overlay {
            base: &base,
            pending: &pending,
        };
        assert_eq!(keys(&overlay, false), vec![1, 3, 4, 7, 9]);
        assert_eq!(keys(&overlay, true), vec![9, 7, 4, 3, 1]);
        assert_eq!(overlay.get(Table::Versions, &[5]).ok().flatten(), None);
        assert_eq!(
            overlay.get(Table::Versions, &[4]).ok().flatten(),
            Some(vec![4])
        );
    }

    #[test]
    fn memtable_layers_win_newest_first() {
        let base = Fixed(
            [1u8, 3, 5, 7]
                .iter()
                .map(|k| (vec![*k], vec![*k]))
                .collect(),
        );
        let mut first = Pending::default();
        first.put(Table::Versions, vec![4], vec![40]);
        first.remove(Table::Versions, vec![3]);
        let mut second = Pending::default();
        second.put(Table::Versions, vec![3], vec![30]);
        second.remove(Table::Versions, vec![4]);
        second.put(Table::Versions, vec![8], vec![80]);
        let memtable = Memtable::default().with_layer(first).with_layer(second);
        assert_eq!((memtable.depth(), memtable.entries()), (2, 5));
        assert_eq!(memtable.last_id(), Some(1));
        let rest = memtable.without_through(0);
        assert_eq!(
            (rest.depth(), rest.entries(), rest.last_id()),
            (1, 3, Some(1))
        );
        assert_eq!(rest.with_layer(Pending::default()).depth(), 1);
        let view = memtable.over(&base);
        assert_eq!(keys(&view, false), vec![1, 3, 5, 7, 8]);
        assert_eq!(keys(&view, true), vec![8, 7, 5, 3, 1]);
        assert_eq!(
            view.get(Table::Versions, &[3]).ok().flatten(),
            Some(vec![30])
        );
        assert_eq!(view.get(Table::Versions, &[4]).ok().flatten(), None);
        assert_eq!(
            view.get(Table::Versions, &[5]).ok().flatten(),
            Some(vec![5])
        );
    }

    #[test]
    fn layered_scans_give_the_newest_values_and_stop_when_asked() {
        let base = Fixed(
            [(vec![2u8], vec![2u8]), (vec![6], vec![6])]
                .into_iter()
                .collect(),
        );
        let mut oldest = Pending::default();
        oldest.put(Table::Versions, vec![4], vec![41]);
        oldest.put(Table::Versions, vec![6], vec![61]);
        let mut middle = Pending::default();
        middle.put(Table::Versions, vec![4], vec![42]);
        middle.put(Table::Versions, vec![1], vec![12]);
        let mut newest = Pending::default();
        newest.remove(Table::Versions, vec![2]);
        newest.put(Table::Versions, vec![9], vec![93]);
        let memtable = Memtable::default()
            .with_layer(oldest)
            .with_layer(middle)
            .with_layer(newest);
        let view = memtable.over(&base);
        let scan = |reverse: bool, most: usize| {
            let mut out = Vec::new();
            let _ = view.scan(Table::Versions, &[0], &[100], reverse, &mut |k, v| {
                out.push((k[0], v[0]));
                out.len() < most
            });
            out
        };
        assert_eq!(scan(false, 10), vec![(1, 12), (4, 42), (6, 61), (9, 93)]);
        assert_eq!(scan(true, 2), vec![(9, 93), (6, 61)]);
        assert_eq!(scan(false, 1), vec![(1, 12)]);
    }
}
