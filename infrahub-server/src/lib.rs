#![doc = include_str!("../README.md")]

pub mod app;
pub mod config;
mod server;

pub use server::{ServeError, bind, deployment_id, serve};
