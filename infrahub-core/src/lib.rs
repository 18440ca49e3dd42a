#![doc = include_str!("../README.md")]

pub mod engine;
mod error;
pub mod ipam;
pub mod permissions;
pub mod schema;
pub mod value;

pub use error::{Error, ErrorKind, Result, bounded_message};
