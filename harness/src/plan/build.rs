//! [`build`]: the plan for one bottle. Walks the catalogue (narrowed by `--probe`, with the
//! controls the chosen probes rest on), hands each probe to its family's builder, and adds the
//! facts about the bottle the verdicts need.

use bottle_backends::{EngineHost, Topology};
use bottle_probes::catalogue::{Expect, Family, ProbeSpec, CATALOGUE};

use super::attempts::Attempts;
use super::inputs::Inputs;
use super::model::{HostSide, Plan, PlannedProbe};
use super::{
    cross_bottle, dns, egress_bypass, icmp, inbound, ipv6, lan, localhost, metadata, proxy,
    proxy_matching, public, udp,
};
use crate::config::{ProxyConfig, TimeoutConfig};

/// Builds the plan. `only` narrows to these probe ids (their controls are added).
pub fn build(
    topology: &Topology,
    host: &HostSide,
    timeouts: &TimeoutConfig,
    proxy: &ProxyConfig,
    only: Option<&[String]>,
    mut nonce: impl FnMut() -> String,
) -> Plan {
    let inputs = Inputs {
        topology,
        host,
        timeouts,
        proxy,
    };
    let mut probes = Vec::new();
    for spec in CATALOGUE.iter().filter(|s| wanted(s, only)) {
        probes.push(plan_probe(spec, &inputs, &mut nonce));
    }
    let mut agent_ips = vec![topology.layout().agent_ip];
    agent_ips.extend(topology.layout().agent_extra_ips.iter().copied());
    Plan {
        session: nonce(),
        probes,
        agent_ips,
        bundle_upstream_ip: topology.layout().bundle_upstream_ip,
        bundle_ip: topology.layout().bundle_ip,
        bundle_reached_ip: topology.bundle_as_reached().ip,
        declared_ports: topology.bundle_as_reached().declared,
        resolver_owned: topology.agent().resolver_owned,
        handshake: topology.agent().handshake,
        dns_intercepted: topology.agent().dns_intercepted,
        vmm_gateway: topology
            .agent()
            .host_gateway
            .filter(|_| topology.agent().handshake == bottle_backends::Handshake::Relay),
        control_name: topology.layout().bundle_name.clone(),
        expected_resolver: topology.agent().resolver,
        allowed_host: topology.layout().allowed_host.clone(),
        denied_host: topology.layout().denied_host.clone(),
        proxy_names: proxy_names(topology),
        refusal_status: proxy.refusal_status,
        dialers: dialers(topology),
        host_gateway: super::host_gateway::routes(topology, host),
    }
}

/// Whether `spec` is in a plan narrowed to `only`: a chosen probe, or a control of one.
fn wanted(spec: &ProbeSpec, only: Option<&[String]>) -> bool {
    match only {
        None => true,
        Some(ids) => ids.iter().any(|id| {
            id == spec.id
                || CATALOGUE
                    .iter()
                    .any(|p| p.id == id && p.controls.contains(&spec.id))
        }),
    }
}

/// One probe's attempts, from its family's builder.
fn plan_probe(
    spec: &'static ProbeSpec,
    inputs: &Inputs,
    nonce: &mut dyn FnMut() -> String,
) -> PlannedProbe {
    let timeout_ms = match spec.expect {
        Expect::Allow => inputs.timeouts.control_ms,
        Expect::Deny => inputs.timeouts.attempt_ms,
    };
    // DNS attempts carry their nonce in the query name, which is built before the attempt.
    let qname_nonce = nonce();
    let mut attempts = Attempts::new(
        spec,
        timeout_ms,
        inputs.timeouts.control_ms,
        qname_nonce,
        nonce,
    );
    let family_plan = match spec.family {
        Family::Localhost => localhost::plan,
        Family::EgressBypass => egress_bypass::plan,
        Family::Lan => lan::plan,
        Family::Public => public::plan,
        Family::Proxy => proxy::plan,
        Family::ProxyMatching => proxy_matching::plan,
        Family::Dns => dns::plan,
        Family::Ipv6 => ipv6::plan,
        Family::Icmp => icmp::plan,
        Family::Udp => udp::plan,
        Family::CrossBottle => cross_bottle::plan,
        Family::Metadata => metadata::plan,
        Family::Inbound => inbound::plan,
    };
    let skipped = skipped(spec, inputs.topology);
    // A skipped probe sends nothing: for the resolver probes that is the network rule (their
    // queries would reach a resolver the harness does not own).
    if skipped.is_none() {
        family_plan(&mut attempts, inputs);
    }
    PlannedProbe {
        spec,
        attempts: attempts.into_vec(),
        skipped,
        dns_mode: proxy_matching::dns_mode(spec.id),
    }
}

/// Why a probe has no attempts on this bottle by design, if it has none for that reason.
fn skipped(spec: &ProbeSpec, t: &Topology) -> Option<String> {
    match spec.family {
        Family::Metadata if t.layout().metadata.is_none() => Some(format!(
            "no metadata fixture on this bottle: {}",
            t.layout().metadata_unavailable
                .as_deref()
                .unwrap_or("the backend does not provide one")
        )),
        Family::Dns if !t.agent().resolver_owned && spec.id.starts_with("dns.resolver_") => Some(
            "the agent's resolver forwards to a resolver the harness does not own (this machine's): a query through it could reach a real resolver, so none is sent"
                .to_string(),
        ),
        Family::Lan if spec.id == "lan.network_gateways" && t.layout().engine_host == EngineHost::DockerDesktop => Some(
            "Docker Desktop: the networks' gateways are addresses of the engine's VM, where no harness canary can listen (this machine cannot route to them)"
                .to_string(),
        ),
        Family::ProxyMatching => proxy_matching::skipped(spec.id, t),
        Family::Inbound if t.layout().inbound_port.is_none() => Some(
            "nothing dials the agent on this backend (its fixture hosts cannot reach a microVM agent's address)"
                .to_string(),
        ),
        _ => None,
    }
}

/// The names the proxy attempts ask for (see `Plan::proxy_names`).
fn proxy_names(t: &Topology) -> Vec<String> {
    bottle_backends::proxy_names::public_zone(&t.layout().allowed_host, &t.layout().denied_host)
}

/// The fixture hosts that dial the agent's inbound listener, when anything does.
fn dialers(topology: &Topology) -> Vec<String> {
    if topology.layout().inbound_port.is_some() {
        let mut names = vec!["public".to_string(), "lan".to_string()];
        names.extend(topology.layout().neighbour.as_ref().map(|n| n.name.clone()));
        names
    } else {
        Vec::new()
    }
}
