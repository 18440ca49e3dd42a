//! The Bolt backend (Neo4j 5, Memgraph, ArcadeDB) over `neo4rs`: feature `neo4j`.
//!
//! `connection` is the layer the store runs on: a pooled client that waits for the server at
//! startup, runs Cypher with JSON parameters inside explicit transactions, retries transient
//! failures a bounded number of times and maps server errors to this crate's [`Error`]. No
//! `neo4rs` type leaves this module.
//!
//! The driver is `neo4rs` 0.9.0-rc.11, pinned exactly because it is a pre-release: it
//! negotiates Bolt 4.4 (0.8 stops at 4.0, which Neo4j marks as removable while 4.4 stays
//! supported), bounds connection set-up with a timeout and keeps TCP keepalive on, and verifies
//! TLS with the system's roots, a given CA file, or not at all.
//!
//! [`Error`]: crate::Error

mod config;
mod connection;
mod dialect;
mod store;
mod value;

pub use config::{BoltConfig, BoltTlsConfig};
pub use connection::{BoltClient, BoltFuture, BoltTransaction};
pub use store::Neo4jGraph;
