//! Creating the Docker objects a plan names: a network (and making its IPv6 gateway usable at
//! once), a container with its extra networks joined before start, and files copied into a
//! container before it starts. Every object carries the run's labels from its first request.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{CreateContainerOptions, UploadToContainerOptions};
use bollard::Docker;

use super::plan::{PlannedContainer, PlannedNetwork};
use super::subnets::v6_host;
use crate::errors::BackendError;
use crate::labels;
use crate::spec::host_in;

/// Creates one planned network. The error is the engine's own, so that the bring-up can tell a
/// taken subnet (retried elsewhere) from any other refusal.
pub(crate) async fn create_network(
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
    if !planned.masquerade {
        options.insert(
            "com.docker.network.bridge.enable_ip_masquerade".to_string(),
            "false".to_string(),
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

/// Each port published on this machine's loopback only, on a port the engine picks (an empty
/// `HostPort`): two runs at once, or a service of the user's, never clash on a fixed one.
fn port_bindings(ports: &[u16]) -> bollard::models::PortMap {
    ports
        .iter()
        .map(|port| {
            (
                format!("{port}/tcp"),
                Some(vec![bollard::models::PortBinding {
                    host_ip: Some(super::published::LOOPBACK.to_string()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect()
}

/// Creates one planned container (not started) on its first network, then joins the others.
pub(crate) async fn create_container(
    docker: &Docker,
    run_id: &str,
    planned: &PlannedContainer,
    run_labels: &HashMap<String, String>,
) -> Result<(), BackendError> {
    let name = planned.role.container_name(run_id);
    let mut container_labels = run_labels.clone();
    container_labels.insert(labels::ROLE.to_string(), planned.role.to_string());
    container_labels.extend(planned.extra_labels.iter().cloned());
    if let Some(of) = planned.shares_namespace_of {
        let of = of.container_name(run_id);
        return create_in_namespace(docker, (run_id, &name), planned, of, container_labels).await;
    }
    let body = ContainerCreateBody {
        image: Some(planned.image.clone()),
        // Unset (not empty) keeps the image's own: an empty entrypoint would drop an
        // ENTRYPOINT-only image's command ("No command specified").
        entrypoint: (!planned.image_command).then(|| planned.entrypoint.clone()),
        cmd: (!planned.image_command).then(|| planned.cmd.clone()),
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
            extra_hosts: (!planned.extra_hosts.is_empty()).then(|| planned.extra_hosts.clone()),
            port_bindings: (!planned.publish.is_empty()).then(|| port_bindings(&planned.publish)),
            ..Default::default()
        }),
        exposed_ports: (!planned.publish.is_empty())
            .then(|| planned.publish.iter().map(|p| format!("{p}/tcp")).collect()),
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

/// Creates a planned container in the network namespace of the running container `of`: no
/// networks, hostname or resolver of its own (the engine refuses them with that network mode).
async fn create_in_namespace(
    docker: &Docker,
    (run_id, name): (&str, &str),
    planned: &PlannedContainer,
    of: String,
    labels: HashMap<String, String>,
) -> Result<(), BackendError> {
    // What a container of its own network namespace would have and this one cannot: a plan
    // that sets it here is a bug, said rather than dropped.
    let unsupported = [
        ("sysctls", !planned.sysctls.is_empty()),
        ("binds", !planned.binds.is_empty()),
        ("extra hosts", !planned.extra_hosts.is_empty()),
        ("the image's own command", planned.image_command),
    ];
    if let Some((what, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(BackendError::Corrupt {
            run_id: run_id.to_string(),
            reason: format!("{name} shares another container's namespace and cannot have {what}"),
        });
    }
    let body = ContainerCreateBody {
        image: Some(planned.image.clone()),
        entrypoint: Some(planned.entrypoint.clone()),
        cmd: Some(planned.cmd.clone()),
        labels: Some(labels),
        env: Some(vec![]),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{of}")),
            cap_add: (!planned.cap_add.is_empty()).then(|| planned.cap_add.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.to_string()),
        ..Default::default()
    };
    docker
        .create_container(Some(options), body)
        .await
        .map_err(BackendError::engine(format!("creating container {name}")))?;
    Ok(())
}

/// Copies `bytes` to `/<dir>/<file>` (mode 755) in a created, not yet started, container.
pub(crate) async fn upload_binary(
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
