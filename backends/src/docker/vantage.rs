//! The docker backend's vantage points (`crate::Vantage`): the harness's own containers in a
//! bottle, their shape (the checker on the fixture networks, the recorder in the bundle's
//! network namespace), which container each vantage is, and running the probe there. Both are
//! the fixture image with the probe copied in at `images::USER_PROBE_PATH`.

use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::Docker;

use super::commands::recorder_cmd;
use super::images::{self, Images};
use super::plan::{AgentFile, PlannedContainer};
use super::roles::ContainerRole;
use super::subnets::v6_host;
use crate::backend::ExecOutput;
use crate::errors::BackendError;
use crate::spec::{host_in, hosts};
use crate::topology::{Bottle, Layout, NetworkInfo};
use crate::vantage::Vantage;

/// Runs the probe with `probe_args` at `vantage`; an error when the bottle has no such place.
pub(crate) async fn exec_from(
    docker: &Docker,
    bottle: &Bottle,
    vantage: Vantage,
    probe_args: &[String],
    timeout: Duration,
    max_output: usize,
) -> Result<ExecOutput, BackendError> {
    let name = container_of(bottle, vantage)?;
    let argv: Vec<String> = std::iter::once(super::images::USER_PROBE_PATH.to_string())
        .chain(probe_args.iter().cloned())
        .collect();
    super::exec::exec(docker, &name, &argv, timeout, max_output).await
}

/// The container that is `vantage` in `bottle`, or why the bottle has none.
pub(crate) fn container_of(bottle: &Bottle, vantage: Vantage) -> Result<String, BackendError> {
    let missing = |reason: &str| BackendError::Vantage {
        run_id: bottle.run_id.clone(),
        vantage,
        reason: reason.into(),
    };
    let role = match vantage {
        Vantage::Checker if bottle.topology.layout().checker_ips.is_empty() => return Err(missing(
            "the bottle has none (its engine is on this machine, which checks the fixtures itself)",
        )),
        Vantage::Checker => ContainerRole::Checker,
        Vantage::BundleNamespace if bottle.topology.layout().bundle_loopback_port.is_none() => {
            return Err(missing(
                "the bottle has no recorder on the bundle's loopback",
            ))
        }
        Vantage::BundleNamespace => ContainerRole::Recorder,
    };
    Ok(role.container_name(&bottle.run_id))
}

/// One network the checker joins, at its `.60` (and, on the public IPv6 network, `::3c`).
pub(crate) struct CheckerLeg {
    network: String,
    ip: Ipv4Addr,
    ip_v6: Option<std::net::Ipv6Addr>,
}

impl CheckerLeg {
    pub(crate) fn addresses(&self) -> Vec<std::net::IpAddr> {
        std::iter::once(self.ip.into())
            .chain(self.ip_v6.map(Into::into))
            .collect()
    }
}

/// The checker's networks, first its own (the one it is created on, its way to the engine's
/// host-gateway), then the upstream network (the public host, the DNS canary, the neighbour's
/// and the metadata service's upstream legs), the LAN network and, when it has IPv6, the
/// public host's IPv6 network. The one list both the layout's `checker_ips` and the
/// checker's container come from.
pub(crate) fn checker_legs(
    own: &NetworkInfo,
    upstream: &NetworkInfo,
    lan: &NetworkInfo,
    public6: &NetworkInfo,
) -> Vec<CheckerLeg> {
    let leg = |n: &NetworkInfo| CheckerLeg {
        network: n.name.clone(),
        ip: host_in(n.gateway, hosts::CHECKER),
        ip_v6: None,
    };
    let mut legs = vec![leg(own), leg(upstream), leg(lan)];
    if let Some(gateway) = public6.gateway_v6.filter(|_| public6.subnet_v6.is_some()) {
        legs.push(CheckerLeg {
            ip_v6: Some(v6_host(gateway, u16::from(hosts::CHECKER))),
            ..leg(public6)
        });
    }
    legs
}

/// The harness's checker (see `ContainerRole::Checker`): the fixture image with the probe
/// copied in, idle until the harness execs its liveness checks, on the networks of every
/// fixture host it checks and never on the agent's. `host.docker.internal` is mapped to the
/// engine's `host-gateway`, the address the engine gives its containers for the machine it
/// serves (Docker's documentation of `--add-host`: "It's conventional to use
/// host.docker.internal as the hostname referring to host-gateway. Docker Desktop automatically
/// resolves this hostname"); the mapping makes the answer independent of the DNS upstream,
/// which is the DNS canary here.
pub(crate) fn checker(
    images: &Images,
    layout: &Layout,
    own: &NetworkInfo,
    files: Vec<AgentFile>,
) -> PlannedContainer {
    let public6 = layout
        .public_v6_network
        .as_ref()
        .expect("a docker layout has a public IPv6 network");
    let mut legs =
        checker_legs(own, &layout.upstream_network, &layout.lan_network, public6).into_iter();
    let first = legs.next().expect("the checker's own network");
    let (mut more, mut more_v6) = (Vec::new(), Vec::new());
    for leg in legs {
        match leg.ip_v6 {
            Some(v6) => more_v6.push((leg.network, leg.ip, v6)),
            None => more.push((leg.network, leg.ip)),
        }
    }
    let mut planned = PlannedContainer::new(
        ContainerRole::Checker,
        images.fixture.clone(),
        first.network,
        first.ip,
        layout.dns.ip,
    )
    .entrypoint(vec![images::USER_PROBE_PATH.to_string()])
    .cmd(vec!["idle".to_string()])
    .more(more)
    .more_v6(more_v6)
    // On four networks, it must not route between them (nor for anyone else).
    .sysctl("net.ipv4.ip_forward", "0")
    .extra_hosts(vec![format!("{}:host-gateway", DESKTOP_HOST_NAME)]);
    planned.files = files;
    planned
}

/// The recorder on the bundle's loopback (see `ContainerRole::Recorder`): the fixture image
/// with the probe copied in, in the bundle's network namespace, a canary on
/// [`hosts::BUNDLE_LOOPBACK_PORT`] of every loopback address there and nothing else
/// (`bottle_fixtures::loopback`). The bundle's image and its processes are untouched: a user's
/// bundle gets the same recorder as the built-in one.
pub(crate) fn recorder(images: &Images, files: Vec<AgentFile>) -> PlannedContainer {
    let mut planned = PlannedContainer::in_namespace_of(
        ContainerRole::Recorder,
        images.fixture.clone(),
        ContainerRole::Bundle,
    )
    .entrypoint(vec![images::FIXTURE_PATH.to_string()])
    .cmd(recorder_cmd())
    .announces_ready(true);
    planned.files = files;
    planned
}

/// The name Docker Desktop gives its containers for the machine it runs on.
pub(crate) const DESKTOP_HOST_NAME: &str = "host.docker.internal";
