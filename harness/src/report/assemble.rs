//! Building the report of a run in one place: its results, the gaps in force, the bottle's
//! topology (and whether it was sabotaged), the versions and every timing. The teardown comes
//! after the report is handed on (a caller may read it early), so its time is added last.

use bottle_backends::{BundleHealth, Topology};

use super::model::{Report, Timings};
use crate::verdict::{KnownGap, ProbeResult};

/// Everything a report is made of, as a run knows it once the verdicts are in.
pub(crate) struct Assembly<'a> {
    pub(crate) backend: &'a str,
    /// The engine (and smolvm) versions, as the backend reports them.
    pub(crate) backend_version: String,
    pub(crate) run_id: &'a str,
    /// The bottle as judged; the report carries it and its sabotaged flag.
    pub(crate) topology: &'a Topology,
    /// Whether the bottle is left up after the run.
    pub(crate) kept: bool,
    pub(crate) known_gaps: Vec<KnownGap>,
    /// The bundle's state after the probes.
    pub(crate) bundle: BundleHealth,
    pub(crate) results: Vec<ProbeResult>,
    /// Every timing known so far (all but the teardown's, for a run that tears down).
    pub(crate) timings: Timings,
}

impl Report {
    /// The report of a run.
    pub(crate) fn assemble(parts: Assembly) -> Report {
        let mut report = Report::new(
            parts.backend,
            &parts.backend_version,
            parts.run_id,
            parts.results,
        );
        report.kept = parts.kept;
        report.timings = parts.timings;
        report.known_gaps = parts.known_gaps;
        report.sabotaged = parts.topology.layout().sabotaged;
        report.topology = Some(parts.topology.clone());
        report.bundle = Some(parts.bundle);
        report
    }

    /// Adds the teardown's time and the run's total, once the bottle is gone.
    pub(crate) fn add_teardown_timings(&mut self, teardown_ms: u64, total_ms: u64) {
        self.timings.teardown_ms = teardown_ms;
        self.timings.total_ms = total_ms;
    }
}
