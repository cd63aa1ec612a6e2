//! What the probe printed: unusable output, lying probes and controls, outcomes per kind of
//! attempt, known gaps and exit codes.

use std::net::{Ipv4Addr, SocketAddr};

use bottle_fixtures::records::FixtureName;
use bottle_harness::target::Target;
use bottle_harness::verdict::{KnownGap, Verdict};
use bottle_probes::wire::Outcome;

use crate::scenario::*;

#[test]
fn a_contained_bottle_passes_every_probe() {
    let results = Scenario::contained().judge();
    assert_eq!(results.len(), bottle_probes::CATALOGUE.len());
    assert_only(&results, &[]);
}

#[test]
fn garbage_output_is_inconclusive_never_pass() {
    let s = Scenario::contained();
    for raw in [
        &b"\x00\xff garbage"[..],
        b"",
        b"CB2 id=localhost.agent_loopback#0;outcome=refused;elapsed_ms=1\n",
        b"everything is fine, all blocked\n",
    ] {
        for result in s.judge_raw(raw) {
            assert_eq!(
                result.verdict,
                Verdict::Inconclusive,
                "{raw:?} {}: {}",
                result.id,
                result.detail
            );
        }
    }
}

#[test]
fn truncated_or_foreign_session_output_is_inconclusive() {
    let s = Scenario::contained();
    let raw = s.raw_output();
    let cut = &raw[..raw.find("CB2-END").unwrap()];
    assert!(s
        .judge_raw(cut.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
    let foreign = raw.replace(&s.plan.session, "othersession");
    assert!(s
        .judge_raw(foreign.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
}

#[test]
fn output_with_an_unknown_attempt_is_rejected() {
    let s = Scenario::contained();
    let raw = s.raw_output().replace(
        "CB2-END",
        "CB2 id=made.up#0;outcome=refused;elapsed_ms=1\nCB2-END",
    );
    assert!(s
        .judge_raw(raw.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
}

#[test]
fn a_lying_probe_is_caught_by_the_target_records() {
    let mut s = Scenario::contained();
    // The probe says "timeout", but the public host recorded this attempt's nonce.
    let nonce = s.nonce("public.direct_http");
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.1.3:51000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("public.direct_http", Verdict::Escape)]);
}

#[test]
fn a_lying_control_without_target_evidence_is_not_trusted() {
    let mut s = Scenario::contained();
    // The probe claims 200 + ack for the control, but the public host never saw it.
    let nonce = s.nonce("proxy.allowed_http");
    s.records.retain(|r| !r.mentions(&nonce));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
    // Everything resting on that control can no longer pass.
    for probe in bottle_probes::CATALOGUE
        .iter()
        .filter(|p| p.controls.contains(&"proxy.allowed_http"))
    {
        assert_eq!(
            verdict_of(&results, probe.id),
            Verdict::Inconclusive,
            "{}",
            probe.id
        );
    }
}

#[test]
fn a_control_arriving_from_the_agent_rather_than_the_bundle_does_not_pass() {
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_connect");
    for r in s.records.iter_mut().filter(|r| r.mentions(&nonce)) {
        r.peer = "10.210.1.3:40000".parse().unwrap();
    }
    assert_eq!(
        verdict_of(&s.judge(), "proxy.allowed_connect"),
        Verdict::Inconclusive
    );
}

#[test]
fn connected_is_an_escape() {
    let mut s = Scenario::contained();
    s.obs("egress_bypass.direct_egress").outcome = Some(Outcome::Connected);
    assert_only(
        &s.judge(),
        &[("egress_bypass.direct_egress", Verdict::Escape)],
    );
}

#[test]
fn refused_timeout_and_unreachable_are_denials_but_errors_are_not() {
    for outcome in [Outcome::Refused, Outcome::Timeout, Outcome::Unreachable] {
        let mut s = Scenario::contained();
        s.obs("lan.fixture_host").outcome = Some(outcome);
        assert_only(&s.judge(), &[]);
    }
    let mut s = Scenario::contained();
    let o = s.obs("lan.fixture_host");
    o.outcome = Some(Outcome::Error);
    o.errno = Some(13);
    assert_only(&s.judge(), &[("lan.fixture_host", Verdict::Inconclusive)]);
}

#[test]
fn a_missing_attempt_is_inconclusive() {
    let mut s = Scenario::contained();
    s.observations.remove("localhost.host_addresses#1");
    assert_only(
        &s.judge(),
        &[("localhost.host_addresses", Verdict::Inconclusive)],
    );
}

#[test]
fn a_dead_target_makes_its_denials_inconclusive() {
    let mut s = Scenario::contained();
    s.liveness
        .insert(Target::Lan, Err("connection refused".into()));
    // Every probe aiming at the LAN host: over TCP, IPv6, ICMP and UDP, and the SSRF probes
    // through the proxy (its internal leg).
    assert_only(
        &s.judge(),
        &[
            ("lan.fixture_host", Verdict::Inconclusive),
            ("proxy_matching.internal_name", Verdict::Inconclusive),
            ("proxy_matching.dns_rebinding", Verdict::Inconclusive),
            ("icmp.echo", Verdict::Inconclusive),
            ("udp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_failed_dns_control_makes_dns_denials_inconclusive() {
    let mut s = Scenario::contained();
    s.obs("dns.resolver_control").outcome = Some(Outcome::Timeout);
    assert_only(
        &s.judge(),
        &[
            ("dns.resolver_control", Verdict::Inconclusive),
            ("dns.direct_udp", Verdict::Inconclusive),
            ("dns.resolver_exfil", Verdict::Inconclusive),
            // UDP echo rests on the UDP resolver control too.
            ("udp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn proxy_answers_are_judged_by_status_and_signature() {
    let mut s = Scenario::contained();
    let o = s.obs("proxy.connect_ip_literal");
    o.status = Some(200);
    o.signed.clear();
    assert_only(&s.judge(), &[("proxy.connect_ip_literal", Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs("proxy.denied_connect").outcome = Some(Outcome::Refused);
    assert_only(
        &s.judge(),
        &[("proxy.denied_connect", Verdict::Inconclusive)],
    );
}

#[test]
fn the_sweep_needs_every_port_and_only_the_declared_ones() {
    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").open.push(9099);
    assert_only(&s.judge(), &[("egress_bypass.port_sweep", Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").scanned = Some(30000);
    assert_only(
        &s.judge(),
        &[("egress_bypass.port_sweep", Verdict::Inconclusive)],
    );

    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").open.clear();
    assert_only(
        &s.judge(),
        &[("egress_bypass.port_sweep", Verdict::Inconclusive)],
    );
}

#[test]
fn resolver_exfiltration_is_judged_by_the_dns_canary() {
    let mut s = Scenario::contained();
    let nonce = s.nonce("dns.resolver_exfil");
    s.records.push(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.1.3:53000",
        None,
        Some(&format!("{nonce}.exfil.fixture.test")),
    ));
    assert_only(&s.judge(), &[("dns.resolver_exfil", Verdict::Escape)]);

    let mut s = Scenario::contained();
    let o = s.obs("dns.resolver_exfil_tcp");
    o.rcode = Some(0);
    o.answers = vec![Ipv4Addr::new(10, 210, 9, 9)];
    assert_only(&s.judge(), &[("dns.resolver_exfil_tcp", Verdict::Escape)]);
}

#[test]
fn contact_from_the_agent_without_a_nonce_is_attributed_to_the_direct_probe() {
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:443",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("public.direct_https", Verdict::Escape)]);
}

#[test]
fn host_contact_is_attributed_by_the_address_aimed_at() {
    let mut s = Scenario::contained();
    let gateway: SocketAddr = "10.210.2.1:41001".parse().unwrap();
    s.records.push(record(
        FixtureName::HostAll,
        &gateway.to_string(),
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("lan.network_gateways", Verdict::Escape)]);
}

#[test]
fn known_gaps_turn_escapes_into_known_gap_and_passes_into_unexpected_pass() {
    let gap = KnownGap {
        probe: "public.direct_http".into(),
        reason: "test".into(),
        link: "https://example.invalid/gap".into(),
        expires: None,
        destination: None,
    };
    let mut s = Scenario::contained();
    s.gaps.push(gap.clone());
    assert_only(
        &s.judge(),
        &[("public.direct_http", Verdict::UnexpectedPass)],
    );

    let mut s = Scenario::contained();
    s.gaps.push(gap);
    s.obs("public.direct_http").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("public.direct_http", Verdict::KnownGap)]);
}

#[test]
fn exit_codes_follow_the_verdicts() {
    use bottle_harness::{exit, Report};
    let s = Scenario::contained();
    assert_eq!(
        Report::new("docker", "v", "r", s.judge()).exit_code(),
        exit::OK
    );
    let mut escaped = Scenario::contained();
    escaped.obs("public.direct_http").outcome = Some(Outcome::Connected);
    assert_eq!(
        Report::new("docker", "v", "r", escaped.judge()).exit_code(),
        exit::ESCAPE
    );
    assert_eq!(
        Report::new("docker", "v", "r", s.judge_raw(b"junk")).exit_code(),
        exit::INCONCLUSIVE_OR_ERROR
    );
    assert_eq!(
        Report::new("docker", "v", "r", vec![]).exit_code(),
        exit::INCONCLUSIVE_OR_ERROR
    );
}

#[test]
fn a_resolver_the_harness_does_not_own_cannot_clear_exfiltration() {
    let mut s = Scenario::contained();
    let topo = builder().agent(|a| a.resolver_owned = false).build();
    s.plan.resolver_owned = topo.agent().resolver_owned;
    assert_only(
        &s.judge(),
        &[
            ("dns.resolver_exfil", Verdict::Inconclusive),
            ("dns.resolver_exfil_tcp", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_microvm_gateway_is_probed_as_the_hosts_loopback() {
    let topo = builder()
        .agent(|a| a.host_gateway = Some(Ipv4Addr::new(100, 96, 0, 1)))
        .build();
    let plan = make_plan_for(&topo);
    let loopback = plan.probe("localhost.agent_loopback").unwrap();
    assert!(loopback
        .attempts
        .iter()
        .any(|a| a.destination.starts_with("100.96.0.1:41000")));
    let addresses = plan.probe("localhost.host_addresses").unwrap();
    assert!(addresses
        .attempts
        .iter()
        .any(|a| a.destination == "100.96.0.1:41001"));
}
