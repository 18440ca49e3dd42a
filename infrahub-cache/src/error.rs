//! The crate's error type.

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The cache service cannot be reached now (down, restarting, connection lost); the
    /// operation may succeed later.
    Unavailable,
    /// The operation did not finish in time: a lock still held by another holder when the wait
    /// ran out, or a service that did not answer.
    Timeout,
    /// The request or the configuration is malformed (an empty key, a backend whose Cargo
    /// feature is off, a value that is not an integer for `increment`).
    InvalidInput,
    /// The TLS handshake with the service failed (certificate not trusted, TLS on one side
    /// only), or the TLS settings cannot be used.
    Tls,
    /// The service refused the credentials.
    Auth,
    /// A lock's lease ended before the holder released or renewed it: another holder may have
    /// it now.
    LockLost,
    /// Anything else the service answered unexpectedly.
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

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(Error::new(ErrorKind::Unavailable, "down").is_retryable());
        assert!(Error::new(ErrorKind::Timeout, "slow").is_retryable());
        assert!(!Error::new(ErrorKind::InvalidInput, "bad").is_retryable());
        assert!(!Error::new(ErrorKind::LockLost, "lost").is_retryable());
    }

    #[test]
    fn source_is_kept_and_named() {
        let io = std::io::Error::other("connection refused");
        let error = Error::with_source(ErrorKind::Unavailable, "redis at `a:1`", io);
        assert_eq!(error.to_string(), "redis at `a:1`: connection refused");
        assert!(std::error::Error::source(&error).is_some());
    }
}
