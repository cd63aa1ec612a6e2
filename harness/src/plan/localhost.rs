//! The localhost family: this machine's loopback and its other addresses, loopback spellings,
//! and unix sockets of the host in the agent's filesystem.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::host_gateway;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let (t, host) = (i.topology, i.host);
    match a.spec().id {
        "localhost.agent_loopback" => {
            let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host.loopback_canary.port());
            a.add(
                AttemptKind::Tcp { addr },
                Some(Target::HostLoopback),
                addr.to_string(),
            );
            if let Some(gateway) = t.agent().host_gateway {
                // The host's loopback as a microVM reaches it through its VMM's gateway.
                let addr = SocketAddr::new(gateway.into(), host.loopback_canary.port());
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostLoopback),
                    format!("{addr} (the host's loopback via the VMM gateway)"),
                );
            }
            // Docker Desktop forwards what its containers send to `host.docker.internal` to
            // this machine's loopback.
            for route in host_gateway::routes(t, host)
                .iter()
                .filter(|r| r.to_loopback)
            {
                let addr = SocketAddr::new(route.ip, host.loopback_canary.port());
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostLoopback),
                    format!("{}:{} ({addr})", route.name, addr.port()),
                );
            }
        }
        "localhost.host_addresses" => {
            for ip in host.addresses.iter().chain(t.agent().host_gateway.iter()) {
                let addr = SocketAddr::new((*ip).into(), host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    addr.to_string(),
                );
            }
            for route in host_gateway::routes(t, host) {
                let addr = SocketAddr::new(route.ip, host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    format!("{}:{} ({addr})", route.name, addr.port()),
                );
            }
        }
        "localhost.loopback_spellings" => loopback_spellings(a, i),
        "localhost.host_sockets" => {
            a.add(
                AttemptKind::UnixSockets,
                None,
                "unix sockets in the agent's filesystem".into(),
            );
        }
        other => no_plan(other),
    }
}

/// What the kernel makes of them is the agent's own loopback; a bottle whose filter matches
/// "127.0.0.1" textually (or a VMM mapping only that) may not.
fn loopback_spellings(a: &mut Attempts, i: &Inputs) {
    let host = i.host;
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
            a.add(
                AttemptKind::Tcp { addr },
                Some(target),
                format!("{spelled}:{port}"),
            );
        }
    }
}
