//! The agent's side of a bottle: a container on the agent network or a microVM behind its
//! VMM's network stack. Each backend builds its own (at launch and at attach alike); the
//! harness plans the resolver and localhost probes from it.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Docker's embedded DNS on user-defined networks, the resolver of every container agent.
const DOCKER_EMBEDDED_DNS: &str = "127.0.0.11:53";

/// What kind of agent the bottle has, and what that decides about its resolver and its way to
/// the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSide {
    /// The backend that runs the agent (`docker`, `smolmachines`), as reports name it.
    pub backend: String,
    /// The resolver the agent is configured with, when the backend knows it; the resolver
    /// probes must have asked exactly this one.
    #[serde(default, rename = "agent_resolver")]
    pub resolver: Option<SocketAddr>,
    /// Whether the agent's resolver forwards only to a harness-owned upstream (the DNS canary).
    /// False under smolvm, which gives the guest the host's resolver: a forwarded name would
    /// leave unseen, so resolver-exfiltration probes cannot be judged.
    #[serde(default = "owned_by_default")]
    pub resolver_owned: bool,
    /// The host as the agent sees it through its VMM's gateway (smolvm: `host.smolvm.internal`,
    /// 100.96.0.1); the localhost probes also aim there. None for containers.
    #[serde(default, rename = "guest_host_gateway")]
    pub host_gateway: Option<Ipv4Addr>,
}

fn owned_by_default() -> bool {
    true
}

impl AgentSide {
    /// A container agent of the docker backend: Docker's embedded DNS, which forwards to the
    /// DNS canary the bundle's network names, and no VMM gateway.
    pub fn container() -> Self {
        Self {
            backend: "docker".into(),
            resolver: Some(
                DOCKER_EMBEDDED_DNS
                    .parse()
                    .expect("a literal socket address"),
            ),
            resolver_owned: true,
            host_gateway: None,
        }
    }

    /// A microVM agent of `backend`: the host through the VMM's `gateway`, and a resolver the
    /// VMM chose (not the harness's).
    pub fn microvm(backend: &str, gateway: Ipv4Addr) -> Self {
        Self {
            backend: backend.into(),
            resolver: None,
            resolver_owned: false,
            host_gateway: Some(gateway),
        }
    }
}
