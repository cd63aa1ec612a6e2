//! A bundle that did not survive the run: the passes of the probes that went through it become
//! inconclusive, saying why; the others and every escape stay as they were.

use bottle_harness::verdict::{bundle_failed, Verdict};
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

#[test]
fn passes_through_a_dead_bundle_are_inconclusive() {
    let s = Scenario::contained();
    let mut results = s.judge();
    bundle_failed(
        &s.plan,
        &mut results,
        "the bundle (my/squid) is exited, exit code 1",
    );
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
    let mut results = s.judge();
    assert_eq!(
        verdict_of(&results, "egress_bypass.direct_egress"),
        Verdict::Escape
    );
    bundle_failed(&s.plan, &mut results, "the bundle is exited");
    assert_eq!(
        verdict_of(&results, "egress_bypass.direct_egress"),
        Verdict::Escape
    );
    assert_eq!(
        verdict_of(&results, "localhost.agent_loopback"),
        Verdict::Pass
    );
}
