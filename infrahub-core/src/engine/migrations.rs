//! Data migrations: what a store written by an earlier version needs to look as a fresh one
//! does. The default branch records the graph version its data is at (`graph_version`, as
//! upstream Infrahub names it); opening a store runs each later migration in order and records
//! the new version after each one. Every migration is idempotent, so one interrupted (the
//! process killed half way) runs again whole on the next start. A store at a version newer than
//! this build knows is refused: its data may hold what this build cannot read correctly.

use infrahub_graph::BranchView;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

use super::{Engine, Fields, QueryArgs};

/// The branch property holding the graph version.
pub(crate) const GRAPH_VERSION_PROPERTY: &str = "graph_version";

/// The graph version this build writes: the number of migrations below.
pub(crate) const GRAPH_VERSION: i64 = 2;

/// What each migration does, in order; migration `n` (from 1) brings a store to version `n`.
const MIGRATIONS: &[&str] = &[
    // Stores created before permissions were enforced lack the seeded roles and groups: without
    // them no account but the admin could read anything.
    "seed the default roles and groups",
    // Stores written before prefixes kept what they hold (their utilization is read from it).
    "count what each IP prefix holds",
];

impl Engine {
    /// Runs the migrations the store has not had yet (see the module documentation).
    pub(super) async fn migrate(&self) -> Result<()> {
        debug_assert_eq!(MIGRATIONS.len() as i64, GRAPH_VERSION);
        let main = self.options.default_branch.clone();
        let record = self.store.get_branch(&main).await?;
        let stored = record
            .properties
            .get(GRAPH_VERSION_PROPERTY)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if stored > GRAPH_VERSION {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the data was written by a newer version of the server (graph version \
                     {stored}; this server knows up to {GRAPH_VERSION}): upgrade the server"
                ),
            ));
        }
        for version in stored + 1..=GRAPH_VERSION {
            let what = MIGRATIONS[(version - 1) as usize];
            tracing::info!(version, migration = what, "migrating the stored data");
            self.run_migration(&main, version).await?;
            let mut properties = self.store.get_branch(&main).await?.properties;
            properties.insert(GRAPH_VERSION_PROPERTY.into(), Value::from(version));
            self.store.update_branch(&main, properties).await?;
        }
        Ok(())
    }

    async fn run_migration(&self, main: &str, version: i64) -> Result<()> {
        match version {
            1 => {
                let mut args = QueryArgs::default();
                args.filters
                    .insert("name__value".into(), Value::String("admin".into()));
                let (admin, _) = self
                    .query(
                        &BranchView::now(main),
                        "CoreAccount",
                        &args,
                        &Fields::minimal(),
                    )
                    .await?;
                self.seed_roles(main, admin.first().map(|node| node.id))
                    .await
            }
            2 => self.count_all_usage().await,
            _ => Err(Error::new(
                ErrorKind::Internal,
                format!("no migration to graph version {version}"),
            )),
        }
    }
}
