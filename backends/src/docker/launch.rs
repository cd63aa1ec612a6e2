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
use std::net::{Ipv4Addr, Ipv6Addr};
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
    /// What the network is for (see `roles`); its name is `cb-<run>-<role>`.
    role: &'static str,
    name: String,
    base: Ipv4Addr,
    host_block: bool,
    /// An IPv6 /64 (`fdcb:...::/64`, unique local) when the network gets IPv6.
    v6: Option<Ipv6Addr>,
    /// Docker's `internal` flag; only the ip-forward sabotage clears it (agent network).
    internal: bool,
}

/// A random unique-local /64 prefix for one run's network `index`: `fdcb:RRRR:RRRR:index::`.
/// Unique local addresses are never routed outside a site, and `fdcb::/16` is this harness's.
fn random_v6_prefix(index: u16) -> Ipv6Addr {
    let mut bytes = [0u8; 4];
    labels::fill_random(&mut bytes);
    Ipv6Addr::new(
        0xfdcb,
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]]),
        index,
        0,
        0,
        0,
        0,
    )
}

/// The address `host` inside a /64 prefix.
pub(crate) fn v6_host(prefix: Ipv6Addr, host: u16) -> Ipv6Addr {
    let mut segments = prefix.segments();
    segments[7] = host;
    Ipv6Addr::from(segments)
}

/// The IPv4 routes of this machine (destination, mask), default route excluded.
fn host_routes() -> Vec<(u32, u32)> {
    parse_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// This machine's routes that are not Docker's own bridges (`br-<id>`, `docker0`): the real
/// networks a test knob must stay clear of, while the network a test took for it is allowed.
fn routes_outside_docker() -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let kept: String = text
        .lines()
        .filter(|line| !line.starts_with("br-") && !line.starts_with("docker0"))
        .map(|line| format!("{line}\n"))
        .collect();
    parse_routes(&kept)
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

fn random_bases() -> [Ipv4Addr; 6] {
    let routes = host_routes();
    let mut candidate = [Ipv4Addr::UNSPECIFIED; 6];
    for _ in 0..64 {
        let mut bytes = [0u8; 2];
        labels::fill_random(&mut bytes);
        let second = 200 + bytes[0] % 51;
        let third = bytes[1] % 250;
        candidate = [0, 1, 2, 3, 4, 5].map(|offset| Ipv4Addr::new(10, second, third + offset, 0));
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
    let mut ipam = vec![IpamConfig {
        subnet: Some(format!("{}/24", planned.base)),
        gateway: Some(host_in(planned.base, 1).to_string()),
        ..Default::default()
    }];
    if let Some(prefix) = planned.v6 {
        ipam.push(IpamConfig {
            subnet: Some(format!("{prefix}/64")),
            gateway: Some(v6_host(prefix, 1).to_string()),
            ..Default::default()
        });
    }
    let request = NetworkCreateRequest {
        name: planned.name.clone(),
        driver: Some("bridge".to_string()),
        internal: Some(planned.internal),
        enable_ipv6: Some(planned.v6.is_some()),
        ipam: Some(Ipam {
            config: Some(ipam),
            ..Default::default()
        }),
        options: Some(options),
        labels: Some(run_labels.clone()),
        ..Default::default()
    };
    let created = docker.create_network(request).await?;
    if let Some(prefix) = planned.v6 {
        skip_duplicate_address_detection(&created.id, v6_host(prefix, 1)).await;
    }
    Ok(())
}

/// Turns duplicate address detection off on a new IPv6 bridge of this run (`br-<id prefix>`):
/// its gateway address is otherwise "tentative" until a second or two after the first port
/// gives the bridge a carrier (a random delay, then the detection itself), and in that time
/// this machine neither answers on it nor sends from it. The engine assigned the address with
/// detection on, so it is taken off and put back with `nodad` (measured: usable 7 ms after the
/// first container started, against 1.6 s). Only this run's own bridge is touched, and only
/// where this process may (root, `ip` installed, a local engine); otherwise the waits on the
/// address cover it.
async fn skip_duplicate_address_detection(network_id: &str, gateway: Ipv6Addr) {
    let Some(prefix) = network_id.get(..12) else {
        return;
    };
    let bridge = format!("br-{prefix}");
    let path = format!("/proc/sys/net/ipv6/conf/{bridge}/accept_dad");
    if let Err(error) = std::fs::write(&path, "0") {
        tracing::debug!("cannot turn off duplicate address detection ({path}): {error}");
        return;
    }
    let address = format!("{gateway}/64");
    let readd = tokio::task::spawn_blocking(move || {
        let ip = |args: &[&str]| match std::process::Command::new("ip").args(args).output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(error) => Err(format!("ip: {error}")),
        };
        ip(&["-6", "addr", "del", &address, "dev", &bridge])?;
        // Never leave the bridge without its gateway: put it back as it was if `nodad` fails.
        ip(&["-6", "addr", "add", &address, "dev", &bridge, "nodad"])
            .or_else(|why| ip(&["-6", "addr", "add", &address, "dev", &bridge]).map_err(|_| why))
    })
    .await;
    match readd {
        Ok(Ok(())) => {}
        Ok(Err(why)) => tracing::debug!("cannot re-add {gateway} without detection: {why}"),
        Err(error) => tracing::debug!("cannot re-add {gateway} without detection: {error}"),
    }
}

/// Plans the bottle's networks (agent, upstream, LAN, the neighbour bottle's agent network, the
/// public host's IPv6 leg and, when the metadata fixture can be routed to, the metadata network)
/// on fresh random subnets. IPv6 goes on the public host's own network and, sabotaged, on the
/// agent network; `with_v6` false leaves it out (an engine that cannot make IPv6 networks), and
/// the IPv6 probes that need it say so.
///
/// The order is the order of the requests, which are sent at once: the engine makes one network
/// at a time (~50 ms each) while the containers whose networks exist already start, so the
/// agent's and the bundle's networks are asked for first and the LAN host's last.
fn plan_networks(
    spec: &BottleSpec,
    host_block: bool,
    with_metadata: bool,
    with_v6: bool,
    attempt: u32,
) -> Vec<PlannedNetwork> {
    let mut bases = random_bases();
    if let (0, Some(taken)) = (attempt, fault_taken_subnet()) {
        bases[2] = taken;
    }
    let v6 = |wanted: bool, index: u16| (with_v6 && wanted).then(|| random_v6_prefix(index));
    let network = |role: &'static str, base: Ipv4Addr| PlannedNetwork {
        role,
        name: format!("cb-{}-{role}", spec.run_id),
        base,
        host_block: false,
        v6: None,
        internal: true,
    };
    let mut planned = vec![
        PlannedNetwork {
            host_block,
            v6: v6(spec.sabotage.ipv6_host, 0),
            // Docker drops bridged frames leaving an internal network's subnet (bridge
            // netfilter), which would hide a forwarding bundle; see `route_through_bundle`.
            internal: !spec.sabotage.ip_forward,
            ..network(roles::AGENT, bases[0])
        },
        network(roles::UPSTREAM, bases[1]),
    ];
    if with_metadata {
        // Between the bundle and the metadata fixture. Not `internal`: Docker's internal
        // rules drop bridged frames addressed outside the network's subnet, and
        // 169.254.169.254 is outside every subnet. The host block keeps the host off it, so
        // nothing on it has a way out through this machine.
        planned.push(PlannedNetwork {
            host_block: true,
            internal: false,
            ..network(roles::METADATA, bases[4])
        });
    }
    planned.extend([
        PlannedNetwork {
            host_block: true,
            ..network(roles::NEIGHBOUR, bases[3])
        },
        // The public host's IPv6 leg: only it joins this network.
        PlannedNetwork {
            v6: v6(true, 5),
            ..network(roles::PUBLIC6, bases[5])
        },
        network(roles::LAN, bases[2]),
    ]);
    planned
}

/// Fault injection for the tests (`harness/tests/faults.rs`): `CLAUDE_BOTTLE_FAULT_TAKEN_SUBNET=
/// <a.b.c.0>` puts the first bring-up attempt's LAN network on that /24, which the test has
/// taken with a network of its own, so that a subnet clash in the middle of a bring-up (other
/// networks made, containers starting) and its retry are exercised. A malformed value is
/// ignored with a warning; the knob only ever makes a run retry.
pub const FAULT_TAKEN_SUBNET_ENV: &str = "CLAUDE_BOTTLE_FAULT_TAKEN_SUBNET";

fn fault_taken_subnet() -> Option<Ipv4Addr> {
    let value = std::env::var(FAULT_TAKEN_SUBNET_ENV).ok()?;
    match value.trim().parse::<Ipv4Addr>() {
        Ok(base)
            if in_harness_range(base) && !overlaps_host_route(base, &routes_outside_docker()) =>
        {
            Some(base)
        }
        _ => {
            tracing::warn!(
                "{FAULT_TAKEN_SUBNET_ENV}={value:?} is not a 10.200-250.x.0 base clear of this \
                 machine's own (non-Docker) routes; ignored"
            );
            None
        }
    }
}

/// A /24 base the harness itself would pick (see `random_bases`).
fn in_harness_range(base: Ipv4Addr) -> bool {
    let [a, b, c, d] = base.octets();
    a == 10 && (200..=250).contains(&b) && c < 255 && d == 0
}

/// The roles of a bottle's networks (`cb-<run>-<role>`).
mod roles {
    pub(super) const AGENT: &str = "agent";
    pub(super) const UPSTREAM: &str = "upstream";
    pub(super) const METADATA: &str = "metadata";
    pub(super) const NEIGHBOUR: &str = "neighbour";
    pub(super) const PUBLIC6: &str = "public6";
    pub(super) const LAN: &str = "lan";
}

impl PlannedNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            name: self.name.clone(),
            subnet: format!("{}/24", self.base),
            gateway: host_in(self.base, 1),
            host_has_gateway: !self.host_block,
            subnet_v6: self.v6.map(|prefix| format!("{prefix}/64")),
            gateway_v6: self.v6.map(|prefix| v6_host(prefix, 1)),
        }
    }
}

fn endpoint(ip: Ipv4Addr, ip_v6: Option<Ipv6Addr>, aliases: &[String]) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ipv6_address: ip_v6.map(|ip| ip.to_string()),
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
    /// The IPv6 address on the first network, when pinned.
    ip_v6: Option<Ipv6Addr>,
    /// Further networks to join before start (API < 1.44 cannot join two at create).
    more: Vec<(String, Ipv4Addr)>,
    /// Further networks joined with a pinned IPv6 address too (the public host's IPv6 leg).
    more_v6: Vec<(String, Ipv4Addr, Ipv6Addr)>,
    /// Namespaced sysctls (the bundle's `net.ipv4.ip_forward`).
    sysctls: Vec<(String, String)>,
    /// Bind mounts (`host:container`), only ever set by a sabotage.
    binds: Vec<String>,
    /// Added capabilities, only ever set by a sabotage (NET_ADMIN for the ip-forward routes).
    cap_add: Vec<String>,
    /// Prints `CB-READY` when its listeners are up.
    announces_ready: bool,
    extra_labels: Vec<(String, String)>,
    /// The container's resolver upstream (the DNS canary; the bundle's forwarder, sabotaged).
    dns: Ipv4Addr,
    /// Copied in before it starts.
    files: Vec<AgentFile>,
    /// Set the bundle's route to the metadata service once it runs.
    route_metadata: bool,
}

impl PlannedContainer {
    /// Every network the container joins; it is created once they all exist.
    fn networks(&self) -> Vec<&str> {
        std::iter::once(self.network.as_str())
            .chain(self.more.iter().map(|(network, _)| network.as_str()))
            .chain(self.more_v6.iter().map(|(network, _, _)| network.as_str()))
            .collect()
    }
}

fn container_name(run_id: &str, role: &str) -> String {
    format!("cb-{run_id}-{role}")
}

async fn create_container(
    docker: &Docker,
    run_id: &str,
    planned: &PlannedContainer,
    run_labels: &HashMap<String, String>,
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
            dns: Some(vec![planned.dns.to_string()]),
            sysctls: (!planned.sysctls.is_empty())
                .then(|| planned.sysctls.iter().cloned().collect()),
            binds: (!planned.binds.is_empty()).then(|| planned.binds.clone()),
            cap_add: (!planned.cap_add.is_empty()).then(|| planned.cap_add.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                planned.network.clone(),
                endpoint(planned.ip, planned.ip_v6, &planned.aliases),
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
    let legs = planned
        .more
        .iter()
        .map(|(network, ip)| (network, *ip, None))
        .chain(
            planned
                .more_v6
                .iter()
                .map(|(network, ip, ip_v6)| (network, *ip, Some(*ip_v6))),
        );
    for (network, ip, ip_v6) in legs {
        let request = NetworkConnectRequest {
            container: name.clone(),
            endpoint_config: Some(endpoint(ip, ip_v6, &[])),
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

/// Copies `bytes` to `/<dir>/<file>` (mode 755) in a created, not yet started, container.
async fn upload_binary(
    docker: &Docker,
    name: &str,
    dir_name: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<(), BackendError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    let _ = builder.append_data(&mut dir, format!("{dir_name}/"), std::io::empty());
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(bytes.len() as u64);
    file.set_cksum();
    let _ = builder.append_data(&mut file, format!("{dir_name}/{file_name}"), bytes);
    let tar = builder.into_inner().unwrap_or_default();
    let options = UploadToContainerOptions {
        path: "/".to_string(),
        ..Default::default()
    };
    docker
        .upload_to_container(name, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(BackendError::engine(format!(
            "copying {file_name} into {name}"
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
    let in_container = agent == AgentPlacement::Container;
    // A microVM's traffic leaves through the host, so the host must keep its address on the
    // agent network; its own allow list is what confines it there.
    let host_block = in_container && !spec.sabotage.no_host_block;
    let metadata_unavailable = metadata_unavailable(in_container);
    let agent_files = agent_files(spec, images, in_container)?;
    let mut with_v6 = true;
    let mut last = String::new();
    for attempt in 0..SUBNET_ATTEMPTS {
        let networks = plan_networks(
            spec,
            host_block,
            metadata_unavailable.is_none(),
            with_v6,
            attempt,
        );
        let (topology, containers) = plan_bottle(
            spec,
            images,
            in_container,
            metadata_unavailable.clone(),
            &networks,
            &agent_files,
        )?;
        let errors = match bring_up(docker, spec, &networks, &containers, &topology).await {
            Ok(()) => return finish(docker, spec, images, in_container, topology).await,
            Err(BringUpError::Container(error)) => return Err(error),
            Err(BringUpError::Networks(errors)) => errors,
        };
        last = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let first = errors
            .into_iter()
            .next()
            .expect("a failed network bring-up has an error");
        let engine_error = |source| BackendError::Engine {
            step: "creating the bottle's networks".into(),
            source,
        };
        // What this attempt did create goes before the next one, or before giving up: the
        // bring-up has no request in flight any more, so the run's label finds all of it.
        // Without that, no retry (its names would clash); the caller's teardown tries again.
        if let Err(teardown) = super::cleanup::teardown(docker, &spec.run_id).await {
            tracing::warn!("removing the failed bring-up ({last}) failed: {teardown}");
            return Err(engine_error(first));
        }
        // Another bottle, another run or the user's own network holds one of the subnets.
        if last.contains("overlap") {
            tracing::info!("a subnet was taken ({last}); bringing the bottle up on other subnets");
            continue;
        }
        if with_v6 && networks.iter().any(|n| n.v6.is_some()) {
            tracing::warn!("creating IPv6 networks failed ({last}); retrying without IPv6");
            with_v6 = false;
            continue;
        }
        return Err(engine_error(first));
    }
    Err(BackendError::NoFreeSubnet {
        attempts: SUBNET_ATTEMPTS,
        last,
    })
}

/// A file copied into the agent container before it starts.
#[derive(Clone)]
struct AgentFile {
    dir: &'static str,
    name: &'static str,
    bytes: std::sync::Arc<Vec<u8>>,
}

/// What the agent container needs copied in: the probe, into a user-provided agent image, and
/// the route tool for the ip-forward sabotage. Read once, before any attempt at a bring-up.
fn agent_files(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
) -> Result<Vec<AgentFile>, BackendError> {
    let read = |what: &'static str, path: &std::path::Path| {
        images::read_binary(what, path).map(std::sync::Arc::new)
    };
    let mut files = Vec::new();
    if in_container && images.agent_is_user {
        files.push(AgentFile {
            dir: images::USER_PROBE_DIR,
            name: "bottle-probe",
            bytes: read("probe binary", &spec.probe_binary)?,
        });
    }
    if in_container && spec.sabotage.ip_forward {
        // The agent needs the route tool for its sabotaged route (see `route_through_bundle`).
        files.push(AgentFile {
            dir: SABOTAGE_TOOL_DIR,
            name: "bottle-fixture",
            bytes: read("fixture binary", &spec.fixture_binary)?,
        });
    }
    Ok(files)
}

/// Everything about the bottle that follows from its networks' subnets: the topology the
/// probes are planned against and the containers to start.
fn plan_bottle(
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    metadata_unavailable: Option<String>,
    networks: &[PlannedNetwork],
    agent_files: &[AgentFile],
) -> Result<(Topology, Vec<PlannedContainer>), BackendError> {
    let info = |role: &str| {
        networks
            .iter()
            .find(|n| n.role == role)
            .map(PlannedNetwork::info)
    };
    let network = |role: &str| info(role).expect("plan_networks plans every network but one");
    let (agent_net, upstream_net, lan_net, neighbour_net, public6_net) = (
        network(roles::AGENT),
        network(roles::UPSTREAM),
        network(roles::LAN),
        network(roles::NEIGHBOUR),
        network(roles::PUBLIC6),
    );
    let metadata_net = info(roles::METADATA);
    let agent_base = agent_net.gateway;
    let upstream_base = upstream_net.gateway;
    let lan_base = lan_net.gateway;
    let neighbour_base = neighbour_net.gateway;
    let bundle_ip = host_in(agent_base, hosts::BUNDLE);
    let dns_ip = host_in(upstream_base, hosts::DNS);
    let probe_path = images.probe_path();
    let sabotage = &spec.sabotage;
    // The public host's IPv6 address lives on a network only it joins, so no other fixture
    // (and never the bundle) talks IPv6 behind the harness's back. An engine that cannot make
    // IPv6 networks leaves it out, and the IPv6 probe of the public host says so.
    let public_v6 = public6_net
        .subnet_v6
        .as_ref()
        .and(public6_net.gateway_v6)
        .map(|gateway| v6_host(gateway, u16::from(hosts::PUBLIC)));
    let mut agent_extra_ips = Vec::new();
    if sabotage.agent_on_upstream {
        agent_extra_ips.push(host_in(upstream_base, hosts::AGENT_UPSTREAM));
    }
    if sabotage.neighbour_reachable {
        agent_extra_ips.push(host_in(neighbour_base, hosts::AGENT_NEIGHBOUR));
    }
    let neighbour_ports = {
        let mut ports = spec.ports.declared();
        ports.push(spec.ports.egress);
        ports
    };
    let metadata_upstream_ip = host_in(upstream_base, hosts::METADATA_UPSTREAM);
    let metadata_leg_ip = metadata_net
        .as_ref()
        .map(|n| host_in(n.gateway, hosts::METADATA_UPSTREAM));
    let bundle_metadata_ip = metadata_net
        .as_ref()
        .map(|n| host_in(n.gateway, hosts::BUNDLE));
    let topology = Topology {
        metadata: metadata_unavailable.is_none().then(|| FixtureHost {
            name: "metadata".into(),
            ip: METADATA_IP,
            ports: vec![80],
        }),
        metadata_upstream_ip: metadata_unavailable
            .is_none()
            .then_some(metadata_upstream_ip),
        metadata_unavailable,
        inbound_port: in_container.then_some(hosts::INBOUND_PORT),
        agent_ip_v6: agent_net
            .gateway_v6
            .filter(|_| in_container)
            .map(|gateway| v6_host(gateway, u16::from(hosts::AGENT))),
        metadata_leg_ip,
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
        sabotaged: !sabotage.is_clean(),
        resolver_owned: true,
        guest_host_gateway: None,
        // Docker's embedded DNS on user-defined networks; a microVM's resolver is smolvm's.
        agent_resolver: in_container.then(|| "127.0.0.11:53".parse().expect("literal")),
        public_v6,
        public_v6_network: Some(public6_net),
        neighbour: Some(FixtureHost {
            name: "neighbour".into(),
            ip: host_in(neighbour_base, hosts::BUNDLE),
            ports: neighbour_ports.clone(),
        }),
        neighbour_upstream_ip: Some(host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM)),
        neighbour_network: Some(neighbour_net),
        agent_network: agent_net,
        upstream_network: upstream_net,
        lan_network: lan_net,
    };
    let fixture_entry = vec![images::FIXTURE_PATH.to_string()];
    let topology_json = serde_json::to_string(&topology).expect("topology serialises");
    let echo = format!("[::]:{}", hosts::UDP_ECHO_PORT);
    let canary_cmd = |name: &str, tcp: &[u16], udp: bool| {
        let mut cmd = vec!["canary".to_string(), "--name".into(), name.to_string()];
        for port in tcp {
            cmd.extend(["--tcp".to_string(), format!("[::]:{port}")]);
        }
        if udp {
            cmd.extend(["--udp".to_string(), echo.clone()]);
        }
        cmd.push("--icmp".into());
        cmd
    };
    let neighbour = topology.neighbour.clone().expect("set above");
    // Dialers: every outside host keeps trying the agent's inbound listener, at the agent's
    // address and at any address it has on that host's own network.
    let dial = |cmd: &mut Vec<String>, targets: &[Ipv4Addr]| {
        if let Some(port) = topology.inbound_port {
            for ip in targets {
                cmd.extend(["--dial".to_string(), format!("{ip}:{port}")]);
            }
        }
    };
    let agent_ip = topology.agent_ip;
    let mut public_cmd = canary_cmd("public", &[80, 443], true);
    dial(
        &mut public_cmd,
        &[agent_ip, host_in(upstream_base, hosts::AGENT_UPSTREAM)],
    );
    // The public host also stands for the DNS canary: it keeps its own address (a secondary on
    // the public host's upstream interface) and its own name in the records, and the bring-up
    // starts one container fewer (each costs ~150-300 ms here).
    let public_ip = topology.public.ip;
    public_cmd.extend([
        "--address".to_string(),
        format!("@{public_ip}:dns={dns_ip}"),
        "--name-for".to_string(),
        format!("{dns_ip}=dns"),
    ]);
    public_cmd.extend(["--dns".to_string(), format!("{dns_ip}:53")]);
    let mut lan_cmd = canary_cmd("lan", &[80, 22], true);
    dial(&mut lan_cmd, &[agent_ip]);
    let mut neighbour_cmd = canary_cmd("neighbour", &neighbour_ports, true);
    dial(
        &mut neighbour_cmd,
        &[agent_ip, host_in(neighbour_base, hosts::AGENT_NEIGHBOUR)],
    );
    // The neighbour's container also stands for the cloud-metadata service (one container
    // fewer to start): 169.254.169.254 on its leg of the metadata network, where the bundle's
    // route points, and a second address on the upstream network for this machine's liveness
    // check; both listen on port 80 only and carry the name `metadata` in the records. The
    // neighbour's own addresses and listeners are unchanged, and it has no IPv6, so the
    // default route the (non-internal) metadata network gives it leads nowhere new.
    if let (Some(_), Some(leg)) = (&topology.metadata, metadata_leg_ip) {
        let neighbour_upstream = host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM);
        for (held, alias, ip) in [
            (leg, "md", METADATA_IP),
            (neighbour_upstream, "mdup", metadata_upstream_ip),
        ] {
            neighbour_cmd.extend([
                "--address".to_string(),
                format!("@{held}:{alias}={ip}"),
                "--tcp".to_string(),
                format!("{ip}:80"),
            ]);
        }
        for ip in [METADATA_IP, metadata_upstream_ip, leg] {
            neighbour_cmd.extend(["--name-for".to_string(), format!("{ip}=metadata")]);
        }
    }
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
            ip_v6: None,
            aliases: vec![topology.bundle_name.clone()],
            more: std::iter::once((
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
            .collect(),
            // A dual-homed bundle must not route between its legs.
            more_v6: vec![],
            sysctls: vec![(
                "net.ipv4.ip_forward".into(),
                if sabotage.ip_forward { "1" } else { "0" }.into(),
            )],
            binds: vec![],
            cap_add: vec![],
            announces_ready: !images.bundle_is_user,
            extra_labels: vec![(labels::TOPOLOGY.to_string(), topology_json.clone())],
            dns: dns_ip,
            files: vec![],
            route_metadata: false,
        },
        PlannedContainer {
            role: "public",
            image: images.fixture.clone(),
            entrypoint: fixture_entry.clone(),
            cmd: public_cmd,
            network: topology.upstream_network.name.clone(),
            ip: topology.public.ip,
            ip_v6: None,
            aliases: vec![spec.allowed_host.clone(), spec.denied_host.clone()],
            more: vec![],
            more_v6: topology
                .public_v6_network
                .as_ref()
                .zip(topology.public_v6)
                .map(|(n, ip_v6)| (n.name.clone(), host_in(n.gateway, hosts::PUBLIC), ip_v6))
                .into_iter()
                .collect(),
            sysctls: vec![],
            binds: vec![],
            // For the DNS canary's address (a fixture, never the bottle).
            cap_add: vec!["NET_ADMIN".into()],
            announces_ready: true,
            extra_labels: vec![],
            dns: dns_ip,
            files: vec![],
            route_metadata: false,
        },
        PlannedContainer {
            role: "lan",
            image: images.fixture.clone(),
            entrypoint: fixture_entry.clone(),
            cmd: lan_cmd,
            network: topology.lan_network.name.clone(),
            ip: topology.lan.ip,
            ip_v6: None,
            aliases: vec![],
            more: vec![],
            more_v6: vec![],
            sysctls: vec![],
            binds: vec![],
            cap_add: vec![],
            announces_ready: true,
            extra_labels: vec![],
            dns: dns_ip,
            files: vec![],
            route_metadata: false,
        },
        PlannedContainer {
            // A second bottle's bundle: its service ports on its own agent network, and a leg
            // on the upstream network like any bundle (where the harness checks it is alive).
            role: "neighbour",
            image: images.fixture.clone(),
            entrypoint: fixture_entry.clone(),
            cmd: neighbour_cmd,
            network: topology
                .neighbour_network
                .as_ref()
                .expect("set above")
                .name
                .clone(),
            ip: neighbour.ip,
            ip_v6: None,
            aliases: vec![],
            more: std::iter::once((
                topology.upstream_network.name.clone(),
                host_in(upstream_base, hosts::NEIGHBOUR_UPSTREAM),
            ))
            // The metadata service's leg, next to the bundle's (see above).
            .chain(
                topology
                    .metadata_network
                    .as_ref()
                    .zip(metadata_leg_ip)
                    .map(|(n, ip)| (n.name.clone(), ip)),
            )
            .collect(),
            more_v6: vec![],
            sysctls: vec![],
            binds: vec![],
            // For the metadata service's addresses (a fixture, never the bottle).
            cap_add: if topology.metadata.is_some() {
                vec!["NET_ADMIN".into()]
            } else {
                vec![]
            },
            announces_ready: true,
            extra_labels: vec![],
            dns: dns_ip,
            files: vec![],
            route_metadata: false,
        },
        PlannedContainer {
            role: "agent",
            image: images.agent.clone(),
            entrypoint: vec![probe_path.to_string()],
            cmd: vec!["idle".to_string()],
            network: topology.agent_network.name.clone(),
            ip: topology.agent_ip,
            ip_v6: topology.agent_ip_v6,
            aliases: vec![],
            more: {
                let mut more = Vec::new();
                if sabotage.agent_on_upstream {
                    more.push((
                        topology.upstream_network.name.clone(),
                        host_in(upstream_base, hosts::AGENT_UPSTREAM),
                    ));
                }
                if sabotage.neighbour_reachable {
                    more.push((
                        topology
                            .neighbour_network
                            .as_ref()
                            .expect("set above")
                            .name
                            .clone(),
                        host_in(neighbour_base, hosts::AGENT_NEIGHBOUR),
                    ));
                }
                more
            },
            more_v6: vec![],
            sysctls: vec![],
            binds: if sabotage.engine_socket {
                vec![engine_socket_bind()?]
            } else {
                vec![]
            },
            cap_add: vec![],
            announces_ready: false,
            extra_labels: vec![],
            dns: dns_ip,
            files: vec![],
            route_metadata: false,
        },
    ];
    let planned: Vec<PlannedContainer> = planned
        .into_iter()
        .filter(|p| in_container || p.role != "agent")
        .collect();
    let planned: Vec<PlannedContainer> = planned
        .into_iter()
        .map(|mut p| {
            if let (Some(ms), true) = (sabotage.slow_fixtures_ms, p.announces_ready) {
                p.cmd.extend(["--delay-ms".to_string(), ms.to_string()]);
            }
            if sabotage.ip_forward && ROUTED_ROLES.contains(&p.role) {
                p.cap_add.push("NET_ADMIN".into());
            }
            p
        })
        .collect();
    let planned = planned
        .into_iter()
        .map(|mut p| {
            // Sabotage: the agent resolves through the bundle's forwarder.
            if p.role == "agent" && sabotage.resolver_forwards {
                p.dns = bundle_ip;
            }
            if p.role == "agent" {
                p.files = agent_files.to_vec();
            }
            // The bundle's route to the metadata service needs only the bundle's own leg: it
            // is set as soon as the bundle runs, while the other containers still start.
            p.route_metadata = p.role == "bundle" && topology.metadata.is_some();
            p
        })
        .collect();
    Ok((topology, planned))
}

/// Why a bring-up attempt failed: networks (every network error; the subnets may be retried)
/// or a container.
enum BringUpError {
    Networks(Vec<bollard::errors::Error>),
    Container(BackendError),
}

/// How far one bring-up attempt is, shared between the network creator and the containers
/// waiting for their networks.
#[derive(Default)]
struct Progress {
    /// The networks created so far.
    networks: Vec<String>,
    /// A step failed: nothing new starts, and the fixtures' readiness is no longer awaited.
    failed: bool,
}

/// A container's step that did not complete.
enum StepError {
    /// Another step failed first.
    Aborted,
    Failed(BackendError),
}

/// Requests every network at once and, meanwhile, creates and starts every container as soon as
/// the networks it joins exist: the engine makes networks one at a time (~50 ms each, with the
/// CPU mostly idle), so the first containers start while the last networks are made. (Sending
/// the network requests one after the other was slower: the engine then interleaves them with
/// the container starts and each takes ~100 ms; see docs/performance.md.) Returns
/// when every container runs and every fixture has said it is ready, or when a step failed
/// and no request is in flight any more.
async fn bring_up(
    docker: &Docker,
    spec: &BottleSpec,
    networks: &[PlannedNetwork],
    containers: &[PlannedContainer],
    topology: &Topology,
) -> Result<(), BringUpError> {
    let run_labels = labels::run_labels(&spec.run_id, spec.keep);
    let progress = tokio::sync::watch::Sender::new(Progress::default());
    let create_networks = async {
        let created = futures_util::future::join_all(networks.iter().map(|planned| {
            let (progress, run_labels) = (&progress, &run_labels);
            async move {
                let created = create_network(docker, planned, run_labels).await;
                match &created {
                    Ok(()) => {
                        crate::trace::step(&format!("launch: network {} created", planned.role));
                        progress.send_modify(|p| p.networks.push(planned.name.clone()));
                    }
                    Err(_) => progress.send_modify(|p| p.failed = true),
                }
                created
            }
        }))
        .await;
        let errors: Vec<bollard::errors::Error> =
            created.into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    };
    let start_containers = futures_util::future::join_all(containers.iter().map(|planned| {
        let (progress, run_labels) = (&progress, &run_labels);
        async move {
            let result = container_up(docker, spec, planned, run_labels, topology, progress).await;
            if let Err(StepError::Failed(_)) = &result {
                progress.send_modify(|p| p.failed = true);
            }
            result
        }
    }));
    let (networks_created, containers_up) = tokio::join!(create_networks, start_containers);
    networks_created.map_err(BringUpError::Networks)?;
    for result in containers_up {
        match result {
            Ok(()) => {}
            Err(StepError::Failed(error)) => return Err(BringUpError::Container(error)),
            // Only ever after another step's failure, which is returned instead.
            Err(StepError::Aborted) => {}
        }
    }
    crate::trace::step("launch: every container up");
    Ok(())
}

/// One container: waits for its networks, creates it, copies its files in, starts it, waits
/// for its `CB-READY`, and for the bundle sets its route to the metadata service.
async fn container_up(
    docker: &Docker,
    spec: &BottleSpec,
    planned: &PlannedContainer,
    run_labels: &HashMap<String, String>,
    topology: &Topology,
    progress: &tokio::sync::watch::Sender<Progress>,
) -> Result<(), StepError> {
    let name = container_name(&spec.run_id, planned.role);
    let needs = planned.networks();
    let mut watching = progress.subscribe();
    let failed = watching
        .wait_for(|p| p.failed || needs.iter().all(|n| p.networks.iter().any(|m| m == n)))
        .await
        .map(|p| p.failed)
        .unwrap_or(true);
    if failed {
        return Err(StepError::Aborted);
    }
    create_container(docker, &spec.run_id, planned, run_labels)
        .await
        .map_err(StepError::Failed)?;
    for file in &planned.files {
        upload_binary(docker, &name, file.dir, file.name, &file.bytes)
            .await
            .map_err(StepError::Failed)?;
    }
    if progress.borrow().failed {
        return Err(StepError::Aborted);
    }
    docker
        .start_container(&name, None)
        .await
        .map_err(BackendError::engine(format!("starting {name}")))
        .map_err(StepError::Failed)?;
    crate::trace::step(&format!("launch: started {name}"));
    if planned.announces_ready {
        tokio::select! {
            ready = wait_ready(docker, &name) => ready.map_err(StepError::Failed)?,
            _ = watching.wait_for(|p| p.failed) => return Err(StepError::Aborted),
        }
        crate::trace::step(&format!("launch: {name} ready"));
    }
    if planned.route_metadata {
        route_bundle_to_metadata(docker, spec, topology)
            .await
            .map_err(StepError::Failed)?;
        crate::trace::step("launch: bundle routed to the metadata service");
    }
    Ok(())
}

/// What follows a bring-up: the ip-forward sabotage's routes, the agent network's IPv6 gateway.
async fn finish(
    docker: &Docker,
    spec: &BottleSpec,
    images: &Images,
    in_container: bool,
    topology: Topology,
) -> Result<Bottle, BackendError> {
    if in_container && spec.sabotage.ip_forward {
        route_through_bundle(docker, &spec.run_id, &topology).await?;
    }
    // With IPv6 on the agent network (ipv6-host), the host's address there must be usable
    // before the probes run, or they would miss a host that is about to answer. (The LAN
    // network's is awaited by the harness before its liveness checks, after the probes.)
    if let Some(gateway) = topology.agent_network.gateway_v6 {
        crate::hostnet::wait_usable_v6(gateway).await;
    }
    let probe_path = images.probe_path();
    let agent_name = container_name(&spec.run_id, "agent");
    Ok(bottle_from(topology, agent_name, probe_path))
}

/// The containers the ip-forward sabotage gives a route (and NET_ADMIN to set it).
const ROUTED_ROLES: [&str; 1] = ["agent"];
/// Where the sabotage tool is copied in the agent (ip-forward only).
const SABOTAGE_TOOL_DIR: &str = ".claude-bottle-sabotage";
const ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ip-forward sabotage: the agent sends the upstream network through the bundle, and the
/// bundle forwards with source NAT (as a gateway container would), so whole connections go
/// through. Measured on Docker 20.10 with bridge netfilter on: forwarding alone stays
/// contained, because the internal-network rules drop bridged frames whose destination is
/// outside the agent network and, on the upstream side, whose source is outside it; so this
/// sabotage also leaves the agent network non-internal (with the host block kept, so the
/// agent still has no way out through the host) and masquerades in the bundle.
/// The route is an exec in the agent (created with NET_ADMIN for this sabotage only); the NAT
/// rule is set from this machine in the bundle's network namespace (`nsenter` + `iptables`,
/// root only), which no image needs to carry.
async fn route_through_bundle(
    docker: &Docker,
    run_id: &str,
    topology: &Topology,
) -> Result<(), BackendError> {
    let agent_tool = format!("/{SABOTAGE_TOOL_DIR}/bottle-fixture");
    let mut destinations = vec![topology.upstream_network.subnet.clone()];
    if let Some(metadata) = &topology.metadata {
        destinations.push(format!("{}/32", metadata.ip));
    }
    for destination in destinations {
        let route = vec![
            agent_tool.clone(),
            "route".to_string(),
            destination,
            topology.bundle_ip.to_string(),
        ];
        super::exec::exec_checked(
            docker,
            &container_name(run_id, "agent"),
            &route,
            ROUTE_TIMEOUT,
        )
        .await?;
    }
    let bundle = container_name(run_id, "bundle");
    let pid = container_pid(docker, &bundle).await?;
    let subnet = topology.agent_network.subnet.clone();
    nsenter(
        &bundle,
        pid,
        std::ffi::OsStr::new("iptables"),
        &[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            &subnet,
            "!",
            "-d",
            &subnet,
            "-j",
            "MASQUERADE",
        ],
        "the ip-forward sabotage's NAT rule (needs root, nsenter and iptables)",
    )
    .await
}

/// The metadata address; only ever held by the harness's fixture, inside the bottle's world.
const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Why this run cannot have a metadata fixture, if it cannot. The fixture is only safe when
/// the bundle's route to 169.254.169.254 ends at it (otherwise a proxy that let the request
/// through would send it towards this machine's own route, which may be a real metadata
/// service); that route is set from this machine (`nsenter`, root). A microVM's traffic leaves
/// through this machine's NAT, so under smolmachines there is no such guarantee at all.
fn metadata_unavailable(in_container: bool) -> Option<String> {
    if !in_container {
        return Some("the agent is a microVM whose traffic leaves through this machine's NAT, so 169.254.169.254 cannot be made to end at a fixture".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "routing the bundle's 169.254.169.254 to the fixture needs root (nsenter)".into(),
        );
    }
    let nsenter = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("nsenter").is_file()))
        .unwrap_or(false);
    (!nsenter).then(|| "nsenter (util-linux) is not installed".into())
}

/// Routes the bundle's 169.254.169.254 to the metadata fixture: `nsenter` into the bundle's
/// network namespace and run this machine's copy of the fixture binary's `route`, so no image
/// needs a tool or a capability.
async fn route_bundle_to_metadata(
    docker: &Docker,
    spec: &BottleSpec,
    topology: &Topology,
) -> Result<(), BackendError> {
    let (Some(metadata), Some(via)) = (&topology.metadata, topology.metadata_leg_ip) else {
        return Ok(());
    };
    let bundle = container_name(&spec.run_id, "bundle");
    let pid = container_pid(docker, &bundle).await?;
    let destination = format!("{}/32", metadata.ip);
    nsenter(
        &bundle,
        pid,
        spec.fixture_binary.as_os_str(),
        &["route", &destination, &via.to_string()],
        "the bundle's route to the metadata fixture",
    )
    .await
}

async fn container_pid(docker: &Docker, name: &str) -> Result<i64, BackendError> {
    docker
        .inspect_container(name, None)
        .await
        .map_err(BackendError::engine(format!("inspecting {name}")))?
        .state
        .and_then(|state| state.pid)
        .filter(|pid| *pid > 0)
        .ok_or_else(|| BackendError::FixtureStart {
            name: name.to_string(),
            reason: "no process id to enter its network namespace".into(),
        })
}

/// Runs `program args` inside the network namespace of process `pid` (`nsenter -n`).
async fn nsenter(
    container: &str,
    pid: i64,
    program: &std::ffi::OsStr,
    args: &[&str],
    what: &str,
) -> Result<(), BackendError> {
    let mut command = std::process::Command::new("nsenter");
    command
        .args(["-t", &pid.to_string(), "-n", "--"])
        .arg(program)
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| BackendError::FixtureStart {
            name: container.to_string(),
            reason: e.to_string(),
        })?;
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(BackendError::FixtureStart {
            name: container.to_string(),
            reason: format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
        Err(error) => Err(BackendError::FixtureStart {
            name: container.to_string(),
            reason: format!("{what}: cannot run nsenter: {error}"),
        }),
    }
}

/// The engine-socket sabotage's bind mount: the unix socket this harness talks to.
fn engine_socket_bind() -> Result<String, BackendError> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let path = host.strip_prefix("unix://").unwrap_or("");
    if path.is_empty() || !std::path::Path::new(path).exists() {
        return Err(BackendError::FixtureStart {
            name: "agent".into(),
            reason: format!(
                "the engine-socket sabotage needs a unix socket engine; DOCKER_HOST is {host}"
            ),
        });
    }
    Ok(format!("{path}:/var/run/docker.sock"))
}

fn bottle_from(topology: Topology, agent_name: String, probe_path: &str) -> Bottle {
    let run_id = topology.run_id.clone();
    Bottle {
        // The public host's container also stands for the DNS canary and the metadata service.
        fixture_refs: ["public", "lan", "bundle", "neighbour"]
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
        let real_subnets: Vec<String> = real
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .map(|configs| configs.iter().filter_map(|c| c.subnet.clone()).collect())
            .unwrap_or_default();
        let real_subnet = real_subnets.first().cloned().unwrap_or_default();
        if let Some(v6) = &claimed.subnet_v6 {
            if !real_subnets.contains(v6) {
                return Err(corrupt(format!(
                    "network {} has no IPv6 subnet {v6}, which the label claims",
                    claimed.name
                )));
            }
        }
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
    if let Some(public_v6) = topology.public_v6 {
        let inside_v6 = topology
            .public_v6_network
            .as_ref()
            .and_then(|n| n.gateway_v6)
            .is_some_and(|gw| gw.segments()[..4] == public_v6.segments()[..4]);
        if !inside_v6 {
            return Err(corrupt(format!(
                "the public host's IPv6 address {public_v6} is outside its IPv6 network"
            )));
        }
    }
    if let Some(metadata) = &topology.metadata {
        if metadata.ip != METADATA_IP {
            return Err(corrupt(format!(
                "the metadata fixture claims {} instead of {METADATA_IP}",
                metadata.ip
            )));
        }
    }
    let neighbour_ips = topology
        .neighbour
        .iter()
        .map(|n| ("neighbour", n.ip))
        .chain(
            topology
                .neighbour_upstream_ip
                .map(|ip| ("neighbour upstream", ip)),
        )
        .chain(
            topology
                .metadata_upstream_ip
                .map(|ip| ("metadata fixture", ip)),
        )
        .chain(
            topology
                .metadata_leg_ip
                .map(|ip| ("metadata fixture's leg", ip)),
        );
    for (what, ip) in neighbour_ips.chain([
        ("agent", topology.agent_ip),
        ("bundle", topology.bundle_ip),
        ("bundle upstream", topology.bundle_upstream_ip),
        ("public host", topology.public.ip),
        ("LAN host", topology.lan.ip),
        ("DNS canary", topology.dns.ip),
    ]) {
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

    /// The fault knob may only move a network to a subnet the harness could have picked itself,
    /// never onto one of this machine's (or anyone's) real networks.
    #[test]
    fn the_fault_knob_stays_in_the_harness_range() {
        for _ in 0..200 {
            assert!(random_bases().iter().all(|base| in_harness_range(*base)));
        }
        for outside in [
            Ipv4Addr::new(192, 168, 1, 0),
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(10, 251, 1, 0),
            Ipv4Addr::new(10, 220, 255, 0),
            Ipv4Addr::new(10, 220, 5, 128),
            Ipv4Addr::new(169, 254, 169, 0),
        ] {
            assert!(!in_harness_range(outside), "{outside}");
        }
    }

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
