//! The bottle on one attempt's planned networks: the [`Layout`] the probes are planned against
//! (`addresses` pins every address inside the subnets) and the containers to start (bundle; public host, which also stands for the DNS canary; LAN host; neighbour
//! bundle, which also stands for the metadata service; agent; and the harness's own vantage
//! points, whose shapes `vantage` owns), with the sabotages applied.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::addresses::plan_layout;
use super::commands::{bundle_cmd, fixture_commands};
use super::images::{self, Images};
use super::plan::{wants_checker, AgentFile, PlannedContainer, PlannedNetwork};
use super::roles::ContainerRole;
use super::routes::{ROUTED_ROLES, SABOTAGE_TOOL_DIR};
use super::vantage::{checker, recorder};
use crate::errors::BackendError;
use crate::labels;
use crate::spec::{host_in, hosts, BottleSpec};
use crate::topology::{Layout, NetworkInfo};

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

/// Everything about the bottle that follows from its networks' subnets: the layout the
/// probes are planned against and the containers to start. `bundle_via`: where the agent
/// reaches the bundle's published ports (smolvm's desktop mode), which the DNS canary gives as
/// the bundle's address.
pub(crate) fn plan_bottle(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    metadata_unavailable: Option<String>,
    networks: &[PlannedNetwork],
    files: &BottleFiles,
    bundle_via: Option<Ipv4Addr>,
) -> Result<(Layout, Vec<PlannedContainer>), BackendError> {
    let layout = Layout {
        bundle_via,
        ..plan_layout(spec, in_container, metadata_unavailable, networks)
    };
    let containers = plan_containers(spec, images, in_container, &layout, files)?;
    Ok((layout, containers))
}

/// The containers to start, in this order: bundle, public host, LAN host, neighbour, (for a
/// container agent) the agent and (when this machine cannot reach the fixtures) the checker,
/// each with the sabotages that concern it.
fn plan_containers(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    layout: &Layout,
    files: &BottleFiles,
) -> Result<Vec<PlannedContainer>, BackendError> {
    let sabotage = &spec.sabotage;
    let commands = fixture_commands(layout);
    let mut planned = vec![
        bundle(spec, images, layout),
        public_host(images, layout, commands.public),
        lan_host(images, layout, commands.lan),
        neighbour_host(images, layout, commands.neighbour),
        // Planned (and its sabotage checked) even when the agent is a microVM, then left out.
        agent(spec, images, layout)?,
    ];
    if let Some(own) = &layout.checker_network {
        planned.push(checker(images, layout, own, files.checker.clone()));
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
                p.dns = layout.bundle_ip;
            }
            if p.role == ContainerRole::Agent {
                p.files = files.agent.clone();
            }
            // The bundle's route to the metadata service needs only the bundle's own leg: it
            // is set as soon as the bundle runs, while the other containers still start.
            p.route_metadata = p.role == ContainerRole::Bundle && layout.metadata.is_some();
            p
        })
        .collect();
    Ok(planned)
}

/// The bundle on the agent network, with legs on the upstream and metadata networks. It carries
/// the layout label, by which `attach` finds the bottle again.
fn bundle(spec: &BottleSpec, images: &Images, layout: &Layout) -> PlannedContainer {
    let topology_json = serde_json::to_string(layout).expect("layout serialises");
    let bundle_metadata_ip = layout
        .metadata_network
        .as_ref()
        .map(|n| host_in(n.gateway, hosts::BUNDLE));
    let more = std::iter::once((
        layout.upstream_network.name.clone(),
        layout.bundle_upstream_ip,
    ))
    .chain(
        layout
            .metadata_network
            .as_ref()
            .zip(bundle_metadata_ip)
            .map(|(n, ip)| (n.name.clone(), ip)),
    )
    .chain(
        layout
            .published_network
            .as_ref()
            .zip(layout.bundle_published_ip)
            .map(|(n, ip)| (n.name.clone(), ip)),
    )
    .collect();
    // smolvm's desktop mode: the declared ports, published on this machine's loopback.
    let publish = if layout.published_network.is_some() {
        spec.ports.declared()
    } else {
        vec![]
    };
    // A user's bundle starts as its image says (ENTRYPOINT and CMD); the built-in one runs
    // the fixture binary's bundle command.
    let (entrypoint, cmd) = if images.bundle_is_user {
        (vec![], vec![])
    } else {
        (
            vec![images::FIXTURE_PATH.to_string()],
            bundle_cmd(spec, layout),
        )
    };
    PlannedContainer::new(
        ContainerRole::Bundle,
        images.bundle.clone(),
        layout.agent_network.name.clone(),
        layout.bundle_ip,
        layout.dns.ip,
    )
    .entrypoint(entrypoint)
    .cmd(cmd)
    .image_command(images.bundle_is_user)
    .aliases(vec![layout.bundle_name.clone()])
    .more(more)
    // A dual-homed bundle must not route between its legs.
    .sysctl(
        "net.ipv4.ip_forward",
        if spec.sabotage.ip_forward { "1" } else { "0" },
    )
    .announces_ready(!images.bundle_is_user)
    .publish(publish)
    .label(labels::TOPOLOGY, topology_json)
}

/// A fixture host running the canary command `cmd` on `network` at `ip`; ready when it says so.
fn fixture_host(
    role: ContainerRole,
    images: &Images,
    layout: &Layout,
    (network, ip): (&NetworkInfo, Ipv4Addr),
    cmd: Vec<String>,
) -> PlannedContainer {
    PlannedContainer::new(
        role,
        images.fixture.clone(),
        network.name.clone(),
        ip,
        layout.dns.ip,
    )
    .entrypoint(vec![images::FIXTURE_PATH.to_string()])
    .cmd(cmd)
    .announces_ready(true)
}

/// The public host on the upstream network (named as both the allowed and the denied host),
/// with its own IPv6 leg.
fn public_host(images: &Images, layout: &Layout, cmd: Vec<String>) -> PlannedContainer {
    let on = (&layout.upstream_network, layout.public.ip);
    let more_v6 = layout
        .public_v6_network
        .as_ref()
        .zip(layout.public_v6)
        .map(|(n, ip_v6)| (n.name.clone(), host_in(n.gateway, hosts::PUBLIC), ip_v6))
        .into_iter()
        .collect();
    // No network aliases: every name the suite uses resolves at the DNS canary only (see
    // `commands::public_cmd`), so the zone is the harness's and one place says what it holds.
    fixture_host(ContainerRole::Public, images, layout, on, cmd)
        .more_v6(more_v6)
        // For the DNS canary's address (a fixture, never the bottle).
        .cap_add(vec!["NET_ADMIN".into()])
}

/// The LAN host, alone on the LAN network.
fn lan_host(images: &Images, layout: &Layout, cmd: Vec<String>) -> PlannedContainer {
    let on = (&layout.lan_network, layout.lan.ip);
    // Its internal leg, where the SSRF probes' allowed names resolve: reachable from the
    // bundle (a proxy without an SSRF check gets there), never from the agent.
    let more = layout
        .metadata_network
        .as_ref()
        .zip(layout.lan_internal_ip)
        .map(|(n, ip)| (n.name.clone(), ip))
        .into_iter()
        .collect();
    fixture_host(ContainerRole::Lan, images, layout, on, cmd).more(more)
}

/// A second bottle's bundle: its service ports on its own agent network, and a leg on the
/// upstream network like any bundle (where the harness checks it is alive).
fn neighbour_host(images: &Images, layout: &Layout, cmd: Vec<String>) -> PlannedContainer {
    let network = layout
        .neighbour_network
        .as_ref()
        .expect("a docker layout has a neighbour network");
    let neighbour = layout
        .neighbour
        .as_ref()
        .expect("a docker layout has a neighbour");
    let more = std::iter::once((
        layout.upstream_network.name.clone(),
        host_in(layout.upstream_network.gateway, hosts::NEIGHBOUR_UPSTREAM),
    ))
    // The metadata service's leg, next to the bundle's.
    .chain(
        layout
            .metadata_network
            .as_ref()
            .zip(layout.metadata_leg_ip)
            .map(|(n, ip)| (n.name.clone(), ip)),
    )
    .collect();
    let on = (network, neighbour.ip);
    fixture_host(ContainerRole::Neighbour, images, layout, on, cmd)
        .more(more)
        // For the metadata service's addresses (a fixture, never the bottle).
        .cap_add(if layout.metadata.is_some() {
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
    layout: &Layout,
) -> Result<PlannedContainer, BackendError> {
    let sabotage = &spec.sabotage;
    let upstream_base = layout.upstream_network.gateway;
    let mut more = Vec::new();
    if sabotage.agent_on_upstream {
        more.push((
            layout.upstream_network.name.clone(),
            host_in(upstream_base, hosts::AGENT_UPSTREAM),
        ));
    }
    if sabotage.neighbour_reachable {
        let neighbour_net = layout
            .neighbour_network
            .as_ref()
            .expect("a docker layout has a neighbour network");
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
        layout.agent_network.name.clone(),
        layout.agent_ip,
        layout.dns.ip,
    )
    .entrypoint(vec![images.probe_path().to_string()])
    .cmd(vec!["idle".to_string()])
    .ip_v6(layout.agent_ip_v6)
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
    use crate::docker::subnets::v6_host;
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

    fn planned(engine_host: EngineHost) -> (Layout, Vec<PlannedContainer>) {
        planned_with(engine_host, true)
    }

    /// The layout of a bottle for an engine at `engine_host`, with or without IPv6.
    pub(crate) fn planned_with(
        engine_host: EngineHost,
        with_v6: bool,
    ) -> (Layout, Vec<PlannedContainer>) {
        let probe = std::env::temp_dir().join(format!("cb-layout-probe-{}", std::process::id()));
        std::fs::write(&probe, b"\x7fELF probe").unwrap();
        let spec = spec(engine_host, &probe);
        let files = bottle_files(&spec, &images(), true).unwrap();
        let networks = plan_networks(&spec, true, true, with_v6, 1, false);
        let planned = plan_bottle(
            &spec,
            &images(),
            true,
            Some("off".into()),
            &networks,
            &files,
            None,
        );
        let _ = std::fs::remove_file(&probe);
        planned.unwrap()
    }

    /// A local engine's bottle has no checker; Docker Desktop's has one on the fixture
    /// networks (never the agent's), idle with the probe copied in, and `host.docker.internal`
    /// mapped to the engine's host-gateway.
    #[test]
    fn only_an_engine_elsewhere_gets_a_checker_on_the_fixture_networks() {
        let (layout, containers) = planned(EngineHost::Local);
        assert!(layout.checker_ips.is_empty());
        assert!(!containers.iter().any(|c| c.role == ContainerRole::Checker));

        let (layout, containers) = planned(EngineHost::DockerDesktop);
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
        assert!(!joined.contains(&layout.agent_network.name.as_str()));
        let own = layout.checker_network.as_ref().unwrap();
        let public6 = layout.public_v6_network.as_ref().unwrap();
        // Its own network first: the one it is created on, where its default route goes.
        assert_eq!(checker.network, own.name);
        assert_eq!(
            joined,
            [
                &own.name,
                &layout.upstream_network.name,
                &layout.lan_network.name,
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
            at(&layout.upstream_network),
            at(&layout.lan_network),
            at(public6),
        ];
        expected.extend(
            public6
                .gateway_v6
                .map(|g| std::net::IpAddr::V6(v6_host(g, u16::from(hosts::CHECKER)))),
        );
        assert_eq!(layout.checker_ips, expected);
        assert_eq!(layout.checker_ips.len(), 5, "public6 has IPv6 here");
        // Without IPv6 the public IPv6 network is not joined, and no address there is claimed.
        let (layout, containers) = planned_with(EngineHost::DockerDesktop, false);
        let checker = containers
            .iter()
            .find(|c| c.role == ContainerRole::Checker)
            .unwrap();
        assert_eq!(checker.networks().len(), 3);
        assert_eq!(layout.checker_ips.len(), 3);
        // Everything else is as on a local engine.
        assert_eq!(containers.len(), planned(EngineHost::Local).1.len() + 1);
    }
}
