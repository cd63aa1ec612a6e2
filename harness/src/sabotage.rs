//! Named sabotages (`run --sabotage a,b`): deliberate breakage of a bottle, for checking that the
//! suite and CI gating notice. Never use them on a bottle you mean to trust.
//!
//! [`TABLE`] is the one list of them: `--sabotage` parses names against it, its help lists it,
//! and the selftest's cases (`selftest::CASES`) refer to its entries.

use std::path::PathBuf;

use bottle_backends::Sabotage;

use crate::errors::HarnessError;

/// One named sabotage: its name on the command line, what it breaks, and the change it makes to
/// a correct bottle's spec.
#[derive(Debug)]
pub struct Named {
    pub name: &'static str,
    pub description: &'static str,
    pub effect: fn(&mut Sabotage),
}

impl Named {
    /// A correct bottle with only this breakage.
    pub(crate) fn sabotage(&self) -> Sabotage {
        let mut sabotage = Sabotage::default();
        (self.effect)(&mut sabotage);
        sabotage
    }
}

pub const AGENT_ON_UPSTREAM: &Named = &Named {
    name: "agent-on-upstream",
    description: "the agent is also attached to the upstream network",
    effect: |s| s.agent_on_upstream = true,
};
pub const NO_HOST_BLOCK: &Named = &Named {
    name: "no-host-block",
    description: "the agent network's bridge keeps its host address",
    effect: |s| s.no_host_block = true,
};
pub const EGRESS_ALL_INTERFACES: &Named = &Named {
    name: "egress-all-interfaces",
    description: "egress listens on 0.0.0.0 instead of the bundle's loopback",
    effect: |s| s.egress_all_interfaces = true,
};
pub const EXTRA_LISTENER: &Named = &Named {
    name: "extra-listener",
    description: "the bundle opens an undeclared listener",
    effect: |s| s.extra_bundle_listener = Some(2375),
};
pub const PIPELOCK_ALLOW_ALL: &Named = &Named {
    name: "pipelock-allow-all",
    description: "pipelock lets every host through",
    effect: |s| s.pipelock_allow_all = true,
};
pub const PIPELOCK_ALLOW_IP_LITERALS: &Named = &Named {
    name: "pipelock-allow-ip-literals",
    description: "pipelock lets CONNECT to IP literals through",
    effect: |s| s.pipelock_allow_ip_literals = true,
};
pub const RESOLVER_FORWARDS: &Named = &Named {
    name: "resolver-forwards",
    description: "the bundle runs a DNS forwarder to the outside and the agent resolves through it",
    effect: |s| s.resolver_forwards = true,
};
pub const IP_FORWARD: &Named = &Named {
    name: "ip-forward",
    description: "IP forwarding on in the dual-homed bundle, the agent routed through it",
    effect: |s| s.ip_forward = true,
};
pub const IPV6_HOST: &Named = &Named {
    name: "ipv6-host",
    description: "the agent network gets IPv6, so the host is reachable over it",
    effect: |s| s.ipv6_host = true,
};
pub const NEIGHBOUR_REACHABLE: &Named = &Named {
    name: "neighbour-reachable",
    description: "the agent is also attached to a second bottle's agent network",
    effect: |s| s.neighbour_reachable = true,
};
pub const ENGINE_SOCKET: &Named = &Named {
    name: "engine-socket",
    description: "the engine's unix socket is bind-mounted into the agent",
    effect: |s| s.engine_socket = true,
};
pub const SLOW_FIXTURES: &Named = &Named {
    name: "slow-fixtures",
    description: "every fixture answers 2 s late (a too-short timeout must read inconclusive)",
    effect: |s| s.slow_fixtures_ms = Some(2000),
};

/// Every named sabotage, in the order `--sabotage` lists them.
pub const TABLE: &[&Named] = &[
    AGENT_ON_UPSTREAM,
    NO_HOST_BLOCK,
    EGRESS_ALL_INTERFACES,
    EXTRA_LISTENER,
    PIPELOCK_ALLOW_ALL,
    PIPELOCK_ALLOW_IP_LITERALS,
    RESOLVER_FORWARDS,
    IP_FORWARD,
    IPV6_HOST,
    NEIGHBOUR_REACHABLE,
    ENGINE_SOCKET,
    SLOW_FIXTURES,
];

/// The sabotage called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Named> {
    TABLE.iter().copied().find(|named| named.name == name)
}

/// Parses a comma list of sabotage names.
pub fn parse(list: &str) -> Result<Sabotage, HarnessError> {
    let mut sabotage = Sabotage::default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(named) = find(name) else {
            return Err(HarnessError::ConfigInvalid {
                path: PathBuf::from("--sabotage"),
                reason: format!(
                    "unknown sabotage {name:?}; known: {}",
                    TABLE.iter().map(|n| n.name).collect::<Vec<_>>().join(", ")
                ),
            });
        };
        (named.effect)(&mut sabotage);
    }
    Ok(sabotage)
}

/// The list `run --help` ends with (clap's `after_help`, so the options keep their layout):
/// every name `--sabotage` takes, with what it breaks.
pub fn help() -> String {
    let width = TABLE.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let mut text = String::from("Sabotages (--sabotage):");
    for named in TABLE {
        text.push_str(&format!(
            "\n  {:<width$}  {}",
            named.name, named.description
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_its_own_effect_and_unknown_names_are_listed() {
        for named in TABLE {
            assert_eq!(
                parse(named.name).unwrap(),
                named.sabotage(),
                "{}",
                named.name
            );
            assert!(
                !named.sabotage().is_clean(),
                "{} breaks nothing",
                named.name
            );
        }
        let both = parse(" agent-on-upstream, no-host-block ,").unwrap();
        assert!(both.agent_on_upstream && both.no_host_block);
        assert_eq!(both.extra_bundle_listener, None);
        assert_eq!(
            parse("extra-listener").unwrap().extra_bundle_listener,
            Some(2375)
        );
        assert_eq!(parse("slow-fixtures").unwrap().slow_fixtures_ms, Some(2000));
        let error = parse("agent-on-upstream,nope").unwrap_err().to_string();
        assert!(error.contains("\"nope\""), "{error}");
        assert!(
            error.contains("known: agent-on-upstream, no-host-block, "),
            "{error}"
        );
        assert!(error.ends_with("engine-socket, slow-fixtures"), "{error}");
    }

    #[test]
    fn names_are_unique_and_the_help_lists_each() {
        let help = help();
        for (index, named) in TABLE.iter().enumerate() {
            assert!(
                TABLE[..index].iter().all(|other| other.name != named.name),
                "{} twice",
                named.name
            );
            assert!(help.contains(named.name) && help.contains(named.description));
        }
    }
}
