//! `[database]`: the graph database.

use std::path::PathBuf;

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
    /// Connection protocol (`bolt`, `bolt+s`, `neo4j`, ...). Default `bolt`; env
    /// `INFRAHUB_DB_PROTOCOL`.
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
    /// Routing policy appended to the URI as `?policy=`. Default unset; env
    /// `INFRAHUB_DB_POLICY`.
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
    /// Queries that may run at once, `0` for no limit. Default `0`; env
    /// `INFRAHUB_DB_MAX_CONCURRENT_QUERIES`.
    pub max_concurrent_queries: u64,
    /// Seconds to wait when `max_concurrent_queries` is reached, at least 0. Default `0.01`;
    /// env `INFRAHUB_DB_MAX_CONCURRENT_QUERIES_DELAY`.
    pub max_concurrent_queries_delay: f64,
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

    #[test]
    fn engine_names_round_trip() {
        assert_eq!(DatabaseType::NAMES, ["embedded", "neo4j", "memgraph"]);
        let parsed: DatabaseType = serde_json::from_str("\"memgraph\"").unwrap();
        assert_eq!(parsed, DatabaseType::Memgraph);
        assert_eq!(DatabaseType::Neo4j.to_string(), "neo4j");
    }
}
