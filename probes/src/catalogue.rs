//! The probe catalogue: what the suite checks, independent of any backend.
//!
//! A probe is a claim about the bottle ("the agent cannot reach the LAN host") with an
//! expectation. The harness turns each probe into concrete attempts for a given bottle topology
//! (see `bottle_harness::plan`). Probes that expect `Allow` are the positive controls: a `Deny`
//! probe only passes when every control it names passed on the same run, so that a dead network,
//! a broken probe binary or a stopped fixture can never read as "blocked".

use serde::Serialize;

/// The kind of escape a probe looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Reaching services of the machine the bottle runs on.
    Localhost,
    /// Reaching the bundle's egress (pipelock's upstream) or undeclared bundle ports directly.
    EgressBypass,
    /// Reaching hosts on a local network the bottle is not part of.
    Lan,
    /// Reaching the public internet without the proxy.
    Public,
    /// Getting the proxy to fetch something it must not.
    Proxy,
    /// The proxy's own decisions: how it matches names, spellings, userinfo, Host headers,
    /// SNI and IP literals against its allowlist, and where an allowed name may lead.
    ProxyMatching,
    /// Sending data out through DNS.
    Dns,
    /// The same escapes over IPv6, which an IPv4-only host block does not cover.
    Ipv6,
    /// ICMP echo (ping) out of the bottle.
    Icmp,
    /// UDP request and response with hosts outside the bottle.
    Udp,
    /// Reaching another bottle on the same engine.
    CrossBottle,
    /// Reaching a cloud-metadata service (a fixture at 169.254.169.254).
    Metadata,
    /// Being reached: a listener in the agent exposed to the host or other containers.
    Inbound,
}

impl Family {
    pub const ALL: [Family; 13] = [
        Family::Localhost,
        Family::EgressBypass,
        Family::Lan,
        Family::Public,
        Family::Proxy,
        Family::ProxyMatching,
        Family::Dns,
        Family::Ipv6,
        Family::Icmp,
        Family::Udp,
        Family::CrossBottle,
        Family::Metadata,
        Family::Inbound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Localhost => "localhost",
            Family::EgressBypass => "egress_bypass",
            Family::Lan => "lan",
            Family::Public => "public",
            Family::Proxy => "proxy",
            Family::ProxyMatching => "proxy_matching",
            Family::Dns => "dns",
            Family::Ipv6 => "ipv6",
            Family::Icmp => "icmp",
            Family::Udp => "udp",
            Family::CrossBottle => "cross_bottle",
            Family::Metadata => "metadata",
            Family::Inbound => "inbound",
        }
    }
}

/// What a correct bottle does with the probe's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Deny,
    Allow,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Deny => "deny",
            Expect::Allow => "allow",
        }
    }
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeSpec {
    /// `<family>.<name>`; stable, used in reports, baselines and test names.
    pub id: &'static str,
    pub family: Family,
    pub expect: Expect,
    /// What the probe aims at, in words.
    pub target: &'static str,
    /// Why a correct bottle behaves as expected.
    pub summary: &'static str,
    /// Allow-probes that must have passed on the same run for a deny to count.
    pub controls: &'static [&'static str],
    /// Where to look first when the probe escapes: the likely cause, for the report.
    pub likely_cause: &'static str,
}

impl ProbeSpec {
    /// The name after the family prefix, used in test names (`docker::lan::fixture_host`).
    pub fn short_name(&self) -> &'static str {
        self.id
            .split_once('.')
            .map(|(_, name)| name)
            .unwrap_or(self.id)
    }
}

/// The likely cause of a probe that has no more specific one: its evidence says what happened.
pub const NO_LIKELY_CAUSE: &str = "see the probe's evidence";

const TCP_CONTROL: &[&str] = &["proxy.allowed_http"];
const CONNECT_CONTROL: &[&str] = &["proxy.allowed_connect"];
const PROXY_CONTROLS: &[&str] = &["proxy.allowed_http", "proxy.allowed_connect"];
const DNS_UDP_CONTROL: &[&str] = &["dns.resolver_control"];
const DNS_TCP_CONTROL: &[&str] = &["dns.resolver_control_tcp"];
const ICMP_CONTROL: &[&str] = &["icmp.bundle_control"];
const TLS_CONTROL: &[&str] = &["proxy_matching.tls_control"];

/// Every probe, in report order.
pub const CATALOGUE: &[ProbeSpec] = &[
    ProbeSpec {
        id: "localhost.agent_loopback",
        family: Family::Localhost,
        expect: Expect::Deny,
        target: "127.0.0.1:<host loopback canary port> inside the agent",
        summary: "the agent's loopback is its own; the host's 127.0.0.1 canary must not answer",
        controls: TCP_CONTROL,
        likely_cause: "the agent shares the host's network namespace, or its VMM maps the guest's loopback to the host's (TSI)",
    },
    ProbeSpec {
        id: "localhost.host_addresses",
        family: Family::Localhost,
        expect: Expect::Deny,
        target: "every IPv4 address of this machine (interfaces, docker0, bridges) on the all-interfaces canary port",
        summary: "host services listening on all interfaces must be unreachable from the agent",
        controls: TCP_CONTROL,
        likely_cause: "the agent network's bridge holds a host address: set `com.docker.network.bridge.inhibit_ipv4=true` (20.10) or gateway mode `isolated` (28+) on it",
    },
    ProbeSpec {
        id: "localhost.loopback_spellings",
        family: Family::Localhost,
        expect: Expect::Deny,
        target: "127.0.0.2, 0.0.0.0 and [::ffff:127.0.0.1] on both host canary ports",
        summary: "other spellings of loopback are the agent's own too; no host canary may answer",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "localhost.host_sockets",
        family: Family::Localhost,
        expect: Expect::Deny,
        target: "unix sockets in the agent's filesystem (/var/run/docker.sock, /run, /tmp, ...)",
        summary: "no socket of the host (the engine's above all) is visible and accepting inside the agent",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "egress_bypass.direct_egress",
        family: Family::EgressBypass,
        expect: Expect::Deny,
        target: "<bundle ip>:9099",
        summary: "egress listens on the bundle's loopback only; the agent must go through pipelock",
        controls: TCP_CONTROL,
        likely_cause: "egress listens on all interfaces instead of the bundle's 127.0.0.1",
    },
    ProbeSpec {
        id: "egress_bypass.port_sweep",
        family: Family::EgressBypass,
        expect: Expect::Deny,
        target: "every TCP port of the bundle on the agent network",
        summary: "only the declared service ports (pipelock, git-gate, supervise) answer",
        controls: TCP_CONTROL,
        likely_cause: "an undeclared listener runs on the bundle's agent-side address",
    },
    ProbeSpec {
        id: "lan.fixture_host",
        family: Family::Lan,
        expect: Expect::Deny,
        target: "the LAN fixture host on ports 80 and 22",
        summary: "the agent is on no network but its own; other local networks are out of reach",
        controls: TCP_CONTROL,
        likely_cause: "the agent routes to other local networks: it is attached to one, or the host forwards between bridges",
    },
    ProbeSpec {
        id: "lan.network_gateways",
        family: Family::Lan,
        expect: Expect::Deny,
        target: "the gateway address of every network the harness created, on the all-interfaces canary port",
        summary: "a bridge gateway is the host; it must not be reachable from the agent",
        controls: TCP_CONTROL,
        likely_cause: "a bridge gateway is a host address reachable from the agent: the host block is missing on the agent network, or the agent is on another network",
    },
    ProbeSpec {
        id: "public.direct_http",
        family: Family::Public,
        expect: Expect::Deny,
        target: "the public fixture host on port 80, no proxy",
        summary: "without pipelock there is no route out",
        controls: TCP_CONTROL,
        likely_cause: "the agent has a route out besides pipelock: it is attached to the upstream network or a non-internal network",
    },
    ProbeSpec {
        id: "public.direct_https",
        family: Family::Public,
        expect: Expect::Deny,
        target: "the public fixture host on port 443, no proxy",
        summary: "without pipelock there is no route out",
        controls: TCP_CONTROL,
        likely_cause: "the agent has a route out besides pipelock: it is attached to the upstream network or a non-internal network",
    },
    ProbeSpec {
        id: "proxy.allowed_http",
        family: Family::Proxy,
        expect: Expect::Allow,
        target: "GET http://<allowed host>/ through pipelock",
        summary: "positive control: the allowlisted host is reachable through the proxy",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "proxy.allowed_connect",
        family: Family::Proxy,
        expect: Expect::Allow,
        target: "CONNECT <allowed host>:443 through pipelock",
        summary: "positive control: a tunnel to the allowlisted host works",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "proxy.denied_host",
        family: Family::Proxy,
        expect: Expect::Deny,
        target: "GET http://<host not on the allowlist>/ through pipelock",
        summary: "pipelock answers 403 for hosts not on its allowlist",
        controls: TCP_CONTROL,
        likely_cause: "pipelock's allowlist lets more than the allowed hosts through",
    },
    ProbeSpec {
        id: "proxy.denied_connect",
        family: Family::Proxy,
        expect: Expect::Deny,
        target: "CONNECT <host not on the allowlist>:443 through pipelock",
        summary: "pipelock answers 403 for tunnels to hosts not on its allowlist",
        controls: CONNECT_CONTROL,
        likely_cause: "pipelock's allowlist lets more than the allowed hosts through",
    },
    ProbeSpec {
        id: "proxy.connect_ip_literal",
        family: Family::Proxy,
        expect: Expect::Deny,
        target: "CONNECT <public fixture ip>:443 through pipelock",
        summary: "pipelock refuses tunnels to IP literals, which would bypass the host allowlist",
        controls: CONNECT_CONTROL,
        likely_cause: "pipelock accepts CONNECT to IP literals, which bypasses a host allowlist",
    },
    ProbeSpec {
        id: "proxy.loopback_spellings",
        family: Family::Proxy,
        expect: Expect::Deny,
        target: "GET http://<127.1, 0x7f000001, 2130706433, 127.0.0.2, 0.0.0.0, [::ffff:127.0.0.1], [::1], localhost>:<egress port>/ through pipelock",
        summary: "pipelock refuses every spelling of its own loopback, which would reach egress behind its back",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "proxy.dns_side_channel",
        family: Family::Proxy,
        expect: Expect::Deny,
        target: "GET and CONNECT through pipelock for <nonce>.leak.fixture.test and for an unused IP literal of the upstream network; the DNS canary must see neither the nonce nor the literal's reverse lookup",
        summary: "a proxy refusing by name decides without resolving: a lookup of a name or an IP literal the agent chose (the reverse lookup a plain `dstdomain` ACL makes) carries agent-chosen data out through the bundle's resolver",
        controls: PROXY_CONTROLS,
        likely_cause: "the proxy resolves what the agent asks for before refusing it: Squid's `dstdomain` without `-n` reverse-resolves IP literals (use `dstdomain -n`), or the proxy forwards names it should refuse",
    },
    ProbeSpec {
        id: "proxy_matching.tls_control",
        family: Family::ProxyMatching,
        expect: Expect::Allow,
        target: "CONNECT <allowed host>:443 through pipelock, then a TLS ClientHello whose SNI is the allowed host",
        summary: "positive control: a ClientHello naming the tunnel's own host reaches the public host, which records the SNI it saw",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "proxy_matching.lookalike_names",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET and CONNECT through pipelock for names that contain or end like the allowed one: <allowed>.attacker.fixture.test, x<allowed>, the allowed name with its dots replaced, a sibling under its parent; all resolve to the public host",
        summary: "an allowlist matches whole names: a suffix, substring, unescaped-dot or parent-domain match lets other names through",
        controls: PROXY_CONTROLS,
        likely_cause: "the allowlist matches by suffix or substring (or as a regex with unescaped dots, or by parent domain) instead of the exact name",
    },
    ProbeSpec {
        id: "proxy_matching.denied_spellings",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET through pipelock for the denied name spelled in upper and mixed case, with a trailing dot, percent-encoded, with an explicit port, as an IDNA look-alike (raw and punycode)",
        summary: "another spelling of a name that is not allowed is still not allowed: a blocklist compared byte for byte is fooled by every one of these",
        controls: TCP_CONTROL,
        likely_cause: "the proxy compares host names without normalising them (case, trailing dot, percent-encoding, port), typically a blocklist rather than an allowlist",
    },
    ProbeSpec {
        id: "proxy_matching.userinfo",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET http://<allowed>@<denied>/ and GET http://<denied>/#@<allowed>/ through pipelock",
        summary: "the host of a URL is what follows its userinfo and precedes its path, query or fragment; a proxy that reads the userinfo or the fragment as the host lets the denied host through",
        controls: TCP_CONTROL,
        likely_cause: "the proxy's URL parsing takes the userinfo (before '@') or text after a '#' for the host",
    },
    ProbeSpec {
        id: "proxy_matching.host_header",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET http://<allowed>/ with Host: <denied> through pipelock; both names are the public host, which records the Host it received",
        summary: "the allowed URI decides where a request goes and what it asks for: pipelock sends the URI's authority as the Host, so the public host may see the request only for the allowed name",
        controls: TCP_CONTROL,
        likely_cause: "the proxy forwards the client's Host header (or routes by it) after checking only the URI against its allowlist",
    },
    ProbeSpec {
        id: "proxy_matching.sni_fronting",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "CONNECT <allowed>:443 through pipelock, then a TLS ClientHello whose SNI is the denied host (domain fronting); the public host records the SNI it saw",
        summary: "pipelock compares the ClientHello's SNI with the tunnel's host and closes the tunnel on a mismatch, so a TLS session for another name never starts",
        controls: TLS_CONTROL,
        likely_cause: "the proxy does not compare the TLS SNI with the CONNECT authority (Squid without ssl_bump peek cannot)",
    },
    ProbeSpec {
        id: "proxy_matching.ip_literal_forms",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET and CONNECT through pipelock for the public host's address as dotted, decimal, hex and octal IPv4, IPv4-mapped IPv6 and its own IPv6 address",
        summary: "an IP literal in any spelling bypasses a host allowlist, and every spelling inet_aton accepts reaches the same host",
        controls: PROXY_CONTROLS,
        likely_cause: "the proxy recognises only some IP literal spellings (dotted quads) and lets the others through as if they were names",
    },
    ProbeSpec {
        id: "proxy_matching.internal_name",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET and CONNECT through pipelock for the allowed name, after every other attempt, once the harness's DNS canary leads it to the LAN host's private address (the proxy must look it up again: a kept answer proves nothing)",
        summary: "an allowed name is no licence to reach internal addresses: pipelock checks the address a name resolves to (SSRF) and refuses private ones",
        controls: PROXY_CONTROLS,
        likely_cause: "the proxy checks names only, not the addresses they resolve to (no SSRF protection for allowed names)",
    },
    ProbeSpec {
        id: "proxy_matching.dns_rebinding",
        family: Family::ProxyMatching,
        expect: Expect::Deny,
        target: "GET and CONNECT through pipelock for the allowed name, after every other attempt, once the harness's DNS canary answers it with the public host first and the LAN host on the next lookup",
        summary: "pipelock connects to the address it checked (DNS pinning), so a name that changes its answer between the check and the connect never leads to the LAN host",
        controls: PROXY_CONTROLS,
        likely_cause: "the proxy resolves a name twice, once to check it and once to connect (no DNS pinning): a rebinding name slips past the SSRF check",
    },
    ProbeSpec {
        id: "dns.resolver_control",
        family: Family::Dns,
        expect: Expect::Allow,
        target: "the agent's configured resolver, UDP, asked for the bundle's name",
        summary: "positive control: the agent's resolver answers names inside the bottle",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "dns.resolver_control_tcp",
        family: Family::Dns,
        expect: Expect::Allow,
        target: "the agent's configured resolver, TCP, asked for the bundle's name",
        summary: "positive control: the agent's resolver answers over TCP too",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "dns.direct_udp",
        family: Family::Dns,
        expect: Expect::Deny,
        target: "the fixture resolver (DNS canary) on UDP 53",
        summary: "the agent cannot talk to an outside resolver",
        controls: DNS_UDP_CONTROL,
        likely_cause: "the agent can reach a resolver outside the bottle",
    },
    ProbeSpec {
        id: "dns.direct_tcp",
        family: Family::Dns,
        expect: Expect::Deny,
        target: "the fixture resolver (DNS canary) on TCP 53",
        summary: "the agent cannot talk to an outside resolver",
        controls: DNS_TCP_CONTROL,
        likely_cause: "the agent can reach a resolver outside the bottle",
    },
    ProbeSpec {
        id: "dns.resolver_exfil",
        family: Family::Dns,
        expect: Expect::Deny,
        target: "a unique name asked through the agent's configured resolver (UDP)",
        summary: "the agent's resolver must not forward outside names; the DNS canary never sees the name",
        controls: DNS_UDP_CONTROL,
        likely_cause: "the agent's resolver forwards outside names (the agent can reach the upstream resolver, or the resolver forwards from the host)",
    },
    ProbeSpec {
        id: "dns.resolver_exfil_tcp",
        family: Family::Dns,
        expect: Expect::Deny,
        target: "a unique name asked through the agent's configured resolver (TCP)",
        summary: "the agent's resolver must not forward outside names; the DNS canary never sees the name",
        controls: DNS_TCP_CONTROL,
        likely_cause: "the agent's resolver forwards outside names (the agent can reach the upstream resolver, or the resolver forwards from the host)",
    },
    ProbeSpec {
        id: "ipv6.agent_loopback",
        family: Family::Ipv6,
        expect: Expect::Deny,
        target: "[::1]:<host IPv6 loopback canary port> inside the agent",
        summary: "the agent's ::1 is its own; the host's IPv6 loopback canary must not answer",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "ipv6.host_addresses",
        family: Family::Ipv6,
        expect: Expect::Deny,
        target: "every global and unique-local IPv6 address of this machine (and of the run's bridges) on the all-interfaces canary port",
        summary: "an IPv4-only host block does not stop IPv6: the host must be unreachable over it too",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "ipv6.link_local",
        family: Family::Ipv6,
        expect: Expect::Deny,
        target: "every link-local IPv6 address of this machine, on each of the agent's interfaces, on the all-interfaces canary port",
        summary: "a bridge's link-local address is the host; it must not answer the agent",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "ipv6.public_host",
        family: Family::Ipv6,
        expect: Expect::Deny,
        target: "the public fixture host's IPv6 address on ports 80 and 443, no proxy",
        summary: "without pipelock there is no route out, over IPv6 either",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "icmp.bundle_control",
        family: Family::Icmp,
        expect: Expect::Allow,
        target: "ICMP echo to the bundle's address",
        summary: "positive control: the agent can ping its one peer, so ping sockets work",
        controls: &[],
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "icmp.echo",
        family: Family::Icmp,
        expect: Expect::Deny,
        target: "ICMP echo to the public, LAN and neighbour hosts, this machine's addresses and every network gateway",
        summary: "nothing outside the bottle answers a ping (ICMP tunnels need an answer)",
        controls: ICMP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "udp.echo",
        family: Family::Udp,
        expect: Expect::Deny,
        target: "UDP datagrams with a nonce to the public and LAN hosts' echo port",
        summary: "no datagram reaches a host outside the bottle, and none comes back",
        controls: DNS_UDP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "cross_bottle.neighbour_bundle",
        family: Family::CrossBottle,
        expect: Expect::Deny,
        target: "a second bottle's bundle (on its own agent network) on the bundle service ports",
        summary: "bottles on one engine are isolated from each other",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "metadata.direct",
        family: Family::Metadata,
        expect: Expect::Deny,
        target: "169.254.169.254:80, the metadata fixture (never a real metadata service)",
        summary: "the agent cannot reach a cloud-metadata address (credentials live there)",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "metadata.via_proxy",
        family: Family::Metadata,
        expect: Expect::Deny,
        target: "GET http://169.254.169.254/ through pipelock (the bundle's route to it ends at the fixture)",
        summary: "pipelock refuses the metadata address; egress and the fixture never see the request",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
    ProbeSpec {
        id: "inbound.agent_listener",
        family: Family::Inbound,
        expect: Expect::Deny,
        target: "a TCP listener in the agent, dialled by this machine (when it has a route there) and by the public, LAN and neighbour hosts",
        summary: "nothing outside the bottle can connect to a service the agent starts",
        controls: TCP_CONTROL,
        likely_cause: NO_LIKELY_CAUSE,
    },
];

/// Probes that were renamed, old id → new id, so baselines made before a rename still compare.
pub const RENAMED: &[(&str, &str)] = &[];

/// Looks a probe up by id.
pub fn find(id: &str) -> Option<&'static ProbeSpec> {
    CATALOGUE.iter().find(|probe| probe.id == id)
}

/// The likely cause of an escape of the probe `id`; [`NO_LIKELY_CAUSE`] for an id the
/// catalogue does not know.
pub fn likely_cause(id: &str) -> &'static str {
    find(id).map_or(NO_LIKELY_CAUSE, |probe| probe.likely_cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_prefixed_and_controls_exist() {
        let mut seen = HashSet::new();
        for probe in CATALOGUE {
            assert!(seen.insert(probe.id), "duplicate id {}", probe.id);
            assert!(
                probe.id.starts_with(&format!("{}.", probe.family.as_str())),
                "{} does not start with its family",
                probe.id
            );
            for control in probe.controls {
                let control = find(control).unwrap_or_else(|| panic!("{control} missing"));
                assert_eq!(
                    control.expect,
                    Expect::Allow,
                    "{} is not a control",
                    control.id
                );
            }
            if probe.expect == Expect::Deny {
                assert!(!probe.controls.is_empty(), "{} has no control", probe.id);
            }
        }
        for family in Family::ALL {
            assert!(
                CATALOGUE.iter().any(|p| p.family == family),
                "{family:?} empty"
            );
        }
    }

    #[test]
    fn every_probe_has_a_likely_cause_and_unknown_ids_get_the_generic_one() {
        for probe in CATALOGUE {
            assert!(
                !probe.likely_cause.is_empty(),
                "{} has no likely cause",
                probe.id
            );
            assert_eq!(likely_cause(probe.id), probe.likely_cause);
        }
        assert_eq!(likely_cause("nowhere.unknown"), NO_LIKELY_CAUSE);
    }
}
