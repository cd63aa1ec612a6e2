//! This machine dialling the agent's inbound listener while the probe exec runs, through one of
//! the harness's bridges only.

use bottle_fixtures::records::FixtureName;
use std::net::{Ipv4Addr, SocketAddr};

use bottle_backends::Topology;

use super::canaries::HostCanaries;

/// This machine dialling the agent's inbound listener while the probe exec runs, but only
/// when this machine has a route to the agent through one of the harness's bridges (with the
/// host block in place it has none, which is the point). It never dials through the default
/// route: that would send the agent's address to a gateway that is not the harness's.
pub(crate) struct HostDialer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostDialer {
    pub(crate) fn start(topology: &Topology, canaries: &HostCanaries) -> Option<Self> {
        let port = topology.layout().inbound_port?;
        // Where the engine is not on this machine (Docker Desktop), no bridge is this machine's:
        // a packet to the agent's address would leave by its default route.
        if !topology.layout().engine_host.routes_to_bridges() {
            return None;
        }
        let mut targets = Vec::new();
        let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        if routed_via_bridge(topology.layout().agent_ip, &table) {
            targets.push(SocketAddr::new(topology.layout().agent_ip.into(), port));
        }
        // An agent network with IPv6 has this machine's address as its gateway: on-link.
        if let (Some(ip), Some(_)) = (
            topology.layout().agent_ip_v6,
            topology.layout().agent_network.gateway_v6,
        ) {
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
                bottle_fixtures::canary::dial(
                    FixtureName::HostDialer,
                    target,
                    &sink,
                    200,
                    Some(&flag),
                )
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
fn routed_via_bridge(ip: Ipv4Addr, table: &str) -> bool {
    bottle_probes::sys::proc_net::parse_routes(table)
        .iter()
        .any(|r| {
            !r.is_default()
                && r.covers(ip)
                && (r.interface.starts_with("br-") || r.interface == "docker0")
        })
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
