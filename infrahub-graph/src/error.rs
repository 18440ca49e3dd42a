//! The crate's error type.

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A branch, node or link named by the caller does not exist.
    NotFound,
    /// Something already exists (node id, branch name).
    AlreadyExists,
    /// A changeset condition failed; nothing was written.
    ConditionFailed,
    /// The request is malformed.
    InvalidInput,
    /// The storage failed (I/O, corruption); the operation may be retried.
    Storage,
    /// The backend needs a Cargo feature that is off.
    Unsupported,
    /// The database cannot be reached now (a remote store down or restarting); nothing was
    /// done and the operation may succeed later.
    Unavailable,
}

/// The error of every fallible operation of this crate.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Index of the failed condition, for [`ErrorKind::ConditionFailed`].
    condition: Option<usize>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            condition: None,
            source: None,
        }
    }

    /// A failed changeset condition.
    pub fn condition_failed(index: usize, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::ConditionFailed,
            message: message.into(),
            condition: Some(index),
            source: None,
        }
    }

    /// A storage failure with its cause.
    pub fn storage(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let context = context.into();
        Error {
            kind: ErrorKind::Storage,
            message: format!("{context}: {source}"),
            condition: None,
            source: Some(Box::new(source)),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For a failed condition, its index in the changeset.
    pub fn condition(&self) -> Option<usize> {
        self.condition
    }

    /// The same error with another kind (a backend refining what a failure means).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Storage | ErrorKind::Unavailable)
    }
}
