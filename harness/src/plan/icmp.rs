//! The ICMP family: a ping of the bundle as the control, and pings of every host outside the
//! bottle that has a target-side view of its echo requests.

use std::net::{IpAddr, Ipv4Addr};

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "icmp.bundle_control" => {
            // The bundle as the agent reaches it (smolvm's desktop mode: the VMM's gateway,
            // which smolvm answers itself; the bundle's own address is not the agent's to
            // reach there).
            let ip = t.bundle_as_reached().ip;
            a.add(
                AttemptKind::Ping { ip: ip.into() },
                None,
                format!("ping {ip}"),
            );
        }
        "icmp.echo" => {
            for (ip, target, what) in echo_targets(i) {
                a.add(
                    AttemptKind::Ping { ip },
                    Some(target),
                    format!("ping {ip} ({what})"),
                );
            }
        }
        other => no_plan(other),
    }
}

/// The hosts `icmp.echo` pings, in order: the fixture hosts, the neighbour, then this machine.
fn echo_targets(i: &Inputs) -> Vec<(IpAddr, Target, &'static str)> {
    let (t, host) = (i.topology, i.host);
    let mut pings = vec![
        (
            IpAddr::V4(t.layout().public.ip),
            Target::Public,
            "public host",
        ),
        (IpAddr::V4(t.layout().lan.ip), Target::Lan, "LAN host"),
        (IpAddr::V4(t.layout().dns.ip), Target::Dns, "DNS canary"),
    ];
    if let Some(neighbour) = &t.layout().neighbour {
        pings.push((neighbour.ip.into(), Target::Neighbour, "neighbour bottle"));
    }
    // This machine only with a target-side view of its echo requests.
    let mut host_ips: Vec<Ipv4Addr> = Vec::new();
    if host.icmp_recorder {
        host_ips.extend(host.addresses.iter().copied());
        // The bridges' gateways are this machine's only when the engine runs here.
        if t.layout().engine_host.routes_to_bridges() {
            host_ips.extend(t.networks().iter().map(|n| n.gateway));
        }
        host_ips.extend(t.agent().host_gateway);
    }
    host_ips.sort_unstable();
    host_ips.dedup();
    for ip in host_ips {
        pings.push((ip.into(), Target::HostAllInterfaces, "this machine"));
    }
    pings
}
