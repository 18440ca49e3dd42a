//! The crate's error type.

use std::fmt;

use crate::schema::SchemaError;

/// What went wrong, in a form callers can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A schema file or a schema update is invalid; see [`Error::schema_errors`].
    InvalidSchema,
    /// Something named by the caller does not exist.
    NotFound,
    /// Input data breaks a rule.
    Validation,
    /// A uniqueness constraint would be broken.
    Uniqueness,
    /// The operation conflicts with other data (a node still required elsewhere, a merge
    /// conflict).
    Conflict,
    /// The storage backend failed.
    Storage,
    /// An internal invariant does not hold; a bug.
    Internal,
}

/// The error of every fallible operation in this crate.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    schema_errors: Vec<SchemaError>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            schema_errors: Vec::new(),
            source: None,
        }
    }

    /// An [`ErrorKind::InvalidSchema`] error listing every problem found.
    pub fn invalid_schema(errors: Vec<SchemaError>) -> Self {
        let message = match errors.as_slice() {
            [] => "the schema is invalid".to_string(),
            [one] => one.to_string(),
            many => format!(
                "the schema has {} errors: {}",
                many.len(),
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        Error {
            kind: ErrorKind::InvalidSchema,
            message,
            schema_errors: errors,
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For [`ErrorKind::InvalidSchema`], each problem with its file and element path.
    pub fn schema_errors(&self) -> &[SchemaError] {
        &self.schema_errors
    }
}

impl From<infrahub_graph::Error> for Error {
    fn from(error: infrahub_graph::Error) -> Self {
        let kind = match error.kind() {
            infrahub_graph::ErrorKind::NotFound => ErrorKind::NotFound,
            infrahub_graph::ErrorKind::AlreadyExists
            | infrahub_graph::ErrorKind::ConditionFailed => ErrorKind::Conflict,
            infrahub_graph::ErrorKind::InvalidInput => ErrorKind::Validation,
            _ => ErrorKind::Storage,
        };
        Error::new(kind, error.to_string()).with_source(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
