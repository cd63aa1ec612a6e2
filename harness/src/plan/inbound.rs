//! The inbound family: a listener in the agent that the fixture hosts (and this machine, when it
//! has a route) keep dialling; present only where something dials (see `build`).

use bottle_probes::wire::AttemptKind;

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    let t = i.topology;
    match a.spec().id {
        "inbound.agent_listener" => {
            if let Some(port) = t.layout().inbound_port {
                a.add(
                    AttemptKind::Listen {
                        port,
                        own: t.layout().agent_ip,
                    },
                    None,
                    format!(
                        "{}:{port} in the agent, dialled from outside",
                        t.layout().agent_ip
                    ),
                );
            }
        }
        other => no_plan(other),
    }
}
