//! Waiting for a user's bundle to be ready. A user's image says nothing when it is ready (the
//! built-in bundle prints `CB-READY`), and Squid, for one, listens 72-157 ms after its start
//! while the probes began 74-112 ms after it (docs/field notes: 16 of 37 runs raced). So before
//! the probes the harness waits until every declared port (pipelock, git-gate, supervise)
//! accepts a connection from the agent's own network: from inside the agent (`bottle-probe
//! wait-tcp`), or from this machine's address on that network when the agent is a microVM. A
//! microVM's bottle on an engine this machine cannot route to (Docker Desktop) is waited for
//! from the checker instead, at the bundle's upstream address: this machine's packets to a
//! bridge address would leave by its default route, to a network that is not the harness's.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bollard::Docker;

use super::bundle_state::bundle_health;
use super::images;
use crate::errors::BackendError;
use crate::topology::Layout;

/// How long a user's bundle may take to open its ports after it started.
pub(crate) const BUNDLE_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the readiness wait connects from.
pub(crate) enum WaitFrom<'a> {
    /// Inside the agent container (its name, the probe's path there).
    Agent(&'a str, &'a str),
    /// Inside the checker (its name), at the bundle's upstream address.
    Checker(&'a str),
    /// This machine, from its address on the agent network (a microVM's agent).
    ThisMachine,
}

/// The declared ports of the bundle, as the agent addresses them (or, from the checker, at the
/// bundle's upstream address).
fn declared(layout: &Layout, from: &WaitFrom) -> Vec<SocketAddr> {
    let ip = match from {
        WaitFrom::Checker(_) => layout.bundle_upstream_ip,
        WaitFrom::Agent(..) | WaitFrom::ThisMachine => layout.bundle_ip,
    };
    layout
        .ports
        .declared()
        .into_iter()
        .map(|port| SocketAddr::V4(SocketAddrV4::new(ip, port)))
        .collect()
}

/// Waits until every declared port of the bundle accepts a connection from the agent network;
/// the error names the image and the first port that never opened, with the bundle's state.
pub(crate) async fn wait_bundle_ports(
    docker: &Docker,
    layout: &Layout,
    image: &str,
    from: WaitFrom<'_>,
) -> Result<(), BackendError> {
    let addrs = declared(layout, &from);
    let started = Instant::now();
    let closed = match from {
        WaitFrom::Agent(agent_name, probe_path) => {
            from_container(docker, agent_name, probe_path, &addrs).await?
        }
        WaitFrom::Checker(checker_name) => {
            from_container(docker, checker_name, images::USER_PROBE_PATH, &addrs).await?
        }
        WaitFrom::ThisMachine => from_host(&addrs).await,
    };
    crate::trace::step(&format!(
        "launch: bundle ports open after {} ms",
        started.elapsed().as_millis()
    ));
    let Some((addr, last)) = closed.into_iter().next() else {
        return Ok(());
    };
    let state = match bundle_health(docker, &layout.run_id).await {
        Ok(health) => health
            .failure()
            .map(|f| format!("; {f}"))
            .unwrap_or_default(),
        Err(error) => format!("; its state is unknown: {error}"),
    };
    Err(BackendError::BundleNotReady {
        image: image.to_string(),
        port: addr.port(),
        addr: addr.to_string(),
        seconds: BUNDLE_READY_TIMEOUT.as_secs_f64(),
        last,
        state,
    })
}

/// Waits from inside a container with the probe (the agent, the checker); returns the
/// addresses that never opened, with the last error.
async fn from_container(
    docker: &Docker,
    agent_name: &str,
    probe_path: &str,
    addrs: &[SocketAddr],
) -> Result<Vec<(SocketAddr, String)>, BackendError> {
    let mut argv = vec![
        probe_path.to_string(),
        "wait-tcp".to_string(),
        BUNDLE_READY_TIMEOUT.as_millis().to_string(),
    ];
    argv.extend(addrs.iter().map(ToString::to_string));
    let bound = BUNDLE_READY_TIMEOUT * 2 + Duration::from_secs(5);
    let output = super::exec::exec(docker, agent_name, &argv, bound, 16 * 1024).await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let closed = parse_closed(&stdout, addrs);
    if output.exit_code != Some(0) && closed.is_empty() {
        return Err(BackendError::FixtureStart {
            name: agent_name.to_string(),
            reason: format!(
                "the readiness wait for the bundle's ports exited {:?}: {}",
                output.exit_code,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(closed)
}

/// The addresses `bottle-probe wait-tcp` reported closed (`CB-CLOSED ADDR ERROR`), and any it
/// did not report open at all.
fn parse_closed(stdout: &str, addrs: &[SocketAddr]) -> Vec<(SocketAddr, String)> {
    addrs
        .iter()
        .filter_map(|addr| {
            let find = |tag: &str| {
                stdout.lines().find_map(|line| {
                    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
                    let (a, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                    (a == addr.to_string()).then(|| tail.to_string())
                })
            };
            if find("CB-OPEN").is_some() {
                return None;
            }
            let last = find("CB-CLOSED").unwrap_or_else(|| "not reported".into());
            Some((*addr, last.replace('_', " ")))
        })
        .collect()
}

/// Waits from this machine (its address on the agent network: a microVM's agent).
async fn from_host(addrs: &[SocketAddr]) -> Vec<(SocketAddr, String)> {
    let until = Instant::now() + BUNDLE_READY_TIMEOUT;
    let mut closed = Vec::new();
    for addr in addrs {
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await;
            let error = match attempt {
                Ok(Ok(_)) => break,
                Ok(Err(error)) => error.to_string(),
                Err(_) => "connect timed out".to_string(),
            };
            if Instant::now() >= until {
                closed.push((*addr, error));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_ports_are_the_ones_not_reported_open() {
        let addrs: Vec<SocketAddr> = ["10.0.0.2:3128", "10.0.0.2:9100", "10.0.0.2:9418"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let out =
            "CB-OPEN 10.0.0.2:3128 12\nCB-CLOSED 10.0.0.2:9100 Connection_refused_(os_error_111)\n";
        let closed = parse_closed(out, &addrs);
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0].0, addrs[1]);
        assert_eq!(closed[0].1, "Connection refused (os error 111)");
        assert_eq!(closed[1], (addrs[2], "not reported".to_string()));
    }
}
