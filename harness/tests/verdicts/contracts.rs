//! The evidence contracts of the restructure: vanished attempts, applied timeouts and rejected
//! record lines judged exactly as the old probe phase did, and never as silence.

use std::collections::{BTreeMap, BTreeSet};

use bottle_fixtures::records::{FixtureName, RecordLog};
use bottle_harness::verdict::{Evidence, KnownGap, Verdict};
use bottle_probes::wire::{Outcome, Stage};

use crate::scenario::*;

/// Contract 1: an attempt in `vanished_attempts` is judged exactly as the old probe phase judged
/// it after removing it from the plan: not at all (not its observation, not its nonce, not in
/// the probe's count).
#[test]
fn a_vanished_attempt_is_not_judged() {
    let mut s = Scenario::contained();
    let probe = "localhost.host_addresses";
    let attempts = &s.plan.probe(probe).unwrap().attempts;
    assert!(
        attempts.len() > 1,
        "the probe aims at several host addresses"
    );
    let gone = attempts[0].spec.id.clone();
    let gone_nonce = attempts[0].spec.nonce.clone();
    let planned = attempts.len();
    let mut edited = s.plan.clone();
    for p in &mut edited.probes {
        p.attempts.retain(|a| a.spec.id != gone);
    }
    // The attempt connected: an escape while it is judged, nothing once its address vanished.
    s.observations.get_mut(&gone).unwrap().outcome = Some(Outcome::Connected);
    assert_eq!(verdict_of(&s.judge(), probe), Verdict::Escape);
    let old_way = s.judge_edited(&edited);
    s.vanished_attempts.insert(gone.clone());
    let results = s.judge();
    assert_eq!(results, old_way);
    let result = results.iter().find(|r| r.id == probe).unwrap();
    assert_eq!(result.verdict, Verdict::Pass, "{}", result.detail);
    assert!(result.attempts.iter().all(|a| a.id != gone));
    assert!(
        result
            .detail
            .starts_with(&format!("{} attempt(s) denied", planned - 1)),
        "{}",
        result.detail
    );

    // A target that recorded the vanished attempt's nonce saw contact nothing explains any
    // more: still reach, charged to the probe's other attempts there, as the old way did.
    s.records.push(record(
        FixtureName::HostAll,
        "192.0.2.2:41001",
        "10.210.1.3:50000",
        Some(&gone_nonce),
        None,
    ));
    s.vanished_attempts.clear();
    let old_way = s.judge_edited(&edited);
    s.vanished_attempts.insert(gone);
    let results = s.judge();
    assert_eq!(results, old_way);
    assert_eq!(verdict_of(&results, probe), Verdict::Escape);
}

/// Contract 1: the timeouts the exec applied stand where the plan's did (the old probe phase
/// wrote them into the plan's attempts), and the verdicts are the same as the old way's.
#[test]
fn the_applied_timeout_stands_where_the_plans_did() {
    let mut s = Scenario::contained();
    let adaptive: Vec<String> = s
        .plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| a.spec.stage == Stage::Adaptive)
        .map(|a| a.spec.id.clone())
        .collect();
    assert!(!adaptive.is_empty());
    let mut edited = s.plan.clone();
    for attempt in edited.probes.iter_mut().flat_map(|p| &mut p.attempts) {
        if attempt.spec.stage == Stage::Adaptive {
            attempt.spec.timeout_ms = 600;
        }
    }
    let old_way = s.judge_edited(&edited);
    s.applied_timeouts_ms = adaptive.iter().map(|id| (id.clone(), 600)).collect();
    assert_eq!(s.judge(), old_way);

    let evidence = Evidence {
        output: Err("not needed".into()),
        records: &[],
        liveness: &BTreeMap::new(),
        known_gaps: &[],
        liveness_nonces: &[],
        liveness_peers: &[],
        liveness_sources: &[],
        applied_timeouts_ms: &s.applied_timeouts_ms,
        vanished_attempts: &BTreeSet::new(),
        rejected_records: &[],
        dns_switches: &s.dns_switches,
        bundle_failure: None,
    };
    for (planned, applied) in s
        .plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .zip(edited.probes.iter().flat_map(|p| &p.attempts))
    {
        assert_eq!(
            evidence.timeout_ms(planned),
            applied.spec.timeout_ms,
            "{}",
            planned.spec.id
        );
    }
}

/// Contract 2: a `CB-SEEN` line with an unknown event (here a dialer's connection, misspelt) is
/// rejected by the reader, and the rejected line makes every result that would have held
/// inconclusive; an escape stays an escape.
#[test]
fn a_rejected_record_line_makes_the_results_that_rest_on_records_inconclusive() {
    let log = RecordLog::parse(
        "cb-t-lan",
        "CB-READY\nCB-SEEN fixture=lan event=dial-conected proto=tcp local=10.210.3.10:41234 peer=10.210.1.3:4700\n",
    );
    assert!(log.records.is_empty());
    assert_eq!(log.rejected.len(), 1);
    assert!(
        log.rejected[0].reason.contains("unknown event"),
        "{:?}",
        log.rejected
    );

    let mut s = Scenario::contained();
    s.rejected_records = log.rejected.clone();
    let results = s.judge();
    for result in &results {
        assert_eq!(
            result.verdict,
            Verdict::Inconclusive,
            "{}: {}",
            result.id,
            result.detail
        );
        assert!(
            result.detail.contains("records are incomplete")
                && result.detail.contains("cb-t-lan")
                && result.detail.contains("dial-conected"),
            "{}",
            result.detail
        );
    }

    // An escape's evidence stands; a known gap's cover does not (the lost line may have been
    // an escape outside it), nor does an unexpected pass.
    let mut s = Scenario::contained();
    s.rejected_records = log.rejected.clone();
    s.obs("lan.fixture_host").outcome = Some(Outcome::Connected);
    s.obs("public.direct_http").outcome = Some(Outcome::Connected);
    s.gaps.push(KnownGap {
        probe: "public.direct_http".into(),
        reason: "test".into(),
        link: "l".into(),
        expires: None,
        destination: None,
    });
    s.gaps.push(KnownGap {
        probe: "lan.network_gateways".into(),
        reason: "test".into(),
        link: "l".into(),
        expires: None,
        destination: None,
    });
    let results = s.judge();
    assert_eq!(verdict_of(&results, "lan.fixture_host"), Verdict::Escape);
    assert_eq!(
        verdict_of(&results, "public.direct_http"),
        Verdict::Inconclusive
    );
    assert_eq!(
        verdict_of(&results, "lan.network_gateways"),
        Verdict::Inconclusive
    );
}
