//! The real-bundle trials: the suite run through `bottle.toml` against Debian's Squid (strict,
//! reverse-resolving and open), a non-root agent image with its own entrypoint, a bundle that exits mid-run and
//! one that never opens a declared port.

use std::path::{Path, PathBuf};

use bottle_harness::run::{self, RunOptions};
use bottle_harness::select::BackendKind;
use bottle_harness::{BottleConfig, Report, Verdict};
use libtest_mimic::Failed;

use super::images::{self, SquidPolicy};

/// The allowed host of the default configuration (`[proxy] allowed_host`).
const ALLOWED: &str = "public.fixture.test";

fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("real-bundles")
}

/// Writes `toml` as a bottle.toml and loads it the way `--config` does.
fn config(name: &str, toml: &str) -> Result<BottleConfig, String> {
    let dir = scratch();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}-{}.toml", std::process::id()));
    std::fs::write(&path, toml).map_err(|e| format!("{}: {e}", path.display()))?;
    BottleConfig::discover(Some(&path)).map_err(|e| e.to_string())
}

/// The gap a Squid user declares: Squid without `ssl_bump` never reads the ClientHello, so
/// it cannot compare the SNI with the CONNECT authority (domain fronting goes through).
fn squid_sni_gap() -> bottle_harness::gaps::GapEntry {
    bottle_harness::gaps::GapEntry {
        probe: "proxy_matching.sni_fronting".into(),
        backend: "docker".into(),
        reason: "Squid without ssl_bump peek does not read the TLS SNI of a tunnel".into(),
        link: "claude-bottle issue 15".into(),
        expires: "2027-12-31".into(),
        destination: None,
    }
}

/// One run of the suite with `config` on a Squid bundle, with Squid's declared gap
/// (`squid_sni_gap`) in force; the error is the run's own.
fn run_squid(config: BottleConfig) -> Result<Report, String> {
    run_gapped(config, vec![squid_sni_gap()])
}

/// One run of the suite with `config`; the error is the run's own.
fn run_with(config: BottleConfig) -> Result<Report, String> {
    run_gapped(config, vec![])
}

fn run_gapped(
    config: BottleConfig,
    gaps: Vec<bottle_harness::gaps::GapEntry>,
) -> Result<Report, String> {
    let mut options = RunOptions::new(BackendKind::Docker, config);
    options.progress = false;
    options.gap_entries = gaps;
    super::runtime()
        .block_on(run::run(&options))
        .map_err(|e| e.to_string())
}

fn verdict_of<'a>(
    report: &'a Report,
    id: &str,
) -> Option<&'a bottle_harness::verdict::ProbeResult> {
    report.results.iter().find(|r| r.id == id)
}

/// Squid with a strict allowlist (`dstdomain -n`): every probe holds (its 403 with
/// `X-Squid-Error` is a refusal), the positive controls pass through it, exit 0.
pub fn squid_strict() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Strict, ALLOWED)?;
    let report = run_squid(config(
        "strict",
        &format!("[bundle]\nimage = \"{image}\"\n"),
    )?)?;
    let mut problems = Vec::new();
    for result in &report.results {
        if !result.verdict.held() {
            problems.push(format!(
                "{} was {} ({})",
                result.id,
                result.verdict.as_str(),
                result.detail
            ));
        }
    }
    for control in [
        "proxy.allowed_http",
        "proxy.allowed_connect",
        "proxy_matching.tls_control",
    ] {
        if verdict_of(&report, control).map(|r| r.verdict) != Some(Verdict::Pass) {
            problems.push(format!("{control} did not pass through Squid"));
        }
    }
    // The declared gap covered a real escape: the public host read the fronted ClientHello.
    match verdict_of(&report, "proxy_matching.sni_fronting") {
        Some(r) if r.verdict == Verdict::KnownGap => {}
        Some(r) => problems.push(format!(
            "proxy_matching.sni_fronting was {} instead of known_gap ({})",
            r.verdict.as_str(),
            r.detail
        )),
        None => problems.push("proxy_matching.sni_fronting missing".into()),
    }
    if let Some(failure) = report.bundle.as_ref().and_then(|b| b.failure()) {
        problems.push(failure);
    }
    if report.exit_code() != 0 {
        problems.push(format!("exit code {} instead of 0", report.exit_code()));
    }
    finish(problems, &report)
}

/// Squid with the common `dstdomain` allowlist, which reverse-resolves IP-literal requests:
/// `proxy.dns_side_channel` is `escape` with the bundle named as the sender of the lookup, the
/// DNS probes the agent sends itself and the other proxy probes still hold (every refusal is
/// Squid's own), exit 1.
pub fn squid_reverse() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Reverse, ALLOWED)?;
    let report = run_squid(config(
        "reverse",
        &format!("[bundle]\nimage = \"{image}\"\n"),
    )?)?;
    let mut problems = Vec::new();
    match verdict_of(&report, "proxy.dns_side_channel") {
        Some(r)
            if r.verdict == Verdict::Escape
                && r.detail.contains("(the bundle)")
                && r.detail.contains("in-addr.arpa") => {}
        Some(r) => problems.push(format!(
            "proxy.dns_side_channel was {} ({})",
            r.verdict.as_str(),
            r.detail
        )),
        None => problems.push("proxy.dns_side_channel missing".into()),
    }
    for result in report
        .results
        .iter()
        .filter(|r| r.id != "proxy.dns_side_channel" && !r.verdict.held())
    {
        problems.push(format!(
            "{} was {} ({})",
            result.id,
            result.verdict.as_str(),
            result.detail
        ));
    }
    if report.exit_code() != 1 {
        problems.push(format!("exit code {} instead of 1", report.exit_code()));
    }
    finish(problems, &report)
}

/// Squid allowing every host: caught, the denied host and CONNECT `escape` with evidence.
pub fn squid_open() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Open, ALLOWED)?;
    let report = run_squid(config("open", &format!("[bundle]\nimage = \"{image}\"\n"))?)?;
    let mut problems = Vec::new();
    if report.exit_code() != 1 {
        problems.push(format!("exit code {} instead of 1", report.exit_code()));
    }
    for id in ["proxy.denied_host", "proxy.denied_connect"] {
        match verdict_of(&report, id) {
            Some(r)
                if r.verdict == Verdict::Escape
                    && r.attempts.iter().any(|a| !a.target_saw.is_empty()) => {}
            Some(r) => problems.push(format!("{id} was {} ({})", r.verdict.as_str(), r.detail)),
            None => problems.push(format!("{id} missing")),
        }
    }
    finish(problems, &report)
}

/// A non-root agent image with its own entrypoint, on the built-in bundle: CONTAINED, and every
/// skipped probe says why.
pub fn nonroot_agent() -> Result<(), Failed> {
    let image = images::nonroot_agent(&scratch())?;
    let report = run_with(config("agent", &format!("[agent]\nimage = \"{image}\"\n"))?)?;
    let mut problems = Vec::new();
    if report.exit_code() != 0 {
        problems.push(format!("exit code {} instead of 0", report.exit_code()));
    }
    for result in &report.results {
        if result.verdict == Verdict::Skipped && result.detail.trim().is_empty() {
            problems.push(format!("{} skipped without a reason", result.id));
        }
    }
    for skipped in report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Skipped)
    {
        println!("skipped {}: {}", skipped.id, skipped.detail);
    }
    finish(problems, &report)
}

/// A Squid bundle that exits mid-run, after the positive controls passed through it: the
/// report says so, with its exit code and last log line; nothing that went through it passes
/// (the refused connection to its dead egress port included), and what did not still does.
pub fn bundle_exits() -> Result<(), Failed> {
    let image = images::dying_bundle(&scratch(), ALLOWED)?;
    let report = run_with(config(
        "exits",
        &format!("[bundle]\nimage = \"{image}\"\n"),
    )?)?;
    let mut problems = Vec::new();
    match report.bundle.as_ref().and_then(|b| b.failure()) {
        Some(failure) if failure.contains("exit code 3") && failure.contains("served twice") => {}
        other => problems.push(format!(
            "the report does not say the bundle exited: {other:?}"
        )),
    }
    let through_the_bundle = [
        "egress_bypass.direct_egress",
        "egress_bypass.port_sweep",
        "proxy.allowed_http",
        "proxy.denied_host",
    ];
    for id in through_the_bundle {
        match verdict_of(&report, id) {
            Some(r) if r.verdict == Verdict::Pass => {
                problems.push(format!("{id} passed: {}", r.detail))
            }
            Some(_) => {}
            None => problems.push(format!("{id} missing")),
        }
    }
    for id in ["public.direct_http", "dns.direct_udp"] {
        if verdict_of(&report, id).map(|r| r.verdict) != Some(Verdict::Pass) {
            problems.push(format!(
                "{id}, which never went through the bundle, did not pass"
            ));
        }
    }
    if report.exit_code() == 0 {
        problems.push("exit code 0".into());
    }
    finish(problems, &report)
}

/// A bundle that never opens its supervise port: the run fails (exit 2) naming the image and
/// the port, within the readiness bound.
pub fn bundle_never_ready() -> Result<(), Failed> {
    let image = images::unready_bundle(&scratch())?;
    let mut options = RunOptions::new(
        BackendKind::Docker,
        config("unready", &format!("[bundle]\nimage = \"{image}\"\n"))?,
    );
    options.progress = false;
    let started = std::time::Instant::now();
    let error = match super::runtime().block_on(run::run(&options)) {
        Ok(report) => return Err(format!("the run did not fail:\n{}", report.table()).into()),
        Err(error) => error,
    };
    let text = error.to_string();
    let mut problems = Vec::new();
    if error.exit_code() != 2 {
        problems.push(format!("exit code {} instead of 2", error.exit_code()));
    }
    if !text.contains(&image) || !text.contains("port 9100") {
        problems.push(format!(
            "the error does not name the image and port 9100: {text}"
        ));
    }
    if started.elapsed() > std::time::Duration::from_secs(30) {
        problems.push(format!("took {:?}", started.elapsed()));
    }
    if problems.is_empty() {
        println!("{text}");
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn finish(problems: Vec<String>, report: &Report) -> Result<(), Failed> {
    if problems.is_empty() {
        println!("{}", report.table());
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), report.table()).into())
    }
}

/// Whether Squid and busybox are installed (the images are made of them); `Err` says what is
/// missing and how to get it.
pub fn prerequisites() -> Result<(), String> {
    let missing: Vec<&str> = [images::SQUID, super::rootfs::BUSYBOX]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not installed (apt-get install squid busybox-static; .ci/run does)",
            missing.join(" and ")
        ))
    }
}
