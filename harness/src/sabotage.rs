//! Named sabotages (`run --sabotage a,b`): deliberate breakage of a bottle, for checking that the
//! suite and CI gating notice. Never use them on a bottle you mean to trust.

use std::path::PathBuf;

use bottle_backends::Sabotage;

use crate::errors::HarnessError;

/// The names and what each breaks.
pub const NAMES: &[(&str, &str)] = &[
    (
        "agent-on-upstream",
        "the agent is also attached to the upstream network",
    ),
    (
        "no-host-block",
        "the agent network's bridge keeps its host address",
    ),
    (
        "egress-all-interfaces",
        "egress listens on 0.0.0.0 instead of the bundle's loopback",
    ),
    (
        "extra-listener",
        "the bundle opens one more listener (port 2375)",
    ),
    ("pipelock-allow-all", "pipelock lets every host through"),
    (
        "pipelock-allow-ip-literals",
        "pipelock lets CONNECT to IP literals through",
    ),
    (
        "resolver-forwards",
        "the bundle runs a DNS forwarder to the outside and the agent resolves through it",
    ),
    (
        "ip-forward",
        "IP forwarding on in the dual-homed bundle, the agent routed through it",
    ),
    (
        "ipv6-host",
        "the agent network gets IPv6, so the host is reachable over it",
    ),
    (
        "neighbour-reachable",
        "the agent is also attached to a second bottle's agent network",
    ),
    (
        "engine-socket",
        "the engine's unix socket is bind-mounted into the agent",
    ),
    (
        "slow-fixtures",
        "every fixture answers 2 s late (a too-short timeout must read inconclusive)",
    ),
];

/// Parses a comma list of sabotage names.
pub fn parse(list: &str) -> Result<Sabotage, HarnessError> {
    let mut sabotage = Sabotage::default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "agent-on-upstream" => sabotage.agent_on_upstream = true,
            "no-host-block" => sabotage.no_host_block = true,
            "egress-all-interfaces" => sabotage.egress_all_interfaces = true,
            "extra-listener" => sabotage.extra_bundle_listener = Some(2375),
            "pipelock-allow-all" => sabotage.pipelock_allow_all = true,
            "pipelock-allow-ip-literals" => sabotage.pipelock_allow_ip_literals = true,
            "slow-fixtures" => sabotage.slow_fixtures_ms = Some(2000),
            "resolver-forwards" => sabotage.resolver_forwards = true,
            "ip-forward" => sabotage.ip_forward = true,
            "ipv6-host" => sabotage.ipv6_host = true,
            "neighbour-reachable" => sabotage.neighbour_reachable = true,
            "engine-socket" => sabotage.engine_socket = true,
            other => {
                return Err(HarnessError::ConfigInvalid {
                    path: PathBuf::from("--sabotage"),
                    reason: format!(
                        "unknown sabotage {other:?}; known: {}",
                        NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                })
            }
        }
    }
    Ok(sabotage)
}
