//! Probes a bottle may not have (metadata) and the inbound listener with its dialers.

use std::collections::{BTreeMap, BTreeSet};

use bottle_fixtures::records::{Event, FixtureName};
use bottle_fixtures::Record;
use bottle_harness::verdict::{evaluate, Evidence, Verdict};
use bottle_probes::wire::Outcome;

use crate::scenario::*;

#[test]
fn without_a_metadata_fixture_the_metadata_probes_are_skipped_never_passed() {
    let topology = builder()
        .layout(|l| {
            l.metadata = None;
            l.metadata_upstream_ip = None;
            l.metadata_unavailable = Some("needs root".into());
            l.inbound_port = None;
        })
        .build();
    let plan = make_plan_for(&topology);
    for id in ["metadata.direct", "metadata.via_proxy"] {
        let probe = plan.probe(id).unwrap();
        assert!(probe.attempts.is_empty(), "{id} planned attempts");
        assert!(probe.skipped.as_deref().unwrap().contains("needs root"));
    }
    let results = evaluate(
        &plan,
        &Evidence {
            output: Err("not run".into()),
            records: &[],
            liveness: &BTreeMap::new(),
            known_gaps: &[],
            liveness_nonces: &[],
            liveness_peers: &[],
            liveness_sources: &[],
            applied_timeouts_ms: &BTreeMap::new(),
            vanished_attempts: &BTreeSet::new(),
            rejected_records: &[],
            dns_switches: &[],
            bundle_failure: None,
        },
    );
    assert_eq!(verdict_of(&results, "metadata.direct"), Verdict::Skipped);
    assert_eq!(verdict_of(&results, "metadata.via_proxy"), Verdict::Skipped);
    assert_eq!(
        verdict_of(&results, "inbound.agent_listener"),
        Verdict::Skipped
    );
    // Everything else stays inconclusive without output: a skip is only ever a skip.
    assert_eq!(
        verdict_of(&results, "lan.fixture_host"),
        Verdict::Inconclusive
    );
}

#[test]
fn a_dialer_that_connected_is_an_escape_whatever_the_listener_says() {
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: Event::DialConnected,
        ..record(
            FixtureName::Lan,
            "10.210.3.10:41234",
            "10.210.1.3:4700",
            None,
            None,
        )
    });
    // The dialer's own records are the inbound probe's evidence, not contact at the LAN host.
    assert_only(&s.judge(), &[("inbound.agent_listener", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("inbound.agent_listener", Verdict::Escape)]);
}

#[test]
fn a_listener_without_its_self_check_or_without_dialers_proves_nothing() {
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").outcome = Some(Outcome::Error);
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    let mut s = Scenario::contained();
    s.records
        .retain(|r| !(r.event == Event::Dial && r.fixture == FixtureName::Neighbour));
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    // A dialer whose tries all fell outside the listener's window (stalled while the agent
    // listened) proves nothing: only a try that began and ended inside it counts.
    let mut s = Scenario::contained();
    s.records.retain(|r| {
        !(r.event == Event::DialTry
            && r.fixture == FixtureName::Lan
            && r.at_ms == Some(LISTEN_WINDOW.0 + 100))
    });
    let results = s.judge();
    assert_only(
        &results,
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    let detail = &results
        .iter()
        .find(|r| r.id == "inbound.agent_listener")
        .unwrap()
        .detail;
    assert!(detail.contains("lan -> 10.210.1.3:4700"), "{detail}");
    // ... and a listener that does not say when it listened proves nothing.
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").window = None;
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    // A dialer that has used up its tries (a kept bottle probed later) proves nothing either.
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: Event::DialStopped,
        ..record(FixtureName::Lan, "0.0.0.0:0", "10.210.1.3:4700", None, None)
    });
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
}
