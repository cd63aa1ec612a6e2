//! The cross-bottle family: a second bottle's bundle on the same engine.

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "cross_bottle.neighbour_bundle" => {
            if let Some(neighbour) = &t.layout().neighbour {
                for port in &neighbour.ports {
                    let addr = SocketAddr::new(neighbour.ip.into(), *port);
                    a.add(
                        AttemptKind::Tcp { addr },
                        Some(Target::Neighbour),
                        addr.to_string(),
                    );
                }
            }
        }
        other => no_plan(other),
    }
}
