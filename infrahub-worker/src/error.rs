//! The crate's error type.

use std::fmt;

/// What went wrong, for callers that react differently (an API answers 404 for
/// [`ErrorKind::NotFound`], 409 for [`ErrorKind::Conflict`]...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No task (or workflow) of that id or name.
    NotFound,
    /// The request is malformed or out of bounds.
    InvalidInput,
    /// The task is not in a state that allows the change.
    Conflict,
    /// Waiting took longer than allowed.
    Timeout,
    /// The task was cancelled.
    Cancelled,
    /// The task store or the bus failed (I/O, a closed store); the operation changed nothing.
    Unavailable,
    /// A workflow failed; the message says why.
    Workflow,
}

/// An error of the task runtime: a kind and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn not_found(id: &str) -> Self {
        Error::new(ErrorKind::NotFound, format!("task `{id}` not found"))
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// A workflow's failure with `message`.
    pub fn workflow(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Workflow, message)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<infrahub_bus::Error> for Error {
    fn from(error: infrahub_bus::Error) -> Self {
        Error::unavailable(format!("message bus: {error}"))
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
