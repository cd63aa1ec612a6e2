//! Bringing a bottle up on Docker.
//!
//! Three networks per bottle, all `internal` (no NAT to the outside):
//! * `cb-<run>-agent`: agent and bundle only. `com.docker.network.bridge.inhibit_ipv4=true` keeps
//!   the host off this bridge: without it the bridge's gateway is a host address and every host
//!   service listening on 0.0.0.0 answers the agent (see docs/backends/docker.md).
//! * `cb-<run>-upstream`: the bundle's second leg, the public fixture host and the DNS canary.
//! * `cb-<run>-lan`: a LAN fixture host the agent must not reach.
//!
//! Every container's resolver upstream is the DNS canary, so a query Docker's embedded DNS
//! forwards lands on a fixture and never on a real resolver.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::images::{self, Images};
use crate::errors::BackendError;
use crate::labels;
use crate::spec::{host_in, hosts, BottleSpec};
use crate::topology::{Bottle, FixtureHost, NetworkInfo, Topology};

/// How long a fixture may take to print `CB-READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Subnet picks before giving up (each /24 triple is random in 10.200.0.0 - 10.250.255.0).
const SUBNET_ATTEMPTS: u32 = 12;

struct PlannedNetwork {
    name: String,
    base: Ipv4Addr,
    host_block: bool,
}

/// The IPv4 routes of this machine (destination, mask), default route excluded.
fn host_routes() -> Vec<(u32, u32)> {
    parse_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// Parses `/proc/net/route`, which prints addresses as hex in host (little-endian) byte order.
fn parse_routes(text: &str) -> Vec<(u32, u32)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            let (dest, mask) = (
                u32::from_be_bytes(dest.to_le_bytes()),
                u32::from_be_bytes(mask.to_le_bytes()),
            );
            (mask != 0).then_some((dest, mask))
        })
        .collect()
}

/// Whether a /24 overlaps a route this machine already has (a real LAN, a VPN): the bottle's
/// networks must never shadow, or be confused with, addresses that are not the harness's.
fn overlaps_host_route(base: Ipv4Addr, routes: &[(u32, u32)]) -> bool {
    let net = u32::from(base);
    let mask24 = 0xffff_ff00u32;
    routes
        .iter()
        .any(|(dest, mask)| (net & mask) == (dest & mask) || (dest & mask24) == net)
}

fn random_bases() -> [Ipv4Addr; 3] {
    let routes = host_routes();
    let mut candidate = [Ipv4Addr::UNSPECIFIED; 3];
    for _ in 0..64 {
        let mut bytes = [0u8; 2];
        labels::fill_random(&mut bytes);
        let second = 200 + bytes[0] % 51;
        let third = bytes[1] % 253;
        candidate = [0, 1, 2].map(|offset| Ipv4Addr::new(10, second, third + offset, 0));
        if !candidate
            .iter()
            .any(|base| overlaps_host_route(*base, &routes))
        {
            break;
        }
    }
    candidate
}

async fn create_network(
    docker: &Docker,
    planned: &PlannedNetwork,
    run_labels: &HashMap<String, String>,
) -> Result<(), bollard::errors::Error> {
    let mut options = HashMap::new();
    if planned.host_block {
        options.insert(
            "com.docker.network.bridge.inhibit_ipv4".to_string(),
            "true".to_string(),
        );
    }
    let request = NetworkCreateRequest {
        name: planned.name.clone(),
        driver: Some("bridge".to_string()),
        internal: Some(true),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(format!("{}/24", planned.base)),
                gateway: Some(host_in(planned.base, 1).to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(options),
        labels: Some(run_labels.clone()),
        ..Default::default()
    };
    docker.create_network(request).await.map(|_| ())
}

/// Creates the three networks, picking fresh subnets when one overlaps an existing network
/// (another bottle, another run, the user's own networks).
async fn create_networks(
    docker: &Docker,
    spec: &BottleSpec,
    run_labels: &HashMap<String, String>,
    host_block: bool,
) -> Result<[NetworkInfo; 3], BackendError> {
    let mut last = String::new();
    for _ in 0..SUBNET_ATTEMPTS {
        let bases = random_bases();
        let planned = [
            PlannedNetwork {
                name: format!("cb-{}-agent", spec.run_id),
                base: bases[0],
                host_block,
            },
            PlannedNetwork {
                name: format!("cb-{}-upstream", spec.run_id),
                base: bases[1],
                host_block: false,
            },
            PlannedNetwork {
                name: format!("cb-{}-lan", spec.run_id),
                base: bases[2],
                host_block: false,
            },
        ];
        let results = futures_util::future::join_all(
            planned
                .iter()
                .map(|p| create_network(docker, p, run_labels)),
        )
        .await;
        let failures: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        if failures.is_empty() {
            return Ok(planned.map(|p| NetworkInfo {
                name: p.name,
                subnet: format!("{}/24", p.base),
                gateway: host_in(p.base, 1),
                host_has_gateway: !p.host_block,
            }));
        }
        // Remove what did get created before retrying with other subnets.
        for (planned, result) in planned.iter().zip(&results) {
            if result.is_ok() {
                let _ = docker.remove_network(&planned.name).await;
            }
        }
        last = failures.join("; ");
        if !last.contains("overlap") {
            return Err(BackendError::Engine {
                step: "creating the bottle's networks".into(),
                source: results
                    .into_iter()
                    .find_map(Result::err)
                    .expect("a failure was recorded"),
            });
        }
    }
    Err(BackendError::NoFreeSubnet {
        attempts: SUBNET_ATTEMPTS,
        last,
    })
}

fn endpoint(ip: Ipv4Addr, aliases: &[String]) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        aliases: if aliases.is_empty() {
            None
        } else {
            Some(aliases.to_vec())
        },
        ..Default::default()
    }
}

struct PlannedContainer {
    role: &'static str,
    image: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    network: String,
    ip: Ipv4Addr,
    aliases: Vec<String>,
    /// A second network to join before start (API < 1.44 cannot join two at create).
    second: Option<(String, Ipv4Addr)>,
    /// Prints `CB-READY` when its listeners are up.
    announces_ready: bool,
    extra_labels: Vec<(String, String)>,
}

fn container_name(run_id: &str, role: &str) -> String {
    format!("cb-{run_id}-{role}")
}

async fn create_container(
    docker: &Docker,
    run_id: &str,
    planned: &PlannedContainer,
    run_labels: &HashMap<String, String>,
    dns: Ipv4Addr,
) -> Result<(), BackendError> {
    let name = container_name(run_id, planned.role);
    let mut container_labels = run_labels.clone();
    container_labels.insert(labels::ROLE.to_string(), planned.role.to_string());
    container_labels.extend(planned.extra_labels.iter().cloned());
    let body = ContainerCreateBody {
        image: Some(planned.image.clone()),
        entrypoint: Some(planned.entrypoint.clone()),
        cmd: Some(planned.cmd.clone()),
        labels: Some(container_labels),
        hostname: Some(planned.role.to_string()),
        // Fixture containers must not keep an old environment's proxy settings either.
        env: Some(vec![]),
        host_config: Some(HostConfig {
            network_mode: Some(planned.network.clone()),
            dns: Some(vec![dns.to_string()]),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                planned.network.clone(),
                endpoint(planned.ip, &planned.aliases),
            )])),
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    docker
        .create_container(Some(options), body)
        .await
        .map_err(BackendError::engine(format!("creating container {name}")))?;
    if let Some((network, ip)) = &planned.second {
        let request = NetworkConnectRequest {
            container: name.clone(),
            endpoint_config: Some(endpoint(*ip, &[])),
        };
        docker
            .connect_network(network, request)
            .await
            .map_err(BackendError::engine(format!(
                "attaching {name} to {network}"
            )))?;
    }
    Ok(())
}

/// Copies the probe binary into a user-provided agent image before it starts.
async fn upload_probe(docker: &Docker, name: &str, probe: &[u8]) -> Result<(), BackendError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    let _ = builder.append_data(
        &mut dir,
        format!("{}/", images::USER_PROBE_DIR),
        std::io::empty(),
    );
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(probe.len() as u64);
    file.set_cksum();
    let _ = builder.append_data(
        &mut file,
        format!("{}/bottle-probe", images::USER_PROBE_DIR),
        probe,
    );
    let tar = builder.into_inner().unwrap_or_default();
    let options = UploadToContainerOptions {
        path: "/".to_string(),
        ..Default::default()
    };
    docker
        .upload_to_container(name, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(BackendError::engine(format!(
            "copying the probe into {name}"
        )))
}

/// Follows a container's output until it prints `CB-READY`.
async fn wait_ready(docker: &Docker, name: &str) -> Result<(), BackendError> {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(options));
    let mut seen = String::new();
    let wait = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BackendError::engine(format!(
                "reading the output of {name}"
            )))?;
            seen.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if seen.lines().any(|line| line == "CB-READY") {
                return Ok(());
            }
            if seen.len() > 64 * 1024 {
                let cut = seen.len() - 4096;
                let cut = (cut..seen.len())
                    .find(|i| seen.is_char_boundary(*i))
                    .unwrap_or(seen.len());
                seen.drain(..cut);
            }
        }
        Err(BackendError::FixtureStart {
            name: name.to_string(),
            reason: format!("exited before it was ready; output: {}", seen.trim()),
        })
    };
    tokio::time::timeout(READY_TIMEOUT, wait)
        .await
        .map_err(|_| BackendError::Timeout {
            step: format!("waiting for {name} to be ready"),
            seconds: READY_TIMEOUT.as_secs_f64(),
        })?
}

fn bundle_cmd(spec: &BottleSpec, dns_ip: Ipv4Addr) -> Vec<String> {
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
        spec.allowed_host.clone(),
    ];
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

/// Where the agent runs: in a container on the agent network (docker backend), or outside
/// Docker (a microVM whose only allowed peer is the bundle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AgentPlacement {
    Container,
    External,
}

/// Brings the bottle up. On error the caller tears down by run id; every object is labelled
/// before anything can fail after it exists.
pub(crate) async fn launch(
    docker: &Docker,
    spec: &BottleSpec,
    images: &Images,
    agent: AgentPlacement,
) -> Result<Bottle, BackendError> {
    let run_labels = labels::run_labels(&spec.run_id, spec.keep);
    let in_container = agent == AgentPlacement::Container;
    // A microVM's traffic leaves through the host, so the host must keep its address on the
    // agent network; its own allow list is what confines it there.
    let host_block = in_container && !spec.sabotage.no_host_block;
    let [agent_net, upstream_net, lan_net] =
        create_networks(docker, spec, &run_labels, host_block).await?;
    let agent_base = agent_net.gateway;
    let upstream_base = upstream_net.gateway;
    let lan_base = lan_net.gateway;
    let bundle_ip = host_in(agent_base, hosts::BUNDLE);
    let dns_ip = host_in(upstream_base, hosts::DNS);
    let probe_path = if images.agent_is_user {
        images::USER_PROBE_PATH
    } else {
        images::BUILTIN_PROBE_PATH
    };
    let topology = Topology {
        backend: "docker".into(),
        run_id: spec.run_id.clone(),
        agent_ip: if in_container {
            host_in(agent_base, hosts::AGENT)
        } else {
            // The microVM's connections originate from the host's address on this bridge.
            host_in(agent_base, 1)
        },
        agent_extra_ips: if spec.sabotage.agent_on_upstream {
            vec![host_in(upstream_base, hosts::AGENT_UPSTREAM)]
        } else {
            vec![]
        },
        bundle_ip,
        bundle_upstream_ip: host_in(upstream_base, hosts::BUNDLE),
        bundle_name: "bundle".into(),
        ports: spec.ports,
        public: FixtureHost {
            name: "public".into(),
            ip: host_in(upstream_base, hosts::PUBLIC),
            ports: vec![80, 443],
        },
        lan: FixtureHost {
            name: "lan".into(),
            ip: host_in(lan_base, hosts::LAN),
            ports: vec![80, 22],
        },
        dns: FixtureHost {
            name: "dns".into(),
            ip: dns_ip,
            ports: vec![53],
        },
        allowed_host: spec.allowed_host.clone(),
        denied_host: spec.denied_host.clone(),
        sabotaged: !spec.sabotage.is_clean(),
        resolver_owned: true,
        guest_host_gateway: None,
        // Docker's embedded DNS on user-defined networks; a microVM's resolver is smolvm's.
        agent_resolver: in_container.then(|| "127.0.0.11:53".parse().expect("literal")),
        agent_network: agent_net,
        upstream_network: upstream_net,
        lan_network: lan_net,
    };
    let fixture_entry = vec![images::FIXTURE_PATH.to_string()];
    let topology_json = serde_json::to_string(&topology).expect("topology serialises");
    let planned = [
        PlannedContainer {
            role: "bundle",
            image: images.bundle.clone(),
            entrypoint: if images.bundle_is_user {
                vec![]
            } else {
                fixture_entry.clone()
            },
            cmd: if images.bundle_is_user {
                vec![]
            } else {
                bundle_cmd(spec, dns_ip)
            },
            network: topology.agent_network.name.clone(),
            ip: bundle_ip,
            aliases: vec![topology.bundle_name.clone()],
            second: Some((
                topology.upstream_network.name.clone(),
                topology.bundle_upstream_ip,
            )),
            announces_ready: !images.bundle_is_user,
            extra_labels: vec![(labels::TOPOLOGY.to_string(), topology_json.clone())],
        },
        PlannedContainer {
            role: "public",
            image: images.fixture.clone(),
            entrypoint: fixture_entry.clone(),
            cmd: [
                "canary",
                "--name",
                "public",
                "--tcp",
                "0.0.0.0:80",
                "--tcp",
                "0.0.0.0:443",
            ]
            .map(String::from)
            .to_vec(),
            network: topology.upstream_network.name.clone(),
            ip: topology.public.ip,
            aliases: vec![spec.allowed_host.clone(), spec.denied_host.clone()],
            second: None,
            announces_ready: true,
            extra_labels: vec![],
        },
        PlannedContainer {
            role: "lan",
            image: images.fixture.clone(),
            entrypoint: fixture_entry.clone(),
            cmd: [
                "canary",
                "--name",
                "lan",
                "--tcp",
                "0.0.0.0:80",
                "--tcp",
                "0.0.0.0:22",
            ]
            .map(String::from)
            .to_vec(),
            network: topology.lan_network.name.clone(),
            ip: topology.lan.ip,
            aliases: vec![],
            second: None,
            announces_ready: true,
            extra_labels: vec![],
        },
        PlannedContainer {
            role: "dns",
            image: images.fixture.clone(),
            entrypoint: fixture_entry,
            cmd: ["dns", "--listen", "0.0.0.0:53"].map(String::from).to_vec(),
            network: topology.upstream_network.name.clone(),
            ip: dns_ip,
            aliases: vec![],
            second: None,
            announces_ready: true,
            extra_labels: vec![],
        },
        PlannedContainer {
            role: "agent",
            image: images.agent.clone(),
            entrypoint: vec![probe_path.to_string()],
            cmd: vec!["idle".to_string()],
            network: topology.agent_network.name.clone(),
            ip: topology.agent_ip,
            aliases: vec![],
            second: spec.sabotage.agent_on_upstream.then(|| {
                (
                    topology.upstream_network.name.clone(),
                    host_in(upstream_base, hosts::AGENT_UPSTREAM),
                )
            }),
            announces_ready: false,
            extra_labels: vec![],
        },
    ];
    let planned: Vec<PlannedContainer> = planned
        .into_iter()
        .filter(|p| in_container || p.role != "agent")
        .collect();
    let planned: Vec<PlannedContainer> = planned
        .into_iter()
        .map(|mut p| {
            if let (Some(ms), true) = (spec.sabotage.slow_fixtures_ms, p.announces_ready) {
                p.cmd.extend(["--delay-ms".to_string(), ms.to_string()]);
            }
            p
        })
        .collect();
    futures_util::future::try_join_all(planned.iter().map(|p| {
        // Sabotage: the agent resolves through the bundle's forwarder.
        let dns = if p.role == "agent" && spec.sabotage.resolver_forwards {
            bundle_ip
        } else {
            dns_ip
        };
        create_container(docker, &spec.run_id, p, &run_labels, dns)
    }))
    .await?;
    let agent_name = container_name(&spec.run_id, "agent");
    if in_container && images.agent_is_user {
        let probe = std::fs::read(&spec.probe_binary).map_err(|e| BackendError::Artifact {
            what: "probe binary",
            path: spec.probe_binary.display().to_string(),
            reason: e.to_string(),
        })?;
        upload_probe(docker, &agent_name, &probe).await?;
    }
    let start_and_wait = |p: &PlannedContainer| {
        let name = container_name(&spec.run_id, p.role);
        let announces = p.announces_ready;
        async move {
            docker
                .start_container(&name, None)
                .await
                .map_err(BackendError::engine(format!("starting {name}")))?;
            if announces {
                wait_ready(docker, &name).await?;
            }
            Ok::<_, BackendError>(())
        }
    };
    // Everything starts at once: the agent only idles until the probe exec, which happens after
    // every fixture has said it is ready.
    futures_util::future::try_join_all(planned.iter().map(start_and_wait)).await?;
    Ok(bottle_from(topology, agent_name, probe_path))
}

fn bottle_from(topology: Topology, agent_name: String, probe_path: &str) -> Bottle {
    let run_id = topology.run_id.clone();
    Bottle {
        fixture_refs: ["public", "lan", "dns", "bundle"]
            .iter()
            .map(|role| (role.to_string(), container_name(&run_id, role)))
            .collect(),
        run_id,
        topology,
        agent_ref: agent_name,
        probe_path: probe_path.to_string(),
    }
}

/// Checks a topology read back from a label against what the engine reports: every network it
/// names carries this run's label and the subnet it claims, and every address it will send to
/// lies inside one of them. A label that was edited can then not aim the harness at addresses
/// it did not create.
async fn verify_topology(
    docker: &Docker,
    run_id: &str,
    topology: &Topology,
) -> Result<(), BackendError> {
    let corrupt = |reason: String| BackendError::Corrupt {
        run_id: run_id.to_string(),
        reason,
    };
    let networks = docker
        .list_networks(Some(bollard::query_parameters::ListNetworksOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{}={run_id}", labels::RUN)],
            )])),
        }))
        .await
        .map_err(BackendError::engine("listing the bottle's networks"))?;
    let mut subnets = Vec::new();
    for claimed in topology.networks() {
        let real = networks
            .iter()
            .find(|n| n.name.as_deref() == Some(claimed.name.as_str()))
            .ok_or_else(|| corrupt(format!("network {} is not one of this run's", claimed.name)))?;
        let real_subnet = real
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.subnet.clone())
            .unwrap_or_default();
        if real_subnet != claimed.subnet {
            return Err(corrupt(format!(
                "network {} has subnet {real_subnet}, the label claims {}",
                claimed.name, claimed.subnet
            )));
        }
        subnets.push(claimed.gateway);
    }
    let inside = |ip: Ipv4Addr| {
        subnets
            .iter()
            .any(|gw| gw.octets()[..3] == ip.octets()[..3])
    };
    for (what, ip) in [
        ("agent", topology.agent_ip),
        ("bundle", topology.bundle_ip),
        ("bundle upstream", topology.bundle_upstream_ip),
        ("public host", topology.public.ip),
        ("LAN host", topology.lan.ip),
        ("DNS canary", topology.dns.ip),
    ] {
        if !inside(ip) {
            return Err(corrupt(format!(
                "the {what} address {ip} is outside the run's networks"
            )));
        }
    }
    Ok(())
}

/// Finds a running bottle by its run id, from the topology label on its agent.
pub(crate) async fn attach(docker: &Docker, run_id: &str) -> Result<Bottle, BackendError> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{}={run_id}", labels::RUN)],
        )])),
        ..Default::default()
    };
    let found = docker
        .list_containers(Some(options))
        .await
        .map_err(BackendError::engine("listing bottles"))?;
    let role_of = |c: &bollard::models::ContainerSummary| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(labels::ROLE).cloned())
            .unwrap_or_default()
    };
    let corrupt = |reason: String| BackendError::Corrupt {
        run_id: run_id.to_string(),
        reason,
    };
    let bundle = found
        .iter()
        .find(|c| role_of(c) == "bundle")
        .ok_or_else(|| BackendError::NoSuchBottle(run_id.to_string()))?;
    let json = bundle
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::TOPOLOGY))
        .ok_or_else(|| corrupt("the bundle has no topology label".into()))?;
    let topology: Topology = serde_json::from_str(json)
        .map_err(|e| corrupt(format!("the topology label is unreadable: {e}")))?;
    verify_topology(docker, run_id, &topology).await?;
    for container in &found {
        if container.state.as_ref().map(|s| s.to_string()).as_deref() != Some("running") {
            return Err(corrupt(format!(
                "container {} is not running",
                role_of(container)
            )));
        }
    }
    let probe_path = found
        .iter()
        .find(|c| role_of(c) == "agent")
        .and_then(|agent| agent.command.clone())
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| images::BUILTIN_PROBE_PATH.to_string());
    Ok(bottle_from(
        topology,
        container_name(run_id, "agent"),
        &probe_path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlapping_host_routes_are_avoided() {
        let route =
            |a: [u8; 4], m: [u8; 4]| (u32::from(Ipv4Addr::from(a)), u32::from(Ipv4Addr::from(m)));
        let routes = [
            route([10, 200, 0, 0], [255, 255, 0, 0]),
            route([172, 17, 0, 0], [255, 255, 0, 0]),
        ];
        assert!(overlaps_host_route(Ipv4Addr::new(10, 200, 7, 0), &routes));
        assert!(!overlaps_host_route(Ipv4Addr::new(10, 201, 7, 0), &routes));
        // A narrower route inside the /24 counts too.
        let narrow = [route([10, 220, 5, 128], [255, 255, 255, 128])];
        assert!(overlaps_host_route(Ipv4Addr::new(10, 220, 5, 0), &narrow));
        // The kernel's format, read as it prints it: the default route is skipped.
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            [route([172, 17, 0, 0], [255, 255, 0, 0])]
        );
    }
}
