//! The report of one run: JSON for machines (`--report-json`), a table for people, and the exit
//! code both imply.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use bottle_backends::{BundleHealth, Topology};
use serde::{Deserialize, Serialize};

use crate::errors::{exit, HarnessError};
use crate::gaps::KnownGap;
use crate::verdict::{ProbeResult, Verdict};

/// Bumped when a field changes meaning or disappears.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Wall time of each phase, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    pub prepare_ms: u64,
    pub bring_up_ms: u64,
    /// The probe exec inside the agent.
    pub probe_ms: u64,
    /// From the end of the execs to the verdicts: liveness checks, records, judging.
    pub report_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
    /// The slowest positive control's round trip, as the probe measured it.
    pub control_rtt_ms: Option<u64>,
    /// The timeout the deny attempts ran with (derived from `control_rtt_ms`).
    pub deny_timeout_ms: u32,
    /// The longest single attempt, as the probe measured it: the probe phase minus this is
    /// what running the attempts side by side in one exec costs.
    #[serde(default)]
    pub longest_attempt_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub backend: String,
    /// The engine (and smolvm) versions, as the backend reports them.
    pub backend_version: String,
    pub harness_version: String,
    pub run_id: String,
    /// When the run finished, RFC 3339 UTC.
    #[serde(default)]
    pub generated_at: String,
    /// Where the run happened (host name), so merged reports can tell machines apart.
    #[serde(default)]
    pub machine: String,
    /// True when the bottle was deliberately broken (tests, self-test).
    pub sabotaged: bool,
    #[serde(default)]
    pub kept: bool,
    #[serde(default)]
    pub timings: Timings,
    #[serde(default)]
    pub topology: Option<Topology>,
    /// The known gaps in force for this backend.
    #[serde(default)]
    pub known_gaps: Vec<KnownGap>,
    /// The bundle container's state after the probes (status, exit code, restarts; its last
    /// log lines when it did not survive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleHealth>,
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
            generated_at: now_rfc3339(),
            machine: bottle_backends::labels::host_name(),
            sabotaged: false,
            kept: false,
            timings: Timings::default(),
            topology: None,
            known_gaps: Vec::new(),
            bundle: None,
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
        write_file(path, &(self.to_json() + "\n"))
    }

    /// Recomputes the summary from the results (after editing results).
    pub fn resummarise(&mut self) {
        self.summary = summarise(&self.results);
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
        if let Some(failure) = self.bundle.as_ref().and_then(BundleHealth::failure) {
            let _ = writeln!(out, "bundle: {failure}");
        }
        let t = &self.timings;
        let _ = writeln!(
            out,
            "timings: prepare {} ms, bring-up {} ms, probes {} ms, report {} ms, teardown {} ms, total {} ms",
            t.prepare_ms, t.bring_up_ms, t.probe_ms, t.report_ms, t.teardown_ms, t.total_ms
        );
        out
    }
}

/// A count per verdict, every verdict present (zero included) so consumers need no defaults.
fn summarise(results: &[ProbeResult]) -> BTreeMap<String, usize> {
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

/// Writes a report file, naming the path on failure.
pub fn write_file(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(|e| HarnessError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads one report, or every report of a merged file, from JSON.
pub fn load_reports(path: &Path) -> Result<Vec<Report>, HarnessError> {
    let invalid = |reason: String| HarnessError::ConfigInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| HarnessError::ConfigRead {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let version = value["schema_version"].as_u64().unwrap_or(0);
    if version != u64::from(SCHEMA_VERSION) {
        return Err(invalid(format!(
            "schema_version {version} is not {SCHEMA_VERSION}, the version this harness reads"
        )));
    }
    let reports = if value.get("reports").is_some() {
        serde_json::from_value::<Vec<Report>>(value["reports"].clone())
    } else {
        serde_json::from_value::<Report>(value).map(|r| vec![r])
    };
    reports.map_err(|e| invalid(format!("not a bottle-escape report: {e}")))
}

/// The current time as RFC 3339 UTC, in whole seconds.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now().as_second().max(0) as u64)
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_918_586), "2026-11-29T02:16:26Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-11-29T02:16:26Z".len(), "{now}");
        assert!(now.ends_with('Z'), "{now}");
    }
}
