//! Turning the catalogue into concrete attempts for one bottle: addresses from the topology and
//! the host, a fresh nonce per attempt, and the harness-owned target each attempt depends on.
//!
//! [`build`] walks the catalogue and hands each probe to the builder of its family (one module
//! per family); `attempts::Attempts` gives every attempt its id, stage, timeout and
//! nonce, in the order the probe's builder adds them.

mod attempts;
mod build;
mod inputs;
mod model;

mod cross_bottle;
mod dns;
mod egress_bypass;
mod host_gateway;
mod icmp;
mod inbound;
mod ipv6;
mod lan;
mod localhost;
mod metadata;
mod proxy;
mod proxy_matching;
mod public;
mod udp;

pub use build::build;
pub use model::{Delivery, DnsRun, HostGatewayRoute, HostSide, Plan, PlannedAttempt, PlannedProbe};
