//! Behind a relay that completes the agent's TCP handshakes itself (smolvm's user-space
//! stack), "connected" is not reach: how the stream ended decides, and the targets' records
//! still win. Where the destination completes handshakes (a container), nothing changes.

use bottle_backends::Handshake;
use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Outcome, StreamEnd};

use crate::scenario::*;

/// The contained bottle, with the agent behind a relay.
fn relayed() -> Scenario {
    let mut s = Scenario::contained();
    s.plan.handshake = Handshake::Relay;
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
        (Some(StreamEnd::Closed), Verdict::Inconclusive, Verdict::Escape),
        (Some(StreamEnd::Silent), Verdict::Inconclusive, Verdict::Escape),
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
    connected(&mut s, "egress_bypass.direct_egress", Some(StreamEnd::Reset));
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
    s.obs(sweep).dropped = Some(65530);
    s.obs(sweep).dropped_ports = all_but_declared[..128].to_vec();
    assert_only(&s.judge(), &[]);
    let judgement = s.first_judgement(sweep);
    assert!(judgement.contains("65530 reset by the VMM's relay"), "{judgement}");

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
    s.obs(sweep).dropped = Some(1);
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
