//! Judging, the third step of the probe phase: the verdict rules over what the exec gave and
//! what the targets saw, with the gaps in force and the bundle's failure, if it did not survive.

use crate::plan::Plan;
use crate::verdict::{self, BundleFailure, Evidence, KnownGap, ProbeResult};

use super::exec::ExecOutcome;
use super::target_view::TargetView;

/// The verdict of every probe of `plan`.
pub(crate) fn judge(
    plan: &Plan,
    exec: &ExecOutcome,
    view: &TargetView,
    known_gaps: &[KnownGap],
    bundle_failure: Option<&BundleFailure>,
) -> Vec<ProbeResult> {
    verdict::evaluate(
        plan,
        &Evidence {
            output: exec.output.as_ref().map_err(Clone::clone),
            records: &view.records,
            liveness: &view.liveness,
            known_gaps,
            liveness_nonces: &view.liveness_nonces,
            liveness_peers: &view.liveness_peers,
            liveness_sources: &view.liveness_sources,
            applied_timeouts_ms: &exec.applied_timeouts_ms,
            vanished_attempts: &view.vanished_attempts,
            rejected_records: &view.rejected_records,
            dns_switches: &exec.dns_switches,
            bundle_failure,
        },
    )
}
