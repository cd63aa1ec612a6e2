//! The likely cause of an escape, by probe, for the Markdown report: where to look first.

/// A hint at what is broken when `probe` escapes.
pub(crate) fn likely_cause(probe: &str) -> &'static str {
    match probe {
        "localhost.agent_loopback" => "the agent shares the host's network namespace, or its VMM maps the guest's loopback to the host's (TSI)",
        "localhost.host_addresses" => "the agent network's bridge holds a host address: set `com.docker.network.bridge.inhibit_ipv4=true` (20.10) or gateway mode `isolated` (28+) on it",
        "lan.network_gateways" => "a bridge gateway is a host address reachable from the agent: the host block is missing on the agent network, or the agent is on another network",
        "lan.fixture_host" => "the agent routes to other local networks: it is attached to one, or the host forwards between bridges",
        "public.direct_http" | "public.direct_https" => "the agent has a route out besides pipelock: it is attached to the upstream network or a non-internal network",
        "egress_bypass.direct_egress" => "egress listens on all interfaces instead of the bundle's 127.0.0.1",
        "egress_bypass.port_sweep" => "an undeclared listener runs on the bundle's agent-side address",
        "proxy.denied_host" | "proxy.denied_connect" => "pipelock's allowlist lets more than the allowed hosts through",
        "proxy.connect_ip_literal" => "pipelock accepts CONNECT to IP literals, which bypasses a host allowlist",
        "dns.direct_udp" | "dns.direct_tcp" => "the agent can reach a resolver outside the bottle",
        "dns.resolver_exfil" | "dns.resolver_exfil_tcp" => "the agent's resolver forwards outside names (the agent can reach the upstream resolver, or the resolver forwards from the host)",
        _ => "see the probe's evidence",
    }
}
