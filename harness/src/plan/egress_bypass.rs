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
            a.add_timed(
                AttemptKind::Sweep {
                    ip: IpAddr::V4(t.layout().bundle_ip),
                    first: 1,
                    last: u16::MAX,
                },
                Some(Target::Bundle),
                format!("{}:1-65535", t.layout().bundle_ip),
                i.timeouts.sweep_ms,
            );
        }
        other => no_plan(other),
    }
}
