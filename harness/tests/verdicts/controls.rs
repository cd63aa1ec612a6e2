//! The positive controls: a control passes only when the allowed path demonstrably worked,
//! since every deny on its path rests on it (a dead path makes every deny there look
//! contained). Each row names the false pass it prevents.

use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::{ProbeResult, Verdict};
use bottle_probes::wire::{Observation, Outcome};

use crate::scenario::*;

/// One change to an observation, in a table of cases.
type Change = fn(&mut Observation);

fn result<'r>(results: &'r [ProbeResult], id: &str) -> &'r ProbeResult {
    results.iter().find(|r| r.id == id).unwrap()
}

/// The probes that rest on `control` (its own verdict aside), which a failed control makes
/// inconclusive.
fn resting_on(control: &str) -> Vec<&'static str> {
    bottle_probes::CATALOGUE
        .iter()
        .filter(|p| p.controls.contains(&control))
        .map(|p| p.id)
        .collect()
}

/// Checks that `control` did not pass, with `detail_has` in its detail, and that nothing
/// resting on it passed (inconclusive, or an escape where the same evidence is reach).
fn control_fails(results: &[ProbeResult], control: &str, detail_has: &str, why: &str) {
    let r = result(results, control);
    assert_eq!(r.verdict, Verdict::Inconclusive, "{why}: {}", r.detail);
    assert!(r.detail.contains(detail_has), "{why}: {}", r.detail);
    for probe in resting_on(control) {
        let verdict = result(results, probe).verdict;
        assert!(
            matches!(verdict, Verdict::Inconclusive | Verdict::Escape),
            "{why}: {probe} rests on {control}, yet {verdict:?}"
        );
    }
}

#[test]
fn a_proxy_control_needs_200_the_targets_acknowledgement_and_the_bundle_as_sender() {
    let cases: &[(&str, Change, &str, &str)] = &[
        (
            "proxy.allowed_http",
            |o| o.ack = false,
            "expected 200 with the target's acknowledgement",
            "a control without the target's acknowledgement fails",
        ),
        (
            "proxy.allowed_connect",
            |o| o.ack = false,
            "expected 200 with the target's acknowledgement",
            "a tunnel without the target's acknowledgement fails",
        ),
        (
            "proxy.allowed_http",
            |o| o.status = Some(204),
            "expected 200",
            "a 2xx other than 200 is not the control's answer",
        ),
        (
            "proxy.allowed_connect",
            |o| {
                o.status = Some(403);
                o.ack = true;
            },
            "expected 200",
            "an acknowledgement beside a refusal is no working path",
        ),
    ];
    for (control, change, detail_has, why) in cases {
        let mut s = Scenario::contained();
        change(s.obs(control));
        control_fails(&s.judge(), control, detail_has, why);
    }
}

#[test]
fn a_proxy_control_the_target_did_not_see_from_the_bundle_fails_saying_so() {
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_http");
    s.records.retain(|r| !r.mentions(&nonce));
    control_fails(
        &s.judge(),
        "proxy.allowed_http",
        "the target did not record it arriving from the bundle",
        "a 200 and an acknowledgement the public host never recorded are a lying probe",
    );
}

#[test]
fn a_controls_nonce_arriving_from_anyone_but_the_bundle_is_not_a_pass() {
    // The bundle delivered it, and the agent sent it directly as well: the path is open to
    // the agent, so the control is no evidence of the proxy's path.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_http");
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.1.3:40001",
        Some(&nonce),
        None,
    ));
    let results = s.judge();
    control_fails(
        &results,
        "proxy.allowed_http",
        "also arrived from 10.210.1.3:40001",
        "a control whose nonce also arrived from the agent is not a pass",
    );
    // ... and the agent delivering it to the public host directly is reach of the direct probe.
    assert_eq!(verdict_of(&results, "public.direct_http"), Verdict::Escape);
}

#[test]
fn a_controls_nonce_seen_by_egress_on_the_bundles_loopback_is_its_own_path() {
    // pipelock hands the request to egress over the bundle's loopback: expected, no stray.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_http");
    s.records.push(record(
        FixtureName::Bundle,
        "127.0.0.1:9099",
        "127.0.0.1:45000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[]);
}

#[test]
fn a_resolver_control_needs_noerror_with_the_bundles_address_from_the_agents_resolver() {
    let cases: &[(Change, &str, &str)] = &[
        (
            |o| o.rcode = Some(3),
            "expected the bundle's address",
            "NXDOMAIN beside the bundle's address is no working resolver",
        ),
        (
            |o| o.answers = vec!["10.210.9.9".parse().unwrap()],
            "expected the bundle's address",
            "an address other than the bundle's is not the control's answer",
        ),
        (
            |o| o.answers.clear(),
            "expected the bundle's address",
            "NOERROR without any address is not the control's answer",
        ),
        (
            |o| o.outcome = Some(Outcome::Connected),
            "expected the bundle's address",
            "only an answer counts, not a bare connection",
        ),
        (
            |o| o.note = Some("resolver 10.99.0.53:53".into()),
            "the agent's resolver is 127.0.0.11:53",
            "an answer from another resolver says nothing of the agent's",
        ),
    ];
    for control in ["dns.resolver_control", "dns.resolver_control_tcp"] {
        for (change, detail_has, why) in cases {
            let mut s = Scenario::contained();
            change(s.obs(control));
            control_fails(&s.judge(), control, detail_has, why);
        }
    }
}

#[test]
fn a_ping_control_needs_the_echo_reply() {
    let cases: &[(Change, &str)] = &[
        (
            |o| o.ack = false,
            "a connected ping without the echo's acknowledgement fails",
        ),
        (
            |o| o.outcome = Some(Outcome::Refused),
            "a refused ping is a dead path, not a control",
        ),
        (
            |o| o.outcome = Some(Outcome::Timeout),
            "a timed-out ping is a dead path, not a control",
        ),
    ];
    for (change, why) in cases {
        let mut s = Scenario::contained();
        change(s.obs("icmp.bundle_control"));
        control_fails(&s.judge(), "icmp.bundle_control", "", why);
    }
}

#[test]
fn a_passing_control_says_what_held() {
    let results = Scenario::contained().judge();
    let cases = [
        (
            "proxy.allowed_http",
            "positive control held: http://public.fixture.test/ via 10.210.1.2:3128: http 200, acknowledged, and the target saw it arrive from the bundle",
        ),
        (
            "dns.resolver_control",
            "positive control held: bundle via the agent's resolver: answered rcode=0 [resolver 127.0.0.11:53] with the bundle's address",
        ),
        (
            "icmp.bundle_control",
            "positive control held: ping 10.210.1.2: connected",
        ),
    ];
    for (control, detail) in cases {
        assert_eq!(result(&results, control).detail, detail, "{control}");
    }
}
