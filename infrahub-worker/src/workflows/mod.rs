//! The built-in workflows, under upstream's names.

use std::sync::Arc;

use infrahub_core::engine::Engine;

use crate::runtime::Catalogue;
use crate::{Error, ErrorKind};

use crate::repositories::Repositories;

mod artifact;
mod branch;
mod checks;
mod generator;
mod git;
mod git_branches;
mod import;
mod targets;

pub use artifact::{ARTIFACT_DEFINITION_GENERATE, generate_submission};
pub use branch::{
    BRANCH_CREATE, BRANCH_DELETE, BRANCH_MERGE, BRANCH_REBASE, BRANCH_VALIDATE, DIFF_UPDATE,
};
pub use checks::{PROPOSED_CHANGE_USER_CHECKS, user_checks_submission};
pub use generator::{GENERATOR_DEFINITION_RUN, generator_submission};
pub use git::{
    REPOSITORIES_SYNC, REPOSITORY_ADD_READ_ONLY, REPOSITORY_ADD_READ_WRITE, REPOSITORY_IMPORT,
    REPOSITORY_PULL_READ_ONLY, repository_sync_schedule,
};
pub use git_branches::{REPOSITORIES_CREATE_BRANCH, REPOSITORIES_MERGE, branch_sync_submission};

/// A catalogue holding every built-in workflow, running on `engine`, with the Git
/// repositories of `repositories` (which must use the same engine).
pub fn catalogue(engine: &Arc<Engine>, repositories: &Arc<Repositories>) -> Catalogue {
    let mut catalogue = Catalogue::new();
    branch::register(&mut catalogue, engine, repositories);
    git::register(&mut catalogue, repositories);
    git_branches::register(&mut catalogue, repositories);
    artifact::register(&mut catalogue, repositories);
    generator::register(&mut catalogue, repositories);
    checks::register(&mut catalogue, repositories);
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
