//! The in-memory index of the embedded task store: a compact entry per task (about 40
//! bytes) in submission order, so that a filtered, counted page of a million tasks is one
//! scan of memory and a handful of record reads.

use std::collections::HashMap;

use infrahub_graph::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use crate::task::{TaskFilter, TaskRecord, TaskState};

/// What the index keeps of a task: read from a stored record without decoding the rest of it
/// (parameters, results and errors can be large).
#[derive(Debug, Deserialize)]
pub(crate) struct IndexFields {
    id: String,
    title: String,
    workflow: String,
    #[serde(default)]
    branch: Option<String>,
    state: TaskState,
    database_change: bool,
    created_at: Timestamp,
    #[serde(default)]
    related_nodes: Vec<RelatedId>,
}

#[derive(Debug, Deserialize)]
struct RelatedId {
    id: String,
}

impl IndexFields {
    /// The fields of `record`.
    pub(crate) fn of(record: &TaskRecord) -> Self {
        IndexFields {
            id: record.id.clone(),
            title: record.title.clone(),
            workflow: record.workflow.clone(),
            branch: record.branch.clone(),
            state: record.state,
            database_change: record.database_change,
            created_at: record.created_at,
            related_nodes: record
                .related_nodes
                .iter()
                .map(|n| RelatedId { id: n.id.clone() })
                .collect(),
        }
    }
}

/// What the index knows about one task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    created: i64,
    id: [u8; 16],
    branch: u32,
    /// The lowercase title, interned (titles repeat).
    title: u32,
    workflow: u16,
    state: u8,
    database_change: bool,
    live: bool,
}

/// Names stored once and referred to by number (workflows, branches).
#[derive(Debug, Default)]
struct Interner {
    names: Vec<String>,
    numbers: HashMap<String, u32>,
}

impl Interner {
    /// The number of `name`, adding it; 0 is "none".
    fn intern(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return 0 };
        if let Some(n) = self.numbers.get(name) {
            return *n;
        }
        self.names.push(name.to_owned());
        let n = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.numbers.insert(name.to_owned(), n);
        n
    }

    fn lookup(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }
}

/// The index: entries by sequence number, ids to sequence numbers, related nodes to tasks.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: Vec<Entry>,
    first_seq: u64,
    by_id: HashMap<[u8; 16], u64>,
    related: HashMap<String, Vec<u64>>,
    workflows: Interner,
    branches: Interner,
    titles: Interner,
}

/// Parses a task id (a UUID in any of its usual spellings).
pub(crate) fn parse_id(id: &str) -> Option<[u8; 16]> {
    Uuid::parse_str(id).ok().map(|u| *u.as_bytes())
}

impl Index {
    /// The sequence number the next task gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    /// Starts numbering at `seq` (an empty index opened over a store whose first tasks were
    /// deleted).
    pub(crate) fn start_at(&mut self, seq: u64) {
        if self.entries.is_empty() {
            self.first_seq = seq;
        }
    }

    /// The sequence number of task `id`.
    pub(crate) fn seq_of(&self, id: &str) -> Option<u64> {
        parse_id(id).and_then(|key| self.by_id.get(&key).copied())
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        let position = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.entries.get(position).filter(|e| e.live)
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let position = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.entries.get_mut(position).filter(|e| e.live)
    }

    /// The state of the task at `seq`.
    pub(crate) fn state(&self, seq: u64) -> Option<TaskState> {
        self.entry(seq).map(|e| TaskState::from_code(e.state))
    }

    /// Adds or refreshes the task `record` at `seq` (sequence numbers only grow; a gap left by
    /// a failed batch is filled with dead entries).
    pub(crate) fn put(&mut self, seq: u64, record: &IndexFields) {
        let Some(id) = parse_id(&record.id) else {
            return;
        };
        if let Some(entry) = self.entry_mut(seq) {
            entry.state = record.state.code();
        } else {
            if seq < self.next_seq() {
                return;
            }
            while self.next_seq() < seq {
                self.entries.push(Entry {
                    created: 0,
                    id: [0; 16],
                    branch: 0,
                    title: 0,
                    workflow: 0,
                    state: 0,
                    database_change: false,
                    live: false,
                });
            }
            let workflow = self.workflows.intern(Some(&record.workflow));
            let branch = self.branches.intern(record.branch.as_deref());
            let title = self.titles.intern(Some(&record.title.to_lowercase()));
            self.entries.push(Entry {
                created: record.created_at.as_micros(),
                id,
                branch,
                title,
                workflow: u16::try_from(workflow).unwrap_or(u16::MAX),
                state: record.state.code(),
                database_change: record.database_change,
                live: true,
            });
            self.by_id.insert(id, seq);
        }
        for node in &record.related_nodes {
            let tasks = self.related.entry(node.id.clone()).or_default();
            if let Err(position) = tasks.binary_search(&seq) {
                tasks.insert(position, seq);
            }
        }
    }

    /// Removes the task at `seq`.
    pub(crate) fn remove(&mut self, seq: u64) {
        if let Some(entry) = self.entry_mut(seq) {
            entry.live = false;
            let id = entry.id;
            self.by_id.remove(&id);
        }
        // Drop the dead prefix so that the index shrinks as old tasks are deleted.
        let dead = self.entries.iter().take_while(|e| !e.live).count();
        if dead > 0 {
            self.entries.drain(..dead);
            self.first_seq += dead as u64;
            let first = self.first_seq;
            self.related.retain(|_, tasks| {
                tasks.retain(|s| *s >= first);
                !tasks.is_empty()
            });
        }
    }

    /// The sequence numbers of the live tasks created before `before` in one of `states`.
    pub(crate) fn older_than(&self, before: i64, states: &[TaskState]) -> Vec<u64> {
        let codes: Vec<u8> = states.iter().map(|s| s.code()).collect();
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live && e.created < before && codes.contains(&e.state))
            .map(|(i, _)| self.first_seq + i as u64)
            .collect()
    }

    /// Scans for `filter` newest first: how many tasks match, and the sequence numbers of
    /// the matches at positions `offset..offset + limit`.
    pub(crate) fn scan(&self, filter: &TaskFilter, offset: usize, limit: usize) -> (u64, Vec<u64>) {
        let Some(matcher) = Matcher::new(self, filter) else {
            return (0, Vec::new());
        };
        let mut count = 0_u64;
        let mut page = Vec::new();
        let mut consider = |seq: u64, entry: &Entry| {
            if matcher.matches(entry) {
                let position = usize::try_from(count).unwrap_or(usize::MAX);
                if position >= offset && position - offset < limit {
                    page.push(seq);
                }
                count += 1;
            }
        };
        match &matcher.candidates {
            Some(seqs) => {
                for seq in seqs.iter().rev() {
                    if let Some(entry) = self.entry(*seq) {
                        consider(*seq, entry);
                    }
                }
            }
            None => {
                for (position, entry) in self.entries.iter().enumerate().rev() {
                    if entry.live {
                        consider(self.first_seq + position as u64, entry);
                    }
                }
            }
        }
        (count, page)
    }
}

/// A filter turned into numbers.
struct Matcher {
    /// The only tasks to look at (from ids or the related node), ascending.
    candidates: Option<Vec<u64>>,
    states: Option<Vec<u8>>,
    workflows: Option<Vec<u16>>,
    branch: Option<u32>,
    /// Which interned titles contain the `q` text (by title number).
    titles: Option<Vec<bool>>,
    database_change: Option<bool>,
    since: Option<i64>,
    until: Option<i64>,
}

impl Matcher {
    /// `None` when nothing can match (an unknown workflow or branch).
    fn new(index: &Index, filter: &TaskFilter) -> Option<Matcher> {
        let mut candidates: Option<Vec<u64>> = None;
        if let Some(ids) = &filter.ids {
            let mut seqs: Vec<u64> = ids.iter().filter_map(|id| index.seq_of(id)).collect();
            seqs.sort_unstable();
            seqs.dedup();
            candidates = Some(seqs);
        }
        if let Some(node) = &filter.related_node {
            let related = index.related.get(node).cloned().unwrap_or_default();
            candidates = Some(match candidates {
                Some(seqs) => seqs
                    .into_iter()
                    .filter(|s| related.binary_search(s).is_ok())
                    .collect(),
                None => related,
            });
        }
        let workflows = match &filter.workflows {
            Some(names) => {
                let numbers: Vec<u16> = names
                    .iter()
                    .filter_map(|n| index.workflows.lookup(n))
                    .filter_map(|n| u16::try_from(n).ok())
                    .collect();
                if numbers.is_empty() {
                    return None;
                }
                Some(numbers)
            }
            None => None,
        };
        let branch = match &filter.branch {
            Some(name) => Some(index.branches.lookup(name)?),
            None => None,
        };
        let titles = filter.q.as_ref().map(|q| {
            let q = q.to_lowercase();
            std::iter::once(false)
                .chain(index.titles.names.iter().map(|t| t.contains(q.as_str())))
                .collect()
        });
        Some(Matcher {
            candidates,
            titles,
            states: filter
                .states
                .as_ref()
                .map(|s| s.iter().map(|s| s.code()).collect()),
            workflows,
            branch,
            database_change: filter.database_change,
            since: filter.since.map(|t| t.as_micros()),
            until: filter.until.map(|t| t.as_micros()),
        })
    }

    fn matches(&self, entry: &Entry) -> bool {
        self.states
            .as_ref()
            .is_none_or(|s| s.contains(&entry.state))
            && self
                .workflows
                .as_ref()
                .is_none_or(|w| w.contains(&entry.workflow))
            && self.branch.is_none_or(|b| b == entry.branch)
            && self.titles.as_ref().is_none_or(|t| {
                usize::try_from(entry.title)
                    .ok()
                    .and_then(|i| t.get(i))
                    .copied()
                    .unwrap_or(false)
            })
            && self
                .database_change
                .is_none_or(|d| d == entry.database_change)
            && self.since.is_none_or(|t| entry.created >= t)
            && self.until.is_none_or(|t| entry.created < t)
    }
}
