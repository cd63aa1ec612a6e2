//! What the reports tell a reader, locked by snapshots of judged scenarios: for every probe
//! its verdict, the `observed` summary and the detail (why it is inconclusive, what reached
//! where), and for every attempt what the probe printed, the judgement and what the targets
//! saw. A change to a rule's wording, or to which evidence a detail names, shows here as a
//! snapshot diff to review.

use std::fmt::Write as _;

use bottle_fixtures::records::{FixtureName, RejectedLine};
use bottle_harness::target::Target;
use bottle_harness::verdict::{BundleFailure, KnownGap, ProbeResult};
use bottle_probes::wire::Outcome;

use crate::scenario::*;

/// Every result, one block a probe: the fields a report shows.
fn render(results: &[ProbeResult]) -> String {
    let mut out = String::new();
    for r in results {
        let _ = writeln!(
            out,
            "== {} ({}, {}) {} ms: {}",
            r.id,
            r.family,
            r.expect,
            r.elapsed_ms,
            r.verdict.as_str()
        );
        let _ = writeln!(out, "observed: {}", r.observed);
        let _ = writeln!(out, "detail: {}", r.detail);
        for a in &r.attempts {
            let _ = writeln!(out, "  {} -> {} (nonce {})", a.id, a.destination, a.nonce);
            match &a.observation {
                Some(o) => {
                    let _ = writeln!(out, "    printed: {}", o.to_line());
                }
                None => {
                    let _ = writeln!(out, "    printed: nothing");
                }
            }
            let _ = writeln!(out, "    {}", a.judgement);
            for seen in &a.target_saw {
                let _ = writeln!(out, "    target saw: {seen}");
            }
        }
    }
    out
}

/// Only the probes whose verdict is not `pass`, for the scenarios that change a few.
fn render_changed(results: &[ProbeResult]) -> String {
    let changed: Vec<ProbeResult> = results
        .iter()
        .filter(|r| r.verdict.as_str() != "pass")
        .cloned()
        .collect();
    render(&changed)
}

#[test]
fn a_contained_bottles_report() {
    insta::assert_snapshot!("contained", render(&Scenario::contained().judge()));
}

#[test]
fn a_leaky_bottles_report() {
    let mut s = Scenario::contained();
    // Reach seen by a target: the nonce of a direct request.
    let nonce = s.nonce("public.direct_http");
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.1.3:51000",
        Some(&nonce),
        None,
    ));
    // A local error is no denial; a slow attempt sets the probe's time.
    let o = s.obs("lan.fixture_host");
    o.outcome = Some(Outcome::Error);
    o.errno = Some(13);
    o.note = Some("connect: permission denied".into());
    o.elapsed_ms = 2100;
    // The proxy forwarding a loopback spelling, unsigned.
    let o = s.obs("proxy.loopback_spellings");
    o.status = Some(502);
    o.signed.clear();
    o.reason = None;
    // The wrong resolver asked.
    s.obs("dns.resolver_exfil").note = Some("resolver 10.99.0.53:53; over udp".into());
    // An undeclared port on the bundle.
    s.obs("egress_bypass.port_sweep").open.push(9099);
    // Contact without a nonce, over UDP, from the agent.
    s.records.push(udp(record(
        FixtureName::Lan,
        "10.210.3.10:7",
        "10.210.1.3:40404",
        None,
        None,
    )));
    // A failed control, and the denies resting on it.
    s.obs("icmp.bundle_control").ack = false;
    // A dead target.
    s.liveness
        .insert(Target::Neighbour, Err("connection refused".into()));
    // An attempt the probe never reported.
    s.observations.remove("localhost.host_addresses#1");
    // A listener that did not say when it listened.
    s.obs("inbound.agent_listener").window = None;
    // The bundle looking up the side channel's literal.
    let mut lookup = record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.2:41234",
        None,
        Some("199.2.210.10.in-addr.arpa."),
    );
    lookup.proto = bottle_fixtures::records::Proto::Udp;
    s.records.push(lookup);
    // A refusal with the proxy's signature but another status.
    s.obs("proxy.denied_connect").status = Some(407);
    insta::assert_snapshot!("leaky", render_changed(&s.judge()));
}

#[test]
fn a_report_whose_evidence_is_incomplete() {
    // The probe's output did not parse: every attempt says why.
    let s = Scenario::contained();
    let garbage = s.judge_raw(b"everything is fine, all blocked\n");
    let mut out = render(&garbage[..3]);
    // A record line that could not be read: every pass names it.
    let mut s = Scenario::contained();
    s.rejected_records = vec![RejectedLine {
        source: "cb-t-lan".into(),
        text: "CB-SEEN fixture=lan event=dial-conected".into(),
        reason: "unknown event dial-conected".into(),
    }];
    let results = s.judge();
    out.push_str(&render(&results[..2]));
    // The bundle died during the run: the passes through it say so.
    let mut s = Scenario::contained();
    s.bundle_failure = Some(BundleFailure::new("the bundle is exited, exit code 1"));
    out.push_str(&render(
        &s.judge()
            .into_iter()
            .filter(|r| r.id == "proxy.denied_host" || r.id == "public.direct_http")
            .collect::<Vec<_>>(),
    ));
    insta::assert_snapshot!("incomplete", out);
}

#[test]
fn a_report_with_known_gaps_and_the_bundles_own_traffic() {
    let gap = |probe: &str| KnownGap {
        probe: probe.into(),
        reason: "the desktop-mode allow list opens it".into(),
        link: "claude-bottle issue 75".into(),
        expires: Some("2099-06-30".into()),
        destination: None,
    };
    let mut s = Scenario::contained();
    s.gaps.push(gap("public.direct_http"));
    s.gaps.push(gap("lan.fixture_host"));
    s.obs("lan.fixture_host").outcome = Some(Outcome::Connected);
    // The bundle reaching the LAN host, which no proxied request aims at.
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:8080",
        "10.210.2.2:45000",
        None,
        None,
    ));
    insta::assert_snapshot!("gaps_and_bundle_traffic", render_changed(&s.judge()));
}
