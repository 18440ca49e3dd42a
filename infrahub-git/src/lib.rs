#![doc = include_str!("../README.md")]

pub mod manifest;
pub mod repository;
