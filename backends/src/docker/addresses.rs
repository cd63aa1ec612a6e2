//! The bottle's [`Layout`] on one attempt's planned networks: every address the probes are
//! planned against, pinned inside the planned subnets (`spec::hosts`), so that it follows from
//! the subnets alone. `layout` turns it into the containers to start.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::plan::PlannedNetwork;
use super::roles::{ContainerRole, NetworkRole};
use super::routes::METADATA_IP;
use super::subnets::v6_host;
use super::vantage::{checker_legs, CheckerLeg};
use crate::spec::{host_in, hosts, BottleSpec};
use crate::topology::{DnsSwitch, FixtureHost, Layout, NetworkInfo};

/// The planned networks as the layout describes them.
struct Networks {
    agent: NetworkInfo,
    upstream: NetworkInfo,
    lan: NetworkInfo,
    neighbour: NetworkInfo,
    public6: NetworkInfo,
    metadata: Option<NetworkInfo>,
    checker: Option<NetworkInfo>,
    published: Option<NetworkInfo>,
}

impl Networks {
    fn from_plan(networks: &[PlannedNetwork]) -> Self {
        let info = |role: NetworkRole| {
            networks
                .iter()
                .find(|n| n.role == role)
                .map(PlannedNetwork::info)
        };
        let network = |role| info(role).expect("plan_networks plans every network but one");
        Self {
            agent: network(NetworkRole::Agent),
            upstream: network(NetworkRole::Upstream),
            lan: network(NetworkRole::Lan),
            neighbour: network(NetworkRole::Neighbour),
            public6: network(NetworkRole::Public6),
            metadata: info(NetworkRole::Metadata),
            checker: info(NetworkRole::Checker),
            published: info(NetworkRole::Published),
        }
    }
}

/// A fixture host's entry in the layout.
fn fixture(name: &str, ip: Ipv4Addr, ports: Vec<u16>) -> FixtureHost {
    FixtureHost {
        name: name.into(),
        ip,
        ports,
    }
}

/// The agent's addresses: where its connections come from and where the fixture hosts dial
/// it back.
struct AgentAddresses {
    ip: Ipv4Addr,
    extra_ips: Vec<Ipv4Addr>,
    ip_v6: Option<Ipv6Addr>,
    inbound_port: Option<u16>,
}

fn agent_addresses(spec: &BottleSpec, in_container: bool, nets: &Networks) -> AgentAddresses {
    let mut extra_ips = Vec::new();
    if spec.sabotage.agent_on_upstream {
        extra_ips.push(host_in(nets.upstream.gateway, hosts::AGENT_UPSTREAM));
    }
    if spec.sabotage.neighbour_reachable {
        extra_ips.push(host_in(nets.neighbour.gateway, hosts::AGENT_NEIGHBOUR));
    }
    AgentAddresses {
        ip: if in_container {
            host_in(nets.agent.gateway, hosts::AGENT)
        } else {
            // The microVM's connections originate from the host's address on this bridge.
            host_in(nets.agent.gateway, 1)
        },
        extra_ips,
        ip_v6: nets
            .agent
            .gateway_v6
            .filter(|_| in_container)
            .map(|gateway| v6_host(gateway, u16::from(hosts::AGENT))),
        inbound_port: in_container.then_some(hosts::INBOUND_PORT),
    }
}

/// The metadata fixture and the LAN host's internal leg, on the network the bundle shares
/// with them.
struct SideAddresses {
    metadata: Option<FixtureHost>,
    metadata_upstream_ip: Option<Ipv4Addr>,
    metadata_leg_ip: Option<Ipv4Addr>,
    lan_internal_ip: Option<Ipv4Addr>,
}

fn side_addresses(with_metadata: bool, nets: &Networks) -> SideAddresses {
    SideAddresses {
        metadata: with_metadata.then(|| fixture("metadata", METADATA_IP, vec![80])),
        metadata_upstream_ip: with_metadata
            .then_some(host_in(nets.upstream.gateway, hosts::METADATA_UPSTREAM)),
        metadata_leg_ip: nets
            .metadata
            .as_ref()
            .filter(|_| with_metadata)
            .map(|n| host_in(n.gateway, hosts::METADATA_UPSTREAM)),
        // The LAN host's second leg: a private address the bundle can reach, where the SSRF
        // probes' allowed names lead.
        lan_internal_ip: nets
            .metadata
            .as_ref()
            .map(|n| host_in(n.gateway, hosts::LAN_INTERNAL)),
    }
}

/// The bundle's address on `network`.
fn bundle_on(network: &NetworkInfo) -> Ipv4Addr {
    host_in(network.gateway, hosts::BUNDLE)
}

/// The checker's addresses on its legs (none without a checker).
fn checker_ips(nets: &Networks) -> Vec<std::net::IpAddr> {
    nets.checker
        .as_ref()
        .map(|own| {
            checker_legs(own, &nets.upstream, &nets.lan, &nets.public6)
                .iter()
                .flat_map(CheckerLeg::addresses)
                .collect()
        })
        .unwrap_or_default()
}

/// The layout the probes are planned against: every address pinned inside the planned subnets.
pub(crate) fn plan_layout(
    spec: &BottleSpec,
    in_container: bool,
    metadata_unavailable: Option<String>,
    networks: &[PlannedNetwork],
) -> Layout {
    let nets = Networks::from_plan(networks);
    let agent = agent_addresses(spec, in_container, &nets);
    let side = side_addresses(metadata_unavailable.is_none(), &nets);
    let upstream_base = nets.upstream.gateway;
    // The public host's IPv6 address lives on a network only it joins (and the harness's
    // checker, where the bottle has one), so no other fixture (and never the bundle) talks
    // IPv6 behind the harness's back. An engine that cannot make IPv6 networks leaves it out,
    // and the IPv6 probe of the public host says so.
    let public_v6 = nets
        .public6
        .subnet_v6
        .as_ref()
        .and(nets.public6.gateway_v6)
        .map(|gateway| v6_host(gateway, u16::from(hosts::PUBLIC)));
    let mut neighbour_ports = spec.ports.declared();
    neighbour_ports.push(spec.ports.egress);
    Layout {
        checker_ips: checker_ips(&nets),
        bundle_loopback_port: Some(hosts::BUNDLE_LOOPBACK_PORT),
        // The SSRF probes' switch, wherever the LAN host has an internal leg to lead to.
        dns_switch: side.lan_internal_ip.map(|_| DnsSwitch {
            name: spec.allowed_host.clone(),
            secret: spec.dns_switch_secret.clone(),
        }),
        lan_internal_ip: side.lan_internal_ip,
        metadata: side.metadata,
        metadata_upstream_ip: side.metadata_upstream_ip,
        metadata_leg_ip: side.metadata_leg_ip,
        metadata_unavailable,
        inbound_port: agent.inbound_port,
        agent_ip_v6: agent.ip_v6,
        run_id: spec.run_id.clone(),
        agent_ip: agent.ip,
        agent_extra_ips: agent.extra_ips,
        bundle_ip: host_in(nets.agent.gateway, hosts::BUNDLE),
        bundle_upstream_ip: host_in(upstream_base, hosts::BUNDLE),
        bundle_name: ContainerRole::Bundle.as_str().into(),
        ports: spec.ports,
        public: fixture(
            "public",
            host_in(upstream_base, hosts::PUBLIC),
            vec![80, 443],
        ),
        // 443 too: the SSRF probes' tunnels ask for the controls' port (see
        // `plan::proxy_matching`), and a proxy without the check must get there.
        lan: fixture(
            "lan",
            host_in(nets.lan.gateway, hosts::LAN),
            vec![80, 22, 443],
        ),
        dns: fixture("dns", host_in(upstream_base, hosts::DNS), vec![53]),
        allowed_host: spec.allowed_host.clone(),
        denied_host: spec.denied_host.clone(),
        engine_host: spec.engine_host,
        sabotaged: !spec.sabotage.is_clean(),
        public_v6,
        neighbour: Some(fixture(
            "neighbour",
            host_in(nets.neighbour.gateway, hosts::BUNDLE),
            neighbour_ports,
        )),
        neighbour_upstream_ip: Some(host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM)),
        neighbour_network: Some(nets.neighbour),
        public_v6_network: Some(nets.public6),
        metadata_network: nets.metadata,
        checker_network: nets.checker,
        bundle_published_ip: nets.published.as_ref().map(bundle_on),
        published_network: nets.published,
        bundle_via: None,
        agent_network: nets.agent,
        upstream_network: nets.upstream,
        lan_network: nets.lan,
    }
}
