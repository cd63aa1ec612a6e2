//! A bundle that did not survive the run: the passes of the probes that went through it become
//! inconclusive, saying why; the others and every escape stay as they were.

use bottle_backends::BundleHealth;
use bottle_fixtures::records::RejectedLine;
use bottle_harness::verdict::{BundleFailure, KnownGap, Verdict};
use bottle_probes::wire::Outcome;

use crate::scenario::*;

/// The probes of the contained scenario with an attempt addressed to the bundle.
const THROUGH_THE_BUNDLE: [&str; 19] = [
    "egress_bypass.direct_egress",
    "egress_bypass.port_sweep",
    "proxy.allowed_http",
    "proxy.allowed_connect",
    "proxy.denied_host",
    "proxy.denied_connect",
    "proxy.connect_ip_literal",
    "proxy.loopback_spellings",
    "proxy.dns_side_channel",
    "proxy_matching.tls_control",
    "proxy_matching.lookalike_names",
    "proxy_matching.denied_spellings",
    "proxy_matching.userinfo",
    "proxy_matching.host_header",
    "proxy_matching.sni_fronting",
    "proxy_matching.ip_literal_forms",
    "proxy_matching.internal_name",
    "proxy_matching.dns_rebinding",
    "metadata.via_proxy",
];

/// `icmp.echo`, resting on `icmp.bundle_control` (a ping of the bundle), keeps its pass: it
/// reads its control's own verdict, and its pings did not go to the bundle.
#[test]
fn passes_through_a_dead_bundle_are_inconclusive() {
    let mut s = Scenario::contained();
    s.bundle_failure = BundleFailure::of(&BundleHealth {
        image: "my/squid".into(),
        status: "exited".into(),
        exit_code: Some(1),
        ..BundleHealth::default()
    });
    let results = s.judge();
    let mut changed: Vec<(&str, Verdict)> = THROUGH_THE_BUNDLE
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    changed.push(("icmp.bundle_control", Verdict::Inconclusive));
    assert_only(&results, &changed);
    let detail = &results
        .iter()
        .find(|r| r.id == "proxy.denied_host")
        .unwrap()
        .detail;
    assert!(detail.contains("exit code 1"), "{detail}");
}

#[test]
fn an_escape_through_a_dead_bundle_stays_an_escape() {
    let mut s = Scenario::contained();
    s.obs("egress_bypass.direct_egress").outcome = Some(Outcome::Connected);
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "egress_bypass.direct_egress"),
        Verdict::Escape
    );
    s.bundle_failure = Some(BundleFailure::new("the bundle is exited"));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "egress_bypass.direct_egress"),
        Verdict::Escape
    );
    assert_eq!(
        verdict_of(&results, "localhost.agent_loopback"),
        Verdict::Pass
    );
}

/// The rules that only take a pass away name one reason: lost records before the dead bundle.
#[test]
fn lost_records_are_named_before_a_dead_bundle() {
    let mut s = Scenario::contained();
    s.bundle_failure = Some(BundleFailure::new("the bundle is exited"));
    s.rejected_records = vec![RejectedLine {
        source: "cb-t-public".into(),
        text: "CB-SEEN fixture=public event=nonse".into(),
        reason: "unknown event nonse".into(),
    }];
    let results = s.judge();
    let denied = results
        .iter()
        .find(|r| r.id == "proxy.denied_host")
        .unwrap();
    assert_eq!(denied.verdict, Verdict::Inconclusive);
    assert!(
        denied
            .detail
            .starts_with("the targets' records are incomplete")
            && denied.detail.contains("it would have been pass: "),
        "{}",
        denied.detail
    );
}

/// A known gap's ruling comes before the bundle's failure, which takes only a pass away.
#[test]
fn a_declared_gap_through_a_dead_bundle_stays_an_unexpected_pass() {
    let mut s = Scenario::contained();
    s.gaps.push(KnownGap {
        probe: "proxy.denied_host".into(),
        reason: "test".into(),
        link: "l".into(),
        expires: None,
        destination: None,
    });
    s.bundle_failure = Some(BundleFailure::new("the bundle is exited"));
    assert_eq!(
        verdict_of(&s.judge(), "proxy.denied_host"),
        Verdict::UnexpectedPass
    );
}
