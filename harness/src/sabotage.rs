//! Named sabotages (`run --sabotage a,b`): deliberate breakage of a bottle, for checking that the
//! suite and CI gating notice. Never use them on a bottle you mean to trust.
//!
//! [`TABLE`] is the one list of them: `--sabotage` parses names against it, its help lists it,
//! the selftest's cases (`selftest::CASES`) refer to its entries, and it says which act through
//! the built-in bundle (refused with a user bundle by [`check_bundle`]).

use std::path::PathBuf;

use bottle_backends::Sabotage;

use crate::errors::HarnessError;

/// One named sabotage: its name on the command line, what it breaks, the change it makes to a
/// correct bottle's spec, and whether it acts through the built-in bundle.
#[derive(Debug)]
pub struct Named {
    pub name: &'static str,
    pub description: &'static str,
    pub effect: fn(&mut Sabotage),
    /// Why the sabotage needs the built-in bundle, when it works by changing what the built-in
    /// bundle's own programs do (a user bundle runs its own, which the switch never reaches).
    /// `None`: it acts through the engine (networks, mounts, sysctls, routes), on any bundle.
    pub needs_builtin_bundle: Option<&'static str>,
    /// Why the sabotage needs the engine on this machine, when it does (it is set up from
    /// here, or breaks something only a local engine has): on Docker Desktop it is skipped.
    pub needs_local_engine: Option<&'static str>,
    /// The kind of agent the sabotage breaks, with why, when it breaks only one: a container's
    /// networks and mounts, or a microVM's Smolfile. `None`: it acts through the bundle, on
    /// any agent.
    pub only_for: Option<(AgentKind, &'static str)>,
    /// Why the sabotage shows only to an agent that dials the bundle's own address, when it
    /// does: it opens a port there and publishes none. An agent that reaches the bundle only
    /// through the ports published on the host's loopback (smolvm's desktop mode) cannot dial
    /// it, so there it breaks nothing the agent can reach (measured in the KVM lab: both
    /// egress probes and the sweep held). `None`: it shows wherever the agent is.
    pub needs_bundle_address: Option<&'static str>,
}

/// The kind of agent a bottle has, as the sabotages that break only one kind name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// A container on the agent network (the docker backend).
    Container,
    /// A microVM behind its VMM's network stack (the smolmachines backend).
    MicroVm,
}

impl AgentKind {
    /// The agent kind of a backend, by its name.
    pub fn of_backend(backend: &str) -> Self {
        if backend == "smolmachines" {
            AgentKind::MicroVm
        } else {
            AgentKind::Container
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AgentKind::Container => "a container agent",
            AgentKind::MicroVm => "a microVM agent",
        }
    }
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
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((
        AgentKind::Container,
        "it attaches the agent's container to another network",
    )),
    needs_bundle_address: None,
};
pub const NO_HOST_BLOCK: &Named = &Named {
    name: "no-host-block",
    description: "the agent network's bridge keeps its host address",
    effect: |s| s.no_host_block = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((
        AgentKind::Container,
        "it gives this machine an address on the container agent's network (a microVM bottle's agent network keeps it anyway: the guest's traffic leaves through this machine, confined by the VMM's allow list)",
    )),
    needs_bundle_address: None,
};
pub const EGRESS_ALL_INTERFACES: &Named = &Named {
    name: "egress-all-interfaces",
    description: "egress listens on 0.0.0.0 instead of the bundle's loopback",
    effect: |s| s.egress_all_interfaces = true,
    needs_builtin_bundle: Some(
        "it moves the built-in egress's listener; a user bundle's egress listens where the user's image says",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: Some("it moves egress's listener onto the bundle's own address, and only the declared ports are published"),
};
pub const EXTRA_LISTENER: &Named = &Named {
    name: "extra-listener",
    description: "the bundle opens an undeclared listener",
    effect: |s| s.extra_bundle_listener = Some(2375),
    needs_builtin_bundle: Some("the extra listener is a switch of the built-in bundle's program"),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: Some("the extra listener is on the bundle's own address, and only the declared ports are published"),
};
pub const PIPELOCK_ALLOW_ALL: &Named = &Named {
    name: "pipelock-allow-all",
    description: "pipelock lets every host through",
    effect: |s| s.pipelock_allow_all = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's allowlist; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_ALLOW_IP_LITERALS: &Named = &Named {
    name: "pipelock-allow-ip-literals",
    description: "pipelock lets CONNECT to IP literals through",
    effect: |s| s.pipelock_allow_ip_literals = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's allowlist; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_MATCH_SUFFIX: &Named = &Named {
    name: "pipelock-match-suffix",
    description: "pipelock's allowlist matches any host ending with an allowed name",
    effect: |s| s.pipelock_match_suffix = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_MATCH_SUBSTRING: &Named = &Named {
    name: "pipelock-match-substring",
    description: "pipelock's allowlist matches any host containing an allowed name",
    effect: |s| s.pipelock_match_substring = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_USERINFO_AS_HOST: &Named = &Named {
    name: "pipelock-userinfo-as-host",
    description: "pipelock takes a URL's userinfo for its host",
    effect: |s| s.pipelock_userinfo_as_host = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_ROUTE_BY_HOST_HEADER: &Named = &Named {
    name: "pipelock-route-by-host-header",
    description: "pipelock keeps the client's Host header and routes by it",
    effect: |s| s.pipelock_route_by_host_header = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_NO_SNI_CHECK: &Named = &Named {
    name: "pipelock-no-sni-check",
    description: "pipelock does not compare a tunnel's TLS SNI with its CONNECT host",
    effect: |s| s.pipelock_no_sni_check = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_NO_SSRF_CHECK: &Named = &Named {
    name: "pipelock-no-ssrf-check",
    description: "pipelock does not check where allowed names resolve to",
    effect: |s| s.pipelock_no_ssrf_check = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const PIPELOCK_NO_PINNING: &Named = &Named {
    name: "pipelock-no-pinning",
    description: "pipelock checks one lookup and lets egress resolve the name again",
    effect: |s| s.pipelock_no_pinning = true,
    needs_builtin_bundle: Some(
        "it changes the built-in pipelock's decisions; a user bundle runs its own proxy with its own configuration",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};
pub const RESOLVER_FORWARDS: &Named = &Named {
    name: "resolver-forwards",
    description: "the bundle runs a DNS forwarder to the outside and the agent resolves through it",
    effect: |s| s.resolver_forwards = true,
    needs_builtin_bundle: Some(
        "the DNS forwarder it points the agent at runs in the built-in bundle's program",
    ),
    needs_local_engine: None,
    only_for: Some((
        AgentKind::Container,
        "it points the agent container's resolver at the bundle",
    )),
    needs_bundle_address: None,
};
pub const IP_FORWARD: &Named = &Named {
    name: "ip-forward",
    description: "IP forwarding on in the dual-homed bundle, the agent routed through it",
    effect: |s| s.ip_forward = true,
    needs_builtin_bundle: None,
    needs_local_engine: Some(
        "its NAT rule is set in the bundle's network namespace with nsenter from this machine",
    ),
    only_for: Some((
        AgentKind::Container,
        "it routes the agent container through the bundle",
    )),
    needs_bundle_address: None,
};
pub const IPV6_HOST: &Named = &Named {
    name: "ipv6-host",
    description: "the agent network gets IPv6, so the host is reachable over it",
    effect: |s| s.ipv6_host = true,
    needs_builtin_bundle: None,
    needs_local_engine: Some(
        "it opens the host through a bridge's IPv6 address, which is this machine's only when the engine runs here",
    ),
    only_for: Some((
        AgentKind::Container,
        "it gives the agent container's network IPv6",
    )),
    needs_bundle_address: None,
};
pub const NEIGHBOUR_REACHABLE: &Named = &Named {
    name: "neighbour-reachable",
    description: "the agent is also attached to a second bottle's agent network",
    effect: |s| s.neighbour_reachable = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((
        AgentKind::Container,
        "it attaches the agent's container to a second bottle's network",
    )),
    needs_bundle_address: None,
};
pub const ENGINE_SOCKET: &Named = &Named {
    name: "engine-socket",
    description: "the engine's unix socket is bind-mounted into the agent",
    effect: |s| s.engine_socket = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((
        AgentKind::Container,
        "it bind-mounts the engine's socket into the agent's container",
    )),
    needs_bundle_address: None,
};
pub const SLOW_FIXTURES: &Named = &Named {
    name: "slow-fixtures",
    description: "every fixture answers 2 s late (a too-short timeout must read inconclusive)",
    effect: |s| s.slow_fixtures_ms = Some(2000),
    needs_builtin_bundle: Some(
        "the delay is a switch of the fixture program, so a user bundle's proxy would answer on time and the proxied paths would not be slowed",
    ),
    needs_local_engine: None,
    only_for: None,
    needs_bundle_address: None,
};

const MICROVM_ONLY: &str = "it changes the microVM's Smolfile";

pub const VMM_ALLOW_SUBNET: &Named = &Named {
    name: "vmm-allow-subnet",
    description: "the microVM's allow list also holds the agent network's whole subnet",
    effect: |s| s.vmm_allow_subnet = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((AgentKind::MicroVm, MICROVM_ONLY)),
    needs_bundle_address: None,
};
pub const VMM_ALLOW_ALL: &Named = &Named {
    name: "vmm-allow-all",
    description: "the microVM's allow list is 0.0.0.0/0",
    effect: |s| s.vmm_allow_all = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((AgentKind::MicroVm, MICROVM_ONLY)),
    needs_bundle_address: None,
};
pub const VMM_NO_POLICY: &Named = &Named {
    name: "vmm-no-policy",
    description: "the microVM's network is on with no egress policy at all",
    effect: |s| s.vmm_no_policy = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((AgentKind::MicroVm, MICROVM_ONLY)),
    needs_bundle_address: None,
};
pub const VMM_ALLOW_HOST_GATEWAY: &Named = &Named {
    name: "vmm-allow-host-gateway",
    description: "the microVM's allow list also holds its VMM's gateway and this machine's loopback behind it",
    effect: |s| s.vmm_allow_host_gateway = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((AgentKind::MicroVm, MICROVM_ONLY)),
    needs_bundle_address: None,
};
pub const VMM_NO_DNS_FILTER: &Named = &Named {
    name: "vmm-no-dns-filter",
    description: "the microVM's VMM forwards every name its guest asks (no allow_hosts)",
    effect: |s| s.vmm_no_dns_filter = true,
    needs_builtin_bundle: None,
    needs_local_engine: None,
    only_for: Some((AgentKind::MicroVm, MICROVM_ONLY)),
    needs_bundle_address: None,
};

/// Every named sabotage, in the order `--sabotage` lists them.
pub const TABLE: &[&Named] = &[
    AGENT_ON_UPSTREAM,
    NO_HOST_BLOCK,
    EGRESS_ALL_INTERFACES,
    EXTRA_LISTENER,
    PIPELOCK_ALLOW_ALL,
    PIPELOCK_ALLOW_IP_LITERALS,
    PIPELOCK_MATCH_SUFFIX,
    PIPELOCK_MATCH_SUBSTRING,
    PIPELOCK_USERINFO_AS_HOST,
    PIPELOCK_ROUTE_BY_HOST_HEADER,
    PIPELOCK_NO_SNI_CHECK,
    PIPELOCK_NO_SSRF_CHECK,
    PIPELOCK_NO_PINNING,
    RESOLVER_FORWARDS,
    IP_FORWARD,
    IPV6_HOST,
    NEIGHBOUR_REACHABLE,
    ENGINE_SOCKET,
    VMM_ALLOW_SUBNET,
    VMM_ALLOW_ALL,
    VMM_NO_POLICY,
    VMM_ALLOW_HOST_GATEWAY,
    VMM_NO_DNS_FILTER,
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

/// The first sabotage in `sabotage` that acts through the built-in bundle, with why, when the
/// bundle is the user's (`[bundle] image`): such a sabotage would silently do nothing there.
pub fn needing_builtin_bundle(sabotage: &Sabotage) -> Option<(&'static Named, &'static str)> {
    TABLE.iter().copied().find_map(|named| {
        let reason = named.needs_builtin_bundle?;
        // Effects only set fields, so a sabotage includes `named` when applying it changes nothing.
        let mut with = sabotage.clone();
        (named.effect)(&mut with);
        (with == *sabotage).then_some((named, reason))
    })
}

/// Refuses a sabotage that acts through the built-in bundle when `user_bundle` (the image of
/// `[bundle] image`) replaces it: exit 2 naming the sabotage and why, never a sabotage that
/// silently does nothing while the report says `"sabotaged": true`.
pub fn check_bundle(sabotage: &Sabotage, user_bundle: Option<&str>) -> Result<(), HarnessError> {
    let (Some(image), Some((named, reason))) = (user_bundle, needing_builtin_bundle(sabotage))
    else {
        return Ok(());
    };
    Err(HarnessError::ConfigInvalid {
        path: PathBuf::from("--sabotage"),
        reason: format!(
            "sabotage {:?} acts through the built-in bundle and cannot break the user bundle {image:?}: {reason}",
            named.name
        ),
    })
}

/// The first sabotage in `sabotage` that breaks only another kind of agent than `agent`, with
/// why.
pub fn for_another_agent(
    sabotage: &Sabotage,
    agent: AgentKind,
) -> Option<(&'static Named, AgentKind, &'static str)> {
    TABLE.iter().copied().find_map(|named| {
        let (kind, reason) = named.only_for.filter(|(kind, _)| *kind != agent)?;
        let mut with = sabotage.clone();
        (named.effect)(&mut with);
        (with == *sabotage).then_some((named, kind, reason))
    })
}

/// Refuses a sabotage that breaks only another kind of agent than the backend's: exit 2 naming
/// it and why, never a sabotage that silently does nothing.
pub fn check_agent(sabotage: &Sabotage, backend: &str) -> Result<(), HarnessError> {
    let Some((named, kind, reason)) = for_another_agent(sabotage, AgentKind::of_backend(backend))
    else {
        return Ok(());
    };
    Err(HarnessError::ConfigInvalid {
        path: PathBuf::from("--sabotage"),
        reason: format!(
            "sabotage {:?} breaks only {} ({reason}), and the {backend} backend's agent is not one",
            named.name,
            kind.as_str()
        ),
    })
}

/// The list `run --help` ends with (clap's `after_help`, so the options keep their layout):
/// every name `--sabotage` takes, with what it breaks.
pub fn help() -> String {
    let width = TABLE.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let mut text = String::from("Sabotages (--sabotage):");
    for named in TABLE {
        let note = match (named.needs_builtin_bundle, named.only_for) {
            (Some(_), _) => " (built-in bundle only)",
            (None, Some((AgentKind::Container, _))) => " (container agents only)",
            (None, Some((AgentKind::MicroVm, _))) => " (microVM agents only)",
            (None, None) => "",
        };
        text.push_str(&format!(
            "\n  {:<width$}  {}{note}",
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
        assert!(
            error.ends_with("engine-socket, vmm-allow-subnet, vmm-allow-all, vmm-no-policy, vmm-allow-host-gateway, vmm-no-dns-filter, slow-fixtures"),
            "{error}"
        );
    }

    #[test]
    fn sabotages_acting_through_the_builtin_bundle_are_refused_with_a_user_bundle() {
        let bundle_only: Vec<&str> = TABLE
            .iter()
            .filter(|n| n.needs_builtin_bundle.is_some())
            .map(|n| n.name)
            .collect();
        assert_eq!(
            bundle_only,
            [
                "egress-all-interfaces",
                "extra-listener",
                "pipelock-allow-all",
                "pipelock-allow-ip-literals",
                "pipelock-match-suffix",
                "pipelock-match-substring",
                "pipelock-userinfo-as-host",
                "pipelock-route-by-host-header",
                "pipelock-no-sni-check",
                "pipelock-no-ssrf-check",
                "pipelock-no-pinning",
                "resolver-forwards",
                "slow-fixtures",
            ]
        );
        for named in TABLE {
            let sabotage = named.sabotage();
            // The built-in bundle takes every sabotage.
            assert!(check_bundle(&sabotage, None).is_ok(), "{}", named.name);
            let result = check_bundle(&sabotage, Some("me/squid:1"));
            match named.needs_builtin_bundle {
                None => assert!(result.is_ok(), "{}", named.name),
                Some(reason) => {
                    let error = result.unwrap_err();
                    assert_eq!(
                        error.exit_code(),
                        crate::errors::exit::INCONCLUSIVE_OR_ERROR
                    );
                    let text = error.to_string();
                    assert!(
                        text.contains(&format!("{:?}", named.name))
                            && text.contains(reason)
                            && text.contains("me/squid:1"),
                        "{text}"
                    );
                }
            }
        }
        // Found inside a list too, whichever comes first.
        let list = parse("no-host-block,pipelock-allow-all").unwrap();
        let (named, _) = needing_builtin_bundle(&list).unwrap();
        assert_eq!(named.name, "pipelock-allow-all");
        assert!(needing_builtin_bundle(&parse("no-host-block,ip-forward").unwrap()).is_none());
        assert!(needing_builtin_bundle(&Sabotage::default()).is_none());
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
