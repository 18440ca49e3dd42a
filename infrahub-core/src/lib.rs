#![doc = include_str!("../README.md")]

mod error;
pub mod schema;
pub mod value;

pub use error::{Error, ErrorKind, Result};
