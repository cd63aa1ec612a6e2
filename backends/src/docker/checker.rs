//! The checker: the harness's own container on the fixture networks, for engines whose bridges
//! this machine cannot send to (Docker Desktop runs the engine in a VM, and its networking
//! documentation lists container IP addresses as not reachable from the host; not measured
//! here, no Mac). The harness execs its liveness checks of the fixture hosts there instead of
//! sending them from this machine, and reads from its `/etc/hosts` where the engine's
//! `host-gateway` (the name `host.docker.internal`) leads, so that the localhost probes can aim
//! there too, each route proven by a check from the checker (`host::liveness_checks`).
//!
//! The checker is created on a network of its own (not `internal`: its way to the
//! host-gateway) and joins the upstream, LAN and public IPv6 networks, never the agent's; it
//! listens on nothing (see `layout::checker`). A bottle without one (a local engine) says so:
//! its topology has no checker addresses, and an exec there is an error, never a silent
//! success.

use std::net::IpAddr;
use std::time::Duration;

use bollard::query_parameters::DownloadFromContainerOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::roles::ContainerRole;
use super::vantage::DESKTOP_HOST_NAME;
use crate::errors::BackendError;
use crate::topology::{HostName, Layout};

/// How long reading the checker's `/etc/hosts` may take (one small archive).
const HOSTS_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of the archive that is read: `/etc/hosts` is a few hundred bytes.
const HOSTS_MAX_BYTES: usize = 64 * 1024;

/// What only the running engine knows about a bottle with a checker: the addresses the
/// engine's names for this machine lead to, read from the checker. Without a checker there is
/// nothing to read.
pub(crate) async fn engine_host_names(
    docker: &Docker,
    layout: &Layout,
) -> Result<Vec<HostName>, BackendError> {
    if layout.checker_ips.is_empty() {
        return Ok(vec![]);
    }
    let name = ContainerRole::Checker.container_name(&layout.run_id);
    let hosts = read_etc_hosts(docker, &layout.run_id, &name).await?;
    let found = host_names(&hosts, &[DESKTOP_HOST_NAME]);
    if found.is_empty() {
        return Err(BackendError::Checker {
            run_id: layout.run_id.clone(),
            reason: format!(
                "its /etc/hosts does not map {DESKTOP_HOST_NAME} (the engine's host-gateway): {:?}",
                hosts.trim()
            ),
        });
    }
    Ok(found)
}

/// The checker's `/etc/hosts`, through the engine's archive endpoint (no exec, no shell).
async fn read_etc_hosts(docker: &Docker, run_id: &str, name: &str) -> Result<String, BackendError> {
    let options = DownloadFromContainerOptions {
        path: "/etc/hosts".into(),
    };
    let read = async {
        let mut stream = docker.download_from_container(name, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BackendError::engine(format!(
                "reading /etc/hosts of {name}"
            )))?;
            archive.extend_from_slice(&chunk);
            if archive.len() > HOSTS_MAX_BYTES {
                break;
            }
        }
        Ok::<_, BackendError>(archive)
    };
    let archive = tokio::time::timeout(HOSTS_TIMEOUT, read)
        .await
        .map_err(|_| BackendError::Timeout {
            step: format!("reading /etc/hosts of {name}"),
            seconds: HOSTS_TIMEOUT.as_secs_f64(),
        })??;
    first_file(&archive).ok_or_else(|| BackendError::Checker {
        run_id: run_id.to_string(),
        reason: "the engine's archive of its /etc/hosts holds no readable file".into(),
    })
}

/// The text of the first regular file in a tar archive (the engine archives one file as a
/// one-entry tar), when it is UTF-8.
fn first_file(archive: &[u8]) -> Option<String> {
    let mut tar = tar::Archive::new(archive);
    let mut entries = tar.entries().ok()?;
    let mut entry = entries.find_map(|e| e.ok().filter(|e| e.header().entry_type().is_file()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
    Some(text)
}

/// The entries of an `/etc/hosts` text (hosts(5): an address, then names, `#` starts a
/// comment) that name one of `wanted`, in file order, each name once.
pub(crate) fn host_names(hosts: &str, wanted: &[&str]) -> Vec<HostName> {
    let mut found: Vec<HostName> = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in fields {
            let known = wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
            if known && !found.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
                found.push(HostName {
                    name: name.to_ascii_lowercase(),
                    ip,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Docker 20.10 wrote for `host.docker.internal:host-gateway` on this project's
    /// machine (the daemon's default host-gateway, docker0's address), after its own lines.
    const RECORDED: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n172.17.0.1\thost.docker.internal\n10.200.7.60\tchecker\n";

    #[test]
    fn the_engine_written_entry_is_found() {
        assert_eq!(
            host_names(RECORDED, &["host.docker.internal"]),
            [HostName {
                name: "host.docker.internal".into(),
                ip: "172.17.0.1".parse().unwrap()
            }]
        );
    }

    #[test]
    fn comments_garbage_and_repeats_are_not_entries() {
        let hosts = "# 10.0.0.1 host.docker.internal\nnot-an-ip host.docker.internal\n\n192.168.65.254 HOST.docker.internal gateway.docker.internal # desktop\n10.9.9.9 host.docker.internal\n";
        assert_eq!(
            host_names(hosts, &["host.docker.internal"]),
            [HostName {
                name: "host.docker.internal".into(),
                ip: "192.168.65.254".parse().unwrap()
            }]
        );
        assert!(host_names("127.0.0.1 localhost\n", &["host.docker.internal"]).is_empty());
    }

    #[test]
    fn the_first_file_of_an_archive_is_read() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(RECORDED.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "hosts", RECORDED.as_bytes())
            .unwrap();
        let archive = builder.into_inner().unwrap();
        assert_eq!(first_file(&archive).as_deref(), Some(RECORDED));
        assert_eq!(first_file(b"not a tar archive"), None);
    }
}
