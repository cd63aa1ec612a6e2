//! Judging the inbound listener: the agent listens, the fixture hosts (and this machine) dial
//! it. Any dialer that connected is reach, whatever the agent says; a denial needs the agent's
//! self-check and, from every dialer at every address it dials, a complete try inside the
//! listener's window.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bottle_fixtures::records::Event;
use bottle_fixtures::Record;
use bottle_probes::wire::Observation;

use super::deny::judge_deny;
use super::judgement::Judgement;
use crate::plan::{Plan, PlannedAttempt};

/// A dialer's record of a connection to the agent's listener: reach into the agent.
pub(super) fn dialer_connected(records: &[Record]) -> Option<&Record> {
    records.iter().find(|r| r.event == Event::DialConnected)
}

/// Whether `record` is dialer `name`'s `event`. The plan names its dialers as strings (the
/// neighbour's name comes from the topology), compared with the record's fixture name.
fn of_dialer(record: &Record, name: &str, event: Event) -> bool {
    record.event == event && record.fixture.as_str() == name
}

/// Judges the inbound listener: any dialer that connected is reach, whatever the agent says;
/// a denial needs the agent's self-check and every expected dialer having started.
pub(super) fn judge_listen(
    attempt: &PlannedAttempt,
    observation: &Observation,
    plan: &Plan,
    records: &[Record],
) -> Judgement {
    if let Some(connected) = dialer_connected(records) {
        return Judgement::Reached(format!(
            "{} connected to the agent's listener at {}",
            connected.fixture, connected.peer
        ));
    }
    let dialers_with = |event: Event, wanted: bool| -> Vec<&str> {
        plan.dialers
            .iter()
            .filter(|name| records.iter().any(|r| of_dialer(r, name, event)) == wanted)
            .map(String::as_str)
            .collect()
    };
    let silent = dialers_with(Event::Dial, false);
    let stopped = dialers_with(Event::DialStopped, true);
    let untried = observation
        .window
        .map(|window| dialers_without_a_try_in(window, &plan.dialers, records));
    match judge_deny(attempt, observation, plan) {
        Judgement::Denied(_) if !silent.is_empty() => Judgement::Unclear(format!(
            "the dialers {silent:?} never started, so nobody tried to connect"
        )),
        Judgement::Denied(_) if !stopped.is_empty() => Judgement::Unclear(format!(
            "the dialers {stopped:?} had used up their tries (a bottle older than a minute), so nobody was trying to connect"
        )),
        Judgement::Denied(_) if untried.is_none() => Judgement::Unclear(
            "the listener did not say when it listened, so no dialer's try can be placed in it"
                .into(),
        ),
        Judgement::Denied(_) if untried.as_ref().is_some_and(|u| !u.is_empty()) => {
            let (open, close) = observation.window.unwrap_or_default();
            Judgement::Unclear(format!(
                "no complete try while the agent listened ({} ms) from {}: nobody was trying then",
                close.saturating_sub(open),
                untried.unwrap_or_default().join(", ")
            ))
        }
        other => other,
    }
}

/// The dialer targets (`fixture -> address`) without a try that began and ended inside the
/// listener's `window`: a try that did, at a path that was open, would have connected. Each
/// dialer's targets are the ones its `dial` records name.
fn dialers_without_a_try_in(
    (open, close): (u64, u64),
    dialers: &[String],
    records: &[Record],
) -> Vec<String> {
    let mut untried = Vec::new();
    for name in dialers {
        let targets: BTreeSet<SocketAddr> = records
            .iter()
            .filter(|r| of_dialer(r, name, Event::Dial))
            .map(|r| r.peer)
            .collect();
        for target in targets {
            let tried = records.iter().any(|r| {
                of_dialer(r, name, Event::DialTry)
                    && r.peer == target
                    && matches!((r.at_ms, r.took_ms), (Some(at), Some(took))
                        if at >= open && at.saturating_add(took) <= close)
            });
            if !tried {
                untried.push(format!("{name} -> {target}"));
            }
        }
    }
    untried
}
