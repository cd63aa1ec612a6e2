//! The escape suite as tests: one trial per probe per backend, named
//! `<backend>::<family>::<probe>`, plus `<backend>::selfcheck::broken_bottle`, which proves on a
//! deliberately broken bottle that the suite turns red.
//!
//! Sharing a bottle: nextest runs every trial in its own process, and bringing a bottle up per
//! probe would cost one bring-up per probe of the catalogue. Instead the first trial process of a nextest run takes a file
//! lock (under the target dir, keyed by `NEXTEST_RUN_ID`), runs the whole suite once on one
//! bottle, tears it down, and writes the report; the other processes wait on the lock and read
//! that report. Outside nextest (`cargo test`, a direct run) one process runs every trial and
//! shares the report in memory.
//!
//! Backends: `--backend` (direct runs) or `CLAUDE_BOTTLE_BACKEND` (a comma list) narrows them;
//! the nextest profiles in `.config/nextest.toml` set the variable. An unavailable backend's
//! trials are marked ignored at list time with the reason printed on stderr; run anyway
//! (`--run-ignored`), they fail with that reason, never pass.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bottle_backends::{Arch, Availability, BottleBackend, Sabotage};
use bottle_harness::run::{self, RunOptions};
use bottle_harness::sabotage;
use bottle_harness::select::{self, AnyBackend, BackendKind};
use bottle_harness::{report, BottleConfig, Report, Verdict};
use bottle_probes::catalogue::CATALOGUE;
use clap::Parser;
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "escape/desktop.rs"]
mod desktop;

#[derive(Parser)]
struct Cli {
    /// Backends to run (comma list); default: $CLAUDE_BOTTLE_BACKEND, else every backend.
    #[arg(long)]
    backend: Option<String>,
    #[command(flatten)]
    test: Arguments,
}

type Shared = Arc<Mutex<Option<Result<Report, String>>>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn availability(kind: BackendKind) -> Availability {
    runtime().block_on(AnyBackend::new(kind).availability())
}

fn options(kind: BackendKind, sabotage: Sabotage) -> RunOptions {
    let mut options = RunOptions::new(kind, BottleConfig::default());
    options.progress = false;
    options.sabotage = sabotage;
    options
}

fn run_suite(kind: BackendKind, on_report: Option<run::ReportHook>) -> Result<Report, String> {
    let mut options = options(kind, Sabotage::default());
    options.on_report = on_report;
    runtime()
        .block_on(run::run(&options))
        .map_err(|e| e.to_string())
}

/// The suite's report for `kind`, computed once per nextest run (or once per process).
fn shared_report(kind: BackendKind, memo: &Shared) -> Result<Report, String> {
    let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(result) = memo.as_ref() {
        return result.clone();
    }
    let result = match std::env::var("NEXTEST_RUN_ID") {
        Ok(run_id) => across_processes(kind, &run_id),
        Err(_) => run_suite(kind, None),
    };
    *memo = Some(result.clone());
    result
}

fn across_processes(kind: BackendKind, run_id: &str) -> Result<Report, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("escape-shared");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let stem = format!("{run_id}-{}", kind.as_str());
    let lock_path = dir.join(format!("{stem}.lock"));
    let result_path = dir.join(format!("{stem}.json"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    if let Ok(mut file) = File::open(&result_path) {
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("read {}: {e}", result_path.display()))?;
        let stored: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("shared result unreadable: {e}"))?;
        return match stored.get("error").and_then(|e| e.as_str()) {
            Some(error) => Err(error.to_string()),
            None => serde_json::from_value::<Report>(stored)
                .map_err(|e| format!("stored report unreadable: {e}")),
        };
    }
    // The other processes get the report as soon as it is known: it is stored and the lock
    // released before the bottle's teardown (which this process still awaits).
    let store = |path: &PathBuf, text: &str| -> Result<(), String> {
        let mut file = File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
        file.write_all(text.as_bytes())
            .map_err(|e| format!("write {}: {e}", path.display()))
    };
    let held = Arc::new(Mutex::new(Some(lock)));
    let hook = {
        let (held, path) = (held.clone(), result_path.clone());
        run::ReportHook(Arc::new(move |report: &Report| {
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            if store(&path, &report.to_json()).is_ok() {
                held.take();
            }
        }))
    };
    let result = run_suite(kind, Some(hook));
    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
    if held.is_some() {
        // No report reached the hook (the run failed before judging): store what happened.
        let stored = match &result {
            Ok(report) => report.to_json(),
            Err(error) => serde_json::json!({ "error": error }).to_string(),
        };
        store(&result_path, &stored)?;
        held.take();
    }
    drop(held);
    // Old runs' files are useless; keep the directory small.
    prune(&dir, run_id);
    result
}

fn prune(dir: &PathBuf, run_id: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(run_id) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn check_probe(kind: BackendKind, id: &str, memo: &Shared) -> Result<(), Failed> {
    let report = shared_report(kind, memo).map_err(|e| format!("the suite did not run: {e}"))?;
    let result = report
        .results
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| format!("the report has no result for {id}"))?;
    if result.verdict.held() {
        Ok(())
    } else {
        Err(format!(
            "{} (expected {}, observed {}): {}",
            result.verdict.as_str(),
            result.expect,
            result.observed,
            result.detail
        )
        .into())
    }
}

/// The broken bottle's sabotages: the agent also sits on the upstream network and the host block
/// is removed.
const BROKEN: [&sabotage::Named; 2] = [sabotage::AGENT_ON_UPSTREAM, sabotage::NO_HOST_BLOCK];

/// Probes that must escape on the broken bottle: the union of the selftest cases of its
/// sabotages (`harness/src/selftest.rs`).
fn broken_must_escape() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = bottle_harness::selftest::CASES
        .iter()
        .filter(|case| BROKEN.iter().any(|named| named.name == case.sabotage.name))
        .flat_map(|case| case.must_escape.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The broken bottle's sabotage: every one of [`BROKEN`] at once.
fn broken_sabotage() -> Sabotage {
    let mut sabotage = Sabotage::default();
    for named in BROKEN {
        (named.effect)(&mut sabotage);
    }
    sabotage
}

/// A problem, starting with `prefix`, for each of `ids` that `report` does not show as an
/// escape (another verdict, or absent).
fn not_escaped<'a>(
    report: &Report,
    ids: impl IntoIterator<Item = &'a str>,
    prefix: &str,
) -> Vec<String> {
    ids.into_iter()
        .filter_map(|id| match report.results.iter().find(|r| r.id == id) {
            Some(r) if r.verdict == Verdict::Escape => None,
            Some(r) => Some(format!(
                "{prefix}{id} was {} ({})",
                r.verdict.as_str(),
                r.detail
            )),
            None => Some(format!("{prefix}{id} missing")),
        })
        .collect()
}

fn broken_bottle(kind: BackendKind, memo: &Shared) -> Result<(), Failed> {
    let report = runtime()
        .block_on(run::run(&options(kind, broken_sabotage())))
        .map_err(|e| format!("the sabotaged run failed: {e}"))?;
    let mut problems = not_escaped(&report, broken_must_escape(), "");
    for control in CATALOGUE.iter().filter(|p| p.controls.is_empty()) {
        match report.results.iter().find(|r| r.id == control.id) {
            Some(r) if r.verdict == Verdict::Pass => {}
            other => problems.push(format!("control {} did not pass: {other:?}", control.id)),
        }
    }
    if report.exit_code() != bottle_harness::exit::ESCAPE {
        problems.push(format!("exit code {} instead of 1", report.exit_code()));
    }
    // CI gating: against the clean run as baseline, each of these is a named regression in the
    // diff, the JSON, the JUnit and the Markdown report.
    let baseline = shared_report(kind, memo).map_err(|e| format!("no clean baseline: {e}"))?;
    let reports = [report.clone()];
    let changes = report::diff(&[baseline], &reports, bottle_probes::catalogue::RENAMED);
    let json = report.to_json();
    let junit = report::junit::render(&reports);
    let markdown = report::markdown::render(&reports, Some(&changes));
    if changes.exit_code() != 1 {
        problems.push("the baseline diff does not exit 1".into());
    }
    for id in &broken_must_escape() {
        if !changes.regressions.iter().any(|c| c.probe == *id) {
            problems.push(format!(
                "{id} is not a regression against the clean baseline"
            ));
        }
        if !json.contains(&format!("\"id\": \"{id}\"")) {
            problems.push(format!("{id} missing from the JSON report"));
        }
        if !junit.contains(&format!(
            "<testcase name=\"{id}\" classname=\"{}.",
            kind.as_str()
        )) {
            problems.push(format!("{id} missing from the JUnit report"));
        }
        if !markdown.contains(&format!("| regression | {} | `{id}` |", kind.as_str())) {
            problems.push(format!(
                "{id} not named as a regression in the Markdown report"
            ));
        }
    }
    if junit.matches("<failure type=\"escape\"").count() < broken_must_escape().len() {
        problems.push("the JUnit report has fewer escape failures than escapes".into());
    }
    if problems.is_empty() {
        println!("{}", report.table());
        Ok(())
    } else {
        Err(format!(
            "the broken bottle was not caught:\n  {}\n{}",
            problems.join("\n  "),
            report.table()
        )
        .into())
    }
}

/// A slow path under a short timeout: pipelock and every fixture answer 2 s late while the deny
/// timeout is at most 1.5 s, and the agent can also reach the outside (upstream network). What
/// timed out must come out `inconclusive` (pipelock's 403 arrives too late) or `escape` (the
/// target recorded the contact), never `pass`.
/// How late the slowed bottle's pipelock and fixtures answer, and the ceiling that keeps the
/// adaptive deny timeout below that.
const SLOW_FIXTURES_MS: u32 = 1000;
const SLOW_CEILING_MS: u32 = 800;

fn slow_paths(kind: BackendKind) -> Result<(), Failed> {
    let sabotage = Sabotage {
        agent_on_upstream: true,
        slow_fixtures_ms: Some(SLOW_FIXTURES_MS),
        ..Sabotage::default()
    };
    let mut options = options(kind, sabotage);
    options.config.timeouts.attempt_ms = SLOW_CEILING_MS;
    let report = runtime()
        .block_on(run::run(&options))
        .map_err(|e| format!("the slowed run failed: {e}"))?;
    let expected = [
        // pipelock's 403 is late but arrives within the proxy denials' wait (a control's):
        // it is a real 403.
        ("proxy.denied_host", Verdict::Pass),
        ("proxy.denied_connect", Verdict::Pass),
        ("proxy.connect_ip_literal", Verdict::Pass),
        // The agent's short timeouts expire first, but the targets recorded the attempts: a
        // timeout that was too short never reads as contained.
        ("dns.direct_udp", Verdict::Escape),
        ("dns.direct_tcp", Verdict::Escape),
        ("public.direct_http", Verdict::Escape),
        ("udp.echo", Verdict::Escape),
        ("proxy.allowed_http", Verdict::Pass),
    ];
    let mut problems = Vec::new();
    for (id, verdict) in expected {
        match report.results.iter().find(|r| r.id == id) {
            Some(r) if r.verdict == verdict => {}
            Some(r) => problems.push(format!(
                "{id}: {} ({}), expected {}",
                r.verdict.as_str(),
                r.detail,
                verdict.as_str()
            )),
            None => problems.push(format!("{id} missing")),
        }
    }
    if report.timings.deny_timeout_ms >= SLOW_FIXTURES_MS {
        problems.push(format!(
            "the deny timeout {} ms is not shorter than the delay",
            report.timings.deny_timeout_ms
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), report.table()).into())
    }
}

/// Set by a setup that tried and could not make aarch64 bottles runnable (`.ci/run` when the
/// kernel refuses binfmt_misc): the trial is then skipped with that reason, even under CI.
const SKIP_AARCH64_ENV: &str = "CLAUDE_BOTTLE_SKIP_AARCH64";

/// Whether this machine can run an aarch64 bottle on its Docker engine: natively on an aarch64
/// machine, else through qemu-user registered with binfmt_misc (flag `F`, so that the
/// interpreter is found inside a container's empty root); and whether the aarch64 in-bottle
/// binaries are built. `Err` is the reason it cannot.
fn aarch64_runnable() -> Result<(), String> {
    if let Ok(reason) = std::env::var(SKIP_AARCH64_ENV) {
        return Err(format!("{SKIP_AARCH64_ENV}: {reason}"));
    }
    if !bottle_harness::binaries::available(Arch::Aarch64) {
        return Err(format!(
            "no aarch64 in-bottle binaries: `{}` builds them",
            bottle_harness::binaries::build_command(Arch::Aarch64)
        ));
    }
    if Arch::host() == Some(Arch::Aarch64) {
        return Ok(());
    }
    let entry = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
    let text = std::fs::read_to_string(entry).map_err(|e| {
        format!("qemu-aarch64 is not registered with binfmt_misc ({entry}: {e}); .ci/run shows how")
    })?;
    let enabled = text.lines().any(|l| l.trim() == "enabled");
    let fixed = text
        .lines()
        .any(|l| l.strip_prefix("flags:").is_some_and(|f| f.contains('F')));
    if enabled && fixed {
        Ok(())
    } else {
        Err(format!("{entry} is not enabled with flag F: {text:?}"))
    }
}

/// The docker suite once with the aarch64 in-bottle binaries (emulated on an x86_64 machine):
/// the clean bottle must be CONTAINED, and the broken bottle caught, every must-escape probe an
/// escape. Emulation is slower; the adaptive timeouts absorb it (no fixed sleep here).
fn aarch64_bottle(kind: BackendKind) -> Result<(), Failed> {
    let mut clean = options(kind, Sabotage::default());
    clean.arch = Some(Arch::Aarch64);
    let report = runtime()
        .block_on(run::run(&clean))
        .map_err(|e| format!("the aarch64 run failed: {e}"))?;
    let mut problems: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.verdict.held())
        .map(|r| format!("{} was {} ({})", r.id, r.verdict.as_str(), r.detail))
        .collect();
    if report.exit_code() != bottle_harness::exit::OK {
        problems.push(format!(
            "clean exit code {} instead of 0",
            report.exit_code()
        ));
    }
    let mut broken = options(kind, broken_sabotage());
    broken.arch = Some(Arch::Aarch64);
    let broken_report = runtime()
        .block_on(run::run(&broken))
        .map_err(|e| format!("the sabotaged aarch64 run failed: {e}"))?;
    problems.extend(not_escaped(
        &broken_report,
        broken_must_escape(),
        "broken: ",
    ));
    if broken_report.exit_code() != bottle_harness::exit::ESCAPE {
        problems.push(format!(
            "broken exit code {} instead of 1",
            broken_report.exit_code()
        ));
    }
    if problems.is_empty() {
        println!(
            "aarch64: clean {} ms (probes {} ms), broken {} ms",
            report.timings.total_ms, report.timings.probe_ms, broken_report.timings.total_ms
        );
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), report.table()).into())
    }
}

/// Whether CI is running the tests: then a prerequisite that is missing fails its trial instead
/// of marking it ignored, so a runner that lost its setup cannot pass by skipping.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Every trial of backend `kind`: one per probe, the selfchecks, and (docker) the aarch64 bottle.
/// An unavailable backend's trials are marked ignored here, at list time.
fn trials_for(kind: BackendKind) -> Vec<Trial> {
    let mut trials = Vec::new();
    let availability = availability(kind);
    let unavailable = match &availability {
        Availability::Available { .. } => None,
        Availability::Unavailable { reason } => {
            eprintln!(
                "escape: backend {} is unavailable, its trials are ignored: {reason}",
                kind.as_str()
            );
            Some(reason.clone())
        }
    };
    let memo: Shared = Arc::default();
    for probe in CATALOGUE {
        let name = format!(
            "{}::{}::{}",
            kind.as_str(),
            probe.family.as_str(),
            probe.short_name()
        );
        let memo = memo.clone();
        let reason = unavailable.clone();
        let id = probe.id;
        trials.push(
            Trial::test(name, move || match reason {
                Some(reason) => Err(format!("backend unavailable: {reason}").into()),
                None => check_probe(kind, id, &memo),
            })
            .with_ignored_flag(unavailable.is_some()),
        );
    }
    let reason = unavailable.clone();
    trials.push(
        Trial::test(
            format!("{}::selfcheck::slow_paths", kind.as_str()),
            move || match reason {
                Some(reason) => Err(format!("backend unavailable: {reason}").into()),
                None => slow_paths(kind),
            },
        )
        .with_ignored_flag(unavailable.is_some()),
    );
    let reason = unavailable.clone();
    trials.push(
        Trial::test(
            format!("{}::selfcheck::broken_bottle", kind.as_str()),
            move || match reason {
                Some(reason) => Err(format!("backend unavailable: {reason}").into()),
                None => broken_bottle(kind, &memo),
            },
        )
        .with_ignored_flag(unavailable.is_some()),
    );
    if kind == BackendKind::Docker {
        // An unavailable engine skips it like every docker trial; a missing aarch64 setup
        // (binaries, binfmt) skips it too, except under CI, where it must run.
        let missing_setup = aarch64_runnable().err();
        if let Some(reason) = &missing_setup {
            eprintln!("escape: docker::selfcheck::aarch64_bottle cannot run here: {reason}");
        }
        let declared_skip = std::env::var_os(SKIP_AARCH64_ENV).is_some();
        let ignored =
            unavailable.is_some() || (missing_setup.is_some() && (!in_ci() || declared_skip));
        let reason = unavailable
            .clone()
            .map(|r| format!("backend unavailable: {r}"))
            .or(missing_setup);
        trials.push(
            Trial::test("docker::selfcheck::aarch64_bottle", move || match reason {
                Some(reason) => Err(reason.into()),
                None => aarch64_bottle(kind),
            })
            .with_ignored_flag(ignored),
        );
        // Docker Desktop's decisions on this engine (see `desktop`).
        let reason = unavailable.clone();
        trials.push(
            Trial::test(
                "docker::selfcheck::desktop_decisions",
                move || match reason {
                    Some(reason) => Err(format!("backend unavailable: {reason}").into()),
                    None => desktop::desktop_decisions(kind),
                },
            )
            .with_ignored_flag(unavailable.is_some()),
        );
    }
    trials
}

fn main() {
    let cli = Cli::parse();
    let kinds = match cli.backend.as_deref().map(str::to_string).or_else(|| {
        std::env::var(select::BACKEND_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
    }) {
        Some(list) => select::parse_list(&list).unwrap_or_else(|e| {
            eprintln!("escape: {e}");
            std::process::exit(2);
        }),
        None => BackendKind::ALL.to_vec(),
    };
    let mut trials = Vec::new();
    for kind in kinds {
        trials.extend(trials_for(kind));
    }
    libtest_mimic::run(&cli.test, trials).exit();
}
