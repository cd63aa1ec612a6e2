//! The verdict rules. Pure functions of the plan, what the probe printed, what the targets
//! recorded and what the harness's own liveness checks saw; no I/O, so every rule is unit-tested.
//!
//! A deny passes only when all of these hold:
//! 1. the probe's output parsed (it provably ran, under this session, with no unknown ids);
//! 2. every attempt of the probe has a result, and each is a network-level "no" (refused,
//!    timeout, unreachable) or pipelock's recognisable 403;
//! 3. no harness-owned target recorded the attempt's nonce, or any contact that nothing
//!    legitimate explains (see [`unexplained`]);
//! 4. the probe's positive controls (same path, allowed target) passed;
//! 5. every harness-owned target the probe aims at answered the harness's liveness check, on
//!    every port and protocol the probes use there.
//!
//! Evidence of reach (a connection, an answer, a target's record) makes it `escape`; anything
//! else is `inconclusive`. An error is never counted as blocked.

use std::collections::{BTreeMap, BTreeSet};

use bottle_fixtures::Record;
use bottle_probes::catalogue::Expect;
use bottle_probes::wire::{AttemptKind, Observation, Outcome, ProbeOutput};
use serde::{Deserialize, Serialize};

use crate::host::Target;
use crate::plan::{Plan, PlannedAttempt, PlannedProbe};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Escape,
    Inconclusive,
    KnownGap,
    UnexpectedPass,
    /// Not run on this machine, with the reason (a target the harness cannot own safely here).
    /// Shown in every report; never counted as a pass.
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::Escape,
        Verdict::Inconclusive,
        Verdict::KnownGap,
        Verdict::UnexpectedPass,
        Verdict::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Escape => "escape",
            Verdict::Inconclusive => "inconclusive",
            Verdict::KnownGap => "known_gap",
            Verdict::UnexpectedPass => "unexpected_pass",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether the expectation held (the suite may exit 0). A skip does not fail a run: it is
    /// reported with its reason (and as skipped in JUnit), like a known gap.
    pub fn held(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::KnownGap | Verdict::Skipped)
    }
}

/// A probe that is known to escape on some backend, with why and where it is tracked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGap {
    pub probe: String,
    pub reason: String,
    pub link: String,
    /// `YYYY-MM-DD` after which the entry fails the run (entries from a known-gaps file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// A glob over attempt destinations: the gap covers only escapes through these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// What one attempt showed, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptEvidence {
    pub id: String,
    pub destination: String,
    pub nonce: String,
    /// What the probe reported (absent when it reported nothing for this attempt).
    pub observation: Option<Observation>,
    /// Records on harness-owned targets that point at this attempt.
    pub target_saw: Vec<String>,
    pub judgement: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub id: String,
    pub family: String,
    pub expect: String,
    pub observed: String,
    pub verdict: Verdict,
    pub elapsed_ms: u64,
    pub detail: String,
    #[serde(default)]
    pub attempts: Vec<AttemptEvidence>,
}

/// Everything `evaluate` judges from.
pub struct Evidence<'a> {
    /// The parsed probe output, or why there is none (exec failed, output rejected).
    pub output: Result<&'a ProbeOutput, String>,
    /// Records from every harness-owned target (host canaries and fixture hosts).
    pub records: &'a [Record],
    /// The harness's own liveness check per target: `Ok` when it answered and recorded it.
    pub liveness: &'a BTreeMap<Target, Result<(), String>>,
    /// Known gaps in force for this backend.
    pub known_gaps: &'a [KnownGap],
    /// The nonces of the harness's own liveness checks (their records are expected).
    pub liveness_nonces: &'a [String],
    /// The harness's own ends of its liveness connections: their records are expected even
    /// when the nonce never got through.
    pub liveness_peers: &'a [std::net::SocketAddr],
    // R-shim: replaced by V's implementation at merge (the two fields of contract 1).
    /// The timeout each attempt actually got in the exec, by attempt id, where it differs from the
    /// plan's (today: the adaptive deny attempts get the probe's adaptive timeout). The report shows these.
    pub applied_timeouts_ms: &'a BTreeMap<String, u32>,
    /// Attempts not to judge: their host address vanished during the run (another bottle's bridge went
    /// away), so they prove nothing either way. Judged as if they had not been planned.
    pub vanished_attempts: &'a BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Judgement {
    Denied(String),
    Reached(String),
    Unclear(String),
    Succeeded(String),
}

impl Judgement {
    fn text(&self) -> String {
        match self {
            Judgement::Denied(why) => format!("denied: {why}"),
            Judgement::Reached(why) => format!("reached: {why}"),
            Judgement::Unclear(why) => format!("unclear: {why}"),
            Judgement::Succeeded(why) => format!("allowed: {why}"),
        }
    }
}

fn describe(observation: &Observation) -> String {
    let mut text = observation.outcome().as_str().to_string();
    if let Some(status) = observation.status {
        text.push_str(&format!(" {status}"));
    }
    if let Some(deny) = &observation.deny {
        text.push_str(&format!(" ({deny})"));
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

/// Records that point at an attempt: its nonce anywhere.
fn saw_nonce<'r>(records: &'r [Record], nonce: &str) -> Vec<&'r Record> {
    records.iter().filter(|r| r.mentions(nonce)).collect()
}

/// The fixture name a record of `target` carries.
fn fixture_of(target: Target) -> &'static str {
    match target {
        Target::HostLoopback => "host-loopback",
        Target::HostAllInterfaces => "host-all",
        Target::Public => "public",
        Target::Lan => "lan",
        Target::Dns => "dns",
        Target::Bundle => "bundle",
        Target::Neighbour => "neighbour",
        Target::Metadata => "metadata",
    }
}

/// Records on harness-owned targets that nothing legitimate explains. Explained are: the
/// harness's own liveness checks; a positive control's traffic arriving at the public host from
/// the bundle; the bundle's own lookups of the proxy names at the DNS canary; pipelock's
/// connections to egress over the bundle's loopback; and records that share a connection (same
/// fixture and peer) with one of those. Records carrying a deny attempt's nonce are evidence for
/// that attempt and handled there. Everything else is contact nobody asked for: reach.
fn unexplained<'r>(
    plan: &Plan,
    records: &'r [Record],
    liveness_nonces: &[String],
    liveness_peers: &[std::net::SocketAddr],
) -> Vec<&'r Record> {
    #[derive(Clone, Copy, PartialEq)]
    enum Why {
        Fine,
        DenyNonce,
        Unexplained,
    }
    let nonces_of = |expect: Expect| -> Vec<&str> {
        plan.probes
            .iter()
            .filter(|p| p.spec.expect == expect)
            .flat_map(|p| p.attempts.iter().map(|a| a.spec.nonce.as_str()))
            .collect()
    };
    let controls = nonces_of(Expect::Allow);
    let denies = nonces_of(Expect::Deny);
    let from_bundle = |r: &Record| r.peer.ip() == std::net::IpAddr::V4(plan.bundle_upstream_ip);
    let by_nonce = |r: &Record| -> Option<Why> {
        if liveness_nonces.iter().any(|n| r.mentions(n)) || liveness_peers.contains(&r.peer) {
            Some(Why::Fine)
        } else if denies.iter().any(|n| r.mentions(n)) {
            Some(Why::DenyNonce)
        } else if controls.iter().any(|n| r.mentions(n)) {
            // A control passes pipelock, then egress on the bundle's loopback, then the
            // public host from the bundle's upstream leg: both sightings are expected.
            Some(
                if (r.fixture == "public" && from_bundle(r))
                    || (r.fixture == "bundle" && r.peer.ip().is_loopback())
                {
                    Why::Fine
                } else {
                    Why::Unexplained
                },
            )
        } else {
            None
        }
    };
    let mut connections: BTreeMap<(&str, std::net::SocketAddr), Why> = BTreeMap::new();
    for record in records {
        if let Some(why) = by_nonce(record) {
            connections.insert((record.fixture.as_str(), record.peer), why);
        }
    }
    let proxy_name = |qname: &str| {
        [plan.allowed_host.as_str(), plan.denied_host.as_str()]
            .iter()
            .any(|host| {
                let q = qname.trim_end_matches('.').to_ascii_lowercase();
                let h = host.to_ascii_lowercase();
                q == h || q.starts_with(&format!("{h}."))
            })
    };
    records
        .iter()
        // A dialer's own records are the inbound probe's evidence, judged there.
        .filter(|r| !r.event.starts_with("dial"))
        .filter(|r| {
            let why = by_nonce(r)
                .or_else(|| connections.get(&(r.fixture.as_str(), r.peer)).copied())
                .unwrap_or_else(|| {
                    let bundle_lookup = r.fixture == "dns"
                        && from_bundle(r)
                        && r.qname.as_deref().is_some_and(proxy_name);
                    let pipelock_to_egress = r.fixture == "bundle" && r.peer.ip().is_loopback();
                    if bundle_lookup || pipelock_to_egress {
                        Why::Fine
                    } else {
                        Why::Unexplained
                    }
                });
            why == Why::Unexplained
        })
        .collect()
}

/// Whether a record lands where `attempt` aims.
fn same_destination(attempt: &PlannedAttempt, record: &Record, plan: &Plan) -> bool {
    match &attempt.spec.kind {
        AttemptKind::Tcp { addr } => {
            // Direct attempts come from the agent; what arrives from the bundle was proxied.
            record.proto == "tcp"
                && record.peer.ip() != std::net::IpAddr::V4(plan.bundle_upstream_ip)
                && record.local.port() == addr.port()
                // An IPv4 arrival does not answer for an IPv6 attempt, nor the reverse.
                && record.local.ip().to_canonical().is_ipv4() == addr.ip().to_canonical().is_ipv4()
                && (record.local.ip() == addr.ip()
                    || attempt.target != Some(Target::HostAllInterfaces))
        }
        AttemptKind::HttpProxy { .. } | AttemptKind::ConnectProxy { .. } => {
            record.peer.ip() == std::net::IpAddr::V4(plan.bundle_upstream_ip)
        }
        AttemptKind::DnsUdp { .. } => record.proto == "udp",
        AttemptKind::DnsTcp { .. } => record.proto == "tcp",
        AttemptKind::Resolver { tcp, .. } => {
            record.qname.is_some() && record.proto == if *tcp { "tcp" } else { "udp" }
        }
        AttemptKind::Sweep { ip, .. } => record.local.ip() == *ip,
        AttemptKind::Udp { addr } => record.proto == "udp" && record.local.port() == addr.port(),
        AttemptKind::Ping { ip } => record.proto == "icmp" && record.local.ip() == *ip,
        AttemptKind::TcpLinkLocal { ip, port } => {
            record.proto == "tcp"
                && record.local.port() == *port
                && record.local.ip() == std::net::IpAddr::V6(*ip)
        }
        AttemptKind::UnixSockets | AttemptKind::Listen { .. } => false,
    }
}

/// The unexplained records this deny attempt answers for: those on its target that land where
/// it aims, or, when a record lands where no attempt aims, every attempt on that target.
fn attributed<'r>(
    attempt: &PlannedAttempt,
    plan: &Plan,
    unexplained: &[&'r Record],
) -> Vec<&'r Record> {
    let Some(target) = attempt.target else {
        return Vec::new();
    };
    let on_target: Vec<&PlannedAttempt> = plan
        .probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Deny)
        .flat_map(|p| p.attempts.iter())
        .filter(|a| a.target == Some(target))
        .collect();
    unexplained
        .iter()
        .copied()
        .filter(|r| r.fixture == fixture_of(target))
        .filter(|r| {
            let matching: Vec<&&PlannedAttempt> = on_target
                .iter()
                .filter(|a| same_destination(a, r, plan))
                .collect();
            matching.is_empty() || matching.iter().any(|a| a.spec.id == attempt.spec.id)
        })
        .collect()
}

/// The resolver the attempt was meant to ask, when the plan knows it, must be the one asked.
fn wrong_resolver(observation: &Observation, plan: &Plan) -> Option<String> {
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

/// Judges a deny attempt from the probe's side alone.
fn judge_deny(attempt: &PlannedAttempt, observation: &Observation, plan: &Plan) -> Judgement {
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
        AttemptKind::Tcp { .. } | AttemptKind::TcpLinkLocal { .. } => match outcome {
            Outcome::Connected => Judgement::Reached(format!("connected ({seen})")),
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::HttpProxy { .. } | AttemptKind::ConnectProxy { .. } => match outcome {
            Outcome::Http if observation.status == Some(403) && observation.deny.is_some() => {
                if observation.ack {
                    Judgement::Reached(format!("403 but the target's acknowledgement came back ({seen})"))
                } else {
                    Judgement::Denied(format!("pipelock refused: {seen}"))
                }
            }
            Outcome::Http if observation.ack || observation.status.is_some_and(|s| (200..300).contains(&s)) => {
                Judgement::Reached(format!("the proxy let it through ({seen})"))
            }
            Outcome::Connected => Judgement::Reached(format!("tunnel established ({seen})")),
            Outcome::Http => Judgement::Unclear(format!(
                "the proxy answered without pipelock's deny marker ({seen})"
            )),
            _ => Judgement::Unclear(format!("pipelock itself did not answer ({seen})")),
        },
        AttemptKind::DnsUdp { .. } | AttemptKind::DnsTcp { .. } => match outcome {
            Outcome::Answered | Outcome::Connected => Judgement::Reached(format!("the outside resolver answered ({seen})")),
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::Resolver { .. } if !plan.resolver_owned => Judgement::Unclear(
            "the agent's resolver forwards to a resolver the harness does not own, so a forwarded name would leave unseen".into(),
        ),
        AttemptKind::Resolver { .. } => match outcome {
            // The agent's resolver may answer; what matters is that the name never left.
            Outcome::Answered if !observation.answers.is_empty() && observation.rcode == Some(0) => {
                Judgement::Reached(format!(
                    "a resolver returned addresses for a name that exists nowhere inside the bottle ({seen})"
                ))
            }
            Outcome::Answered | Outcome::Connected => Judgement::Denied(format!("not forwarded ({seen})")),
            o if o.is_network_denial() => Judgement::Denied(format!("not forwarded ({seen})")),
            _ => Judgement::Unclear(format!("{seen}: the resolver could not be asked")),
        },
        AttemptKind::Udp { .. } | AttemptKind::Ping { .. } => match outcome {
            Outcome::Connected => Judgement::Reached(format!("an answer came back ({seen})")),
            o if o.is_network_denial() => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen} is not a network denial")),
        },
        AttemptKind::Listen { .. } => match outcome {
            Outcome::Connected => Judgement::Reached(format!("something outside connected ({seen})")),
            Outcome::Refused => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen}: the listener proves nothing")),
        },
        AttemptKind::UnixSockets => match outcome {
            Outcome::Connected => Judgement::Reached(format!("a host socket accepted ({seen})")),
            Outcome::Refused => Judgement::Denied(seen),
            _ => Judgement::Unclear(format!("{seen}: the search proves nothing")),
        },
        AttemptKind::Sweep { first, last, .. } => {
            if outcome != Outcome::Swept {
                return Judgement::Unclear(format!("the sweep did not run ({seen})"));
            }
            let total = u32::from(*last) - u32::from(*first) + 1;
            let declared: BTreeSet<u16> = plan.declared_ports.iter().copied().collect();
            let open: BTreeSet<u16> = observation.open.iter().copied().collect();
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
            let missing: Vec<u16> = declared.difference(&open).copied().collect();
            if !missing.is_empty() {
                return Judgement::Unclear(format!(
                    "declared service ports {missing:?} did not answer, so the sweep proves nothing"
                ));
            }
            Judgement::Denied(format!(
                "only {declared:?} answered of {total} ports ({} filtered)",
                observation.filtered.unwrap_or(0)
            ))
        }
    }
}

/// Judges the inbound listener: any dialer that connected is reach, whatever the agent says;
/// a denial needs the agent's self-check and every expected dialer having started.
fn judge_listen(
    attempt: &PlannedAttempt,
    observation: &Observation,
    plan: &Plan,
    records: &[Record],
) -> Judgement {
    if let Some(connected) = records.iter().find(|r| r.event == "dial-connected") {
        return Judgement::Reached(format!(
            "{} connected to the agent's listener at {}",
            connected.fixture, connected.peer
        ));
    }
    let silent: Vec<&str> = plan
        .dialers
        .iter()
        .filter(|name| {
            !records
                .iter()
                .any(|r| r.event == "dial" && &r.fixture == *name)
        })
        .map(String::as_str)
        .collect();
    let stopped: Vec<&str> = plan
        .dialers
        .iter()
        .filter(|name| {
            records
                .iter()
                .any(|r| r.event == "dial-stopped" && &r.fixture == *name)
        })
        .map(String::as_str)
        .collect();
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
        let targets: std::collections::BTreeSet<std::net::SocketAddr> = records
            .iter()
            .filter(|r| r.event == "dial" && &r.fixture == name)
            .map(|r| r.peer)
            .collect();
        for target in targets {
            let tried = records.iter().any(|r| {
                r.event == "dial-try"
                    && &r.fixture == name
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

/// Judges an allow attempt (a positive control).
fn judge_allow(
    attempt: &PlannedAttempt,
    observation: &Observation,
    seen_by_target: &[&Record],
    plan: &Plan,
) -> Judgement {
    let seen = describe(observation);
    let from_bundle = |r: &&Record| r.peer.ip() == std::net::IpAddr::V4(plan.bundle_upstream_ip);
    // egress records what pipelock hands it over the bundle's loopback: the control's own path.
    let at_egress = |r: &&Record| r.fixture == "bundle" && r.peer.ip().is_loopback();
    let via_bundle = seen_by_target.iter().any(from_bundle);
    if let Some(stray) = seen_by_target
        .iter()
        .find(|r| !from_bundle(r) && !at_egress(r))
    {
        return Judgement::Unclear(format!(
            "the control's nonce also arrived from {}, not only through the bundle",
            stray.peer
        ));
    }
    if let AttemptKind::Resolver { .. } = attempt.spec.kind {
        if let Some(why) = wrong_resolver(observation, plan) {
            return Judgement::Unclear(why);
        }
    }
    match &attempt.spec.kind {
        AttemptKind::HttpProxy { .. } | AttemptKind::ConnectProxy { .. } => {
            let ok_status = observation.status == Some(200);
            if ok_status && observation.ack && via_bundle {
                Judgement::Succeeded(format!(
                    "{seen}, acknowledged, and the target saw it arrive from the bundle"
                ))
            } else if !via_bundle {
                Judgement::Unclear(format!(
                    "{seen}; the target did not record it arriving from the bundle"
                ))
            } else {
                Judgement::Unclear(format!(
                    "{seen}; expected 200 with the target's acknowledgement"
                ))
            }
        }
        AttemptKind::Resolver { .. } => {
            if observation.outcome() == Outcome::Answered
                && observation.rcode == Some(0)
                && observation.answers.contains(&plan.bundle_ip)
            {
                Judgement::Succeeded(format!("{seen} with the bundle's address"))
            } else {
                Judgement::Unclear(format!(
                    "{seen}; expected the bundle's address {}",
                    plan.bundle_ip
                ))
            }
        }
        _ => match observation.outcome() {
            Outcome::Connected if observation.ack => Judgement::Succeeded(seen),
            _ => Judgement::Unclear(seen),
        },
    }
}

fn evaluate_probe(
    probe: &PlannedProbe,
    plan: &Plan,
    evidence: &Evidence,
    controls: &BTreeMap<&str, Verdict>,
    unexplained: &[&Record],
) -> ProbeResult {
    let spec = probe.spec;
    let mut attempts = Vec::new();
    let mut judgements = Vec::new();
    let mut elapsed_ms = 0;
    for attempt in &probe.attempts {
        let observation = evidence
            .output
            .as_ref()
            .ok()
            .and_then(|output| output.observations.get(&attempt.spec.id))
            .cloned();
        let by_nonce = saw_nonce(evidence.records, &attempt.spec.nonce);
        let mut target_saw: Vec<String> = by_nonce.iter().map(|r| r.to_line()).collect();
        let judgement = if spec.expect == Expect::Deny && !by_nonce.is_empty() {
            Judgement::Reached(format!(
                "{} recorded this attempt's nonce",
                by_nonce
                    .iter()
                    .map(|r| r.fixture.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if let Some(connected) = evidence.records.iter().find(|r| {
            spec.expect == Expect::Deny
                && matches!(attempt.spec.kind, AttemptKind::Listen { .. })
                && r.event == "dial-connected"
        }) {
            // Reach seen by a dialer stands whatever the probe printed (or failed to).
            target_saw.push(connected.to_line());
            Judgement::Reached(format!(
                "{} connected to the agent's listener at {}",
                connected.fixture, connected.peer
            ))
        } else if let Some(contact) = (spec.expect == Expect::Deny)
            .then(|| attributed(attempt, plan, unexplained))
            .and_then(|found| found.first().copied())
        {
            target_saw.push(contact.to_line());
            Judgement::Reached(format!(
                "{} recorded contact from {} that no nonce or legitimate traffic explains",
                contact.fixture, contact.peer
            ))
        } else {
            match (&evidence.output, &observation) {
                (Err(why), _) => Judgement::Unclear(format!("no usable probe output: {why}")),
                (Ok(_), None) => {
                    Judgement::Unclear("the probe reported nothing for this attempt".into())
                }
                (Ok(_), Some(observation)) => match spec.expect {
                    Expect::Deny if matches!(attempt.spec.kind, AttemptKind::Listen { .. }) => {
                        judge_listen(attempt, observation, plan, evidence.records)
                    }
                    Expect::Deny => judge_deny(attempt, observation, plan),
                    Expect::Allow => judge_allow(attempt, observation, &by_nonce, plan),
                },
            }
        };
        if let Some(observation) = &observation {
            elapsed_ms = elapsed_ms.max(observation.elapsed_ms);
        }
        attempts.push(AttemptEvidence {
            id: attempt.spec.id.clone(),
            destination: attempt.destination.clone(),
            nonce: attempt.spec.nonce.clone(),
            observation,
            target_saw,
            judgement: judgement.text(),
        });
        judgements.push((attempt, judgement));
    }
    let observed = summarise_observed(&attempts);
    let first = |pick: fn(&Judgement) -> Option<&String>| {
        judgements
            .iter()
            .find_map(|(attempt, j)| pick(j).map(|why| format!("{}: {why}", attempt.destination)))
    };
    let reached = first(|j| {
        if let Judgement::Reached(w) = j {
            Some(w)
        } else {
            None
        }
    });
    let unclear = first(|j| {
        if let Judgement::Unclear(w) = j {
            Some(w)
        } else {
            None
        }
    });
    let (mut verdict, mut detail) = if let Some(why) = reached {
        match spec.expect {
            Expect::Deny => (Verdict::Escape, why),
            // A control that reached is fine; only its own failures count.
            Expect::Allow => (Verdict::Inconclusive, why),
        }
    } else if let Some(why) = unclear {
        (Verdict::Inconclusive, why)
    } else if let Some(reason) = &probe.skipped {
        (Verdict::Skipped, reason.clone())
    } else if probe.attempts.is_empty() {
        (
            Verdict::Inconclusive,
            "no attempts were planned (nothing to probe on this machine)".into(),
        )
    } else if spec.expect == Expect::Allow {
        (
            Verdict::Pass,
            format!(
                "positive control held: {}",
                first(|j| if let Judgement::Succeeded(w) = j {
                    Some(w)
                } else {
                    None
                })
                .unwrap_or_default()
            ),
        )
    } else {
        let failed_control = spec
            .controls
            .iter()
            .find(|control| controls.get(**control) != Some(&Verdict::Pass));
        let dead_target = probe
            .attempts
            .iter()
            .filter_map(|a| a.target)
            .collect::<BTreeSet<_>>()
            .into_iter()
            // The bundle answers the proxy control, which every probe on it rests on.
            .filter(|target| *target != Target::Bundle)
            .find_map(|target| match evidence.liveness.get(&target) {
                Some(Ok(())) => None,
                Some(Err(why)) => Some(format!(
                    "{} failed the harness's liveness check: {why}",
                    target.as_str()
                )),
                None => Some(format!("{} was not checked for liveness", target.as_str())),
            });
        if let Some(control) = failed_control {
            (Verdict::Inconclusive, format!("positive control {control} did not pass, so a failure on this path proves nothing"))
        } else if let Some(why) = dead_target {
            (Verdict::Inconclusive, why)
        } else {
            (
                Verdict::Pass,
                format!(
                    "{} attempt(s) denied; controls passed; targets alive and saw nothing",
                    probe.attempts.len()
                ),
            )
        }
    };
    if let Some(gap) = evidence.known_gaps.iter().find(|g| g.probe == spec.id) {
        // A gap scoped to some destinations covers an escape only if every attempt that
        // reached went to one of them: an escape elsewhere on the same probe is still an escape.
        let outside: Vec<&str> = match &gap.destination {
            None => Vec::new(),
            Some(pattern) => judgements
                .iter()
                .filter(|(_, j)| matches!(j, Judgement::Reached(_)))
                .map(|(a, _)| a.destination.as_str())
                .filter(|d| !crate::gaps::glob_match(pattern, d))
                .collect(),
        };
        match verdict {
            Verdict::Escape if !outside.is_empty() => {
                detail = format!(
                    "{detail} (outside the known gap, which covers only {}: {})",
                    gap.destination.as_deref().unwrap_or(""),
                    outside.join(", ")
                );
            }
            Verdict::Escape => {
                verdict = Verdict::KnownGap;
                detail = format!("known gap ({}; {}): {detail}", gap.reason, gap.link);
            }
            Verdict::Pass => {
                verdict = Verdict::UnexpectedPass;
                detail = format!(
                    "declared a known gap ({}) but contained: remove the entry; {detail}",
                    gap.link
                );
            }
            _ => {}
        }
    }
    ProbeResult {
        id: spec.id.to_string(),
        family: spec.family.as_str().to_string(),
        expect: spec.expect.as_str().to_string(),
        observed,
        verdict,
        elapsed_ms,
        detail,
        attempts,
    }
}

fn summarise_observed(attempts: &[AttemptEvidence]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in attempts {
        let key = match &attempt.observation {
            None => "missing".to_string(),
            Some(o) => {
                let mut key = o.outcome().as_str().to_string();
                if let Some(status) = o.status {
                    key.push_str(&format!(" {status}"));
                }
                key
            }
        };
        *counts.entry(key).or_default() += 1;
        if !attempt.target_saw.is_empty() {
            *counts.entry("target saw it".into()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(key, n)| if n == 1 { key } else { format!("{key} x{n}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Judges every probe of the plan: controls first, then the probes that depend on them.
pub fn evaluate(plan: &Plan, evidence: &Evidence) -> Vec<ProbeResult> {
    // R-shim: replaced by V's implementation at merge. Judges the plan as the exec ran it, as
    // suite.rs did by editing the plan: the applied timeouts written in, vanished attempts gone.
    let mut as_run = plan.clone();
    for probe in &mut as_run.probes {
        for attempt in &mut probe.attempts {
            if let Some(ms) = evidence.applied_timeouts_ms.get(&attempt.spec.id) {
                attempt.spec.timeout_ms = *ms;
            }
        }
        probe
            .attempts
            .retain(|a| !evidence.vanished_attempts.contains(&a.spec.id));
    }
    let plan = &as_run;
    let unexplained = unexplained(
        plan,
        evidence.records,
        evidence.liveness_nonces,
        evidence.liveness_peers,
    );
    let mut controls = BTreeMap::new();
    let mut results: BTreeMap<&str, ProbeResult> = BTreeMap::new();
    for probe in plan
        .probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Allow)
    {
        let result = evaluate_probe(probe, plan, evidence, &controls, &unexplained);
        controls.insert(probe.spec.id, result.verdict);
        results.insert(probe.spec.id, result);
    }
    for probe in plan.probes.iter().filter(|p| p.spec.expect == Expect::Deny) {
        let result = evaluate_probe(probe, plan, evidence, &controls, &unexplained);
        results.insert(probe.spec.id, result);
    }
    plan.probes
        .iter()
        .filter_map(|p| results.remove(p.spec.id))
        .collect()
}
