//! The proxy family: pipelock's controls (the allowed name over HTTP and CONNECT) and what it
//! must refuse (the denied name, IP literals, loopback spellings of the bundle's egress). Every
//! request carries the user's refusal signature, so the probe can say whether an answer is the
//! proxy's own refusal.

use bottle_probes::catalogue::Expect;
use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::build::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    let pipelock = i.pipelock();
    let spec = a.spec();
    match spec.id {
        "proxy.allowed_http" | "proxy.denied_host" => {
            let host_name = if spec.expect == Expect::Allow {
                &t.allowed_host
            } else {
                &t.denied_host
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
                "proxy.allowed_connect" => format!("{}:443", t.allowed_host),
                "proxy.denied_connect" => format!("{}:443", t.denied_host),
                _ => format!("{}:443", t.public.ip),
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
                        port: t.ports.egress,
                        refusal: i.proxy.user_refusal(),
                    },
                    Some(Target::Bundle),
                    format!("http://{spelled}:{}/ via {pipelock}", t.ports.egress),
                );
            }
        }
        other => no_plan(other),
    }
}
