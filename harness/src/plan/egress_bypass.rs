//! The egress-bypass family: the bundle's egress port directly, and a sweep of every bundle port
//! for listeners nobody declared.

use std::net::{IpAddr, SocketAddr};

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "egress_bypass.direct_egress" => {
            let addr = SocketAddr::new(t.layout().bundle_ip.into(), t.layout().ports.egress);
            a.add(
                AttemptKind::Tcp { addr },
                Some(Target::Bundle),
                addr.to_string(),
            );
        }
        "egress_bypass.port_sweep" => {
            // Every port of the bundle's own address. Where the agent reaches the bundle
            // elsewhere (smolvm's desktop mode: its published ports through the VMM's gateway,
            // where every other port is this machine's loopback, the localhost probes' and the
            // declared gap's), no port of it may answer at all (`verdict::deny`).
            let ip = t.layout().bundle_ip;
            a.add_timed(
                AttemptKind::Sweep {
                    ip: IpAddr::V4(ip),
                    first: 1,
                    last: u16::MAX,
                },
                Some(Target::Bundle),
                format!("{ip}:1-65535"),
                i.timeouts.sweep_ms,
            );
        }
        other => no_plan(other),
    }
}
