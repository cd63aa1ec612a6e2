//! The bottle's layout on one attempt's planned networks: the [`Topology`] the probes are
//! planned against (every pinned address follows from the subnets) and the containers to
//! start (bundle; public host, which also stands for the DNS canary; LAN host; neighbour
//! bundle, which also stands for the metadata service; agent; and the harness's own vantage
//! points, whose shapes `vantage` owns), with the sabotages applied.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::commands::{bundle_cmd, fixture_commands};
use super::images::{self, Images};
use super::plan::{AgentFile, PlannedContainer, PlannedNetwork};
use super::roles::{ContainerRole, NetworkRole};
use super::routes::{METADATA_IP, ROUTED_ROLES, SABOTAGE_TOOL_DIR};
use super::subnets::v6_host;
use super::vantage::{checker, checker_legs, recorder, wants_checker, CheckerLeg};
use crate::errors::BackendError;
use crate::labels;
use crate::spec::{host_in, hosts, BottleSpec};
use crate::topology::{DnsSwitch, FixtureHost, NetworkInfo, Topology};

/// What the bottle's containers need copied in before they start. Read once, before any
/// attempt at a bring-up.
#[derive(Clone, Default)]
pub(crate) struct BottleFiles {
    /// The probe, into a user-provided agent image, and the route tool for the ip-forward
    /// sabotage.
    pub(crate) agent: Vec<AgentFile>,
    /// The probe, into the checker (the fixture image holds only the fixture binary).
    pub(crate) checker: Vec<AgentFile>,
    /// The probe, into the recorder on the bundle's loopback: its liveness checks are sent
    /// from inside the bundle's namespace.
    pub(crate) recorder: Vec<AgentFile>,
}

/// Reads what [`BottleFiles`] holds for this bottle.
pub(crate) fn bottle_files(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
) -> Result<BottleFiles, BackendError> {
    let read =
        |what: &'static str, path: &std::path::Path| images::read_binary(what, path).map(Arc::new);
    let probe = || {
        read("probe binary", &spec.probe_binary).map(|bytes| AgentFile {
            dir: images::USER_PROBE_DIR,
            name: "bottle-probe",
            bytes,
        })
    };
    let mut files = BottleFiles::default();
    if in_container && images.agent_is_user {
        files.agent.push(probe()?);
    }
    if in_container && spec.sabotage.ip_forward {
        // The agent needs the route tool for its sabotaged route (see `route_through_bundle`).
        files.agent.push(AgentFile {
            dir: SABOTAGE_TOOL_DIR,
            name: "bottle-fixture",
            bytes: read("fixture binary", &spec.fixture_binary)?,
        });
    }
    if wants_checker(spec) {
        files.checker.push(probe()?);
    }
    files.recorder.push(probe()?);
    Ok(files)
}

/// Everything about the bottle that follows from its networks' subnets: the topology the
/// probes are planned against and the containers to start.
pub(crate) fn plan_bottle(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    metadata_unavailable: Option<String>,
    networks: &[PlannedNetwork],
    files: &BottleFiles,
) -> Result<(Topology, Vec<PlannedContainer>), BackendError> {
    let topology = plan_topology(spec, in_container, metadata_unavailable, networks);
    let containers = plan_containers(spec, images, in_container, &topology, files)?;
    Ok((topology, containers))
}

/// The planned networks as the topology describes them.
struct Networks {
    agent: NetworkInfo,
    upstream: NetworkInfo,
    lan: NetworkInfo,
    neighbour: NetworkInfo,
    public6: NetworkInfo,
    metadata: Option<NetworkInfo>,
    checker: Option<NetworkInfo>,
}

impl Networks {
    fn from_plan(networks: &[PlannedNetwork]) -> Self {
        let info = |role: NetworkRole| {
            networks
                .iter()
                .find(|n| n.role == role)
                .map(PlannedNetwork::info)
        };
        let network = |role| info(role).expect("plan_networks plans every network but one");
        Self {
            agent: network(NetworkRole::Agent),
            upstream: network(NetworkRole::Upstream),
            lan: network(NetworkRole::Lan),
            neighbour: network(NetworkRole::Neighbour),
            public6: network(NetworkRole::Public6),
            metadata: info(NetworkRole::Metadata),
            checker: info(NetworkRole::Checker),
        }
    }
}

/// The topology the probes are planned against: every address pinned inside the planned subnets.
// Long: one literal naming every field of the topology, each next to the address it is pinned to.
fn plan_topology(
    spec: &BottleSpec,
    in_container: bool,
    metadata_unavailable: Option<String>,
    networks: &[PlannedNetwork],
) -> Topology {
    let Networks {
        agent: agent_net,
        upstream: upstream_net,
        lan: lan_net,
        neighbour: neighbour_net,
        public6: public6_net,
        metadata: metadata_net,
        checker: checker_net,
    } = Networks::from_plan(networks);
    let agent_base = agent_net.gateway;
    let upstream_base = upstream_net.gateway;
    let neighbour_base = neighbour_net.gateway;
    // The public host's IPv6 address lives on a network only it joins (and the harness's
    // checker, where the bottle has one), so no other fixture
    // (and never the bundle) talks IPv6 behind the harness's back. An engine that cannot make
    // IPv6 networks leaves it out, and the IPv6 probe of the public host says so.
    let public_v6 = public6_net
        .subnet_v6
        .as_ref()
        .and(public6_net.gateway_v6)
        .map(|gateway| v6_host(gateway, u16::from(hosts::PUBLIC)));
    let mut agent_extra_ips = Vec::new();
    if spec.sabotage.agent_on_upstream {
        agent_extra_ips.push(host_in(upstream_base, hosts::AGENT_UPSTREAM));
    }
    if spec.sabotage.neighbour_reachable {
        agent_extra_ips.push(host_in(neighbour_base, hosts::AGENT_NEIGHBOUR));
    }
    let mut neighbour_ports = spec.ports.declared();
    neighbour_ports.push(spec.ports.egress);
    let with_metadata = metadata_unavailable.is_none();
    let fixture = |name: &str, ip: Ipv4Addr, ports: Vec<u16>| FixtureHost {
        name: name.into(),
        ip,
        ports,
    };
    // The LAN host's second leg, on the network the bundle shares with the metadata fixture:
    // a private address the bundle can reach, where the SSRF probes' allowed names lead.
    let lan_internal_ip = metadata_net
        .as_ref()
        .map(|n| host_in(n.gateway, hosts::LAN_INTERNAL));
    let checker_ips = checker_net
        .as_ref()
        .map(|own| {
            checker_legs(own, &upstream_net, &lan_net, &public6_net)
                .iter()
                .flat_map(CheckerLeg::addresses)
                .collect()
        })
        .unwrap_or_default();
    Topology {
        checker_ips,
        checker_network: checker_net,
        bundle_loopback_port: Some(hosts::BUNDLE_LOOPBACK_PORT),
        // Read from the engine once the bottle runs (see `checker::complete_topology`).
        engine_host_names: vec![],
        // The SSRF probes' switch, wherever the LAN host has an internal leg to lead to.
        dns_switch: lan_internal_ip.map(|_| DnsSwitch {
            name: spec.allowed_host.clone(),
            secret: spec.dns_switch_secret.clone(),
        }),
        lan_internal_ip,
        metadata: with_metadata.then(|| fixture("metadata", METADATA_IP, vec![80])),
        metadata_upstream_ip: with_metadata
            .then_some(host_in(upstream_base, hosts::METADATA_UPSTREAM)),
        metadata_unavailable,
        inbound_port: in_container.then_some(hosts::INBOUND_PORT),
        agent_ip_v6: agent_net
            .gateway_v6
            .filter(|_| in_container)
            .map(|gateway| v6_host(gateway, u16::from(hosts::AGENT))),
        metadata_leg_ip: metadata_net
            .as_ref()
            .filter(|_| with_metadata)
            .map(|n| host_in(n.gateway, hosts::METADATA_UPSTREAM)),
        metadata_network: metadata_net,
        backend: "docker".into(),
        run_id: spec.run_id.clone(),
        agent_ip: if in_container {
            host_in(agent_base, hosts::AGENT)
        } else {
            // The microVM's connections originate from the host's address on this bridge.
            host_in(agent_base, 1)
        },
        agent_extra_ips,
        bundle_ip: host_in(agent_base, hosts::BUNDLE),
        bundle_upstream_ip: host_in(upstream_base, hosts::BUNDLE),
        bundle_name: ContainerRole::Bundle.as_str().into(),
        ports: spec.ports,
        public: fixture(
            "public",
            host_in(upstream_base, hosts::PUBLIC),
            vec![80, 443],
        ),
        // 443 too: the SSRF probes' tunnels ask for the controls' port (see
        // `plan::proxy_matching`), and a proxy without the check must get there.
        lan: fixture(
            "lan",
            host_in(lan_net.gateway, hosts::LAN),
            vec![80, 22, 443],
        ),
        dns: fixture("dns", host_in(upstream_base, hosts::DNS), vec![53]),
        allowed_host: spec.allowed_host.clone(),
        denied_host: spec.denied_host.clone(),
        engine_host: spec.engine_host,
        engine_host_reported: spec.engine_host_reported,
        sabotaged: !spec.sabotage.is_clean(),
        resolver_owned: true,
        guest_host_gateway: None,
        // Docker's embedded DNS on user-defined networks; a microVM's resolver is smolvm's.
        agent_resolver: in_container.then(|| "127.0.0.11:53".parse().expect("literal")),
        public_v6,
        public_v6_network: Some(public6_net),
        neighbour: Some(fixture(
            "neighbour",
            host_in(neighbour_base, hosts::BUNDLE),
            neighbour_ports,
        )),
        neighbour_upstream_ip: Some(host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM)),
        neighbour_network: Some(neighbour_net),
        agent_network: agent_net,
        upstream_network: upstream_net,
        lan_network: lan_net,
    }
}

/// The containers to start, in this order: bundle, public host, LAN host, neighbour, (for a
/// container agent) the agent and (when this machine cannot reach the fixtures) the checker,
/// each with the sabotages that concern it.
fn plan_containers(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    topology: &Topology,
    files: &BottleFiles,
) -> Result<Vec<PlannedContainer>, BackendError> {
    let sabotage = &spec.sabotage;
    let commands = fixture_commands(topology);
    let mut planned = vec![
        bundle(spec, images, topology),
        public_host(images, topology, commands.public),
        lan_host(images, topology, commands.lan),
        neighbour_host(images, topology, commands.neighbour),
        // Planned (and its sabotage checked) even when the agent is a microVM, then left out.
        agent(spec, images, topology)?,
    ];
    if let Some(own) = &topology.checker_network {
        planned.push(checker(images, topology, own, files.checker.clone()));
    }
    planned.push(recorder(images, files.recorder.clone()));
    let planned = planned
        .into_iter()
        .filter(|p| in_container || p.role != ContainerRole::Agent)
        .map(|mut p| {
            if let (Some(ms), true) = (sabotage.slow_fixtures_ms, p.announces_ready) {
                p.cmd.extend(["--delay-ms".to_string(), ms.to_string()]);
            }
            if sabotage.ip_forward && ROUTED_ROLES.contains(&p.role) {
                p.cap_add.push("NET_ADMIN".into());
            }
            // Sabotage: the agent resolves through the bundle's forwarder.
            if p.role == ContainerRole::Agent && sabotage.resolver_forwards {
                p.dns = topology.bundle_ip;
            }
            if p.role == ContainerRole::Agent {
                p.files = files.agent.clone();
            }
            // The bundle's route to the metadata service needs only the bundle's own leg: it
            // is set as soon as the bundle runs, while the other containers still start.
            p.route_metadata = p.role == ContainerRole::Bundle && topology.metadata.is_some();
            p
        })
        .collect();
    Ok(planned)
}

/// The bundle on the agent network, with legs on the upstream and metadata networks. It carries
/// the topology label, by which `attach` finds the bottle again.
fn bundle(spec: &BottleSpec, images: &Images, topology: &Topology) -> PlannedContainer {
    let topology_json = serde_json::to_string(topology).expect("topology serialises");
    let bundle_metadata_ip = topology
        .metadata_network
        .as_ref()
        .map(|n| host_in(n.gateway, hosts::BUNDLE));
    let more = std::iter::once((
        topology.upstream_network.name.clone(),
        topology.bundle_upstream_ip,
    ))
    .chain(
        topology
            .metadata_network
            .as_ref()
            .zip(bundle_metadata_ip)
            .map(|(n, ip)| (n.name.clone(), ip)),
    )
    .collect();
    // A user's bundle starts as its image says (ENTRYPOINT and CMD); the built-in one runs
    // the fixture binary's bundle command.
    let (entrypoint, cmd) = if images.bundle_is_user {
        (vec![], vec![])
    } else {
        (
            vec![images::FIXTURE_PATH.to_string()],
            bundle_cmd(spec, topology),
        )
    };
    PlannedContainer::new(
        ContainerRole::Bundle,
        images.bundle.clone(),
        topology.agent_network.name.clone(),
        topology.bundle_ip,
        topology.dns.ip,
    )
    .entrypoint(entrypoint)
    .cmd(cmd)
    .image_command(images.bundle_is_user)
    .aliases(vec![topology.bundle_name.clone()])
    .more(more)
    // A dual-homed bundle must not route between its legs.
    .sysctl(
        "net.ipv4.ip_forward",
        if spec.sabotage.ip_forward { "1" } else { "0" },
    )
    .announces_ready(!images.bundle_is_user)
    .label(labels::TOPOLOGY, topology_json)
}

/// A fixture host running the canary command `cmd` on `network` at `ip`; ready when it says so.
fn fixture_host(
    role: ContainerRole,
    images: &Images,
    topology: &Topology,
    (network, ip): (&NetworkInfo, Ipv4Addr),
    cmd: Vec<String>,
) -> PlannedContainer {
    PlannedContainer::new(
        role,
        images.fixture.clone(),
        network.name.clone(),
        ip,
        topology.dns.ip,
    )
    .entrypoint(vec![images::FIXTURE_PATH.to_string()])
    .cmd(cmd)
    .announces_ready(true)
}

/// The public host on the upstream network (named as both the allowed and the denied host),
/// with its own IPv6 leg.
fn public_host(images: &Images, topology: &Topology, cmd: Vec<String>) -> PlannedContainer {
    let on = (&topology.upstream_network, topology.public.ip);
    let more_v6 = topology
        .public_v6_network
        .as_ref()
        .zip(topology.public_v6)
        .map(|(n, ip_v6)| (n.name.clone(), host_in(n.gateway, hosts::PUBLIC), ip_v6))
        .into_iter()
        .collect();
    // No network aliases: every name the suite uses resolves at the DNS canary only (see
    // `commands::public_cmd`), so the zone is the harness's and one place says what it holds.
    fixture_host(ContainerRole::Public, images, topology, on, cmd)
        .more_v6(more_v6)
        // For the DNS canary's address (a fixture, never the bottle).
        .cap_add(vec!["NET_ADMIN".into()])
}

/// The LAN host, alone on the LAN network.
fn lan_host(images: &Images, topology: &Topology, cmd: Vec<String>) -> PlannedContainer {
    let on = (&topology.lan_network, topology.lan.ip);
    // Its internal leg, where the SSRF probes' allowed names resolve: reachable from the
    // bundle (a proxy without an SSRF check gets there), never from the agent.
    let more = topology
        .metadata_network
        .as_ref()
        .zip(topology.lan_internal_ip)
        .map(|(n, ip)| (n.name.clone(), ip))
        .into_iter()
        .collect();
    fixture_host(ContainerRole::Lan, images, topology, on, cmd).more(more)
}

/// A second bottle's bundle: its service ports on its own agent network, and a leg on the
/// upstream network like any bundle (where the harness checks it is alive).
fn neighbour_host(images: &Images, topology: &Topology, cmd: Vec<String>) -> PlannedContainer {
    let network = topology
        .neighbour_network
        .as_ref()
        .expect("a docker topology has a neighbour network");
    let neighbour = topology
        .neighbour
        .as_ref()
        .expect("a docker topology has a neighbour");
    let more = std::iter::once((
        topology.upstream_network.name.clone(),
        host_in(topology.upstream_network.gateway, hosts::NEIGHBOUR_UPSTREAM),
    ))
    // The metadata service's leg, next to the bundle's.
    .chain(
        topology
            .metadata_network
            .as_ref()
            .zip(topology.metadata_leg_ip)
            .map(|(n, ip)| (n.name.clone(), ip)),
    )
    .collect();
    let on = (network, neighbour.ip);
    fixture_host(ContainerRole::Neighbour, images, topology, on, cmd)
        .more(more)
        // For the metadata service's addresses (a fixture, never the bottle).
        .cap_add(if topology.metadata.is_some() {
            vec!["NET_ADMIN".into()]
        } else {
            vec![]
        })
}

/// The agent on the agent network, idle until the probe is exec'd; on further networks and
/// with the engine's socket only when sabotaged.
fn agent(
    spec: &BottleSpec,
    images: &Images,
    topology: &Topology,
) -> Result<PlannedContainer, BackendError> {
    let sabotage = &spec.sabotage;
    let upstream_base = topology.upstream_network.gateway;
    let mut more = Vec::new();
    if sabotage.agent_on_upstream {
        more.push((
            topology.upstream_network.name.clone(),
            host_in(upstream_base, hosts::AGENT_UPSTREAM),
        ));
    }
    if sabotage.neighbour_reachable {
        let neighbour_net = topology
            .neighbour_network
            .as_ref()
            .expect("a docker topology has a neighbour network");
        more.push((
            neighbour_net.name.clone(),
            host_in(neighbour_net.gateway, hosts::AGENT_NEIGHBOUR),
        ));
    }
    let binds = if sabotage.engine_socket {
        vec![engine_socket_bind()?]
    } else {
        vec![]
    };
    Ok(PlannedContainer::new(
        ContainerRole::Agent,
        images.agent.clone(),
        topology.agent_network.name.clone(),
        topology.agent_ip,
        topology.dns.ip,
    )
    .entrypoint(vec![images.probe_path().to_string()])
    .cmd(vec!["idle".to_string()])
    .ip_v6(topology.agent_ip_v6)
    .more(more)
    .binds(binds))
}

/// The engine-socket sabotage's bind mount: the unix socket this harness talks to.
fn engine_socket_bind() -> Result<String, BackendError> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let path = host.strip_prefix("unix://").unwrap_or("");
    if path.is_empty() || !std::path::Path::new(path).exists() {
        return Err(BackendError::FixtureStart {
            name: ContainerRole::Agent.as_str().into(),
            reason: format!(
                "the engine-socket sabotage needs a unix socket engine; DOCKER_HOST is {host}"
            ),
        });
    }
    Ok(format!("{path}:/var/run/docker.sock"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::plan::plan_networks;
    use crate::platform::{Arch, EngineHost};
    use crate::spec::{ImageSource, Ports, Sabotage};

    fn spec(engine_host: EngineHost, probe: &std::path::Path) -> BottleSpec {
        BottleSpec {
            run_id: "cbtest000001".into(),
            agent: ImageSource::Builtin {
                binary: probe.into(),
            },
            bundle: ImageSource::Builtin {
                binary: probe.into(),
            },
            fixture_binary: probe.into(),
            probe_binary: probe.into(),
            arch: Arch::X86_64,
            engine_host,
            engine_host_reported: EngineHost::Local,
            ports: Ports::default(),
            allowed_host: "public.fixture.test".into(),
            denied_host: "blocked.fixture.test".into(),
            dns_switch_secret: "5ec4e7".into(),
            sabotage: Sabotage::default(),
            keep: false,
        }
    }

    fn images() -> Images {
        Images {
            agent: "cb-agent:t".into(),
            agent_is_user: false,
            bundle: "cb-bundle:t".into(),
            bundle_is_user: false,
            fixture: "cb-fixture:t".into(),
        }
    }

    fn planned(engine_host: EngineHost) -> (Topology, Vec<PlannedContainer>) {
        planned_with(engine_host, true)
    }

    /// The layout of a bottle for an engine at `engine_host`, with or without IPv6.
    pub(crate) fn planned_with(
        engine_host: EngineHost,
        with_v6: bool,
    ) -> (Topology, Vec<PlannedContainer>) {
        let probe = std::env::temp_dir().join(format!("cb-layout-probe-{}", std::process::id()));
        std::fs::write(&probe, b"\x7fELF probe").unwrap();
        let spec = spec(engine_host, &probe);
        let files = bottle_files(&spec, &images(), true).unwrap();
        let networks = plan_networks(&spec, true, true, with_v6, 1);
        let planned = plan_bottle(
            &spec,
            &images(),
            true,
            Some("off".into()),
            &networks,
            &files,
        );
        let _ = std::fs::remove_file(&probe);
        planned.unwrap()
    }

    /// A local engine's bottle has no checker; Docker Desktop's has one on the fixture
    /// networks (never the agent's), idle with the probe copied in, and `host.docker.internal`
    /// mapped to the engine's host-gateway.
    #[test]
    fn only_an_engine_elsewhere_gets_a_checker_on_the_fixture_networks() {
        let (topology, containers) = planned(EngineHost::Local);
        assert!(topology.checker_ips.is_empty());
        assert!(!containers.iter().any(|c| c.role == ContainerRole::Checker));

        let (topology, containers) = planned(EngineHost::DockerDesktop);
        let checker: Vec<_> = containers
            .iter()
            .filter(|c| c.role == ContainerRole::Checker)
            .collect();
        assert_eq!(checker.len(), 1);
        let checker = checker[0];
        assert_eq!(checker.image, "cb-fixture:t");
        assert_eq!(checker.entrypoint, [images::USER_PROBE_PATH]);
        assert_eq!(checker.cmd, ["idle"]);
        assert_eq!(checker.extra_hosts, ["host.docker.internal:host-gateway"]);
        assert!(!checker.announces_ready);
        assert_eq!(checker.files.len(), 1);
        assert_eq!(checker.files[0].bytes.as_slice(), b"\x7fELF probe");
        let joined = checker.networks();
        assert!(!joined.contains(&topology.agent_network.name.as_str()));
        let own = topology.checker_network.as_ref().unwrap();
        let public6 = topology.public_v6_network.as_ref().unwrap();
        // Its own network first: the one it is created on, where its default route goes.
        assert_eq!(checker.network, own.name);
        assert_eq!(
            joined,
            [
                &own.name,
                &topology.upstream_network.name,
                &topology.lan_network.name,
                &public6.name
            ]
            .map(String::as_str)
        );
        assert!(checker
            .sysctls
            .contains(&("net.ipv4.ip_forward".to_string(), "0".to_string())));
        let at = |n: &NetworkInfo| std::net::IpAddr::V4(host_in(n.gateway, hosts::CHECKER));
        assert_eq!(checker.ip, host_in(own.gateway, hosts::CHECKER));
        let mut expected = vec![
            at(own),
            at(&topology.upstream_network),
            at(&topology.lan_network),
            at(public6),
        ];
        expected.extend(
            public6
                .gateway_v6
                .map(|g| std::net::IpAddr::V6(v6_host(g, u16::from(hosts::CHECKER)))),
        );
        assert_eq!(topology.checker_ips, expected);
        assert_eq!(topology.checker_ips.len(), 5, "public6 has IPv6 here");
        // Without IPv6 the public IPv6 network is not joined, and no address there is claimed.
        let (topology, containers) = planned_with(EngineHost::DockerDesktop, false);
        let checker = containers
            .iter()
            .find(|c| c.role == ContainerRole::Checker)
            .unwrap();
        assert_eq!(checker.networks().len(), 3);
        assert_eq!(topology.checker_ips.len(), 3);
        // Everything else is as on a local engine.
        assert_eq!(containers.len(), planned(EngineHost::Local).1.len() + 1);
    }
}
