//! The localhost family: this machine's loopback and its other addresses, loopback spellings,
//! and unix sockets of the host in the agent's filesystem.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::build::{no_plan, Inputs};
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
            if let Some(gateway) = t.guest_host_gateway {
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
            for named in engine_names(i) {
                let addr = SocketAddr::new(named.ip, host.loopback_canary.port());
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostLoopback),
                    format!("{}:{} ({addr})", named.name, addr.port()),
                );
            }
        }
        "localhost.host_addresses" => {
            for ip in host.addresses.iter().chain(t.guest_host_gateway.iter()) {
                let addr = SocketAddr::new((*ip).into(), host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    addr.to_string(),
                );
            }
            for named in engine_names(i) {
                let addr = SocketAddr::new(named.ip, host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    format!("{}:{} ({addr})", named.name, addr.port()),
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

/// The engine's names for this machine (`host.docker.internal`) that the localhost probes aim
/// at: those whose address this machine holds (a Linux engine's `host-gateway` is docker0's
/// address), and, on an engine that itself reports Docker Desktop, its `host-gateway`, an
/// address of Docker Desktop's own network stack that it answers for this machine. Anything
/// else could be a daemon's `host-gateway-ip` set to another host, which no probe may aim at.
fn engine_names<'t>(i: &Inputs<'t>) -> impl Iterator<Item = &'t bottle_backends::HostName> {
    let (t, host) = (i.topology, i.host);
    t.engine_host_names.iter().filter(move |named| {
        let this_machine = match named.ip {
            IpAddr::V4(ip) => host.addresses.contains(&ip),
            IpAddr::V6(ip) => host.addresses_v6.contains(&ip),
        };
        this_machine || t.engine_host_reported == bottle_backends::EngineHost::DockerDesktop
    })
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
