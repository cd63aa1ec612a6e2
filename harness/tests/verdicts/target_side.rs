//! What the targets recorded: legitimate traffic, replayed and stray nonces, contact without a
//! nonce charged to the attempts that aim there, and each target family.

use std::net::Ipv4Addr;

use bottle_fixtures::records::{FixtureName, Proto};
use bottle_harness::target::Target;
use bottle_harness::verdict::{KnownGap, Verdict};
use bottle_probes::wire::Outcome;

use crate::scenario::*;

#[test]
fn legitimate_traffic_at_the_targets_is_not_an_escape() {
    let mut s = Scenario::contained();
    // The harness's own liveness check, and the accept record of the same connection.
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:80",
        "10.210.3.1:50000",
        Some("live0001"),
        None,
    ));
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:80",
        "10.210.3.1:50000",
        None,
        None,
    ));
    // A liveness connection whose nonce never arrived (the harness's own end is known).
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:22",
        "10.210.3.1:50500",
        None,
        None,
    ));
    // The bundle resolving the proxy names at the DNS canary (AAAA forwarded by Docker).
    s.records.push(udp(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.2:41000",
        None,
        Some("public.fixture.test"),
    )));
    // pipelock reaching egress over the bundle's loopback.
    s.records.push(record(
        FixtureName::Bundle,
        "127.0.0.1:9099",
        "127.0.0.1:42000",
        None,
        None,
    ));
    // The accept record of a control's connection from the bundle.
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.2.2:40000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[]);
}

/// Docker Desktop: the fixture hosts are checked from the checker, whose local ends the
/// harness cannot know. A record from the checker's address is the harness's own, nonce or
/// not; the same record from any other address is contact nobody asked for.
#[test]
fn the_checkers_address_explains_its_records_and_nothing_else_does() {
    let bare_from = |peer: &str| record(FixtureName::Lan, "10.210.3.10:22", peer, None, None);
    let mut s = Scenario::contained();
    s.liveness_sources = vec!["10.210.2.60".parse().unwrap()];
    s.records.push(bare_from("10.210.2.60:43210"));
    assert_only(&s.judge(), &[]);

    // The checker's address on another port is still the checker; another address is not.
    let mut s = Scenario::contained();
    s.liveness_sources = vec!["10.210.2.60".parse().unwrap()];
    s.records.push(bare_from("10.210.2.61:43210"));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "lan.fixture_host"), Verdict::Escape);

    // Without a checker, nothing from that address is explained.
    let mut s = Scenario::contained();
    s.records.push(bare_from("10.210.2.60:43210"));
    assert_eq!(verdict_of(&s.judge(), "lan.fixture_host"), Verdict::Escape);
}

#[test]
fn a_controls_nonce_replayed_elsewhere_is_an_escape() {
    let mut s = Scenario::contained();
    let control = s.nonce("proxy.allowed_http");
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:80",
        "10.210.1.3:50000",
        Some(&control),
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "lan.fixture_host"), Verdict::Escape);
    // The control's evidence is now suspect, so nothing resting on it may pass.
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
    for probe in bottle_probes::CATALOGUE
        .iter()
        .filter(|p| p.controls.contains(&"proxy.allowed_http"))
    {
        assert_ne!(
            verdict_of(&results, probe.id),
            Verdict::Pass,
            "{}",
            probe.id
        );
    }

    // At the public host directly: the direct probe escapes and the control is not trusted.
    let mut s = Scenario::contained();
    let control = s.nonce("proxy.allowed_http");
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:443",
        "10.210.1.3:50001",
        Some(&control),
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "public.direct_https"), Verdict::Escape);
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
}

#[test]
fn contact_from_any_peer_counts_not_only_the_agents_address() {
    // The host's loopback canary reached through a VMM (peer 127.0.0.1), without a nonce.
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::HostLoopback,
        "127.0.0.1:41000",
        "127.0.0.1:50000",
        None,
        None,
    ));
    // Contact on the loopback canary answers for every attempt aimed at its port.
    assert_only(
        &s.judge(),
        &[
            ("localhost.agent_loopback", Verdict::Escape),
            ("localhost.loopback_spellings", Verdict::Escape),
        ],
    );
    // The LAN host reached through NAT (peer: its gateway).
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Lan,
        "10.210.3.10:22",
        "10.210.3.1:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("lan.fixture_host", Verdict::Escape)]);
    // The all-interfaces canary on an address the plan did not list: every probe aiming there.
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::HostAll,
        "10.99.0.1:41001",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(
        &s.judge(),
        &[
            ("localhost.host_addresses", Verdict::Escape),
            ("lan.network_gateways", Verdict::Escape),
            ("localhost.loopback_spellings", Verdict::Escape),
            ("ipv6.host_addresses", Verdict::Escape),
            ("ipv6.link_local", Verdict::Escape),
            ("icmp.echo", Verdict::Escape),
        ],
    );
}

#[test]
fn any_contact_with_the_dns_canary_counts() {
    // A forwarded name the agent chose, without a nonce.
    let mut s = Scenario::contained();
    s.records.push(udp(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.1.3:53000",
        None,
        Some("secret.example"),
    )));
    assert_only(
        &s.judge(),
        &[
            ("dns.direct_udp", Verdict::Escape),
            ("dns.resolver_exfil", Verdict::Escape),
        ],
    );
    // A TCP connection with no query at all.
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.1.3:53001",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("dns.direct_tcp", Verdict::Escape)]);
}

#[test]
fn proxied_contact_without_a_nonce_is_an_escape_of_the_proxy_probes() {
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:443",
        "10.210.2.2:40100",
        None,
        None,
    ));
    assert_only(
        &s.judge(),
        &[
            ("proxy.denied_host", Verdict::Escape),
            ("proxy.denied_connect", Verdict::Escape),
            ("proxy.connect_ip_literal", Verdict::Escape),
            // Every proxy_matching deny aimed at the public host, the one whose delivery
            // there is judged by the Host it carried too: a delivery never hides contact at
            // its own target.
            ("proxy_matching.lookalike_names", Verdict::Escape),
            ("proxy_matching.denied_spellings", Verdict::Escape),
            ("proxy_matching.userinfo", Verdict::Escape),
            ("proxy_matching.host_header", Verdict::Escape),
            ("proxy_matching.sni_fronting", Verdict::Escape),
            ("proxy_matching.ip_literal_forms", Verdict::Escape),
        ],
    );
}

#[test]
fn the_agent_at_egress_or_an_undeclared_port_is_an_escape() {
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Bundle,
        "10.210.1.2:9099",
        "10.210.1.3:50000",
        None,
        None,
    ));
    // A sweep covers egress's port too.
    assert_only(
        &s.judge(),
        &[
            ("egress_bypass.direct_egress", Verdict::Escape),
            ("egress_bypass.port_sweep", Verdict::Escape),
        ],
    );
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Bundle,
        "10.210.1.2:2375",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("egress_bypass.port_sweep", Verdict::Escape)]);
}

#[test]
fn contradictory_observations_are_not_denials() {
    let mut s = Scenario::contained();
    s.obs("public.direct_http").ack = true;
    assert_only(&s.judge(), &[("public.direct_http", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("public.direct_https").status = Some(200);
    assert_only(
        &s.judge(),
        &[("public.direct_https", Verdict::Inconclusive)],
    );
    let mut s = Scenario::contained();
    s.obs("dns.direct_udp").answers = vec![Ipv4Addr::new(1, 2, 3, 4)];
    assert_only(&s.judge(), &[("dns.direct_udp", Verdict::Inconclusive)]);
}

#[test]
fn the_resolver_probes_must_ask_the_agents_resolver() {
    let mut s = Scenario::contained();
    s.obs("dns.resolver_exfil").note = Some("resolver 10.99.0.53:53".into());
    assert_only(&s.judge(), &[("dns.resolver_exfil", Verdict::Inconclusive)]);
    let mut s = Scenario::contained();
    s.obs("dns.resolver_control").note = None;
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "dns.resolver_control"),
        Verdict::Inconclusive
    );
    assert_eq!(
        verdict_of(&results, "dns.direct_udp"),
        Verdict::Inconclusive
    );
}

#[test]
fn a_gap_scoped_to_destinations_does_not_cover_escapes_elsewhere() {
    let gap = |destination: &str| KnownGap {
        probe: "localhost.host_addresses".into(),
        reason: "loopback via the VMM gateway".into(),
        link: "claude-bottle issue 75".into(),
        expires: None,
        destination: Some(destination.into()),
    };
    // The escape is through 192.0.2.2, the gap covers only the VMM gateway: still an escape.
    let mut s = Scenario::contained();
    s.gaps.push(gap("100.96.0.1:*"));
    s.obs("localhost.host_addresses").outcome = Some(Outcome::Connected);
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "localhost.host_addresses"),
        Verdict::Escape
    );
    // Through a covered destination it is the known gap.
    let mut s = Scenario::contained();
    s.gaps.push(gap("192.0.2.2:*"));
    s.obs("localhost.host_addresses").outcome = Some(Outcome::Connected);
    assert_only(
        &s.judge(),
        &[("localhost.host_addresses", Verdict::KnownGap)],
    );
}

#[test]
fn a_host_socket_that_accepts_is_an_escape_and_a_search_that_proves_nothing_is_not_a_pass() {
    let mut s = Scenario::contained();
    s.obs("localhost.host_sockets").outcome = Some(Outcome::Connected);
    s.obs("localhost.host_sockets").note = Some("sockets accepted: /var/run/docker.sock".into());
    assert_only(&s.judge(), &[("localhost.host_sockets", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("localhost.host_sockets").outcome = Some(Outcome::Error);
    s.obs("localhost.host_sockets").note =
        Some("the search did not find its own socket; nothing concluded".into());
    assert_only(
        &s.judge(),
        &[("localhost.host_sockets", Verdict::Inconclusive)],
    );
}

#[test]
fn an_echo_reply_or_an_icmp_record_is_an_escape() {
    let mut s = Scenario::contained();
    s.obs("icmp.echo").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("icmp.echo", Verdict::Escape)]);
    // The probe says timeout, but the public host's ICMP recorder saw the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("icmp.echo");
    let mut seen = record(
        FixtureName::Public,
        "10.210.2.10:0",
        "10.210.1.3:0",
        Some(&nonce),
        None,
    );
    seen.proto = Proto::Icmp;
    s.records.push(seen);
    assert_only(&s.judge(), &[("icmp.echo", Verdict::Escape)]);
}

#[test]
fn a_failed_ping_control_makes_icmp_denials_inconclusive() {
    let mut s = Scenario::contained();
    let control = s.obs("icmp.bundle_control");
    control.outcome = Some(Outcome::Error);
    control.ack = false;
    control.note = Some("ICMP socket: Permission denied".into());
    assert_only(
        &s.judge(),
        &[
            ("icmp.bundle_control", Verdict::Inconclusive),
            ("icmp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_udp_answer_is_an_escape_and_a_udp_record_without_nonce_is_attributed() {
    let mut s = Scenario::contained();
    s.obs("udp.echo").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("udp.echo", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.records.push(udp(record(
        FixtureName::Lan,
        "10.210.3.10:7",
        "10.210.1.3:40001",
        None,
        None,
    )));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "udp.echo"), Verdict::Escape);
}

#[test]
fn egress_seeing_a_deny_nonce_is_an_escape_but_a_controls_nonce_is_expected() {
    // A loopback spelling that pipelock let through reaches egress: egress records the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.loopback_spellings");
    s.records.push(record(
        FixtureName::Bundle,
        "127.0.0.1:9099",
        "127.0.0.1:50123",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("proxy.loopback_spellings", Verdict::Escape)]);
    // The control's own nonce at egress, from pipelock over loopback, is its normal path.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_http");
    s.records.push(record(
        FixtureName::Bundle,
        "127.0.0.1:9099",
        "127.0.0.1:50124",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[]);
}

#[test]
fn ipv6_without_an_agent_address_is_unreachable_and_contact_over_ipv6_is_an_escape() {
    let mut s = Scenario::contained();
    let o = s.obs("ipv6.host_addresses");
    o.outcome = Some(Outcome::Unreachable);
    o.errno = Some(99);
    assert_only(&s.judge(), &[]);
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::HostAll,
        "[fd00::2]:41001",
        "[fdcb:1:2:0::3]:40000",
        None,
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "ipv6.host_addresses"), Verdict::Escape);
}

#[test]
fn the_neighbour_bottle_recording_contact_is_an_escape_and_its_death_inconclusive() {
    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::Neighbour,
        "10.210.4.2:3128",
        "10.210.4.5:40000",
        None,
        None,
    ));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "cross_bottle.neighbour_bundle"),
        Verdict::Escape
    );
    let mut s = Scenario::contained();
    s.liveness
        .insert(Target::Neighbour, Err("connection refused".into()));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "cross_bottle.neighbour_bundle"),
        Verdict::Inconclusive
    );
}

#[test]
fn the_metadata_fixture_seeing_a_request_is_an_escape() {
    // pipelock let the request through: egress and the fixture saw the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("metadata.via_proxy");
    s.records.push(record(
        FixtureName::Metadata,
        "169.254.169.254:80",
        "10.210.5.2:40000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("metadata.via_proxy", Verdict::Escape)]);
}
