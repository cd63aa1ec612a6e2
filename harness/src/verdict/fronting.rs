//! Domain fronting: a tunnel to the allowed host that carries a TLS ClientHello naming another
//! one. pipelock answers `200` to the CONNECT first (the client sends its ClientHello only
//! after it), then peeks at the ClientHello and closes the connection when its SNI is not the
//! tunnel's host (luckyPipewrench/pipelock `internal/proxy/sni.go`, `verifySNI`). So the deny
//! rests on how the tunnel ended, with the public host's records (checked by `evaluate`:
//! a ClientHello that arrived there carries the nonce) and the TLS control on the same path.

use bottle_probes::wire::{Observation, Outcome, TunnelEnd};

use super::judgement::Judgement;
use super::refusal::judge_proxy;
use crate::plan::{Plan, PlannedAttempt};

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
