//! Who sent a record, as far as its peer address tells: the agent, the bundle, or neither; and
//! the two sightings of the bundle's own path (a request it forwarded from its upstream leg,
//! pipelock reaching egress over its loopback). Its own module because the attribution
//! (`records`), the side channel, the controls, fronting, deliveries and the SSRF rule all ask
//! it, and none may depend on another for it.

use std::net::IpAddr;

use bottle_fixtures::records::FixtureName;
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

/// Whether `record` came from the bundle's upstream leg (what pipelock forwarded).
pub(crate) fn from_bundle(plan: &Plan, record: &Record) -> bool {
    record.peer.ip() == IpAddr::V4(plan.bundle_upstream_ip)
}

/// Whether `record` is egress seeing pipelock over the bundle's loopback.
pub(crate) fn at_egress(record: &Record) -> bool {
    record.fixture == FixtureName::Bundle && record.peer.ip().is_loopback()
}

/// The sender of `record`, by its peer address.
pub(crate) fn source_of(plan: &Plan, record: &Record) -> Source {
    match record.peer.ip().to_canonical() {
        IpAddr::V4(ip) if plan.agent_ips.contains(&ip) => Source::Agent,
        IpAddr::V4(ip) if ip == plan.bundle_upstream_ip || ip == plan.bundle_ip => Source::Bundle,
        _ => Source::Other,
    }
}
