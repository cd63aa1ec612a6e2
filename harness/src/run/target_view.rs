//! The targets' side of the probe phase, after the exec: the harness's own liveness checks
//! against every target it owns (`send_checks`), which of this machine's addresses vanished
//! meanwhile and so which attempts prove nothing (`vanished`), and every record the targets
//! kept (`records`), put together into one [`TargetView`]; the plan is never edited.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bottle_backends::Bottle;
use bottle_fixtures::records::RejectedLine;
use bottle_fixtures::Record;

use crate::errors::HarnessError;
use crate::host::{self, HostCanaries, LivenessCheck};
use crate::plan::{HostSide, Plan};
use crate::select::AnyBackend;
use crate::target::Target;

/// Time for records of late packets (a forwarded DNS query) to reach the fixtures' logs. The
/// liveness checks sent after it must show up in each target's records, and a container's log is
/// ordered, so every earlier record of a checked target is in what the harness reads.
const SETTLE: Duration = Duration::from_millis(50);

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
    super::send_checks::wait_gateways_v6(bottle).await;
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
    let vanished = super::vanished::vanished_addresses(checked_addresses);
    let vanished_attempts = super::vanished::vanished_attempts(plan, &vanished);
    let (records, rejected_records) = super::records::read_records(
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
