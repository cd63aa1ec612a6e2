//! The targets' side of the probe phase, after the exec: the harness's own liveness checks
//! against every target it owns, which of this machine's addresses vanished meanwhile (and so
//! which attempts prove nothing), and every record the targets kept. All of it travels on in
//! [`TargetView`]; the plan is never edited.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bottle_backends::{Bottle, BottleBackend};
use bottle_fixtures::records::{Proto, RejectedLine};
use bottle_fixtures::Record;
use bottle_probes::AttemptKind;

use crate::errors::HarnessError;
use crate::host::{self, HostCanaries, LivenessCheck};
use crate::plan::{HostSide, Plan};
use crate::select::AnyBackend;
use crate::target::Target;

/// Time for records of late packets (a forwarded DNS query) to reach the fixtures' logs. The
/// liveness checks sent after it must show up in each target's records, and a container's log is
/// ordered, so every earlier record of a checked target is in what the harness reads.
const SETTLE: Duration = Duration::from_millis(50);

/// Reads of the fixtures' records until every answered liveness check shows (see
/// [`read_records`]).
const RECORD_ROUNDS: usize = 6;
const RECORD_RETRY: Duration = Duration::from_millis(200);

/// What the targets saw, and what the harness's own checks of them showed.
pub(crate) struct TargetView {
    /// Records from every harness-owned target (host canaries and fixture hosts).
    pub records: Vec<Record>,
    /// The harness's own liveness check per target: `Ok` when it answered and recorded it.
    pub liveness: BTreeMap<Target, Result<(), String>>,
    /// The nonces of the harness's own liveness checks (their records are expected).
    pub liveness_nonces: Vec<String>,
    /// The harness's own ends of its liveness connections.
    pub liveness_peers: Vec<SocketAddr>,
    /// The addresses of the bottle's checker, where the fixture hosts' checks came from.
    pub liveness_sources: Vec<IpAddr>,
    /// Attempts whose host address vanished during the run, by id: judged as if not planned.
    pub vanished_attempts: BTreeSet<String>,
    /// `CB-SEEN` lines the fixtures printed that did not parse: evidence that cannot be read,
    /// which the verdict turns into `inconclusive` rather than ignore.
    pub rejected_records: Vec<RejectedLine>,
}

/// Checks every target, finds the vanished addresses among `checked_addresses` (the host
/// addresses the plan aimed at), and reads the targets' records.
pub(crate) async fn observe_targets(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    canaries: &HostCanaries,
    host_side: &HostSide,
    checked_addresses: &[IpAddr],
    nonce: impl FnMut() -> String,
) -> Result<TargetView, HarnessError> {
    tokio::time::sleep(SETTLE).await;
    // A bridge's IPv6 address is unusable for about a second after its first port comes up
    // (duplicate address detection); the IPv6 liveness checks go through it.
    futures_util::future::join_all(
        bottle
            .topology
            .networks()
            .iter()
            .filter_map(|n| n.gateway_v6)
            .map(bottle_backends::hostnet::wait_usable_v6),
    )
    .await;
    bottle_backends::trace::step("report: IPv6 gateways usable");
    let checks = host::liveness_checks(
        &bottle.topology,
        canaries,
        &host_side.addresses,
        &host_side.addresses_v6,
        &plan.host_gateway,
        nonce,
    );
    let (sent, liveness_peers) =
        super::send_checks::send_checks(backend, bottle, &plan.session, &checks).await;
    bottle_backends::trace::step("report: liveness checks sent");
    // Host addresses can vanish while a run is in flight (another bottle's bridge being torn
    // down). An address that is gone proves nothing either way: its attempts and checks are
    // dropped rather than judged.
    let vanished = vanished_addresses(checked_addresses);
    let vanished_attempts = vanished_attempts(plan, &vanished);
    let (records, rejected_records) = read_records(
        backend,
        bottle,
        plan,
        canaries,
        &checks,
        &sent,
        &vanished_attempts,
    )
    .await?;
    bottle_backends::trace::step("report: records read");
    Ok(TargetView {
        liveness: liveness_by_target(&checks, sent, &records, &vanished),
        liveness_nonces: checks.iter().map(|c| c.nonce.clone()).collect(),
        liveness_peers,
        liveness_sources: bottle.topology.layout().checker_ips.clone(),
        vanished_attempts,
        records,
        rejected_records,
    })
}

/// The addresses among `checked` that this machine no longer has.
fn vanished_addresses(checked: &[IpAddr]) -> Vec<IpAddr> {
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
fn vanished_attempts(plan: &Plan, vanished: &[IpAddr]) -> BTreeSet<String> {
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

/// The fixtures' records and this machine's canaries'. A container's log reaches the engine
/// asynchronously: a check the target answered (it records before it answers) may not be in
/// the log yet on a loaded machine. Read again, briefly, until every answered check shows; what
/// is still missing is judged as missing.
async fn read_records(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    canaries: &HostCanaries,
    checks: &[LivenessCheck],
    sent: &[Result<(), String>],
    vanished_attempts: &BTreeSet<String>,
) -> Result<(Vec<Record>, Vec<RejectedLine>), HarnessError> {
    let answered: Vec<&str> = checks
        .iter()
        .zip(sent)
        .filter(|(_, result)| result.is_ok())
        .map(|(check, _)| check.nonce.as_str())
        .collect();
    // The nonces of this run: its attempts (those still judged) and its checks.
    let run_nonces: Vec<&str> = plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| !vanished_attempts.contains(&a.spec.id))
        .map(|a| a.spec.nonce.as_str())
        .chain(checks.iter().map(|c| c.nonce.as_str()))
        .collect();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for round in 0..RECORD_ROUNDS {
        let log = backend.fixture_records(bottle).await?;
        (records, rejected) = (log.records, log.rejected);
        // This machine's ICMP recorder sees every echo request to any of its addresses,
        // other runs' probes included (a sabotaged bottle next door pings this machine too):
        // only a ping carrying one of this run's nonces is this run's evidence.
        records.extend(
            canaries
                .sink
                .snapshot()
                .into_iter()
                .filter(|r| r.proto != Proto::Icmp || run_nonces.iter().any(|n| r.mentions(n))),
        );
        let complete = answered
            .iter()
            .all(|nonce| records.iter().any(|r| r.mentions(nonce)));
        if complete || round + 1 == RECORD_ROUNDS {
            break;
        }
        tokio::time::sleep(RECORD_RETRY).await;
    }
    Ok((records, rejected))
}

/// Each target's liveness: alive only if every port and protocol the probes use there answered
/// and recorded the check. Checks of vanished addresses are left out.
fn liveness_by_target(
    checks: &[LivenessCheck],
    sent: Vec<Result<(), String>>,
    records: &[Record],
    vanished: &[IpAddr],
) -> BTreeMap<Target, Result<(), String>> {
    let mut liveness = BTreeMap::new();
    for (check, result) in checks.iter().zip(sent) {
        if vanished.contains(&check.addr.ip()) {
            continue;
        }
        let recorded = records.iter().any(|r| r.mentions(&check.nonce));
        let state = match result {
            Ok(()) if recorded => Ok(()),
            Ok(()) => Err(format!(
                "{} answered, but its records do not show the check",
                check.addr
            )),
            Err(why) => Err(format!("{} ({:?}): {why}", check.addr, check.kind)),
        };
        // A target is alive only if every port and protocol the probes use answered.
        let entry = liveness.entry(check.target).or_insert(Ok(()));
        if entry.is_ok() {
            *entry = state;
        }
    }
    liveness
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlannedAttempt, PlannedProbe};
    use bottle_probes::wire::{AttemptSpec, Stage};

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
            declared_ports: vec![],
            resolver_owned: true,
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
