//! The configuration error and the record of where each key was set.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// What went wrong while loading or validating the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The named configuration file does not exist.
    NotFound,
    /// The configuration file exists but cannot be read.
    Io,
    /// The configuration file is not valid TOML.
    Syntax,
    /// The file holds a key that no section has.
    UnknownKey,
    /// A value has the wrong type (a string where a number belongs, an unparsable variable).
    InvalidType,
    /// A value has the right type but is out of range or not among the accepted names.
    InvalidValue,
    /// A setting required by another one is missing.
    Missing,
    /// Two settings contradict each other.
    Conflict,
}

/// An error in the configuration, naming the key and where it was set.
///
/// Messages start with the place the value came from: `infrahub.toml:12: ...` for the file,
/// `INFRAHUB_DB_PORT=abc: ...` for the environment (secret values print as `***`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    kind: ConfigErrorKind,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, key: Option<&str>, message: String) -> Self {
        Self {
            kind,
            key: key.map(str::to_owned),
            message,
        }
    }

    /// Builds an error about `key`, prefixed by where the key was set when that is known.
    pub(crate) fn at(
        kind: ConfigErrorKind,
        key: &str,
        origin: Option<&Origin>,
        detail: &str,
    ) -> Self {
        let message = match origin {
            Some(origin) => format!("{origin}: {detail}"),
            None => detail.to_owned(),
        };
        Self::new(kind, Some(key), message)
    }

    /// A failure that the key checks should have prevented; reported rather than panicking.
    pub(crate) fn internal(detail: &str) -> Self {
        Self::new(
            ConfigErrorKind::InvalidValue,
            None,
            format!("invalid configuration: {detail}"),
        )
    }

    /// Returns what went wrong.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// Returns the dotted key involved (`database.port`), when the error concerns one key.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A line of the configuration file.
    File { path: PathBuf, line: usize },
    /// An environment variable; `value` is `***` for secrets.
    Env { name: String, value: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env { name, value } => write!(f, "{name}={value}"),
        }
    }
}

/// The origin of every key set by the file or the environment, by dotted key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Records (or replaces) where `key` was set.
    pub(crate) fn set(&mut self, key: &str, origin: Origin) {
        self.0.insert(key.to_owned(), origin);
    }

    /// Returns where `key` was set; `None` for a default or a value set in code.
    pub(crate) fn get(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_prefixes_the_message() {
        let origin = Origin::File {
            path: PathBuf::from("infrahub.toml"),
            line: 12,
        };
        let err = ConfigError::at(
            ConfigErrorKind::InvalidValue,
            "database.query_size_limit",
            Some(&origin),
            "`database.query_size_limit` must be at least 1, found 0",
        );
        assert_eq!(
            err.to_string(),
            "infrahub.toml:12: `database.query_size_limit` must be at least 1, found 0"
        );
        assert_eq!(err.key(), Some("database.query_size_limit"));
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    }

    #[test]
    fn env_origin_shows_the_assignment() {
        let origin = Origin::Env {
            name: "INFRAHUB_DB_PORT".to_owned(),
            value: "abc".to_owned(),
        };
        assert_eq!(origin.to_string(), "INFRAHUB_DB_PORT=abc");
        let err = ConfigError::at(ConfigErrorKind::InvalidType, "database.port", None, "oops");
        assert_eq!(err.to_string(), "oops");
    }
}
