#![doc = include_str!("../README.md")]

#[cfg(feature = "neo4j")]
mod bolt;
mod branch;
mod change;
mod changeset;
mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod limit;
#[cfg(any(feature = "embedded", feature = "neo4j"))]
mod merge_rules;
mod model;
mod query;
mod store;
mod time;

#[cfg(feature = "neo4j")]
pub use bolt::{BoltClient, BoltFuture, BoltTransaction};
#[cfg(feature = "neo4j")]
pub use bolt::{BoltConfig, BoltTlsConfig, Neo4jGraph};
pub use branch::{BranchRecord, BranchView, CreateBranchOptions, Epoch, GLOBAL_BRANCH};
pub use change::{BranchOperation, Change, MergeOptions, RebaseOptions, SlotProperty};
pub use changeset::{Changeset, Commit, Condition, Op, UniqueField};
pub use config::{GraphConfig, connect};
#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedGraph, EmbeddedGraphOptions};
pub use error::{Error, ErrorKind, Result};
pub use limit::ConcurrencyLimit;
pub use model::{
    AttributeState, AttributeValue, LinkProperties, LinkState, NodeData, NodeId, Scope, Side, Slot,
    Status, Version, VersionData, new_node_id,
};
pub use query::{
    Filter, LinkSelection, Match, NodeQuery, OrderBy, Property, QueryResult, Selection,
};
pub use store::GraphStore;
pub use time::{Timestamp, TimestampError};
