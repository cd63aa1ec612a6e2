//! Who sent a record, as far as its peer address tells: the agent, the bundle, or neither. Its
//! own module because both the attribution (`records`) and the side channel (`side_channel`)
//! ask it, and neither may depend on the other for it.

use std::net::IpAddr;

use bottle_fixtures::Record;

use crate::plan::Plan;

/// Who sent a record, as far as its peer address tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Agent,
    Bundle,
    /// Neither (NAT, this machine, a fixture host): it may still be the agent behind a
    /// translation, so it is charged as the agent's.
    Other,
}

impl Source {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::Agent => "the agent",
            Source::Bundle => "the bundle",
            Source::Other => "neither the agent's nor the bundle's address",
        }
    }
}

/// The sender of `record`, by its peer address.
pub(crate) fn source_of(plan: &Plan, record: &Record) -> Source {
    match record.peer.ip().to_canonical() {
        IpAddr::V4(ip) if plan.agent_ips.contains(&ip) => Source::Agent,
        IpAddr::V4(ip) if ip == plan.bundle_upstream_ip || ip == plan.bundle_ip => Source::Bundle,
        _ => Source::Other,
    }
}
