//! The harness's own side of the network: canaries on this machine, this machine's addresses,
//! liveness checks the harness makes from here against every target it owns, and the dialer
//! that tries the agent's inbound listener from this machine.
//!
//! A liveness check is what lets a "the agent could not reach X" verdict mean something: X was
//! up and answering, seen from outside the bottle, at the same time.

mod addresses;
mod ask_dns;
mod canaries;
mod dialer;
mod liveness;

pub(crate) use addresses::{
    all_host_addresses, host_addresses, host_addresses_v6, host_subnets_v4,
};
pub(crate) use ask_dns::ask_dns_udp;
pub use canaries::HostCanaries;
pub(crate) use dialer::HostDialer;
pub(crate) use liveness::send_liveness;
pub use liveness::{liveness_checks, CheckFrom, CheckKind, LivenessCheck};
