//! `[cache]`: the cache and distributed locks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

config_enum! {
    /// Which cache and lock service the servers and workers share.
    #[derive(Default)]
    pub enum CacheDriver {
        /// In-process cache and locks for a single server (our addition, the default).
        #[default]
        Memory => "memory",
        /// Redis (or a protocol-compatible server such as Valkey).
        Redis => "redis",
        /// NATS key-value buckets.
        Nats => "nats",
    }
}

/// `[cache]`: the cache and distributed locks. Environment prefix `INFRAHUB_CACHE_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Enables the cache. Default `true`; env `INFRAHUB_CACHE_ENABLE`.
    pub enable: bool,
    /// Host name or IP address. Default `localhost`; env `INFRAHUB_CACHE_ADDRESS`.
    pub address: String,
    /// Port, 1-65535. Default unset: see [`CacheSettings::service_port`]; env
    /// `INFRAHUB_CACHE_PORT`.
    pub port: Option<u16>,
    /// Redis database number, 0-15. Default `0`; env `INFRAHUB_CACHE_DATABASE`.
    pub database: u8,
    /// Cache implementation: `memory`, `redis` or `nats`. Default `memory` (upstream: `redis`);
    /// env `INFRAHUB_CACHE_DRIVER`.
    pub driver: CacheDriver,
    /// User name. Default empty; env `INFRAHUB_CACHE_USERNAME`.
    pub username: String,
    /// Password (secret). Default empty; env `INFRAHUB_CACHE_PASSWORD`.
    pub password: Secret,
    /// Connects with TLS. Default `false`; env `INFRAHUB_CACHE_TLS_ENABLED`.
    pub tls_enabled: bool,
    /// Skips verification of the server certificate. Default `false`; env
    /// `INFRAHUB_CACHE_TLS_INSECURE`.
    pub tls_insecure: bool,
    /// CA certificate or bundle (PEM file) to verify the server with. Default unset; env
    /// `INFRAHUB_CACHE_TLS_CA_FILE`.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enable: true,
            address: "localhost".to_owned(),
            port: None,
            database: 0,
            driver: CacheDriver::Memory,
            username: String::new(),
            password: Secret::default(),
            tls_enabled: false,
            tls_insecure: false,
            tls_ca_file: None,
        }
    }
}

impl CacheSettings {
    /// Returns the port to connect to: `port` when set, else 4222 for NATS and 6379 otherwise
    /// (the in-process cache uses no port; it gets the Redis value).
    pub fn service_port(&self) -> u16 {
        match (self.port, self.driver) {
            (Some(port), _) => port,
            (None, CacheDriver::Nats) => 4222,
            (None, _) => 6379,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_except_the_driver() {
        let cache = CacheSettings::default();
        assert_eq!(cache.driver, CacheDriver::Memory);
        assert!(cache.enable);
        assert_eq!(cache.address, "localhost");
        assert_eq!(cache.port, None);
        assert_eq!(cache.database, 0);
        assert_eq!(cache.username, "");
        assert!(cache.password.is_empty());
        assert!(!cache.tls_enabled && !cache.tls_insecure && cache.tls_ca_file.is_none());
    }

    #[test]
    fn service_port_depends_on_driver() {
        let mut cache = CacheSettings {
            driver: CacheDriver::Redis,
            ..CacheSettings::default()
        };
        assert_eq!(cache.service_port(), 6379);
        cache.driver = CacheDriver::Nats;
        assert_eq!(cache.service_port(), 4222);
        cache.port = Some(7000);
        assert_eq!(cache.service_port(), 7000);
    }

    #[test]
    fn driver_names() {
        assert_eq!(CacheDriver::NAMES, ["memory", "redis", "nats"]);
    }
}
