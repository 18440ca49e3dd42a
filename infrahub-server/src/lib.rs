#![doc = include_str!("../README.md")]

pub mod account;
pub mod app;
mod artifact_refresh;
pub mod auth;
pub mod cluster;
pub mod config;
mod deadline;
pub mod graphql;
pub mod rest;
mod server;
mod state;
mod ui;

pub use server::{
    Role, ServeError, bind, build_state, build_state_as, deployment_id, serve, serve_app,
    serve_state,
};
pub use state::{AppState, TaskSetup};
