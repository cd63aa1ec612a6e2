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
    /// Where it does not, a forwarded name would leave unseen, so the resolver-exfiltration
    /// probes cannot be judged (and are skipped).
    #[serde(default = "owned_by_default")]
    pub resolver_owned: bool,
    /// The host as the agent sees it through its VMM's gateway (smolvm: `host.smolvm.internal`,
    /// 100.96.0.1); the localhost probes also aim there. None for containers.
    #[serde(default, rename = "guest_host_gateway")]
    pub host_gateway: Option<Ipv4Addr>,
    /// Who completes the agent's TCP handshakes: the destination (a kernel's stack, as for a
    /// container), or the VMM's relay, which accepts the guest's SYN itself and only then
    /// connects onward (smolvm's virtio-net stack). Under a relay a completed handshake is not
    /// reach; the verdicts read the stream's end and the targets' records instead.
    #[serde(default, rename = "agent_tcp_handshake")]
    pub handshake: Handshake,
    /// Whether the VMM answers the agent's DNS over UDP to *every* address itself and forwards
    /// what its filter lets through to its upstream (smolvm: `stack.rs` classifies UDP/53 to
    /// any IP as a DNS query). A direct query's answer is then the VMM's, not the addressed
    /// resolver's: only that resolver's records say whether the query reached it.
    #[serde(default, rename = "agent_dns_intercepted")]
    pub dns_intercepted: bool,
    /// Where the agent reaches the bundle when not at the bundle's address on the agent
    /// network: smolvm's desktop mode, where the bundle's declared ports are published on this
    /// machine's loopback and the guest dials them through its VMM's gateway (which smolvm
    /// relays to this machine's loopback). None: at the bundle's own address.
    #[serde(
        default,
        rename = "agent_bundle_published",
        skip_serializing_if = "Option::is_none"
    )]
    pub bundle_published: Option<PublishedBundle>,
}

/// The bundle's declared ports as an agent outside Docker reaches them through its VMM's
/// gateway: each published on this machine's loopback, on a port the engine picked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedBundle {
    /// The address the agent dials (smolvm's gateway, `host.smolvm.internal`).
    pub via: Ipv4Addr,
    pub ports: Vec<PublishedPort>,
}

/// One published port: the bundle's own, and its number on this machine's loopback (and so at
/// the VMM's gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub bundle: u16,
    pub host: u16,
}

impl PublishedBundle {
    /// The number at which the bundle's `port` is reached, if it is published.
    pub fn host_port(&self, port: u16) -> Option<u16> {
        self.ports.iter().find(|p| p.bundle == port).map(|p| p.host)
    }
}

/// Who completes a TCP handshake the agent starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handshake {
    /// The destination's own stack: a completed handshake means something listens there.
    #[default]
    Destination,
    /// A relay between the agent and the network (smolvm's user-space stack: `src/network/`
    /// of smol-machines/smolvm accepts the guest's connection, then connects onward and resets
    /// the guest's connection when that fails or its egress policy denies the destination).
    Relay,
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
            handshake: Handshake::Destination,
            dns_intercepted: false,
            bundle_published: None,
        }
    }

    /// A microVM agent of `backend` behind its VMM's user-space network stack: the host through
    /// the VMM's `gateway`, which is also the guest's resolver (the VMM answers DNS there and
    /// forwards it to an upstream the backend sets to the DNS canary, so the harness owns it),
    /// TCP handshakes completed by the VMM's relay, and DNS over UDP intercepted at every
    /// address.
    pub fn microvm(backend: &str, gateway: Ipv4Addr) -> Self {
        Self {
            backend: backend.into(),
            resolver: Some(SocketAddr::new(gateway.into(), 53)),
            resolver_owned: true,
            host_gateway: Some(gateway),
            handshake: Handshake::Relay,
            dns_intercepted: true,
            bundle_published: None,
        }
    }
}
