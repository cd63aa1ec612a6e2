//! JUnit XML: one `<testsuite>` per backend, one `<testcase>` per probe. An escape or an
//! unexpected pass is a `<failure>`, an inconclusive result an `<error>`, a known gap `<skipped>`
//! with its reason; the text says what escaped and how.

use std::fmt::Write as _;

use super::model::Report;
use crate::verdict::Verdict;

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn evidence(result: &crate::verdict::ProbeResult) -> String {
    let mut text = format!(
        "{}: expected {}, observed {}\n{}\n",
        result.id, result.expect, result.observed, result.detail
    );
    for attempt in &result.attempts {
        let _ = writeln!(text, "- {} -> {}", attempt.destination, attempt.judgement);
        for record in &attempt.target_saw {
            let _ = writeln!(text, "    target saw: {record}");
        }
    }
    text
}

/// Renders reports (one suite per report) as JUnit XML.
pub fn render(reports: &[Report]) -> String {
    let count = |v: Verdict| reports.iter().map(|r| r.count(v)).sum::<usize>();
    let tests: usize = reports.iter().map(|r| r.results.len()).sum();
    let failures = count(Verdict::Escape) + count(Verdict::UnexpectedPass);
    let errors = count(Verdict::Inconclusive);
    let skipped = count(Verdict::KnownGap) + count(Verdict::Skipped);
    let total_ms: u64 = reports.iter().map(|r| r.timings.total_ms).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"bottle-escape\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
        seconds(total_ms)
    );
    for report in reports {
        testsuite(&mut out, report);
    }
    out.push_str("</testsuites>\n");
    out
}

/// One report's `<testsuite>`: its counts, its properties, one `<testcase>` per result.
fn testsuite(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
        xml_escape(&report.backend),
        report.results.len(),
        report.count(Verdict::Escape) + report.count(Verdict::UnexpectedPass),
        report.count(Verdict::Inconclusive),
        report.count(Verdict::KnownGap) + report.count(Verdict::Skipped),
        seconds(report.timings.total_ms),
        xml_escape(&report.generated_at),
        xml_escape(&report.machine),
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("run_id", report.run_id.as_str()),
        ("backend_version", report.backend_version.as_str()),
        ("harness_version", report.harness_version.as_str()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            xml_escape(value)
        );
    }
    out.push_str("    </properties>\n");
    for result in &report.results {
        testcase(out, report, result);
    }
    out.push_str("  </testsuite>\n");
}

/// One result's `<testcase>`, with its failure, error or skip and the evidence.
fn testcase(out: &mut String, report: &Report, result: &crate::verdict::ProbeResult) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{}\"",
        xml_escape(&result.id),
        xml_escape(&report.backend),
        xml_escape(&result.family),
        seconds(result.elapsed_ms)
    );
    let body = xml_escape(&evidence(result));
    match result.verdict {
        Verdict::Pass => out.push_str("/>\n"),
        Verdict::Escape => {
            let _ = writeln!(
                out,
                ">\n      <failure type=\"escape\" message=\"{}\">{body}</failure>\n    </testcase>",
                xml_escape(&format!("ESCAPE: {}", result.detail))
            );
        }
        Verdict::UnexpectedPass => {
            let _ = writeln!(
                out,
                ">\n      <failure type=\"unexpected_pass\" message=\"{}\">{body}</failure>\n    </testcase>",
                xml_escape(&format!("declared a known gap but contained: {}", result.detail))
            );
        }
        Verdict::Inconclusive => {
            let _ = writeln!(
                out,
                ">\n      <error type=\"inconclusive\" message=\"{}\">{body}</error>\n    </testcase>",
                xml_escape(&format!("INCONCLUSIVE: {}", result.detail))
            );
        }
        Verdict::KnownGap => {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                xml_escape(&format!("known gap: {}", result.detail))
            );
        }
        Verdict::Skipped => {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                xml_escape(&format!("skipped: {}", result.detail))
            );
        }
    }
}
