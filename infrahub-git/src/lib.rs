#![doc = include_str!("../README.md")]

pub mod fragments;
pub mod jinja;
pub mod manifest;
pub mod repository;
