//! The liveness checks pinned check by check: target, address, kind and nonce (from a
//! deterministic counter, so the order of the checks is pinned too), for fixed topologies and
//! hand-made host canaries. The order matters: a target's first failed check is the one a
//! verdict names.

mod common;

use std::fmt::Write as _;

use bottle_backends::Topology;
use bottle_fixtures::RecordSink;
use bottle_harness::host::{liveness_checks, HostCanaries};
use bottle_harness::plan::HostSide;
use common::{bare_host, full_host, full_topology, microvm_topology};

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
    let mut counter = 0u32;
    let checks = liveness_checks(
        topology,
        &canaries(host),
        &host.addresses,
        &host.addresses_v6,
        || {
            counter += 1;
            format!("l{counter:04}")
        },
    );
    let mut out = String::new();
    for check in checks {
        let _ = writeln!(
            out,
            "{} {:?} {:?} {}",
            check.nonce, check.target, check.kind, check.addr
        );
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
