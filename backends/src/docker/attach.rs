//! Finding a running bottle again by its run id (`probe --bottle`, `down`): the topology label
//! on its bundle, checked against what the engine reports before the harness sends anything to
//! the addresses it names; and the [`Bottle`] handle a bring-up or an attach returns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use bollard::Docker;

use super::images;
use super::placement::AgentPlacement;
use super::roles::ContainerRole;
use super::routes::METADATA_IP;
use super::subnets::v6_host;
use crate::errors::BackendError;
use crate::labels;
use crate::platform::{EngineHost, EnginePlatform};
use crate::spec::{host_in, hosts};
use crate::topology::{Bottle, EngineView, Layout, Topology};

/// The handle to a bottle whose agent is `agent_name` with the probe at `probe_path`.
pub(crate) fn bottle_from(topology: Topology, agent_name: String, probe_path: &str) -> Bottle {
    let run_id = topology.layout().run_id.clone();
    Bottle {
        fixture_refs: ContainerRole::RECORD_HOLDERS
            .iter()
            .map(|role| (role.to_string(), role.container_name(&run_id)))
            .collect(),
        run_id,
        topology,
        agent_ref: agent_name,
        probe_path: probe_path.to_string(),
    }
}

/// Finds a running bottle by its run id: the layout from the label on its bundle, checked
/// against the engine; the engine's facts read again; the agent's side as `agent` says.
pub(crate) async fn attach(
    docker: &Docker,
    run_id: &str,
    agent: &AgentPlacement,
) -> Result<Bottle, BackendError> {
    let found = run_containers(docker, run_id).await?;
    let corrupt = |reason: String| BackendError::Corrupt {
        run_id: run_id.to_string(),
        reason,
    };
    let bundle = found
        .iter()
        .find(|c| role_of(c) == ContainerRole::Bundle.as_str())
        .ok_or_else(|| BackendError::NoSuchBottle(run_id.to_string()))?;
    let json = bundle
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::TOPOLOGY))
        .ok_or_else(|| corrupt("the bundle has no topology label".into()))?;
    let layout: Layout =
        serde_json::from_str(json).map_err(|source| BackendError::UnreadableLabel {
            run_id: run_id.to_string(),
            source,
        })?;
    // What only the running engine can say is asked again, never taken from the label: whether
    // it is Docker Desktop, and where its host-gateway leads (`checker::engine_host_names`).
    let reported = reported_engine_host(docker).await?;
    if reported == EngineHost::DockerDesktop && layout.engine_host.routes_to_bridges() {
        return Err(corrupt(
            "the label says the engine is on this machine, and the engine reports Docker Desktop"
                .into(),
        ));
    }
    verify_layout(docker, run_id, &layout).await?;
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
        .find(|c| role_of(c) == ContainerRole::Agent.as_str())
        .and_then(|agent| agent.command.clone())
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| images::BUILTIN_PROBE_PATH.to_string());
    let engine = EngineView {
        reported,
        host_names: super::checker::engine_host_names(docker, &layout).await?,
    };
    let published = super::published::for_placement(docker, agent, &layout).await?;
    let topology = Topology::assemble(layout, engine, agent.agent_side(published));
    Ok(bottle_from(
        topology,
        ContainerRole::Agent.container_name(run_id),
        &probe_path,
    ))
}

/// Every container of the run, running or not.
async fn run_containers(
    docker: &Docker,
    run_id: &str,
) -> Result<Vec<bollard::models::ContainerSummary>, BackendError> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{}={run_id}", labels::RUN)],
        )])),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .map_err(BackendError::engine("listing bottles"))
}

/// A container's role label as it is (an unknown role is named as it is in the "not running"
/// error).
fn role_of(c: &bollard::models::ContainerSummary) -> String {
    c.labels
        .as_ref()
        .and_then(|l| l.get(labels::ROLE).cloned())
        .unwrap_or_default()
}

/// Where the engine runs, as it says itself (`GET /info`).
async fn reported_engine_host(docker: &Docker) -> Result<EngineHost, BackendError> {
    let info = docker
        .info()
        .await
        .map_err(BackendError::engine("reading the engine's /info"))?;
    Ok(EnginePlatform::from_info(
        info.architecture.as_deref(),
        info.operating_system.as_deref(),
    )
    .map(|p| p.host)
    .unwrap_or_default())
}

/// Checks a topology read back from a label against what the engine reports: every network it
/// names carries this run's label and the subnet it claims, and every address it will send to
/// lies inside one of them. A label that was edited can then not aim the harness at addresses
/// it did not create.
async fn verify_layout(docker: &Docker, run_id: &str, layout: &Layout) -> Result<(), BackendError> {
    let corrupt = |reason: String| BackendError::Corrupt {
        run_id: run_id.to_string(),
        reason,
    };
    let gateways = verify_networks(docker, run_id, layout, &corrupt).await?;
    verify_addresses(layout, &gateways).map_err(corrupt)
}

/// The claimed networks' gateways, once each claimed network is one of this run's with the
/// subnets the label claims (else `corrupt` with the reason).
async fn verify_networks(
    docker: &Docker,
    run_id: &str,
    layout: &Layout,
    corrupt: &impl Fn(String) -> BackendError,
) -> Result<Vec<Ipv4Addr>, BackendError> {
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{}={run_id}", labels::RUN)],
            )])),
        }))
        .await
        .map_err(BackendError::engine("listing the bottle's networks"))?;
    let mut gateways = Vec::new();
    for claimed in layout.networks() {
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
        gateways.push(claimed.gateway);
    }
    Ok(gateways)
}

/// Whether every address the topology will send to lies inside the run's networks (given by
/// their gateways); the error is why the label is corrupt.
fn verify_addresses(layout: &Layout, gateways: &[Ipv4Addr]) -> Result<(), String> {
    let inside = |ip: Ipv4Addr| {
        gateways
            .iter()
            .any(|gw| gw.octets()[..3] == ip.octets()[..3])
    };
    if let Some(public_v6) = layout.public_v6 {
        let inside_v6 = layout
            .public_v6_network
            .as_ref()
            .and_then(|n| n.gateway_v6)
            .is_some_and(|gw| gw.segments()[..4] == public_v6.segments()[..4]);
        if !inside_v6 {
            return Err(format!(
                "the public host's IPv6 address {public_v6} is outside its IPv6 network"
            ));
        }
    }
    if let Some(metadata) = &layout.metadata {
        if metadata.ip != METADATA_IP {
            return Err(format!(
                "the metadata fixture claims {} instead of {METADATA_IP}",
                metadata.ip
            ));
        }
    }
    let neighbour_ips = layout
        .neighbour
        .iter()
        .map(|n| ("neighbour", n.ip))
        .chain(
            layout
                .neighbour_upstream_ip
                .map(|ip| ("neighbour upstream", ip)),
        )
        .chain(
            layout
                .metadata_upstream_ip
                .map(|ip| ("metadata fixture", ip)),
        )
        .chain(
            layout
                .metadata_leg_ip
                .map(|ip| ("metadata fixture's leg", ip)),
        );
    for (what, ip) in neighbour_ips.chain([
        ("agent", layout.agent_ip),
        ("bundle", layout.bundle_ip),
        ("bundle upstream", layout.bundle_upstream_ip),
        ("public host", layout.public.ip),
        ("LAN host", layout.lan.ip),
        ("DNS canary", layout.dns.ip),
    ]) {
        if !inside(ip) {
            return Err(format!(
                "the {what} address {ip} is outside the run's networks"
            ));
        }
    }
    verify_checker(layout, gateways)
}

/// Whether the checker's claimed addresses are its pinned ones (`.60` of a claimed network,
/// `::3c` of the public IPv6 network): records from them are explained away as the harness's
/// own, so a label that claimed the agent's or the bundle's address would hide their traffic.
fn verify_checker(layout: &Layout, gateways: &[Ipv4Addr]) -> Result<(), String> {
    let public6_v6 = layout
        .public_v6_network
        .as_ref()
        .and_then(|n| n.gateway_v6)
        .map(|gw| v6_host(gw, u16::from(hosts::CHECKER)));
    for ip in &layout.checker_ips {
        let pinned = match ip {
            IpAddr::V4(ip) => gateways
                .iter()
                .any(|gw| host_in(*gw, hosts::CHECKER) == *ip),
            IpAddr::V6(ip) => public6_v6 == Some(*ip),
        };
        if !pinned {
            return Err(format!(
                "the checker address {ip} is not the checker's pinned address on any of the run's networks"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::layout::tests::planned_with;

    fn gateways(layout: &Layout) -> Vec<Ipv4Addr> {
        layout.networks().iter().map(|n| n.gateway).collect()
    }

    /// A label may claim only the checker's pinned addresses for it: records from those are
    /// explained as the harness's own, so claiming the agent's would hide the agent.
    #[test]
    fn a_label_cannot_make_another_address_the_checkers() {
        let (layout, _) = planned_with(EngineHost::DockerDesktop, true);
        assert_eq!(layout.checker_ips.len(), 5);
        assert_eq!(verify_addresses(&layout, &gateways(&layout)), Ok(()));
        let forged = [
            IpAddr::V4(layout.agent_ip),
            IpAddr::V4(layout.bundle_upstream_ip),
            IpAddr::V4(host_in(layout.upstream_network.gateway, 61)),
            IpAddr::V6(layout.public_v6.unwrap()),
            "192.0.2.60".parse().unwrap(),
        ];
        for ip in forged {
            let mut edited = layout.clone();
            edited.checker_ips.push(ip);
            let refused = verify_addresses(&edited, &gateways(&edited)).unwrap_err();
            assert!(refused.contains(&ip.to_string()), "{ip}: {refused}");
        }
        let (local, _) = planned_with(EngineHost::Local, true);
        assert_eq!(verify_addresses(&local, &gateways(&local)), Ok(()));
    }
}
