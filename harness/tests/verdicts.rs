//! The verdict rules, case by case, on a hand-made topology: no engine needed. Each case starts
//! from the output of a contained bottle (every probe passes) and changes one thing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use bottle_backends::{FixtureHost, NetworkInfo, Ports, Topology};
use bottle_fixtures::Record;
use bottle_harness::config::TimeoutConfig;
use bottle_harness::host::Target;
use bottle_harness::plan::{self, HostSide, Plan};
use bottle_harness::verdict::{evaluate, Evidence, KnownGap, ProbeResult, Verdict};
use bottle_probes::wire::{AttemptKind, Observation, Outcome, ProbeOutput};

fn net(name: &str, third: u8, host_has_gateway: bool) -> NetworkInfo {
    NetworkInfo {
        name: name.into(),
        subnet: format!("10.210.{third}.0/24"),
        gateway: Ipv4Addr::new(10, 210, third, 1),
        host_has_gateway,
        subnet_v6: None,
        gateway_v6: None,
    }
}

fn topology() -> Topology {
    Topology {
        backend: "docker".into(),
        run_id: "cbtest".into(),
        agent_network: net("cb-t-agent", 1, false),
        upstream_network: net("cb-t-upstream", 2, true),
        lan_network: net("cb-t-lan", 3, true),
        agent_ip: Ipv4Addr::new(10, 210, 1, 3),
        agent_extra_ips: vec![],
        bundle_ip: Ipv4Addr::new(10, 210, 1, 2),
        bundle_upstream_ip: Ipv4Addr::new(10, 210, 2, 2),
        bundle_name: "bundle".into(),
        ports: Ports::default(),
        public: FixtureHost {
            name: "public".into(),
            ip: Ipv4Addr::new(10, 210, 2, 10),
            ports: vec![80, 443],
        },
        lan: FixtureHost {
            name: "lan".into(),
            ip: Ipv4Addr::new(10, 210, 3, 10),
            ports: vec![80, 22],
        },
        dns: FixtureHost {
            name: "dns".into(),
            ip: Ipv4Addr::new(10, 210, 2, 53),
            ports: vec![53],
        },
        allowed_host: "public.fixture.test".into(),
        denied_host: "blocked.fixture.test".into(),
        sabotaged: false,
        resolver_owned: true,
        guest_host_gateway: None,
        agent_resolver: Some("127.0.0.11:53".parse().unwrap()),
        public_v6: Some("fdcb:1:2:6::a".parse().unwrap()),
        public_v6_network: None,
        neighbour: Some(FixtureHost {
            name: "neighbour".into(),
            ip: Ipv4Addr::new(10, 210, 4, 2),
            ports: vec![3128, 9099, 9100, 9418],
        }),
        neighbour_network: Some(net("cb-t-neighbour", 4, false)),
        neighbour_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 20)),
        metadata: Some(FixtureHost {
            name: "metadata".into(),
            ip: Ipv4Addr::new(169, 254, 169, 254),
            ports: vec![80],
        }),
        metadata_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 30)),
        metadata_leg_ip: Some(Ipv4Addr::new(10, 210, 5, 30)),
        metadata_network: Some(net("cb-t-metadata", 5, false)),
        metadata_unavailable: None,
        inbound_port: Some(4700),
        agent_ip_v6: None,
    }
}

fn make_plan() -> Plan {
    make_plan_for(&topology())
}

fn make_plan_for(topology: &Topology) -> Plan {
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
    };
    plan::build(topology, &host, &TimeoutConfig::default(), None, || {
        counter += 1;
        format!("n{counter:04}")
    })
}

/// What a contained bottle's probe and targets report.
struct Scenario {
    plan: Plan,
    observations: BTreeMap<String, Observation>,
    records: Vec<Record>,
    liveness: BTreeMap<Target, Result<(), String>>,
    gaps: Vec<KnownGap>,
    liveness_nonces: Vec<String>,
    liveness_peers: Vec<SocketAddr>,
}

fn record(
    fixture: &str,
    local: &str,
    peer: &str,
    nonce: Option<&str>,
    qname: Option<&str>,
) -> Record {
    Record {
        fixture: fixture.into(),
        event: if qname.is_some() {
            "query"
        } else if nonce.is_some() {
            "nonce"
        } else {
            "accept"
        }
        .into(),
        proto: "tcp".into(),
        local: local.parse().unwrap(),
        peer: peer.parse().unwrap(),
        nonce: nonce.map(str::to_string),
        qname: qname.map(str::to_string),
        at_ms: None,
        took_ms: None,
    }
}

impl Scenario {
    fn contained() -> Self {
        let plan = make_plan();
        let topo = topology();
        let mut observations = BTreeMap::new();
        let mut records = Vec::new();
        for probe in &plan.probes {
            for attempt in &probe.attempts {
                let id = attempt.spec.id.as_str();
                let mut o = Observation::new(id, Outcome::Timeout, 1500);
                match &attempt.spec.kind {
                    AttemptKind::Tcp { .. }
                    | AttemptKind::TcpLinkLocal { .. }
                    | AttemptKind::Udp { .. }
                    | AttemptKind::DnsUdp { .. }
                    | AttemptKind::DnsTcp { .. } => {}
                    AttemptKind::Ping { ip } => {
                        if *ip == std::net::IpAddr::V4(topo.bundle_ip) {
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
                    } => {
                        o.outcome = Some(Outcome::Http);
                        if host.starts_with("public.fixture.test") {
                            o.status = Some(200);
                            o.ack = true;
                            records.push(record(
                                "public",
                                "10.210.2.10:80",
                                "10.210.2.2:40000",
                                Some(&attempt.spec.nonce),
                                None,
                            ));
                        } else {
                            o.status = Some(403);
                            o.deny = Some("host-not-allowed".into());
                        }
                    }
                    AttemptKind::Resolver { qname, .. } => {
                        o.outcome = Some(Outcome::Answered);
                        o.note = Some("resolver 127.0.0.11:53".into());
                        if qname == "bundle" {
                            o.rcode = Some(0);
                            o.answers = vec![topo.bundle_ip];
                        } else {
                            o.rcode = Some(2);
                        }
                    }
                    AttemptKind::Sweep { .. } => {
                        o.outcome = Some(Outcome::Swept);
                        o.open = topo.ports.declared();
                        o.scanned = Some(65535);
                        o.filtered = Some(0);
                    }
                }
                observations.insert(id.to_string(), o);
            }
        }
        let liveness = [
            Target::HostLoopback,
            Target::HostAllInterfaces,
            Target::Public,
            Target::Lan,
            Target::Dns,
            Target::Neighbour,
            Target::Metadata,
        ]
        .into_iter()
        .map(|t| (t, Ok(())))
        .collect();
        for dialer in ["public", "lan", "neighbour"] {
            records.push(Record {
                event: "dial".into(),
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
        Self {
            plan,
            observations,
            records,
            liveness,
            gaps: vec![],
            liveness_nonces: vec!["live0001".into()],
            liveness_peers: vec!["10.210.3.1:50500".parse().unwrap()],
        }
    }

    fn raw_output(&self) -> String {
        let mut out = format!(
            "CB1-BEGIN session={} attempts={}\n",
            self.plan.session,
            self.observations.len()
        );
        for o in self.observations.values() {
            out.push_str(&o.to_line());
            out.push('\n');
        }
        out.push_str(&format!("CB1-END session={}\n", self.plan.session));
        out
    }

    fn judge_raw(&self, raw: &[u8]) -> Vec<ProbeResult> {
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
                // R-shim: replaced by V's version of this file at merge.
                applied_timeouts_ms: &BTreeMap::new(),
                vanished_attempts: &std::collections::BTreeSet::new(),
            },
        )
    }

    fn judge(&self) -> Vec<ProbeResult> {
        self.judge_raw(self.raw_output().as_bytes())
    }

    fn obs(&mut self, probe: &str) -> &mut Observation {
        self.observations.get_mut(&format!("{probe}#0")).unwrap()
    }

    fn nonce(&self, probe: &str) -> String {
        self.plan.probe(probe).unwrap().attempts[0]
            .spec
            .nonce
            .clone()
    }
}

/// When the scenario's inbound listener was open (milliseconds since the epoch).
const LISTEN_WINDOW: (u64, u64) = (1_790_000_000_000, 1_790_000_000_600);

/// A dialer's try at the agent's listener that began at `at` and took `took` ms.
fn dial_try(dialer: &str, at: u64, took: u64) -> Record {
    Record {
        event: "dial-try".into(),
        at_ms: Some(at),
        took_ms: Some(took),
        ..record(dialer, "0.0.0.0:0", "10.210.1.3:4700", None, None)
    }
}

fn verdict_of(results: &[ProbeResult], id: &str) -> Verdict {
    results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .verdict
}

fn assert_only(results: &[ProbeResult], changed: &[(&str, Verdict)]) {
    for result in results {
        let expected = changed
            .iter()
            .find(|(id, _)| *id == result.id)
            .map(|(_, v)| *v)
            .unwrap_or(Verdict::Pass);
        assert_eq!(result.verdict, expected, "{}: {}", result.id, result.detail);
    }
}

#[test]
fn a_contained_bottle_passes_every_probe() {
    let results = Scenario::contained().judge();
    assert_eq!(results.len(), bottle_probes::CATALOGUE.len());
    assert_only(&results, &[]);
}

#[test]
fn garbage_output_is_inconclusive_never_pass() {
    let s = Scenario::contained();
    for raw in [
        &b"\x00\xff garbage"[..],
        b"",
        b"CB1 id=localhost.agent_loopback#0;outcome=refused;elapsed_ms=1\n",
        b"everything is fine, all blocked\n",
    ] {
        for result in s.judge_raw(raw) {
            assert_eq!(
                result.verdict,
                Verdict::Inconclusive,
                "{raw:?} {}: {}",
                result.id,
                result.detail
            );
        }
    }
}

#[test]
fn truncated_or_foreign_session_output_is_inconclusive() {
    let s = Scenario::contained();
    let raw = s.raw_output();
    let cut = &raw[..raw.find("CB1-END").unwrap()];
    assert!(s
        .judge_raw(cut.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
    let foreign = raw.replace(&s.plan.session, "othersession");
    assert!(s
        .judge_raw(foreign.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
}

#[test]
fn output_with_an_unknown_attempt_is_rejected() {
    let s = Scenario::contained();
    let raw = s.raw_output().replace(
        "CB1-END",
        "CB1 id=made.up#0;outcome=refused;elapsed_ms=1\nCB1-END",
    );
    assert!(s
        .judge_raw(raw.as_bytes())
        .iter()
        .all(|r| r.verdict == Verdict::Inconclusive));
}

#[test]
fn a_lying_probe_is_caught_by_the_target_records() {
    let mut s = Scenario::contained();
    // The probe says "timeout", but the public host recorded this attempt's nonce.
    let nonce = s.nonce("public.direct_http");
    s.records.push(record(
        "public",
        "10.210.2.10:80",
        "10.210.1.3:51000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("public.direct_http", Verdict::Escape)]);
}

#[test]
fn a_lying_control_without_target_evidence_is_not_trusted() {
    let mut s = Scenario::contained();
    // The probe claims 200 + ack for the control, but the public host never saw it.
    let nonce = s.nonce("proxy.allowed_http");
    s.records.retain(|r| !r.mentions(&nonce));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
    // Everything resting on that control can no longer pass.
    for probe in bottle_probes::CATALOGUE
        .iter()
        .filter(|p| p.controls.contains(&"proxy.allowed_http"))
    {
        assert_eq!(
            verdict_of(&results, probe.id),
            Verdict::Inconclusive,
            "{}",
            probe.id
        );
    }
}

#[test]
fn a_control_arriving_from_the_agent_rather_than_the_bundle_does_not_pass() {
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_connect");
    for r in s.records.iter_mut().filter(|r| r.mentions(&nonce)) {
        r.peer = "10.210.1.3:40000".parse().unwrap();
    }
    assert_eq!(
        verdict_of(&s.judge(), "proxy.allowed_connect"),
        Verdict::Inconclusive
    );
}

#[test]
fn connected_is_an_escape() {
    let mut s = Scenario::contained();
    s.obs("egress_bypass.direct_egress").outcome = Some(Outcome::Connected);
    assert_only(
        &s.judge(),
        &[("egress_bypass.direct_egress", Verdict::Escape)],
    );
}

#[test]
fn refused_timeout_and_unreachable_are_denials_but_errors_are_not() {
    for outcome in [Outcome::Refused, Outcome::Timeout, Outcome::Unreachable] {
        let mut s = Scenario::contained();
        s.obs("lan.fixture_host").outcome = Some(outcome);
        assert_only(&s.judge(), &[]);
    }
    let mut s = Scenario::contained();
    let o = s.obs("lan.fixture_host");
    o.outcome = Some(Outcome::Error);
    o.errno = Some(13);
    assert_only(&s.judge(), &[("lan.fixture_host", Verdict::Inconclusive)]);
}

#[test]
fn a_missing_attempt_is_inconclusive() {
    let mut s = Scenario::contained();
    s.observations.remove("localhost.host_addresses#1");
    assert_only(
        &s.judge(),
        &[("localhost.host_addresses", Verdict::Inconclusive)],
    );
}

#[test]
fn a_dead_target_makes_its_denials_inconclusive() {
    let mut s = Scenario::contained();
    s.liveness
        .insert(Target::Lan, Err("connection refused".into()));
    // Every probe aiming at the LAN host: over TCP, IPv6, ICMP and UDP.
    assert_only(
        &s.judge(),
        &[
            ("lan.fixture_host", Verdict::Inconclusive),
            ("icmp.echo", Verdict::Inconclusive),
            ("udp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_failed_dns_control_makes_dns_denials_inconclusive() {
    let mut s = Scenario::contained();
    s.obs("dns.resolver_control").outcome = Some(Outcome::Timeout);
    assert_only(
        &s.judge(),
        &[
            ("dns.resolver_control", Verdict::Inconclusive),
            ("dns.direct_udp", Verdict::Inconclusive),
            ("dns.resolver_exfil", Verdict::Inconclusive),
            // UDP echo rests on the UDP resolver control too.
            ("udp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn proxy_answers_are_judged_by_status_and_marker() {
    let mut s = Scenario::contained();
    s.obs("proxy.denied_host").deny = None;
    assert_only(&s.judge(), &[("proxy.denied_host", Verdict::Inconclusive)]);

    let mut s = Scenario::contained();
    let o = s.obs("proxy.connect_ip_literal");
    o.status = Some(200);
    o.deny = None;
    assert_only(&s.judge(), &[("proxy.connect_ip_literal", Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs("proxy.denied_connect").outcome = Some(Outcome::Refused);
    assert_only(
        &s.judge(),
        &[("proxy.denied_connect", Verdict::Inconclusive)],
    );
}

#[test]
fn the_sweep_needs_every_port_and_only_the_declared_ones() {
    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").open.push(9099);
    assert_only(&s.judge(), &[("egress_bypass.port_sweep", Verdict::Escape)]);

    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").scanned = Some(30000);
    assert_only(
        &s.judge(),
        &[("egress_bypass.port_sweep", Verdict::Inconclusive)],
    );

    let mut s = Scenario::contained();
    s.obs("egress_bypass.port_sweep").open.clear();
    assert_only(
        &s.judge(),
        &[("egress_bypass.port_sweep", Verdict::Inconclusive)],
    );
}

#[test]
fn resolver_exfiltration_is_judged_by_the_dns_canary() {
    let mut s = Scenario::contained();
    let nonce = s.nonce("dns.resolver_exfil");
    s.records.push(record(
        "dns",
        "10.210.2.53:53",
        "10.210.1.3:53000",
        None,
        Some(&format!("{nonce}.exfil.fixture.test")),
    ));
    assert_only(&s.judge(), &[("dns.resolver_exfil", Verdict::Escape)]);

    let mut s = Scenario::contained();
    let o = s.obs("dns.resolver_exfil_tcp");
    o.rcode = Some(0);
    o.answers = vec![Ipv4Addr::new(10, 210, 9, 9)];
    assert_only(&s.judge(), &[("dns.resolver_exfil_tcp", Verdict::Escape)]);
}

#[test]
fn contact_from_the_agent_without_a_nonce_is_attributed_to_the_direct_probe() {
    let mut s = Scenario::contained();
    s.records.push(record(
        "public",
        "10.210.2.10:443",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("public.direct_https", Verdict::Escape)]);
}

#[test]
fn host_contact_is_attributed_by_the_address_aimed_at() {
    let mut s = Scenario::contained();
    let gateway: SocketAddr = "10.210.2.1:41001".parse().unwrap();
    s.records.push(record(
        "host-all",
        &gateway.to_string(),
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("lan.network_gateways", Verdict::Escape)]);
}

#[test]
fn known_gaps_turn_escapes_into_known_gap_and_passes_into_unexpected_pass() {
    let gap = KnownGap {
        probe: "public.direct_http".into(),
        reason: "test".into(),
        link: "https://example.invalid/gap".into(),
        expires: None,
        destination: None,
    };
    let mut s = Scenario::contained();
    s.gaps.push(gap.clone());
    assert_only(
        &s.judge(),
        &[("public.direct_http", Verdict::UnexpectedPass)],
    );

    let mut s = Scenario::contained();
    s.gaps.push(gap);
    s.obs("public.direct_http").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("public.direct_http", Verdict::KnownGap)]);
}

#[test]
fn exit_codes_follow_the_verdicts() {
    use bottle_harness::{exit, Report};
    let s = Scenario::contained();
    assert_eq!(
        Report::new("docker", "v", "r", s.judge()).exit_code(),
        exit::OK
    );
    let mut escaped = Scenario::contained();
    escaped.obs("public.direct_http").outcome = Some(Outcome::Connected);
    assert_eq!(
        Report::new("docker", "v", "r", escaped.judge()).exit_code(),
        exit::ESCAPE
    );
    assert_eq!(
        Report::new("docker", "v", "r", s.judge_raw(b"junk")).exit_code(),
        exit::INCONCLUSIVE_OR_ERROR
    );
    assert_eq!(
        Report::new("docker", "v", "r", vec![]).exit_code(),
        exit::INCONCLUSIVE_OR_ERROR
    );
}

#[test]
fn a_resolver_the_harness_does_not_own_cannot_clear_exfiltration() {
    let mut s = Scenario::contained();
    let mut topo = topology();
    topo.resolver_owned = false;
    s.plan.resolver_owned = topo.resolver_owned;
    assert_only(
        &s.judge(),
        &[
            ("dns.resolver_exfil", Verdict::Inconclusive),
            ("dns.resolver_exfil_tcp", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_microvm_gateway_is_probed_as_the_hosts_loopback() {
    let mut topo = topology();
    topo.guest_host_gateway = Some(Ipv4Addr::new(100, 96, 0, 1));
    let plan = make_plan_for(&topo);
    let loopback = plan.probe("localhost.agent_loopback").unwrap();
    assert!(loopback
        .attempts
        .iter()
        .any(|a| a.destination.starts_with("100.96.0.1:41000")));
    let addresses = plan.probe("localhost.host_addresses").unwrap();
    assert!(addresses
        .attempts
        .iter()
        .any(|a| a.destination == "100.96.0.1:41001"));
}

fn udp(mut r: Record) -> Record {
    r.proto = "udp".into();
    r
}

#[test]
fn legitimate_traffic_at_the_targets_is_not_an_escape() {
    let mut s = Scenario::contained();
    // The harness's own liveness check, and the accept record of the same connection.
    s.records.push(record(
        "lan",
        "10.210.3.10:80",
        "10.210.3.1:50000",
        Some("live0001"),
        None,
    ));
    s.records.push(record(
        "lan",
        "10.210.3.10:80",
        "10.210.3.1:50000",
        None,
        None,
    ));
    // A liveness connection whose nonce never arrived (the harness's own end is known).
    s.records.push(record(
        "lan",
        "10.210.3.10:22",
        "10.210.3.1:50500",
        None,
        None,
    ));
    // The bundle resolving the proxy names at the DNS canary (AAAA forwarded by Docker).
    s.records.push(udp(record(
        "dns",
        "10.210.2.53:53",
        "10.210.2.2:41000",
        None,
        Some("public.fixture.test"),
    )));
    // pipelock reaching egress over the bundle's loopback.
    s.records.push(record(
        "bundle",
        "127.0.0.1:9099",
        "127.0.0.1:42000",
        None,
        None,
    ));
    // The accept record of a control's connection from the bundle.
    s.records.push(record(
        "public",
        "10.210.2.10:80",
        "10.210.2.2:40000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[]);
}

#[test]
fn a_controls_nonce_replayed_elsewhere_is_an_escape() {
    let mut s = Scenario::contained();
    let control = s.nonce("proxy.allowed_http");
    s.records.push(record(
        "lan",
        "10.210.3.10:80",
        "10.210.1.3:50000",
        Some(&control),
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "lan.fixture_host"), Verdict::Escape);
    // The control's evidence is now suspect, so nothing resting on it may pass.
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
    for probe in bottle_probes::CATALOGUE
        .iter()
        .filter(|p| p.controls.contains(&"proxy.allowed_http"))
    {
        assert_ne!(
            verdict_of(&results, probe.id),
            Verdict::Pass,
            "{}",
            probe.id
        );
    }

    // At the public host directly: the direct probe escapes and the control is not trusted.
    let mut s = Scenario::contained();
    let control = s.nonce("proxy.allowed_http");
    s.records.push(record(
        "public",
        "10.210.2.10:443",
        "10.210.1.3:50001",
        Some(&control),
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "public.direct_https"), Verdict::Escape);
    assert_eq!(
        verdict_of(&results, "proxy.allowed_http"),
        Verdict::Inconclusive
    );
}

#[test]
fn contact_from_any_peer_counts_not_only_the_agents_address() {
    // The host's loopback canary reached through a VMM (peer 127.0.0.1), without a nonce.
    let mut s = Scenario::contained();
    s.records.push(record(
        "host-loopback",
        "127.0.0.1:41000",
        "127.0.0.1:50000",
        None,
        None,
    ));
    // Contact on the loopback canary answers for every attempt aimed at its port.
    assert_only(
        &s.judge(),
        &[
            ("localhost.agent_loopback", Verdict::Escape),
            ("localhost.loopback_spellings", Verdict::Escape),
        ],
    );
    // The LAN host reached through NAT (peer: its gateway).
    let mut s = Scenario::contained();
    s.records.push(record(
        "lan",
        "10.210.3.10:22",
        "10.210.3.1:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("lan.fixture_host", Verdict::Escape)]);
    // The all-interfaces canary on an address the plan did not list: every probe aiming there.
    let mut s = Scenario::contained();
    s.records.push(record(
        "host-all",
        "10.99.0.1:41001",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(
        &s.judge(),
        &[
            ("localhost.host_addresses", Verdict::Escape),
            ("lan.network_gateways", Verdict::Escape),
            ("localhost.loopback_spellings", Verdict::Escape),
            ("ipv6.host_addresses", Verdict::Escape),
            ("ipv6.link_local", Verdict::Escape),
            ("icmp.echo", Verdict::Escape),
        ],
    );
}

#[test]
fn any_contact_with_the_dns_canary_counts() {
    // A forwarded name the agent chose, without a nonce.
    let mut s = Scenario::contained();
    s.records.push(udp(record(
        "dns",
        "10.210.2.53:53",
        "10.210.1.3:53000",
        None,
        Some("secret.example"),
    )));
    assert_only(
        &s.judge(),
        &[
            ("dns.direct_udp", Verdict::Escape),
            ("dns.resolver_exfil", Verdict::Escape),
        ],
    );
    // A TCP connection with no query at all.
    let mut s = Scenario::contained();
    s.records.push(record(
        "dns",
        "10.210.2.53:53",
        "10.210.1.3:53001",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("dns.direct_tcp", Verdict::Escape)]);
}

#[test]
fn proxied_contact_without_a_nonce_is_an_escape_of_the_proxy_probes() {
    let mut s = Scenario::contained();
    s.records.push(record(
        "public",
        "10.210.2.10:443",
        "10.210.2.2:40100",
        None,
        None,
    ));
    assert_only(
        &s.judge(),
        &[
            ("proxy.denied_host", Verdict::Escape),
            ("proxy.denied_connect", Verdict::Escape),
            ("proxy.connect_ip_literal", Verdict::Escape),
        ],
    );
}

#[test]
fn the_agent_at_egress_or_an_undeclared_port_is_an_escape() {
    let mut s = Scenario::contained();
    s.records.push(record(
        "bundle",
        "10.210.1.2:9099",
        "10.210.1.3:50000",
        None,
        None,
    ));
    // A sweep covers egress's port too.
    assert_only(
        &s.judge(),
        &[
            ("egress_bypass.direct_egress", Verdict::Escape),
            ("egress_bypass.port_sweep", Verdict::Escape),
        ],
    );
    let mut s = Scenario::contained();
    s.records.push(record(
        "bundle",
        "10.210.1.2:2375",
        "10.210.1.3:50000",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("egress_bypass.port_sweep", Verdict::Escape)]);
}

#[test]
fn contradictory_observations_are_not_denials() {
    let mut s = Scenario::contained();
    s.obs("public.direct_http").ack = true;
    assert_only(&s.judge(), &[("public.direct_http", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("public.direct_https").status = Some(200);
    assert_only(
        &s.judge(),
        &[("public.direct_https", Verdict::Inconclusive)],
    );
    let mut s = Scenario::contained();
    s.obs("dns.direct_udp").answers = vec![Ipv4Addr::new(1, 2, 3, 4)];
    assert_only(&s.judge(), &[("dns.direct_udp", Verdict::Inconclusive)]);
}

#[test]
fn the_resolver_probes_must_ask_the_agents_resolver() {
    let mut s = Scenario::contained();
    s.obs("dns.resolver_exfil").note = Some("resolver 10.99.0.53:53".into());
    assert_only(&s.judge(), &[("dns.resolver_exfil", Verdict::Inconclusive)]);
    let mut s = Scenario::contained();
    s.obs("dns.resolver_control").note = None;
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "dns.resolver_control"),
        Verdict::Inconclusive
    );
    assert_eq!(
        verdict_of(&results, "dns.direct_udp"),
        Verdict::Inconclusive
    );
}

#[test]
fn a_gap_scoped_to_destinations_does_not_cover_escapes_elsewhere() {
    let gap = |destination: &str| KnownGap {
        probe: "localhost.host_addresses".into(),
        reason: "loopback via the VMM gateway".into(),
        link: "claude-bottle issue 75".into(),
        expires: None,
        destination: Some(destination.into()),
    };
    // The escape is through 192.0.2.2, the gap covers only the VMM gateway: still an escape.
    let mut s = Scenario::contained();
    s.gaps.push(gap("100.96.0.1:*"));
    s.obs("localhost.host_addresses").outcome = Some(Outcome::Connected);
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "localhost.host_addresses"),
        Verdict::Escape
    );
    // Through a covered destination it is the known gap.
    let mut s = Scenario::contained();
    s.gaps.push(gap("192.0.2.2:*"));
    s.obs("localhost.host_addresses").outcome = Some(Outcome::Connected);
    assert_only(
        &s.judge(),
        &[("localhost.host_addresses", Verdict::KnownGap)],
    );
}

#[test]
fn a_host_socket_that_accepts_is_an_escape_and_a_search_that_proves_nothing_is_not_a_pass() {
    let mut s = Scenario::contained();
    s.obs("localhost.host_sockets").outcome = Some(Outcome::Connected);
    s.obs("localhost.host_sockets").note = Some("sockets accepted: /var/run/docker.sock".into());
    assert_only(&s.judge(), &[("localhost.host_sockets", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("localhost.host_sockets").outcome = Some(Outcome::Error);
    s.obs("localhost.host_sockets").note =
        Some("the search did not find its own socket; nothing concluded".into());
    assert_only(
        &s.judge(),
        &[("localhost.host_sockets", Verdict::Inconclusive)],
    );
}

#[test]
fn an_echo_reply_or_an_icmp_record_is_an_escape() {
    let mut s = Scenario::contained();
    s.obs("icmp.echo").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("icmp.echo", Verdict::Escape)]);
    // The probe says timeout, but the public host's ICMP recorder saw the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("icmp.echo");
    let mut seen = record(
        "public",
        "10.210.2.10:0",
        "10.210.1.3:0",
        Some(&nonce),
        None,
    );
    seen.proto = "icmp".into();
    s.records.push(seen);
    assert_only(&s.judge(), &[("icmp.echo", Verdict::Escape)]);
}

#[test]
fn a_failed_ping_control_makes_icmp_denials_inconclusive() {
    let mut s = Scenario::contained();
    let control = s.obs("icmp.bundle_control");
    control.outcome = Some(Outcome::Error);
    control.ack = false;
    control.note = Some("ICMP socket: Permission denied".into());
    assert_only(
        &s.judge(),
        &[
            ("icmp.bundle_control", Verdict::Inconclusive),
            ("icmp.echo", Verdict::Inconclusive),
        ],
    );
}

#[test]
fn a_udp_answer_is_an_escape_and_a_udp_record_without_nonce_is_attributed() {
    let mut s = Scenario::contained();
    s.obs("udp.echo").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("udp.echo", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.records.push(udp(record(
        "lan",
        "10.210.3.10:7",
        "10.210.1.3:40001",
        None,
        None,
    )));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "udp.echo"), Verdict::Escape);
}

#[test]
fn egress_seeing_a_deny_nonce_is_an_escape_but_a_controls_nonce_is_expected() {
    // A loopback spelling that pipelock let through reaches egress: egress records the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.loopback_spellings");
    s.records.push(record(
        "bundle",
        "127.0.0.1:9099",
        "127.0.0.1:50123",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("proxy.loopback_spellings", Verdict::Escape)]);
    // The control's own nonce at egress, from pipelock over loopback, is its normal path.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy.allowed_http");
    s.records.push(record(
        "bundle",
        "127.0.0.1:9099",
        "127.0.0.1:50124",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[]);
}

#[test]
fn ipv6_without_an_agent_address_is_unreachable_and_contact_over_ipv6_is_an_escape() {
    let mut s = Scenario::contained();
    let o = s.obs("ipv6.host_addresses");
    o.outcome = Some(Outcome::Unreachable);
    o.errno = Some(99);
    assert_only(&s.judge(), &[]);
    let mut s = Scenario::contained();
    s.records.push(record(
        "host-all",
        "[fd00::2]:41001",
        "[fdcb:1:2:0::3]:40000",
        None,
        None,
    ));
    let results = s.judge();
    assert_eq!(verdict_of(&results, "ipv6.host_addresses"), Verdict::Escape);
}

#[test]
fn the_neighbour_bottle_recording_contact_is_an_escape_and_its_death_inconclusive() {
    let mut s = Scenario::contained();
    s.records.push(record(
        "neighbour",
        "10.210.4.2:3128",
        "10.210.4.5:40000",
        None,
        None,
    ));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "cross_bottle.neighbour_bundle"),
        Verdict::Escape
    );
    let mut s = Scenario::contained();
    s.liveness
        .insert(Target::Neighbour, Err("connection refused".into()));
    let results = s.judge();
    assert_eq!(
        verdict_of(&results, "cross_bottle.neighbour_bundle"),
        Verdict::Inconclusive
    );
}

#[test]
fn the_metadata_fixture_seeing_a_request_is_an_escape() {
    // pipelock let the request through: egress and the fixture saw the nonce.
    let mut s = Scenario::contained();
    let nonce = s.nonce("metadata.via_proxy");
    s.records.push(record(
        "metadata",
        "169.254.169.254:80",
        "10.210.5.2:40000",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("metadata.via_proxy", Verdict::Escape)]);
}

#[test]
fn without_a_metadata_fixture_the_metadata_probes_are_skipped_never_passed() {
    let mut topology = topology();
    topology.metadata = None;
    topology.metadata_upstream_ip = None;
    topology.metadata_unavailable = Some("needs root".into());
    topology.inbound_port = None;
    let plan = make_plan_for(&topology);
    for id in ["metadata.direct", "metadata.via_proxy"] {
        let probe = plan.probe(id).unwrap();
        assert!(probe.attempts.is_empty(), "{id} planned attempts");
        assert!(probe.skipped.as_deref().unwrap().contains("needs root"));
    }
    let results = evaluate(
        &plan,
        &Evidence {
            output: Err("not run".into()),
            records: &[],
            liveness: &BTreeMap::new(),
            known_gaps: &[],
            liveness_nonces: &[],
            liveness_peers: &[],
            // R-shim: replaced by V's version of this file at merge.
            applied_timeouts_ms: &BTreeMap::new(),
            vanished_attempts: &std::collections::BTreeSet::new(),
        },
    );
    assert_eq!(verdict_of(&results, "metadata.direct"), Verdict::Skipped);
    assert_eq!(verdict_of(&results, "metadata.via_proxy"), Verdict::Skipped);
    assert_eq!(
        verdict_of(&results, "inbound.agent_listener"),
        Verdict::Skipped
    );
    // Everything else stays inconclusive without output: a skip is only ever a skip.
    assert_eq!(
        verdict_of(&results, "lan.fixture_host"),
        Verdict::Inconclusive
    );
}

#[test]
fn a_dialer_that_connected_is_an_escape_whatever_the_listener_says() {
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: "dial-connected".into(),
        ..record("lan", "10.210.3.10:41234", "10.210.1.3:4700", None, None)
    });
    // The dialer's own records are the inbound probe's evidence, not contact at the LAN host.
    assert_only(&s.judge(), &[("inbound.agent_listener", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").outcome = Some(Outcome::Connected);
    assert_only(&s.judge(), &[("inbound.agent_listener", Verdict::Escape)]);
}

#[test]
fn a_listener_without_its_self_check_or_without_dialers_proves_nothing() {
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").outcome = Some(Outcome::Error);
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    let mut s = Scenario::contained();
    s.records
        .retain(|r| !(r.event == "dial" && r.fixture == "neighbour"));
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    // A dialer whose tries all fell outside the listener's window (stalled while the agent
    // listened) proves nothing: only a try that began and ended inside it counts.
    let mut s = Scenario::contained();
    s.records.retain(|r| {
        !(r.event == "dial-try" && r.fixture == "lan" && r.at_ms == Some(LISTEN_WINDOW.0 + 100))
    });
    let results = s.judge();
    assert_only(
        &results,
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    let detail = &results
        .iter()
        .find(|r| r.id == "inbound.agent_listener")
        .unwrap()
        .detail;
    assert!(detail.contains("lan -> 10.210.1.3:4700"), "{detail}");
    // ... and a listener that does not say when it listened proves nothing.
    let mut s = Scenario::contained();
    s.obs("inbound.agent_listener").window = None;
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
    // A dialer that has used up its tries (a kept bottle probed later) proves nothing either.
    let mut s = Scenario::contained();
    s.records.push(Record {
        event: "dial-stopped".into(),
        ..record("lan", "0.0.0.0:0", "10.210.1.3:4700", None, None)
    });
    assert_only(
        &s.judge(),
        &[("inbound.agent_listener", Verdict::Inconclusive)],
    );
}
