//! How to reach a Bolt server: [`BoltConfig`] and [`BoltTlsConfig`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// Connection settings of the Bolt backend (Neo4j 5, Memgraph, ArcadeDB).
///
/// Built with [`BoltConfig::new`] or [`BoltConfig::from_url`], then adjusted field by field.
/// `Debug` hides the password.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use infrahub_graph::BoltConfig;
///
/// let mut config = BoltConfig::from_url("bolt://neo4j:secret@db.example.net:7687/infrahub").unwrap();
/// config.startup_wait = Duration::from_secs(5);
/// assert_eq!(config.endpoint(), "db.example.net:7687");
/// assert_eq!(config.database.as_deref(), Some("infrahub"));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BoltConfig {
    /// Host name or IP address of the server.
    pub address: String,
    /// Bolt port. Default `7687`.
    pub port: u16,
    /// User name. Default `neo4j`.
    pub username: String,
    /// Password. Default empty.
    pub password: String,
    /// Database name; `None` uses the server's default database. Default `None`.
    pub database: Option<String>,
    /// Transport security. Default: plain TCP.
    pub tls: BoltTlsConfig,
    /// Connections kept in the pool, at least 1. Default `16`.
    pub pool_size: usize,
    /// Longest time one statement (or a commit) may take, rows included; a statement that takes
    /// longer fails with [`ErrorKind::Storage`] and is not retried. Default 60 s.
    pub query_timeout: Duration,
    /// Retries of a transaction that failed with a transient error (a lost connection before
    /// the commit, a cluster member changing role). Default `3`. A write conflict with a
    /// concurrent transaction (`DeadlockDetected`: servers sharing the database writing the
    /// same records) is retried until `query_timeout` has passed instead.
    pub retry_limit: u32,
    /// How long connecting waits for the server to answer, retrying with backoff, before it
    /// fails with an error naming the address. Default 60 s.
    pub startup_wait: Duration,
}

/// Transport security of a Bolt connection.
///
/// With `enabled`, the server certificate is verified against `ca_file` when given (only that
/// CA is trusted), else against the system's roots; `insecure` skips verification instead.
/// Combinations that cannot be honoured (`ca_file` or `insecure` without `enabled`, `ca_file`
/// together with `insecure`) are refused when connecting rather than ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BoltTlsConfig {
    /// Connects with TLS. Default `false`.
    pub enabled: bool,
    /// PEM file with the CA certificate(s) the server certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// Accepts any server certificate (testing only). Default `false`.
    pub insecure: bool,
}

impl BoltTlsConfig {
    /// TLS off.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// TLS on, verified with the system's roots.
    pub fn system_roots() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// TLS on, verified with the CA certificate(s) of a PEM file.
    pub fn with_ca_file(ca_file: impl Into<PathBuf>) -> Self {
        Self {
            enabled: true,
            ca_file: Some(ca_file.into()),
            insecure: false,
        }
    }

    /// TLS on without verifying the server certificate.
    pub fn insecure() -> Self {
        Self {
            enabled: true,
            ca_file: None,
            insecure: true,
        }
    }
}

impl BoltConfig {
    /// Settings for `address:port` with the defaults of every other field.
    pub fn new(address: impl Into<String>, port: u16) -> Self {
        Self {
            address: address.into(),
            port,
            username: "neo4j".to_owned(),
            password: String::new(),
            database: None,
            tls: BoltTlsConfig::default(),
            pool_size: 16,
            query_timeout: Duration::from_secs(60),
            retry_limit: 3,
            startup_wait: Duration::from_secs(60),
        }
    }

    /// Settings from a URL `<scheme>://[user[:password]@]host[:port][/database]`.
    ///
    /// Schemes: `bolt`, `bolt+s` (TLS verified with the system's roots) and `bolt+ssc` (TLS
    /// without verification). The `neo4j` schemes are refused: the driver does no client-side
    /// routing, so connect with `bolt` to one server (Neo4j routes writes itself when
    /// server-side routing is on). User and password may be percent-encoded. Other fields keep
    /// their defaults.
    pub fn from_url(url: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid bolt url `{}`: {why}", redact_url(url)),
            )
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected <scheme>://<host>"))?;
        let tls = match scheme {
            "bolt" => BoltTlsConfig::disabled(),
            "bolt+s" => BoltTlsConfig::system_roots(),
            "bolt+ssc" => BoltTlsConfig::insecure(),
            "neo4j" | "neo4j+s" | "neo4j+ssc" => {
                return Err(invalid(
                    "client-side routing (`neo4j` schemes) is not supported: use `bolt`, `bolt+s` or `bolt+ssc`",
                ));
            }
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme `{other}` (bolt, bolt+s, bolt+ssc)"
                )));
            }
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (address, port) =
            split_host_port(host_port).ok_or_else(|| invalid("bad host or port"))?;
        if address.is_empty() {
            return Err(invalid("missing host"));
        }
        let mut config = Self::new(address, port.unwrap_or(7687));
        config.tls = tls;
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            config.username = percent_decode(user).ok_or_else(|| invalid("bad user name"))?;
            config.password = percent_decode(password).ok_or_else(|| invalid("bad password"))?;
        }
        let database = path.split(['?', '#']).next().unwrap_or_default();
        if !database.is_empty() {
            config.database =
                Some(percent_decode(database).ok_or_else(|| invalid("bad database"))?);
        }
        Ok(config)
    }

    /// `address:port` as error messages name the server (IPv6 addresses in brackets).
    pub fn endpoint(&self) -> String {
        if self.address.contains(':') && !self.address.starts_with('[') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

impl fmt::Debug for BoltConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoltConfig")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("database", &self.database)
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .field("query_timeout", &self.query_timeout)
            .field("retry_limit", &self.retry_limit)
            .field("startup_wait", &self.startup_wait)
            .finish()
    }
}

/// Splits `host[:port]` or `[v6][:port]`; `None` when the port is not a number.
fn split_host_port(host_port: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok()?))),
        None => Some((host_port.to_owned(), None)),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The URL with its password replaced, for error messages.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let after = &rest[userinfo.len()..];
            format!("{scheme}://{user}:***{after}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_everything() {
        let config = BoltConfig::from_url("bolt+s://root:p%40ss@127.0.0.1:27688/infrahub").unwrap();
        assert_eq!(config.address, "127.0.0.1");
        assert_eq!(config.port, 27688);
        assert_eq!(config.username, "root");
        assert_eq!(config.password, "p@ss");
        assert_eq!(config.database.as_deref(), Some("infrahub"));
        assert_eq!(config.tls, BoltTlsConfig::system_roots());
    }

    #[test]
    fn url_defaults_and_ipv6() {
        let config = BoltConfig::from_url("bolt+ssc://[::1]").unwrap();
        assert_eq!(config.address, "::1");
        assert_eq!(config.port, 7687);
        assert_eq!(config.endpoint(), "[::1]:7687");
        assert_eq!(config.tls, BoltTlsConfig::insecure());
        assert_eq!(config.username, "neo4j");
        assert_eq!(config.database, None);
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for url in [
            "http://u:topsecret@h:1",
            "neo4j://u:topsecret@h:1",
            "bolt://u:topsecret@h:port",
            "bolt://u:topsecret@:1",
            "127.0.0.1:7687",
            "bolt://u:topsecret@h:1/%zz",
        ] {
            let err = BoltConfig::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{url}");
            assert!(!err.to_string().contains("topsecret"), "{err}");
        }
    }
}
