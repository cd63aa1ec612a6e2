//! The docker backend: bottles as containers on per-bottle bridge networks, driven through
//! bollard (never the docker CLI). See `docs/backends/docker.md` for what Docker can and cannot
//! enforce.

pub(crate) mod cleanup;
pub(crate) mod client;
pub(crate) mod exec;
pub(crate) mod images;
pub(crate) mod launch;
pub(crate) mod records;

pub use client::DockerBackend;
pub use launch::FAULT_TAKEN_SUBNET_ENV;
