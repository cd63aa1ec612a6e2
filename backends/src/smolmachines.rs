//! The smolmachines backend: the agent in a libkrun microVM driven through the `smolvm` CLI,
//! configured by a rendered Smolfile; the bundle and fixtures in Docker. See
//! `docs/backends/smolmachines.md`.

pub mod availability;
pub mod cache;
pub mod cli;
pub mod lifecycle;
pub mod smolfile;
pub mod uid_drop;

pub use lifecycle::SmolBackend;
