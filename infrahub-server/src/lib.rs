#![doc = include_str!("../README.md")]

pub mod account;
pub mod app;
pub mod auth;
pub mod config;
pub mod graphql;
pub mod rest;
mod server;
mod state;

pub use server::{ServeError, bind, build_state, deployment_id, serve};
pub use state::AppState;
