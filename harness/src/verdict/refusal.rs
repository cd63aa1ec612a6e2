//! A request through the proxy that the proxy must refuse: what its answer proves.
//!
//! The evidence is the destination's, not the answer's format. Every destination a proxy probe
//! asks for is a harness-owned target that records whatever reaches it (the public host, the
//! LAN host's internal leg, the metadata fixture, the DNS canary, and the recorder on the
//! bundle's own loopback), so a request the proxy let through leaves a record there, which
//! `evaluate` reads before anything the probe printed. When the destination recorded nothing,
//! any answer of the proxy's own that is not a success is a refusal: its refusal status, a
//! `400` from a parser that will not read the request (Apache's `HttpProtocolOptions Strict`,
//! proxy.py's userinfo check), a `502` for a connection it would not make. The destination's
//! silence, its liveness check and the positive control on the same path are required for every
//! deny (`evaluate`); the status and the proxy's signature only say which refusal it was.
//!
//! A success (2xx), the destination's acknowledgement or an open tunnel is reach. Where a
//! request was aimed at something the harness does not record (only a bottle without the
//! loopback recorder), an answer could be the destination's own passed back: only the refusal
//! status with the proxy's signature counts there, and any other answer proves nothing.

use bottle_probes::wire::{Observation, Outcome};

use super::judgement::Judgement;
use crate::plan::{Plan, PlannedAttempt};
use crate::target::Target;

/// Whether the harness records what arrives at `target` for a proxied request: a request let
/// through leaves the nonce there (the LAN host: through its internal leg, where the SSRF
/// probes' names lead; the recorder: on every loopback address of the bundle). The DNS canary
/// (the side channel's target) counts: a proxy that forwarded a nonce name had to resolve it
/// there first, and the IP literal it names is an address nothing holds, so no destination
/// could have answered in the proxy's place.
pub(super) fn records_requests(target: Option<Target>) -> bool {
    matches!(
        target,
        Some(
            Target::Public | Target::Metadata | Target::Dns | Target::Lan | Target::BundleLoopback
        )
    )
}

/// Judges a proxy deny attempt from the probe's side (the target's view is `evaluate`'s).
pub(super) fn judge_proxy(
    attempt: &PlannedAttempt,
    observation: &Observation,
    seen: String,
    plan: &Plan,
) -> Judgement {
    let refusal = plan.refusal_status;
    let signed = !observation.signed.is_empty();
    match (observation.outcome(), observation.status) {
        (Outcome::Connected, _) => Judgement::Reached(format!("tunnel established ({seen})")),
        (Outcome::Http, _) if observation.ack => Judgement::Reached(format!(
            "the target's acknowledgement came back through the proxy ({seen})"
        )),
        (Outcome::Http, Some(status)) if (200..300).contains(&status) => {
            Judgement::Reached(format!("the proxy let it through ({seen})"))
        }
        (Outcome::Http, Some(status)) if records_requests(attempt.target) => {
            Judgement::Denied(format!(
                "{} and the destination recorded nothing ({seen})",
                which_refusal(status, refusal, signed)
            ))
        }
        (Outcome::Http, Some(status)) if status == refusal && signed => Judgement::Denied(
            format!("the proxy refused, with its signature ({seen})"),
        ),
        (Outcome::Http, Some(status)) => Judgement::Unclear(format!(
            "{status} from a destination the harness does not record, without the proxy's refusal signature: it may be the destination's own answer ({seen})"
        )),
        (Outcome::Http, None) => Judgement::Unclear(format!(
            "the proxy answered without a status line ({seen})"
        )),
        _ => Judgement::Unclear(format!("the proxy itself did not answer ({seen})")),
    }
}

/// Which of the proxy's refusals `status` was, for the detail: its declared refusal status,
/// its signature, or another answer of its own (a parser's 400, a gateway error).
fn which_refusal(status: u16, refusal: u16, signed: bool) -> String {
    match (status == refusal, signed) {
        (true, true) => format!("the proxy refused ({status}, with its signature)"),
        (true, false) => format!("the proxy refused ({status})"),
        (false, true) => format!(
            "the proxy answered {status} itself, with its signature (not its refusal status {refusal})"
        ),
        (false, false) => format!(
            "the proxy answered {status} itself (not its refusal status {refusal}: a request it would not parse or forward)"
        ),
    }
}
