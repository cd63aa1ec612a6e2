//! Bringing a bottle up on Docker: six networks and six containers (seven of each with a
//! checker; see `layout`), all requested at once, each container created and started as soon
//! as its own networks exist; the fixtures' `CB-READY`; a retry on fresh subnets when a subnet
//! is taken (or without IPv6 when the engine cannot make it); then the ip-forward sabotage's
//! routes and, for a user's bundle, the wait for its declared ports.
//!
//! Every network is `internal` (no NAT to the outside) except the metadata network and, under
//! the ip-forward sabotage, the agent network (see `plan::plan_networks`). The agent network
//! carries `com.docker.network.bridge.inhibit_ipv4=true`, which keeps the host off that bridge:
//! without it the bridge's gateway is a host address and every host service listening on
//! 0.0.0.0 answers the agent (see docs/backends/docker.md). Every container's resolver upstream
//! is the DNS canary, so a query Docker's embedded DNS forwards lands on a fixture and never on
//! a real resolver.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::attach::bottle_from;
use super::create::{create_container, create_network, upload_binary};
use super::images::Images;
use super::layout::{bottle_files, plan_bottle};
use super::placement::AgentPlacement;
use super::plan::{plan_networks, PlannedContainer, PlannedNetwork};
use super::readiness::{wait_bundle_ports, WaitFrom};
use super::roles::ContainerRole;
use super::routes::{metadata_unavailable, route_bundle_to_metadata, route_through_bundle};
use super::subnets::{is_subnet_clash, SUBNET_ATTEMPTS};
use crate::errors::BackendError;
use crate::labels;
use crate::spec::BottleSpec;
use crate::topology::{Bottle, EngineView, Layout, Topology};

/// How long a fixture may take to print `CB-READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Brings the bottle up. On error the caller tears down by run id; every object is labelled
/// before anything can fail after it exists.
pub(crate) async fn launch(
    docker: &Docker,
    spec: &BottleSpec,
    images: &Images,
    agent: AgentPlacement,
) -> Result<Bottle, BackendError> {
    let in_container = agent.in_container();
    // A microVM's traffic leaves through the host, so the host must keep its address on the
    // agent network; its own allow list is what confines it there.
    let host_block = in_container && !spec.sabotage.no_host_block;
    let metadata_unavailable = metadata_unavailable(in_container, spec.engine_host);
    let files = bottle_files(spec, images, in_container)?;
    let mut with_v6 = true;
    let mut last = String::new();
    for attempt in 0..SUBNET_ATTEMPTS {
        // The side network is made for every bottle: the LAN host's internal leg (the SSRF
        // probes' target, which only the bundle reaches) is there even where the metadata
        // fixture cannot be (a microVM agent's traffic leaves through this machine's NAT).
        let networks = plan_networks(
            spec,
            host_block,
            true,
            with_v6,
            attempt,
            agent.publishes_bundle(),
        );
        let (layout, containers) = plan_bottle(
            spec,
            images,
            in_container,
            metadata_unavailable.clone(),
            &networks,
            &files,
            agent.published_via(),
        )?;
        let errors = match bring_up(docker, spec, &networks, &containers, &layout).await {
            Ok(()) => return finish(docker, spec, images, &agent, layout).await,
            Err(BringUpError::Container(error)) => return Err(error),
            Err(BringUpError::Networks(errors)) => errors,
        };
        last = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        // Another bottle, another run or the user's own network holds one of the subnets.
        let subnet_taken = errors.iter().any(is_subnet_clash);
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
        if subnet_taken {
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
    /// The containers started so far (a container in another's namespace waits for it).
    started: Vec<ContainerRole>,
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
    layout: &Layout,
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
            let result = container_up(docker, spec, planned, run_labels, layout, progress).await;
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
    layout: &Layout,
    progress: &tokio::sync::watch::Sender<Progress>,
) -> Result<(), StepError> {
    let name = planned.role.container_name(&spec.run_id);
    let needs = planned.networks();
    let mut watching = progress.subscribe();
    let failed = watching
        .wait_for(|p| {
            p.failed
                || (needs.iter().all(|n| p.networks.iter().any(|m| m == n))
                    && planned
                        .shares_namespace_of
                        .is_none_or(|of| p.started.contains(&of)))
        })
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
    progress.send_modify(|p| p.started.push(planned.role));
    if planned.announces_ready {
        tokio::select! {
            ready = wait_ready(docker, &name) => ready.map_err(StepError::Failed)?,
            _ = watching.wait_for(|p| p.failed) => return Err(StepError::Aborted),
        }
        crate::trace::step(&format!("launch: {name} ready"));
    }
    if planned.route_metadata {
        route_bundle_to_metadata(docker, spec, layout)
            .await
            .map_err(StepError::Failed)?;
        crate::trace::step("launch: bundle routed to the metadata service");
    }
    Ok(())
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

/// What follows a bring-up: the ip-forward sabotage's routes, the agent network's IPv6
/// gateway, a user's bundle's ports; then the engine's facts are read and the topology is
/// assembled.
async fn finish(
    docker: &Docker,
    spec: &BottleSpec,
    images: &Images,
    agent: &AgentPlacement,
    layout: Layout,
) -> Result<Bottle, BackendError> {
    let in_container = agent.in_container();
    if in_container && spec.sabotage.ip_forward {
        route_through_bundle(docker, &spec.run_id, &layout).await?;
    }
    // With IPv6 on the agent network (ipv6-host), the host's address there must be usable
    // before the probes run, or they would miss a host that is about to answer. (The LAN
    // network's is awaited by the harness before its liveness checks, after the probes.)
    if let Some(gateway) = layout.agent_network.gateway_v6 {
        crate::hostnet::wait_usable_v6(gateway).await;
    }
    let probe_path = images.probe_path();
    let agent_name = ContainerRole::Agent.container_name(&spec.run_id);
    // A user's bundle says nothing when it is ready: its declared ports must accept
    // connections from the agent network before any probe runs.
    if images.bundle_is_user {
        let checker_name = ContainerRole::Checker.container_name(&spec.run_id);
        let from = if in_container {
            WaitFrom::Agent(&agent_name, probe_path)
        } else if !layout.checker_ips.is_empty() {
            WaitFrom::Checker(&checker_name)
        } else {
            WaitFrom::ThisMachine
        };
        wait_bundle_ports(docker, &layout, &images.bundle, from).await?;
    }
    let engine = EngineView {
        reported: spec.engine_host_reported,
        host_names: super::checker::engine_host_names(docker, &layout).await?,
    };
    let published = super::published::for_placement(docker, agent, &layout).await?;
    let topology = Topology::assemble(layout, engine, agent.agent_side(published));
    Ok(bottle_from(topology, agent_name, probe_path))
}
