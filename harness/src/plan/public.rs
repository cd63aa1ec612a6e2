//! The public family: the public fixture host over HTTP and HTTPS ports, without the proxy.

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    let id = a.spec().id;
    match id {
        "public.direct_http" | "public.direct_https" => {
            let port = if id.ends_with("https") { 443 } else { 80 };
            let addr = SocketAddr::new(t.layout().public.ip.into(), port);
            a.add(
                AttemptKind::Tcp { addr },
                Some(Target::Public),
                addr.to_string(),
            );
        }
        other => no_plan(other),
    }
}
