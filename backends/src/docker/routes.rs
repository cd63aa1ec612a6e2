//! Routes set inside a running bottle: the bundle's route to the metadata fixture (and whether
//! this machine can set it at all), and the ip-forward sabotage's route through the bundle with
//! its NAT rule. Set from this machine (`nsenter` into a container's network namespace) or by an
//! exec, so that no image needs a tool or a capability of its own.

use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::Docker;

use super::roles::ContainerRole;
use crate::errors::BackendError;
use crate::platform::EngineHost;
use crate::spec::BottleSpec;
use crate::topology::Layout;

/// The metadata address; only ever held by the harness's fixture, inside the bottle's world.
pub(crate) const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// The containers the ip-forward sabotage gives a route (and NET_ADMIN to set it).
pub(crate) const ROUTED_ROLES: [ContainerRole; 1] = [ContainerRole::Agent];
/// Where the sabotage tool is copied in the agent (ip-forward only).
pub(crate) const SABOTAGE_TOOL_DIR: &str = ".claude-bottle-sabotage";
const ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why this run cannot have a metadata fixture, if it cannot. The fixture is only safe when
/// the bundle's route to 169.254.169.254 ends at it (otherwise a proxy that let the request
/// through would send it towards this machine's own route, which may be a real metadata
/// service); that route is set from this machine (`nsenter`, root). A microVM's traffic leaves
/// through this machine's NAT, so under smolmachines there is no such guarantee at all.
pub(crate) fn metadata_unavailable(in_container: bool, engine_host: EngineHost) -> Option<String> {
    if !in_container {
        return Some("the agent is a microVM whose traffic leaves through this machine's NAT, so 169.254.169.254 cannot be made to end at a fixture".into());
    }
    // Docker Desktop for Linux too: the engine's PIDs are the VM's, not this machine's.
    if cfg!(not(target_os = "linux")) || !engine_host.routes_to_bridges() {
        return Some("routing the bundle's 169.254.169.254 to the fixture enters the bundle's network namespace with nsenter, which needs the engine on this (Linux) machine; under Docker Desktop the engine runs in a VM".into());
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
pub(crate) async fn route_bundle_to_metadata(
    docker: &Docker,
    spec: &BottleSpec,
    layout: &Layout,
) -> Result<(), BackendError> {
    let (Some(metadata), Some(via)) = (&layout.metadata, layout.metadata_leg_ip) else {
        return Ok(());
    };
    let bundle = ContainerRole::Bundle.container_name(&spec.run_id);
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
        .map_err(|source| BackendError::Task {
            step: format!("{what} in {container}"),
            source,
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
        Err(source) => Err(BackendError::Spawn {
            name: format!("fixture {container} failed to start"),
            step: what.to_string(),
            program: "nsenter",
            source,
        }),
    }
}

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
pub(crate) async fn route_through_bundle(
    docker: &Docker,
    run_id: &str,
    layout: &Layout,
) -> Result<(), BackendError> {
    let agent_tool = format!("/{SABOTAGE_TOOL_DIR}/bottle-fixture");
    let mut destinations = vec![layout.upstream_network.subnet.clone()];
    if let Some(metadata) = &layout.metadata {
        destinations.push(format!("{}/32", metadata.ip));
    }
    for destination in destinations {
        let route = vec![
            agent_tool.clone(),
            "route".to_string(),
            destination,
            layout.bundle_ip.to_string(),
        ];
        super::exec::exec_checked(
            docker,
            &ContainerRole::Agent.container_name(run_id),
            &route,
            ROUTE_TIMEOUT,
        )
        .await?;
    }
    if !layout.engine_host.routes_to_bridges() {
        return Err(BackendError::FixtureStart {
            name: ContainerRole::Bundle.container_name(run_id),
            reason: "the ip-forward sabotage sets its NAT rule with nsenter from this machine, which needs the engine on this machine (not Docker Desktop's VM)".into(),
        });
    }
    let bundle = ContainerRole::Bundle.container_name(run_id);
    let pid = container_pid(docker, &bundle).await?;
    let subnet = layout.agent_network.subnet.clone();
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
