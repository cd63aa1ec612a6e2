//! Who sent it: a record at a target that carries no attempt's nonce is charged by its sender.
//! What the agent (or an address that may hide it) sent is reach of the attempts aiming there;
//! what the bundle sent is never charged to a probe the agent sends itself: a proxied request
//! aiming there answers for it, else it is the bundle's own traffic, named as such, and the
//! proxy probes (whose requests the bundle acts on) cannot pass while it is unexplained.

use bottle_fixtures::records::{FixtureName, Proto};
use bottle_fixtures::Record;
use bottle_harness::verdict::Verdict;

use super::scenario::{assert_only, record, Scenario};

const PROXY_DENIES: [&str; 5] = [
    "proxy.denied_host",
    "proxy.denied_connect",
    "proxy.connect_ip_literal",
    "proxy.loopback_spellings",
    "metadata.via_proxy",
];

/// A UDP query for `qname` at the DNS canary from `peer`, carrying no nonce.
fn query(peer: &str, qname: &str) -> Record {
    let mut r = record(FixtureName::Dns, "10.210.2.53:53", peer, None, Some(qname));
    r.proto = Proto::Udp;
    r
}

fn detail(s: &Scenario, probe: &str) -> String {
    s.judge()
        .into_iter()
        .find(|r| r.id == probe)
        .map(|r| r.detail)
        .unwrap()
}

#[test]
fn the_bundles_reverse_lookup_is_not_charged_to_the_dns_probes() {
    // Squid with a plain `dstdomain` ACL looks up the IP literal it was asked for.
    let mut s = Scenario::contained();
    s.records
        .push(query("10.210.2.2:41234", "10.2.210.10.in-addr.arpa"));
    let changed: Vec<(&str, Verdict)> = PROXY_DENIES
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    assert_only(&s.judge(), &changed);
    let why = detail(&s, "proxy.connect_ip_literal");
    assert!(
        why.contains("a query for 10.2.210.10.in-addr.arpa sent by the bundle (10.210.2.2:41234)"),
        "{why}"
    );
}

#[test]
fn the_same_query_from_the_agent_is_reach_of_the_dns_probes_naming_the_agent() {
    let mut s = Scenario::contained();
    s.records
        .push(query("10.210.1.3:41234", "10.2.210.10.in-addr.arpa"));
    assert_only(
        &s.judge(),
        &[
            ("dns.direct_udp", Verdict::Escape),
            ("dns.resolver_exfil", Verdict::Escape),
        ],
    );
    let why = detail(&s, "dns.direct_udp");
    assert!(why.contains("from 10.210.1.3:41234 (the agent)"), "{why}");
}

#[test]
fn the_bundle_reaching_a_target_no_proxied_request_aims_at_is_its_own_traffic() {
    // Not the agent's direct attempt at the LAN host: the bundle's address sent it.
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:80",
        "10.210.2.2:40500",
        None,
        None,
    ));
    let changed: Vec<(&str, Verdict)> = PROXY_DENIES
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    assert_only(&s.judge(), &changed);
    let why = detail(&s, "proxy.denied_host");
    assert!(
        why.contains("recorded contact sent by the bundle (10.210.2.2:40500)"),
        "{why}"
    );
}

#[test]
fn a_nonce_still_decides_whoever_sent_it() {
    // The bundle forwarding the agent's exfil name (a sidecar resolver): the nonce is the
    // attempt's, so it is that attempt's escape.
    let mut s = Scenario::contained();
    let nonce = s.nonce("dns.resolver_exfil");
    s.records.push(query(
        "10.210.2.2:41234",
        &format!("{nonce}.exfil.fixture.test"),
    ));
    assert_only(&s.judge(), &[("dns.resolver_exfil", Verdict::Escape)]);
}
