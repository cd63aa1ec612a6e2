//! The LAN family: the LAN fixture host's ports, and this machine through every network gateway
//! of the run.

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let (t, host) = (i.topology, i.host);
    match a.spec().id {
        "lan.fixture_host" => {
            for port in &t.layout().lan.ports {
                let addr = SocketAddr::new(t.layout().lan.ip.into(), *port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::Lan),
                    addr.to_string(),
                );
            }
        }
        "lan.network_gateways" => {
            for network in t.networks() {
                let addr = SocketAddr::new(network.gateway.into(), host.all_interfaces_port);
                a.add(
                    AttemptKind::Tcp { addr },
                    Some(Target::HostAllInterfaces),
                    format!("{addr} (gateway of {})", network.name),
                );
            }
        }
        other => no_plan(other),
    }
}
