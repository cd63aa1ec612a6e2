//! Deliveries that are not reach: a deny attempt whose plan says where its nonce may arrive
//! (`Delivery`), judged from the target's own records. pipelock sends the URI's authority as
//! the Host header (`outReq.Host = outReq.URL.Host` in `internal/proxy/forward.go`), so a
//! request for the allowed URI with `Host: <denied>` arrives at the public host asking for the
//! allowed name; and a pinned proxy asked for the rebinding name goes to its first answer, the
//! public host. Anything else the records show (another fixture, another name, no name where
//! one is needed) stays reach. An SSRF request that arrives at the public host after the DNS
//! switch led its name elsewhere proves nothing either way: the proxy used a kept answer.

use bottle_fixtures::records::FixtureName;
use bottle_fixtures::Record;

use super::judgement::Judgement;
use super::source::at_egress;
use crate::plan::{Delivery, PlannedAttempt};

/// The judgement on `attempt`'s nonce records when its delivery permits them all, else None
/// (the records are reach).
pub(super) fn permitted(attempt: &PlannedAttempt, by_nonce: &[&Record]) -> Option<Judgement> {
    let name = match &attempt.delivery {
        Delivery::Nowhere => return None,
        Delivery::AtPublicAs(name) => Some(name.as_str()),
        Delivery::AtPublic | Delivery::StaleAtPublic => None,
    };
    // pipelock handing the request to egress is the allowed path's own hop.
    let at_public: Vec<&&Record> = by_nonce.iter().filter(|r| !at_egress(r)).collect();
    if at_public.is_empty()
        || at_public
            .iter()
            .any(|r| r.fixture != FixtureName::Public || !asked_for(r, name))
    {
        return None;
    }
    if attempt.delivery == Delivery::StaleAtPublic {
        return Some(Judgement::Unclear(
            "the proxy sent it to the public host, the name's answer from before the DNS switch: it used an answer it had kept, so its check of the address the name leads to now was never exercised".into(),
        ));
    }
    let asked = match name {
        Some(name) => format!(" asking for {name}"),
        None => String::new(),
    };
    Some(Judgement::Delivered(format!(
        "to the public host{asked} only, which is where a correct proxy sends it"
    )))
}

/// The rebinding probe proves pinning only where the name's first answer (the public host)
/// was handed out and used: each rebinding request runs in a window of its own (a switch
/// before each, `Plan::dns_runs`), so a pinned proxy delivers every one of them there. A
/// request refused instead shows an SSRF check or another refusal, not pinning: its denial
/// becomes unclear.
pub(super) fn require_the_first_answer(judgements: &mut [(&PlannedAttempt, Judgement)]) {
    let rebinding = |a: &PlannedAttempt| a.delivery == Delivery::AtPublic;
    for (attempt, judgement) in judgements.iter_mut().filter(|(a, _)| rebinding(a)) {
        if let Judgement::Denied(why) = judgement {
            *judgement = Judgement::Unclear(format!(
                "{why}; but {} never reached the public host, so the name's first answer was never used and pinning is unproven",
                attempt.destination
            ));
        }
    }
}

/// Whether `record` says it was asked for `name` (when one is required): its Host header
/// (port and a trailing dot aside, any case) or its SNI, and neither naming anything else.
fn asked_for(record: &Record, name: Option<&str>) -> bool {
    let Some(name) = name else {
        return true;
    };
    let same = |seen: &str| host_part(seen).eq_ignore_ascii_case(name.trim_end_matches('.'));
    let named: Vec<&str> = record
        .host
        .iter()
        .chain(record.sni.iter())
        .map(String::as_str)
        .collect();
    !named.is_empty() && named.iter().all(|seen| same(seen))
}

/// The host of a Host header value: without its port (IPv6 in brackets kept whole) and a
/// trailing dot.
fn host_part(value: &str) -> &str {
    let host = if value.starts_with('[') {
        value
            .split_once(']')
            .map_or(value, |(h, _)| h)
            .trim_start_matches('[')
    } else {
        value.rsplit_once(':').map_or(value, |(h, _)| h)
    };
    host.trim_end_matches('.')
}
