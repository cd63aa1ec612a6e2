//! Records that could not be read. A `CB-SEEN` line that does not parse (an unknown fixture,
//! event or protocol, a bad field) is evidence lost: it may have been the nonce that makes a
//! deny an escape, a dialer's connection to the agent's listener, a control's stray arrival, or
//! an escape outside a known gap's destinations.
//!
//! The rule: when any line was rejected, every result that would otherwise hold (`pass`,
//! `known_gap`) or that rests on a target's silence (`unexpected_pass`: a gap's escape that did
//! not show) is `inconclusive`, naming the lost line. `escape` stays (evidence of reach stands
//! whatever else was lost) and `skipped` stays (the probe never ran); `inconclusive` is already
//! that. Why every result and not only those on the line's target: a fixture container stands for
//! several targets (the public host's holds the DNS canary, the neighbour's the metadata
//! service), every outside host's dialer records are the inbound probe's evidence, and the
//! controls rest on the public host's and the bundle's records, so a line from any container can
//! be the evidence of any result. Only this rule can never turn a lost line into a false pass.

use bottle_fixtures::records::RejectedLine;

use super::result::{ProbeResult, Verdict};

/// Makes `result` inconclusive when it depends on complete records and lines were rejected.
pub(super) fn apply(result: &mut ProbeResult, rejected: &[RejectedLine]) {
    let Some(first) = rejected.first() else {
        return;
    };
    if matches!(
        result.verdict,
        Verdict::Pass | Verdict::KnownGap | Verdict::UnexpectedPass
    ) {
        result.detail = format!(
            "the targets' records are incomplete: {} CB-SEEN line(s) could not be read (from {}: {}: {:?}), so silence proves nothing; it would have been {}: {}",
            rejected.len(),
            first.source,
            first.reason,
            first.text,
            result.verdict.as_str(),
            result.detail
        );
        result.verdict = Verdict::Inconclusive;
    }
}
