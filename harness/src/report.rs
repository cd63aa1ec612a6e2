//! The report of one run: JSON for machines (`--report-json`), a table for people, and the exit
//! code both imply.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use bottle_backends::Topology;
use serde::Serialize;

use crate::errors::{exit, HarnessError};
use crate::verdict::{KnownGap, ProbeResult, Verdict};

/// Bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// Wall time of each phase, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    pub prepare_ms: u64,
    pub bring_up_ms: u64,
    pub probe_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub backend: String,
    pub backend_version: String,
    pub harness_version: String,
    pub run_id: String,
    /// True when the bottle was deliberately broken (tests, self-test).
    pub sabotaged: bool,
    pub kept: bool,
    pub timings: Timings,
    pub topology: Option<Topology>,
    /// The known gaps in force for this backend.
    pub known_gaps: Vec<KnownGap>,
    pub results: Vec<ProbeResult>,
    pub summary: BTreeMap<String, usize>,
}

impl Report {
    pub fn new(
        backend: &str,
        backend_version: &str,
        run_id: &str,
        results: Vec<ProbeResult>,
    ) -> Self {
        let mut report = Self {
            schema_version: SCHEMA_VERSION,
            backend: backend.to_string(),
            backend_version: backend_version.to_string(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: run_id.to_string(),
            sabotaged: false,
            kept: false,
            timings: Timings::default(),
            topology: None,
            known_gaps: Vec::new(),
            results,
            summary: BTreeMap::new(),
        };
        report.summary = summarise(&report.results);
        report
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// 0 every expectation held; 1 at least one escape; 2 inconclusive or unexpected pass.
    pub fn exit_code(&self) -> i32 {
        if self.count(Verdict::Escape) > 0 {
            exit::ESCAPE
        } else if self.results.is_empty() || self.results.iter().any(|r| !r.verdict.held()) {
            exit::INCONCLUSIVE_OR_ERROR
        } else {
            exit::OK
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialise")
    }

    pub fn write_json(&self, path: &Path) -> Result<(), HarnessError> {
        std::fs::write(path, self.to_json() + "\n").map_err(|e| HarnessError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// A fixed-width table, one line per probe, then the summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let id_width = self
            .results
            .iter()
            .map(|r| r.id.len())
            .max()
            .unwrap_or(2)
            .max(5);
        let observed_width = self
            .results
            .iter()
            .map(|r| r.observed.chars().count().min(40))
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<6}  {:<observed_width$}  {:<15}  {:>6}  DETAIL",
            "PROBE", "EXPECT", "OBSERVED", "VERDICT", "MS"
        );
        for result in &self.results {
            let observed: String = result.observed.chars().take(40).collect();
            let detail: String = result.detail.chars().take(160).collect();
            let _ = writeln!(
                out,
                "{:<id_width$}  {:<6}  {:<observed_width$}  {:<15}  {:>6}  {}",
                result.id,
                result.expect,
                observed,
                result.verdict.as_str(),
                result.elapsed_ms,
                detail
            );
        }
        let summary = Verdict::ALL
            .iter()
            .map(|v| format!("{} {}", self.count(*v), v.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "\n{} on {} ({}), run {}: {summary}",
            match self.exit_code() {
                exit::OK => "CONTAINED",
                exit::ESCAPE => "ESCAPED",
                _ => "INCONCLUSIVE",
            },
            self.backend,
            self.backend_version,
            self.run_id
        );
        let t = &self.timings;
        let _ = writeln!(
            out,
            "timings: prepare {} ms, bring-up {} ms, probes {} ms, teardown {} ms, total {} ms",
            t.prepare_ms, t.bring_up_ms, t.probe_ms, t.teardown_ms, t.total_ms
        );
        out
    }
}

/// A count per verdict, every verdict present (zero included) so consumers need no defaults.
pub fn summarise(results: &[ProbeResult]) -> BTreeMap<String, usize> {
    Verdict::ALL
        .iter()
        .map(|v| {
            (
                v.as_str().to_string(),
                results.iter().filter(|r| r.verdict == *v).count(),
            )
        })
        .collect()
}
