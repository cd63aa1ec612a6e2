//! What a VMM's own network stack answers in the place of the addressed host, judged by that
//! host's own records.
//!
//! A direct DNS query behind a VMM that answers DNS at every address itself (smolvm intercepts
//! UDP/53 whatever the destination, answers from its filter and forwards the rest to its
//! upstream): the answer the probe got is the VMM's, not the addressed resolver's, so only that
//! resolver's own records decide. The attempt's nonce seen at the DNS canary is reach, judged
//! before this from the target's evidence. An answer the canary never saw is a denial only when
//! the canary did see the resolver controls' name forwarded by the same VMM: that proves the
//! VMM's upstream is the canary, so a forwarded query would have shown there.

use bottle_fixtures::records::FixtureName;
use bottle_fixtures::Record;
use bottle_probes::wire::{AttemptKind, Observation, Outcome};

use super::judgement::{describe, Judgement};
use crate::plan::{Plan, PlannedAttempt};

/// An echo request to the VMM's own gateway address, answered: smolvm's stack answers those
/// itself, with no host socket (`stack.rs`: echo to a gateway address is answered locally).
/// The plan pings this machine only with its ICMP recorder running, which records every echo
/// request that reaches this machine; one carrying this attempt's nonce is reach, judged
/// before this from the target's evidence. So an answered echo it never saw is a denial.
pub(super) fn judge_vmm_echo(
    attempt: &PlannedAttempt,
    observation: &Observation,
    plan: &Plan,
) -> Option<Judgement> {
    let AttemptKind::Ping { ip } = attempt.spec.kind else {
        return None;
    };
    let gateway = plan.vmm_gateway?;
    if ip != std::net::IpAddr::V4(gateway) || observation.outcome() != Outcome::Connected {
        return None;
    }
    Some(Judgement::Denied(format!(
        "answered by the VMM's stack at its own gateway {gateway}; this machine's ICMP recorder, which records every echo request reaching this machine, saw none ({})",
        describe(observation)
    )))
}

/// The judgement of a direct DNS attempt that was answered behind an intercepting VMM, or
/// None where the rule does not apply (no interception, not a direct query, not answered).
pub(super) fn judge_intercepted(
    attempt: &PlannedAttempt,
    observation: &Observation,
    plan: &Plan,
    records: &[Record],
) -> Option<Judgement> {
    let direct = matches!(
        attempt.spec.kind,
        AttemptKind::DnsUdp { .. } | AttemptKind::DnsTcp { .. }
    );
    if !plan.dns_intercepted || !direct || observation.outcome() != Outcome::Answered {
        return None;
    }
    let seen = describe(observation);
    let upstream_proven = records.iter().any(|r| {
        r.fixture == FixtureName::Dns
            && r.qname.as_deref().is_some_and(|q| {
                q.trim_end_matches('.')
                    .eq_ignore_ascii_case(&plan.control_name)
            })
    });
    Some(if upstream_proven {
        Judgement::Denied(format!(
            "answered by the VMM's DNS interception, and the DNS canary, which the same VMM forwarded the resolver controls' {} to, never saw this query ({seen})",
            plan.control_name
        ))
    } else {
        Judgement::Unclear(format!(
            "answered by the VMM's DNS interception, but the DNS canary never saw the resolver controls' {} either, so nothing shows that a forwarded query would reach it ({seen})",
            plan.control_name
        ))
    })
}
