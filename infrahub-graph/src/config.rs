//! Backend configuration and `connect`.

use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "neo4j")]
use crate::BoltConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::store::GraphStore;

/// Which backend to use and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphConfig {
    /// The embedded backend, storing its files under `path`.
    Embedded {
        /// Directory of the database files.
        path: PathBuf,
    },
    /// The embedded backend in memory (tests).
    Memory,
    /// A Bolt server (Neo4j 5, ArcadeDB): [`crate::Neo4jGraph`]. Connecting waits for the
    /// server as [`BoltConfig::startup_wait`] says, then fails naming its address.
    #[cfg(feature = "neo4j")]
    Bolt(BoltConfig),
}

/// Opens the configured backend.
pub async fn connect(config: &GraphConfig) -> Result<Arc<dyn GraphStore>> {
    match config {
        #[cfg(feature = "embedded")]
        GraphConfig::Embedded { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || {
                crate::EmbeddedGraph::open(&path, crate::EmbeddedGraphOptions::default())
            })
            .await
            .map_err(|err| {
                Error::new(
                    ErrorKind::Storage,
                    format!("opening the embedded store: {err}"),
                )
            })??;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "embedded")]
        GraphConfig::Memory => Ok(Arc::new(crate::EmbeddedGraph::in_memory()?)),
        #[cfg(feature = "neo4j")]
        GraphConfig::Bolt(config) => {
            Ok(Arc::new(crate::Neo4jGraph::connect(config.clone()).await?))
        }
        #[cfg(not(feature = "embedded"))]
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            "the embedded graph backend needs the `embedded` feature of infrahub-graph",
        )),
    }
}
