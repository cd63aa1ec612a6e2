//! The inbound listener's window: a denial needs, from every dialer at every address it dials,
//! one try that began and ended while the agent listened. Each case names the false pass it
//! prevents: a listener nobody was trying to reach "denies" everything.

use bottle_fixtures::records::{Event, FixtureName};
use bottle_fixtures::Record;
use bottle_harness::verdict::Verdict;

use crate::scenario::*;

/// A dialer's tries: (start, duration) in ms.
type Tries<'a> = &'a [(u64, u64)];

const LISTENER: &str = "inbound.agent_listener";

/// The scenario with `dialer`'s tries replaced by `tries` (start, duration).
fn with_tries(dialer: FixtureName, tries: &[(u64, u64)]) -> Scenario {
    let mut s = Scenario::contained();
    s.records
        .retain(|r| !(r.event == Event::DialTry && r.fixture == dialer));
    s.records
        .extend(tries.iter().map(|(at, took)| dial_try(dialer, *at, *took)));
    s
}

fn detail(s: &Scenario) -> String {
    let results = s.judge();
    results
        .iter()
        .find(|r| r.id == LISTENER)
        .unwrap()
        .detail
        .clone()
}

#[test]
fn only_a_try_inside_the_listeners_window_counts() {
    let (open, close) = LISTEN_WINDOW;
    let cases: &[(Tries, Verdict, &str)] = &[
        (
            &[(open, close - open)],
            Verdict::Pass,
            "a try from the window's first to its last millisecond is inside it",
        ),
        (
            &[(open - 1, 10)],
            Verdict::Inconclusive,
            "a try that began before the agent listened proves nothing",
        ),
        (
            &[(open + 10, close - open - 9)],
            Verdict::Inconclusive,
            "a try that ended after the agent stopped listening proves nothing",
        ),
        (
            &[(open - 1, 10), (open + 10, close - open - 9)],
            Verdict::Inconclusive,
            "two partial tries do not add up to a complete one",
        ),
        (
            &[(u64::MAX - 5, 10)],
            Verdict::Inconclusive,
            "a try whose end overflows ended after the window, not before it",
        ),
    ];
    for (tries, verdict, why) in cases {
        let s = with_tries(FixtureName::Lan, tries);
        let results = s.judge();
        assert_eq!(verdict_of(&results, LISTENER), *verdict, "{why}");
        assert_only(&results, &[(LISTENER, *verdict)]);
    }
}

#[test]
fn a_try_counts_only_for_its_own_dialer_and_address() {
    let (open, _) = LISTEN_WINDOW;
    // The LAN host's only complete try is gone; the public host trying twice does not stand
    // in for it.
    let mut s = with_tries(FixtureName::Lan, &[]);
    s.records.push(dial_try(FixtureName::Public, open + 50, 10));
    assert_eq!(
        detail(&s),
        "10.210.1.3:4700 in the agent, dialled from outside: no complete try while the agent listened (600 ms) from lan -> 10.210.1.3:4700: nobody was trying then"
    );
    // A dialer that dials a second address of the agent must have tried that one too.
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: Event::Dial,
        ..record(
            FixtureName::Neighbour,
            "0.0.0.0:0",
            "10.210.4.3:4700",
            None,
            None,
        )
    });
    let results = s.judge();
    assert_only(&results, &[(LISTENER, Verdict::Inconclusive)]);
    assert!(
        detail(&s).contains("from neighbour -> 10.210.4.3:4700:"),
        "{}",
        detail(&s)
    );
}

#[test]
fn the_listeners_verdict_says_why_nobody_was_trying() {
    let mut s = Scenario::contained();
    s.records
        .retain(|r| !(r.event == Event::Dial && r.fixture == FixtureName::Neighbour));
    assert_eq!(
        detail(&s),
        "10.210.1.3:4700 in the agent, dialled from outside: the dialers [\"neighbour\"] never started, so nobody tried to connect"
    );
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: Event::DialStopped,
        ..record(
            FixtureName::Public,
            "0.0.0.0:0",
            "10.210.1.3:4700",
            None,
            None,
        )
    });
    assert_eq!(
        detail(&s),
        "10.210.1.3:4700 in the agent, dialled from outside: the dialers [\"public\"] had used up their tries (a bottle older than a minute), so nobody was trying to connect"
    );
    let mut s = Scenario::contained();
    s.obs(LISTENER).window = None;
    assert_eq!(
        detail(&s),
        "10.210.1.3:4700 in the agent, dialled from outside: the listener did not say when it listened, so no dialer's try can be placed in it"
    );
}

#[test]
fn a_dialer_that_connected_is_reach_even_when_the_listener_failed() {
    // The target's evidence stands whatever the probe printed: an error, or nothing at all.
    for change in [
        |s: &mut Scenario| {
            s.obs(LISTENER).outcome = Some(bottle_probes::wire::Outcome::Error);
        },
        |s: &mut Scenario| {
            s.observations.remove("inbound.agent_listener#0");
        },
    ] {
        let mut s = Scenario::contained();
        change(&mut s);
        s.records.push(Record {
            event: Event::DialConnected,
            ..record(FixtureName::Lan, "0.0.0.0:0", "10.210.1.3:4700", None, None)
        });
        let results = s.judge();
        assert_only(&results, &[(LISTENER, Verdict::Escape)]);
        assert_eq!(
            detail(&s),
            "10.210.1.3:4700 in the agent, dialled from outside: lan connected to the agent's listener at 10.210.1.3:4700"
        );
    }
}
