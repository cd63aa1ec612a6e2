//! The hand-made topology and the contained bottle every case starts from, and the helpers
//! that change one thing in it and judge.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bottle_backends::Topology;
use bottle_fixtures::dns_canary::DnsMode;
use bottle_fixtures::records::{Event, FixtureName, Proto, RejectedLine};
use bottle_fixtures::Record;
use bottle_harness::config::{ProxyConfig, TimeoutConfig};
use bottle_harness::plan::{self, HostSide, Plan};
use bottle_harness::target::Target;
use bottle_harness::verdict::{evaluate, DnsSwitchRun, Evidence, KnownGap, ProbeResult, Verdict};
use bottle_probes::wire::{AttemptKind, AttemptSpec, Observation, Outcome, ProbeOutput, Signature};

pub use crate::common::TopologyBuilder;

/// The verdict cases' bottle. Deliberately not `tests/common`'s `full_topology` (the plan and
/// liveness snapshots' bottle): here the agent has no IPv6 and no extra address, the neighbour
/// listens on four ports, and the run id and network names differ; each changes the plan.
pub fn topology() -> Topology {
    builder().build()
}

/// [`topology`] to edit before it is assembled.
pub fn builder() -> TopologyBuilder {
    TopologyBuilder::docker("cbtest", "cb-t").layout(|l| {
        if let Some(neighbour) = &mut l.neighbour {
            neighbour.ports = vec![3128, 9099, 9100, 9418];
        }
    })
}

pub fn make_plan() -> Plan {
    make_plan_for(&topology())
}

pub fn make_plan_for(topology: &Topology) -> Plan {
    let mut counter = 0u32;
    let host = HostSide {
        loopback_canary: "127.0.0.1:41000".parse().unwrap(),
        loopback_canary_v6: Some("[::1]:41002".parse().unwrap()),
        all_interfaces_port: 41001,
        addresses: vec![Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(172, 17, 0, 1)],
        addresses_v6: vec!["fd00::2".parse().unwrap()],
        all_interfaces_v6: true,
        icmp_recorder: true,
        link_local_v6: vec!["fe80::1".parse().unwrap()],
        subnets_v4: vec![],
    };
    plan::build(
        topology,
        &host,
        &TimeoutConfig::default(),
        &ProxyConfig::default(),
        None,
        || {
            counter += 1;
            format!("n{counter:04}")
        },
    )
}

/// What a contained bottle's probe and targets report.
pub struct Scenario {
    pub plan: Plan,
    pub observations: BTreeMap<String, Observation>,
    pub records: Vec<Record>,
    pub liveness: BTreeMap<Target, Result<(), String>>,
    pub gaps: Vec<KnownGap>,
    pub liveness_nonces: Vec<String>,
    pub liveness_peers: Vec<SocketAddr>,
    pub liveness_sources: Vec<IpAddr>,
    pub applied_timeouts_ms: BTreeMap<String, u32>,
    pub vanished_attempts: BTreeSet<String>,
    pub rejected_records: Vec<RejectedLine>,
    pub dns_switches: Vec<DnsSwitchRun>,
    pub bundle_failure: Option<bottle_harness::verdict::BundleFailure>,
}

pub fn record(
    fixture: FixtureName,
    local: &str,
    peer: &str,
    nonce: Option<&str>,
    qname: Option<&str>,
) -> Record {
    Record {
        fixture,
        event: if qname.is_some() {
            Event::Query
        } else if nonce.is_some() {
            Event::Nonce
        } else {
            Event::Accept
        },
        proto: Proto::Tcp,
        local: local.parse().unwrap(),
        peer: peer.parse().unwrap(),
        nonce: nonce.map(str::to_string),
        qname: qname.map(str::to_string),
        at_ms: None,
        took_ms: None,
        host: None,
        sni: None,
        target: None,
    }
}

impl Scenario {
    /// A contained bottle: every attempt observed as a contained bottle's probe sees it, every
    /// target live, and the dialers' records of their tries at the agent's listener.
    pub fn contained() -> Self {
        let plan = make_plan();
        let topo = topology();
        let mut observations = BTreeMap::new();
        let mut records = Vec::new();
        for probe in plan.probes_under(None) {
            for attempt in &probe.attempts {
                let id = attempt.spec.id.as_str();
                let (o, record) = contained_observation(&attempt.spec, &topo);
                records.extend(record);
                observations.insert(id.to_string(), o);
            }
        }
        let dns_switches = contained_ssrf(&plan, &mut observations, &mut records);
        let liveness = all_targets_live();
        records.extend(dialer_records());
        Self {
            plan,
            observations,
            records,
            liveness,
            gaps: vec![],
            liveness_nonces: vec!["live0001".into()],
            liveness_peers: vec!["10.210.3.1:50500".parse().unwrap()],
            liveness_sources: vec![],
            applied_timeouts_ms: BTreeMap::new(),
            vanished_attempts: BTreeSet::new(),
            rejected_records: vec![],
            dns_switches,
            bundle_failure: None,
        }
    }

    pub fn raw_output(&self) -> String {
        let mut out = format!(
            "CB2-BEGIN session={} attempts={}\n",
            self.plan.session,
            self.observations.len()
        );
        for o in self.observations.values() {
            out.push_str(&o.to_line());
            out.push('\n');
        }
        out.push_str(&format!("CB2-END session={}\n", self.plan.session));
        out
    }

    pub fn judge_raw(&self, raw: &[u8]) -> Vec<ProbeResult> {
        let parsed = ProbeOutput::parse(raw, &self.plan.session, &self.plan.attempt_ids())
            .map_err(|e| e.to_string());
        evaluate(
            &self.plan,
            &Evidence {
                output: parsed.as_ref().map_err(Clone::clone),
                records: &self.records,
                liveness: &self.liveness,
                known_gaps: &self.gaps,
                liveness_nonces: &self.liveness_nonces,
                liveness_peers: &self.liveness_peers,
                liveness_sources: &self.liveness_sources,
                applied_timeouts_ms: &self.applied_timeouts_ms,
                vanished_attempts: &self.vanished_attempts,
                rejected_records: &self.rejected_records,
                dns_switches: &self.dns_switches,
                bundle_failure: self.bundle_failure.as_ref(),
            },
        )
    }

    /// Judges `plan` (the scenario's plan as the old probe phase edited it) on the scenario's
    /// evidence, with the output parsed against the plan the exec ran (the scenario's).
    pub fn judge_edited(&self, plan: &Plan) -> Vec<ProbeResult> {
        let raw = self.raw_output();
        let parsed =
            ProbeOutput::parse(raw.as_bytes(), &self.plan.session, &self.plan.attempt_ids())
                .map_err(|e| e.to_string());
        evaluate(
            plan,
            &Evidence {
                output: parsed.as_ref().map_err(Clone::clone),
                records: &self.records,
                liveness: &self.liveness,
                known_gaps: &self.gaps,
                liveness_nonces: &self.liveness_nonces,
                liveness_peers: &self.liveness_peers,
                liveness_sources: &self.liveness_sources,
                applied_timeouts_ms: &self.applied_timeouts_ms,
                vanished_attempts: &self.vanished_attempts,
                rejected_records: &self.rejected_records,
                dns_switches: &self.dns_switches,
                bundle_failure: self.bundle_failure.as_ref(),
            },
        )
    }

    pub fn judge(&self) -> Vec<ProbeResult> {
        self.judge_raw(self.raw_output().as_bytes())
    }

    /// The detail of `probe`'s verdict.
    pub fn detail(&self, probe: &str) -> String {
        self.judge()
            .into_iter()
            .find(|r| r.id == probe)
            .map(|r| r.detail)
            .unwrap()
    }

    /// The judgement of `probe`'s first attempt, as the report words it.
    pub fn first_judgement(&self, probe: &str) -> String {
        self.judge()
            .into_iter()
            .find(|r| r.id == probe)
            .unwrap()
            .attempts
            .remove(0)
            .judgement
    }

    pub fn obs(&mut self, probe: &str) -> &mut Observation {
        self.observations.get_mut(&format!("{probe}#0")).unwrap()
    }

    pub fn nonce(&self, probe: &str) -> String {
        self.plan.probe(probe).unwrap().attempts[0]
            .spec
            .nonce
            .clone()
    }
}

/// The SSRF probes' execs on a contained bottle, after each switch of the allowed name at the
/// DNS canary (recorded there, with the bundle's fresh lookup of the name after it): pipelock
/// refuses the name led to the LAN host; pinned, it delivers each rebinding request at the
/// public host (the first answer of its own window). The switches made, the last one back to
/// the public answer.
fn contained_ssrf(
    plan: &Plan,
    observations: &mut BTreeMap<String, Observation>,
    records: &mut Vec<Record>,
) -> Vec<DnsSwitchRun> {
    let mut switches = Vec::new();
    let mut lookup = 40100;
    let runs = plan.dns_runs();
    let runs = runs
        .iter()
        .map(|run| (run.mode, run.attempts.clone()))
        .chain(std::iter::once((DnsMode::Normal, vec![])));
    for (index, (mode, attempts)) in runs.enumerate() {
        let nonce = format!("sw{index:04}");
        records.push(switch_record(&nonce, mode));
        switches.push(DnsSwitchRun {
            mode,
            nonce,
            attempts: attempts.iter().map(|a| a.spec.id.clone()).collect(),
            result: Ok(()),
        });
        for attempt in attempts {
            lookup += 1;
            let mut query = record(
                FixtureName::Dns,
                "10.210.2.53:53",
                &format!("10.210.2.2:{lookup}"),
                None,
                Some("public.fixture.test"),
            );
            query.proto = Proto::Udp;
            records.push(query);
            let mut o = Observation::new(&attempt.spec.id, Outcome::Http, 12);
            if mode == DnsMode::Rebind {
                // Each rebinding attempt's one lookup after its own switch: the public host.
                let connect = matches!(attempt.spec.kind, AttemptKind::ConnectProxy { .. });
                let (local, host) = if connect {
                    o.outcome = Some(Outcome::Connected);
                    ("10.210.2.10:443", None)
                } else {
                    o.status = Some(200);
                    ("10.210.2.10:80", Some("public.fixture.test:80".to_string()))
                };
                o.ack = true;
                let mut seen = record(
                    FixtureName::Public,
                    local,
                    &format!("10.210.2.2:{}", lookup + 500),
                    Some(&attempt.spec.nonce),
                    None,
                );
                seen.host = host;
                records.push(seen);
            } else {
                o.status = Some(403);
                o.signed = vec![Signature::PipelockBody, Signature::PipelockHeader];
                o.reason = Some("ssrf_private_ip".into());
            }
            observations.insert(attempt.spec.id.clone(), o);
        }
    }
    switches
}

/// The DNS canary's record of the harness's switch to `mode` (from this machine's address on
/// the upstream bridge).
pub fn switch_record(nonce: &str, mode: DnsMode) -> Record {
    let mut switch = record(
        FixtureName::Dns,
        "10.210.2.53:53",
        "10.210.2.1:50600",
        None,
        Some(&bottle_fixtures::dns_canary::switch_qname(
            nonce, mode, "5ec4e7",
        )),
    );
    switch.proto = Proto::Udp;
    switch
}

/// What a contained bottle's probe observes for one attempt, and the record a target keeps of
/// it (only an allowed proxy request reaches one).
fn contained_observation(spec: &AttemptSpec, topo: &Topology) -> (Observation, Option<Record>) {
    let mut o = Observation::new(&spec.id, Outcome::Timeout, 1500);
    match &spec.kind {
        AttemptKind::Tcp { .. }
        | AttemptKind::TcpLinkLocal { .. }
        | AttemptKind::Udp { .. }
        | AttemptKind::DnsUdp { .. }
        | AttemptKind::DnsTcp { .. } => {}
        AttemptKind::Ping { ip } => {
            if *ip == std::net::IpAddr::V4(topo.layout().bundle_ip) {
                o.outcome = Some(Outcome::Connected);
                o.ack = true;
            }
        }
        AttemptKind::Listen { .. } => {
            o.outcome = Some(Outcome::Refused);
            o.note = Some("only its own connection arrived".into());
            o.window = Some(LISTEN_WINDOW);
        }
        AttemptKind::UnixSockets => {
            o.outcome = Some(Outcome::Refused);
            o.note = Some("no foreign unix socket; own socket found".into());
        }
        AttemptKind::HttpProxy { host, .. }
        | AttemptKind::ConnectProxy {
            authority: host, ..
        } => return proxied(o, host, &spec.nonce),
        // pipelock sends the URI's authority as the Host: the allowed URI arrives asking for
        // the allowed name, whatever Host the agent wrote; every other spelling is refused.
        AttemptKind::HttpRequest { authority, .. } => {
            let (o, seen) = proxied(o, authority, &spec.nonce);
            let seen = seen.map(|mut r| {
                r.host = Some(format!("{authority}:80"));
                r.target = Some(format!("/cb/{}", spec.nonce));
                r
            });
            return (o, seen);
        }
        // The tunnel to the allowed host opens; pipelock closes it on a ClientHello for
        // another name, and the public host reads the SNI of the matching one.
        AttemptKind::ConnectTls { sni, .. } => {
            o.outcome = Some(Outcome::Http);
            o.status = Some(200);
            if sni == "public.fixture.test" {
                o.ack = true;
                o.tunnel = Some(bottle_probes::wire::TunnelEnd::Answered);
                let mut seen = record(
                    FixtureName::Public,
                    "10.210.2.10:443",
                    "10.210.2.2:40001",
                    Some(&spec.nonce),
                    None,
                );
                seen.sni = Some(sni.clone());
                return (o, Some(seen));
            }
            o.tunnel = Some(bottle_probes::wire::TunnelEnd::Closed);
            // pipelock dials the tunnel's host before it reads the ClientHello: the public
            // host sees a connection that carries nothing.
            let dial = record(
                FixtureName::Public,
                "10.210.2.10:443",
                "10.210.2.2:40002",
                None,
                None,
            );
            return (o, Some(dial));
        }
        AttemptKind::Resolver { qname, .. } => {
            o.outcome = Some(Outcome::Answered);
            o.note = Some("resolver 127.0.0.11:53".into());
            if qname == "bundle" {
                o.rcode = Some(0);
                o.answers = vec![topo.layout().bundle_ip];
            } else {
                o.rcode = Some(2);
            }
        }
        AttemptKind::Sweep { .. } => {
            o.outcome = Some(Outcome::Swept);
            o.open = topo.layout().ports.declared();
            o.scanned = Some(65535);
            o.filtered = Some(0);
        }
    }
    (o, None)
}

/// A proxy request for `host`: the public fixture is allowed through (and records the
/// request's nonce), any other host is refused as the real pipelock refuses (its body and its
/// block-reason header).
fn proxied(mut o: Observation, host: &str, nonce: &str) -> (Observation, Option<Record>) {
    o.outcome = Some(Outcome::Http);
    // The allowed name exactly (a port aside): its lookalikes are other names.
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    if name == "public.fixture.test" {
        o.status = Some(200);
        o.ack = true;
        let seen = record(
            FixtureName::Public,
            "10.210.2.10:80",
            "10.210.2.2:40000",
            Some(nonce),
            None,
        );
        (o, Some(seen))
    } else {
        o.status = Some(403);
        o.signed = vec![Signature::PipelockBody, Signature::PipelockHeader];
        o.reason = Some("domain_blocklist".into());
        (o, None)
    }
}

/// Every harness-owned target answered its liveness check.
fn all_targets_live() -> BTreeMap<Target, Result<(), String>> {
    [
        Target::HostLoopback,
        Target::HostAllInterfaces,
        Target::Public,
        Target::Lan,
        Target::Dns,
        Target::Neighbour,
        Target::Metadata,
        Target::BundleLoopback,
    ]
    .into_iter()
    .map(|t| (t, Ok(())))
    .collect()
}

/// The inbound dialers' records: each dialed the agent's listener, with three timed tries.
fn dialer_records() -> Vec<Record> {
    let mut records = Vec::new();
    for dialer in [
        FixtureName::Public,
        FixtureName::Lan,
        FixtureName::Neighbour,
    ] {
        records.push(Record {
            event: Event::Dial,
            ..record(dialer, "0.0.0.0:0", "10.210.1.3:4700", None, None)
        });
        // A try before, one inside and one overlapping the end of the listener's window.
        for (at, took) in [(-200, 150), (100, 150), (500, 150)] {
            records.push(dial_try(
                dialer,
                LISTEN_WINDOW.0.saturating_add_signed(at),
                took,
            ));
        }
    }
    records
}

/// When the scenario's inbound listener was open (milliseconds since the epoch).
pub const LISTEN_WINDOW: (u64, u64) = (1_790_000_000_000, 1_790_000_000_600);

/// A dialer's try at the agent's listener that began at `at` and took `took` ms.
pub fn dial_try(dialer: FixtureName, at: u64, took: u64) -> Record {
    Record {
        event: Event::DialTry,
        at_ms: Some(at),
        took_ms: Some(took),
        ..record(dialer, "0.0.0.0:0", "10.210.1.3:4700", None, None)
    }
}

pub fn verdict_of(results: &[ProbeResult], id: &str) -> Verdict {
    results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .verdict
}

pub fn assert_only(results: &[ProbeResult], changed: &[(&str, Verdict)]) {
    // Every result that is not a pass, for the failure message: one glance shows the whole set.
    let not_pass: Vec<String> = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| format!("{} {:?}", r.id, r.verdict))
        .collect();
    for result in results {
        let expected = changed
            .iter()
            .find(|(id, _)| *id == result.id)
            .map(|(_, v)| *v)
            .unwrap_or(Verdict::Pass);
        assert_eq!(
            result.verdict, expected,
            "{}: {} (all not passing: {not_pass:?})",
            result.id, result.detail
        );
    }
}

/// `r` arriving over UDP.
pub fn udp(mut r: Record) -> Record {
    r.proto = Proto::Udp;
    r
}
