//! What the harness planned for a bottle: its networks, the addresses pinned inside them, the
//! fixture hosts, names and ports. The only part of a [`super::Topology`] stored in the label on
//! the bundle container, so that a later `probe --bottle ID` finds it again (and checks it
//! against the engine before sending anything).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::spec::Ports;

/// One network the bottle owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub name: String,
    /// `a.b.c.0/24`.
    pub subnet: String,
    /// The gateway address Docker's IPAM gave the network. On the agent network with the host
    /// block in place the host does not hold it; on the others the host does.
    pub gateway: Ipv4Addr,
    /// Whether the host holds the gateway address (false when `inhibit_ipv4` is set).
    pub host_has_gateway: bool,
    /// The IPv6 subnet and the gateway (a host address) when the network has IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_v6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_v6: Option<Ipv6Addr>,
}

/// A fixture host the harness started in place of the outside world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureHost {
    /// `public`, `lan`, `dns`, `neighbour` or `metadata`: the `fixture` field of its records.
    pub name: String,
    pub ip: Ipv4Addr,
    /// TCP ports it listens on (DNS: 53 over UDP and TCP).
    pub ports: Vec<u16>,
}

/// The bottle as the harness planned it: every address here was chosen by the harness (pinned
/// inside subnets it created) before anything started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub run_id: String,
    pub agent_network: NetworkInfo,
    pub upstream_network: NetworkInfo,
    pub lan_network: NetworkInfo,
    pub agent_ip: Ipv4Addr,
    /// Further agent addresses (only when sabotaged onto another network).
    #[serde(default)]
    pub agent_extra_ips: Vec<Ipv4Addr>,
    /// The bundle's address on the agent network (the agent's only peer).
    pub bundle_ip: Ipv4Addr,
    /// The bundle's address on the upstream network.
    pub bundle_upstream_ip: Ipv4Addr,
    /// The name the agent uses for the bundle (resolves through the agent's own resolver).
    pub bundle_name: String,
    pub ports: Ports,
    pub public: FixtureHost,
    pub lan: FixtureHost,
    pub dns: FixtureHost,
    /// Names pipelock allows / refuses; both resolve to the public host on the upstream side.
    pub allowed_host: String,
    pub denied_host: String,
    /// The harness's switch of the allowed name's answer at the DNS canary, when the bottle has
    /// one (a LAN host's internal leg to lead it to): the SSRF probes run after the others, on
    /// the name the proxy's positive controls showed it allows, led to `lan_internal_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_switch: Option<DnsSwitch>,
    /// The LAN host's address on the network the bundle shares with the metadata fixture: a
    /// private address the bundle can reach, where the switched name leads (SSRF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan_internal_ip: Option<Ipv4Addr>,
    /// Where the engine runs relative to this machine: under Docker Desktop the networks'
    /// gateways are the engine VM's addresses, not this machine's.
    #[serde(default)]
    pub engine_host: crate::platform::EngineHost,
    /// The public fixture host's IPv6 address, on a network of its own that only it joins (so
    /// the bundle's proxied path stays IPv4 and unchanged), when the engine can make one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_v6: Option<Ipv6Addr>,
    /// That network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_v6_network: Option<NetworkInfo>,
    /// A second bottle's bundle (a canary on the bundle's service ports) on its own agent
    /// network: no agent may reach another bottle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour: Option<FixtureHost>,
    /// The neighbour's own agent network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour_network: Option<NetworkInfo>,
    /// The neighbour's address on the upstream network (where the harness checks it is alive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour_upstream_ip: Option<Ipv4Addr>,
    /// The cloud-metadata fixture (169.254.169.254, port 80) when the bottle has one: held as a
    /// secondary address by a fixture on the upstream network, with the bundle's route to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<FixtureHost>,
    /// The metadata fixture's own upstream address (where the harness checks it is alive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_upstream_ip: Option<Ipv4Addr>,
    /// The metadata fixture's address on the network it shares with the bundle only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_leg_ip: Option<Ipv4Addr>,
    /// That network (bundle and metadata fixture only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_network: Option<NetworkInfo>,
    /// The agent's IPv6 address when its network has IPv6 (only when sabotaged): this machine
    /// dials the inbound listener there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_ip_v6: Option<Ipv6Addr>,
    /// The port of the agent's inbound listener, which the fixture hosts keep dialling (the
    /// public host also at the agent's upstream address, the neighbour at its neighbour-network
    /// address, where those exist only in sabotaged bottles). None: nothing dials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_port: Option<u16>,
    /// Why there is no metadata fixture, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_unavailable: Option<String>,
    /// The addresses of the harness's checker container on the fixture networks, when the
    /// bottle has one (the engine is not on this machine, see `EngineHost::routes_to_bridges`):
    /// the fixture hosts' liveness checks are sent from there, so every record from these
    /// addresses is the harness's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checker_ips: Vec<IpAddr>,
    /// The checker's own network (not `internal`, only the checker on it): its way to the
    /// engine's host-gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker_network: Option<NetworkInfo>,
    /// The port of the harness's recorder on the bundle's own loopback (every loopback
    /// address of the bundle's network namespace, `ContainerRole::Recorder` in the docker
    /// backend), when the bottle has one: a proxy that forwards a request to itself leaves a
    /// record there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_loopback_port: Option<u16>,
    /// The bundle's published leg (only the bundle on it, not `internal`), when its declared
    /// ports are published on this machine's loopback (smolvm's desktop mode), and the bundle's
    /// address there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_network: Option<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_published_ip: Option<Ipv4Addr>,
    /// Where the agent reaches the bundle instead of its address on the agent network, when
    /// its ports are published (smolvm's desktop mode: the VMM's gateway). The DNS canary
    /// answers the bundle's name with it: smolvm lets the guest reach every address its DNS
    /// filter forwarded an answer for, so answering with the bundle's own address would open
    /// that address to the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_via: Option<Ipv4Addr>,
    /// Whether the bottle was built with deliberate breakage (recorded in reports).
    pub sabotaged: bool,
}

/// The name whose answer the DNS canary switches when the harness asks
/// (`bottle_fixtures::dns_canary::DnsMode`), and the secret a switch query must carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSwitch {
    pub name: String,
    pub secret: String,
}

impl Layout {
    /// Every network the bottle owns (the neighbour's too).
    pub fn networks(&self) -> Vec<&NetworkInfo> {
        let mut networks = vec![
            &self.agent_network,
            &self.upstream_network,
            &self.lan_network,
        ];
        networks.extend(self.neighbour_network.iter());
        networks.extend(self.public_v6_network.iter());
        networks.extend(self.metadata_network.iter());
        networks.extend(self.checker_network.iter());
        networks.extend(self.published_network.iter());
        networks
    }
}
