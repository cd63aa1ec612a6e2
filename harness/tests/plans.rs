//! The plan pinned attempt by attempt: ids, order, encoded specs (kind, nonce, timeout, stage),
//! targets and destinations, for fixed topologies and a deterministic nonce counter (so the order
//! in which nonces are drawn is pinned too). A change to `plan::build` that changes what a bottle
//! is asked shows here as a snapshot diff.

mod common;

use std::fmt::Write as _;

use bottle_backends::Topology;
use bottle_harness::config::{ProxyConfig, TimeoutConfig};
use bottle_harness::plan::{self, HostSide, Plan};
use common::{bare_host, full_host, full_topology, microvm_topology};

fn build(topology: &Topology, host: &HostSide, only: Option<&[String]>) -> Plan {
    let mut counter = 0u32;
    let timeouts = TimeoutConfig {
        attempt_ms: 1400,
        control_ms: 4900,
        sweep_ms: 7900,
        ..TimeoutConfig::default()
    };
    plan::build(
        topology,
        host,
        &timeouts,
        &ProxyConfig::default(),
        only,
        || {
            counter += 1;
            format!("n{counter:04}")
        },
    )
}

/// Every field of the plan, one attempt a line.
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "session: {}", plan.session);
    let _ = writeln!(out, "agent_ips: {:?}", plan.agent_ips);
    let _ = writeln!(
        out,
        "bundle_ip: {}, bundle_upstream_ip: {}",
        plan.bundle_ip, plan.bundle_upstream_ip
    );
    let _ = writeln!(out, "declared_ports: {:?}", plan.declared_ports);
    let _ = writeln!(
        out,
        "resolver_owned: {}, expected_resolver: {:?}",
        plan.resolver_owned, plan.expected_resolver
    );
    let _ = writeln!(
        out,
        "allowed_host: {}, denied_host: {}",
        plan.allowed_host, plan.denied_host
    );
    let _ = writeln!(out, "dialers: {:?}", plan.dialers);
    let _ = writeln!(out, "longest_timeout_ms: {}", plan.longest_timeout_ms());
    for probe in &plan.probes {
        let _ = writeln!(
            out,
            "\n== {} ({}){}",
            probe.spec.id,
            probe.spec.expect.as_str(),
            probe
                .skipped
                .as_deref()
                .map(|why| format!(" skipped: {why}"))
                .unwrap_or_default()
        );
        for attempt in &probe.attempts {
            let _ = writeln!(
                out,
                "{}\n    target={:?} destination={}",
                attempt.spec.encode(),
                attempt.target,
                attempt.destination
            );
        }
    }
    out
}

#[test]
fn the_full_docker_plan_is_pinned() {
    let plan = build(&full_topology(), &full_host(), None);
    assert_eq!(plan.encoded_attempts().len(), plan.attempt_ids().len());
    insta::assert_snapshot!("plan_full_docker", render(&plan));
}

#[test]
fn the_microvm_plan_without_ipv6_or_icmp_recorder_is_pinned() {
    let plan = build(&microvm_topology(), &bare_host(), None);
    insta::assert_snapshot!("plan_microvm_bare_host", render(&plan));
}

#[test]
fn a_narrowed_plan_keeps_the_controls_and_is_pinned() {
    let only = vec![
        "proxy.denied_host".to_string(),
        "dns.direct_tcp".to_string(),
    ];
    let plan = build(&full_topology(), &full_host(), Some(&only));
    insta::assert_snapshot!("plan_only_two_probes", render(&plan));
}

/// The network rule where the harness does not own the agent's resolver (a microVM's resolver
/// forwards to this machine's): no attempt of the plan asks the agent's resolver anything, and
/// every probe that would is skipped with the reason, never judged.
#[test]
fn a_resolver_the_harness_does_not_own_is_sent_nothing() {
    use bottle_probes::wire::AttemptKind;
    let topology = microvm_topology();
    assert!(
        !topology.resolver_owned,
        "the microVM topology's resolver is not owned"
    );
    let plan = build(&topology, &bare_host(), None);
    let asking: Vec<&str> = plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| matches!(a.spec.kind, AttemptKind::Resolver { .. }))
        .map(|a| a.spec.id.as_str())
        .collect();
    assert!(
        asking.is_empty(),
        "attempts through the agent's resolver: {asking:?}"
    );
    for id in [
        "dns.resolver_control",
        "dns.resolver_control_tcp",
        "dns.resolver_exfil",
        "dns.resolver_exfil_tcp",
    ] {
        let probe = plan.probe(id).unwrap();
        let reason = probe.skipped.as_deref().unwrap_or_default();
        assert!(reason.contains("does not own"), "{id}: {reason:?}");
    }
    // With an owned resolver the same probes are planned.
    let owned = build(&full_topology(), &full_host(), None);
    assert!(owned
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .any(|a| matches!(a.spec.kind, AttemptKind::Resolver { .. })));
}

/// Docker Desktop (decided from the engine's `GET /info`, see backends/tests/engine_info.rs):
/// the networks' gateways are the engine VM's, where no canary of this machine listens, so the
/// gateway probe is skipped with the reason instead of judged; everything else is planned as on
/// a local engine.
#[test]
fn docker_desktop_skips_what_this_machine_cannot_see() {
    let local = build(&full_topology(), &full_host(), None);
    let mut desktop_topology = full_topology();
    desktop_topology.engine_host = bottle_backends::EngineHost::DockerDesktop;
    let desktop = build(&desktop_topology, &full_host(), None);
    let gateways = desktop.probe("lan.network_gateways").unwrap();
    assert!(gateways.attempts.is_empty());
    assert!(
        gateways
            .skipped
            .as_deref()
            .unwrap_or_default()
            .contains("Docker Desktop"),
        "{:?}",
        gateways.skipped
    );
    assert!(!local
        .probe("lan.network_gateways")
        .unwrap()
        .attempts
        .is_empty());
    for (a, b) in local.probes.iter().zip(&desktop.probes) {
        if a.spec.id != "lan.network_gateways" {
            assert_eq!(a.attempts.len(), b.attempts.len(), "{}", a.spec.id);
            assert_eq!(a.skipped, b.skipped, "{}", a.spec.id);
        }
    }
}
