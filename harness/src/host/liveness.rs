//! Liveness checks: a nonce the harness sends from this machine to every target it owns, on
//! every port and protocol the probes use there. The target's records of these checks decide
//! whether it counts as alive (see `verdict`).

use bottle_probes::sys::dns_tcp;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use bottle_backends::{Topology, Vantage};
use bottle_fixtures::canary::read_line;
use bottle_probes::dns;
use bottle_probes::wire::{AttemptKind, AttemptSpec, Observation, Outcome, Stage};

use super::canaries::HostCanaries;
use crate::plan::HostGatewayRoute;
use crate::target::Target;

const LIVENESS_TIMEOUT: Duration = Duration::from_secs(4);

/// How a liveness check talks to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// `CB-NONCE`, expecting `CB-ACK`.
    Tcp,
    /// The same over one UDP datagram each way.
    Udp,
    DnsUdp,
    DnsTcp,
}

/// Where a liveness check is sent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckFrom {
    /// This machine: the harness's own process.
    ThisMachine,
    /// A place of the harness's own in the bottle, through one probe exec there: the checker
    /// on the fixture networks, for the fixture hosts when this machine cannot route to them
    /// (Docker Desktop; see `Layout::checker_ips`); the bundle's namespace, for the recorder
    /// on its loopback.
    At(Vantage),
}

impl CheckFrom {
    /// The vantage point a check is exec'd at, if it is not sent from this machine.
    pub fn vantage(self) -> Option<Vantage> {
        match self {
            CheckFrom::ThisMachine => None,
            CheckFrom::At(vantage) => Some(vantage),
        }
    }
}

/// One liveness check to make: a nonce sent from the harness to a target, on every port and
/// protocol the probes use there.
#[derive(Clone, Debug)]
pub struct LivenessCheck {
    pub target: Target,
    pub addr: SocketAddr,
    pub nonce: String,
    pub kind: CheckKind,
    pub from: CheckFrom,
}

impl LivenessCheck {
    /// The probe attempt that makes this check at a vantage point: the exchange
    /// [`send_liveness`] makes from this machine (`CB-NONCE` over TCP or UDP; an A query for
    /// the check's name over UDP or TCP), with the same timeout.
    pub(crate) fn as_attempt(&self, id: String) -> AttemptSpec {
        let kind = match self.kind {
            CheckKind::Tcp => AttemptKind::Tcp { addr: self.addr },
            CheckKind::Udp => AttemptKind::Udp { addr: self.addr },
            CheckKind::DnsUdp => AttemptKind::DnsUdp {
                server: self.addr,
                qname: liveness_qname(self),
            },
            CheckKind::DnsTcp => AttemptKind::DnsTcp {
                server: self.addr,
                qname: liveness_qname(self),
            },
        };
        AttemptSpec {
            id,
            kind,
            nonce: self.nonce.clone(),
            timeout_ms: LIVENESS_TIMEOUT.as_millis() as u32,
            stage: Stage::Fixed,
        }
    }

    /// Whether the probe's observation of [`Self::as_attempt`] shows the target answered, as
    /// [`send_liveness`] decides it: TCP and UDP need the target's `CB-ACK` of this nonce, DNS
    /// needs a reply to the query. The target's records decide the rest (see `verdict`).
    pub(crate) fn answered_in(&self, observation: &Observation) -> Result<(), String> {
        let answered = match self.kind {
            CheckKind::Tcp | CheckKind::Udp => observation.ack,
            CheckKind::DnsUdp | CheckKind::DnsTcp => observation.outcome() == Outcome::Answered,
        };
        if answered {
            return Ok(());
        }
        let mut seen = observation.outcome().as_str().to_string();
        if let Some(note) = &observation.note {
            seen.push_str(&format!(" ({note})"));
        }
        let at = self.from.vantage().map_or("this machine", Vantage::as_str);
        Err(match self.kind {
            CheckKind::Tcp | CheckKind::Udp => {
                format!("no acknowledgement at {at}: {seen}")
            }
            CheckKind::DnsUdp | CheckKind::DnsTcp => {
                format!("no DNS reply at {at}: {seen}")
            }
        })
    }
}

/// The checks of one bottle as they are listed, each with a fresh nonce in list order.
struct Checks<'n> {
    list: Vec<LivenessCheck>,
    nonce: &'n mut dyn FnMut() -> String,
    /// Whether the fixture hosts are checked from the bottle's checker.
    fixtures_from_checker: bool,
}

impl Checks<'_> {
    /// A check of `target` from where that target is checked: this machine's canaries from
    /// here, the fixture hosts from the checker when this machine cannot route to them.
    fn add(&mut self, target: Target, ip: impl Into<IpAddr>, port: u16, kind: CheckKind) {
        let from = match target {
            Target::HostLoopback | Target::HostAllInterfaces => CheckFrom::ThisMachine,
            Target::Public | Target::Lan | Target::Dns | Target::Neighbour | Target::Metadata
                if self.fixtures_from_checker =>
            {
                CheckFrom::At(Vantage::Checker)
            }
            // Its loopback is reachable from inside its namespace only.
            Target::BundleLoopback => CheckFrom::At(Vantage::BundleNamespace),
            Target::Public
            | Target::Lan
            | Target::Dns
            | Target::Neighbour
            | Target::Metadata
            | Target::Bundle => CheckFrom::ThisMachine,
        };
        self.add_from(target, ip, port, kind, from);
    }

    fn add_from(
        &mut self,
        target: Target,
        ip: impl Into<IpAddr>,
        port: u16,
        kind: CheckKind,
        from: CheckFrom,
    ) {
        self.list.push(LivenessCheck {
            target,
            addr: SocketAddr::new(ip.into(), port),
            nonce: (self.nonce)(),
            kind,
            from,
        })
    }
}

/// The checks for a bottle; `nonce` makes a fresh nonce per check. The all-interfaces canary is
/// checked on every host address the probes aim at. Where this machine cannot route to the
/// bridges (Docker Desktop), the fixture hosts are checked from the bottle's checker (the same
/// addresses, ports and protocols; without a checker those checks fail, never fall back to
/// here), and this machine's canaries are also checked from there through each of the engine's
/// names for this machine that the probes aim at (`host_gateway`): a target is alive only if
/// every one of its checks answered.
pub fn liveness_checks(
    topology: &Topology,
    canaries: &HostCanaries,
    host_addresses: &[Ipv4Addr],
    host_addresses_v6: &[Ipv6Addr],
    host_gateway: &[HostGatewayRoute],
    mut nonce: impl FnMut() -> String,
) -> Vec<LivenessCheck> {
    let mut checks = Checks {
        list: Vec::new(),
        nonce: &mut nonce,
        fixtures_from_checker: !topology.layout().engine_host.routes_to_bridges(),
    };
    ipv6_checks(&mut checks, topology, canaries, host_addresses_v6);
    upstream_checks(&mut checks, topology);
    ipv4_checks(&mut checks, topology, canaries, host_addresses);
    bundle_namespace_checks(&mut checks, topology);
    for route in host_gateway {
        checks.add_from(
            Target::HostAllInterfaces,
            route.ip,
            canaries.all_interfaces_port,
            CheckKind::Tcp,
            CheckFrom::At(Vantage::Checker),
        );
        if route.to_loopback {
            checks.add_from(
                Target::HostLoopback,
                route.ip,
                canaries.loopback.port(),
                CheckKind::Tcp,
                CheckFrom::At(Vantage::Checker),
            );
        }
    }
    checks.list
}

/// This machine's IPv6 canaries, and the public host's IPv6 address.
fn ipv6_checks(
    checks: &mut Checks,
    topology: &Topology,
    canaries: &HostCanaries,
    host_addresses_v6: &[Ipv6Addr],
) {
    if let Some(v6) = canaries.loopback_v6 {
        checks.add(Target::HostLoopback, v6.ip(), v6.port(), CheckKind::Tcp);
    }
    if canaries.all_interfaces_v6 {
        // Every IPv6 address the plan aims at: this machine's, and the run's bridges' gateways
        // (one still tentative fails here, so its probe cannot pass on a silence).
        let mut v6: Vec<Ipv6Addr> = host_addresses_v6.to_vec();
        // The bridges' gateways are this machine's only when the engine runs here.
        if topology.layout().engine_host.routes_to_bridges() {
            v6.extend(topology.networks().iter().filter_map(|n| n.gateway_v6));
        }
        v6.sort_unstable();
        v6.dedup();
        for ip in v6 {
            checks.add(
                Target::HostAllInterfaces,
                ip,
                canaries.all_interfaces_port,
                CheckKind::Tcp,
            );
        }
    }
    if let Some(ip) = topology.layout().public_v6 {
        for port in &topology.layout().public.ports {
            checks.add(Target::Public, ip, *port, CheckKind::Tcp);
        }
    }
}

/// The fixtures checked on their upstream addresses, where the agent's addresses for them are
/// not this machine's to use.
fn upstream_checks(checks: &mut Checks, topology: &Topology) {
    // The metadata fixture is checked on its upstream address: this machine's own route to
    // 169.254.169.254 is not the harness's and is never used.
    if let (Some(metadata), Some(ip)) = (
        &topology.layout().metadata,
        topology.layout().metadata_upstream_ip,
    ) {
        for port in &metadata.ports {
            checks.add(Target::Metadata, ip, *port, CheckKind::Tcp);
        }
    }
    // The LAN host's internal leg (where the SSRF probes' names lead) is on the bundle's side
    // network, which this machine holds no address on (`inhibit_ipv4`), so it is not checked
    // from here: the LAN host is checked on its own network, and its one canary process
    // listens on every address it has.
    if let (Some(neighbour), Some(ip)) = (
        &topology.layout().neighbour,
        topology.layout().neighbour_upstream_ip,
    ) {
        for port in &neighbour.ports {
            checks.add(Target::Neighbour, ip, *port, CheckKind::Tcp);
        }
    }
}

/// What only the bundle reaches, checked from inside its namespace (the recorder's container
/// shares it), so that a proxy's failure to connect there is never read as its refusal:
/// - the recorder on its loopback, on the two loopback addresses the proxy probes spell most
///   plainly (one socket serves every loopback address there, `bottle_fixtures::loopback`);
/// - the LAN host's internal leg, where the SSRF probes' name leads, on its ports (this machine
///   holds no address on that network);
/// - the metadata service at 169.254.169.254 through the bundle's own route to it (this
///   machine checks its upstream address, not that route).
fn bundle_namespace_checks(checks: &mut Checks, topology: &Topology) {
    let Some(port) = topology.layout().bundle_loopback_port else {
        return;
    };
    let from = CheckFrom::At(Vantage::BundleNamespace);
    for ip in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)] {
        checks.add_from(Target::BundleLoopback, ip, port, CheckKind::Tcp, from);
    }
    if let Some(ip) = topology.layout().lan_internal_ip {
        for port in &topology.layout().lan.ports {
            checks.add_from(Target::Lan, ip, *port, CheckKind::Tcp, from);
        }
    }
    if let Some(metadata) = &topology.layout().metadata {
        for port in &metadata.ports {
            checks.add_from(Target::Metadata, metadata.ip, *port, CheckKind::Tcp, from);
        }
    }
}

/// This machine's IPv4 canaries, the fixture hosts' ports, their UDP echo and the DNS canary.
fn ipv4_checks(
    checks: &mut Checks,
    topology: &Topology,
    canaries: &HostCanaries,
    host_addresses: &[Ipv4Addr],
) {
    checks.add(
        Target::HostLoopback,
        Ipv4Addr::LOCALHOST,
        canaries.loopback.port(),
        CheckKind::Tcp,
    );
    for ip in std::iter::once(&Ipv4Addr::LOCALHOST).chain(host_addresses) {
        checks.add(
            Target::HostAllInterfaces,
            *ip,
            canaries.all_interfaces_port,
            CheckKind::Tcp,
        );
    }
    for port in &topology.layout().public.ports {
        checks.add(
            Target::Public,
            topology.layout().public.ip,
            *port,
            CheckKind::Tcp,
        );
    }
    for port in &topology.layout().lan.ports {
        checks.add(Target::Lan, topology.layout().lan.ip, *port, CheckKind::Tcp);
    }
    let echo = bottle_backends::spec::hosts::UDP_ECHO_PORT;
    checks.add(
        Target::Public,
        topology.layout().public.ip,
        echo,
        CheckKind::Udp,
    );
    checks.add(Target::Lan, topology.layout().lan.ip, echo, CheckKind::Udp);
    if let Some(ip) = topology.layout().neighbour_upstream_ip {
        checks.add(Target::Neighbour, ip, echo, CheckKind::Udp);
    }
    checks.add(Target::Dns, topology.layout().dns.ip, 53, CheckKind::DnsUdp);
    checks.add(Target::Dns, topology.layout().dns.ip, 53, CheckKind::DnsTcp);
}

/// Sends one check; the target's records decide whether it counts (see `verdict`).
/// `own_ends` collects the harness's end of every connection and socket it opens, so the
/// targets' records of these checks are recognised even when the nonce never got through.
pub(crate) fn send_liveness(
    check: &LivenessCheck,
    own_ends: &std::sync::Mutex<Vec<SocketAddr>>,
) -> Result<(), String> {
    let note = |addr: std::io::Result<SocketAddr>| {
        if let (Ok(addr), Ok(mut ends)) = (addr, own_ends.lock()) {
            ends.push(addr);
        }
    };
    match check.kind {
        CheckKind::DnsUdp => send_dns_udp(check, note),
        CheckKind::DnsTcp => send_dns_tcp(check, note),
        CheckKind::Udp => send_udp(check, note),
        CheckKind::Tcp => send_tcp(check, note),
    }
}

/// The query name a DNS check asks for: it carries the check's nonce.
fn liveness_qname(check: &LivenessCheck) -> String {
    format!("{}.live.fixture.test", check.nonce)
}

fn send_dns_udp(
    check: &LivenessCheck,
    note: impl Fn(std::io::Result<SocketAddr>),
) -> Result<(), String> {
    let query = dns::build_query(0x4c56, &liveness_qname(check))
        .ok_or("cannot encode the liveness query")?;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.connect(check.addr).map_err(|e| e.to_string())?;
    note(socket.local_addr());
    socket
        .set_read_timeout(Some(LIVENESS_TIMEOUT))
        .map_err(|e| e.to_string())?;
    socket
        .send_to(&query, check.addr)
        .map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 512];
    socket
        .recv(&mut buffer)
        .map_err(|e| format!("no DNS reply over UDP: {e}"))?;
    Ok(())
}

fn send_dns_tcp(
    check: &LivenessCheck,
    note: impl Fn(std::io::Result<SocketAddr>),
) -> Result<(), String> {
    let query = dns::build_query(0x4c57, &liveness_qname(check))
        .ok_or("cannot encode the liveness query")?;
    let mut stream =
        TcpStream::connect_timeout(&check.addr, LIVENESS_TIMEOUT).map_err(|e| e.to_string())?;
    note(stream.local_addr());
    stream
        .set_read_timeout(Some(LIVENESS_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let framed = dns_tcp::frame(&query).ok_or("cannot frame the liveness query")?;
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    dns_tcp::read_length(&mut stream).map_err(|e| format!("no DNS reply over TCP: {e}"))?;
    Ok(())
}

fn send_udp(
    check: &LivenessCheck,
    note: impl Fn(std::io::Result<SocketAddr>),
) -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.connect(check.addr).map_err(|e| e.to_string())?;
    note(socket.local_addr());
    socket
        .set_read_timeout(Some(LIVENESS_TIMEOUT))
        .map_err(|e| e.to_string())?;
    socket
        .send(format!("CB-NONCE {}\n", check.nonce).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 256];
    let n = socket
        .recv(&mut buffer)
        .map_err(|e| format!("no UDP reply: {e}"))?;
    let reply = String::from_utf8_lossy(&buffer[..n]);
    if reply.trim() == format!("CB-ACK {}", check.nonce) {
        Ok(())
    } else {
        Err(format!("unexpected UDP answer {reply:?}"))
    }
}

fn send_tcp(
    check: &LivenessCheck,
    note: impl Fn(std::io::Result<SocketAddr>),
) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&check.addr, LIVENESS_TIMEOUT).map_err(|e| e.to_string())?;
    note(stream.local_addr());
    stream
        .set_read_timeout(Some(LIVENESS_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("CB-NONCE {}\n", check.nonce).as_bytes())
        .map_err(|e| e.to_string())?;
    match read_line(&mut stream, 256) {
        Some(line) if line.trim() == format!("CB-ACK {}", check.nonce) => Ok(()),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind) -> LivenessCheck {
        LivenessCheck {
            target: Target::Public,
            addr: "10.210.3.10:80".parse().unwrap(),
            nonce: "l0001".into(),
            kind,
            from: CheckFrom::At(Vantage::Checker),
        }
    }

    fn observed(outcome: Outcome, ack: bool) -> Observation {
        let mut observation = Observation::new("liveness#0", outcome, 3);
        observation.ack = ack;
        observation
    }

    /// The checker's attempt is the exchange this machine's sender makes: same address, nonce,
    /// timeout, and for DNS the same query name.
    #[test]
    fn a_check_becomes_the_same_exchange_as_a_probe_attempt() {
        let cases = [
            (CheckKind::Tcp, "kind=tcp;addr=10.210.3.10:80"),
            (CheckKind::Udp, "kind=udp;addr=10.210.3.10:80"),
            (
                CheckKind::DnsUdp,
                "kind=dns_udp;server=10.210.3.10:80;qname=l0001.live.fixture.test",
            ),
            (
                CheckKind::DnsTcp,
                "kind=dns_tcp;server=10.210.3.10:80;qname=l0001.live.fixture.test",
            ),
        ];
        for (kind, expected) in cases {
            let attempt = check(kind).as_attempt("liveness#7".into());
            assert_eq!(attempt.id, "liveness#7");
            assert_eq!(attempt.nonce, "l0001");
            assert_eq!(u128::from(attempt.timeout_ms), LIVENESS_TIMEOUT.as_millis());
            assert_eq!(attempt.stage, Stage::Fixed);
            let encoded = attempt.encode();
            assert!(encoded.contains(expected), "{kind:?}: {encoded}");
            assert_eq!(AttemptSpec::decode(&encoded).ok().as_ref(), Some(&attempt));
        }
    }

    /// Each false pass this rule prevents: a connection without the target's acknowledgement
    /// (something else answered, or nothing did), a DNS exchange without a reply.
    #[test]
    fn only_the_targets_own_answer_counts() {
        let cases = [
            (CheckKind::Tcp, observed(Outcome::Connected, true), true),
            (CheckKind::Tcp, observed(Outcome::Connected, false), false),
            (CheckKind::Tcp, observed(Outcome::Timeout, false), false),
            (CheckKind::Udp, observed(Outcome::Connected, true), true),
            (CheckKind::Udp, observed(Outcome::Connected, false), false),
            (CheckKind::DnsUdp, observed(Outcome::Answered, false), true),
            (CheckKind::DnsUdp, observed(Outcome::Timeout, false), false),
            (CheckKind::DnsTcp, observed(Outcome::Answered, false), true),
            (
                CheckKind::DnsTcp,
                observed(Outcome::Connected, false),
                false,
            ),
        ];
        for (kind, observation, alive) in cases {
            let result = check(kind).answered_in(&observation);
            assert_eq!(
                result.is_ok(),
                alive,
                "{kind:?} {observation:?}: {result:?}"
            );
            if let Err(why) = result {
                assert!(why.contains("checker"), "{why}");
                assert!(why.contains(observation.outcome().as_str()), "{why}");
            }
        }
    }
}
