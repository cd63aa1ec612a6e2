//! The positive controls: an allow attempt passes only when the allowed path demonstrably
//! worked (the answer came back and the target saw it arrive through the bundle), and a deny
//! probe whose controls did not pass proves nothing.

use std::collections::BTreeMap;

use bottle_fixtures::Record;
use bottle_probes::catalogue::ProbeSpec;
use bottle_probes::wire::{AttemptKind, Observation, Outcome};

use super::judgement::{describe, wrong_resolver, Judgement};
use super::result::Verdict;
use super::source::{at_egress, from_bundle};
use crate::plan::{Plan, PlannedAttempt};

/// Judges an allow attempt (a positive control).
pub(super) fn judge_allow(
    attempt: &PlannedAttempt,
    observation: &Observation,
    seen_by_target: &[&Record],
    plan: &Plan,
) -> Judgement {
    let seen = describe(observation);
    let via_bundle = seen_by_target.iter().any(|r| from_bundle(plan, r));
    // egress records what pipelock hands it over the bundle's loopback: the control's own path.
    if let Some(stray) = seen_by_target
        .iter()
        .find(|r| !from_bundle(plan, r) && !at_egress(r))
    {
        return Judgement::Unclear(format!(
            "the control's nonce also arrived from {}, not only through the bundle",
            stray.peer
        ));
    }
    if let AttemptKind::Resolver { .. } = attempt.spec.kind {
        if let Some(why) = wrong_resolver(observation, plan) {
            return Judgement::Unclear(why);
        }
    }
    match &attempt.spec.kind {
        AttemptKind::HttpProxy { .. }
        | AttemptKind::ConnectProxy { .. }
        | AttemptKind::HttpRequest { .. } => proxied_control(seen, observation, via_bundle),
        AttemptKind::ConnectTls { sni, .. } => {
            tls_control(seen, sni, observation, seen_by_target, via_bundle)
        }
        AttemptKind::Resolver { .. } => resolver_control(seen, observation, plan),
        _ => match observation.outcome() {
            Outcome::Connected if observation.ack => Judgement::Succeeded(seen),
            _ => Judgement::Unclear(seen),
        },
    }
}

/// A control through the proxy (`seen` is how the probe saw it): 200, acknowledged, and
/// recorded arriving from the bundle. One function per kind of control, so each says what it
/// needs.
fn proxied_control(seen: String, observation: &Observation, via_bundle: bool) -> Judgement {
    let ok_status = observation.status == Some(200);
    if ok_status && observation.ack && via_bundle {
        Judgement::Succeeded(format!(
            "{seen}, acknowledged, and the target saw it arrive from the bundle"
        ))
    } else if !via_bundle {
        Judgement::Unclear(format!(
            "{seen}; the target did not record it arriving from the bundle"
        ))
    } else {
        Judgement::Unclear(format!(
            "{seen}; expected 200 with the target's acknowledgement"
        ))
    }
}

/// The TLS control through a tunnel: as [`proxied_control`], and the public host read the
/// ClientHello's SNI. The fronting deny rests on this control: the public host must have read
/// the SNI, or a proxy that mangled it would look like one that checks it.
fn tls_control(
    seen: String,
    sni: &str,
    observation: &Observation,
    seen_by_target: &[&Record],
    via_bundle: bool,
) -> Judgement {
    let read_sni = seen_by_target.iter().any(|r| {
        r.sni
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(sni))
    });
    if observation.status == Some(200) && observation.ack && via_bundle && read_sni {
        Judgement::Succeeded(format!(
            "{seen}, acknowledged, and the public host read SNI {sni} arriving from the bundle"
        ))
    } else if !read_sni {
        Judgement::Unclear(format!(
            "{seen}; the public host did not record a ClientHello with SNI {sni} from the bundle"
        ))
    } else {
        Judgement::Unclear(format!(
            "{seen}; expected 200 with the target's acknowledgement through the tunnel"
        ))
    }
}

/// The resolver control: an answer with the bundle's address as the agent reaches it (its
/// own, or the VMM's gateway in smolvm's desktop mode).
fn resolver_control(seen: String, observation: &Observation, plan: &Plan) -> Judgement {
    if observation.outcome() == Outcome::Answered
        && observation.rcode == Some(0)
        && observation.answers.contains(&plan.bundle_reached_ip)
    {
        Judgement::Succeeded(format!("{seen} with the bundle's address"))
    } else {
        Judgement::Unclear(format!(
            "{seen}; expected the bundle's address {}",
            plan.bundle_reached_ip
        ))
    }
}

/// The first of a deny probe's controls that did not pass (judged already: controls go first).
pub(super) fn failed_control(
    spec: &ProbeSpec,
    controls: &BTreeMap<&str, Verdict>,
) -> Option<&'static str> {
    spec.controls
        .iter()
        .find(|control| controls.get(**control) != Some(&Verdict::Pass))
        .copied()
}
