//! `[database]`: the graph database.

use std::path::PathBuf;
use std::time::Duration;

use infrahub_graph::{BoltConfig, BoltTlsConfig};

use serde::{Deserialize, Serialize};

use super::Secret;

config_enum! {
    /// Which graph database backs the server.
    #[derive(Default)]
    pub enum DatabaseType {
        /// The embedded, in-process store under `main.data_dir` (our addition, the default).
        #[default]
        Embedded => "embedded",
        /// Neo4j 5 over Bolt.
        Neo4j => "neo4j",
        /// Memgraph over Bolt.
        Memgraph => "memgraph",
    }
}

/// `[database]`: the graph database. Environment prefix `INFRAHUB_DB_`.
///
/// With `db_type = "embedded"` only `query_size_limit`, `max_depth_search_hierarchy` and the
/// concurrency limits apply; the connection keys are for Neo4j and Memgraph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Database engine: `embedded`, `neo4j` or `memgraph`. Default `embedded` (upstream:
    /// `neo4j`); env `INFRAHUB_DB_TYPE`.
    pub db_type: DatabaseType,
    /// Connection protocol: `bolt`, `bolt+s` (TLS verified with the system's roots) or
    /// `bolt+ssc` (TLS without verification). The `neo4j` schemes (client-side routing) are
    /// refused at start. Default `bolt`; env `INFRAHUB_DB_PROTOCOL`.
    pub protocol: String,
    /// User name. Default `neo4j`; env `INFRAHUB_DB_USERNAME`.
    pub username: String,
    /// Password (secret). Default `admin`; env `INFRAHUB_DB_PASSWORD`.
    pub password: Secret,
    /// Host name or IP address. Default `localhost`; env `INFRAHUB_DB_ADDRESS`.
    pub address: String,
    /// Port. Default `7687`; env `INFRAHUB_DB_PORT`.
    pub port: u16,
    /// Database name: a lowercase letter, then lowercase letters, digits or dots. Default unset
    /// (the name of `db_type`); env `INFRAHUB_DB_DATABASE`.
    pub database: Option<String>,
    /// Routing policy appended to the URI as `?policy=`; only meaningful with client-side
    /// routing, which the Bolt backend does not do, so a start with it set is refused. Default
    /// unset; env `INFRAHUB_DB_POLICY`.
    pub policy: Option<String>,
    /// Connects with TLS. Default `false`; env `INFRAHUB_DB_TLS_ENABLED`.
    pub tls_enabled: bool,
    /// Skips verification of the server certificate. Default `false`; env
    /// `INFRAHUB_DB_TLS_INSECURE`.
    pub tls_insecure: bool,
    /// CA certificate or bundle (PEM file) to verify the server with. Default unset; env
    /// `INFRAHUB_DB_TLS_CA_FILE`.
    pub tls_ca_file: Option<PathBuf>,
    /// Records fetched per query before paginating internally, at least 1. Default `5000`;
    /// env `INFRAHUB_DB_QUERY_SIZE_LIMIT`.
    pub query_size_limit: u64,
    /// Hierarchy levels searched, at most 20. Default `5`; env
    /// `INFRAHUB_DB_MAX_DEPTH_SEARCH_HIERARCHY`.
    pub max_depth_search_hierarchy: u64,
    /// Retries of a transaction after a transient failure. Default `3`; env
    /// `INFRAHUB_DB_RETRY_LIMIT`.
    pub retry_limit: u64,
    /// Graph store calls that may run at once in this server, `0` for no limit (applied by
    /// [`infrahub_graph::ConcurrencyLimit`]). Default `0`; env
    /// `INFRAHUB_DB_MAX_CONCURRENT_QUERIES`.
    pub max_concurrent_queries: u64,
    /// Seconds a call finding every slot of `max_concurrent_queries` taken waits before trying
    /// again (`0`: it queues for the next free slot), at least 0. Default `0.01`;
    /// env `INFRAHUB_DB_MAX_CONCURRENT_QUERIES_DELAY`.
    pub max_concurrent_queries_delay: f64,
    /// Bolt connections kept in the pool, at least 1 (our addition). Default `16`; env
    /// `INFRAHUB_DB_POOL_SIZE`.
    pub pool_size: u64,
    /// Seconds one statement or commit may take before it fails, at least 1 (our addition).
    /// Default `60`; env `INFRAHUB_DB_QUERY_TIMEOUT`.
    pub query_timeout: u64,
    /// Seconds the server waits at start for the database to answer, retrying with backoff,
    /// before it fails naming the address (our addition). Default `60`; env
    /// `INFRAHUB_DB_STARTUP_TIMEOUT`.
    pub startup_timeout: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            db_type: DatabaseType::Embedded,
            protocol: "bolt".to_owned(),
            username: "neo4j".to_owned(),
            password: Secret::new("admin"),
            address: "localhost".to_owned(),
            port: 7687,
            database: None,
            policy: None,
            tls_enabled: false,
            tls_insecure: false,
            tls_ca_file: None,
            query_size_limit: 5000,
            max_depth_search_hierarchy: 5,
            retry_limit: 3,
            max_concurrent_queries: 0,
            max_concurrent_queries_delay: 0.01,
            pool_size: 16,
            query_timeout: 60,
            startup_timeout: 60,
        }
    }
}

impl DatabaseSettings {
    /// Returns the port to connect to (`port`, default 7687).
    pub fn service_port(&self) -> u16 {
        self.port
    }

    /// Returns the connection URI, `<protocol>://<address>:<port>[?policy=<policy>]`.
    pub fn database_uri(&self) -> String {
        let base = format!("{}://{}:{}", self.protocol, self.address, self.port);
        match &self.policy {
            Some(policy) => format!("{base}?policy={policy}"),
            None => base,
        }
    }

    /// Returns the database name: `database` when set, else the name of `db_type`.
    pub fn database_name(&self) -> &str {
        self.database
            .as_deref()
            .unwrap_or_else(|| self.db_type.as_str())
    }

    /// Returns true when the graph lives in this process (no Bolt connection).
    pub fn is_embedded(&self) -> bool {
        self.db_type == DatabaseType::Embedded
    }

    /// The Bolt connection settings of `db_type = neo4j`.
    ///
    /// `protocol` `bolt+s` turns TLS on (verified with `tls_ca_file` when given, else the
    /// system's roots) and `bolt+ssc` turns it on without verification, as `tls_enabled` and
    /// `tls_insecure` do. The database is `database_name()`.
    ///
    /// # Errors
    ///
    /// A message naming the key for what the Bolt backend cannot honour: another `db_type`
    /// (`memgraph`: the backend speaks only the Neo4j 5 dialect for now), a `neo4j` protocol
    /// (client-side routing) or an unknown one, a routing `policy`, `tls_ca_file` or
    /// `tls_insecure` without TLS, or both together.
    pub fn bolt_config(&self) -> Result<BoltConfig, String> {
        match self.db_type {
            DatabaseType::Neo4j => {}
            DatabaseType::Memgraph => {
                return Err(
                    "database.db_type = memgraph is not supported yet: the Bolt backend \
                     speaks the Neo4j 5 dialect only (use `neo4j` for Neo4j 5 or ArcadeDB)"
                        .to_owned(),
                );
            }
            DatabaseType::Embedded => {
                return Err("database.db_type = embedded has no Bolt connection".to_owned());
            }
        }
        let (protocol_tls, protocol_insecure) = match self.protocol.as_str() {
            "bolt" => (false, false),
            "bolt+s" => (true, false),
            "bolt+ssc" => (true, true),
            "neo4j" | "neo4j+s" | "neo4j+ssc" => {
                return Err(format!(
                    "database.protocol = {}: client-side routing (`neo4j` schemes) is not \
                     supported: use `bolt`, `bolt+s` or `bolt+ssc`",
                    self.protocol
                ));
            }
            other => {
                return Err(format!(
                    "database.protocol = {other}: unsupported, expected `bolt`, `bolt+s` or `bolt+ssc`"
                ));
            }
        };
        if let Some(policy) = &self.policy {
            return Err(format!(
                "database.policy = {policy}: routing policies need client-side routing, which \
                 the Bolt backend does not do; unset it"
            ));
        }
        let enabled = protocol_tls || self.tls_enabled;
        let insecure = protocol_insecure || self.tls_insecure;
        if !enabled && (insecure || self.tls_ca_file.is_some()) {
            return Err(
                "database.tls_insecure and database.tls_ca_file need database.tls_enabled = true \
                 (or protocol `bolt+s` / `bolt+ssc`)"
                    .to_owned(),
            );
        }
        if insecure && self.tls_ca_file.is_some() {
            return Err(
                "database.tls_ca_file and an unverified connection (tls_insecure or `bolt+ssc`) \
                 exclude each other"
                    .to_owned(),
            );
        }
        let mut tls = BoltTlsConfig::disabled();
        tls.enabled = enabled;
        tls.insecure = insecure;
        tls.ca_file = self.tls_ca_file.clone();
        let mut config = BoltConfig::new(self.address.clone(), self.port);
        config.username = self.username.clone();
        config.password = self.password.expose().to_owned();
        config.database = Some(self.database_name().to_owned());
        config.tls = tls;
        config.pool_size = usize::try_from(self.pool_size).unwrap_or(usize::MAX).max(1);
        config.query_timeout = Duration::from_secs(self.query_timeout.max(1));
        config.retry_limit = u32::try_from(self.retry_limit).unwrap_or(u32::MAX);
        config.startup_wait = Duration::from_secs(self.startup_timeout);
        Ok(config)
    }
}

/// Returns true for a valid database name: `^[a-z][a-z0-9.]+$`.
pub(crate) fn is_valid_database_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_except_the_embedded_engine() {
        let db = DatabaseSettings::default();
        assert_eq!(db.db_type, DatabaseType::Embedded);
        assert_eq!(db.protocol, "bolt");
        assert_eq!(db.username, "neo4j");
        assert_eq!(db.password.expose(), "admin");
        assert_eq!(db.address, "localhost");
        assert_eq!(db.port, 7687);
        assert_eq!(db.query_size_limit, 5000);
        assert_eq!(db.max_depth_search_hierarchy, 5);
        assert_eq!(db.retry_limit, 3);
        assert_eq!(db.max_concurrent_queries, 0);
        assert!((db.max_concurrent_queries_delay - 0.01).abs() < f64::EPSILON);
        assert!(!db.tls_enabled && !db.tls_insecure && db.tls_ca_file.is_none());
    }

    #[test]
    fn uri_and_name_are_derived() {
        let mut db = DatabaseSettings {
            db_type: DatabaseType::Neo4j,
            ..DatabaseSettings::default()
        };
        assert_eq!(db.database_uri(), "bolt://localhost:7687");
        assert_eq!(db.database_name(), "neo4j");
        assert_eq!(db.service_port(), 7687);
        db.policy = Some("eu".to_owned());
        db.database = Some("infrahub".to_owned());
        assert_eq!(db.database_uri(), "bolt://localhost:7687?policy=eu");
        assert_eq!(db.database_name(), "infrahub");
        assert!(!db.is_embedded());
        assert!(DatabaseSettings::default().is_embedded());
    }

    #[test]
    fn database_names_follow_upstream_pattern() {
        for valid in ["neo4j", "infrahub", "my.db2"] {
            assert!(is_valid_database_name(valid), "{valid}");
        }
        for invalid in ["", "a", "Neo4j", "1db", "my-db", "my_db"] {
            assert!(!is_valid_database_name(invalid), "{invalid}");
        }
    }

    fn neo4j() -> DatabaseSettings {
        DatabaseSettings {
            db_type: DatabaseType::Neo4j,
            ..DatabaseSettings::default()
        }
    }

    #[test]
    fn every_connection_key_reaches_the_bolt_config() {
        let db = DatabaseSettings {
            address: "db.internal".to_owned(),
            port: 7000,
            username: "infra".to_owned(),
            password: Secret::new("s3cret"),
            database: Some("graph".to_owned()),
            tls_enabled: true,
            tls_ca_file: Some(PathBuf::from("/certs/ca.pem")),
            pool_size: 4,
            query_timeout: 9,
            retry_limit: 7,
            startup_timeout: 2,
            ..neo4j()
        };
        let config = db.bolt_config().unwrap();
        assert_eq!(config.address, "db.internal");
        assert_eq!(config.port, 7000);
        assert_eq!(config.username, "infra");
        assert_eq!(config.password, "s3cret");
        assert_eq!(config.database.as_deref(), Some("graph"));
        assert_eq!(config.tls, BoltTlsConfig::with_ca_file("/certs/ca.pem"));
        assert_eq!(config.pool_size, 4);
        assert_eq!(config.query_timeout, Duration::from_secs(9));
        assert_eq!(config.retry_limit, 7);
        assert_eq!(config.startup_wait, Duration::from_secs(2));
        // Defaults: plain TCP, the database named after db_type, 60 s waits.
        let config = neo4j().bolt_config().unwrap();
        assert_eq!(config.tls, BoltTlsConfig::disabled());
        assert_eq!(config.database.as_deref(), Some("neo4j"));
        assert_eq!(config.username, "neo4j");
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.startup_wait, Duration::from_secs(60));
    }

    #[test]
    fn the_protocol_selects_tls() {
        let with = |protocol: &str, insecure: bool| DatabaseSettings {
            protocol: protocol.to_owned(),
            tls_insecure: insecure,
            tls_enabled: insecure,
            ..neo4j()
        };
        assert_eq!(
            with("bolt+s", false).bolt_config().unwrap().tls,
            BoltTlsConfig::system_roots()
        );
        assert_eq!(
            with("bolt+ssc", false).bolt_config().unwrap().tls,
            BoltTlsConfig::insecure()
        );
        assert_eq!(
            with("bolt", true).bolt_config().unwrap().tls,
            BoltTlsConfig::insecure()
        );
    }

    #[test]
    fn what_the_bolt_backend_cannot_honour_is_refused() {
        let cases = [
            (
                DatabaseSettings {
                    db_type: DatabaseType::Memgraph,
                    ..neo4j()
                },
                "memgraph",
            ),
            (DatabaseSettings::default(), "embedded"),
            (
                DatabaseSettings {
                    protocol: "neo4j".to_owned(),
                    ..neo4j()
                },
                "client-side routing",
            ),
            (
                DatabaseSettings {
                    protocol: "neo4j+s".to_owned(),
                    ..neo4j()
                },
                "client-side routing",
            ),
            (
                DatabaseSettings {
                    protocol: "http".to_owned(),
                    ..neo4j()
                },
                "unsupported",
            ),
            (
                DatabaseSettings {
                    policy: Some("eu".to_owned()),
                    ..neo4j()
                },
                "database.policy",
            ),
            (
                DatabaseSettings {
                    tls_insecure: true,
                    ..neo4j()
                },
                "need database.tls_enabled",
            ),
            (
                DatabaseSettings {
                    tls_ca_file: Some(PathBuf::from("/ca.pem")),
                    ..neo4j()
                },
                "need database.tls_enabled",
            ),
            (
                DatabaseSettings {
                    protocol: "bolt+ssc".to_owned(),
                    tls_ca_file: Some(PathBuf::from("/ca.pem")),
                    ..neo4j()
                },
                "exclude each other",
            ),
        ];
        for (db, expected) in cases {
            let err = db.bolt_config().unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(!err.contains("admin"), "{err}");
        }
    }

    #[test]
    fn engine_names_round_trip() {
        assert_eq!(DatabaseType::NAMES, ["embedded", "neo4j", "memgraph"]);
        let parsed: DatabaseType = serde_json::from_str("\"memgraph\"").unwrap();
        assert_eq!(parsed, DatabaseType::Memgraph);
        assert_eq!(DatabaseType::Neo4j.to_string(), "neo4j");
    }
}
