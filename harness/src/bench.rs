//! `bottle-escape bench`: the suite's own timings, per phase, for one cold run (images removed
//! first), warm runs, and the same warm runs with `--sequential` (one attempt at a time, same
//! timeouts), so the speed-up of concurrency is a ratio measured side by side. Teardown is
//! awaited here so that it can be measured; `run` hands it to a detached process instead, so the
//! wall time a user waits for is the "verdict" row.

use std::fmt::Write as _;
use std::time::Instant;

use bottle_backends::BottleBackend;
use serde::Serialize;

use crate::errors::HarnessError;
use crate::report::{Report, Timings};
use crate::run::{self, RunOptions};
use crate::select::AnyBackend;

/// Minimum, median and maximum of one phase over several runs, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub min: u64,
    pub median: u64,
    pub max: u64,
}

impl Stats {
    pub(crate) fn of(values: &[u64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Self::default();
        }
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        Self {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        }
    }
}

/// One row per phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhaseStats {
    pub prepare: Stats,
    pub bring_up: Stats,
    pub probes: Stats,
    pub report: Stats,
    pub teardown: Stats,
    /// The probe phase minus its longest attempt: the cost of one exec with every attempt
    /// side by side (issue 6: at most 300 ms).
    pub probe_overhead: Stats,
    /// The longest single attempt of each run.
    pub longest_attempt: Stats,
    /// Wall time until the verdict (what `run` waits for): everything but the teardown.
    pub verdict: Stats,
    pub total: Stats,
}

fn verdict_ms(t: &Timings) -> u64 {
    t.total_ms.saturating_sub(t.teardown_ms)
}

impl PhaseStats {
    fn of(timings: &[Timings]) -> Self {
        let stat = |f: fn(&Timings) -> u64| Stats::of(&timings.iter().map(f).collect::<Vec<_>>());
        Self {
            prepare: stat(|t| t.prepare_ms),
            bring_up: stat(|t| t.bring_up_ms),
            probes: stat(|t| t.probe_ms),
            report: stat(|t| t.report_ms),
            teardown: stat(|t| t.teardown_ms),
            probe_overhead: stat(|t| t.probe_ms.saturating_sub(t.longest_attempt_ms)),
            longest_attempt: stat(|t| t.longest_attempt_ms),
            verdict: stat(verdict_ms),
            total: stat(|t| t.total_ms),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    pub backend: String,
    pub backend_version: String,
    pub runs: usize,
    /// Images removed before it, so `prepare` imports them.
    pub cold: PhaseStats,
    pub warm: PhaseStats,
    pub sequential: PhaseStats,
    /// Median sequential probe phase over median concurrent probe phase.
    pub probe_speedup: f64,
    /// The adaptive deny timeout of the warm runs (median), ms.
    pub deny_timeout_ms: u64,
    /// Runs whose every expectation held, out of all runs.
    pub contained_runs: usize,
    pub total_runs: usize,
    /// Verdict sets that differed from the first run's.
    pub verdict_flips: usize,
}

fn verdicts(report: &Report) -> Vec<(String, String)> {
    report
        .results
        .iter()
        .map(|r| (r.id.clone(), r.verdict.as_str().to_string()))
        .collect()
}

/// Runs the benchmark.
pub async fn bench(base: &RunOptions, runs: usize) -> Result<BenchReport, HarnessError> {
    let runs = runs.max(1);
    let backend = AnyBackend::new(base.backend);
    let version = run::require_available(&backend).await?;
    let mut options = base.clone();
    options.detach_teardown = false;
    options.keep = false;
    let spec = run::spec_for_engine(&backend, &options, "bench").await?;
    let mut reports: Vec<Report> = Vec::new();
    let run = |options: RunOptions| async move {
        let started = Instant::now();
        let report = run::run(&options).await?;
        if base.progress {
            eprintln!(
                "bench: {} run in {} ms",
                if options.sequential {
                    "sequential"
                } else {
                    "concurrent"
                },
                started.elapsed().as_millis()
            );
        }
        Ok::<_, HarnessError>(report)
    };
    backend.forget_images(&spec).await?;
    let cold = run(options.clone()).await?;
    let mut warm = Vec::new();
    for _ in 0..runs {
        warm.push(run(options.clone()).await?);
    }
    let mut sequential_options = options.clone();
    sequential_options.sequential = true;
    let mut sequential = Vec::new();
    for _ in 0..runs {
        sequential.push(run(sequential_options.clone()).await?);
    }
    reports.push(cold.clone());
    reports.extend(warm.iter().cloned());
    reports.extend(sequential.iter().cloned());
    let first = verdicts(&reports[0]);
    let timings = |set: &[Report]| set.iter().map(|r| r.timings.clone()).collect::<Vec<_>>();
    let warm_stats = PhaseStats::of(&timings(&warm));
    let sequential_stats = PhaseStats::of(&timings(&sequential));
    Ok(BenchReport {
        backend: backend.name().to_string(),
        backend_version: version,
        runs,
        cold: PhaseStats::of(&timings(std::slice::from_ref(&cold))),
        probe_speedup: sequential_stats.probes.median as f64
            / warm_stats.probes.median.max(1) as f64,
        deny_timeout_ms: Stats::of(
            &warm
                .iter()
                .map(|r| u64::from(r.timings.deny_timeout_ms))
                .collect::<Vec<_>>(),
        )
        .median,
        warm: warm_stats,
        sequential: sequential_stats,
        contained_runs: reports.iter().filter(|r| r.exit_code() == 0).count(),
        total_runs: reports.len(),
        verdict_flips: reports.iter().filter(|r| verdicts(r) != first).count(),
    })
}

impl BenchReport {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bottle-escape bench: {} ({}), 1 cold run, {} warm runs, {} sequential runs",
            self.backend, self.backend_version, self.runs, self.runs
        );
        let _ = writeln!(
            out,
            "{:<10} {:>8}   {:>22}   {:>22}",
            "phase (ms)", "cold", "warm min/median/max", "sequential min/med/max"
        );
        type Pick = fn(&PhaseStats) -> &Stats;
        let rows: [(&str, Pick); 9] = [
            ("prepare", |p| &p.prepare),
            ("bring-up", |p| &p.bring_up),
            ("probes", |p| &p.probes),
            (" longest", |p| &p.longest_attempt),
            (" overhead", |p| &p.probe_overhead),
            ("report", |p| &p.report),
            ("teardown", |p| &p.teardown),
            ("verdict", |p| &p.verdict),
            ("total", |p| &p.total),
        ];
        for (name, pick) in rows {
            let fmt = |s: &Stats| format!("{}/{}/{}", s.min, s.median, s.max);
            let _ = writeln!(
                out,
                "{name:<10} {:>8}   {:>22}   {:>22}",
                pick(&self.cold).median,
                fmt(pick(&self.warm)),
                fmt(pick(&self.sequential))
            );
        }
        let _ = writeln!(
            out,
            "longest = the longest single attempt; overhead = probes - longest (one exec, every attempt side by side)"
        );
        let _ = writeln!(
            out,
            "verdict = wall time until the report (everything but the teardown, which `run` leaves to a detached process)"
        );
        let _ = writeln!(
            out,
            "probe phase speed-up, sequential / concurrent (medians): {:.1}x; adaptive deny timeout {} ms",
            self.probe_speedup, self.deny_timeout_ms
        );
        let _ = writeln!(
            out,
            "verdicts: {}/{} runs contained, {} runs with verdicts different from the first",
            self.contained_runs, self.total_runs, self.verdict_flips
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_min_median_max() {
        assert_eq!(
            Stats::of(&[5, 1, 3]),
            Stats {
                min: 1,
                median: 3,
                max: 5
            }
        );
        assert_eq!(
            Stats::of(&[4, 1, 3, 2]),
            Stats {
                min: 1,
                median: 2,
                max: 4
            }
        );
        assert_eq!(Stats::of(&[]), Stats::default());
    }
}
