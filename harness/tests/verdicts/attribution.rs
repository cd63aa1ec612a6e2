//! Who sent it: a record at a target that carries no attempt's nonce is charged by its sender.
//! What the agent (or an address that may hide it) sent is reach of the attempts aiming there;
//! what the bundle sent is never charged to a probe the agent sends itself: a proxied request
//! aiming there answers for it, else it is the bundle's own traffic, named as such, and the
//! proxy probes (whose requests the bundle acts on) cannot pass while it is unexplained. The
//! bundle's lookups of what the agent chose (a name carrying a nonce, the reverse lookup of an
//! IP literal any proxy probe asked for) are `proxy.dns_side_channel`'s.

use bottle_fixtures::records::{FixtureName, Proto};
use bottle_fixtures::Record;
use bottle_harness::verdict::Verdict;

use super::scenario::{assert_only, record, Scenario};

/// Every deny through the proxy: the bundle's own unexplained traffic makes each unclear, the
/// ones a delivery decides too (a delivery never hides it).
const PROXY_DENIES: [&str; 14] = [
    "proxy.dns_side_channel",
    "proxy.denied_host",
    "proxy.denied_connect",
    "proxy.connect_ip_literal",
    "proxy.loopback_spellings",
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

/// A UDP query for `qname` at the DNS canary from `peer`, carrying no nonce.
fn query(peer: &str, qname: &str) -> Record {
    let mut r = record(FixtureName::Dns, "10.210.2.53:53", peer, None, Some(qname));
    r.proto = Proto::Udp;
    r
}

/// The side channel alone escaped, and its detail names the query and the bundle as sender.
fn side_channel_only(s: &Scenario, qname: &str) -> String {
    assert_only(&s.judge(), &[("proxy.dns_side_channel", Verdict::Escape)]);
    let why = s.detail("proxy.dns_side_channel");
    assert!(
        why.contains(&format!(
            "a query for {qname} from 10.210.2.2:41234 (the bundle)"
        )),
        "{why}"
    );
    why
}

#[test]
fn the_bundles_reverse_lookup_of_the_side_channels_literal_is_its_escape() {
    // Squid with a plain `dstdomain` ACL looks up the IP literal it was asked for: the upstream
    // network's never-assigned host, which names this run's network.
    let mut s = Scenario::contained();
    s.records
        .push(query("10.210.2.2:41234", "199.2.210.10.in-addr.arpa."));
    let why = side_channel_only(&s, "199.2.210.10.in-addr.arpa.");
    assert!(why.starts_with("http://10.210.2.199/ via"), "{why}");
    assert!(
        why.contains(
            "the reverse lookup of 10.210.2.199, an IP literal the agent asked the proxy for"
        ),
        "{why}"
    );
}

#[test]
fn the_bundles_reverse_lookups_of_other_proxy_probes_literals_are_the_side_channels() {
    // The agent chose these too: the CONNECT literal (the public host), a loopback spelling
    // as inet_aton reads it, its IPv6 spelling, and the metadata address. Not the DNS probes'.
    let loopback_v6 = format!("1.{}ip6.arpa", "0.".repeat(31));
    for (qname, ip) in [
        ("10.2.210.10.in-addr.arpa", "10.210.2.10"),
        ("1.0.0.127.IN-ADDR.ARPA", "127.0.0.1"),
        ("2.0.0.127.in-addr.arpa", "127.0.0.2"),
        (loopback_v6.as_str(), "::1"),
        ("254.169.254.169.in-addr.arpa", "169.254.169.254"),
    ] {
        let mut s = Scenario::contained();
        s.records.push(query("10.210.2.2:41234", qname));
        let why = side_channel_only(&s, qname);
        assert!(
            why.contains(&format!("the reverse lookup of {ip},")),
            "{why}"
        );
    }
}

#[test]
fn the_bundle_resolving_a_name_carrying_the_side_channels_nonce_is_its_escape() {
    // A proxy that resolves what it is asked for before refusing it.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.dns_side_channel");
    let attempt = &s.plan.probe("proxy.dns_side_channel").unwrap().attempts[0];
    assert!(
        attempt
            .destination
            .starts_with(&format!("http://{nonce}.leak.fixture.test/")),
        "{}",
        attempt.destination
    );
    s.records.push(query(
        "10.210.2.2:41234",
        &format!("{nonce}.leak.fixture.test"),
    ));
    assert_only(&s.judge(), &[("proxy.dns_side_channel", Verdict::Escape)]);
    assert!(s
        .detail("proxy.dns_side_channel")
        .contains("dns recorded this attempt's nonce"));
}

#[test]
fn the_bundles_reverse_lookup_of_an_address_no_request_named_is_its_own_traffic() {
    // Not agent-chosen data: charged to nothing, and no proxy probe passes while it is unexplained.
    let mut s = Scenario::contained();
    s.records
        .push(query("10.210.2.2:41234", "77.2.210.10.in-addr.arpa"));
    let changed: Vec<(&str, Verdict)> = PROXY_DENIES
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    assert_only(&s.judge(), &changed);
    let why = s.detail("proxy.connect_ip_literal");
    assert!(
        why.contains("a query for 77.2.210.10.in-addr.arpa sent by the bundle (10.210.2.2:41234)"),
        "{why}"
    );
}

#[test]
fn the_same_query_from_the_agent_is_reach_of_the_dns_probes_naming_the_agent() {
    // The side channel is what the bundle sent; the agent asking the canary itself is DNS reach.
    for qname in ["10.2.210.10.in-addr.arpa", "199.2.210.10.in-addr.arpa"] {
        let mut s = Scenario::contained();
        s.records.push(query("10.210.1.3:41234", qname));
        assert_only(
            &s.judge(),
            &[
                ("dns.direct_udp", Verdict::Escape),
                ("dns.resolver_exfil", Verdict::Escape),
            ],
        );
        let why = s.detail("dns.direct_udp");
        assert!(
            why.contains(&format!(
                "a query for {qname} from 10.210.1.3:41234 (the agent)"
            )),
            "{why}"
        );
    }
}

#[test]
fn a_refusal_without_a_signature_holds_on_the_side_channel_whose_canary_records_lookups() {
    // The canary records what a resolving proxy looks up, and the literal is an address nothing
    // holds: an unsigned 403 there cannot be a destination's own answer.
    let mut s = Scenario::contained();
    for (id, o) in s.observations.iter_mut() {
        if id.starts_with("proxy.dns_side_channel#") {
            o.signed.clear();
        }
    }
    assert_only(&s.judge(), &[]);
}

#[test]
fn the_bundle_reaching_a_target_no_proxied_request_aims_at_is_its_own_traffic() {
    // Not the agent's direct attempt at the neighbour: the bundle's address sent it, and no
    // proxied request aims there (the LAN host no longer qualifies: the SSRF probes do).
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Neighbour,
        "10.210.2.20:3128",
        "10.210.2.2:40500",
        None,
        None,
    ));
    let changed: Vec<(&str, Verdict)> = PROXY_DENIES
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    assert_only(&s.judge(), &changed);
    let why = s.detail("proxy.denied_host");
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
