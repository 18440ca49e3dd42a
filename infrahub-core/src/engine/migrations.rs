//! Data migrations: what a store written by an earlier version needs to look as a fresh one
//! does. The default branch records the graph version its data is at (`graph_version`, as
//! upstream Infrahub names it); opening a store runs each later migration in order and records
//! the new version after each one. Every migration is idempotent, so one interrupted (the
//! process killed half way) runs again whole on the next start. A store at a version newer than
//! this build knows is refused: its data may hold what this build cannot read correctly.

use infrahub_graph::{BranchView, Changeset, LinkSelection, NodeQuery, Op, Scope, Selection, Side};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

use super::{Engine, Fields, QueryArgs};

/// The branch property holding the graph version.
pub(crate) const GRAPH_VERSION_PROPERTY: &str = "graph_version";

/// The graph version this build writes: the number of migrations below.
pub(crate) const GRAPH_VERSION: i64 = 3;

/// What each migration does, in order; migration `n` (from 1) brings a store to version `n`.
const MIGRATIONS: &[&str] = &[
    // Stores created before permissions were enforced lack the seeded roles and groups: without
    // them no account but the admin could read anything.
    "seed the default roles and groups",
    // Stores written before prefixes kept what they hold (their utilization is read from it).
    "count what each IP prefix holds",
    // Builds before the core schema of upstream 1.11 linked IP pools to their resources under
    // one identifier per pool kind; upstream (and the core schema since) uses one for both.
    "link IP pools to their resources as `ippool__resource`",
];

/// The identifiers IP pools' `resources` had before graph version 3.
const OLD_POOL_RESOURCE_IDENTIFIERS: &[(&str, &str)] = &[
    ("CoreIPPrefixPool", "prefixpool__resource"),
    ("CoreIPAddressPool", "ipaddresspool__resource"),
];

/// The identifier of IP pools' `resources` since graph version 3.
const POOL_RESOURCE_IDENTIFIER: &str = "ippool__resource";

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
                self.seed_roles(
                    main,
                    &admin.iter().map(|node| node.id).take(1).collect::<Vec<_>>(),
                )
                .await
            }
            2 => self.count_all_usage().await,
            3 => self.rename_pool_resource_links(main).await,
            _ => Err(Error::new(
                ErrorKind::Internal,
                format!("no migration to graph version {version}"),
            )),
        }
    }

    /// Moves the links between IP pools and their resources to `ippool__resource`, keeping
    /// their ends and properties. The relationship is branch-agnostic, so its links are
    /// global: one pass on the default branch moves them for every branch.
    async fn rename_pool_resource_links(&self, main: &str) -> Result<()> {
        let view = BranchView::now(main);
        let mut changeset = Changeset::new(main);
        for (kind, old) in OLD_POOL_RESOURCE_IDENTIFIERS {
            let query = NodeQuery {
                labels: vec![(*kind).to_string()],
                select: Selection {
                    attributes: Some(Vec::new()),
                    links: vec![LinkSelection {
                        identifier: (*old).to_string(),
                        side: Side::Either,
                    }],
                },
                ..NodeQuery::default()
            };
            for node in self.store.query(&view, &query).await?.nodes {
                for link in node.links.iter().filter(|l| l.identifier == *old) {
                    let (from, to) = match link.side {
                        Side::To => (link.peer, node.id),
                        _ => (node.id, link.peer),
                    };
                    changeset.ops.push(Op::RemoveLink {
                        identifier: (*old).to_string(),
                        from,
                        to,
                        scope: Scope::Global,
                    });
                    changeset.ops.push(Op::SetLink {
                        identifier: POOL_RESOURCE_IDENTIFIER.to_string(),
                        from,
                        to,
                        properties: link.properties.clone(),
                        scope: Scope::Global,
                    });
                }
            }
        }
        if !changeset.ops.is_empty() {
            self.store.commit(changeset).await?;
        }
        Ok(())
    }
}
