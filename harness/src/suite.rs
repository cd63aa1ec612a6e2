//! One run of the escape suite: reap stale bottles, prepare images, bring the bottle up, run the
//! probes in one exec (positive controls first, then every deny attempt, the adaptive ones with a
//! timeout derived from the controls' round trip), judge, tear down. Teardown happens on success, on error, on SIGINT/SIGTERM
//! (the run future is dropped and the bottle removed by its label) and on panic (a drop guard).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bottle_backends::labels::new_run_id;
use bottle_backends::{Availability, Bottle, BottleBackend, BottleSpec, ImageSource, Sabotage};
use bottle_probes::wire::{ProbeOutput, MAX_OUTPUT_BYTES};

use crate::binaries;
use crate::config::BottleConfig;
use crate::errors::HarnessError;
use crate::host::{self, HostCanaries};
use crate::plan::{self, HostSide};
use crate::report::Report;
use crate::select::{AnyBackend, BackendKind};
use crate::verdict::{self, Evidence, KnownGap};

/// Slack on top of the longest attempt for the exec round trip.
const EXEC_SLACK: Duration = Duration::from_secs(10);
/// Time for records of late packets (a forwarded DNS query) to reach the fixtures' logs. The
/// liveness checks sent after it must show up in each target's records, and a container's log is
/// ordered, so every earlier record of a checked target is in what the harness reads.
const SETTLE: Duration = Duration::from_millis(50);

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub backend: BackendKind,
    pub config: BottleConfig,
    pub keep: bool,
    pub sequential: bool,
    pub only: Option<Vec<String>>,
    pub sabotage: Sabotage,
    /// Entries of a known-gaps file, applied on top of the built-in gaps.
    pub gap_entries: Vec<crate::gaps::GapEntry>,
    /// Print progress lines on stderr (a terminal, or asked for).
    pub progress: bool,
    /// Hand the teardown to a detached `bottle-escape down` process so the verdict does not wait
    /// for it (the CLI's default). If that process dies, the next run reaps the bottle.
    pub detach_teardown: bool,
    /// Called with the report as soon as it is known, before the teardown (which `run` still
    /// awaits unless it is detached): lets a caller that waits for the teardown hand the
    /// verdicts on early (the escape tests share one run across processes this way).
    pub on_report: Option<ReportHook>,
}

/// A callback for [`RunOptions::on_report`].
#[derive(Clone)]
pub struct ReportHook(pub std::sync::Arc<dyn Fn(&Report) + Send + Sync>);

impl std::fmt::Debug for ReportHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportHook")
    }
}

impl RunOptions {
    pub fn new(backend: BackendKind, config: BottleConfig) -> Self {
        Self {
            backend,
            config,
            keep: false,
            sequential: false,
            only: None,
            sabotage: Sabotage::default(),
            gap_entries: Vec::new(),
            progress: std::io::stderr().is_terminal(),
            detach_teardown: false,
            on_report: None,
        }
    }
}

fn progress(enabled: bool, message: &str) {
    tracing::info!("{message}");
    if enabled {
        eprintln!("bottle-escape: {message}");
    }
}

/// Where the smolvm loopback limitation is tracked.
pub const LOOPBACK_GAP_LINK: &str = "claude-bottle issue 75";

/// Known gaps per backend. Docker has none: every probe must be contained. smolmachines in the
/// Docker Desktop mode allows the host's loopback (the bundle's ports are published there, and
/// smolvm's TCP allows carry no ports), so every service on the host's loopback is open to the
/// agent: claude-bottle issue 75.
pub fn known_gaps(backend: BackendKind) -> Vec<KnownGap> {
    use bottle_backends::smolmachines::smolfile::Mode;
    match backend {
        BackendKind::Docker => Vec::new(),
        BackendKind::Smolmachines => match Mode::for_host() {
            Mode::Linux => Vec::new(),
            Mode::Desktop => ["localhost.agent_loopback", "localhost.host_addresses"]
                .iter()
                .map(|probe| KnownGap {
                    probe: probe.to_string(),
                    reason: "the desktop-mode allow list 127.0.0.1/32 opens every service on the host's loopback to the agent".into(),
                    link: LOOPBACK_GAP_LINK.into(),
                    expires: None,
                    // Only the host's loopback through the VMM's gateway (host.smolvm.internal).
                    destination: Some("100.96.0.1:*".into()),
                })
                .collect(),
        },
    }
}

/// Builds the bottle spec from the config and the located binaries.
pub fn bottle_spec(options: &RunOptions, run_id: &str) -> Result<BottleSpec, HarnessError> {
    let probe = binaries::probe()?;
    let fixture = binaries::fixture()?;
    let config = &options.config;
    Ok(BottleSpec {
        run_id: run_id.to_string(),
        agent: match &config.agent.image {
            Some(reference) => ImageSource::User {
                reference: reference.clone(),
            },
            None => ImageSource::Builtin {
                binary: probe.clone(),
            },
        },
        bundle: match &config.bundle.image {
            Some(reference) => ImageSource::User {
                reference: reference.clone(),
            },
            None => ImageSource::Builtin {
                binary: fixture.clone(),
            },
        },
        fixture_binary: fixture,
        probe_binary: probe,
        ports: config.ports.to_ports(),
        allowed_host: config.proxy.allowed_host.clone(),
        denied_host: config.proxy.denied_host.clone(),
        sabotage: options.sabotage.clone(),
        keep: options.keep,
    })
}

/// Checks availability; `Unavailable` becomes the error that exits 3.
pub async fn require_available(backend: &AnyBackend) -> Result<String, HarnessError> {
    match backend.availability().await {
        Availability::Available { version } => Ok(version),
        Availability::Unavailable { reason } => Err(HarnessError::Backend(
            bottle_backends::BackendError::Unavailable {
                backend: backend.name(),
                reason,
            },
        )),
    }
}

/// Removes bottles whose harness process is gone (killed runs, or runs whose detached cleaner
/// is still at work). Best effort: a bottle that cannot be removed now is reported and left for
/// the next run; it never fails this one. Returns the run ids removed.
pub async fn reap_stale(backend: &AnyBackend) -> Result<Vec<String>, HarnessError> {
    let stale: Vec<String> = backend
        .list_runs(true)
        .await?
        .into_iter()
        .filter(|run_id| !cleaner_alive(run_id))
        .collect();
    let results =
        futures_util::future::join_all(stale.iter().map(|run_id| backend.teardown(run_id))).await;
    let mut reaped = Vec::new();
    for (run_id, result) in stale.into_iter().zip(results) {
        match result {
            Ok(_) => reaped.push(run_id),
            Err(error) => {
                eprintln!("bottle-escape: could not reap stale bottle {run_id} yet: {error}")
            }
        }
    }
    Ok(reaped)
}

/// Tears a run down from a plain thread with its own runtime: usable from `Drop`.
fn blocking_teardown(kind: BackendKind, run_id: String) {
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let backend = AnyBackend::new(kind);
            let _ = backend.teardown(&run_id).await;
        });
    })
    .join();
}

/// The marker a `down` process keeps while it removes a bottle, so reapers leave that bottle to it.
fn cleaner_marker(run_id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("claude-bottle-down-{run_id}.pid"))
}

/// Whether a live `down` process is already removing this bottle.
fn cleaner_alive(run_id: &str) -> bool {
    std::fs::read_to_string(cleaner_marker(run_id))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(bottle_backends::labels::pid_alive)
}

/// Starts `bottle-escape down RUN_ID` in its own process group, detached from this one.
/// Returns false when it could not be started (the caller then tears down itself).
fn spawn_cleaner(kind: BackendKind, run_id: &str) -> bool {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    if exe.file_name().and_then(|n| n.to_str()) != Some("bottle-escape") {
        return false;
    }
    std::process::Command::new(exe)
        .args(["down", run_id, "--backend", kind.as_str(), "--quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .is_ok()
}

/// Tears the run down when dropped unless disarmed: covers panics and early returns.
struct TeardownGuard {
    kind: BackendKind,
    run_id: String,
    armed: bool,
}

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        if self.armed {
            blocking_teardown(self.kind, self.run_id.clone());
        }
    }
}

/// Waits for SIGINT or SIGTERM; names the signal.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Wraps an error with the phase it happened in (exit codes are kept).
fn in_phase(phase: &'static str) -> impl Fn(HarnessError) -> HarnessError {
    move |error| match error {
        // Unavailability and interrupts keep their own meaning and exit codes.
        HarnessError::Backend(ref e) if e.is_unavailable() => error,
        HarnessError::Interrupted(_) | HarnessError::InPhase { .. } => error,
        other => HarnessError::InPhase {
            phase,
            source: Box::new(other),
        },
    }
}

/// `run`: up, probe, down, report. Interrupts tear down and return `Interrupted`.
pub async fn run(options: &RunOptions) -> Result<Report, HarnessError> {
    let run_id = new_run_id();
    let backend = AnyBackend::new(options.backend);
    let mut guard = TeardownGuard {
        kind: options.backend,
        run_id: run_id.clone(),
        armed: !options.keep,
    };
    let result = tokio::select! {
        result = run_inner(&backend, options, &run_id) => result,
        signal = interrupted() => {
            progress(true, &format!("{signal}: tearing down {run_id}"));
            let _ = backend.teardown(&run_id).await;
            // Creates already sent to the engine land after the sweep on a loaded machine:
            // sweep again until two checks in a row find nothing (bounded).
            let deadline = Instant::now() + INTERRUPT_SWEEP_FOR;
            let mut quiet = 0;
            while quiet < 2 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let left = backend
                    .list_runs(false)
                    .await
                    .map(|runs| runs.contains(&run_id))
                    .unwrap_or(true);
                if left {
                    let _ = backend.teardown(&run_id).await;
                    quiet = 0;
                } else {
                    quiet += 1;
                }
            }
            Err(HarnessError::Interrupted(signal))
        }
    };
    guard.armed = false;
    result
}

async fn run_inner(
    backend: &AnyBackend,
    options: &RunOptions,
    run_id: &str,
) -> Result<Report, HarnessError> {
    let started = Instant::now();
    let show = options.progress;
    bottle_backends::trace::step("run: checking the backend");
    let version = require_available(backend).await?;
    bottle_backends::trace::step("run: reaping stale bottles");
    let reaped = reap_stale(backend)
        .await
        .map_err(in_phase("reaping stale bottles"))?;
    if !reaped.is_empty() {
        progress(
            true,
            &format!("reaped stale bottles: {}", reaped.join(", ")),
        );
    }
    let spec = bottle_spec(options, run_id)?;
    progress(show, "preparing images");
    bottle_backends::trace::step("run: preparing images");
    let prepare_started = Instant::now();
    backend
        .prepare(&spec)
        .await
        .map_err(|e| in_phase("prepare")(e.into()))?;
    let prepare_ms = prepare_started.elapsed().as_millis() as u64;
    progress(show, &format!("bringing up bottle {run_id}"));
    let up_started = Instant::now();
    let bottle = match backend.launch(&spec).await {
        Ok(bottle) => bottle,
        Err(error) => {
            let _ = backend.teardown(run_id).await;
            return Err(in_phase("bring-up")(error.into()));
        }
    };
    let bring_up_ms = up_started.elapsed().as_millis() as u64;
    let mut outcome = probe_bottle(backend, &bottle, options)
        .await
        .map_err(in_phase("probe"));
    if let Ok(report) = &mut outcome {
        report.backend_version = version.clone();
        report.kept = options.keep;
        report.timings.prepare_ms = prepare_ms;
        report.timings.bring_up_ms = bring_up_ms;
        if let Some(hook) = &options.on_report {
            (hook.0)(report);
        }
    }
    let teardown_started = Instant::now();
    crate::fault_hook::pause_at("teardown").await;
    let mut teardown_result = Ok(());
    if !options.keep && options.detach_teardown && spawn_cleaner(options.backend, run_id) {
        progress(
            show,
            &format!("teardown of {run_id} continues in the background"),
        );
    } else if !options.keep {
        progress(show, "tearing down");
        teardown_result = backend
            .teardown(run_id)
            .await
            .map(|_| ())
            .map_err(|e| in_phase("teardown")(e.into()));
    } else {
        progress(
            true,
            &format!("kept bottle {run_id}; remove it with `bottle-escape down {run_id}`"),
        );
    }
    let teardown_ms = teardown_started.elapsed().as_millis() as u64;
    // The probe's failure is the one to report; a failed teardown after it is secondary (the
    // next run reaps what is left).
    let mut report = outcome?;
    teardown_result?;
    report.timings.teardown_ms = teardown_ms;
    report.timings.total_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// How long an interrupted run keeps sweeping for objects whose create was in flight.
const INTERRUPT_SWEEP_FOR: Duration = Duration::from_secs(5);

/// Reads of the fixtures' records until every answered liveness check shows (see above).
const RECORD_ROUNDS: usize = 6;
const RECORD_RETRY: Duration = Duration::from_millis(200);

fn all_host_addresses(
    v4: &[std::net::Ipv4Addr],
    v6: &[std::net::Ipv6Addr],
    link_local: &[std::net::Ipv6Addr],
) -> Vec<std::net::IpAddr> {
    v4.iter()
        .map(|ip| std::net::IpAddr::V4(*ip))
        .chain(
            v6.iter()
                .chain(link_local)
                .map(|ip| std::net::IpAddr::V6(*ip)),
        )
        .collect()
}

fn nonce() -> String {
    let mut bytes = [0u8; 8];
    bottle_backends::labels::fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The probe phase against a running bottle (also `probe --bottle ID`).
pub async fn probe_bottle(
    backend: &AnyBackend,
    bottle: &Bottle,
    options: &RunOptions,
) -> Result<Report, HarnessError> {
    let canaries = HostCanaries::start()?;
    let (addresses_v6, link_local_v6) = if canaries.all_interfaces_v6 {
        host::host_addresses_v6()
    } else {
        (Vec::new(), Vec::new())
    };
    let host_side = HostSide {
        loopback_canary: canaries.loopback,
        loopback_canary_v6: canaries.loopback_v6,
        all_interfaces_port: canaries.all_interfaces_port,
        addresses: host::host_addresses(),
        addresses_v6,
        link_local_v6,
        all_interfaces_v6: canaries.all_interfaces_v6,
        icmp_recorder: canaries.icmp_recorder,
    };
    let checked_addresses: Vec<std::net::IpAddr> = all_host_addresses(
        &host_side.addresses,
        &host_side.addresses_v6,
        &host_side.link_local_v6,
    );
    let plan = plan::build(
        &bottle.topology,
        &host_side,
        &options.config.timeouts,
        options.only.as_deref(),
        nonce,
    );
    let mut plan = plan;
    // One exec: the positive controls first, whose round trip sets the timeout of the adaptive
    // deny attempts (the probe applies it; see `bottle_probes::timing`); the sweep and the
    // proxy denials start after the controls too but keep their own timeouts (the plan's: a
    // proxy deny waits for pipelock's 403 as long as a control would).
    let adaptive = adaptive_of(&options.config.timeouts);
    let all: Vec<usize> = (0..plan.probes.len()).collect();
    progress(
        options.progress,
        &format!(
            "probing: {} attempts in one exec (positive controls first)",
            count_attempts(&plan, &all)
        ),
    );
    let execs_started = Instant::now();
    let dialing = host::HostDialer::start(&bottle.topology, &canaries);
    let parsed = run_probe_exec(backend, bottle, &plan, &all, options.sequential, adaptive).await;
    drop(dialing);
    bottle_backends::trace::step("probes: done");
    let rtt_ms = parsed.as_ref().ok().and_then(|output| {
        bottle_probes::timing::control_rtt_ms(plan.probes.iter().flat_map(|p| {
            p.attempts
                .iter()
                .filter(|a| a.spec.stage == bottle_probes::wire::Stage::Control)
                .filter_map(|a| output.observations.get(&a.spec.id))
        }))
    });
    let deny_timeout_ms = adaptive_timeout(rtt_ms, &options.config.timeouts);
    let longest_attempt_ms = parsed
        .as_ref()
        .map(|output| {
            output
                .observations
                .values()
                .map(|o| o.elapsed_ms)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    // What the probe gave the adaptive attempts, for the report.
    for probe in &mut plan.probes {
        for attempt in &mut probe.attempts {
            if attempt.spec.stage == bottle_probes::wire::Stage::Adaptive {
                attempt.spec.timeout_ms = deny_timeout_ms;
            }
        }
    }
    let probe_ms = execs_started.elapsed().as_millis() as u64;
    let report_started = Instant::now();
    crate::fault_hook::pause_at("report").await;
    tokio::time::sleep(SETTLE).await;
    // A bridge's IPv6 address is unusable for about a second after its first port comes up
    // (duplicate address detection); the IPv6 liveness checks go through it.
    futures_util::future::join_all(
        bottle
            .topology
            .networks()
            .iter()
            .filter_map(|n| n.gateway_v6)
            .map(bottle_backends::hostnet::wait_usable_v6),
    )
    .await;
    bottle_backends::trace::step("report: IPv6 gateways usable");
    let checks = host::liveness_checks(
        &bottle.topology,
        &canaries,
        &host_side.addresses,
        &host_side.addresses_v6,
        nonce,
    );
    let own_ends = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sent = {
        let checks = checks.clone();
        let own_ends = own_ends.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = checks
                    .iter()
                    .map(|check| {
                        let own_ends = &own_ends;
                        scope.spawn(move || host::send_liveness(check, own_ends))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("liveness check panicked".into()))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await
        .unwrap_or_default()
    };
    bottle_backends::trace::step("report: liveness checks sent");
    let liveness_peers: Vec<std::net::SocketAddr> =
        own_ends.lock().map(|e| e.clone()).unwrap_or_default();
    // Host addresses can vanish while a run is in flight (another bottle's bridge being torn
    // down). An address that is gone proves nothing either way: its attempts and checks are
    // dropped rather than judged.
    let (present_v6, present_link_local) = host::host_addresses_v6();
    let present = all_host_addresses(&host::host_addresses(), &present_v6, &present_link_local);
    let vanished: Vec<std::net::IpAddr> = checked_addresses
        .iter()
        .filter(|ip| !present.contains(ip))
        .copied()
        .collect();
    if !vanished.is_empty() {
        for probe in &mut plan.probes {
            probe.attempts.retain(|a| match &a.spec.kind {
                bottle_probes::AttemptKind::Tcp { addr } => {
                    !(a.target == Some(host::Target::HostAllInterfaces)
                        && vanished.contains(&addr.ip()))
                }
                bottle_probes::AttemptKind::TcpLinkLocal { ip, .. } => {
                    !vanished.contains(&std::net::IpAddr::V6(*ip))
                }
                bottle_probes::AttemptKind::Ping { ip } => {
                    !(a.target == Some(host::Target::HostAllInterfaces) && vanished.contains(ip))
                }
                _ => true,
            });
        }
    }
    // A container's log reaches the engine asynchronously: a check the target answered (it
    // records before it answers) may not be in the log yet on a loaded machine. Read again,
    // briefly, until every answered check shows; what is still missing is judged as missing.
    let answered: Vec<&str> = checks
        .iter()
        .zip(&sent)
        .filter(|(_, result)| result.is_ok())
        .map(|(check, _)| check.nonce.as_str())
        .collect();
    let run_nonces: Vec<&str> = plan
        .probes
        .iter()
        .flat_map(|p| p.attempts.iter().map(|a| a.spec.nonce.as_str()))
        .chain(checks.iter().map(|c| c.nonce.as_str()))
        .collect();
    let mut records = Vec::new();
    let mut rejected_records = Vec::new();
    for round in 0..RECORD_ROUNDS {
        let log = backend.fixture_records(bottle).await?;
        (records, rejected_records) = (log.records, log.rejected);
        // This machine's ICMP recorder sees every echo request to any of its addresses,
        // other runs' probes included (a sabotaged bottle next door pings this machine too):
        // only a ping carrying one of this run's nonces is this run's evidence.
        records.extend(canaries.sink.snapshot().into_iter().filter(|r| {
            r.proto != bottle_fixtures::records::Proto::Icmp
                || run_nonces.iter().any(|n| r.mentions(n))
        }));
        let complete = answered
            .iter()
            .all(|nonce| records.iter().any(|r| r.mentions(nonce)));
        if complete || round + 1 == RECORD_ROUNDS {
            break;
        }
        tokio::time::sleep(RECORD_RETRY).await;
    }
    bottle_backends::trace::step("report: records read");
    let liveness_nonces: Vec<String> = checks.iter().map(|c| c.nonce.clone()).collect();
    let mut liveness = BTreeMap::new();
    for (check, result) in checks.iter().zip(sent) {
        if vanished.contains(&check.addr.ip()) {
            continue;
        }
        let recorded = records.iter().any(|r| r.mentions(&check.nonce));
        let state = match result {
            Ok(()) if recorded => Ok(()),
            Ok(()) => Err(format!(
                "{} answered, but its records do not show the check",
                check.addr
            )),
            Err(why) => Err(format!("{} ({:?}): {why}", check.addr, check.kind)),
        };
        // A target is alive only if every port and protocol the probes use answered.
        let entry = liveness.entry(check.target).or_insert(Ok(()));
        if entry.is_ok() {
            *entry = state;
        }
    }
    let mut gaps = known_gaps(options.backend);
    gaps.extend(crate::gaps::for_backend(
        &options.gap_entries,
        options.backend,
    ));
    let results = verdict::evaluate(
        &plan,
        &Evidence {
            output: parsed.as_ref().map_err(Clone::clone),
            records: &records,
            liveness: &liveness,
            known_gaps: &gaps,
            liveness_nonces: &liveness_nonces,
            liveness_peers: &liveness_peers,
            // This branch still edits the plan above (timeouts, vanished attempts): nothing to add.
            applied_timeouts_ms: &Default::default(),
            vanished_attempts: &Default::default(),
            rejected_records: &rejected_records,
        },
    );
    let mut report = Report::new(backend.name(), "", &bottle.run_id, results);
    report.timings.control_rtt_ms = rtt_ms;
    report.timings.probe_ms = probe_ms;
    report.timings.report_ms = report_started.elapsed().as_millis() as u64;
    report.timings.deny_timeout_ms = deny_timeout_ms;
    report.timings.longest_attempt_ms = longest_attempt_ms;
    report.known_gaps = gaps;
    report.sabotaged = bottle.topology.sabotaged;
    report.topology = Some(bottle.topology.clone());
    Ok(report)
}

fn count_attempts(plan: &plan::Plan, probes: &[usize]) -> usize {
    probes.iter().map(|i| plan.probes[*i].attempts.len()).sum()
}

/// How many control round trips a deny attempt waits before it counts as a timeout.
pub const RTT_FACTOR: u64 = 20;

/// The timeout of the deny attempts: `RTT_FACTOR` times the slowest positive control, at least
/// `floor_ms`, at most `attempt_ms`; `attempt_ms` when no control answered (the controls have
/// failed, so every deny is inconclusive anyway). A timeout that is too short cannot produce a
/// false pass: a deny also needs the target's silence, and a reached target records the contact.
pub fn adaptive_timeout(
    control_rtt_ms: Option<u64>,
    timeouts: &crate::config::TimeoutConfig,
) -> u32 {
    adaptive_of(timeouts).map_or(timeouts.attempt_ms, |a| a.timeout_ms(control_rtt_ms))
}

/// The probe's `--adaptive` setting for these timeouts (`None`: adaptive timeouts are off).
fn adaptive_of(timeouts: &crate::config::TimeoutConfig) -> Option<bottle_probes::timing::Adaptive> {
    timeouts
        .adaptive
        .then_some(bottle_probes::timing::Adaptive {
            factor: RTT_FACTOR,
            floor_ms: timeouts.floor_ms,
            ceiling_ms: timeouts.attempt_ms,
        })
}

/// The probe's exec with `probes` of the plan; the parsed output or why not.
async fn run_probe_exec(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &plan::Plan,
    probes: &[usize],
    sequential: bool,
    adaptive: Option<bottle_probes::timing::Adaptive>,
) -> Result<ProbeOutput, String> {
    let session = plan.session.clone();
    let attempts: Vec<&bottle_probes::AttemptSpec> = probes
        .iter()
        .flat_map(|i| plan.probes[*i].attempts.iter().map(|a| &a.spec))
        .collect();
    if attempts.is_empty() {
        return Ok(ProbeOutput::default());
    }
    let mut argv = vec![
        bottle.probe_path.clone(),
        "run".to_string(),
        "--session".to_string(),
        session.clone(),
    ];
    if sequential {
        argv.push("--sequential".into());
    }
    if let Some(adaptive) = adaptive {
        argv.extend(["--adaptive".to_string(), adaptive.encode()]);
    }
    let traced = bottle_backends::trace::enabled();
    if traced {
        argv.push("--trace".into());
    }
    argv.extend(attempts.iter().map(|a| a.encode()));
    // The longest the probe can take: one after the other, or the controls and then the
    // adaptive attempts (at their ceiling) and the fixed ones side by side.
    let longest = |stage: bottle_probes::wire::Stage| {
        attempts
            .iter()
            .filter(|a| a.stage == stage)
            .map(|a| u64::from(a.timeout_ms))
            .max()
            .unwrap_or(0)
    };
    let budget = if sequential {
        attempts.iter().map(|a| u64::from(a.timeout_ms)).sum()
    } else {
        use bottle_probes::wire::Stage;
        longest(Stage::Control) + longest(Stage::Fixed).max(longest(Stage::Adaptive))
    };
    let timeout = Duration::from_millis(budget) + EXEC_SLACK;
    let ids: Vec<&str> = attempts.iter().map(|a| a.id.as_str()).collect();
    let output = backend
        .exec_in_agent(bottle, &argv, timeout, MAX_OUTPUT_BYTES + 1)
        .await;
    if let (true, Ok(output)) = (traced, &output) {
        // The probe's own step timings, relative to its start.
        for line in String::from_utf8_lossy(&output.stderr).lines() {
            if line.starts_with("probe-trace: ") {
                eprintln!("{line}");
            }
        }
    }
    match output {
        Err(error) => Err(format!("the probe exec failed: {error}")),
        Ok(output) if output.truncated => Err(format!(
            "the probe printed more than {MAX_OUTPUT_BYTES} bytes"
        )),
        Ok(output) if output.exit_code != Some(0) => Err(format!(
            "the probe exited with {:?}: {}",
            output.exit_code,
            String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(300)
                .collect::<String>()
        )),
        Ok(output) => ProbeOutput::parse(&output.stdout, &session, &ids)
            .map_err(|e| format!("the probe output was rejected: {e}")),
    }
}

/// `up`: brings a bottle up and leaves it running; returns it.
pub async fn up(options: &RunOptions) -> Result<Bottle, HarnessError> {
    let backend = AnyBackend::new(options.backend);
    require_available(&backend).await?;
    reap_stale(&backend).await?;
    let run_id = new_run_id();
    let mut spec = bottle_spec(options, &run_id)?;
    spec.keep = true;
    let launched = tokio::select! {
        launched = backend.launch(&spec) => launched,
        signal = interrupted() => {
            let _ = backend.teardown(&run_id).await;
            return Err(HarnessError::Interrupted(signal));
        }
    };
    match launched {
        Ok(bottle) => Ok(bottle),
        Err(error) => {
            let _ = backend.teardown(&run_id).await;
            Err(error.into())
        }
    }
}

/// `probe --bottle ID`: the probe phase against a bottle left up by `up`.
pub async fn probe_existing(options: &RunOptions, run_id: &str) -> Result<Report, HarnessError> {
    let backend = AnyBackend::new(options.backend);
    let version = require_available(&backend).await?;
    let bottle = backend.attach(run_id).await?;
    let started = Instant::now();
    let mut report = probe_bottle(&backend, &bottle, options).await?;
    report.backend_version = version;
    report.kept = true;
    report.timings.total_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// `down ID` / `down --all`: returns the run ids removed.
pub async fn down(kind: BackendKind, run_id: Option<&str>) -> Result<Vec<String>, HarnessError> {
    let backend = AnyBackend::new(kind);
    require_available(&backend).await?;
    let runs = match run_id {
        Some(id) => vec![id.to_string()],
        None => backend.list_runs(false).await?,
    };
    for run in &runs {
        let marker = cleaner_marker(run);
        let _ = std::fs::write(&marker, std::process::id().to_string());
        let removed = backend.teardown(run).await;
        let _ = std::fs::remove_file(&marker);
        let removed = removed?;
        if run_id.is_some() && removed.containers == 0 && removed.networks == 0 {
            return Err(bottle_backends::BackendError::NoSuchBottle(run.clone()).into());
        }
    }
    Ok(runs)
}
