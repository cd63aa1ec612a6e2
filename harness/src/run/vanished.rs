//! Host addresses can vanish while a run is in flight (another bottle's bridge being torn
//! down). An address that is gone proves nothing either way: its attempts and checks are
//! dropped rather than judged.

use std::collections::BTreeSet;
use std::net::IpAddr;

use bottle_probes::AttemptKind;

use crate::host;
use crate::plan::Plan;
use crate::target::Target;

/// The addresses among `checked` that this machine no longer has.
pub(super) fn vanished_addresses(checked: &[IpAddr]) -> Vec<IpAddr> {
    let (present_v6, present_link_local) = host::host_addresses_v6();
    let present =
        host::all_host_addresses(&host::host_addresses(), &present_v6, &present_link_local);
    checked
        .iter()
        .filter(|ip| !present.contains(ip))
        .copied()
        .collect()
}

/// The attempts that aimed at a vanished address of this machine.
pub(super) fn vanished_attempts(plan: &Plan, vanished: &[IpAddr]) -> BTreeSet<String> {
    if vanished.is_empty() {
        return BTreeSet::new();
    }
    let on_this_machine = |target: Option<Target>| target == Some(Target::HostAllInterfaces);
    plan.probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| match &a.spec.kind {
            AttemptKind::Tcp { addr } => on_this_machine(a.target) && vanished.contains(&addr.ip()),
            AttemptKind::TcpLinkLocal { ip, .. } => vanished.contains(&IpAddr::V6(*ip)),
            AttemptKind::Ping { ip } => on_this_machine(a.target) && vanished.contains(ip),
            _ => false,
        })
        .map(|a| a.spec.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlannedAttempt, PlannedProbe};
    use bottle_probes::wire::{AttemptSpec, Stage};
    use std::net::SocketAddr;

    fn attempt(id: &str, kind: AttemptKind, target: Option<Target>) -> PlannedAttempt {
        PlannedAttempt {
            spec: AttemptSpec {
                id: id.into(),
                kind,
                nonce: format!("nonce-{id}"),
                timeout_ms: 1500,
                stage: Stage::Adaptive,
            },
            target,
            destination: id.into(),
            delivery: Default::default(),
        }
    }

    /// A plan of one probe with `attempts`.
    fn plan_of(attempts: Vec<PlannedAttempt>) -> Plan {
        Plan {
            session: "s".into(),
            probes: vec![PlannedProbe {
                spec: bottle_probes::catalogue::find("localhost.host_addresses").unwrap(),
                attempts,
                skipped: None,
                dns_mode: None,
            }],
            agent_ips: vec![],
            bundle_upstream_ip: "10.0.0.2".parse().unwrap(),
            bundle_ip: "10.0.0.3".parse().unwrap(),
            bundle_reached_ip: "10.0.0.3".parse().unwrap(),
            declared_ports: vec![],
            resolver_owned: true,
            handshake: bottle_backends::Handshake::Destination,
            dns_intercepted: false,
            vmm_gateway: None,
            control_name: "bundle".into(),
            expected_resolver: None,
            allowed_host: "a".into(),
            denied_host: "b".into(),
            proxy_names: vec![],
            refusal_status: 403,
            dialers: vec![],
            host_gateway: vec![],
        }
    }

    #[test]
    fn only_attempts_at_a_vanished_address_of_this_machine_vanish() {
        let gone: IpAddr = "192.0.2.9".parse().unwrap();
        let gone_v6: IpAddr = "fe80::9".parse().unwrap();
        let host = Some(Target::HostAllInterfaces);
        let attempts = vec![
            attempt(
                "tcp-host",
                AttemptKind::Tcp {
                    addr: SocketAddr::new(gone, 41001),
                },
                host,
            ),
            // The same address as another target's is not this machine's address.
            attempt(
                "tcp-public",
                AttemptKind::Tcp {
                    addr: SocketAddr::new(gone, 80),
                },
                Some(Target::Public),
            ),
            attempt(
                "tcp-present",
                AttemptKind::Tcp {
                    addr: "192.0.2.2:41001".parse().unwrap(),
                },
                host,
            ),
            attempt(
                "link-local",
                AttemptKind::TcpLinkLocal {
                    ip: "fe80::9".parse().unwrap(),
                    port: 41001,
                },
                host,
            ),
            attempt(
                "link-local-present",
                AttemptKind::TcpLinkLocal {
                    ip: "fe80::1".parse().unwrap(),
                    port: 41001,
                },
                host,
            ),
            attempt("ping-host", AttemptKind::Ping { ip: gone }, host),
            attempt(
                "ping-public",
                AttemptKind::Ping { ip: gone },
                Some(Target::Public),
            ),
            attempt(
                "udp-host",
                AttemptKind::Udp {
                    addr: SocketAddr::new(gone, 7),
                },
                host,
            ),
        ];
        let plan = plan_of(attempts);
        let vanished = vanished_attempts(&plan, &[gone, gone_v6]);
        assert_eq!(
            vanished.iter().map(String::as_str).collect::<Vec<_>>(),
            ["link-local", "ping-host", "tcp-host"]
        );
        assert!(vanished_attempts(&plan, &[]).is_empty());
    }
}
