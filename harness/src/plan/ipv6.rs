//! The IPv6 family: the escapes an IPv4-only host block does not cover, over this machine's
//! IPv6 loopback, global and link-local addresses, and the public host's IPv6 address.

use std::net::{Ipv6Addr, SocketAddr};

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let (t, host) = (i.topology, i.host);
    match a.spec().id {
        "ipv6.agent_loopback" => {
            if let Some(canary) = host.loopback_canary_v6 {
                let addr = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), canary.port());
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostLoopback),
                    addr.to_string(),
                );
            }
        }
        "ipv6.host_addresses" => {
            let mut addresses = host.addresses_v6.clone();
            // Without the dual-stack canary there is nothing to aim at on IPv6. The bridges'
            // gateways are this machine's only when the engine runs here (on Docker Desktop
            // they are the engine VM's, where no canary listens).
            if host.all_interfaces_v6 && t.layout().engine_host.routes_to_bridges() {
                addresses.extend(t.networks().iter().filter_map(|n| n.gateway_v6));
            }
            addresses.sort_unstable();
            addresses.dedup();
            for ip in addresses {
                let addr = SocketAddr::new(ip.into(), host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    addr.to_string(),
                );
            }
        }
        "ipv6.link_local" => {
            for ip in &host.link_local_v6 {
                a.add(
                    AttemptKind::TcpLinkLocal {
                        ip: *ip,
                        port: host.all_interfaces_port,
                    },
                    Some(Target::HostAllInterfaces),
                    format!("[{ip}%<each agent interface>]:{}", host.all_interfaces_port),
                );
            }
        }
        "ipv6.public_host" => {
            if let Some(ip) = t.layout().public_v6 {
                for port in &t.layout().public.ports {
                    let addr = SocketAddr::new(ip.into(), *port);
                    a.add(
                        AttemptKind::Tcp { addr },
                        Some(Target::Public),
                        addr.to_string(),
                    );
                }
            }
        }
        other => no_plan(other),
    }
}
