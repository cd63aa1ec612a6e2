//! Where a bottle's agent runs, and so which agent side its topology gets: the docker
//! backend's own container, or a microVM whose backend built its side (smolmachines).

use crate::topology::AgentSide;

/// Where the agent runs: in a container on the agent network (docker backend), or outside
/// Docker (a microVM whose only allowed peer is the bundle), with the agent's side its backend
/// built for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AgentPlacement {
    Container,
    External(AgentSide),
}

impl AgentPlacement {
    pub(crate) fn in_container(&self) -> bool {
        matches!(self, AgentPlacement::Container)
    }

    /// The agent's side of the bottle's topology.
    pub(crate) fn agent_side(&self) -> AgentSide {
        match self {
            AgentPlacement::Container => AgentSide::container(),
            AgentPlacement::External(side) => side.clone(),
        }
    }
}
