//! What a plan is: the attempts of every probe for one bottle, and the facts about the bottle and
//! this machine that the verdicts need alongside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bottle_backends::Handshake;
use bottle_fixtures::dns_canary::DnsMode;
use bottle_probes::catalogue::ProbeSpec;
use bottle_probes::wire::AttemptSpec;

use crate::target::Target;

/// One attempt, with what the harness needs to judge it.
#[derive(Clone, Debug)]
pub struct PlannedAttempt {
    pub spec: AttemptSpec,
    /// The harness-owned target this attempt aims at, if any: its liveness is required and its
    /// records are the target side's view.
    pub target: Option<Target>,
    /// Human-readable destination, for reports.
    pub destination: String,
    /// Where a deny attempt's nonce may arrive without that being reach.
    pub delivery: Delivery,
}

/// Where a deny attempt's nonce may arrive without that being reach. Most denies allow it
/// nowhere; two of the proxy_matching family expect a correct proxy to deliver the request
/// somewhere harmless, and the target's records must then show it went only there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// Any record of the nonce (past pipelock: at egress or any fixture) is reach.
    #[default]
    Nowhere,
    /// At the public host, when every record there says it was asked for this name (the Host
    /// header or SNI it received): pipelock sends the URI's authority as the Host, so a request
    /// for the allowed URI with another Host header arrives for the allowed name.
    AtPublicAs(String),
    /// At the public host, whatever it was asked (the rebinding name's first answer is the
    /// public host, where a pinned proxy goes); the LAN host must never see the nonce.
    AtPublic,
    /// At the public host it is neither reach nor a deny: the name's answer from before the
    /// DNS switch, which a proxy that keeps answers (Squid keeps each for `negative_dns_ttl`,
    /// a minute by default) still uses, so the address check was never exercised. Anywhere
    /// else (the LAN host) it is reach.
    StaleAtPublic,
}

/// One exec after the main one: the attempts it sends, after the name's answer was switched to
/// `mode` (see [`Plan::dns_runs`]).
#[derive(Clone, Debug)]
pub struct DnsRun<'p> {
    pub mode: DnsMode,
    pub attempts: Vec<&'p PlannedAttempt>,
}

/// One probe of the catalogue with its attempts.
#[derive(Clone, Debug)]
pub struct PlannedProbe {
    pub spec: &'static ProbeSpec,
    pub attempts: Vec<PlannedAttempt>,
    /// Why the probe has no attempts on this bottle, when that is by design (reported as
    /// `skipped`, never as a pass).
    pub skipped: Option<String>,
    /// The mode of the allowed name's answer at the DNS canary that this probe's attempts run
    /// under (the SSRF probes), in an exec of their own after every other attempt's; None: the
    /// one exec of the rest.
    pub dns_mode: Option<DnsMode>,
}

/// One of the engine's names for this machine that the localhost probes aim at (see
/// `host_gateway::routes`), and the canaries reached through it. The liveness checks prove each
/// route from the checker, so an attempt there is judged only where the route is shown to work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostGatewayRoute {
    pub name: String,
    pub ip: IpAddr,
    /// Whether what is sent there reaches this machine's loopback (Docker Desktop forwards it
    /// there), so the loopback canary is aimed at through it too.
    pub to_loopback: bool,
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
    /// The bundle as the agent reaches it: its own address, or the VMM's gateway where its
    /// ports are published on this machine's loopback (smolvm's desktop mode; see
    /// `Topology::bundle_as_reached`).
    pub bundle_reached_ip: Ipv4Addr,
    /// The ports that may answer at `bundle_reached_ip` (the declared ports, as numbered there).
    pub declared_ports: Vec<u16>,
    /// Whether the agent's resolver forwards only to the DNS canary (see `Topology`).
    pub resolver_owned: bool,
    /// Who completes the agent's TCP handshakes (see `AgentSide`): under a relay, a connection
    /// is reach only when the destination answered.
    pub handshake: Handshake,
    /// Whether the agent's VMM answers DNS over UDP at every address itself (see `AgentSide`).
    pub dns_intercepted: bool,
    /// The agent's VMM's own gateway address, where its stack answers echo requests itself
    /// (smolvm), when the agent sits behind a VMM's relay.
    pub vmm_gateway: Option<Ipv4Addr>,
    /// The name the resolver controls ask of the agent's resolver (the bundle's): where that
    /// resolver forwards to the DNS canary, the canary sees it, and that is no escape.
    pub control_name: String,
    /// The resolver the agent is configured with, when the backend knows it.
    pub expected_resolver: Option<SocketAddr>,
    /// The proxy names (the bundle itself resolves them at the DNS canary).
    pub allowed_host: String,
    pub denied_host: String,
    /// Every name the proxy attempts ask for without a nonce in it (the proxy names, their
    /// lookalikes and spellings, the SSRF names): the bundle's lookups of them at the DNS
    /// canary are its own traffic, explained by the plan.
    pub proxy_names: Vec<String>,
    /// The status of the proxy's own refusals (`[proxy] refusal_status`, 403 by default).
    pub refusal_status: u16,
    /// The fixture hosts that dial the agent's inbound listener (their `dial` records must
    /// exist for the inbound probe to pass).
    pub dialers: Vec<String>,
    /// The engine's names for this machine the localhost probes aim at; the liveness checks
    /// prove each from the checker.
    pub host_gateway: Vec<HostGatewayRoute>,
}

/// What the plan needs to know about this machine.
#[derive(Clone, Debug)]
pub struct HostSide {
    pub loopback_canary: SocketAddr,
    /// The IPv6 loopback canary (`[::1]`), when this machine has IPv6.
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
    /// This machine's IPv4 networks, each as one of its addresses and the netmask: an engine's
    /// host-gateway inside one of them that is not this machine's own is another host there.
    pub subnets_v4: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl Plan {
    pub fn probe(&self, id: &str) -> Option<&PlannedProbe> {
        self.probes.iter().find(|p| p.spec.id == id)
    }

    /// The probes of one exec: those of the main one (`None`), or of the one under a DNS mode.
    pub fn probes_under(&self, mode: Option<DnsMode>) -> impl Iterator<Item = &PlannedProbe> {
        self.probes.iter().filter(move |p| p.dns_mode == mode)
    }

    /// The execs after the main one, each after its own switch of the name's answer, in order:
    /// rebinding first, one exec per attempt, then internal, one exec for all of its attempts.
    ///
    /// One attempt per rebinding exec: the switch starts the rebinding window afresh, so each
    /// request's first lookup gets the public host and only a second lookup within the same
    /// request (a proxy that checks, then resolves again to connect) gets the LAN host. Two
    /// requests in one window would hand the second request the LAN host on its first lookup,
    /// which is `internal_name`'s test, not pinning. Rebinding before internal: a proxy that
    /// keeps answers (Squid) keeps what the exec before handed it; after the main exec that is
    /// the name's public address, also rebinding's first answer, and after rebinding one of
    /// the addresses internal's exec leads to anyway.
    pub fn dns_runs(&self) -> Vec<DnsRun<'_>> {
        let mut runs = Vec::new();
        for probe in self.probes_under(Some(DnsMode::Rebind)) {
            for attempt in &probe.attempts {
                runs.push(DnsRun {
                    mode: DnsMode::Rebind,
                    attempts: vec![attempt],
                });
            }
        }
        let internal: Vec<&PlannedAttempt> = self
            .probes_under(Some(DnsMode::Internal))
            .flat_map(|p| &p.attempts)
            .collect();
        if !internal.is_empty() {
            runs.push(DnsRun {
                mode: DnsMode::Internal,
                attempts: internal,
            });
        }
        runs
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
