//! The proxy family: pipelock's controls (the allowed name over HTTP and CONNECT) and what it
//! must refuse (the denied name, IP literals, loopback spellings of the bundle itself, aimed at
//! the harness's recorder on the bundle's loopback, and the side channel through the bundle's
//! resolver: names and literals the agent chose). Every destination records what reaches it,
//! which decides; every request also carries the user's refusal signature, so the probe can
//! say which refusal an answer was.

use std::net::{Ipv4Addr, SocketAddr};

use bottle_backends::spec::hosts;
use bottle_backends::Topology;
use bottle_probes::catalogue::Expect;
use bottle_probes::wire::{AttemptKind, UserRefusal};

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    let pipelock = i.pipelock();
    let spec = a.spec();
    match spec.id {
        "proxy.allowed_http" | "proxy.denied_host" => {
            let host_name = if spec.expect == Expect::Allow {
                &t.layout().allowed_host
            } else {
                &t.layout().denied_host
            };
            a.add(
                AttemptKind::HttpProxy {
                    proxy: pipelock,
                    host: host_name.clone(),
                    port: 80,
                    refusal: i.proxy.user_refusal(),
                },
                Some(Target::Public),
                format!("http://{host_name}/ via {pipelock}"),
            );
        }
        "proxy.allowed_connect" | "proxy.denied_connect" | "proxy.connect_ip_literal" => {
            let authority = match spec.id {
                "proxy.allowed_connect" => format!("{}:443", t.layout().allowed_host),
                "proxy.denied_connect" => format!("{}:443", t.layout().denied_host),
                _ => format!("{}:443", t.layout().public.ip),
            };
            a.add(
                AttemptKind::ConnectProxy {
                    proxy: pipelock,
                    authority: authority.clone(),
                    refusal: i.proxy.user_refusal(),
                },
                Some(Target::Public),
                format!("CONNECT {authority} via {pipelock}"),
            );
        }
        "proxy.loopback_spellings" => {
            // At the harness's recorder on the bundle's loopback, which records whatever
            // reaches it; a bottle without one leaves the bundle's egress, which only the
            // built-in bundle records.
            let (port, target) = match t.layout().bundle_loopback_port {
                Some(port) => (port, Target::BundleLoopback),
                None => (t.layout().ports.egress, Target::Bundle),
            };
            for spelled in [
                "127.1",
                "0x7f000001",
                "2130706433",
                "127.0.0.2",
                "0.0.0.0",
                "[::ffff:127.0.0.1]",
                "[::1]",
                "localhost",
            ] {
                a.add(
                    AttemptKind::HttpProxy {
                        proxy: pipelock,
                        host: spelled.to_string(),
                        port,
                        refusal: i.proxy.user_refusal(),
                    },
                    Some(target),
                    format!("http://{spelled}:{port}/ via {pipelock}"),
                );
            }
        }
        "proxy.dns_side_channel" => side_channel(a, i),
        other => no_plan(other),
    }
}

/// The zone of the names the side channel asks for: `.test`, resolved only by the DNS canary,
/// which answers NXDOMAIN, so even an open proxy connects nowhere with them.
const LEAK_ZONE: &str = "leak.fixture.test";

/// `proxy.dns_side_channel`: a name carrying the attempt's nonce (a proxy that resolves it
/// before refusing hands the nonce to the DNS canary) and an IP literal of the upstream network
/// that nothing holds (a proxy that reverse-resolves it asks the canary for its PTR), each over
/// plain HTTP and CONNECT. The target is the DNS canary: what it records is the evidence.
fn side_channel(a: &mut Attempts, i: &Inputs) {
    let pipelock = i.pipelock();
    let refusal = i.proxy.user_refusal();
    let unused = side_channel_ip(i.topology);
    for connect in [false, true] {
        let refusal = refusal.clone();
        a.add_naming(Some(Target::Dns), |nonce| {
            proxied(pipelock, format!("{nonce}.{LEAK_ZONE}"), connect, refusal)
        });
    }
    for connect in [false, true] {
        let (kind, destination) = proxied(pipelock, unused.to_string(), connect, refusal.clone());
        a.add(kind, Some(Target::Dns), destination);
    }
}

/// The IP literal the side channel asks for: the upstream network's never-assigned host.
fn side_channel_ip(t: &Topology) -> Ipv4Addr {
    let [a, b, c, _] = t.layout().upstream_network.gateway.octets();
    Ipv4Addr::new(a, b, c, hosts::NEVER_ASSIGNED)
}

/// A request for `host` through the proxy: `GET http://host/` or `CONNECT host:443`.
fn proxied(
    pipelock: SocketAddr,
    host: String,
    connect: bool,
    refusal: UserRefusal,
) -> (AttemptKind, String) {
    if connect {
        let authority = format!("{host}:443");
        let destination = format!("CONNECT {authority} via {pipelock}");
        let kind = AttemptKind::ConnectProxy {
            proxy: pipelock,
            authority,
            refusal,
        };
        (kind, destination)
    } else {
        let destination = format!("http://{host}/ via {pipelock}");
        let kind = AttemptKind::HttpProxy {
            proxy: pipelock,
            host,
            port: 80,
            refusal,
        };
        (kind, destination)
    }
}
