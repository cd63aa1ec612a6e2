//! What every family's builder plans from ([`Inputs`]: the topology, this machine, the
//! timeouts, the proxy's configuration), and the one way a builder says a catalogue probe is not
//! its own. Its own module so that the family modules depend on it and `build` on them, never
//! the reverse.

use std::net::SocketAddr;

use bottle_backends::Topology;

use super::model::HostSide;
use crate::config::{ProxyConfig, TimeoutConfig};

/// What every family's builder plans from.
pub(super) struct Inputs<'a> {
    pub topology: &'a Topology,
    pub host: &'a HostSide,
    pub timeouts: &'a TimeoutConfig,
    /// How the proxy's refusals look (`bottle.toml`'s `[proxy]`).
    pub proxy: &'a ProxyConfig,
}

impl Inputs<'_> {
    /// pipelock, where the proxy attempts go: the bundle's proxy port, as the agent reaches it.
    pub fn pipelock(&self) -> SocketAddr {
        let bundle = self.topology.bundle_as_reached();
        SocketAddr::new(bundle.ip.into(), bundle.pipelock)
    }
}

/// The message for a catalogue probe that its family's builder does not know.
pub(super) fn no_plan(id: &str) -> ! {
    unreachable!("probe {id} has no plan: add it to its family's module in plan/")
}
