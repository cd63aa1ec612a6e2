//! A request through the proxy that the proxy must refuse: what its answer proves.
//!
//! A deny holds when the proxy itself refused: the refusal status (`[proxy] refusal_status`,
//! 403 by default) and, where the request was aimed at a target the harness records (the public
//! host, the metadata fixture), that target's silence about the attempt's nonce and the passing
//! positive control on the same path (both checked by `evaluate` for every deny). Where it was
//! aimed at something the harness does not record (the bundle's own loopback: its egress, which
//! in a user bundle is the user's), a bare refusal status could be the destination's own answer
//! passed back, so it counts only with the proxy's signature (the probe reports which it saw),
//! and any other answer from there is reach: the proxy forwarded the request.

use bottle_probes::wire::{Observation, Outcome};

use super::judgement::Judgement;
use crate::plan::{Plan, PlannedAttempt};
use crate::target::Target;

/// Whether the harness records what arrives at `target` for a proxied request: a request let
/// through leaves the nonce there (the LAN host: through its internal leg, where the SSRF
/// probes' names lead). The DNS canary (the side channel's target) counts: a proxy
/// that forwarded a nonce name had to resolve it there first, and the IP literal it names is
/// an address nothing holds, so no destination could have answered in the proxy's place.
fn records_requests(target: Option<Target>) -> bool {
    matches!(
        target,
        Some(Target::Public | Target::Metadata | Target::Dns | Target::Lan)
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
    let recorded = records_requests(attempt.target);
    let signed = !observation.signed.is_empty();
    match (observation.outcome(), observation.status) {
        (Outcome::Connected, _) => Judgement::Reached(format!("tunnel established ({seen})")),
        (Outcome::Http, _) if observation.ack => Judgement::Reached(format!(
            "the target's acknowledgement came back through the proxy ({seen})"
        )),
        (Outcome::Http, Some(status)) if (200..300).contains(&status) => {
            Judgement::Reached(format!("the proxy let it through ({seen})"))
        }
        (Outcome::Http, Some(status)) if status == refusal && signed => {
            Judgement::Denied(format!("the proxy refused, with its signature: {seen}"))
        }
        (Outcome::Http, Some(status)) if status == refusal && recorded => {
            Judgement::Denied(format!(
                "the proxy answered {status} and the target it was aimed at recorded nothing: {seen}"
            ))
        }
        (Outcome::Http, Some(status)) if status == refusal => Judgement::Unclear(format!(
            "{status} without the proxy's signature from a destination the harness does not record: it may be the destination's own answer ({seen})"
        )),
        (Outcome::Http, Some(status)) if signed => Judgement::Unclear(format!(
            "the proxy's own answer, but {status}, not the refusal status {refusal} ({seen})"
        )),
        (Outcome::Http, Some(status)) if !recorded => Judgement::Reached(format!(
            "the proxy forwarded it: {status} came back from behind the proxy, unsigned ({seen})"
        )),
        (Outcome::Http, _) => Judgement::Unclear(format!(
            "the proxy answered, neither refusing ({refusal}) nor letting it through ({seen})"
        )),
        _ => Judgement::Unclear(format!("the proxy itself did not answer ({seen})")),
    }
}
