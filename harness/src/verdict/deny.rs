//! Judging a deny attempt from the probe's side alone: only refused, timeout and unreachable
//! (or the proxy's own refusal, see `refusal`) are denials; a connection or an answer is reach; anything
//! else proves nothing. One function per kind of attempt, in the order of `AttemptKind`.

use std::collections::BTreeSet;

use bottle_backends::Handshake;
use bottle_probes::wire::{AttemptKind, Observation, Outcome, StreamEnd};

use super::fronting::judge_fronting;
use super::judgement::{describe, wrong_resolver, Judgement};
use super::refusal::judge_proxy;
use crate::plan::{Plan, PlannedAttempt};

/// Judges a deny attempt from the probe's side alone.
pub(super) fn judge_deny(
    attempt: &PlannedAttempt,
    observation: &Observation,
    plan: &Plan,
) -> Judgement {
    let outcome = observation.outcome();
    let seen = describe(observation);
    if observation.ack {
        return Judgement::Reached(format!("the target's acknowledgement came back ({seen})"));
    }
    let has_answer = observation.status.is_some()
        || observation.rcode.is_some()
        || !observation.answers.is_empty()
        || !observation.open.is_empty();
    if outcome.is_network_denial() && has_answer {
        return Judgement::Unclear(format!("contradictory observation: {seen} with an answer"));
    }
    if let AttemptKind::Resolver { .. } = attempt.spec.kind {
        if let Some(why) = wrong_resolver(observation, plan) {
            return Judgement::Unclear(why);
        }
    }
    match &attempt.spec.kind {
        AttemptKind::Tcp { addr } if refused_by_a_full_relay(*addr, outcome, plan) => {
            Judgement::Unclear(format!(
                "refused outright behind the VMM's relay, which completes every handshake to an allowed address (the bundle's) itself: its connection table was full, so this proves nothing ({seen})"
            ))
        }
        AttemptKind::Tcp { .. } | AttemptKind::TcpLinkLocal { .. } => match outcome {
            Outcome::Connected => connected(observation, seen, plan.handshake, "connected"),
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::HttpProxy { .. }
        | AttemptKind::ConnectProxy { .. }
        | AttemptKind::HttpRequest { .. } => judge_proxy(attempt, observation, seen, plan),
        AttemptKind::ConnectTls { .. } => judge_fronting(attempt, observation, seen, plan),
        AttemptKind::DnsTcp { .. } if outcome == Outcome::Connected => connected(
            observation,
            seen,
            plan.handshake,
            "the outside resolver took the connection",
        ),
        AttemptKind::DnsUdp { .. } | AttemptKind::DnsTcp { .. } => match outcome {
            Outcome::Answered | Outcome::Connected => {
                Judgement::Reached(format!("the outside resolver answered ({seen})"))
            }
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::Resolver { .. } => resolver(observation, outcome, seen, plan),
        AttemptKind::Udp { .. } | AttemptKind::Ping { .. } => match outcome {
            Outcome::Connected => Judgement::Reached(format!("an answer came back ({seen})")),
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::Listen { .. } => match outcome {
            Outcome::Connected => {
                Judgement::Reached(format!("something outside connected ({seen})"))
            }
            Outcome::Refused => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen}: the listener proves nothing")),
        },
        AttemptKind::UnixSockets => match outcome {
            Outcome::Connected => Judgement::Reached(format!("a host socket accepted ({seen})")),
            Outcome::Refused => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen}: the search proves nothing")),
        },
        AttemptKind::Sweep { ip, first, last } => {
            if *ip == std::net::IpAddr::V4(plan.bundle_reached_ip) {
                sweep(observation, outcome, seen, (*first, *last), plan)
            } else {
                sweep_unreached(observation, outcome, seen, (*first, *last), plan)
            }
        }
    }
}

/// The sweep of the bundle's own address where the agent reaches the bundle elsewhere (smolvm's
/// desktop mode: through the VMM's gateway, at the ports published on this machine's
/// loopback): no port there may answer at all, the declared ones included. A port whose
/// handshake completed and was then reset is the relay's, which completes handshakes only to
/// addresses its policy allows: the address is open to the agent, whatever listens on it.
/// Port 53 held behind a VMM that intercepts DNS is the VMM's own (as in [`sweep`]).
fn sweep_unreached(
    observation: &Observation,
    outcome: Outcome,
    seen: String,
    (first, last): (u16, u16),
    plan: &Plan,
) -> Judgement {
    if outcome != Outcome::Swept {
        return Judgement::Unclear(format!("the sweep did not run ({seen})"));
    }
    let total = u32::from(last) - u32::from(first) + 1;
    let open: Vec<u16> = observation
        .open
        .iter()
        .copied()
        .filter(|port| !(plan.dns_intercepted && *port == DNS_PORT))
        .collect();
    if !open.is_empty() {
        return Judgement::Reached(format!(
            "ports answered at the bundle's own address, which the agent must not reach: {open:?}"
        ));
    }
    let reset = observation.dropped.unwrap_or(0);
    if reset > 0 {
        return Judgement::Reached(format!(
            "{reset} ports completed a handshake at the bundle's own address (the relay let the agent through to it), e.g. {:?}",
            &observation.dropped_ports[..observation.dropped_ports.len().min(8)]
        ));
    }
    if observation.scanned != Some(total) {
        return Judgement::Unclear(format!(
            "swept {} of {total} ports within the budget",
            observation.scanned.unwrap_or(0)
        ));
    }
    if observation.note.is_some() {
        return Judgement::Unclear(seen);
    }
    let dns = if open.len() < observation.open.len() {
        ", port 53 held by the VMM's own DNS interception"
    } else {
        ""
    };
    Judgement::Denied(format!(
        "no port answered at the bundle's own address, of {total} ({} filtered{dns}): the agent reaches the bundle only where its ports are published",
        observation.filtered.unwrap_or(0)
    ))
}

/// Whether a TCP attempt at the bundle's address was refused outright behind a relay: the
/// relay completes every handshake to an allowed address itself, so only its full table
/// refuses one (smolvm: an immediate reset, no denial logged).
fn refused_by_a_full_relay(addr: std::net::SocketAddr, outcome: Outcome, plan: &Plan) -> bool {
    plan.handshake == Handshake::Relay
        && outcome == Outcome::Refused
        && addr.ip() == std::net::IpAddr::V4(plan.bundle_reached_ip)
}

/// DNS's port, which a VMM that intercepts DNS holds at every address.
const DNS_PORT: u16 = 53;

/// A TCP connection that completed its handshake without the target's acknowledgement. Where
/// the destination completes handshakes, that is reach. Behind a relay that completes them
/// itself (smolvm), only what came back decides: a reset before any byte is the relay's refusal
/// of its onward connect (a denial, which the attempt's positive control and the target's own
/// records back up); bytes that were not the acknowledgement are reach to something; an
/// orderly close or silence proves nothing either way.
fn connected(
    observation: &Observation,
    seen: String,
    handshake: Handshake,
    what: &str,
) -> Judgement {
    if handshake == Handshake::Destination {
        return Judgement::Reached(format!("{what} ({seen})"));
    }
    match observation.end {
        Some(StreamEnd::Reset) => Judgement::Denied(format!(
            "the VMM's relay completed the handshake and reset the connection before any byte: its onward connect was refused or its policy denied the destination ({seen})"
        )),
        Some(StreamEnd::Answered) => Judgement::Reached(format!(
            "{what} and bytes came back through the VMM's relay ({seen})"
        )),
        Some(StreamEnd::Closed) => Judgement::Unclear(format!(
            "the VMM's relay completed the handshake, then the stream was closed before any byte: a service that hung up or the relay giving up, which proves nothing ({seen})"
        )),
        Some(StreamEnd::Silent) | None => Judgement::Unclear(format!(
            "the VMM's relay completed the handshake and nothing came back: its onward connect may still be pending or a silent service took it, which proves nothing ({seen})"
        )),
    }
}

/// A name asked of the agent's own resolver, which must not leave the bottle.
fn resolver(observation: &Observation, outcome: Outcome, seen: String, plan: &Plan) -> Judgement {
    if !plan.resolver_owned {
        return Judgement::Unclear(
            "the agent's resolver forwards to a resolver the harness does not own, so a forwarded name would leave unseen".into(),
        );
    }
    match outcome {
        // The agent's resolver may answer; what matters is that the name never left.
        Outcome::Answered if !observation.answers.is_empty() && observation.rcode == Some(0) => {
            Judgement::Reached(format!(
                "a resolver returned addresses for a name that exists nowhere inside the bottle ({seen})"
            ))
        }
        Outcome::Answered | Outcome::Connected => Judgement::Denied(format!("not forwarded ({seen})")),
        o if o.is_network_denial() => Judgement::Denied(format!("not forwarded ({seen})")),
        _ => Judgement::Unclear(format!("{seen}: the resolver could not be asked")),
    }
}

/// The sweep of the bundle's agent-side ports: only the declared ones may answer, and all of
/// them must (else the sweep did not see what it swept). A port reset right after its
/// handshake is open where the destination completes handshakes (a listener that hung up), and
/// the relay's refusal behind a relay that completes them itself; behind a relay the declared
/// ports must then be held open (the relay connected onward), the positive control that the
/// sweep could tell the two apart.
fn sweep(
    observation: &Observation,
    outcome: Outcome,
    seen: String,
    (first, last): (u16, u16),
    plan: &Plan,
) -> Judgement {
    if outcome != Outcome::Swept {
        return Judgement::Unclear(format!("the sweep did not run ({seen})"));
    }
    let total = u32::from(last) - u32::from(first) + 1;
    let declared: BTreeSet<u16> = plan.declared_ports.iter().copied().collect();
    let mut open: BTreeSet<u16> = observation.open.iter().copied().collect();
    let reset_count = observation.dropped.unwrap_or(0);
    let relayed = plan.handshake == Handshake::Relay;
    // Behind a VMM that intercepts DNS, TCP port 53 of every address is the VMM's own DNS
    // relay (smolvm 1.32.2 holds the connection and opens one to its upstream, the DNS
    // canary, whose records show it): not the swept host's port, which the agent cannot see.
    let intercepted_dns = plan.dns_intercepted && !declared.contains(&DNS_PORT);
    if intercepted_dns {
        open.remove(&DNS_PORT);
    }
    if !relayed {
        open.extend(observation.dropped_ports.iter().copied());
        let unlisted =
            usize::try_from(reset_count).unwrap_or(usize::MAX) > observation.dropped_ports.len();
        if unlisted {
            return Judgement::Reached(format!(
                "{reset_count} ports completed a handshake and then reset, more than listed"
            ));
        }
    }
    let extra: Vec<u16> = open.difference(&declared).copied().collect();
    if !extra.is_empty() {
        return Judgement::Reached(format!("undeclared ports answered: {extra:?}"));
    }
    if observation.scanned != Some(total) {
        return Judgement::Unclear(format!(
            "swept {} of {total} ports within the budget",
            observation.scanned.unwrap_or(0)
        ));
    }
    if observation.note.is_some() {
        return Judgement::Unclear(seen);
    }
    if relayed {
        // Behind a relay every handshake to an allowed address completes (then resets when
        // nothing listens): a port refused outright was refused by a full relay table, and
        // then no port of the sweep proves anything.
        let answered = u64::from(observation.filtered.unwrap_or(0))
            + u64::from(reset_count)
            + observation.open.len() as u64;
        let refused = u64::from(total).saturating_sub(answered);
        if refused > 0 {
            return Judgement::Unclear(format!(
                "{refused} ports were refused outright behind the VMM's relay, which completes every handshake to an allowed address itself: its connection table was full, so the sweep proves nothing"
            ));
        }
    }
    let missing: Vec<u16> = declared.difference(&open).copied().collect();
    if !missing.is_empty() {
        return Judgement::Unclear(format!(
            "declared service ports {missing:?} did not answer, so the sweep proves nothing"
        ));
    }
    let mut relay = if relayed && reset_count > 0 {
        format!(", {reset_count} reset by the VMM's relay after its own handshake")
    } else {
        String::new()
    };
    if intercepted_dns && observation.open.contains(&DNS_PORT) {
        relay.push_str(", port 53 held by the VMM's own DNS interception");
    }
    Judgement::Denied(format!(
        "only {declared:?} answered of {total} ports ({} filtered{relay})",
        observation.filtered.unwrap_or(0)
    ))
}
