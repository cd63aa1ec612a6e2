//! The docker backend: bottles as containers on per-bottle bridge networks, driven through
//! bollard (never the docker CLI). See `docs/backends/docker.md` for what Docker can and cannot
//! enforce.
//!
//! A bring-up flows `subnets` -> `plan` (networks) -> `addresses` (the layout) -> `layout`
//! (containers, with `commands`) -> `bring_up` (through `create`, then `routes`); `attach` finds a bottle again.

pub(crate) mod addresses;
pub(crate) mod attach;
pub(crate) mod bring_up;
pub(crate) mod bundle_state;
pub(crate) mod checker;
pub(crate) mod cleanup;
pub(crate) mod client;
pub(crate) mod commands;
pub(crate) mod create;
pub(crate) mod exec;
pub(crate) mod images;
pub(crate) mod layout;
pub(crate) mod placement;
pub(crate) mod plan;
pub(crate) mod published;
pub(crate) mod readiness;
pub(crate) mod records;
pub(crate) mod roles;
pub(crate) mod routes;
pub(crate) mod subnets;
pub(crate) mod vantage;

pub use client::DockerBackend;
pub use subnets::FAULT_TAKEN_SUBNET_ENV;
