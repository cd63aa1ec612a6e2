//! The Markdown report for a pull request or a CI step summary: the probes-by-backends matrix at
//! the top, then escapes first with their evidence and the likely cause, then inconclusive
//! results, changes against a baseline, and the known gaps in force with their links.

use std::fmt::Write as _;

use super::diff::{Change, Diff};
use super::merge::{columns, rows};
use super::model::Report;
use crate::gaps::KnownGap;
use crate::verdict::{ProbeResult, Verdict};
use bottle_probes::catalogue::likely_cause;

fn cell(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Pass) => "✅ pass",
        Some(Verdict::Escape) => "❌ **escape**",
        Some(Verdict::Inconclusive) => "❓ inconclusive",
        Some(Verdict::KnownGap) => "⚠️ known gap",
        Some(Verdict::UnexpectedPass) => "❗ unexpected pass",
        Some(Verdict::Skipped) => "⏭️ skipped",
        None => "—",
    }
}

/// Table cells may not contain pipes or newlines.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn evidence(out: &mut String, result: &ProbeResult) {
    let _ = writeln!(
        out,
        "- expected **{}**, observed `{}`",
        result.expect,
        md(&result.observed)
    );
    let _ = writeln!(out, "- {}", md(&result.detail));
    for attempt in result.attempts.iter().take(8) {
        let _ = writeln!(
            out,
            "  - `{}`: {}",
            md(&attempt.destination),
            md(&attempt.judgement)
        );
        for record in attempt.target_saw.iter().take(3) {
            let _ = writeln!(out, "    - target saw `{}`", md(record));
        }
    }
    if result.attempts.len() > 8 {
        let _ = writeln!(
            out,
            "  - … {} more attempts in the JSON report",
            result.attempts.len() - 8
        );
    }
}

/// Renders the reports (and, if given, the changes against a baseline).
pub fn render(reports: &[Report], baseline: Option<&Diff>) -> String {
    let mut out = String::from("# Bottle escape report\n\n");
    headline(&mut out, reports, baseline);
    matrix(&mut out, reports);
    results(&mut out, reports, "Escapes", &[Verdict::Escape], true);
    results(
        &mut out,
        reports,
        "Inconclusive and unexpected passes",
        &[Verdict::Inconclusive, Verdict::UnexpectedPass],
        false,
    );
    if let Some(diff) = baseline {
        changes(&mut out, diff);
    }
    known_gaps(&mut out, reports);
    for report in reports {
        let _ = writeln!(
            out,
            "<sub>{} · {} · run {} · {} · harness {}</sub>\n",
            md(&report.backend),
            md(&report.backend_version),
            report.run_id,
            report.generated_at,
            report.harness_version
        );
    }
    out
}

/// CONTAINED, ESCAPED or INCONCLUSIVE, with the counts behind it.
fn headline(out: &mut String, reports: &[Report], baseline: Option<&Diff>) {
    let escapes: usize = reports.iter().map(|r| r.count(Verdict::Escape)).sum();
    let inconclusive: usize = reports
        .iter()
        .map(|r| r.count(Verdict::Inconclusive) + r.count(Verdict::UnexpectedPass))
        .sum();
    let regressions = baseline
        .map(|d| d.regressions.len() + d.failing_new_probes().count())
        .unwrap_or(0);
    let headline = if escapes > 0 {
        "**ESCAPED**"
    } else if inconclusive > 0 || reports.is_empty() {
        "**INCONCLUSIVE**"
    } else {
        "**CONTAINED**"
    };
    let _ = writeln!(
        out,
        "{headline}: {escapes} escape(s), {inconclusive} inconclusive or unexpected, {regressions} regression(s) against the baseline.\n"
    );
}

/// The probes-by-backends matrix.
fn matrix(out: &mut String, reports: &[Report]) {
    let columns = columns(reports);
    let _ = writeln!(
        out,
        "| probe | {} |",
        columns
            .iter()
            .map(|c| md(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(columns.len()));
    for row in rows(reports) {
        let cells: Vec<&str> = reports
            .iter()
            .map(|r| cell(r.results.iter().find(|x| x.id == row).map(|x| x.verdict)))
            .collect();
        let _ = writeln!(out, "| `{row}` | {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// One section of the results whose verdict is in `wanted`, with their evidence (and, with
/// `hint`, the likely cause).
fn results(out: &mut String, reports: &[Report], title: &str, wanted: &[Verdict], hint: bool) {
    let matching: Vec<(&Report, &ProbeResult)> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(move |x| (r, x)))
        .filter(|(_, x)| wanted.contains(&x.verdict))
        .collect();
    if matching.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {title}\n");
    for (report, result) in matching {
        let _ = writeln!(out, "### {} · `{}`\n", md(&report.backend), result.id);
        evidence(out, result);
        if hint {
            let _ = writeln!(out, "- likely cause: {}", likely_cause(&result.id));
        }
        out.push('\n');
    }
}

/// The changes against the baseline, regressions first.
fn changes(out: &mut String, diff: &Diff) {
    let _ = writeln!(out, "## Changes since the baseline\n");
    let lines: Vec<(&str, &Change)> = diff
        .regressions
        .iter()
        .chain(diff.failing_new_probes())
        .map(|c| ("regression", c))
        .chain(diff.fixes.iter().map(|c| ("fix", c)))
        .chain(diff.changed.iter().map(|c| ("changed", c)))
        .chain(
            diff.new_probes
                .iter()
                .filter(|c| c.new.is_some_and(Verdict::held))
                .map(|c| ("new", c)),
        )
        .chain(diff.removed_probes.iter().map(|c| ("removed", c)))
        .collect();
    if lines.is_empty() {
        let _ = writeln!(out, "No changes ({} unchanged).\n", diff.unchanged);
        return;
    }
    let _ = writeln!(
        out,
        "| change | backend | probe | before | now |\n|---|---|---|---|---|"
    );
    for (kind, change) in lines {
        let probe = match &change.renamed_from {
            Some(old) => format!("`{}` (was `{old}`)", change.probe),
            None => format!("`{}`", change.probe),
        };
        let _ = writeln!(
            out,
            "| {kind} | {} | {probe} | {} | {} |",
            md(&change.backend),
            cell(change.old),
            cell(change.new)
        );
    }
    out.push('\n');
}

/// The known gaps in force, with their links and expiry.
fn known_gaps(out: &mut String, reports: &[Report]) {
    let gaps: Vec<(&Report, &KnownGap)> = reports
        .iter()
        .flat_map(|r| r.known_gaps.iter().map(move |g| (r, g)))
        .collect();
    if gaps.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Known gaps in force\n");
    for (report, gap) in gaps {
        let expires = gap
            .expires
            .as_ref()
            .map(|e| format!(", expires {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- `{}` on {}: {} ({}{expires})",
            gap.probe,
            md(&report.backend),
            md(&gap.reason),
            md(&gap.link)
        );
    }
    out.push('\n');
}
