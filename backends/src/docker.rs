//! The docker backend: bottles as containers on per-bottle bridge networks, driven through
//! bollard (never the docker CLI). See `docs/backends/docker.md` for what Docker can and cannot
//! enforce.

mod cleanup;
mod client;
mod exec;
mod images;
mod launch;
mod records;

pub use client::DockerBackend;
