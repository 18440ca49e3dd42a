//! The crate's error type.

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The broker cannot be reached now (down, restarting, connection lost); nothing was done
    /// and the operation may succeed later.
    Unavailable,
    /// No answer came in time (an RPC without reply, a broker that does not confirm).
    Timeout,
    /// The request is malformed: a bad routing key or pattern, a message that does not decode,
    /// a backend whose Cargo feature is off, a configuration that cannot work.
    InvalidInput,
    /// TLS toward the broker failed: unreadable CA file, unknown issuer, name mismatch, TLS
    /// spoken to a plain port or plain to a TLS port.
    Tls,
    /// The broker refused the credentials or the virtual host.
    Auth,
    /// The bus, subscription or consumer was closed.
    Closed,
    /// The broker refused an operation for another reason (a topology conflict, a protocol
    /// error): a bug or a misconfigured broker.
    Internal,
}

/// The error of every fallible operation of this crate.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
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
            source: None,
        }
    }

    /// A new error with its cause; the message ends with the cause's text.
    pub fn with_source(
        kind: ErrorKind,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let context = context.into();
        Error {
            kind,
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// The broker at `endpoint` cannot be reached now.
    #[allow(dead_code)]
    pub(crate) fn unavailable(endpoint: &str, detail: impl std::fmt::Display) -> Self {
        Error::new(
            ErrorKind::Unavailable,
            format!("message broker at {endpoint} is unavailable: {detail}"),
        )
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(Error::unavailable("h:1", "down").is_retryable());
        assert!(Error::new(ErrorKind::Timeout, "t").is_retryable());
        assert!(!Error::new(ErrorKind::Tls, "t").is_retryable());
        let message = Error::unavailable("h:1", "down").to_string();
        assert_eq!(message, "message broker at h:1 is unavailable: down");
    }
}
