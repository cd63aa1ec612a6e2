//! The harness's own side of the network: canaries on this machine, this machine's addresses,
//! and liveness checks the harness makes from here against every target it owns.
//!
//! A liveness check is what lets a "the agent could not reach X" verdict mean something: X was
//! up and answering, seen from outside the bottle, at the same time.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use bottle_backends::Topology;
use bottle_fixtures::canary::{read_line, Canary};
use bottle_fixtures::RecordSink;
use bottle_probes::dns;

use crate::errors::HarnessError;

const LIVENESS_TIMEOUT: Duration = Duration::from_secs(4);

/// The canaries on this machine: one on 127.0.0.1, one on ::1 (when this machine has IPv6),
/// and one on every interface (dual-stack `[::]` when possible, so IPv4 and IPv6 reach it).
pub struct HostCanaries {
    pub sink: RecordSink,
    pub loopback: SocketAddr,
    pub loopback_v6: Option<SocketAddr>,
    pub all_interfaces_port: u16,
    /// Whether the all-interfaces canary also listens on IPv6.
    pub all_interfaces_v6: bool,
    /// Whether echo requests to this machine are recorded (a raw socket: root only). Without
    /// it a ping to this machine that times out has no target-side view, so none is planned.
    pub icmp_recorder: bool,
}

impl HostCanaries {
    pub fn start() -> Result<Self, HarnessError> {
        let sink = RecordSink::default();
        let fail = |e: bottle_fixtures::FixtureError| HarnessError::HostCanary(e.to_string());
        let loopback = Canary::start(
            "host-loopback",
            "127.0.0.1:0".parse().expect("literal"),
            sink.clone(),
        )
        .map_err(fail)?;
        // Same fixture name: a record there is the host's loopback, whichever family.
        let loopback_v6 = Canary::start(
            "host-loopback",
            "[::1]:0".parse().expect("literal"),
            sink.clone(),
        )
        .ok()
        .map(|c| c.addr);
        let (all, all_interfaces_v6) =
            match Canary::start("host-all", "[::]:0".parse().expect("literal"), sink.clone()) {
                Ok(canary) => (canary, true),
                Err(_) => (
                    Canary::start(
                        "host-all",
                        "0.0.0.0:0".parse().expect("literal"),
                        sink.clone(),
                    )
                    .map_err(fail)?,
                    false,
                ),
            };
        // Only echo requests carrying a probe's nonce: anything on this machine may ping it.
        let icmp_recorder =
            bottle_fixtures::icmp::start_with("host-all", sink.clone(), true).is_ok();
        Ok(Self {
            sink,
            loopback: loopback.addr,
            loopback_v6,
            all_interfaces_port: all.addr.port(),
            all_interfaces_v6,
            icmp_recorder,
        })
    }
}

/// Every IPv4 address of this machine except loopback: interfaces, docker0, bridges. These are
/// the only non-container addresses the suite ever sends to. Never the default gateway.
pub fn host_addresses() -> Vec<Ipv4Addr> {
    let mut addrs: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|iface| match iface.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
            _ => None,
        })
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}

/// This machine's IPv6 addresses, except loopback: (global and unique-local, link-local).
/// Like the IPv4 list, only this machine's own addresses, never a router's.
pub fn host_addresses_v6() -> (Vec<Ipv6Addr>, Vec<Ipv6Addr>) {
    let mut routable = Vec::new();
    let mut link_local = Vec::new();
    // /proc/net/if_inet6 lists link-local addresses too (the interface-address crate skips
    // some); it is absent on a kernel without IPv6.
    let listed = bottle_probes::attempt::ipv6_interfaces().unwrap_or_default();
    for ip in listed.into_iter().map(|(_, _, ip)| ip) {
        {
            if ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4_mapped().is_some() {
                continue;
            }
            if ip.segments()[0] & 0xffc0 == 0xfe80 {
                link_local.push(ip);
            } else {
                routable.push(ip);
            }
        }
    }
    for list in [&mut routable, &mut link_local] {
        list.sort_unstable();
        list.dedup();
    }
    (routable, link_local)
}

/// This machine dialling the agent's inbound listener while the probe exec runs, but only
/// when this machine has a route to the agent through one of the harness's bridges (with the
/// host block in place it has none, which is the point). It never dials through the default
/// route: that would send the agent's address to a gateway that is not the harness's.
pub struct HostDialer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostDialer {
    pub fn start(topology: &Topology, canaries: &HostCanaries) -> Option<Self> {
        let port = topology.inbound_port?;
        let mut targets = Vec::new();
        let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        if routed_via_bridge(topology.agent_ip, &table) {
            targets.push(SocketAddr::new(topology.agent_ip.into(), port));
        }
        // An agent network with IPv6 has this machine's address as its gateway: on-link.
        if let (Some(ip), Some(_)) = (topology.agent_ip_v6, topology.agent_network.gateway_v6) {
            targets.push(SocketAddr::new(ip.into(), port));
        }
        if targets.is_empty() {
            return None;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // One dialer per target, so that a target that swallows tries does not starve the
        // others. Bounded: at most 200 tries each (10 s or more), usually ended with the probe exec.
        for target in targets {
            let (flag, sink) = (stop.clone(), canaries.sink.clone());
            std::thread::spawn(move || {
                bottle_fixtures::canary::dial("host-dialer", target, &sink, 200, Some(&flag))
            });
        }
        Some(Self { stop })
    }
}

impl Drop for HostDialer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether `/proc/net/route` has a route other than the default one that covers `ip` and
/// goes out through a Docker bridge (`br-*`, `docker0`).
pub fn routed_via_bridge(ip: Ipv4Addr, table: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(mask)) = (fields.first(), fields.get(1), fields.get(7))
        else {
            return false;
        };
        let parse = |hex: &str| {
            u32::from_str_radix(hex, 16)
                .ok()
                .map(|v| u32::from_be_bytes(v.to_le_bytes()))
        };
        let (Some(dest), Some(mask)) = (parse(dest), parse(mask)) else {
            return false;
        };
        mask != 0
            && (u32::from(ip) & mask) == dest
            && (iface.starts_with("br-") || *iface == "docker0")
    })
}

pub use crate::target::Target;

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

/// One liveness check to make: a nonce sent from the harness to a target, on every port and
/// protocol the probes use there.
#[derive(Clone, Debug)]
pub struct LivenessCheck {
    pub target: Target,
    pub addr: SocketAddr,
    pub nonce: String,
    pub kind: CheckKind,
}

/// The checks for a bottle; `nonce` makes a fresh nonce per check. The all-interfaces canary is
/// checked on every host address the probes aim at.
pub fn liveness_checks(
    topology: &Topology,
    canaries: &HostCanaries,
    host_addresses: &[Ipv4Addr],
    host_addresses_v6: &[Ipv6Addr],
    mut nonce: impl FnMut() -> String,
) -> Vec<LivenessCheck> {
    let mut checks = Vec::new();
    let mut check = |target, ip: IpAddr, port, kind| {
        checks.push(LivenessCheck {
            target,
            addr: SocketAddr::new(ip, port),
            nonce: nonce(),
            kind,
        })
    };
    if let Some(v6) = canaries.loopback_v6 {
        check(Target::HostLoopback, v6.ip(), v6.port(), CheckKind::Tcp);
    }
    if canaries.all_interfaces_v6 {
        // Every IPv6 address the plan aims at: this machine's, and the run's bridges' gateways
        // (one still tentative fails here, so its probe cannot pass on a silence).
        let mut v6: Vec<Ipv6Addr> = host_addresses_v6.to_vec();
        v6.extend(topology.networks().iter().filter_map(|n| n.gateway_v6));
        v6.sort_unstable();
        v6.dedup();
        for ip in &v6 {
            check(
                Target::HostAllInterfaces,
                (*ip).into(),
                canaries.all_interfaces_port,
                CheckKind::Tcp,
            );
        }
    }
    if let Some(ip) = topology.public_v6 {
        for port in &topology.public.ports {
            check(Target::Public, ip.into(), *port, CheckKind::Tcp);
        }
    }
    // The metadata fixture is checked on its upstream address: this machine's own route to
    // 169.254.169.254 is not the harness's and is never used.
    if let (Some(metadata), Some(ip)) = (&topology.metadata, topology.metadata_upstream_ip) {
        for port in &metadata.ports {
            check(Target::Metadata, ip.into(), *port, CheckKind::Tcp);
        }
    }
    if let (Some(neighbour), Some(ip)) = (&topology.neighbour, topology.neighbour_upstream_ip) {
        for port in &neighbour.ports {
            check(Target::Neighbour, ip.into(), *port, CheckKind::Tcp);
        }
    }
    let mut check = |target, ip: Ipv4Addr, port, kind| check(target, IpAddr::V4(ip), port, kind);
    check(
        Target::HostLoopback,
        Ipv4Addr::LOCALHOST,
        canaries.loopback.port(),
        CheckKind::Tcp,
    );
    for ip in std::iter::once(&Ipv4Addr::LOCALHOST).chain(host_addresses) {
        check(
            Target::HostAllInterfaces,
            *ip,
            canaries.all_interfaces_port,
            CheckKind::Tcp,
        );
    }
    for port in &topology.public.ports {
        check(Target::Public, topology.public.ip, *port, CheckKind::Tcp);
    }
    for port in &topology.lan.ports {
        check(Target::Lan, topology.lan.ip, *port, CheckKind::Tcp);
    }
    let echo = bottle_backends::spec::hosts::UDP_ECHO_PORT;
    check(Target::Public, topology.public.ip, echo, CheckKind::Udp);
    check(Target::Lan, topology.lan.ip, echo, CheckKind::Udp);
    if let Some(ip) = topology.neighbour_upstream_ip {
        check(Target::Neighbour, ip, echo, CheckKind::Udp);
    }
    check(Target::Dns, topology.dns.ip, 53, CheckKind::DnsUdp);
    check(Target::Dns, topology.dns.ip, 53, CheckKind::DnsTcp);
    checks
}

/// Sends one check; the target's records decide whether it counts (see `verdict`).
/// `own_ends` collects the harness's end of every connection and socket it opens, so the
/// targets' records of these checks are recognised even when the nonce never got through.
pub fn send_liveness(
    check: &LivenessCheck,
    own_ends: &std::sync::Mutex<Vec<SocketAddr>>,
) -> Result<(), String> {
    let note = |addr: std::io::Result<SocketAddr>| {
        if let (Ok(addr), Ok(mut ends)) = (addr, own_ends.lock()) {
            ends.push(addr);
        }
    };
    let qname = format!("{}.live.fixture.test", check.nonce);
    match check.kind {
        CheckKind::DnsUdp => {
            let query =
                dns::build_query(0x4c56, &qname).ok_or("cannot encode the liveness query")?;
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
            return Ok(());
        }
        CheckKind::DnsTcp => {
            let query =
                dns::build_query(0x4c57, &qname).ok_or("cannot encode the liveness query")?;
            let mut stream = TcpStream::connect_timeout(&check.addr, LIVENESS_TIMEOUT)
                .map_err(|e| e.to_string())?;
            note(stream.local_addr());
            stream
                .set_read_timeout(Some(LIVENESS_TIMEOUT))
                .map_err(|e| e.to_string())?;
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            stream.write_all(&framed).map_err(|e| e.to_string())?;
            let mut len = [0u8; 2];
            std::io::Read::read_exact(&mut stream, &mut len)
                .map_err(|e| format!("no DNS reply over TCP: {e}"))?;
            return Ok(());
        }
        CheckKind::Udp => {
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
            return if reply.trim() == format!("CB-ACK {}", check.nonce) {
                Ok(())
            } else {
                Err(format!("unexpected UDP answer {reply:?}"))
            };
        }
        CheckKind::Tcp => {}
    }
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

    #[test]
    fn only_bridge_routes_count_never_the_default_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     br-1a2b\t0005D20A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        // 10.210.5.3 is on the bridge's /24.
        assert!(routed_via_bridge(Ipv4Addr::new(10, 210, 5, 3), table));
        // Only the default route covers 10.210.6.3: never dialled.
        assert!(!routed_via_bridge(Ipv4Addr::new(10, 210, 6, 3), table));
        // A route through a non-bridge interface does not count either.
        assert!(!routed_via_bridge(Ipv4Addr::new(192, 0, 2, 7), table));
    }
}
