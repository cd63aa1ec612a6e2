//! One attempt's finding, and the small readings of an observation every per-attempt judge
//! shares (how to describe it, whether the right resolver was asked).

use bottle_probes::wire::Observation;

use crate::plan::Plan;

/// What one attempt showed: a denial, reach, nothing conclusive, (a control) the allowed
/// path working, or (a deny with a `Delivery`) its request arriving only where a correct proxy
/// sends it, which holds like a denial. The text says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Judgement {
    Denied(String),
    Delivered(String),
    Reached(String),
    Unclear(String),
    Succeeded(String),
}

impl Judgement {
    pub(super) fn text(&self) -> String {
        match self {
            Judgement::Denied(why) => format!("denied: {why}"),
            Judgement::Delivered(why) => format!("delivered: {why}"),
            Judgement::Reached(why) => format!("reached: {why}"),
            Judgement::Unclear(why) => format!("unclear: {why}"),
            Judgement::Succeeded(why) => format!("allowed: {why}"),
        }
    }

    pub(super) fn reached(&self) -> Option<&String> {
        match self {
            Judgement::Reached(why) => Some(why),
            _ => None,
        }
    }

    pub(super) fn unclear(&self) -> Option<&String> {
        match self {
            Judgement::Unclear(why) => Some(why),
            _ => None,
        }
    }

    pub(super) fn succeeded(&self) -> Option<&String> {
        match self {
            Judgement::Succeeded(why) => Some(why),
            _ => None,
        }
    }
}

/// An observation in a few words: outcome, status, the proxy's signatures and reason, rcode,
/// errno, note.
pub(super) fn describe(observation: &Observation) -> String {
    let mut text = observation.outcome().as_str().to_string();
    if let Some(status) = observation.status {
        text.push_str(&format!(" {status}"));
    }
    if !observation.signed.is_empty() {
        let names: Vec<&str> = observation.signed.iter().map(|s| s.as_str()).collect();
        text.push_str(&format!(" signed {}", names.join(",")));
    }
    if let Some(reason) = &observation.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(rcode) = observation.rcode {
        text.push_str(&format!(" rcode={rcode}"));
    }
    if let Some(errno) = observation.errno {
        text.push_str(&format!(" errno={errno}"));
    }
    if let Some(note) = &observation.note {
        text.push_str(&format!(" [{note}]"));
    }
    text
}

/// The resolver the attempt was meant to ask, when the plan knows it, must be the one asked.
pub(super) fn wrong_resolver(observation: &Observation, plan: &Plan) -> Option<String> {
    let expected = plan.expected_resolver?;
    let asked = observation
        .note
        .as_deref()
        .and_then(|note| note.strip_prefix("resolver "))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or("");
    (asked != expected.to_string()).then(|| {
        format!("the probe asked resolver {asked:?}, but the agent's resolver is {expected}")
    })
}
