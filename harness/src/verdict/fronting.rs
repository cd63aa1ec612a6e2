//! Domain fronting: a tunnel to the allowed host that carries a TLS ClientHello naming another
//! one. pipelock answers `200` to the CONNECT first (the client sends its ClientHello only
//! after it), then peeks at the ClientHello and closes the connection when its SNI is not the
//! tunnel's host (luckyPipewrench/pipelock `internal/proxy/sni.go`, `verifySNI`). So the deny
//! rests on how the tunnel ended, with the public host's records (checked by `evaluate`:
//! a ClientHello that arrived there carries the nonce) and the TLS control on the same path.

use bottle_fixtures::records::{Event, FixtureName, Proto};
use bottle_fixtures::Record;
use bottle_probes::catalogue::Expect;
use bottle_probes::wire::{AttemptKind, Observation, Outcome, TunnelEnd};

use super::evidence::Evidence;
use super::judgement::Judgement;
use super::refusal::judge_proxy;
use super::source::from_bundle;
use crate::plan::{Plan, PlannedAttempt};

/// How many connections without data at the public host the fronting attempts explain:
/// pipelock dials the tunnel's host (the allowed one) before it peeks at the ClientHello, so
/// each tunnel it opened leaves one, whether it then closed the tunnel or not. An attempt
/// whose outcome is unknown (no usable output, no line for it) may have had one too: the
/// output's own problem makes every verdict inconclusive, not this connection an escape. A
/// CONNECT the proxy refused explains none, and no attempt explains more than one.
pub(super) fn tunnel_dials(plan: &Plan, evidence: &Evidence) -> usize {
    let observation = |id: &str| {
        evidence
            .output
            .as_ref()
            .ok()
            .and_then(|output| output.observations.get(id))
    };
    plan.probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Deny)
        .flat_map(|p| evidence.judged(p))
        .filter(|a| matches!(a.spec.kind, AttemptKind::ConnectTls { .. }))
        .filter(|a| match observation(&a.spec.id) {
            None => true,
            Some(o) => o.outcome() == Outcome::Http && o.status == Some(200),
        })
        .count()
}

/// Whether `record` is such a connection: a bare TCP accept at the public host's TLS port,
/// from the bundle, carrying no nonce, name or SNI.
pub(super) fn bare_tunnel_dial(plan: &Plan, record: &Record) -> bool {
    record.fixture == FixtureName::Public
        && record.event == Event::Accept
        && record.proto == Proto::Tcp
        && record.local.port() == 443
        && from_bundle(plan, record)
        && record.nonce.is_none()
        && record.host.is_none()
        && record.sni.is_none()
}

/// Judges a `connect_tls` deny attempt from the probe's side.
pub(super) fn judge_fronting(
    attempt: &PlannedAttempt,
    observation: &Observation,
    seen: String,
    plan: &Plan,
) -> Judgement {
    if observation.outcome() != Outcome::Http || observation.status != Some(200) {
        // The proxy refused the CONNECT itself (or did not answer): the proxy's rules.
        return judge_proxy(attempt, observation, seen, plan);
    }
    if observation.ack {
        return Judgement::Reached(format!(
            "the public host acknowledged the ClientHello through the tunnel ({seen})"
        ));
    }
    match observation.tunnel {
        Some(TunnelEnd::Closed) => Judgement::Denied(format!(
            "the proxy opened the tunnel and closed it on the ClientHello ({seen})"
        )),
        Some(TunnelEnd::Silent) => Judgement::Unclear(format!(
            "the tunnel stayed open and silent after the ClientHello: neither closed nor answered ({seen})"
        )),
        Some(TunnelEnd::Answered) => Judgement::Unclear(format!(
            "something answered through the tunnel, not the public host's acknowledgement ({seen})"
        )),
        None => Judgement::Unclear(format!(
            "the probe did not say how the tunnel ended ({seen})"
        )),
    }
}
