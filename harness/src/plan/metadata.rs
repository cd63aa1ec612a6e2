//! The metadata family: the cloud-metadata fixture directly and through pipelock, when the bottle
//! has one (otherwise the probes are skipped, see `build`).

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "metadata.direct" => {
            if let Some(metadata) = &t.layout().metadata {
                for port in &metadata.ports {
                    let addr = SocketAddr::new(metadata.ip.into(), *port);
                    a.add(
                        AttemptKind::Tcp { addr },
                        Some(Target::Metadata),
                        format!("{addr} (the metadata fixture)"),
                    );
                }
            }
        }
        "metadata.via_proxy" => {
            if let Some(metadata) = &t.layout().metadata {
                let pipelock = i.pipelock();
                a.add(
                    AttemptKind::HttpProxy {
                        proxy: pipelock,
                        host: metadata.ip.to_string(),
                        port: 80,
                        refusal: i.proxy.user_refusal(),
                    },
                    Some(Target::Metadata),
                    format!("http://{}/ via {pipelock}", metadata.ip),
                );
            }
        }
        other => no_plan(other),
    }
}
