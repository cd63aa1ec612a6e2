//! The SSRF probes' own rule: their attempts run in execs of their own, after the harness
//! switched the allowed name's answer at the DNS canary (`DnsMode::Internal`: the LAN host's
//! internal address; `DnsMode::Rebind`: the public host first, the LAN host next). A refusal
//! there, or a pinned delivery, proves the proxy checked the address only if the proxy looked
//! the name up again after the switch: a proxy that kept the answer it got before (Squid keeps
//! every answer for `negative_dns_ttl`, a minute by default) refuses or delivers without ever
//! seeing the internal address. So each denial or delivery of such a probe needs the bundle's
//! lookup of the name at the DNS canary, recorded after the last switch made for that attempt
//! and before the next switch (each rebinding attempt has a switch and an exec of its own;
//! `Plan::dns_runs`); without it, or without the switch, it is unclear, never a pass. Reach
//! stays reach.
//!
//! Where the first exec under a mode went out on a kept answer, the harness waits for a short
//! cache to expire and switches and execs once more (`run::exec`); what counts is the last
//! switch made for the attempt. The public host's records of an attempt from before that switch are the
//! earlier try's kept answer, not this one's (the DNS canary and the public host share one
//! log, so their order is the order things happened); a record at the LAN host counts
//! whenever it came.

use bottle_fixtures::dns_canary::DnsMode;
use bottle_fixtures::records::FixtureName;
use bottle_fixtures::Record;

use super::evidence::{DnsSwitchRun, Evidence};
use super::judgement::Judgement;
use super::source::from_bundle;
use crate::plan::{Plan, PlannedAttempt, PlannedProbe};

/// Turns the denials and deliveries of a probe that ran under a DNS mode into unclear ones
/// when nothing shows the proxy asked for the switched answer.
pub(super) fn require_a_fresh_lookup(
    probe: &PlannedProbe,
    plan: &Plan,
    evidence: &Evidence,
    judgements: &mut [(&PlannedAttempt, Judgement)],
) {
    let Some(mode) = probe.dns_mode else {
        return;
    };
    for (attempt, judgement) in judgements.iter_mut() {
        let Some(why) = unproven(mode, attempt, plan, evidence) else {
            continue;
        };
        if let Judgement::Denied(seen) | Judgement::Delivered(seen) = judgement {
            *judgement = Judgement::Unclear(format!("{seen}; but {why}"));
        }
    }
}

/// Why `attempt`, sent under `mode`, proves nothing about the proxy's address check, if it
/// doesn't.
fn unproven(
    mode: DnsMode,
    attempt: &PlannedAttempt,
    plan: &Plan,
    evidence: &Evidence,
) -> Option<String> {
    let Some(run) = last_switch(attempt, evidence) else {
        return Some(format!(
            "the harness did not switch {}'s answer to {} before these attempts",
            plan.allowed_host,
            mode.as_str()
        ));
    };
    if let Err(why) = &run.result {
        return Some(format!(
            "switching {}'s answer to {} failed: {why}",
            plan.allowed_host,
            mode.as_str()
        ));
    }
    if fresh_lookups(evidence.records, &run.nonce, evidence.dns_switches, plan) == 0 {
        return Some(format!(
            "the proxy did not look {} up again after the switch to {}: it answered from what it had kept (a DNS cache; Squid keeps every answer for negative_dns_ttl, a minute by default), so its check of the address the name leads to now was never exercised",
            plan.allowed_host,
            mode.as_str()
        ));
    }
    None
}

/// The last switch made for `attempt`, the one its judged observation ran after.
fn last_switch<'e>(attempt: &PlannedAttempt, evidence: &'e Evidence) -> Option<&'e DnsSwitchRun> {
    evidence
        .dns_switches
        .iter()
        .rev()
        .find(|s| s.attempts.contains(&attempt.spec.id))
}

/// How many lookups of the switched name the bundle made at the DNS canary after the switch
/// whose query carried `nonce` and before the next switch of any mode: the canary's records
/// are in the order it received the queries, and it switches as it answers the switch query
/// (recorded first).
pub(crate) fn fresh_lookups(
    records: &[Record],
    nonce: &str,
    switches: &[DnsSwitchRun],
    plan: &Plan,
) -> usize {
    let mut at_the_canary = records.iter().filter(|r| r.fixture == FixtureName::Dns);
    if !at_the_canary.any(|r| r.mentions(nonce)) {
        return 0;
    }
    let is_switch = |r: &Record| switches.iter().any(|s| r.mentions(&s.nonce));
    at_the_canary
        .take_while(|r| !is_switch(r))
        .filter(|r| from_bundle(plan, r) && asks_for(r, &plan.allowed_host))
        .count()
}

/// The records of an attempt's nonce that count for it: for an SSRF probe's attempt, not the
/// public host's records from before the last switch made for it (an earlier try, sent on a
/// kept answer); every other record, and every record of any other attempt, counts.
pub(super) fn current<'r>(
    probe: &PlannedProbe,
    attempt: &PlannedAttempt,
    evidence: &Evidence,
    by_nonce: Vec<&'r Record>,
) -> Vec<&'r Record> {
    if probe.dns_mode.is_none() {
        return by_nonce;
    }
    let Some(run) = last_switch(attempt, evidence) else {
        return by_nonce;
    };
    let after_the_switch = || {
        evidence
            .records
            .iter()
            .skip_while(|r| !(r.fixture == FixtureName::Dns && r.mentions(&run.nonce)))
            .skip(1)
    };
    by_nonce
        .into_iter()
        .filter(|r| {
            r.fixture != FixtureName::Public || after_the_switch().any(|o| std::ptr::eq(o, *r))
        })
        .collect()
}

/// Whether `record` is a query for `name` (any case, one trailing dot aside).
fn asks_for(record: &Record, name: &str) -> bool {
    record.qname.as_deref().is_some_and(|q| {
        q.trim_end_matches('.')
            .eq_ignore_ascii_case(name.trim_end_matches('.'))
    })
}
