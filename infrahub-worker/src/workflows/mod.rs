//! The built-in workflows, under upstream's names.

use std::sync::Arc;

use infrahub_core::engine::Engine;

use crate::runtime::Catalogue;
use crate::{Error, ErrorKind};

mod branch;

pub use branch::{
    BRANCH_CREATE, BRANCH_DELETE, BRANCH_MERGE, BRANCH_REBASE, BRANCH_VALIDATE, DIFF_UPDATE,
};

/// A catalogue holding every built-in workflow, running on `engine`.
pub fn catalogue(engine: &Arc<Engine>) -> Catalogue {
    let mut catalogue = Catalogue::new();
    branch::register(&mut catalogue, engine);
    catalogue
}

/// A core error as a task error: a store or service that is down is worth another attempt,
/// anything else fails the task with the engine's message.
pub(crate) fn engine_error(error: &infrahub_core::Error) -> Error {
    match error.kind() {
        infrahub_core::ErrorKind::Unavailable | infrahub_core::ErrorKind::Storage => {
            Error::new(ErrorKind::Unavailable, error.message().to_owned())
        }
        _ => Error::workflow(error.message().to_owned()),
    }
}
