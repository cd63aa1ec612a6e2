//! The engine's names for this machine (Docker Desktop's `host.docker.internal`, which the
//! docker backend reads from its checker, see `EngineView::host_names`) that the plan aims
//! the localhost probes at, and which of this machine's canaries are reached through each. The
//! liveness checks prove the same routes from the checker (`host::liveness_checks`), so one
//! rule decides both.

use std::net::{IpAddr, Ipv4Addr};

use bottle_backends::{EngineHost, Topology};

use super::model::{HostGatewayRoute, HostSide};

/// The routes to aim at. An address is trusted when this machine holds it (a Linux engine's
/// `host-gateway` is docker0's address), or when the engine itself reports Docker Desktop and
/// the address is a private IPv4 address outside every network this machine is on (Docker
/// Desktop's own network stack answers it for this machine; its default is 192.168.65.254).
/// Anything else could be a daemon's `host-gateway-ip` naming another host, which neither the
/// agent nor the checker may be aimed at.
pub(super) fn routes(topology: &Topology, host: &HostSide) -> Vec<HostGatewayRoute> {
    topology
        .engine()
        .host_names
        .iter()
        .filter_map(|named| {
            let this_machine = match named.ip {
                IpAddr::V4(ip) => host.addresses.contains(&ip),
                IpAddr::V6(ip) => host.addresses_v6.contains(&ip),
            };
            let desktops_own = match named.ip {
                IpAddr::V4(ip) => {
                    topology.engine().reported == EngineHost::DockerDesktop
                        && ip.is_private()
                        && !on_a_network_of_this_machine(ip, &host.subnets_v4)
                }
                IpAddr::V6(_) => false,
            };
            (this_machine || desktops_own).then(|| HostGatewayRoute {
                name: named.name.clone(),
                ip: named.ip,
                // Docker Desktop forwards to this machine's loopback; a Linux kernel never
                // hands a connection to docker0's address to a listener on 127.0.0.1.
                to_loopback: !this_machine,
            })
        })
        .collect()
}

/// Whether `ip` lies inside one of this machine's IPv4 networks (address and netmask).
fn on_a_network_of_this_machine(ip: Ipv4Addr, subnets: &[(Ipv4Addr, Ipv4Addr)]) -> bool {
    subnets.iter().any(|(address, netmask)| {
        let mask = u32::from(*netmask);
        mask != 0 && u32::from(ip) & mask == u32::from(*address) & mask
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_on_a_network_of_this_machine_is_found_by_its_mask() {
        let subnets = [(
            Ipv4Addr::new(192, 168, 1, 7),
            Ipv4Addr::new(255, 255, 255, 0),
        )];
        assert!(on_a_network_of_this_machine(
            Ipv4Addr::new(192, 168, 1, 200),
            &subnets
        ));
        assert!(!on_a_network_of_this_machine(
            Ipv4Addr::new(192, 168, 65, 254),
            &subnets
        ));
        // A zero mask (a point-to-point oddity) covers nothing rather than everything.
        let zero = [(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::UNSPECIFIED)];
        assert!(!on_a_network_of_this_machine(
            Ipv4Addr::new(192, 168, 65, 254),
            &zero
        ));
    }
}
