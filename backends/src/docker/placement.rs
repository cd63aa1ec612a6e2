//! Where a bottle's agent runs, and so which agent side its topology gets: the docker
//! backend's own container, or a microVM whose backend built its side (smolmachines).

use std::net::Ipv4Addr;

use crate::topology::{AgentSide, PublishedBundle, PublishedPort};

/// Where the agent runs: in a container on the agent network (docker backend), or outside
/// Docker (a microVM whose only allowed peer is the bundle), with the agent's side its backend
/// built for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AgentPlacement {
    Container,
    External {
        side: AgentSide,
        /// Where the agent reaches the bundle's ports when they are published on this
        /// machine's loopback (smolvm's desktop mode: its gateway); None: at the bundle's
        /// address on the agent network.
        published_via: Option<Ipv4Addr>,
    },
}

impl AgentPlacement {
    pub(crate) fn in_container(&self) -> bool {
        matches!(self, AgentPlacement::Container)
    }

    /// Whether the bundle's declared ports are published on this machine's loopback.
    pub(crate) fn publishes_bundle(&self) -> bool {
        self.published_via().is_some()
    }

    /// Where the agent reaches the bundle's published ports, when they are published.
    pub(crate) fn published_via(&self) -> Option<Ipv4Addr> {
        match self {
            AgentPlacement::Container => None,
            AgentPlacement::External { published_via, .. } => *published_via,
        }
    }

    /// The agent's side of the bottle's topology, with the bundle's `published` ports (as the
    /// engine picked them) where they are published.
    pub(crate) fn agent_side(&self, published: Vec<PublishedPort>) -> AgentSide {
        match self {
            AgentPlacement::Container => AgentSide::container(),
            AgentPlacement::External {
                side,
                published_via,
            } => AgentSide {
                bundle_published: published_via.map(|via| PublishedBundle {
                    via,
                    ports: published,
                }),
                ..side.clone()
            },
        }
    }
}
