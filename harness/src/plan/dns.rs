//! The DNS family: the agent's resolver as a control, an outside resolver directly, and names
//! the agent's resolver must not forward (their query names carry the probe's nonce).

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    let id = a.spec().id;
    let tcp = id.ends_with("tcp");
    match id {
        "dns.resolver_control" | "dns.resolver_control_tcp" => {
            a.add(
                AttemptKind::Resolver {
                    tcp,
                    qname: t.layout().bundle_name.clone(),
                },
                None,
                format!("{} via the agent's resolver", t.layout().bundle_name),
            );
        }
        "dns.direct_udp" | "dns.direct_tcp" => {
            let server = SocketAddr::new(t.layout().dns.ip.into(), 53);
            let qname = format!("{}.direct.fixture.test", a.qname_nonce());
            let kind = if tcp {
                AttemptKind::DnsTcp { server, qname }
            } else {
                AttemptKind::DnsUdp { server, qname }
            };
            a.add_carrying_qname_nonce(kind, Some(Target::Dns), server.to_string());
        }
        "dns.resolver_exfil" | "dns.resolver_exfil_tcp" => {
            let qname = format!("{}.exfil.fixture.test", a.qname_nonce());
            a.add_carrying_qname_nonce(
                AttemptKind::Resolver {
                    tcp,
                    qname: qname.clone(),
                },
                Some(Target::Dns),
                format!("{qname} via the agent's resolver"),
            );
        }
        other => no_plan(other),
    }
}
