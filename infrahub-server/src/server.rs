//! Starting the server: data directory, deployment identity, listener and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::config::Settings;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The data directory could not be created or read.
    #[error("data directory `{path}`: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The listening socket could not be bound or served.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Reads the deployment identifier kept in the data directory, creating both on first start.
pub fn deployment_id(data_dir: &Path) -> Result<String, ServeError> {
    let io = |source| ServeError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let file = data_dir.join("deployment_id");
    match std::fs::read_to_string(&file) {
        Ok(text) if uuid::Uuid::parse_str(text.trim()).is_ok() => Ok(text.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::now_v7().to_string();
            let temporary = data_dir.join("deployment_id.tmp");
            std::fs::write(&temporary, &id).map_err(io)?;
            std::fs::rename(&temporary, &file).map_err(io)?;
            Ok(id)
        }
    }
}

/// Binds `address`.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_string(),
            source,
        })
}

/// Serves the application on `listener` until `shutdown` completes, then drains in-flight
/// requests and returns.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let deployment_id = deployment_id(&settings.main.data_dir)?;
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let state = AppState::new(settings, deployment_id);
    let app = router(Arc::clone(&state));
    state.mark_ready();
    tracing::info!(%address, "infrahub server ready");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Listen { address, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_id_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("infrahub-deploy-{}", uuid::Uuid::new_v4()));
        let first = deployment_id(&dir).unwrap_or_default();
        let second = deployment_id(&dir).unwrap_or_default();
        assert!(uuid::Uuid::parse_str(&first).is_ok());
        assert_eq!(first, second);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
