//! The bundle's ports published on this machine's loopback (smolvm's desktop mode): which
//! host port the engine picked for each, read back from the bundle's own inspection after it
//! started (and again when a bottle is found by its run id), since the engine chooses them.

use bollard::Docker;

use super::placement::AgentPlacement;
use super::roles::ContainerRole;
use crate::errors::BackendError;
use crate::topology::{Layout, PublishedPort};

/// Where the bundle's ports are published: this machine's loopback only, never an address
/// another machine could reach.
pub(crate) const LOOPBACK: &str = "127.0.0.1";

/// The bundle's published ports as the engine picked them, where the placement publishes them
/// (none otherwise).
pub(crate) async fn for_placement(
    docker: &Docker,
    agent: &AgentPlacement,
    layout: &Layout,
) -> Result<Vec<PublishedPort>, BackendError> {
    if !agent.publishes_bundle() {
        return Ok(vec![]);
    }
    read(docker, &layout.run_id, &layout.ports.declared()).await
}

/// The host port of each of the bundle's `ports` as the engine published it on [`LOOPBACK`].
/// A port the engine did not publish there is an error: the agent would be pointed at nothing,
/// or at whatever else listens on that port of the loopback.
async fn read(
    docker: &Docker,
    run_id: &str,
    ports: &[u16],
) -> Result<Vec<PublishedPort>, BackendError> {
    let name = ContainerRole::Bundle.container_name(run_id);
    let inspected = docker
        .inspect_container(&name, None)
        .await
        .map_err(BackendError::engine(format!("inspecting {name}")))?;
    let map = inspected
        .network_settings
        .and_then(|settings| settings.ports)
        .unwrap_or_default();
    ports
        .iter()
        .map(|&port| {
            host_port(&map, port).ok_or_else(|| BackendError::Corrupt {
                run_id: run_id.to_string(),
                reason: format!(
                    "the bundle's port {port} is not published on {LOOPBACK} (the engine reports {:?})",
                    map.get(&format!("{port}/tcp"))
                ),
            })
        })
        .collect()
}

/// The host port the engine reports for the bundle's TCP `port` on [`LOOPBACK`].
fn host_port(map: &bollard::models::PortMap, port: u16) -> Option<PublishedPort> {
    map.get(&format!("{port}/tcp"))?
        .as_ref()?
        .iter()
        .filter(|binding| binding.host_ip.as_deref() == Some(LOOPBACK))
        .find_map(|binding| binding.host_port.as_deref()?.parse().ok())
        .map(|host| PublishedPort { bundle: port, host })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortBinding;

    fn binding(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    /// What Docker 20.10 reports for `-p 127.0.0.1::3128`: the loopback binding decides; a
    /// binding on another address, an unparsable port or a port never published is no answer.
    #[test]
    fn the_loopback_binding_is_read() {
        let map: bollard::models::PortMap = [
            (
                "3128/tcp".to_string(),
                Some(vec![
                    binding("0.0.0.0", "40000"),
                    binding(LOOPBACK, "49153"),
                ]),
            ),
            (
                "9418/tcp".to_string(),
                Some(vec![binding("0.0.0.0", "40001")]),
            ),
            ("9100/tcp".to_string(), Some(vec![binding(LOOPBACK, "x")])),
            ("9099/tcp".to_string(), None),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            host_port(&map, 3128),
            Some(PublishedPort {
                bundle: 3128,
                host: 49153
            })
        );
        for unpublished in [9418, 9100, 9099, 22] {
            assert_eq!(host_port(&map, unpublished), None, "{unpublished}");
        }
    }
}
