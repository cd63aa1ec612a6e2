//! Behind a relay that completes the agent's TCP handshakes itself (smolvm's user-space
//! stack), "connected" is not reach: how the stream ended decides, and the targets' records
//! still win. Where the destination completes handshakes (a container), nothing changes.

use bottle_backends::Handshake;
use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Outcome, StreamEnd};

use crate::scenario::*;

/// The contained bottle, with the agent behind a relay: every port of the sweep but the
/// declared ones reset by the relay after its own handshake.
fn relayed() -> Scenario {
    let mut s = Scenario::contained();
    s.plan.handshake = Handshake::Relay;
    let sweep = s.obs("egress_bypass.port_sweep");
    let held = sweep.open.len() as u32;
    sweep.dropped = Some(65535 - held);
    sweep.dropped_ports = (1..=128).collect();
    s
}

/// `probe`'s first attempt connected (no acknowledgement) and ended as `end`.
fn connected(s: &mut Scenario, probe: &str, end: Option<StreamEnd>) {
    let o = s.obs(probe);
    o.outcome = Some(Outcome::Connected);
    o.errno = None;
    o.ack = false;
    o.end = end;
}

#[test]
fn a_contained_bottle_behind_a_relay_is_contained() {
    assert_only(&relayed().judge(), &[]);
}

/// Only a reset right after the relay's own handshake is its refusal; bytes that came back are
/// reach; an orderly close and silence prove nothing. Where the destination completes the
/// handshake, every connection is reach, whatever came after.
#[test]
fn behind_a_relay_only_the_stream_end_decides_a_connection() {
    let cases = [
        (Some(StreamEnd::Reset), Verdict::Pass, Verdict::Escape),
        (Some(StreamEnd::Answered), Verdict::Escape, Verdict::Escape),
        (
            Some(StreamEnd::Closed),
            Verdict::Inconclusive,
            Verdict::Escape,
        ),
        (
            Some(StreamEnd::Silent),
            Verdict::Inconclusive,
            Verdict::Escape,
        ),
        (None, Verdict::Inconclusive, Verdict::Escape),
    ];
    for probe in ["egress_bypass.direct_egress", "dns.direct_tcp"] {
        for (end, behind_relay, at_destination) in cases {
            let mut s = relayed();
            connected(&mut s, probe, end);
            let results = s.judge();
            assert_eq!(
                verdict_of(&results, probe),
                behind_relay,
                "{probe} {end:?} behind a relay: {}",
                s.detail(probe)
            );
            assert_only(&results, &[(probe, behind_relay)]);

            let mut s = Scenario::contained();
            connected(&mut s, probe, end);
            assert_only(&s.judge(), &[(probe, at_destination)]);
        }
    }
}

/// The acknowledgement is the target's own answer: reach behind a relay too, reset or not.
#[test]
fn an_acknowledgement_is_reach_behind_a_relay() {
    let mut s = relayed();
    connected(
        &mut s,
        "egress_bypass.direct_egress",
        Some(StreamEnd::Reset),
    );
    s.obs("egress_bypass.direct_egress").ack = true;
    assert_only(
        &s.judge(),
        &[("egress_bypass.direct_egress", Verdict::Escape)],
    );
}

/// A target that recorded the attempt's nonce decides, whatever the relay's reset looked like.
#[test]
fn a_target_record_beats_the_relays_reset() {
    let mut s = relayed();
    connected(&mut s, "dns.direct_tcp", Some(StreamEnd::Reset));
    let nonce = s.nonce("dns.direct_tcp");
    let attempt = &s.plan.probe("dns.direct_tcp").unwrap().attempts[0];
    let target = attempt.destination.clone();
    s.records.push(record(
        FixtureName::Dns,
        &target,
        "10.210.1.3:53000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("dns.direct_tcp", Verdict::Escape)]);
}

/// The sweep: behind a relay, ports reset after the relay's handshake are refusals and the
/// declared ports must be held open; where the destination completes handshakes, a reset port
/// is a listener, and more reset ports than listed is reach.
#[test]
fn the_sweep_tells_a_relays_reset_from_an_open_port() {
    let sweep = "egress_bypass.port_sweep";
    let all_but_declared: Vec<u16> = (1..=200).collect();

    let mut s = relayed();
    s.obs(sweep).dropped_ports = all_but_declared[..128].to_vec();
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    let reset = 65535 - s.obs(sweep).open.len();
    assert!(
        judgement.contains(&format!("{reset} reset by the VMM's relay")),
        "{judgement}"
    );

    let mut s = Scenario::contained();
    s.obs(sweep).dropped = Some(1);
    s.obs(sweep).dropped_ports = vec![9099];
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs(sweep).dropped = Some(300);
    s.obs(sweep).dropped_ports = all_but_declared[..128].to_vec();
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    // Behind a relay a declared port that was reset was not reached: the sweep proves nothing.
    let mut s = relayed();
    let declared = s.obs(sweep).open.remove(0);
    s.obs(sweep).dropped = s.obs(sweep).dropped.map(|n| n + 1);
    s.obs(sweep).dropped_ports = vec![declared];
    assert_only(&s.judge(), &[(sweep, Verdict::Inconclusive)]);
    // ... while at the destination it did answer.
    let mut s = Scenario::contained();
    let declared = s.obs(sweep).open.remove(0);
    s.obs(sweep).dropped = Some(1);
    s.obs(sweep).dropped_ports = vec![declared];
    assert_only(&s.judge(), &[]);

    // A port held open behind a relay is reach, as anywhere.
    let mut s = relayed();
    s.obs(sweep).open.push(9099);
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);
}

/// The contained bottle behind a VMM that also answers DNS at every address (smolvm), whose
/// upstream the backend points at the DNS canary: the canary saw the resolver controls' name,
/// forwarded from the VMM's host side.
fn intercepted() -> Scenario {
    let mut s = relayed();
    s.plan.dns_intercepted = true;
    let name = s.plan.control_name.clone();
    s.records.push(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.1:40001",
        None,
        Some(&format!("{name}.")),
    ));
    s
}

/// `probe`'s first attempt answered NXDOMAIN (the VMM's filter, or whoever answered).
fn answered_nxdomain(s: &mut Scenario, probe: &str) {
    let o = s.obs(probe);
    o.outcome = Some(Outcome::Answered);
    o.errno = None;
    o.rcode = Some(3);
    o.answers.clear();
}

#[test]
fn the_controls_forwarded_name_at_the_canary_is_no_escape() {
    assert_only(&intercepted().judge(), &[]);
    // Nor on a container's bottle, whose resolver never forwards it (but might).
    let mut s = Scenario::contained();
    let name = s.plan.control_name.clone();
    s.records.push(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.1:40001",
        None,
        Some(&name),
    ));
    assert_only(&s.judge(), &[]);
}

/// Behind DNS interception a direct query's answer is the VMM's: the canary's records decide.
/// Not seen there while the controls' name was: denied. Seen there: reach. Neither seen:
/// nothing shows the canary is the VMM's upstream, so it proves nothing. Where nothing
/// intercepts, an answer is the addressed resolver's: reach.
#[test]
fn behind_dns_interception_the_canary_decides_a_direct_query() {
    let probe = "dns.direct_udp";
    let mut s = intercepted();
    answered_nxdomain(&mut s, probe);
    assert_only(&s.judge(), &[]);
    assert!(
        s.first_judgement(probe).contains("never saw this query"),
        "{}",
        s.first_judgement(probe)
    );

    let mut s = intercepted();
    answered_nxdomain(&mut s, probe);
    let nonce = s.nonce(probe);
    s.records.push(record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.1:40002",
        None,
        Some(&format!("{nonce}.direct.fixture.test")),
    ));
    assert_only(&s.judge(), &[(probe, Verdict::Escape)]);

    let mut s = intercepted();
    let control = format!("{}.", s.plan.control_name);
    s.records
        .retain(|r| r.qname.as_deref() != Some(control.as_str()));
    answered_nxdomain(&mut s, probe);
    assert_only(&s.judge(), &[(probe, Verdict::Inconclusive)]);

    let mut s = relayed();
    answered_nxdomain(&mut s, probe);
    assert_only(&s.judge(), &[(probe, Verdict::Escape)]);
}

/// An echo answered at the VMM's own gateway is the VMM's answer when this machine's ICMP
/// recorder saw no echo request: denied. Seen there, it is reach; and anywhere else (or with
/// no VMM), an answered echo is reach.
#[test]
fn an_echo_answered_at_the_vmms_gateway_is_judged_by_the_recorder() {
    let probe = "icmp.echo";
    let attempt = |s: &Scenario| {
        s.plan
            .probe(probe)
            .unwrap()
            .attempts
            .iter()
            .find(|a| a.destination.contains("this machine"))
            .unwrap()
            .clone()
    };
    let answered = |s: &mut Scenario, id: &str| {
        let o = s.observations.get_mut(id).unwrap();
        o.outcome = Some(Outcome::Connected);
        o.errno = None;
        o.ack = true;
    };
    let mut s = relayed();
    let gateway = attempt(&s);
    let bottle_probes::wire::AttemptKind::Ping {
        ip: std::net::IpAddr::V4(ip),
    } = gateway.spec.kind
    else {
        panic!("a ping of an IPv4 address of this machine")
    };
    s.plan.vmm_gateway = Some(ip);
    answered(&mut s, &gateway.spec.id);
    assert_only(&s.judge(), &[]);

    // The recorder saw the nonce: the echo reached this machine.
    let mut seen = relayed();
    seen.plan.vmm_gateway = Some(ip);
    answered(&mut seen, &gateway.spec.id);
    let mut r = record(
        FixtureName::HostAll,
        &format!("{ip}:0"),
        "10.210.1.3:0",
        Some(&gateway.spec.nonce),
        None,
    );
    r.proto = bottle_fixtures::records::Proto::Icmp;
    seen.records.push(r);
    assert_only(&seen.judge(), &[(probe, Verdict::Escape)]);

    // No VMM gateway there: an answered echo is reach.
    let mut s = relayed();
    answered(&mut s, &gateway.spec.id);
    assert_only(&s.judge(), &[(probe, Verdict::Escape)]);
}

/// A bare TCP connection at the DNS canary's port 53 from the VMM's host side is its DNS
/// relay opening the upstream connection (no query in it) where the VMM intercepts DNS; where
/// nothing intercepts, it is contact nobody explains.
#[test]
fn a_bare_connection_at_the_canary_is_the_vmms_dns_relay_only_where_it_intercepts() {
    let bare = || {
        let mut r = record(
            FixtureName::Dns,
            "10.210.2.53:53",
            "10.210.2.1:40022",
            None,
            None,
        );
        r.event = bottle_fixtures::records::Event::Contact;
        r
    };
    let mut s = intercepted();
    s.records.push(bare());
    assert_only(&s.judge(), &[]);

    let mut s = relayed();
    s.records.push(bare());
    let results = s.judge();
    assert!(
        results.iter().any(|r| r.verdict == Verdict::Escape),
        "unexplained contact at the canary went unnoticed"
    );
}

/// Behind DNS interception, port 53 held on the swept address is the VMM's DNS relay; without
/// it, port 53 held is an undeclared port like any other.
#[test]
fn behind_dns_interception_port_53_of_the_sweep_is_the_vmms() {
    let sweep = "egress_bypass.port_sweep";
    let mut s = intercepted();
    s.obs(sweep).open.push(53);
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(judgement.contains("port 53 held by the VMM"), "{judgement}");

    let mut s = relayed();
    s.obs(sweep).open.push(53);
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);
}

/// Behind a relay, an allowed address refuses nothing itself: a port refused outright was
/// refused by the relay's full table, so the sweep (and a direct attempt at the bundle)
/// proves nothing. At a container's own stack a refusal is a denial.
#[test]
fn behind_a_relay_a_refusal_at_the_bundle_is_a_full_table() {
    let sweep = "egress_bypass.port_sweep";
    let mut s = relayed();
    s.obs(sweep).dropped = Some(30000);
    assert_only(&s.judge(), &[(sweep, Verdict::Inconclusive)]);
    let mut s = relayed();
    s.obs(sweep).filtered = Some(10);
    s.obs(sweep).dropped = s.obs(sweep).dropped.map(|n| n - 11);
    assert_only(&s.judge(), &[(sweep, Verdict::Inconclusive)]);
    assert!(
        s.first_judgement(sweep).contains("refused outright"),
        "{}",
        s.first_judgement(sweep)
    );

    let direct = "egress_bypass.direct_egress";
    let mut s = relayed();
    s.obs(direct).outcome = Some(Outcome::Refused);
    assert_only(&s.judge(), &[(direct, Verdict::Inconclusive)]);
    let mut s = Scenario::contained();
    s.obs(direct).outcome = Some(Outcome::Refused);
    assert_only(&s.judge(), &[]);
}

/// Where the destination completes handshakes, more reset ports than listed is reach even when
/// every listed one is declared; and only behind a relay do the judgement's words name it.
#[test]
fn more_reset_ports_than_listed_is_reach_at_the_destination() {
    let sweep = "egress_bypass.port_sweep";
    let mut s = Scenario::contained();
    let declared = s.obs(sweep).open[0];
    s.obs(sweep).dropped = Some(5);
    s.obs(sweep).dropped_ports = vec![declared];
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs(sweep).dropped = Some(1);
    s.obs(sweep).dropped_ports = vec![declared];
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(!judgement.contains("relay"), "{judgement}");
}

/// Behind a relay with no port reset (every other port filtered), the words name no reset;
/// and port 53 is named only when it was held.
#[test]
fn the_sweeps_words_name_only_what_happened() {
    let sweep = "egress_bypass.port_sweep";
    let mut s = relayed();
    let held = s.obs(sweep).open.len() as u32;
    s.obs(sweep).dropped = None;
    s.obs(sweep).dropped_ports.clear();
    s.obs(sweep).filtered = Some(65535 - held);
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(!judgement.contains("reset by"), "{judgement}");

    let s = intercepted();
    let judgement = s.first_judgement(sweep);
    assert!(!judgement.contains("port 53"), "{judgement}");
}

/// The VMM's own echo is only the one at its gateway: an answered echo elsewhere on this
/// machine is reach, whatever the gateway.
#[test]
fn an_answered_echo_elsewhere_is_reach_behind_a_vmm() {
    let probe = "icmp.echo";
    let mut s = relayed();
    let pings: Vec<_> = s
        .plan
        .probe(probe)
        .unwrap()
        .attempts
        .iter()
        .filter(|a| a.destination.contains("this machine"))
        .cloned()
        .collect();
    assert!(pings.len() >= 2, "two addresses of this machine are pinged");
    let bottle_probes::wire::AttemptKind::Ping {
        ip: std::net::IpAddr::V4(gateway),
    } = pings[0].spec.kind
    else {
        panic!("a ping of an IPv4 address of this machine")
    };
    s.plan.vmm_gateway = Some(gateway);
    let o = s.observations.get_mut(&pings[1].spec.id).unwrap();
    o.outcome = Some(Outcome::Connected);
    o.errno = None;
    o.ack = true;
    assert_only(&s.judge(), &[(probe, Verdict::Escape)]);
}

/// smolvm's desktop mode: the agent reaches the bundle through the VMM's gateway (its ports
/// published on this machine's loopback), so the DNS canary answers the bundle's name with
/// the gateway, and the sweep of the bundle's own address must find nothing at all: a port
/// held open there, or a handshake the relay completed, is reach; a sweep cut short proves
/// nothing; every port refused is the policy's denial (not a full relay table, which only an
/// allowed address shows).
fn desktop() -> Scenario {
    let gateway: std::net::Ipv4Addr = "100.96.0.1".parse().unwrap();
    let mut s = relayed();
    s.plan.bundle_reached_ip = gateway;
    for control in ["dns.resolver_control#0", "dns.resolver_control_tcp#0"] {
        s.observations.get_mut(control).unwrap().answers = vec![gateway];
    }
    let sweep = s.obs("egress_bypass.port_sweep");
    sweep.open.clear();
    sweep.dropped = None;
    sweep.dropped_ports.clear();
    s
}

#[test]
fn in_desktop_mode_nothing_of_the_bundles_own_address_may_answer() {
    let sweep = "egress_bypass.port_sweep";
    let s = desktop();
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(judgement.contains("bundle's own address"), "{judgement}");

    // Port 53 is the VMM's own where it intercepts DNS, and only there.
    let mut s = desktop();
    s.plan.dns_intercepted = true;
    s.obs(sweep).open = vec![53];
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(judgement.contains("port 53 held by the VMM"), "{judgement}");
    s.plan.dns_intercepted = false;
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    // The declared ports too: the agent reaches them only where they are published.
    let mut s = desktop();
    s.obs(sweep).open = vec![3128];
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    // A handshake the relay completed there: the policy let the agent through to the address.
    let mut s = desktop();
    s.obs(sweep).dropped = Some(3);
    s.obs(sweep).dropped_ports = vec![1, 2, 3];
    assert_only(&s.judge(), &[(sweep, Verdict::Escape)]);

    let mut s = desktop();
    s.obs(sweep).scanned = Some(1000);
    assert_only(&s.judge(), &[(sweep, Verdict::Inconclusive)]);

    // A refusal at the bundle's own address is the policy's, not a full table's.
    let direct = "egress_bypass.direct_egress";
    let mut s = desktop();
    s.obs(direct).outcome = Some(Outcome::Refused);
    assert_only(&s.judge(), &[]);

    // The resolver control wants the gateway there, not the bundle's own address.
    let mut s = desktop();
    let bundle = s.plan.bundle_ip;
    s.observations
        .get_mut("dns.resolver_control#0")
        .unwrap()
        .answers = vec![bundle];
    let results = s.judge();
    let control = results
        .iter()
        .find(|r| r.id == "dns.resolver_control")
        .unwrap();
    assert_ne!(control.verdict, Verdict::Pass, "{}", control.detail);
}
