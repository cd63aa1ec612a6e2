//! A running bottle: its [`Topology`], assembled once from the three kinds of fact (planned,
//! the engine's, the agent's side) and never written afterwards, and the [`Bottle`] handle the
//! backends hand the harness.

use serde::{Deserialize, Serialize};

use super::agent::AgentSide;
use super::engine::EngineView;
use super::layout::{Layout, NetworkInfo};

/// Everything the probes are planned against. Serialised flat (one object with every field)
/// into reports; only the layout goes into the label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    #[serde(flatten)]
    layout: Layout,
    #[serde(flatten)]
    engine: EngineView,
    #[serde(flatten)]
    agent: AgentSide,
}

impl Topology {
    /// The one place a topology is made: a backend calls it once the bottle runs (or was found
    /// again), with the engine's facts read then.
    pub fn assemble(layout: Layout, engine: EngineView, agent: AgentSide) -> Self {
        Self {
            layout,
            engine,
            agent,
        }
    }

    /// What the harness planned.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What the engine says.
    pub fn engine(&self) -> &EngineView {
        &self.engine
    }

    /// The agent's side.
    pub fn agent(&self) -> &AgentSide {
        &self.agent
    }

    /// Every network the bottle owns (the neighbour's too).
    pub fn networks(&self) -> Vec<&NetworkInfo> {
        self.layout.networks()
    }

    /// The bundle as the agent reaches it: at its address on the agent network with its own
    /// port numbers, or (smolvm's desktop mode) through the VMM's gateway at the ports
    /// published for it on this machine's loopback. A declared port left unpublished keeps its
    /// own number there (and nothing of the bundle's answers it).
    pub fn bundle_as_reached(&self) -> BundleAsReached {
        let ports = self.layout.ports;
        match &self.agent.bundle_published {
            None => BundleAsReached {
                ip: self.layout.bundle_ip,
                pipelock: ports.pipelock,
                declared: ports.declared(),
            },
            Some(published) => {
                let at = |port: u16| published.host_port(port).unwrap_or(port);
                let mut declared: Vec<u16> = ports.declared().into_iter().map(at).collect();
                declared.sort_unstable();
                BundleAsReached {
                    ip: published.via,
                    pipelock: at(ports.pipelock),
                    declared,
                }
            }
        }
    }
}

/// Where the agent finds the bundle ([`Topology::bundle_as_reached`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleAsReached {
    /// The address the agent dials.
    pub ip: std::net::Ipv4Addr,
    /// pipelock's port there.
    pub pipelock: u16,
    /// The declared ports' numbers there, sorted: what may answer at `ip`.
    pub declared: Vec<u16>,
}

/// A handle to a running bottle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bottle {
    pub run_id: String,
    pub topology: Topology,
    /// The agent container (docker) or machine (smolmachines) to exec in.
    pub agent_ref: String,
    /// Where the probe binary lives inside the agent.
    pub probe_path: String,
    /// Containers holding fixture records, by fixture name.
    pub fixture_refs: Vec<(String, String)>,
}
