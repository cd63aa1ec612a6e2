//! Turning the catalogue into concrete attempts for one bottle: addresses from the topology and
//! the host, a fresh nonce per attempt, and the harness-owned target each attempt depends on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
    /// Why the probe has no attempts on this bottle, when that is by design (reported as
    /// `skipped`, never as a pass).
    pub skipped: Option<String>,
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
    /// The fixture hosts that dial the agent's inbound listener (their `dial` records must
    /// exist for the inbound probe to pass).
    pub dialers: Vec<String>,
}

/// What the plan needs to know about this machine.
#[derive(Clone, Debug)]
pub struct HostSide {
    pub loopback_canary: SocketAddr,
    /// The IPv6 loopback canary ([::1]), when this machine has IPv6.
    pub loopback_canary_v6: Option<SocketAddr>,
    /// The all-interfaces canary's port (dual-stack when this machine has IPv6).
    pub all_interfaces_port: u16,
    /// This machine's IPv4 addresses (not loopback).
    pub addresses: Vec<Ipv4Addr>,
    /// This machine's global and unique-local IPv6 addresses (empty without IPv6).
    pub addresses_v6: Vec<Ipv6Addr>,
    /// Whether the all-interfaces canary listens on IPv6 too.
    pub all_interfaces_v6: bool,
    /// Whether echo requests to this machine are recorded (see `HostCanaries`).
    pub icmp_recorder: bool,
    /// This machine's link-local IPv6 addresses.
    pub link_local_v6: Vec<Ipv6Addr>,
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
                let stage = stage_of(spec.expect, &kind);
                // Only pipelock's 403 denies a proxy attempt, and a loaded machine can make it
                // slow: a proxy denial waits as long as a control would.
                let timeout_ms = if matches!(
                    kind,
                    AttemptKind::HttpProxy { .. } | AttemptKind::ConnectProxy { .. }
                ) {
                    timeouts.control_ms
                } else {
                    timeout_ms
                };
                attempts.push(PlannedAttempt {
                    spec: AttemptSpec {
                        id,
                        kind,
                        nonce: nonce(),
                        timeout_ms,
                        stage,
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
            "localhost.loopback_spellings" => {
                // What the kernel makes of them is the agent's own loopback; a bottle whose
                // filter matches "127.0.0.1" textually (or a VMM mapping only that) may not.
                let ports = [
                    (host.loopback_canary.port(), Target::HostLoopback),
                    (host.all_interfaces_port, Target::HostAllInterfaces),
                ];
                for (spelled, ip) in [
                    ("127.0.0.2", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
                    ("0.0.0.0", IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    (
                        "[::ffff:127.0.0.1]",
                        IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
                    ),
                ] {
                    for (port, target) in ports {
                        let addr = SocketAddr::new(ip, port);
                        add(
                            AttemptKind::Tcp { addr },
                            Some(target),
                            format!("{spelled}:{port}"),
                            timeout_ms,
                        );
                    }
                }
            }
            "localhost.host_sockets" => {
                add(
                    AttemptKind::UnixSockets,
                    None,
                    "unix sockets in the agent's filesystem".into(),
                    timeout_ms,
                );
            }
            "proxy.loopback_spellings" => {
                for spelled in [
                    "127.1",
                    "0x7f000001",
                    "2130706433",
                    "127.0.0.2",
                    "0.0.0.0",
                    "[::ffff:127.0.0.1]",
                    "[::1]",
                    "localhost",
                ] {
                    add(
                        AttemptKind::HttpProxy {
                            proxy: pipelock,
                            host: spelled.to_string(),
                            port: t.ports.egress,
                        },
                        Some(Target::Bundle),
                        format!("http://{spelled}:{}/ via {pipelock}", t.ports.egress),
                        timeout_ms,
                    );
                }
            }
            "ipv6.agent_loopback" => {
                if let Some(canary) = host.loopback_canary_v6 {
                    let addr = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), canary.port());
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::HostLoopback),
                        addr.to_string(),
                        timeout_ms,
                    );
                }
            }
            "ipv6.host_addresses" => {
                let mut addresses = host.addresses_v6.clone();
                // Without the dual-stack canary there is nothing to aim at on IPv6.
                if host.all_interfaces_v6 {
                    addresses.extend(t.networks().iter().filter_map(|n| n.gateway_v6));
                }
                addresses.sort_unstable();
                addresses.dedup();
                for ip in addresses {
                    let addr = SocketAddr::new(ip.into(), host.all_interfaces_port);
                    add(
                        AttemptKind::Tcp { addr },
                        Some(Target::HostAllInterfaces),
                        addr.to_string(),
                        timeout_ms,
                    );
                }
            }
            "ipv6.link_local" => {
                for ip in &host.link_local_v6 {
                    add(
                        AttemptKind::TcpLinkLocal {
                            ip: *ip,
                            port: host.all_interfaces_port,
                        },
                        Some(Target::HostAllInterfaces),
                        format!("[{ip}%<each agent interface>]:{}", host.all_interfaces_port),
                        timeout_ms,
                    );
                }
            }
            "ipv6.public_host" => {
                if let Some(ip) = t.public_v6 {
                    for port in &t.public.ports {
                        let addr = SocketAddr::new(ip.into(), *port);
                        add(
                            AttemptKind::Tcp { addr },
                            Some(Target::Public),
                            addr.to_string(),
                            timeout_ms,
                        );
                    }
                }
            }
            "icmp.bundle_control" => {
                add(
                    AttemptKind::Ping {
                        ip: t.bundle_ip.into(),
                    },
                    None,
                    format!("ping {}", t.bundle_ip),
                    timeout_ms,
                );
            }
            "icmp.echo" => {
                let mut pings = vec![
                    (IpAddr::V4(t.public.ip), Target::Public, "public host"),
                    (IpAddr::V4(t.lan.ip), Target::Lan, "LAN host"),
                    (IpAddr::V4(t.dns.ip), Target::Dns, "DNS canary"),
                ];
                if let Some(neighbour) = &t.neighbour {
                    pings.push((neighbour.ip.into(), Target::Neighbour, "neighbour bottle"));
                }
                // This machine only with a target-side view of its echo requests.
                let mut host_ips: Vec<Ipv4Addr> = Vec::new();
                if host.icmp_recorder {
                    host_ips.extend(host.addresses.iter().copied());
                    host_ips.extend(t.networks().iter().map(|n| n.gateway));
                    host_ips.extend(t.guest_host_gateway);
                }
                host_ips.sort_unstable();
                host_ips.dedup();
                for ip in host_ips {
                    pings.push((ip.into(), Target::HostAllInterfaces, "this machine"));
                }
                for (ip, target, what) in pings {
                    add(
                        AttemptKind::Ping { ip },
                        Some(target),
                        format!("ping {ip} ({what})"),
                        timeout_ms,
                    );
                }
            }
            "udp.echo" => {
                let echo = bottle_backends::spec::hosts::UDP_ECHO_PORT;
                let mut hosts = vec![(t.public.ip, Target::Public), (t.lan.ip, Target::Lan)];
                if let Some(neighbour) = &t.neighbour {
                    hosts.push((neighbour.ip, Target::Neighbour));
                }
                for (ip, target) in hosts {
                    let addr = SocketAddr::new(ip.into(), echo);
                    add(
                        AttemptKind::Udp { addr },
                        Some(target),
                        format!("udp {addr}"),
                        timeout_ms,
                    );
                }
            }
            "cross_bottle.neighbour_bundle" => {
                if let Some(neighbour) = &t.neighbour {
                    for port in &neighbour.ports {
                        let addr = SocketAddr::new(neighbour.ip.into(), *port);
                        add(
                            AttemptKind::Tcp { addr },
                            Some(Target::Neighbour),
                            addr.to_string(),
                            timeout_ms,
                        );
                    }
                }
            }
            "inbound.agent_listener" => {
                if let Some(port) = t.inbound_port {
                    add(
                        AttemptKind::Listen {
                            port,
                            own: t.agent_ip,
                        },
                        None,
                        format!("{}:{port} in the agent, dialled from outside", t.agent_ip),
                        timeout_ms,
                    );
                }
            }
            "metadata.direct" => {
                if let Some(metadata) = &t.metadata {
                    for port in &metadata.ports {
                        let addr = SocketAddr::new(metadata.ip.into(), *port);
                        add(
                            AttemptKind::Tcp { addr },
                            Some(Target::Metadata),
                            format!("{addr} (the metadata fixture)"),
                            timeout_ms,
                        );
                    }
                }
            }
            "metadata.via_proxy" => {
                if let Some(metadata) = &t.metadata {
                    add(
                        AttemptKind::HttpProxy {
                            proxy: pipelock,
                            host: metadata.ip.to_string(),
                            port: 80,
                        },
                        Some(Target::Metadata),
                        format!("http://{}/ via {pipelock}", metadata.ip),
                        timeout_ms,
                    );
                }
            }
            other => unreachable!("probe {other} has no plan: add it to plan::build"),
        }
        let skipped = match spec.family {
            bottle_probes::catalogue::Family::Metadata if t.metadata.is_none() => Some(format!(
                "no metadata fixture on this bottle: {}",
                t.metadata_unavailable
                    .as_deref()
                    .unwrap_or("the backend does not provide one")
            )),
            bottle_probes::catalogue::Family::Inbound if t.inbound_port.is_none() => Some(
                "nothing dials the agent on this backend (its fixture hosts cannot reach a microVM agent's address)"
                    .to_string(),
            ),
            _ => None,
        };
        probes.push(PlannedProbe {
            spec,
            attempts,
            skipped,
        });
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
        dialers: if topology.inbound_port.is_some() {
            let mut names = vec!["public".to_string(), "lan".to_string()];
            names.extend(topology.neighbour.as_ref().map(|n| n.name.clone()));
            names
        } else {
            Vec::new()
        },
    }
}

/// When an attempt runs in the probe exec: positive controls first; a sweep (its own budget)
/// and proxy denials (only pipelock's 403 denies, so they wait as long as a control) with fixed
/// timeouts from the start; every other deny with the timeout the controls' round trip sets.
fn stage_of(expect: bottle_probes::Expect, kind: &AttemptKind) -> bottle_probes::wire::Stage {
    use bottle_probes::wire::Stage;
    match (expect, kind) {
        (bottle_probes::Expect::Allow, _) => Stage::Control,
        (
            _,
            AttemptKind::Sweep { .. }
            | AttemptKind::HttpProxy { .. }
            | AttemptKind::ConnectProxy { .. },
        ) => Stage::Fixed,
        _ => Stage::Adaptive,
    }
}
