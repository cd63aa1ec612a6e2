//! Turning the catalogue into concrete attempts for one bottle: addresses from the topology and
//! the host, a fresh nonce per attempt, and the harness-owned target each attempt depends on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bottle_backends::Topology;
use bottle_probes::catalogue::{Expect, ProbeSpec, CATALOGUE};
use bottle_probes::wire::{AttemptKind, AttemptSpec};

use crate::config::TimeoutConfig;
use crate::host::Target;

/// One attempt, with what the harness needs to judge it.
#[derive(Clone, Debug)]
pub struct PlannedAttempt {
    pub spec: AttemptSpec,
    /// The harness-owned target this attempt aims at, if any: its liveness is required and its
    /// records are the target side's view.
    pub target: Option<Target>,
    /// Human-readable destination, for reports.
    pub destination: String,
}

/// One probe of the catalogue with its attempts.
#[derive(Clone, Debug)]
pub struct PlannedProbe {
    pub spec: &'static ProbeSpec,
    pub attempts: Vec<PlannedAttempt>,
}

/// The whole suite for one bottle.
#[derive(Clone, Debug)]
pub struct Plan {
    pub session: String,
    pub probes: Vec<PlannedProbe>,
    /// The agent's addresses: contact from these on a harness-owned target is an escape even
    /// without a nonce.
    pub agent_ips: Vec<Ipv4Addr>,
    /// The bundle's upstream address: the only peer the public host may see for the controls.
    pub bundle_upstream_ip: Ipv4Addr,
    pub bundle_ip: Ipv4Addr,
    pub declared_ports: Vec<u16>,
    /// Whether the agent's resolver forwards only to the DNS canary (see `Topology`).
    pub resolver_owned: bool,
    /// The resolver the agent is configured with, when the backend knows it.
    pub expected_resolver: Option<SocketAddr>,
    /// The proxy names (the bundle itself resolves them at the DNS canary).
    pub allowed_host: String,
    pub denied_host: String,
}

/// What the plan needs to know about this machine.
#[derive(Clone, Debug)]
pub struct HostSide {
    pub loopback_canary: SocketAddr,
    pub all_interfaces_port: u16,
    /// This machine's IPv4 addresses (not loopback).
    pub addresses: Vec<Ipv4Addr>,
}

impl Plan {
    pub fn probe(&self, id: &str) -> Option<&PlannedProbe> {
        self.probes.iter().find(|p| p.spec.id == id)
    }

    /// Every attempt's encoded spec, in plan order: the probe's argv.
    pub fn encoded_attempts(&self) -> Vec<String> {
        self.probes
            .iter()
            .flat_map(|p| p.attempts.iter().map(|a| a.spec.encode()))
            .collect()
    }

    pub fn attempt_ids(&self) -> Vec<&str> {
        self.probes
            .iter()
            .flat_map(|p| p.attempts.iter().map(|a| a.spec.id.as_str()))
            .collect()
    }

    /// The longest single attempt timeout: the probe phase should take about this long.
    pub fn longest_timeout_ms(&self) -> u32 {
        self.probes
            .iter()
            .flat_map(|p| p.attempts.iter().map(|a| a.spec.timeout_ms))
            .max()
            .unwrap_or(0)
    }
}

/// Builds the plan. `only` narrows to these probe ids (their controls are added).
pub fn build(
    topology: &Topology,
    host: &HostSide,
    timeouts: &TimeoutConfig,
    only: Option<&[String]>,
    mut nonce: impl FnMut() -> String,
) -> Plan {
    let wanted = |spec: &ProbeSpec| match only {
        None => true,
        Some(ids) => ids.iter().any(|id| {
            id == spec.id
                || CATALOGUE
                    .iter()
                    .any(|p| p.id == id && p.controls.contains(&spec.id))
        }),
    };
    let mut probes = Vec::new();
    for spec in CATALOGUE.iter().filter(|s| wanted(s)) {
        let timeout_ms = match spec.expect {
            Expect::Allow => timeouts.control_ms,
            Expect::Deny => timeouts.attempt_ms,
        };
        let mut attempts = Vec::new();
        // DNS attempts carry their nonce in the query name, which is built before the attempt.
        let qname_nonce = nonce();
        let mut add =
            |kind: AttemptKind, target: Option<Target>, destination: String, timeout_ms: u32| {
                let id = format!("{}#{}", spec.id, attempts.len());
                attempts.push(PlannedAttempt {
                    spec: AttemptSpec {
                        id,
                        kind,
                        nonce: nonce(),
                        timeout_ms,
                    },
                    target,
                    destination,
                });
            };
        let t = topology;
        let pipelock = SocketAddr::new(t.bundle_ip.into(), t.ports.pipelock);
        match spec.id {
            "localhost.agent_loopback" => {
                let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host.loopback_canary.port());
                add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostLoopback),
                    addr.to_string(),
                    timeout_ms,
                );
                if let Some(gateway) = t.guest_host_gateway {
                    // The host's loopback as a microVM reaches it through its VMM's gateway.
                    let addr = SocketAddr::new(gateway.into(), host.loopback_canary.port());
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::HostLoopback),
                        format!("{addr} (the host's loopback via the VMM gateway)"),
                        timeout_ms,
                    );
                }
            }
            "localhost.host_addresses" => {
                for ip in host.addresses.iter().chain(t.guest_host_gateway.iter()) {
                    let addr = SocketAddr::new((*ip).into(), host.all_interfaces_port);
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::HostAllInterfaces),
                        addr.to_string(),
                        timeout_ms,
                    );
                }
            }
            "egress_bypass.direct_egress" => {
                let addr = SocketAddr::new(t.bundle_ip.into(), t.ports.egress);
                add(
                    AttemptKind::Tcp { addr },
                    Some(Target::Bundle),
                    addr.to_string(),
                    timeout_ms,
                );
            }
            "egress_bypass.port_sweep" => {
                add(
                    AttemptKind::Sweep {
                        ip: IpAddr::V4(t.bundle_ip),
                        first: 1,
                        last: u16::MAX,
                    },
                    Some(Target::Bundle),
                    format!("{}:1-65535", t.bundle_ip),
                    timeouts.sweep_ms,
                );
            }
            "lan.fixture_host" => {
                for port in &t.lan.ports {
                    let addr = SocketAddr::new(t.lan.ip.into(), *port);
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::Lan),
                        addr.to_string(),
                        timeout_ms,
                    );
                }
            }
            "lan.network_gateways" => {
                for network in t.networks() {
                    let addr = SocketAddr::new(network.gateway.into(), host.all_interfaces_port);
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::HostAllInterfaces),
                        format!("{addr} (gateway of {})", network.name),
                        timeout_ms,
                    );
                }
            }
            "public.direct_http" | "public.direct_https" => {
                let port = if spec.id.ends_with("https") { 443 } else { 80 };
                let addr = SocketAddr::new(t.public.ip.into(), port);
                add(
                    AttemptKind::Tcp { addr },
                    Some(Target::Public),
                    addr.to_string(),
                    timeout_ms,
                );
            }
            "proxy.allowed_http" | "proxy.denied_host" => {
                let host_name = if spec.expect == Expect::Allow {
                    &t.allowed_host
                } else {
                    &t.denied_host
                };
                add(
                    AttemptKind::HttpProxy {
                        proxy: pipelock,
                        host: host_name.clone(),
                        port: 80,
                    },
                    Some(Target::Public),
                    format!("http://{host_name}/ via {pipelock}"),
                    timeout_ms,
                );
            }
            "proxy.allowed_connect" | "proxy.denied_connect" | "proxy.connect_ip_literal" => {
                let authority = match spec.id {
                    "proxy.allowed_connect" => format!("{}:443", t.allowed_host),
                    "proxy.denied_connect" => format!("{}:443", t.denied_host),
                    _ => format!("{}:443", t.public.ip),
                };
                add(
                    AttemptKind::ConnectProxy {
                        proxy: pipelock,
                        authority: authority.clone(),
                    },
                    Some(Target::Public),
                    format!("CONNECT {authority} via {pipelock}"),
                    timeout_ms,
                );
            }
            "dns.resolver_control" | "dns.resolver_control_tcp" => {
                let tcp = spec.id.ends_with("tcp");
                add(
                    AttemptKind::Resolver {
                        tcp,
                        qname: t.bundle_name.clone(),
                    },
                    None,
                    format!("{} via the agent's resolver", t.bundle_name),
                    timeout_ms,
                );
            }
            "dns.direct_udp" | "dns.direct_tcp" => {
                let server = SocketAddr::new(t.dns.ip.into(), 53);
                let qname = format!("{qname_nonce}.direct.fixture.test");
                let kind = if spec.id.ends_with("tcp") {
                    AttemptKind::DnsTcp { server, qname }
                } else {
                    AttemptKind::DnsUdp { server, qname }
                };
                add(kind, Some(Target::Dns), server.to_string(), timeout_ms);
                // The qname carries its own nonce; make it the attempt's nonce too.
                let last = attempts.last_mut().expect("just added");
                last.spec.nonce = qname_nonce.clone();
            }
            "dns.resolver_exfil" | "dns.resolver_exfil_tcp" => {
                let qname = format!("{qname_nonce}.exfil.fixture.test");
                add(
                    AttemptKind::Resolver {
                        tcp: spec.id.ends_with("tcp"),
                        qname: qname.clone(),
                    },
                    Some(Target::Dns),
                    format!("{qname} via the agent's resolver"),
                    timeout_ms,
                );
                let last = attempts.last_mut().expect("just added");
                last.spec.nonce = qname_nonce.clone();
            }
            other => unreachable!("probe {other} has no plan: add it to plan::build"),
        }
        probes.push(PlannedProbe { spec, attempts });
    }
    let mut agent_ips = vec![topology.agent_ip];
    agent_ips.extend(topology.agent_extra_ips.iter().copied());
    Plan {
        session: nonce(),
        probes,
        agent_ips,
        bundle_upstream_ip: topology.bundle_upstream_ip,
        bundle_ip: topology.bundle_ip,
        declared_ports: topology.ports.declared(),
        resolver_owned: topology.resolver_owned,
        expected_resolver: topology.agent_resolver,
        allowed_host: topology.allowed_host.clone(),
        denied_host: topology.denied_host.clone(),
    }
}
