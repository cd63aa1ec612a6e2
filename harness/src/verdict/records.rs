//! Attribution: which target records count against which attempt. A record carrying an
//! attempt's nonce is that attempt's evidence; a record nothing legitimate explains (no nonce,
//! not the harness's own check, not the bundle's own traffic) is charged to the deny attempts
//! on its target that aim where it landed, or to all of them when none does; but what the
//! bundle sent (its own address as the peer) is never charged to an attempt the agent sends
//! itself: it goes to the attempts through the bundle that aim there (at the DNS canary: its
//! reverse lookups of IP literals the agent asked the proxy for, see `side_channel`), and when
//! none does it is the bundle's own unexplained traffic ([`from_bundle_unattributed`]),
//! reported with its sender.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bottle_fixtures::records::{FixtureName, Proto};
use bottle_fixtures::Record;
use bottle_probes::catalogue::Expect;
use bottle_probes::wire::AttemptKind;

use super::evidence::Evidence;
pub(super) use super::source::{at_egress, from_bundle, source_of, Source};
use crate::plan::{Plan, PlannedAttempt};
use crate::target::Target;

/// Records that point at an attempt: its nonce anywhere.
pub(super) fn saw_nonce<'r>(records: &'r [Record], nonce: &str) -> Vec<&'r Record> {
    records.iter().filter(|r| r.mentions(nonce)).collect()
}

/// The fixture name a record of `target` carries.
fn fixture_of(target: Target) -> FixtureName {
    match target {
        Target::HostLoopback => FixtureName::HostLoopback,
        Target::HostAllInterfaces => FixtureName::HostAll,
        Target::Public => FixtureName::Public,
        Target::Lan => FixtureName::Lan,
        Target::Dns => FixtureName::Dns,
        Target::Bundle => FixtureName::Bundle,
        Target::BundleLoopback => FixtureName::BundleLoopback,
        Target::Neighbour => FixtureName::Neighbour,
        Target::Metadata => FixtureName::Metadata,
    }
}

/// Whether the agent sends `kind` itself (not through the bundle's proxy or the agent's
/// resolver): what the bundle sent cannot be such an attempt's.
fn sent_by_the_agent(kind: &AttemptKind) -> bool {
    !kind.through_proxy()
}

#[derive(Clone, Copy, PartialEq)]
enum Why {
    Fine,
    DenyNonce,
    Unexplained,
}

/// What explains a record: the nonces of the judged attempts and the harness's own checks.
struct Explanations<'a> {
    plan: &'a Plan,
    evidence: &'a Evidence<'a>,
    controls: Vec<&'a str>,
    denies: Vec<&'a str>,
}

impl<'a> Explanations<'a> {
    fn new(plan: &'a Plan, evidence: &'a Evidence<'a>) -> Self {
        let nonces_of = |expect: Expect| -> Vec<&'a str> {
            plan.probes
                .iter()
                .filter(|p| p.spec.expect == expect)
                .flat_map(|p| evidence.judged(p).map(|a| a.spec.nonce.as_str()))
                .collect()
        };
        Self {
            plan,
            evidence,
            controls: nonces_of(Expect::Allow),
            denies: nonces_of(Expect::Deny),
        }
    }

    /// The explanation a record's nonce (or the liveness check's own end) gives, if any.
    fn by_nonce(&self, r: &Record) -> Option<Why> {
        let evidence = self.evidence;
        if evidence.liveness_nonces.iter().any(|n| r.mentions(n))
            || evidence.dns_switches.iter().any(|s| r.mentions(&s.nonce))
            // This machine's own ends: never at the recorder, whose loopback peers live in
            // the bundle's namespace and could share a port number with one of them.
            || (r.fixture != FixtureName::BundleLoopback && evidence.liveness_peers.contains(&r.peer))
            || evidence.liveness_sources.contains(&r.peer.ip())
        {
            Some(Why::Fine)
        } else if self.denies.iter().any(|n| r.mentions(n)) {
            Some(Why::DenyNonce)
        } else if self.controls.iter().any(|n| r.mentions(n)) {
            // A control passes pipelock, then egress on the bundle's loopback, then the
            // public host from the bundle's upstream leg: both sightings are expected.
            Some(
                if (r.fixture == FixtureName::Public && from_bundle(self.plan, r)) || at_egress(r) {
                    Why::Fine
                } else {
                    Why::Unexplained
                },
            )
        } else {
            None
        }
    }

    /// The bundle's own traffic without a nonce: its lookups of the proxy names (and of the
    /// other names the plan asked the proxy for, which carry no nonce) at the DNS canary, and
    /// pipelock's connections to egress; and the resolver controls' forwarded name.
    fn bundle_traffic(&self, r: &Record) -> bool {
        let proxy_name = |qname: &str| {
            [
                self.plan.allowed_host.as_str(),
                self.plan.denied_host.as_str(),
            ]
            .into_iter()
            .chain(self.plan.proxy_names.iter().map(String::as_str))
            .any(|host| {
                let q = qname.trim_end_matches('.').to_ascii_lowercase();
                let h = host.to_ascii_lowercase();
                q == h || q.starts_with(&format!("{h}."))
            })
        };
        let bundle_lookup = r.fixture == FixtureName::Dns
            && from_bundle(self.plan, r)
            && r.qname.as_deref().is_some_and(proxy_name);
        bundle_lookup || at_egress(r) || self.forwarded_control(r) || self.vmm_dns_relay(r)
    }

    /// A bare TCP connection to the DNS canary's port 53, no query in it, from neither the
    /// agent nor the bundle, where the agent's VMM intercepts DNS: smolvm's DNS relay opens its
    /// upstream connection for a query over TCP before its filter answers NXDOMAIN, and then
    /// sends nothing. Every query the probes send carries a nonce name, so one that was
    /// forwarded shows as that name, never as a bare connection.
    fn vmm_dns_relay(&self, r: &Record) -> bool {
        self.plan.dns_intercepted
            && r.fixture == FixtureName::Dns
            && r.proto == Proto::Tcp
            && r.local.port() == 53
            && r.qname.is_none()
            && r.nonce.is_none()
            && !from_bundle(self.plan, r)
            && !self
                .plan
                .agent_ips
                .iter()
                .any(|ip| IpAddr::V4(*ip) == r.peer.ip())
    }

    /// The resolver controls' own name (the bundle's, no agent data in it) at the DNS canary:
    /// where the agent's resolver forwards to the canary (a VMM's, which the backend points
    /// there), the controls' queries arrive from the VMM's host side.
    fn forwarded_control(&self, r: &Record) -> bool {
        r.fixture == FixtureName::Dns
            && r.qname.as_deref().is_some_and(|q| {
                q.trim_end_matches('.')
                    .eq_ignore_ascii_case(&self.plan.control_name)
            })
    }
}

/// Records on harness-owned targets that nothing legitimate explains. Explained are: the
/// harness's own liveness checks (by nonce, by this machine's end, or from the checker); a
/// positive control's traffic arriving at the public host from the bundle; the bundle's own
/// lookups of the proxy names at the DNS canary; the resolver controls' name forwarded there
/// by the agent's resolver; pipelock's
/// connections to egress over the bundle's loopback; and records that share a connection (same
/// fixture and peer) with one of those. Records carrying a deny attempt's nonce are evidence for
/// that attempt and handled there. Everything else is contact nobody asked for: reach.
pub(super) fn unexplained<'r>(plan: &Plan, evidence: &'r Evidence<'r>) -> Vec<&'r Record> {
    let explain = Explanations::new(plan, evidence);
    let mut connections: BTreeMap<(FixtureName, SocketAddr), Why> = BTreeMap::new();
    for record in evidence.records {
        if let Some(why) = explain.by_nonce(record) {
            connections.insert((record.fixture, record.peer), why);
        }
    }
    let mut tunnel_dials = super::fronting::tunnel_dials(plan, evidence);
    evidence
        .records
        .iter()
        // A dialer's own records are the inbound probe's evidence, judged there.
        .filter(|r| !r.event.is_dialer())
        .filter(|r| {
            let why = explain
                .by_nonce(r)
                .or_else(|| connections.get(&(r.fixture, r.peer)).copied())
                .unwrap_or_else(|| {
                    if explain.bundle_traffic(r) {
                        Why::Fine
                    } else if tunnel_dials > 0 && super::fronting::bare_tunnel_dial(plan, r) {
                        // pipelock dials a tunnel's (allowed) host before it reads the
                        // ClientHello: one bare connection per tunnel it opened.
                        tunnel_dials -= 1;
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
    // The bundle's own traffic is not the agent's direct attempt, nor the agent's resolver
    // forwarding one (a forwarded attempt name carries its nonce).
    if source_of(plan, record) == Source::Bundle && sent_by_the_agent(&attempt.spec.kind) {
        return false;
    }
    match &attempt.spec.kind {
        AttemptKind::Tcp { addr } => {
            // Direct attempts come from the agent; what arrives from the bundle was proxied.
            record.proto == Proto::Tcp
                && !from_bundle(plan, record)
                && record.local.port() == addr.port()
                // An IPv4 arrival does not answer for an IPv6 attempt, nor the reverse.
                && record.local.ip().to_canonical().is_ipv4() == addr.ip().to_canonical().is_ipv4()
                && (record.local.ip() == addr.ip()
                    || attempt.target != Some(Target::HostAllInterfaces))
        }
        // Aimed at the DNS canary (the side channel): only the bundle's lookups of what the
        // agent chose; aimed elsewhere: whatever the bundle's upstream leg sent there.
        AttemptKind::HttpProxy { .. }
        | AttemptKind::ConnectProxy { .. }
        | AttemptKind::HttpRequest { .. }
        | AttemptKind::ConnectTls { .. } => {
            from_bundle(plan, record)
                && (attempt.target != Some(Target::Dns)
                    || super::side_channel::charged(attempt, record, plan))
        }
        AttemptKind::DnsUdp { .. } => record.proto == Proto::Udp,
        AttemptKind::DnsTcp { .. } => record.proto == Proto::Tcp,
        AttemptKind::Resolver { tcp, .. } => {
            record.qname.is_some() && record.proto == if *tcp { Proto::Tcp } else { Proto::Udp }
        }
        AttemptKind::Sweep { ip, .. } => record.local.ip() == *ip,
        AttemptKind::Udp { addr } => {
            record.proto == Proto::Udp && record.local.port() == addr.port()
        }
        AttemptKind::Ping { ip } => record.proto == Proto::Icmp && record.local.ip() == *ip,
        AttemptKind::TcpLinkLocal { ip, port } => {
            record.proto == Proto::Tcp
                && record.local.port() == *port
                && record.local.ip() == IpAddr::V6(*ip)
        }
        AttemptKind::UnixSockets | AttemptKind::Listen { .. } => false,
    }
}

/// The unexplained records this deny attempt answers for: those on its target that land where
/// it aims, or, when a record lands where no attempt aims, every attempt on that target.
pub(super) fn attributed<'r>(
    attempt: &PlannedAttempt,
    plan: &Plan,
    evidence: &Evidence,
    unexplained: &[&'r Record],
) -> Vec<&'r Record> {
    let Some(target) = attempt.target else {
        return Vec::new();
    };
    let on_target: Vec<&PlannedAttempt> = plan
        .probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Deny)
        .flat_map(|p| evidence.judged(p))
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
            // What the bundle sent is charged only where it matches; the rest is the bundle's.
            (matching.is_empty() && source_of(plan, r) != Source::Bundle)
                || matching.iter().any(|a| a.spec.id == attempt.spec.id)
        })
        .collect()
}

/// Unexplained records the bundle sent that match no deny attempt on their target: the
/// bundle's own traffic (a reverse lookup of an IP literal it was asked for, say), charged to
/// no probe the agent sends directly. The proxy attempts, whose requests are what the bundle
/// acts on, cannot pass while it is unexplained (see `evaluate`).
pub(super) fn from_bundle_unattributed<'r>(
    plan: &Plan,
    evidence: &Evidence,
    unexplained: &[&'r Record],
) -> Vec<&'r Record> {
    let denies: Vec<&PlannedAttempt> = plan
        .probes
        .iter()
        .filter(|p| p.spec.expect == Expect::Deny)
        .flat_map(|p| evidence.judged(p))
        .collect();
    unexplained
        .iter()
        .copied()
        .filter(|r| source_of(plan, r) == Source::Bundle)
        .filter(|r| {
            !denies.iter().any(|a| {
                a.target.is_some_and(|t| fixture_of(t) == r.fixture) && same_destination(a, r, plan)
            })
        })
        .collect()
}
