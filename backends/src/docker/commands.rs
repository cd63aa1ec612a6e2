//! The command lines of the fixture containers (`bottle-fixture bundle ...` and
//! `bottle-fixture canary ...`): which listeners each binds, which addresses it also holds, the
//! names it records them under and whom it keeps dialling. All of it follows from the layout.

use std::net::Ipv4Addr;

use super::routes::METADATA_IP;
use crate::proxy_names;
use crate::spec::{host_in, hosts, BottleSpec};
use crate::topology::Layout;

/// The bundle's command: pipelock, git-gate and supervise on every interface, egress on the
/// bundle's loopback, plus whatever the sabotage asks for.
pub(crate) fn bundle_cmd(spec: &BottleSpec, layout: &Layout) -> Vec<String> {
    let dns_ip = layout.dns.ip;
    let ports = spec.ports;
    let egress_host = if spec.sabotage.egress_all_interfaces {
        "0.0.0.0"
    } else {
        "127.0.0.1"
    };
    let mut cmd = vec![
        "bundle".to_string(),
        "--pipelock".into(),
        format!("0.0.0.0:{}", ports.pipelock),
        "--egress".into(),
        format!("{egress_host}:{}", ports.egress),
        "--git-gate".into(),
        format!("0.0.0.0:{}", ports.git_gate),
        "--supervise".into(),
        format!("0.0.0.0:{}", ports.supervise),
        "--allow".into(),
        // The allowed name only: the SSRF probes use it too, its answer switched at the DNS
        // canary.
        spec.allowed_host.clone(),
        // The upstream network stands for the internet: pipelock's SSRF check exempts it (as
        // `ssrf.ip_allowlist` would), and every other private address stays internal.
        "--public-net".into(),
        layout.upstream_network.subnet.clone(),
    ];
    if let Some(subnet) = layout
        .public_v6_network
        .as_ref()
        .and_then(|n| n.subnet_v6.clone())
    {
        cmd.extend(["--public-net".to_string(), subnet]);
    }
    let sabotage = &spec.sabotage;
    for (on, flag) in [
        (sabotage.pipelock_match_suffix, "--match-suffix"),
        (sabotage.pipelock_match_substring, "--match-substring"),
        (sabotage.pipelock_userinfo_as_host, "--userinfo-as-host"),
        (
            sabotage.pipelock_route_by_host_header,
            "--route-by-host-header",
        ),
        (sabotage.pipelock_no_sni_check, "--no-sni-check"),
        (sabotage.pipelock_no_ssrf_check, "--no-ssrf-check"),
        (sabotage.pipelock_no_pinning, "--no-pinning"),
    ] {
        if on {
            cmd.push(flag.into());
        }
    }
    if spec.sabotage.pipelock_allow_all {
        cmd.push("--allow-all".into());
    }
    if spec.sabotage.pipelock_allow_ip_literals {
        cmd.push("--allow-ip-literals".into());
    }
    if spec.sabotage.resolver_forwards {
        cmd.push("--dns-forward".into());
        cmd.push(format!("{}:53", dns_ip));
    }
    if let Some(port) = spec.sabotage.extra_bundle_listener {
        cmd.push("--extra-listener".into());
        cmd.push(format!("0.0.0.0:{port}"));
    }
    cmd
}

/// The canary commands of the three fixture hosts.
pub(crate) struct FixtureCommands {
    pub(crate) public: Vec<String>,
    pub(crate) lan: Vec<String>,
    pub(crate) neighbour: Vec<String>,
}

/// The fixture hosts' commands for a docker layout (which always has a neighbour).
pub(crate) fn fixture_commands(layout: &Layout) -> FixtureCommands {
    FixtureCommands {
        public: public_cmd(layout),
        lan: lan_cmd(layout),
        neighbour: neighbour_cmd(layout),
    }
}

/// The recorder on the bundle's loopback: a canary on one port of every loopback address of
/// the namespace it runs in (the bundle's), named for that place.
pub(crate) fn recorder_cmd() -> Vec<String> {
    vec![
        "canary".into(),
        "--name".into(),
        bottle_fixtures::records::FixtureName::BundleLoopback.to_string(),
        "--tcp-loopback".into(),
        hosts::BUNDLE_LOOPBACK_PORT.to_string(),
    ]
}

/// A canary named `name` with TCP listeners on `tcp`, the UDP echo when `udp`, and ICMP.
fn canary_cmd(name: &str, tcp: &[u16], udp: bool) -> Vec<String> {
    let mut cmd = vec!["canary".to_string(), "--name".into(), name.to_string()];
    for port in tcp {
        cmd.extend(["--tcp".to_string(), format!("[::]:{port}")]);
    }
    if udp {
        cmd.extend([
            "--udp".to_string(),
            format!("[::]:{}", hosts::UDP_ECHO_PORT),
        ]);
    }
    cmd.push("--icmp".into());
    cmd
}

/// Dialers: every outside host keeps trying the agent's inbound listener, at the agent's
/// address and at any address it has on that host's own network.
fn dial(cmd: &mut Vec<String>, layout: &Layout, targets: &[Ipv4Addr]) {
    if let Some(port) = layout.inbound_port {
        for ip in targets {
            cmd.extend(["--dial".to_string(), format!("{ip}:{port}")]);
        }
    }
}

/// The public host also stands for the DNS canary: it keeps its own address (a secondary on
/// the public host's upstream interface) and its own name in the records, and the bring-up
/// starts one container fewer (each costs ~150-300 ms here).
fn public_cmd(layout: &Layout) -> Vec<String> {
    let upstream_base = layout.upstream_network.gateway;
    let dns_ip = layout.dns.ip;
    let mut cmd = canary_cmd("public", &[80, 443], true);
    dial(
        &mut cmd,
        layout,
        &[
            layout.agent_ip,
            host_in(upstream_base, hosts::AGENT_UPSTREAM),
        ],
    );
    let public_ip = layout.public.ip;
    cmd.extend([
        "--address".to_string(),
        format!("@{public_ip}:dns={dns_ip}"),
        "--name-for".to_string(),
        format!("{dns_ip}=dns"),
    ]);
    cmd.extend(["--dns".to_string(), format!("{dns_ip}:53")]);
    cmd.extend(dns_zone(layout));
    cmd
}

/// The DNS canary's zone: the names of the proxy probes (every one resolves here and nowhere
/// else), and the allowed name's switch between the public host and the LAN host's internal
/// address, which the harness sets between its probe execs (the SSRF probes).
fn dns_zone(layout: &Layout) -> Vec<String> {
    let public_ip = layout.public.ip;
    let mut flags = Vec::new();
    for name in proxy_names::public_zone(&layout.allowed_host, &layout.denied_host) {
        flags.extend(["--dns-answer".to_string(), format!("{name}={public_ip}")]);
    }
    // The resolver controls' name, for an agent whose resolver forwards it here (a smolvm
    // guest's, whose upstream the backend points at this canary); Docker's embedded DNS
    // answers a container agent's query for it itself. The answer is where the agent reaches
    // the bundle (see `Layout::bundle_via`).
    flags.extend([
        "--dns-answer".to_string(),
        format!(
            "{}={}",
            layout.bundle_name,
            layout.bundle_via.unwrap_or(layout.bundle_ip)
        ),
    ]);
    if let (Some(internal), Some(switch)) = (layout.lan_internal_ip, &layout.dns_switch) {
        flags.extend([
            "--dns-switch".to_string(),
            format!("{}={public_ip},{internal},{}", switch.name, switch.secret),
        ]);
    }
    flags
}

fn lan_cmd(layout: &Layout) -> Vec<String> {
    let mut cmd = canary_cmd("lan", &layout.lan.ports, true);
    dial(&mut cmd, layout, &[layout.agent_ip]);
    cmd
}

/// The neighbour's container also stands for the cloud-metadata service (one container
/// fewer to start): 169.254.169.254 on its leg of the metadata network, where the bundle's
/// route points, and a second address on the upstream network for this machine's liveness
/// check; both listen on port 80 only and carry the name `metadata` in the records. The
/// neighbour's own addresses and listeners are unchanged, and it has no IPv6, so the
/// default route the (non-internal) metadata network gives it leads nowhere new.
fn neighbour_cmd(layout: &Layout) -> Vec<String> {
    let neighbour = layout
        .neighbour
        .as_ref()
        .expect("a docker layout has a neighbour");
    let neighbour_base = layout
        .neighbour_network
        .as_ref()
        .expect("a docker layout has a neighbour network")
        .gateway;
    let upstream_base = layout.upstream_network.gateway;
    let mut cmd = canary_cmd("neighbour", &neighbour.ports, true);
    dial(
        &mut cmd,
        layout,
        &[
            layout.agent_ip,
            host_in(neighbour_base, hosts::AGENT_NEIGHBOUR),
        ],
    );
    if let (Some(_), Some(leg)) = (&layout.metadata, layout.metadata_leg_ip) {
        let neighbour_upstream = host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM);
        let metadata_upstream_ip = host_in(upstream_base, hosts::METADATA_UPSTREAM);
        for (held, alias, ip) in [
            (leg, "md", METADATA_IP),
            (neighbour_upstream, "mdup", metadata_upstream_ip),
        ] {
            cmd.extend([
                "--address".to_string(),
                format!("@{held}:{alias}={ip}"),
                "--tcp".to_string(),
                format!("{ip}:80"),
            ]);
        }
        for ip in [METADATA_IP, metadata_upstream_ip, leg] {
            cmd.extend(["--name-for".to_string(), format!("{ip}=metadata")]);
        }
    }
    cmd
}
