//! The plan pinned attempt by attempt: ids, order, encoded specs (kind, nonce, timeout, stage),
//! targets and destinations, for fixed topologies and a deterministic nonce counter (so the order
//! in which nonces are drawn is pinned too). A change to `plan::build` that changes what a bottle
//! is asked shows here as a snapshot diff.

mod common;

use std::fmt::Write as _;

use bottle_backends::Topology;
use bottle_fixtures::dns_canary::DnsMode;
use bottle_harness::config::{ProxyConfig, TimeoutConfig};
use bottle_harness::plan::{self, HostSide, Plan};
use bottle_harness::target::Target;
use common::{bare_host, full_host, full_topology, microvm_topology, TopologyBuilder};

fn build(topology: &Topology, host: &HostSide, only: Option<&[String]>) -> Plan {
    let mut counter = 0u32;
    let timeouts = TimeoutConfig {
        attempt_ms: 1400,
        control_ms: 4900,
        sweep_ms: 7900,
        ..TimeoutConfig::default()
    };
    plan::build(
        topology,
        host,
        &timeouts,
        &ProxyConfig::default(),
        only,
        || {
            counter += 1;
            format!("n{counter:04}")
        },
    )
}

/// Every field of the plan, one attempt a line.
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "session: {}", plan.session);
    let _ = writeln!(out, "agent_ips: {:?}", plan.agent_ips);
    let _ = writeln!(
        out,
        "bundle_ip: {}, bundle_upstream_ip: {}, bundle_reached_ip: {}",
        plan.bundle_ip, plan.bundle_upstream_ip, plan.bundle_reached_ip
    );
    let _ = writeln!(out, "declared_ports: {:?}", plan.declared_ports);
    let _ = writeln!(
        out,
        "resolver_owned: {}, expected_resolver: {:?}",
        plan.resolver_owned, plan.expected_resolver
    );
    let _ = writeln!(
        out,
        "handshake: {:?}, dns_intercepted: {}, control_name: {}, vmm_gateway: {:?}",
        plan.handshake, plan.dns_intercepted, plan.control_name, plan.vmm_gateway
    );
    let _ = writeln!(
        out,
        "allowed_host: {}, denied_host: {}",
        plan.allowed_host, plan.denied_host
    );
    let _ = writeln!(out, "dialers: {:?}", plan.dialers);
    let _ = writeln!(out, "longest_timeout_ms: {}", plan.longest_timeout_ms());
    for probe in &plan.probes {
        let _ = writeln!(
            out,
            "\n== {} ({}){}",
            probe.spec.id,
            probe.spec.expect.as_str(),
            probe
                .skipped
                .as_deref()
                .map(|why| format!(" skipped: {why}"))
                .unwrap_or_default()
        );
        for attempt in &probe.attempts {
            let _ = writeln!(
                out,
                "{}\n    target={:?} destination={}{}",
                attempt.spec.encode(),
                attempt.target,
                attempt.destination,
                match &attempt.delivery {
                    plan::Delivery::Nowhere => String::new(),
                    other => format!(" delivery={other:?}"),
                }
            );
        }
    }
    out
}

#[test]
fn the_full_docker_plan_is_pinned() {
    let plan = build(&full_topology(), &full_host(), None);
    assert_eq!(plan.encoded_attempts().len(), plan.attempt_ids().len());
    insta::assert_snapshot!("plan_full_docker", render(&plan));
}

#[test]
fn the_microvm_plan_without_ipv6_or_icmp_recorder_is_pinned() {
    let plan = build(&microvm_topology(), &bare_host(), None);
    insta::assert_snapshot!("plan_microvm_bare_host", render(&plan));
}

/// smolvm's desktop mode: the bundle's declared ports published on this machine's loopback,
/// reached through the VMM's gateway. The proxy attempts and the ICMP control aim at the
/// gateway; the egress port and the port sweep still aim at the bundle's own address, where
/// nothing may answer.
#[test]
fn the_desktop_microvm_plan_reaches_the_bundle_through_the_gateway() {
    use bottle_backends::topology::{PublishedBundle, PublishedPort};
    let gateway: std::net::Ipv4Addr = "100.96.0.1".parse().unwrap();
    let topology = TopologyBuilder::from(&microvm_topology())
        .agent(|a| {
            a.bundle_published = Some(PublishedBundle {
                via: gateway,
                ports: [(3128, 49153), (9100, 49154), (9418, 49155)]
                    .map(|(bundle, host)| PublishedPort { bundle, host })
                    .to_vec(),
            })
        })
        .build();
    let plan = build(&topology, &bare_host(), None);
    assert_eq!(plan.bundle_reached_ip, gateway);
    assert_eq!(plan.declared_ports, [49153, 49154, 49155]);
    let destinations = |id: &str| -> Vec<String> {
        plan.probe(id)
            .unwrap()
            .attempts
            .iter()
            .map(|a| a.destination.clone())
            .collect()
    };
    assert_eq!(
        destinations("egress_bypass.port_sweep"),
        [format!("{}:1-65535", topology.layout().bundle_ip)]
    );
    assert_eq!(
        destinations("egress_bypass.direct_egress"),
        [format!("{}:9099", topology.layout().bundle_ip)]
    );
    assert_eq!(destinations("icmp.bundle_control"), ["ping 100.96.0.1"]);
    insta::assert_snapshot!("plan_microvm_desktop", render(&plan));
}

#[test]
fn a_narrowed_plan_keeps_the_controls_and_is_pinned() {
    let only = vec![
        "proxy.denied_host".to_string(),
        "dns.direct_tcp".to_string(),
    ];
    let plan = build(&full_topology(), &full_host(), Some(&only));
    insta::assert_snapshot!("plan_only_two_probes", render(&plan));
}

/// The network rule where the harness does not own the agent's resolver (a microVM whose VMM
/// forwards to this machine's resolver, as smolvm does unless told `--dns`): no attempt of the
/// plan asks the agent's resolver anything, and every probe that would is skipped with the
/// reason, never judged.
#[test]
fn a_resolver_the_harness_does_not_own_is_sent_nothing() {
    use bottle_probes::wire::AttemptKind;
    let topology = TopologyBuilder::from(&microvm_topology())
        .agent(|a| a.resolver_owned = false)
        .build();
    let plan = build(&topology, &bare_host(), None);
    let asking: Vec<&str> = plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| matches!(a.spec.kind, AttemptKind::Resolver { .. }))
        .map(|a| a.spec.id.as_str())
        .collect();
    assert!(
        asking.is_empty(),
        "attempts through the agent's resolver: {asking:?}"
    );
    for id in [
        "dns.resolver_control",
        "dns.resolver_control_tcp",
        "dns.resolver_exfil",
        "dns.resolver_exfil_tcp",
    ] {
        let probe = plan.probe(id).unwrap();
        let reason = probe.skipped.as_deref().unwrap_or_default();
        assert!(reason.contains("does not own"), "{id}: {reason:?}");
    }
    // With an owned resolver the same probes are planned.
    let owned = build(&full_topology(), &full_host(), None);
    assert!(owned
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .any(|a| matches!(a.spec.kind, AttemptKind::Resolver { .. })));
}

/// Docker Desktop (decided from the engine's `GET /info`, see backends/tests/engine_info.rs):
/// the networks' gateways are the engine VM's, where no canary of this machine listens, so the
/// gateway probe is skipped with the reason instead of judged; everything else is planned as on
/// a local engine.
#[test]
fn docker_desktop_skips_what_this_machine_cannot_see() {
    let local = build(&full_topology(), &full_host(), None);
    let desktop_topology = TopologyBuilder::from(&full_topology())
        .docker_desktop()
        .build();
    let desktop = build(&desktop_topology, &full_host(), None);
    let gateways = desktop.probe("lan.network_gateways").unwrap();
    assert!(gateways.attempts.is_empty());
    assert!(
        gateways
            .skipped
            .as_deref()
            .unwrap_or_default()
            .contains("Docker Desktop"),
        "{:?}",
        gateways.skipped
    );
    assert!(!local
        .probe("lan.network_gateways")
        .unwrap()
        .attempts
        .is_empty());
    // The bridges' IPv6 gateways are the engine VM's there, not this machine's.
    let v6_gateways: Vec<String> = full_topology()
        .networks()
        .iter()
        .filter_map(|n| n.gateway_v6)
        .map(|ip| format!("[{ip}]:"))
        .collect();
    assert!(!v6_gateways.is_empty());
    let destinations = |plan: &Plan, id: &str| -> Vec<String> {
        plan.probe(id)
            .unwrap()
            .attempts
            .iter()
            .map(|a| a.destination.clone())
            .collect()
    };
    let at_gateway = |d: &String| v6_gateways.iter().any(|g| d.starts_with(g.as_str()));
    assert!(destinations(&local, "ipv6.host_addresses")
        .iter()
        .any(at_gateway));
    let desktop_v6 = destinations(&desktop, "ipv6.host_addresses");
    assert!(!desktop_v6.iter().any(at_gateway), "{desktop_v6:?}");
    assert!(
        !desktop_v6.is_empty(),
        "this machine's own IPv6 addresses stay"
    );
    // Nor are the bridges' IPv4 gateways this machine's for its ICMP recorder to see.
    let v4_gateways: Vec<String> = full_topology()
        .networks()
        .iter()
        .map(|n| n.gateway.to_string())
        .collect();
    let pinged = |plan: &Plan| -> Vec<String> { destinations(plan, "icmp.echo") };
    let at_v4_gateway = |d: &String| {
        v4_gateways
            .iter()
            .any(|g| d.starts_with(&format!("ping {g} ")))
    };
    assert!(pinged(&local).iter().any(at_v4_gateway));
    let desktop_pings = pinged(&desktop);
    assert!(
        !desktop_pings.iter().any(at_v4_gateway),
        "{desktop_pings:?}"
    );
    for (a, b) in local.probes.iter().zip(&desktop.probes) {
        if !["lan.network_gateways", "ipv6.host_addresses", "icmp.echo"].contains(&a.spec.id) {
            assert_eq!(a.attempts.len(), b.attempts.len(), "{}", a.spec.id);
            assert_eq!(a.skipped, b.skipped, "{}", a.spec.id);
        }
    }
}

/// Docker Desktop's name for this machine (`host.docker.internal`, which the docker backend
/// reads from its checker): the localhost probes aim there with both canaries' ports, when the
/// engine itself reports Docker Desktop or this machine holds the address (a Linux engine's
/// `host-gateway` is docker0's address). An address neither vouches for is never aimed at.
#[test]
fn host_docker_internal_is_aimed_at_only_where_it_leads_to_this_machine() {
    let named = |ip: &str| bottle_backends::HostName {
        name: "host.docker.internal".into(),
        ip: ip.parse().unwrap(),
    };
    let host = full_host();
    let named_attempts = |reported, ip: &str| {
        let t = TopologyBuilder::from(&full_topology())
            .docker_desktop()
            .engine(|e| {
                e.reported = reported;
                e.host_names = vec![named(ip)];
            })
            .build();
        let plan = build(&t, &host, None);
        ["localhost.agent_loopback", "localhost.host_addresses"]
            .iter()
            .flat_map(|id| plan.probe(id).unwrap().attempts.clone())
            .filter(|a| a.destination.starts_with("host.docker.internal:"))
            .map(|a| (a.target, a.spec.kind, a.destination))
            .collect::<Vec<_>>()
    };
    let desktop_address = "192.168.65.254";
    let reported = named_attempts(bottle_backends::EngineHost::DockerDesktop, desktop_address);
    let tcp = |ip: &str, port: u16| bottle_probes::AttemptKind::Tcp {
        addr: std::net::SocketAddr::new(ip.parse().unwrap(), port),
    };
    assert_eq!(
        reported,
        [
            (
                Some(Target::HostLoopback),
                tcp(desktop_address, host.loopback_canary.port()),
                format!(
                    "host.docker.internal:{0} ({desktop_address}:{0})",
                    host.loopback_canary.port()
                ),
            ),
            (
                Some(Target::HostAllInterfaces),
                tcp(desktop_address, host.all_interfaces_port),
                format!(
                    "host.docker.internal:{0} ({desktop_address}:{0})",
                    host.all_interfaces_port
                ),
            ),
        ]
    );
    // Docker Desktop's decisions run on a Linux engine: its host-gateway is this machine's
    // docker0, where only the all-interfaces canary can answer (a Linux kernel never hands a
    // connection to docker0's address to a listener on 127.0.0.1).
    let docker0 = host.addresses[0].to_string();
    assert_eq!(
        named_attempts(bottle_backends::EngineHost::Local, &docker0),
        [(
            Some(Target::HostAllInterfaces),
            tcp(&docker0, host.all_interfaces_port),
            format!(
                "host.docker.internal:{0} ({docker0}:{0})",
                host.all_interfaces_port
            ),
        )]
    );
    // Even on Docker Desktop: never a private address on a network of this machine that is
    // not its own (another host there), nor a public address.
    for other in ["172.17.0.9", "198.51.100.7"] {
        assert!(
            named_attempts(bottle_backends::EngineHost::DockerDesktop, other).is_empty(),
            "{other}"
        );
    }
    assert!(named_attempts(bottle_backends::EngineHost::Local, desktop_address).is_empty());
}

/// The SSRF probes send nothing where they cannot prove anything: without the DNS switch of
/// the allowed name or without an address of the LAN host the bundle can reach, each is
/// skipped with the reason, never judged.
#[test]
fn the_ssrf_probes_are_skipped_without_the_dns_switch_or_the_lan_hosts_internal_leg() {
    let t = TopologyBuilder::from(&full_topology())
        .layout(|l| l.dns_switch = None)
        .build();
    let plan = build(&t, &full_host(), None);
    for id in [
        "proxy_matching.internal_name",
        "proxy_matching.dns_rebinding",
    ] {
        let probe = plan.probe(id).unwrap();
        assert!(probe.attempts.is_empty(), "{id}");
        assert!(
            probe
                .skipped
                .as_deref()
                .unwrap()
                .contains("cannot switch the allowed name's answer"),
            "{id}"
        );
    }
    let t = TopologyBuilder::from(&full_topology())
        .layout(|l| l.lan_internal_ip = None)
        .build();
    let plan = build(&t, &full_host(), None);
    for id in [
        "proxy_matching.internal_name",
        "proxy_matching.dns_rebinding",
    ] {
        let probe = plan.probe(id).unwrap();
        assert!(probe.attempts.is_empty(), "{id}");
        assert!(
            probe
                .skipped
                .as_deref()
                .unwrap()
                .contains("no side network"),
            "{id}"
        );
    }
    // With both, each has its attempts (HTTP and CONNECT) for the allowed name at the LAN
    // host, in an exec of its own under its DNS mode, internal first.
    let plan = build(&full_topology(), &full_host(), None);
    for (id, mode) in [
        ("proxy_matching.internal_name", DnsMode::Internal),
        ("proxy_matching.dns_rebinding", DnsMode::Rebind),
    ] {
        let probe = plan.probe(id).unwrap();
        assert_eq!(probe.skipped, None, "{id}");
        assert_eq!(probe.dns_mode, Some(mode), "{id}");
        assert_eq!(probe.attempts.len(), 2, "{id}");
        assert!(probe
            .attempts
            .iter()
            .all(|a| a.target == Some(bottle_harness::target::Target::Lan)
                && a.destination.contains("public.fixture.test")));
    }
    // One exec per rebinding attempt (each in a window of its own), then internal's together.
    let runs: Vec<(DnsMode, Vec<&str>)> = plan
        .dns_runs()
        .iter()
        .map(|r| {
            (
                r.mode,
                r.attempts.iter().map(|a| a.spec.id.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            (DnsMode::Rebind, vec!["proxy_matching.dns_rebinding#0"]),
            (DnsMode::Rebind, vec!["proxy_matching.dns_rebinding#1"]),
            (
                DnsMode::Internal,
                vec![
                    "proxy_matching.internal_name#0",
                    "proxy_matching.internal_name#1"
                ]
            ),
        ]
    );
    assert!(plan
        .probes_under(None)
        .all(|p| p.dns_mode.is_none() && !p.spec.id.contains("internal_name")));
}

/// The network rule for names: every name a proxy attempt asks for is a `.test` name, and
/// every one a resolver can be asked (ASCII, no percent escapes) is in the DNS canary's zone
/// or under the side channel's zone (which the canary answers NXDOMAIN): no name of a default
/// run resolves anywhere but at the harness's own canary.
#[test]
fn every_name_a_proxy_attempt_asks_for_is_a_test_name_of_the_canarys_zone() {
    use bottle_probes::wire::AttemptKind;
    let t = full_topology();
    let plan = build(&t, &full_host(), None);
    let zone = bottle_backends::proxy_names::public_zone(
        &t.layout().allowed_host,
        &t.layout().denied_host,
    );
    let strip_port = |text: &str| -> String {
        let host = if text.starts_with('[') {
            text.to_string()
        } else {
            text.rsplit_once(':').map_or(text, |(h, _)| h).to_string()
        };
        host.trim_end_matches('.').to_lowercase()
    };
    let mut names = Vec::new();
    for attempt in plan.probes.iter().flat_map(|p| &p.attempts) {
        match &attempt.spec.kind {
            AttemptKind::HttpProxy { host, .. } => names.push(strip_port(host)),
            AttemptKind::ConnectProxy { authority, .. } => names.push(strip_port(authority)),
            AttemptKind::HttpRequest {
                authority, host, ..
            } => {
                names.extend(authority.split('@').map(strip_port));
                names.push(strip_port(host));
            }
            AttemptKind::ConnectTls { authority, sni, .. } => {
                names.push(strip_port(authority));
                names.push(strip_port(sni));
            }
            _ => {}
        }
    }
    let mut checked = 0;
    for name in names {
        let literal = name.starts_with('[')
            || name.parse::<std::net::Ipv4Addr>().is_ok()
            || name
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'.');
        if literal || name == "localhost" {
            continue;
        }
        // A percent-encoded dot is a dot to a proxy that decodes it.
        let decoded = name.replace("%2e", ".");
        assert!(decoded.ends_with(".test"), "{name} is not a .test name");
        if name.is_ascii() && !name.contains('%') {
            assert!(
                zone.contains(&name) || name.ends_with(".leak.fixture.test"),
                "{name} is asked for but not in the DNS canary's zone"
            );
        }
        checked += 1;
    }
    assert!(checked > 40, "only {checked} names checked");
}

/// The names the bundle may look up on its own (its lookups of them are explained, not charged):
/// exactly the zone's names (the SSRF probes ask for the allowed name), and nothing a nonce
/// name could match.
#[test]
fn the_plan_lists_the_names_the_proxy_attempts_ask_for() {
    let t = full_topology();
    let plan = build(&t, &full_host(), None);
    let want = bottle_backends::proxy_names::public_zone(
        &t.layout().allowed_host,
        &t.layout().denied_host,
    );
    assert_eq!(plan.proxy_names, want);
    for name in [
        "public.fixture.test",
        "blocked.fixture.test",
        "xpublic.fixture.test",
        "evil.fixture.test",
        "xn--blcked-xqf.fixture.test",
    ] {
        assert!(plan.proxy_names.iter().any(|n| n == name), "{name}");
    }
    assert!(plan
        .proxy_names
        .iter()
        .all(|n| !n.is_empty() && n.ends_with(".test")));
}
