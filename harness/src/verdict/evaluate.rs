//! Judging the whole plan: controls first (the deny probes rest on them), then every deny
//! probe; per probe, each judged attempt, then the probe's verdict from its attempts, its
//! controls and its targets' liveness, then the known gaps, then the rejected-records rule,
//! then the bundle's failure.

use std::collections::{BTreeMap, BTreeSet};

use bottle_fixtures::Record;
use bottle_probes::catalogue::Expect;
use bottle_probes::wire::AttemptKind;

use super::allow::{failed_control, judge_allow};
use super::deny::judge_deny;
use super::evidence::Evidence;
use super::judgement::Judgement;
use super::listen::{dialer_connected, judge_listen};
use super::records::{attributed, from_bundle_unattributed, saw_nonce, source_of, unexplained};
use super::result::{summarise_observed, AttemptEvidence, ProbeResult, Verdict};
use super::side_channel::{agent_chosen_literal, charged, literal_of};
use crate::gaps::{self, Ruling, Standing};
use crate::plan::{Plan, PlannedAttempt, PlannedProbe};
use crate::target::Target;

/// Judges every probe of the plan: controls first, then the probes that depend on them.
pub fn evaluate(plan: &Plan, evidence: &Evidence) -> Vec<ProbeResult> {
    let unexplained = unexplained(plan, evidence);
    let mut controls = BTreeMap::new();
    let mut results: BTreeMap<&str, ProbeResult> = BTreeMap::new();
    for probe in plan
        .probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Allow)
    {
        let (result, as_control) = evaluate_probe(probe, plan, evidence, &controls, &unexplained);
        controls.insert(probe.spec.id, as_control);
        results.insert(probe.spec.id, result);
    }
    for probe in plan.probes.iter().filter(|p| p.spec.expect == Expect::Deny) {
        let (result, _) = evaluate_probe(probe, plan, evidence, &controls, &unexplained);
        results.insert(probe.spec.id, result);
    }
    plan.probes
        .iter()
        .filter_map(|p| results.remove(p.spec.id))
        .collect()
}

/// One probe: its judged attempts, the verdict they add up to, the known gap on it, and the
/// rules that only take a pass away: lost records, then the bundle's failure (the first that
/// applies is the one the detail names). With it, the verdict before those two rules, which
/// is what a deny probe resting on it as a control reads: each result names its own lost
/// records or dead bundle, never a control's.
fn evaluate_probe(
    probe: &PlannedProbe,
    plan: &Plan,
    evidence: &Evidence,
    controls: &BTreeMap<&str, Verdict>,
    unexplained: &[&Record],
) -> (ProbeResult, Verdict) {
    let spec = probe.spec;
    let mut attempts = Vec::new();
    let mut judgements = Vec::new();
    let mut elapsed_ms = 0;
    for attempt in evidence.judged(probe) {
        let (shown, judgement) = judge_attempt(attempt, probe, plan, evidence, unexplained);
        if let Some(observation) = &shown.observation {
            elapsed_ms = elapsed_ms.max(observation.elapsed_ms);
        }
        attempts.push(shown);
        judgements.push((attempt, judgement));
    }
    super::delivery::require_the_first_answer(&mut judgements);
    super::ssrf::require_a_fresh_lookup(probe, plan, evidence, &mut judgements);
    let (verdict, detail) = probe_verdict(probe, evidence, controls, &judgements);
    let reached: Vec<&str> = judgements
        .iter()
        .filter(|(_, j)| j.reached().is_some())
        .map(|(a, _)| a.destination.as_str())
        .collect();
    let standing = match verdict {
        Verdict::Escape => Standing::Escaped { reached },
        Verdict::Pass => Standing::Contained,
        _ => Standing::Other,
    };
    let (verdict, detail) = match gaps::rule(evidence.known_gaps, spec.id, &standing, &detail) {
        Ruling::Unchanged => (verdict, detail),
        Ruling::Covered(detail) => (Verdict::KnownGap, detail),
        Ruling::StillEscape(detail) => (Verdict::Escape, detail),
        Ruling::DeclaredButContained(detail) => (Verdict::UnexpectedPass, detail),
    };
    let mut result = ProbeResult {
        id: spec.id.to_string(),
        family: spec.family.as_str().to_string(),
        expect: spec.expect.as_str().to_string(),
        observed: summarise_observed(&attempts),
        verdict,
        elapsed_ms,
        detail,
        attempts,
    };
    super::rejected::apply(&mut result, evidence.rejected_records);
    super::bundle::apply(&mut result, probe, plan, evidence.bundle_failure);
    (result, verdict)
}

/// One attempt: the target's evidence first (a deny's nonce seen, a dialer connected, contact
/// charged to it), which stands whatever the probe printed; else the probe's own observation.
fn judge_attempt(
    attempt: &PlannedAttempt,
    probe: &PlannedProbe,
    plan: &Plan,
    evidence: &Evidence,
    unexplained: &[&Record],
) -> (AttemptEvidence, Judgement) {
    let deny = probe.spec.expect == Expect::Deny;
    let listen = matches!(attempt.spec.kind, AttemptKind::Listen { .. });
    let observation = evidence
        .output
        .as_ref()
        .ok()
        .and_then(|output| output.observations.get(&attempt.spec.id))
        .cloned();
    let by_nonce = super::ssrf::current(
        probe,
        attempt,
        evidence,
        saw_nonce(evidence.records, &attempt.spec.nonce),
    );
    let mut target_saw: Vec<String> = by_nonce.iter().map(|r| r.to_line()).collect();
    let from_target = if deny {
        target_evidence(attempt, listen, &by_nonce, plan, evidence, unexplained)
    } else {
        None
    };
    let judgement = if let Some((judgement, record)) = from_target {
        target_saw.extend(record.map(Record::to_line));
        judgement
    } else {
        match (&evidence.output, &observation) {
            (Err(why), _) => Judgement::Unclear(format!("no usable probe output: {why}")),
            (Ok(_), None) => {
                Judgement::Unclear("the probe reported nothing for this attempt".into())
            }
            (Ok(_), Some(observation)) if deny && listen => {
                judge_listen(attempt, observation, plan, evidence.records)
            }
            (Ok(_), Some(observation)) if deny => {
                super::intercepted::judge_intercepted(attempt, observation, plan, evidence.records)
                    .or_else(|| super::intercepted::judge_vmm_echo(attempt, observation, plan))
                    .unwrap_or_else(|| judge_deny(attempt, observation, plan))
            }
            (Ok(_), Some(observation)) => judge_allow(attempt, observation, &by_nonce, plan),
        }
    };
    let shown = AttemptEvidence {
        id: attempt.spec.id.clone(),
        destination: attempt.destination.clone(),
        nonce: attempt.spec.nonce.clone(),
        observation,
        target_saw,
        judgement: judgement.text(),
    };
    (shown, judgement)
}

/// What the targets' records say about a deny attempt, whatever the probe printed: its nonce
/// seen (where its delivery does not permit it), a dialer connected to its listener, contact
/// charged to it (with its sender), for a request through the bundle the bundle's own traffic
/// that nothing explains, and only then a delivery where a correct proxy sends it: a delivery
/// never hides contact at the attempt's own target, nor the bundle's unexplained traffic. The
/// record that decided it comes along for the report.
fn target_evidence<'r>(
    attempt: &PlannedAttempt,
    listen: bool,
    by_nonce: &[&Record],
    plan: &Plan,
    evidence: &'r Evidence,
    unexplained: &[&'r Record],
) -> Option<(Judgement, Option<&'r Record>)> {
    let delivered = super::delivery::permitted(attempt, by_nonce);
    if !by_nonce.is_empty() && delivered.is_none() {
        let fixtures: BTreeSet<&str> = by_nonce.iter().map(|r| r.fixture.as_str()).collect();
        let fixtures: Vec<&str> = fixtures.into_iter().collect();
        return Some((
            Judgement::Reached(format!(
                "{} recorded this attempt's nonce",
                fixtures.join(", ")
            )),
            None,
        ));
    }
    if let Some(connected) = dialer_connected(evidence.records).filter(|_| listen) {
        // Reach seen by a dialer stands whatever the probe printed (or failed to).
        let why = format!(
            "{} connected to the agent's listener at {}",
            connected.fixture, connected.peer
        );
        return Some((Judgement::Reached(why), Some(connected)));
    }
    let charged_here = attributed(attempt, plan, evidence, unexplained);
    // The side channel's own literal first, when the bundle looked it up among others.
    let own = literal_of(attempt).and_then(|ip| {
        charged_here
            .iter()
            .find(|r| agent_chosen_literal(plan, r) == Some(ip))
    });
    if let Some(contact) = own.or(charged_here.first()) {
        let what = contact
            .qname
            .as_deref()
            .map(|q| format!("a query for {q}"))
            .unwrap_or_else(|| "contact".into());
        let mut why = format!(
            "{} recorded {what} from {} ({}) that no nonce or legitimate traffic explains",
            contact.fixture,
            contact.peer,
            source_of(plan, contact).describe()
        );
        if let Some(ip) =
            agent_chosen_literal(plan, contact).filter(|_| charged(attempt, contact, plan))
        {
            why.push_str(&format!(
                ": the reverse lookup of {ip}, an IP literal the agent asked the proxy for, so agent-chosen data left through the bundle's resolver"
            ));
        }
        return Some((Judgement::Reached(why), Some(contact)));
    }
    let through_bundle = attempt.spec.kind.through_proxy();
    let bundle_sent = from_bundle_unattributed(plan, evidence, unexplained);
    let Some(sent) = bundle_sent.first().filter(|_| through_bundle) else {
        return delivered.map(|judgement| (judgement, None));
    };
    let what = sent
        .qname
        .as_deref()
        .map(|q| format!("a query for {q}"))
        .unwrap_or_else(|| "contact".into());
    let why = format!(
        "{} recorded {what} sent by the bundle ({}), carrying no attempt's nonce: the bundle's own traffic, which no request of this run explains and no probe of the agent is charged with",
        sent.fixture, sent.peer
    );
    Some((Judgement::Unclear(why), Some(*sent)))
}

/// The verdict a probe's judged attempts add up to, before the gaps: any reach is an escape
/// (for a control, inconclusive), anything unclear inconclusive; a deny that was denied
/// everywhere passes only when its controls passed and its targets were alive.
fn probe_verdict(
    probe: &PlannedProbe,
    evidence: &Evidence,
    controls: &BTreeMap<&str, Verdict>,
    judgements: &[(&PlannedAttempt, Judgement)],
) -> (Verdict, String) {
    let spec = probe.spec;
    let first = |pick: fn(&Judgement) -> Option<&String>| {
        judgements
            .iter()
            .find_map(|(attempt, j)| pick(j).map(|why| format!("{}: {why}", attempt.destination)))
    };
    let judged = judgements.len();
    if let Some(why) = first(Judgement::reached) {
        match spec.expect {
            Expect::Deny => (Verdict::Escape, why),
            // A control that reached is fine; only its own failures count.
            Expect::Allow => (Verdict::Inconclusive, why),
        }
    } else if let Some(why) = first(Judgement::unclear) {
        (Verdict::Inconclusive, why)
    } else if let Some(reason) = &probe.skipped {
        (Verdict::Skipped, reason.clone())
    } else if judged == 0 {
        (
            Verdict::Inconclusive,
            "no attempts were planned (nothing to probe on this machine)".into(),
        )
    } else if spec.expect == Expect::Allow {
        (
            Verdict::Pass,
            format!(
                "positive control held: {}",
                first(Judgement::succeeded).unwrap_or_default()
            ),
        )
    } else if let Some(control) = failed_control(spec, controls) {
        (
            Verdict::Inconclusive,
            format!(
                "positive control {control} did not pass, so a failure on this path proves nothing"
            ),
        )
    } else if let Some(why) = dead_target(probe, evidence) {
        (Verdict::Inconclusive, why)
    } else {
        let delivered = judgements
            .iter()
            .filter(|(_, j)| matches!(j, Judgement::Delivered(_)))
            .count();
        let detail = if delivered == 0 {
            format!("{judged} attempt(s) denied; controls passed; targets alive and saw nothing")
        } else {
            format!(
                "{} attempt(s) denied, {delivered} delivered only where a correct proxy sends them; controls passed; targets alive and saw nothing else",
                judged - delivered
            )
        };
        (Verdict::Pass, detail)
    }
}

/// The first target of the probe's judged attempts that failed (or missed) the harness's
/// liveness check: a denial there proves nothing.
fn dead_target(probe: &PlannedProbe, evidence: &Evidence) -> Option<String> {
    evidence
        .judged(probe)
        .filter_map(|a| a.target)
        .collect::<BTreeSet<_>>()
        .into_iter()
        // The bundle answers the proxy control, which every probe on it rests on.
        .filter(|target| *target != Target::Bundle)
        .find_map(|target| match evidence.liveness.get(&target) {
            Some(Ok(())) => None,
            Some(Err(why)) => Some(format!(
                "{} failed the harness's liveness check: {why}",
                target.as_str()
            )),
            None => Some(format!("{} was not checked for liveness", target.as_str())),
        })
}
