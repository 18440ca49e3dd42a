//! Pages under construction in this change.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
}
