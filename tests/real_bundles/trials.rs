//! The real-bundle trials: the suite run through `bottle.toml` against Debian's Squid (strict,
//! strict without its refusal signature, reverse-resolving and open) and Debian's Apache httpd
//! (strict and open), a non-root agent image with its own entrypoint, a bundle that exits
//! mid-run and one that never opens a declared port. Each run's JSON report is kept at
//! `target/tmp/real-bundles/<trial>-report.json` for reading afterwards.

use std::path::{Path, PathBuf};

use bottle_harness::gaps::GapEntry;
use bottle_harness::run::{self, RunOptions};
use bottle_harness::select::BackendKind;
use bottle_harness::{BottleConfig, Report, Verdict};
use libtest_mimic::Failed;

use super::apache::{self, ApachePolicy};
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

/// A known gap on Docker, as a user declares it in their known-gaps file.
fn gap(probe: &str, reason: &str, link: &str) -> GapEntry {
    GapEntry {
        probe: probe.into(),
        backend: "docker".into(),
        reason: reason.into(),
        link: link.into(),
        expires: "2027-12-31".into(),
        destination: None,
    }
}

/// The gaps a Squid user declares. Squid without `ssl_bump` never reads the ClientHello, so
/// it cannot compare the SNI with the CONNECT authority (domain fronting goes through); and
/// its allowlist (`dstdomain -n`) matches the name only, never the address the name resolves
/// to, so the allowed name led to the LAN host is forwarded there (`internal_name`, once its
/// DNS cache let the earlier answer go, see `images::squid_conf`). `dns_rebinding` is no gap:
/// Squid looks a name up once and connects to the address it keeps (its `dst` checks and its
/// connection use the same cached entry), so both requests go to the first answer, the public
/// host, where a pinned proxy delivers them.
fn squid_gaps() -> Vec<GapEntry> {
    vec![
        gap(
            "proxy_matching.sni_fronting",
            "Squid without ssl_bump peek does not read the TLS SNI of a tunnel",
            "claude-bottle issue 15",
        ),
        gap(
            "proxy_matching.internal_name",
            "Squid's dstdomain allowlist checks the name, not the address it resolves to",
            "claude-bottle issue 24",
        ),
    ]
}

/// The gaps an Apache user declares. mod_proxy_connect "provides support for the CONNECT HTTP
/// method" to "tunnel SSL requests" (<https://httpd.apache.org/docs/2.4/mod/mod_proxy_connect.html>)
/// and relays the tunnel's bytes unread, so the SNI is never compared with the CONNECT host;
/// mod_proxy connects to whatever address the allowed name resolves to, with no check of
/// private ranges (no such directive in <https://httpd.apache.org/docs/2.4/mod/mod_proxy.html>):
/// both are escapes the destinations record.
///
/// `proxy_matching.dns_rebinding` is no gap of the strict Apache, measured: Apache looks the
/// name up once per request and connects to that answer, and the strict allowlist lets only
/// the probe's `GET` through (its `CONNECT` to port 80 is refused before any lookup), so the
/// one lookup after the switch is the rebinding answer's first, the public host, where a
/// correct proxy delivers too. The harness flags a gap declared on a contained probe
/// (`unexpected_pass`), so it is not declared. (The open Apache also lets the `CONNECT`
/// through, whose second lookup leads to the LAN host: there it escapes.)
fn apache_gaps() -> Vec<GapEntry> {
    let link = "claude-bottle issue 24";
    vec![
        gap(
            "proxy_matching.sni_fronting",
            "Apache's mod_proxy_connect relays a tunnel without reading its TLS ClientHello",
            link,
        ),
        gap(
            "proxy_matching.internal_name",
            "Apache's mod_proxy connects wherever an allowed name resolves, private addresses included",
            link,
        ),
    ]
}

/// One run of the suite with `config` on a Squid bundle, with Squid's declared
/// gaps (`squid_gaps`) in force; the error is the run's own.
fn run_squid(config: BottleConfig) -> Result<Report, String> {
    run_gapped(config, squid_gaps())
}

/// One run of the suite with `config`; the error is the run's own.
fn run_with(config: BottleConfig) -> Result<Report, String> {
    run_gapped(config, vec![])
}

fn run_gapped(config: BottleConfig, gaps: Vec<GapEntry>) -> Result<Report, String> {
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

/// The positive controls of the proxy path: each must pass through a strict bundle's proxy,
/// or no refusal on that path proves anything.
const PROXY_CONTROLS: [&str; 3] = [
    "proxy.allowed_http",
    "proxy.allowed_connect",
    "proxy_matching.tls_control",
];

/// What keeps a run on a strict bundle from being what it must be, CONTAINED (exit 0): a probe
/// whose expectation did not hold (an escape, anything inconclusive), a positive control that
/// did not pass, a declared gap in `gapped` that did not cover a real escape (the destination
/// recorded what the proxy let through), a bundle that did not survive the run.
fn contained_problems(report: &Report, gapped: &[GapEntry]) -> Vec<String> {
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
    for control in PROXY_CONTROLS {
        if verdict_of(report, control).map(|r| r.verdict) != Some(Verdict::Pass) {
            problems.push(format!("{control} did not pass through the proxy"));
        }
    }
    for gap in gapped {
        match verdict_of(report, &gap.probe) {
            Some(r) if r.verdict == Verdict::KnownGap => {}
            Some(r) => problems.push(format!(
                "{} was {} instead of known_gap ({})",
                r.id,
                r.verdict.as_str(),
                r.detail
            )),
            None => problems.push(format!("{} missing", gap.probe)),
        }
    }
    if let Some(failure) = report.bundle.as_ref().and_then(|b| b.failure()) {
        problems.push(failure);
    }
    if report.exit_code() != 0 {
        problems.push(format!("exit code {} instead of 0", report.exit_code()));
    }
    problems
}

/// What shows that a bundle's refusals carried no proxy's signature, so that the verdicts rest
/// on the evidence alone: no answer the probe saw carried one (not Squid's `X-Squid-Error`,
/// not pipelock's marks), and `proxy` did refuse with its anonymous 403.
fn unsigned_problems(report: &Report, proxy: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut refused = 0;
    for result in &report.results {
        for attempt in &result.attempts {
            let Some(observation) = &attempt.observation else {
                continue;
            };
            if !observation.signed.is_empty() {
                problems.push(format!(
                    "{proxy}'s answer to {} ({}) carried {:?}",
                    attempt.id, attempt.destination, observation.signed
                ));
            }
            if observation.status == Some(403) {
                refused += 1;
            }
        }
    }
    if refused == 0 {
        problems.push(format!("{proxy} refused nothing with 403"));
    }
    problems
}

/// Squid with a strict allowlist (`dstdomain -n`): every probe holds (its 403 with
/// `X-Squid-Error` is a refusal) or is one of the gaps a Squid user declares (`squid_gaps`,
/// each covering a real escape), the positive controls pass through it, exit 0.
pub fn squid_strict() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Strict, ALLOWED, true)?;
    let report = run_squid(config(
        "strict",
        &format!("[bundle]\nimage = \"{image}\"\n"),
    )?)?;
    let problems = contained_problems(&report, &squid_gaps());
    finish("squid-strict", problems, &report)
}

/// The same strict Squid with its built-in signature switched off by its own configuration
/// (`images::squid_conf`): the verdicts do not change, because the evidence alone decides
/// (the destinations' silence, the positive controls, their liveness). No answer carries
/// `X-Squid-Error` (checked on every answer the probe read, the proof that the switch works),
/// and Squid still refused with 403.
pub fn squid_strict_unsigned() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Strict, ALLOWED, false)?;
    let report = run_squid(config(
        "strict-unsigned",
        &format!("[bundle]\nimage = \"{image}\"\n"),
    )?)?;
    let mut problems = contained_problems(&report, &squid_gaps());
    problems.extend(unsigned_problems(&report, "Squid"));
    finish("squid-strict-unsigned", problems, &report)
}

/// Apache httpd with the allowlist a careful admin writes (`apache::apache_conf`): CONTAINED
/// with the gaps an Apache user declares (`apache_gaps`, each covering a real escape), nothing
/// inconclusive, the positive controls passing through it. Apache signs nothing: its refusals
/// are stock 403 pages, and for request targets its strict parser rejects (`127.1`,
/// `2130706433` among the loopback spellings) its own 400, which must count as a refusal too,
/// the destination having seen nothing.
pub fn apache_strict() -> Result<(), Failed> {
    let image = apache::apache_bundle(&scratch(), ApachePolicy::Strict, ALLOWED)?;
    let gaps = apache_gaps();
    let report = run_gapped(
        config("apache-strict", &format!("[bundle]\nimage = \"{image}\"\n"))?,
        gaps.clone(),
    )?;
    let mut problems = contained_problems(&report, &gaps);
    problems.extend(unsigned_problems(&report, "Apache"));
    let parser_refused: Vec<&str> = report
        .results
        .iter()
        .filter(|r| {
            r.attempts
                .iter()
                .any(|a| a.observation.as_ref().and_then(|o| o.status) == Some(400))
        })
        .map(|r| r.id.as_str())
        .collect();
    println!(
        "Apache answered 400 itself in: {}",
        parser_refused.join(", ")
    );
    if !parser_refused.contains(&"proxy.loopback_spellings") {
        problems.push(format!(
            "Apache's strict parser answered no loopback spelling with 400 (it did in: {parser_refused:?})"
        ));
    }
    finish("apache-strict", problems, &report)
}

/// What shows a bundle allowing every host is caught: exit 1, the denied host and the denied
/// CONNECT `escape`, each with the destination's record of the attempt.
fn open_problems(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    if report.exit_code() != 1 {
        problems.push(format!("exit code {} instead of 1", report.exit_code()));
    }
    for id in ["proxy.denied_host", "proxy.denied_connect"] {
        match verdict_of(report, id) {
            Some(r)
                if r.verdict == Verdict::Escape
                    && r.attempts.iter().any(|a| !a.target_saw.is_empty()) => {}
            Some(r) => problems.push(format!("{id} was {} ({})", r.verdict.as_str(), r.detail)),
            None => problems.push(format!("{id} missing")),
        }
    }
    problems
}

/// Apache allowing every host: caught, the denied host and CONNECT `escape` with evidence.
pub fn apache_open() -> Result<(), Failed> {
    let image = apache::apache_bundle(&scratch(), ApachePolicy::Open, ALLOWED)?;
    let report = run_gapped(
        config("apache-open", &format!("[bundle]\nimage = \"{image}\"\n"))?,
        apache_gaps(),
    )?;
    finish("apache-open", open_problems(&report), &report)
}

/// Squid with the common `dstdomain` allowlist, which reverse-resolves IP-literal requests:
/// `proxy.dns_side_channel` is `escape` with the bundle named as the sender of the lookup, the
/// DNS probes the agent sends itself and the other proxy probes still hold (every refusal is
/// Squid's own), exit 1.
pub fn squid_reverse() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Reverse, ALLOWED, true)?;
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
    finish("squid-reverse", problems, &report)
}

/// Squid allowing every host: caught, the denied host and CONNECT `escape` with evidence.
pub fn squid_open() -> Result<(), Failed> {
    let image = images::squid_bundle(&scratch(), SquidPolicy::Open, ALLOWED, true)?;
    let report = run_squid(config("open", &format!("[bundle]\nimage = \"{image}\"\n"))?)?;
    finish("squid-open", open_problems(&report), &report)
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
    finish("nonroot-agent", problems, &report)
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
    finish("bundle-exits", problems, &report)
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

/// The trial's outcome, its report's table printed either way; the JSON report is kept as
/// `<scratch>/<name>-report.json` (the table cuts details short).
fn finish(name: &str, problems: Vec<String>, report: &Report) -> Result<(), Failed> {
    let kept = scratch().join(format!("{name}-report.json"));
    let kept = match report.write_json(&kept) {
        Ok(()) => format!("report: {}", kept.display()),
        Err(error) => format!("report not kept: {error}"),
    };
    if problems.is_empty() {
        println!("{}{kept}", report.table());
        Ok(())
    } else {
        Err(format!("{}\n{}{kept}", problems.join("\n"), report.table()).into())
    }
}

/// The tools a trial's images are made of.
#[derive(Clone, Copy)]
pub enum Needs {
    /// busybox only.
    Busybox,
    /// Squid and busybox.
    Squid,
    /// Apache httpd with its proxy modules, and busybox.
    Apache,
}

/// Whether what `needs` names is installed (the images are made of it); `Err` says what is
/// missing and how to get it.
pub fn prerequisites(needs: Needs) -> Result<(), String> {
    let mut missing: Vec<String> = Vec::new();
    let mut packages = Vec::new();
    if !Path::new(super::rootfs::BUSYBOX).exists() {
        missing.push(super::rootfs::BUSYBOX.into());
        packages.push("busybox-static");
    }
    match needs {
        Needs::Busybox => {}
        Needs::Squid => {
            if !Path::new(images::SQUID).exists() {
                missing.push(images::SQUID.into());
                packages.push("squid");
            }
        }
        Needs::Apache => {
            let absent = apache::missing();
            if !absent.is_empty() {
                missing.extend(absent);
                packages.push("apache2");
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not installed (apt-get install {}; .ci/run does)",
            missing.join(" and "),
            packages.join(" ")
        ))
    }
}
