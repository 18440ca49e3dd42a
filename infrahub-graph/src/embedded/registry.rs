//! The in-memory registry of branches: names, numbers and epochs, kept in step with the
//! `branches` table by the writer.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::branch::{BranchRecord, BranchView, GLOBAL_BRANCH};
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

use super::keys::{BN_DEFAULT, BN_GLOBAL};
use super::read::BranchNames;
use super::view::ViewSpec;

/// A branch record with its internal number, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredBranch {
    pub(crate) number: u32,
    pub(crate) record: BranchRecord,
}

/// Every branch by name and by number.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    by_name: HashMap<String, StoredBranch>,
    names: HashMap<u32, Arc<str>>,
}

/// The name of the global branch, shared by every read that returns global versions.
static GLOBAL_NAME: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(GLOBAL_BRANCH));

impl Registry {
    pub(crate) fn insert(&mut self, branch: StoredBranch) {
        self.names
            .insert(branch.number, Arc::from(branch.record.name.as_str()));
        self.by_name.insert(branch.record.name.clone(), branch);
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if let Some(branch) = self.by_name.remove(name) {
            self.names.remove(&branch.number);
        }
    }

    pub(crate) fn get(&self, name: &str) -> Result<&StoredBranch> {
        self.by_name
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("branch `{name}` not found")))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub(crate) fn default_name(&self) -> Option<&str> {
        self.names.get(&BN_DEFAULT).map(|name| &**name)
    }

    /// Every branch, default branch first, then by creation.
    pub(crate) fn list(&self) -> Vec<BranchRecord> {
        let mut branches: Vec<&StoredBranch> = self.by_name.values().collect();
        branches.sort_by_key(|b| (b.number != BN_DEFAULT, b.record.created_at, b.number));
        branches.into_iter().map(|b| b.record.clone()).collect()
    }

    /// The view spec of a read.
    pub(crate) fn view(&self, view: &BranchView) -> Result<ViewSpec> {
        let branch = self.get(&view.branch)?;
        let at = view.at.unwrap_or(Timestamp::MAX);
        if branch.number == BN_DEFAULT {
            return Ok(ViewSpec::default_branch(&branch.record.name, at));
        }
        let epoch = branch.record.epoch_at(at);
        Ok(ViewSpec {
            branch: branch.number,
            name: branch.record.name.clone(),
            at,
            epoch_start: epoch.start,
            default_at: at.min(epoch.branched_from),
        })
    }

    /// The view a changeset on `branch` validates against: the latest state.
    pub(crate) fn write_view(&self, branch: &str) -> Result<ViewSpec> {
        self.view(&BranchView::now(branch))
    }
}

impl BranchNames for Registry {
    fn branch_name(&self, number: u32) -> Arc<str> {
        if number == BN_GLOBAL {
            return Arc::clone(&GLOBAL_NAME);
        }
        self.names
            .get(&number)
            .cloned()
            .unwrap_or_else(|| Arc::from(format!("#{number}")))
    }
}
