//! Typed settings of [`connect`](crate::connect), built by the server from `infrahub.toml` and
//! the `INFRAHUB_CACHE_*` variables (the crate never reads the environment).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// TLS toward the cache service (upstream's `INFRAHUB_CACHE_TLS_ENABLED`, `_TLS_CA_FILE` and
/// `_TLS_INSECURE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheTlsConfig {
    /// Whether the connection uses TLS. Default `false`.
    pub enabled: bool,
    /// A PEM file of the CA certificates that sign the server's certificate. `None` trusts the
    /// system's root certificates.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate and host name (no verification at all). Default `false`.
    pub insecure: bool,
}

/// Which service holds the cache and the locks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In-process: one node only (the embedded deployment, tests). Always available.
    #[default]
    Memory,
    /// Redis (or a Redis-compatible server); needs the `redis` feature.
    Redis,
    /// NATS JetStream key-value buckets; needs the `nats` feature.
    Nats,
}

impl CacheBackend {
    /// The service's usual port: 6379 for Redis, 4222 for NATS, 0 for memory.
    pub fn default_port(self) -> u16 {
        match self {
            CacheBackend::Memory => 0,
            CacheBackend::Redis => 6379,
            CacheBackend::Nats => 4222,
        }
    }
}

impl FromStr for CacheBackend {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "memory" | "local" => Ok(CacheBackend::Memory),
            "redis" => Ok(CacheBackend::Redis),
            "nats" => Ok(CacheBackend::Nats),
            other => Err(Error::invalid(format!(
                "unknown cache backend `{other}`: expected `memory`, `redis` or `nats`"
            ))),
        }
    }
}

/// Settings of [`connect`](crate::connect).
///
/// The default is the in-process backend with a 10 s lock lease. `Debug` never prints the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Which service. Default [`CacheBackend::Memory`].
    pub backend: CacheBackend,
    /// Host name or IP address of the service. Default `localhost`.
    pub address: String,
    /// Port of the service. Default 6379.
    pub port: u16,
    /// Redis database number, 0 to 15 (for NATS, part of the bucket name as upstream).
    /// Default 0.
    pub database: u8,
    /// User name for authentication; empty = none (Redis: the `default` user with a password).
    pub username: String,
    /// Password for authentication; empty = none.
    pub password: String,
    /// TLS toward the service.
    pub tls: CacheTlsConfig,
    /// Prefix of every key (Redis: `<namespace>:<key>`) or part of the bucket name (NATS), so
    /// that several deployments or tests share one server. Empty (the default) = upstream's
    /// bare keys.
    pub namespace: String,
    /// How long a lock stays held without renewal; holders renew every third of it. A holder
    /// that dies frees its locks after at most this long. Default 10 s.
    pub lock_lease: Duration,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            backend: CacheBackend::Memory,
            address: "localhost".to_owned(),
            port: 6379,
            database: 0,
            username: String::new(),
            password: String::new(),
            tls: CacheTlsConfig::default(),
            namespace: String::new(),
            lock_lease: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("CacheConfig")
            .field("backend", &self.backend)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &password)
            .field("tls", &self.tls)
            .field("namespace", &self.namespace)
            .field("lock_lease", &self.lock_lease)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl CacheConfig {
    /// Settings from a URL: `memory://`, `redis://[user[:password]@]host[:port][/database]`,
    /// `rediss://...` (Redis over TLS), `nats://[user[:password]@]host[:port]` or `tls://...`
    /// (NATS over TLS). Other fields keep their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use infrahub_cache::{CacheBackend, CacheConfig};
    ///
    /// let config = CacheConfig::from_url("redis://:secret@10.0.0.5:6380/2").unwrap();
    /// assert_eq!(config.backend, CacheBackend::Redis);
    /// assert_eq!((config.address.as_str(), config.port, config.database), ("10.0.0.5", 6380, 2));
    /// assert_eq!(config.password, "secret");
    /// assert!(!format!("{config:?}").contains("secret"));
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let invalid = |why: &str| Error::invalid(format!("invalid cache URL: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected `<scheme>://host:port`"))?;
        let (backend, tls) = match scheme.to_ascii_lowercase().as_str() {
            "memory" => (CacheBackend::Memory, false),
            "redis" => (CacheBackend::Redis, false),
            "rediss" => (CacheBackend::Redis, true),
            "nats" => (CacheBackend::Nats, false),
            "tls" => (CacheBackend::Nats, true),
            other => {
                return Err(invalid(&format!(
                    "unknown scheme `{other}` (memory, redis, rediss, nats, tls)"
                )));
            }
        };
        let mut config = CacheConfig {
            backend,
            port: backend.default_port(),
            ..CacheConfig::default()
        };
        config.tls.enabled = tls;
        if backend == CacheBackend::Memory {
            return Ok(config);
        }
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        };
        let host_port = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                config.username = user.to_owned();
                config.password = password.to_owned();
                host_port
            }
            None => authority,
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host_port.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| invalid(&format!("port `{port}` is not a number")))?;
                (host, port)
            }
            _ => (host_port, config.port),
        };
        if host.is_empty() {
            return Err(invalid("the host is missing"));
        }
        config.address = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        config.port = port;
        let path = path.split(['?', '#']).next().unwrap_or("");
        if !path.is_empty() {
            config.database = path
                .parse()
                .ok()
                .filter(|database| *database <= 15)
                .ok_or_else(|| invalid(&format!("database `{path}` is not a number 0-15")))?;
        }
        Ok(config)
    }

    /// `address:port` of the service, as errors name it.
    pub fn endpoint(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// The key prefix of `namespace`: `""` or `"<namespace>:"`.
pub(crate) fn key_prefix(namespace: &str) -> String {
    if namespace.is_empty() {
        String::new()
    } else {
        format!("{namespace}:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let config = CacheConfig::from_url("rediss://bob:pw@cache.example:7000").unwrap();
        assert_eq!(config.backend, CacheBackend::Redis);
        assert!(config.tls.enabled);
        assert_eq!(config.username, "bob");
        assert_eq!(config.endpoint(), "cache.example:7000");
        let config = CacheConfig::from_url("nats://127.0.0.1").unwrap();
        assert_eq!((config.backend, config.port), (CacheBackend::Nats, 4222));
        assert_eq!(
            CacheConfig::from_url("memory://").unwrap().backend,
            CacheBackend::Memory
        );
        for bad in [
            "redis://",
            "ftp://x",
            "redis://h:port",
            "redis://h/16",
            "h:1",
        ] {
            let error = CacheConfig::from_url(bad).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let config = CacheConfig {
            password: "hunter2".to_owned(),
            ..CacheConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("<redacted>"));
    }
}
