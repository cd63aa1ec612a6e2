//! The plan's bookkeeping as rules, whatever the topology: the ids and nonces the verdicts
//! attribute records by, the stage and timeout each attempt gets, and which probes a narrowed
//! plan keeps. A break here is a false pass waiting to happen: two attempts sharing a nonce
//! charge one's reach to the other, a nonce equal to the session's is "seen" in every output,
//! a narrowed plan without its controls passes denies that rest on nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bottle_backends::Topology;
use bottle_harness::config::{ProxyConfig, TimeoutConfig};
use bottle_harness::plan::{self, HostSide, Plan};
use bottle_probes::catalogue::{Expect, CATALOGUE};
use bottle_probes::wire::{AttemptKind, Stage};
use common::{bare_host, full_host, full_topology, microvm_topology, TopologyBuilder};

const TIMEOUTS: TimeoutConfig = TimeoutConfig {
    adaptive: true,
    floor_ms: 300,
    attempt_ms: 1400,
    control_ms: 4900,
    sweep_ms: 7900,
};

/// The plan with nonces `n0001`, `n0002`, ... in the order they are drawn.
fn build(topology: &Topology, host: &HostSide, only: Option<&[String]>) -> Plan {
    let mut counter = 0u32;
    plan::build(
        topology,
        host,
        &TIMEOUTS,
        &ProxyConfig::default(),
        only,
        || {
            counter += 1;
            format!("n{counter:04}")
        },
    )
}

fn plans() -> Vec<(&'static str, Plan)> {
    vec![
        ("full docker", build(&full_topology(), &full_host(), None)),
        (
            "microvm on a bare host",
            build(&microvm_topology(), &bare_host(), None),
        ),
    ]
}

#[test]
fn every_attempt_id_is_its_probe_and_its_place_and_unique() {
    for (name, plan) in plans() {
        let mut seen = Vec::new();
        for probe in &plan.probes {
            for (index, attempt) in probe.attempts.iter().enumerate() {
                assert_eq!(
                    attempt.spec.id,
                    format!("{}#{index}", probe.spec.id),
                    "{name}"
                );
                assert!(
                    !seen.contains(&attempt.spec.id.as_str()),
                    "{name}: {}",
                    attempt.spec.id
                );
                seen.push(attempt.spec.id.as_str());
            }
        }
        assert_eq!(
            plan.attempt_ids(),
            seen,
            "{name}: the ids the output is parsed against"
        );
    }
}

#[test]
fn no_two_attempts_share_a_nonce_and_none_is_the_sessions() {
    for (name, plan) in plans() {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for attempt in plan.probes.iter().flat_map(|p| &p.attempts) {
            assert_ne!(
                attempt.spec.nonce, plan.session,
                "{name}: {}",
                attempt.spec.id
            );
            assert!(
                !attempt.spec.nonce.is_empty(),
                "{name}: {}",
                attempt.spec.id
            );
            if let Some(other) = owner.insert(&attempt.spec.nonce, &attempt.spec.id) {
                panic!(
                    "{name}: {} and {other} share the nonce {}: one's reach would be charged to the other",
                    attempt.spec.id, attempt.spec.nonce
                );
            }
        }
    }
}

#[test]
fn a_query_names_nonce_is_its_attempts_nonce() {
    // A DNS attempt's reach shows as its query name at the canary: the name must carry the
    // nonce the attempt is judged by.
    for (name, plan) in plans() {
        let mut named = 0;
        for attempt in plan.probes.iter().flat_map(|p| &p.attempts) {
            let qname = match &attempt.spec.kind {
                AttemptKind::DnsUdp { qname, .. } | AttemptKind::DnsTcp { qname, .. } => qname,
                AttemptKind::Resolver { qname, .. } if qname != "bundle" => qname,
                AttemptKind::HttpProxy { host: name, .. }
                | AttemptKind::ConnectProxy {
                    authority: name, ..
                } if name.contains(".leak.fixture.test") => name,
                _ => continue,
            };
            named += 1;
            assert_eq!(
                qname.split('.').next(),
                Some(attempt.spec.nonce.as_str()),
                "{name}: {}",
                attempt.spec.id
            );
        }
        assert!(
            named >= 4,
            "{name}: only {named} attempts carry a nonce in a name"
        );
    }
}

#[test]
fn nonces_are_drawn_in_plan_order_with_the_session_last() {
    // Every probe draws its query-name nonce first, then one per attempt (a DNS attempt drops
    // its own for the query name's): the plan is reproducible from the nonce source.
    let plan = build(&full_topology(), &full_host(), None);
    let mut expected = 0u32;
    for probe in &plan.probes {
        expected += 1;
        let qname_nonce = format!("n{expected:04}");
        for attempt in &probe.attempts {
            expected += 1;
            let carries_qname = matches!(
                attempt.spec.kind,
                AttemptKind::DnsUdp { .. } | AttemptKind::DnsTcp { .. }
            ) || matches!(&attempt.spec.kind, AttemptKind::Resolver { qname, .. } if qname != "bundle");
            let nonce = if carries_qname {
                qname_nonce.clone()
            } else {
                format!("n{expected:04}")
            };
            assert_eq!(attempt.spec.nonce, nonce, "{}", attempt.spec.id);
        }
    }
    assert_eq!(plan.session, format!("n{:04}", expected + 1));
}

#[test]
fn each_attempt_runs_in_the_stage_and_with_the_timeout_its_kind_calls_for() {
    for (name, plan) in plans() {
        for probe in &plan.probes {
            for attempt in &probe.attempts {
                let proxied = attempt.spec.kind.through_proxy();
                let sweep = matches!(attempt.spec.kind, AttemptKind::Sweep { .. });
                let (stage, timeout) = match probe.spec.expect {
                    // Controls first, with the controls' timeout.
                    Expect::Allow => (Stage::Control, TIMEOUTS.control_ms),
                    // Only the proxy's own refusal denies a proxy attempt: it waits as long as
                    // a control would, from the start.
                    Expect::Deny if proxied => (Stage::Fixed, TIMEOUTS.control_ms),
                    // The sweep has its own budget.
                    Expect::Deny if sweep => (Stage::Fixed, TIMEOUTS.sweep_ms),
                    // Every other deny gets the timeout the controls' round trip sets.
                    Expect::Deny => (Stage::Adaptive, TIMEOUTS.attempt_ms),
                };
                assert_eq!(attempt.spec.stage, stage, "{name}: {}", attempt.spec.id);
                assert_eq!(
                    attempt.spec.timeout_ms, timeout,
                    "{name}: {}",
                    attempt.spec.id
                );
            }
        }
    }
}

#[test]
fn a_narrowed_plan_holds_the_chosen_probes_and_exactly_their_controls() {
    let topology = full_topology();
    for chosen in [
        vec!["public.direct_http"],
        vec!["dns.direct_udp", "icmp.echo"],
        vec!["proxy.allowed_http"],
        vec!["udp.echo"],
    ] {
        let only: Vec<String> = chosen.iter().map(|s| s.to_string()).collect();
        let plan = build(&topology, &full_host(), Some(&only));
        let got: BTreeSet<&str> = plan.probes.iter().map(|p| p.spec.id).collect();
        let mut want: BTreeSet<&str> = chosen.iter().copied().collect();
        for id in &chosen {
            let spec = CATALOGUE.iter().find(|p| p.id == *id).unwrap();
            want.extend(spec.controls.iter().copied());
        }
        assert_eq!(got, want, "{chosen:?}");
        // In catalogue order, as the full plan has them.
        let order: Vec<&str> = CATALOGUE
            .iter()
            .map(|p| p.id)
            .filter(|id| want.contains(id))
            .collect();
        let got: Vec<&str> = plan.probes.iter().map(|p| p.spec.id).collect();
        assert_eq!(got, order, "{chosen:?}");
    }
    // An id that is no probe selects nothing (its controls included).
    let plan = build(&topology, &full_host(), Some(&["made.up".to_string()]));
    assert!(plan.probes.is_empty());
}

#[test]
fn the_plan_carries_the_bottles_facts_the_verdicts_rest_on() {
    let topology = full_topology();
    let plan = build(&topology, &full_host(), None);
    let mut agent_ips = vec![topology.layout().agent_ip];
    agent_ips.extend(&topology.layout().agent_extra_ips);
    assert_eq!(plan.agent_ips, agent_ips);
    assert!(
        plan.agent_ips.len() > 1,
        "the fixture has an extra agent address"
    );
    assert_eq!(plan.bundle_ip, topology.layout().bundle_ip);
    assert_eq!(
        plan.bundle_upstream_ip,
        topology.layout().bundle_upstream_ip
    );
    assert_eq!(plan.declared_ports, topology.layout().ports.declared());
    assert_eq!(plan.refusal_status, ProxyConfig::default().refusal_status);
    // The dialers of the inbound probe: the outside hosts, the neighbour's by its name.
    let neighbour = topology.layout().neighbour.as_ref().unwrap().name.clone();
    assert_eq!(
        plan.dialers,
        vec!["public".to_string(), "lan".into(), neighbour]
    );
    // Without an inbound port nothing dials, and no dialer is expected.
    let topology = TopologyBuilder::from(&topology)
        .layout(|l| l.inbound_port = None)
        .build();
    let plan = build(&topology, &full_host(), None);
    assert!(plan.dialers.is_empty());
    let inbound = plan.probe("inbound.agent_listener").unwrap();
    assert!(inbound.attempts.is_empty() && inbound.skipped.is_some());
}
