//! Backend configuration and `connect`.

use std::path::PathBuf;
use std::sync::Arc;

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
        #[cfg(not(feature = "embedded"))]
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            "the embedded graph backend needs the `embedded` feature of infrahub-graph",
        )),
    }
}
