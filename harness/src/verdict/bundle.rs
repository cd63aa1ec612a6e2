//! What a bundle that did not survive the run does to the verdicts. A bundle that exited or
//! restarted while the probes ran answered some attempts and not others, and a refused
//! connection to a dead proxy is no refusal by the proxy: every probe with an attempt addressed
//! to the bundle (through it as a proxy, to one of its ports, a sweep or a ping of it) loses a
//! `pass` to `inconclusive`, with the bundle's state in the detail. Escapes stay: what reached
//! a target did so whatever the bundle did afterwards.

use std::net::{IpAddr, Ipv4Addr};

use bottle_probes::wire::AttemptKind;

use super::result::{ProbeResult, Verdict};
use crate::plan::{Plan, PlannedProbe};

/// Whether `kind` is addressed to the bundle at `bundle` (its address on the agent network).
fn addressed_to(kind: &AttemptKind, bundle: Ipv4Addr) -> bool {
    let bundle = IpAddr::V4(bundle);
    match kind {
        kind if kind.through_proxy() => kind.proxy().is_some_and(|p| p.ip() == bundle),
        AttemptKind::Tcp { addr } | AttemptKind::Udp { addr } => addr.ip() == bundle,
        AttemptKind::Sweep { ip, .. } | AttemptKind::Ping { ip } => *ip == bundle,
        _ => false,
    }
}

/// Whether any attempt of `probe` depended on the bundle.
pub(crate) fn depends_on_bundle(probe: &PlannedProbe, bundle: Ipv4Addr) -> bool {
    probe
        .attempts
        .iter()
        .any(|a| addressed_to(&a.spec.kind, bundle))
}

/// Turns the passes of the probes that depended on the bundle into `inconclusive`, saying why.
pub fn bundle_failed(plan: &Plan, results: &mut [ProbeResult], failure: &str) {
    for result in results.iter_mut() {
        let Some(probe) = plan.probes.iter().find(|p| p.spec.id == result.id) else {
            continue;
        };
        if result.verdict == Verdict::Pass && depends_on_bundle(probe, plan.bundle_ip) {
            result.verdict = Verdict::Inconclusive;
            result.detail = format!(
                "{failure}; this probe went through the bundle, so its pass proves nothing (was: {})",
                result.detail
            );
        }
    }
}
