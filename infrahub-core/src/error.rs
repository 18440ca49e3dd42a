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
    /// The caller may not do this (a check the caller gave the engine refused it).
    Forbidden,
    /// The database cannot be reached now; nothing was done and a later attempt may succeed.
    Unavailable,
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

/// Words (runs without whitespace) longer than this are shortened in error messages.
const LONG_WORD: usize = 200;
/// Characters of a long word kept in an error message.
const KEPT: usize = 80;
/// Longest error message, in characters, once long words are shortened.
const LONG_MESSAGE: usize = 4000;

/// `message` with every word longer than 200 characters cut to its first 80 and a note of
/// its length, and the whole cut at 4,000 characters: errors name the value they refuse
/// without echoing a 100 KB input back.
///
/// # Examples
///
/// ```
/// let value = "x".repeat(100_000);
/// let message = infrahub_core::bounded_message(&format!("`{value}` is not a valid URL"));
/// assert!(message.len() < 200);
/// assert!(message.ends_with("… (100002 characters) is not a valid URL"));
/// ```
pub fn bounded_message(message: &str) -> String {
    if message.len() <= LONG_WORD && message.chars().count() <= LONG_WORD {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(LONG_MESSAGE + 64));
    let mut rest = message;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        let length = word.chars().count();
        if length > LONG_WORD {
            out.extend(word.chars().take(KEPT));
            out.push_str(&format!("… ({length} characters)"));
        } else {
            out.push_str(word);
        }
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
        if out.chars().count() > LONG_MESSAGE {
            let total = message.chars().count();
            let mut cut: String = out.chars().take(LONG_MESSAGE).collect();
            cut.push_str(&format!("… (message of {total} characters cut)"));
            return cut;
        }
    }
    out
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: bounded_message(&message.into()),
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
            message: bounded_message(&message),
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
            infrahub_graph::ErrorKind::Unavailable => ErrorKind::Unavailable,
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
