//! The liveness checks pinned check by check: target, address, kind and nonce (from a
//! deterministic counter, so the order of the checks is pinned too), for fixed topologies and
//! hand-made host canaries. The order matters: a target's first failed check is the one a
//! verdict names.

mod common;

use std::fmt::Write as _;

use bottle_backends::Topology;
use bottle_fixtures::RecordSink;
use bottle_harness::host::{liveness_checks, HostCanaries};
use bottle_harness::plan::{HostGatewayRoute, HostSide};
use common::{bare_host, full_host, full_topology, microvm_topology, TopologyBuilder};

/// Canaries as `HostCanaries::start` would report them for `host`, without opening sockets.
fn canaries(host: &HostSide) -> HostCanaries {
    HostCanaries {
        sink: RecordSink::default(),
        loopback: host.loopback_canary,
        loopback_v6: host.loopback_canary_v6,
        all_interfaces_port: host.all_interfaces_port,
        all_interfaces_v6: host.all_interfaces_v6,
        icmp_recorder: host.icmp_recorder,
    }
}

fn render(topology: &Topology, host: &HostSide) -> String {
    render_with(topology, host, &[])
}

fn render_with(topology: &Topology, host: &HostSide, routes: &[HostGatewayRoute]) -> String {
    let mut counter = 0u32;
    let checks = liveness_checks(
        topology,
        &canaries(host),
        &host.addresses,
        &host.addresses_v6,
        routes,
        || {
            counter += 1;
            format!("l{counter:04}")
        },
    );
    let mut out = String::new();
    for check in checks {
        let _ = write!(
            out,
            "{} {:?} {:?} {}",
            check.nonce, check.target, check.kind, check.addr
        );
        // Checks exec'd at a vantage point (the checker, the bundle's namespace) say where.
        if let Some(vantage) = check.from.vantage() {
            let _ = write!(out, " from {vantage:?}");
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_full_docker_checks_are_pinned() {
    insta::assert_snapshot!(
        "liveness_full_docker",
        render(&full_topology(), &full_host())
    );
}

#[test]
fn the_microvm_checks_without_ipv6_are_pinned() {
    insta::assert_snapshot!(
        "liveness_microvm_bare_host",
        render(&microvm_topology(), &bare_host())
    );
}

/// Docker Desktop: every fixture host is checked from the bottle's checker (same addresses,
/// ports and protocols as from here), and only this machine's canaries from this machine.
#[test]
fn with_a_checker_the_fixtures_are_checked_from_it() {
    let topology = TopologyBuilder::from(&full_topology())
        .docker_desktop()
        .layout(|l| l.checker_ips = vec!["10.210.3.60".parse().unwrap()])
        .build();
    let with_checker = render(&topology, &full_host());
    insta::assert_snapshot!("liveness_full_docker_with_checker", with_checker);
    // Nothing else changes but the bridges' IPv6 gateways, which are the engine VM's there,
    // not this machine's: not checked (the nonces' numbering shifts with them).
    let gateways: Vec<String> = full_topology()
        .networks()
        .iter()
        .filter_map(|n| n.gateway_v6)
        .map(|ip| format!(" [{ip}]:"))
        .collect();
    let without_nonce = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                l.split_once(' ')
                    .unwrap()
                    .1
                    .trim_end_matches(" from Checker")
                    .trim_end_matches(" from BundleNamespace")
                    .to_string()
            })
            .collect()
    };
    let local: Vec<String> = without_nonce(&render(&full_topology(), &full_host()))
        .into_iter()
        .filter(|l| !gateways.iter().any(|g| l.contains(g.as_str())))
        .collect();
    assert!(local.len() < render(&full_topology(), &full_host()).lines().count());
    assert_eq!(without_nonce(&with_checker), local);
    for line in with_checker.lines() {
        let on_this_machine =
            line.contains(" HostLoopback ") || line.contains(" HostAllInterfaces ");
        // What only the bundle reaches (the recorder on its loopback, the LAN host's internal
        // leg, the metadata service through its route) is checked from inside the bundle's
        // namespace, wherever the engine runs.
        let in_the_bundle = line.ends_with(" from BundleNamespace");
        if line.contains(" BundleLoopback ") {
            assert!(in_the_bundle, "{line}");
        }
        if in_the_bundle {
            assert!(
                line.contains(" BundleLoopback ")
                    || line.contains(" Lan Tcp 10.210.5.40:")
                    || line.contains(" Metadata Tcp 169.254.169.254:"),
                "{line}"
            );
        } else {
            assert_eq!(line.ends_with(" from Checker"), !on_this_machine, "{line}");
        }
    }
}

/// The engine's names for this machine: each route the probes aim at is proven from the
/// checker, at the all-interfaces canary always and at the loopback canary where what is sent
/// there reaches this machine's loopback (Docker Desktop), and never from here.
#[test]
fn each_host_gateway_route_is_checked_from_the_checker() {
    let topology = TopologyBuilder::from(&full_topology())
        .docker_desktop()
        .build();
    let host = full_host();
    let route = |ip: &str, to_loopback| HostGatewayRoute {
        name: "host.docker.internal".into(),
        ip: ip.parse().unwrap(),
        to_loopback,
    };
    let base = render(&topology, &host);
    let with = render_with(
        &topology,
        &host,
        &[route("192.168.65.254", true), route("172.17.0.1", false)],
    );
    let added: Vec<&str> = with
        .lines()
        .skip(base.lines().count())
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(
        added,
        [
            "HostAllInterfaces Tcp 192.168.65.254:41001 from Checker",
            "HostLoopback Tcp 192.168.65.254:41000 from Checker",
            "HostAllInterfaces Tcp 172.17.0.1:41001 from Checker",
        ]
    );
}
