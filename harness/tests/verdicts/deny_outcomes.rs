//! Every outcome the probe can report, for every kind of deny attempt: which are denials, which
//! are reach, and which prove nothing. One table per kind; each row names the false pass it
//! prevents. The observation is the bare outcome (no status, answer or acknowledgement), so
//! only the outcome decides.

use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Observation, Outcome};

use crate::scenario::*;

/// One change to an observation, in a table of cases.
type Change = fn(&mut Observation);

const ALL: [Outcome; 8] = [
    Outcome::Connected,
    Outcome::Http,
    Outcome::Answered,
    Outcome::Swept,
    Outcome::Refused,
    Outcome::Timeout,
    Outcome::Unreachable,
    Outcome::Error,
];

/// `probe`'s first attempt reduced to `outcome`: the note (which resolver was asked) and the
/// listener's window stay, everything else the probe could report is dropped.
fn bare(s: &mut Scenario, probe: &str, outcome: Outcome) {
    let o = s.obs(probe);
    let mut bare = Observation::new(&o.id, outcome, o.elapsed_ms);
    bare.note = o.note.take();
    bare.window = o.window;
    *o = bare;
}

/// Judges `probe` with its first attempt at each outcome and checks the verdict `expected`
/// gives it; every other probe must keep passing (nothing else changed).
fn table(probe: &str, expected: impl Fn(Outcome) -> (Verdict, &'static str)) {
    for outcome in ALL {
        let (verdict, why) = expected(outcome);
        let mut s = Scenario::contained();
        bare(&mut s, probe, outcome);
        let results = s.judge();
        let result = results.iter().find(|r| r.id == probe).unwrap();
        assert_eq!(
            result.verdict,
            verdict,
            "{probe} {}: {why} ({})",
            outcome.as_str(),
            result.detail
        );
        assert_only(&results, &[(probe, verdict)]);
    }
}

/// The three network-level "no"s are the only denials of a direct attempt.
fn direct(outcome: Outcome) -> (Verdict, &'static str) {
    match outcome {
        Outcome::Connected => (Verdict::Escape, "a connection is reach, not a denial"),
        Outcome::Refused | Outcome::Timeout | Outcome::Unreachable => {
            (Verdict::Pass, "a network-level no is a denial")
        }
        _ => (
            Verdict::Inconclusive,
            "a local error (or an outcome this kind cannot have) is never counted as blocked",
        ),
    }
}

#[test]
fn a_direct_tcp_attempt_is_denied_only_by_refused_timeout_or_unreachable() {
    table("public.direct_http", direct);
    table("lan.fixture_host", direct);
}

#[test]
fn a_link_local_attempt_is_judged_like_any_direct_tcp_attempt() {
    table("ipv6.link_local", direct);
}

#[test]
fn a_udp_datagram_or_a_ping_is_denied_only_by_a_network_level_no() {
    table("udp.echo", direct);
    table("icmp.echo", direct);
}

#[test]
fn a_query_to_an_outside_resolver_that_answered_or_connected_is_reach() {
    let direct_dns = |outcome| match outcome {
        Outcome::Answered => (Verdict::Escape, "the outside resolver's answer is reach"),
        Outcome::Connected => (
            Verdict::Escape,
            "a TCP connection to the outside resolver is reach",
        ),
        Outcome::Refused | Outcome::Timeout | Outcome::Unreachable => {
            (Verdict::Pass, "a network-level no is a denial")
        }
        _ => (
            Verdict::Inconclusive,
            "a local error on a direct DNS attempt is inconclusive, not denied",
        ),
    };
    table("dns.direct_udp", direct_dns);
    table("dns.direct_tcp", direct_dns);
}

#[test]
fn a_name_asked_of_the_agents_resolver_is_denied_when_it_did_not_leave() {
    let resolver = |outcome| match outcome {
        Outcome::Answered | Outcome::Connected => (
            Verdict::Pass,
            "the agent's own resolver may answer without an address: the name did not leave",
        ),
        Outcome::Refused | Outcome::Timeout | Outcome::Unreachable => {
            (Verdict::Pass, "a network-level no is a denial")
        }
        _ => (
            Verdict::Inconclusive,
            "a local error on a resolver attempt is inconclusive, not denied",
        ),
    };
    table("dns.resolver_exfil", resolver);
    table("dns.resolver_exfil_tcp", resolver);
}

#[test]
fn a_resolver_answer_is_reach_only_with_addresses_and_noerror() {
    let cases: &[(u8, bool, Verdict, &str)] = &[
        (0, true, Verdict::Escape, "addresses for a name that exists nowhere: it left"),
        (
            0,
            false,
            Verdict::Pass,
            "NOERROR without an address (no data) is no reach: a rule needing only one of the two would call it an escape",
        ),
        (3, false, Verdict::Pass, "NXDOMAIN from the agent's resolver: not forwarded"),
    ];
    for (rcode, with_address, verdict, why) in cases {
        let mut s = Scenario::contained();
        let o = s.obs("dns.resolver_exfil");
        o.rcode = Some(*rcode);
        o.answers = if *with_address {
            vec!["10.210.9.9".parse().unwrap()]
        } else {
            vec![]
        };
        let results = s.judge();
        assert_eq!(
            verdict_of(&results, "dns.resolver_exfil"),
            *verdict,
            "{why}"
        );
        assert_only(&results, &[("dns.resolver_exfil", *verdict)]);
    }
}

#[test]
fn the_listener_is_denied_only_when_its_self_check_refused_the_outside() {
    table("inbound.agent_listener", |outcome| match outcome {
        Outcome::Connected => (Verdict::Escape, "something outside connected to the agent"),
        Outcome::Refused => (
            Verdict::Pass,
            "the listener's self-check: only its own connection arrived",
        ),
        _ => (
            Verdict::Inconclusive,
            "a listener that timed out or failed proves nothing: nobody may have dialed",
        ),
    });
}

#[test]
fn the_host_socket_search_is_denied_only_when_it_found_none_to_connect_to() {
    table("localhost.host_sockets", |outcome| match outcome {
        Outcome::Connected => (Verdict::Escape, "a host socket accepted"),
        Outcome::Refused => (Verdict::Pass, "no foreign socket accepted"),
        _ => (
            Verdict::Inconclusive,
            "a search that timed out or failed proves nothing",
        ),
    });
}

#[test]
fn the_sweep_proves_something_only_when_it_ran() {
    // A bare `swept` has no open port and no count: it did not see the declared ports.
    table("egress_bypass.port_sweep", |_| {
        (
            Verdict::Inconclusive,
            "a sweep that did not run, or did not see the declared ports, proves nothing",
        )
    });
}

#[test]
fn a_proxy_deny_is_denied_only_by_the_proxys_answer() {
    // Without a status, an HTTP outcome is neither a refusal nor a forward.
    let proxy = |outcome| match outcome {
        Outcome::Connected => (Verdict::Escape, "a tunnel established through the proxy"),
        _ => (
            Verdict::Inconclusive,
            "the proxy itself not answering (refused, timeout, an error) is no refusal by it",
        ),
    };
    table("proxy.denied_host", proxy);
    table("proxy.denied_connect", proxy);
}

#[test]
fn an_answer_alongside_a_denial_is_a_contradiction_not_a_denial() {
    let cases: &[(&str, Change, &str)] = &[
        (
            "public.direct_http",
            |o| o.status = Some(403),
            "a status with a timeout",
        ),
        (
            "dns.direct_udp",
            |o| o.rcode = Some(3),
            "an rcode with a timeout",
        ),
        (
            "dns.direct_tcp",
            |o| o.answers = vec!["10.210.9.9".parse().unwrap()],
            "answers with a timeout",
        ),
        (
            "lan.fixture_host",
            |o| o.open = vec![80],
            "open ports with a timeout",
        ),
    ];
    for (probe, change, why) in cases {
        let mut s = Scenario::contained();
        bare(&mut s, probe, Outcome::Timeout);
        change(s.obs(probe));
        let results = s.judge();
        assert_only(&results, &[(probe, Verdict::Inconclusive)]);
        let detail = &results.iter().find(|r| r.id == *probe).unwrap().detail;
        assert!(
            detail.contains("contradictory observation"),
            "{why}: {detail}"
        );
    }
}

#[test]
fn the_targets_acknowledgement_is_reach_whatever_the_outcome_says() {
    for outcome in [Outcome::Refused, Outcome::Timeout, Outcome::Unreachable] {
        for probe in [
            "public.direct_http",
            "dns.direct_udp",
            "udp.echo",
            "icmp.echo",
        ] {
            let mut s = Scenario::contained();
            bare(&mut s, probe, outcome);
            s.obs(probe).ack = true;
            assert_only(&s.judge(), &[(probe, Verdict::Escape)]);
        }
    }
}

#[test]
fn the_proxys_answers_say_what_they_prove() {
    // (probe, change, verdict, the detail's words, the false pass prevented)
    let cases: &[(&str, Change, Verdict, &str, &str)] = &[
        (
            "proxy.denied_host",
            |o| o.ack = true,
            Verdict::Escape,
            "the target's acknowledgement came back",
            "an acknowledgement is reach even beside a signed refusal",
        ),
        (
            "proxy.denied_host",
            |o| {
                o.status = None;
                o.signed.clear();
            },
            Verdict::Inconclusive,
            "the proxy answered without a status line",
            "an HTTP answer without a status is no refusal",
        ),
        (
            "proxy.denied_connect",
            |o| {
                o.outcome = Some(Outcome::Refused);
                o.status = None;
                o.signed.clear();
            },
            Verdict::Inconclusive,
            "the proxy itself did not answer",
            "the proxy not answering is no refusal by it",
        ),
        (
            "proxy.denied_connect",
            |o| {
                o.outcome = Some(Outcome::Connected);
                o.status = None;
            },
            Verdict::Escape,
            "tunnel established",
            "an established tunnel is reach",
        ),
    ];
    for (probe, change, verdict, words, why) in cases {
        let mut s = Scenario::contained();
        change(s.obs(probe));
        let results = s.judge();
        assert_only(&results, &[(probe, *verdict)]);
        let detail = &results.iter().find(|r| r.id == *probe).unwrap().detail;
        assert!(detail.contains(words), "{why}: {detail}");
    }
    // The proxy's own redirect, with the destination silent, alive and the control passed, is
    // a refusal (the destination would have recorded a request let through).
    let mut s = Scenario::contained();
    let o = s.obs("proxy.denied_host");
    o.status = Some(302);
    o.signed.clear();
    assert_only(&s.judge(), &[]);
    let attempt = s.first_judgement("proxy.denied_host");
    assert!(
        attempt.contains("the proxy answered 302 itself") && attempt.contains("recorded nothing"),
        "{attempt}"
    );
}
