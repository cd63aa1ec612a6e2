//! The UDP family: a request and its answer with the UDP echo service of the hosts outside.

use std::net::SocketAddr;

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "udp.echo" => {
            let echo = bottle_backends::spec::hosts::UDP_ECHO_PORT;
            let mut hosts = vec![
                (t.layout().public.ip, Target::Public),
                (t.layout().lan.ip, Target::Lan),
            ];
            if let Some(neighbour) = &t.layout().neighbour {
                hosts.push((neighbour.ip, Target::Neighbour));
            }
            for (ip, target) in hosts {
                let addr = SocketAddr::new(ip.into(), echo);
                a.add(
                    AttemptKind::Udp { addr },
                    Some(target),
                    format!("udp {addr}"),
                );
            }
        }
        other => no_plan(other),
    }
}
