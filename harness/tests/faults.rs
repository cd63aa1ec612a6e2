//! Faults: SIGINT and SIGTERM in each phase of `bottle-escape run` leave nothing behind and exit
//! 130; a bottle left by a killed run is reaped by the next run. A `harness = false` target so
//! that, without a Docker engine, its trials show as ignored with the reason instead of failing.
//!
//! Prepare, bring-up and probe last long enough to be hit by a signal sent on seeing their log
//! line. Report (~60 ms) and teardown are held open by the fault hook
//! (`bottle_harness::fault_hook`, `CLAUDE_BOTTLE_FAULT_PAUSE=<phase>:<ms>`) instead, and those
//! trials prove the signal landed inside the pause.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bottle_backends::docker::DockerBackend;
use bottle_backends::{Availability, BottleBackend};
use libtest_mimic::{Arguments, Failed, Trial};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Run ids with any object left on the engine.
fn leftovers(run_id: &str) -> Result<bool, String> {
    runtime()
        .block_on(DockerBackend::new().list_runs(false))
        .map(|runs| runs.iter().any(|r| r == run_id))
        .map_err(|e| e.to_string())
}

/// Starts a run, waits until its stderr (tracing) shows `phase`, sends `signal`; returns the run
/// id, the exit code and the stderr seen.
fn run_id_in(line: &str) -> Option<String> {
    ["bringing up bottle ", "tearing down "]
        .iter()
        .find_map(|marker| line.split(marker).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|id| id.starts_with("cb"))
        .map(str::to_string)
}

fn interrupt_at(phase: &str, signal: i32) -> Result<(String, Option<i32>, String), String> {
    let mut child = trial_run()
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let mut run_id = None;
    let started = Instant::now();
    while let Some(Ok(line)) = lines.next() {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(id) = run_id_in(&line) {
            run_id = Some(id);
        }
        if line.contains(phase) {
            // SAFETY: sending a signal to our own child process.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(format!("phase {phase:?} never came:\n{seen}"));
        }
    }
    for line in lines.map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(id) = run_id_in(&line) {
            run_id = Some(id);
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let run_id = run_id.ok_or_else(|| format!("no run id in the output:\n{seen}"))?;
    Ok((run_id, status.code(), seen))
}

fn signal_in_phase(phase: &'static str, signal: i32) -> Result<(), Failed> {
    let (run_id, code, seen) = interrupt_at(phase, signal)?;
    if code != Some(130) {
        return Err(format!("exit {code:?} instead of 130:\n{seen}").into());
    }
    // A create in flight can land just after the teardown; give the engine a moment.
    std::thread::sleep(Duration::from_millis(500));
    if leftovers(&run_id)? {
        return Err(format!("objects of {run_id} were left behind:\n{seen}").into());
    }
    Ok(())
}

/// The probes of the fault trials, which test signal handling and cleanup, not the catalogue:
/// one that holds the probe phase open for a deny timeout (so a signal sent when probing starts
/// lands inside it) and sends no DNS queries (Docker's embedded DNS holds the agent's removal
/// until the queries it forwards time out, up to 4 s). `two_runs_at_once` runs everything.
const TRIAL_PROBES: &str = "inbound.agent_listener";

/// `bottle-escape run` on docker with [`TRIAL_PROBES`], awaiting its teardown.
fn trial_run() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bottle-escape"));
    command
        .args([
            "run",
            "--backend",
            "docker",
            "--wait-teardown",
            "--probe",
            TRIAL_PROBES,
        ])
        .env_remove("CLAUDE_BOTTLE_BACKEND");
    command
}

/// How long the paused-phase trials hold the phase open: far longer than the interrupt's own
/// teardown (a label sweep, then sweeps every 300 ms until two checks find nothing: 2-5 s on a
/// loaded machine, measured up to 5.2 s), so a run that exits before the pause would have ended
/// was cut off inside it. The hook caps a pause at 10 s.
const PAUSE_MS: u64 = 10_000;

/// How long a paused-phase trial waits for the run's objects to disappear after it exited.
const GONE_WITHIN: Duration = Duration::from_secs(15);

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "another signal",
    }
}

/// Polls until nothing labelled with `run_id` is left; how long that took.
fn gone_within(run_id: &str, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if !leftovers(run_id)? {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("objects of {run_id} still there after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What a run interrupted inside a paused phase showed.
struct PausedRun {
    status: std::process::ExitStatus,
    stdout: String,
    /// Its stderr.
    seen: String,
    run_id: String,
    /// From the pause line to the run's exit.
    exited_after: Duration,
    /// Whether the interrupt's teardown line came after the pause line.
    interrupt_after_pause: bool,
}

/// Runs with the fault hook pausing `phase` for [`PAUSE_MS`] and sends `signal` as soon as the
/// hook's pause line appears; what the run showed.
fn interrupt_paused_run(phase: &'static str, signal: i32) -> Result<PausedRun, Failed> {
    use std::io::Read;
    let name = signal_name(signal);
    let started = Instant::now();
    let mut child = trial_run()
        .env("RUST_LOG", "info")
        .env(
            bottle_harness::fault_hook::ENV,
            format!("{phase}:{PAUSE_MS}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdout = child.stdout.take().expect("piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let pause_line = format!("fault hook: pausing {PAUSE_MS} ms at {phase}");
    let interrupt_line = format!("{name}: tearing down ");
    let mut seen = String::new();
    let mut run_id = None;
    let mut paused_at: Option<Instant> = None;
    let mut interrupt_after_pause = false;
    for line in BufReader::new(child.stderr.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(id) = run_id_in(&line) {
            run_id = Some(id);
        }
        match paused_at {
            None if line.contains(&pause_line) => {
                // SAFETY: sending a signal to our own child process.
                unsafe { libc::kill(child.id() as libc::pid_t, signal) };
                paused_at = Some(Instant::now());
            }
            None if started.elapsed() > Duration::from_secs(90) => {
                let _ = child.kill();
                return Err(format!("the hook never paused at {phase}:\n{seen}").into());
            }
            Some(_) if line.contains(&interrupt_line) => interrupt_after_pause = true,
            _ => {}
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let stdout = stdout.join().unwrap_or_default();
    let Some(paused_at) = paused_at else {
        return Err(format!("the hook never paused at {phase}:\n{seen}").into());
    };
    let exited_after = paused_at.elapsed();
    let run_id = run_id.ok_or_else(|| format!("no run id in the output:\n{seen}"))?;
    Ok(PausedRun {
        status,
        stdout,
        seen,
        run_id,
        exited_after,
        interrupt_after_pause,
    })
}

/// Runs with the fault hook pausing `phase` for [`PAUSE_MS`], sends `signal` as soon as the
/// hook's pause line appears, and checks that the signal landed inside the phase (the hook never
/// resumed, the interrupt's teardown line came after the pause line, the process exited before
/// the pause would have ended, no report was printed), the exit code is 130, and nothing
/// labelled with the run id is left (polled for [`GONE_WITHIN`]).
fn signal_in_paused_phase(phase: &'static str, signal: i32) -> Result<(), Failed> {
    let name = signal_name(signal);
    let PausedRun {
        status,
        stdout,
        seen,
        run_id,
        exited_after,
        interrupt_after_pause,
    } = interrupt_paused_run(phase, signal)?;
    let resume_line = format!("fault hook: resumed at {phase}");
    let interrupt_line = format!("{name}: tearing down ");
    // The signal landed inside the phase: the pause it interrupted never ran out, the run's
    // interrupt handling came after the pause began, and the whole run ended before the pause
    // would have.
    if seen.contains(&resume_line) {
        return Err(
            format!("the pause at {phase} ran out: the {name} did not cut it:\n{seen}").into(),
        );
    }
    if !interrupt_after_pause {
        return Err(format!("no \"{interrupt_line}\" after the pause line:\n{seen}").into());
    }
    if exited_after >= Duration::from_millis(PAUSE_MS) {
        return Err(format!(
            "the run exited {exited_after:?} after the pause began, not within {PAUSE_MS} ms:\n{seen}"
        )
        .into());
    }
    if !stdout.trim().is_empty() {
        return Err(
            format!("a report was printed although the run was interrupted:\n{stdout}").into(),
        );
    }
    let code = status.code();
    if code != Some(130) {
        return Err(format!("exit {code:?} instead of 130:\n{seen}").into());
    }
    if !seen.contains(&format!("interrupted by {name}")) {
        return Err(format!("the error does not name {name}:\n{seen}").into());
    }
    let gone = gone_within(&run_id, GONE_WITHIN).map_err(|e| format!("{e}:\n{seen}"))?;
    eprintln!(
        "{phase}/{name}: run {run_id} exited {exited_after:?} after the pause began; \
         nothing labelled with it left {gone:?} later"
    );
    Ok(())
}

fn killed_run_is_reaped() -> Result<(), Failed> {
    let (run_id, _, _) = interrupt_at("probing", libc::SIGKILL)?;
    // Another process's run (tests run in parallel) may reap it first; either way it must be
    // gone once the next run has started.
    let existed = leftovers(&run_id)?;
    let output = trial_run()
        .arg("--quiet")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if existed && !stderr.contains(&run_id) && leftovers(&run_id)? {
        return Err(format!("the next run did not reap {run_id}: {stderr}").into());
    }
    if leftovers(&run_id)? {
        return Err(format!("{run_id} is still there after the next run:\n{stderr}").into());
    }
    Ok(())
}

/// A kept bottle (`up`) of a trial: removed when the trial ends, however it ends, because no
/// later run reaps a kept bottle.
struct KeptBottle {
    run_id: String,
}

impl KeptBottle {
    fn up() -> Result<Self, String> {
        let up = Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args(["up", "--backend", "docker"])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .output()
            .map_err(|e| e.to_string())?;
        let run_id = String::from_utf8_lossy(&up.stdout).trim().to_string();
        if up.status.code() != Some(0) || !run_id.starts_with("cb") {
            return Err(format!(
                "up exited {:?} with {run_id:?}: {}",
                up.status.code(),
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Ok(Self { run_id })
    }
}

impl Drop for KeptBottle {
    fn drop(&mut self) {
        for _ in 0..5 {
            if !leftovers(&self.run_id).unwrap_or(true) {
                return;
            }
            let _ = Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
                .args(["down", &self.run_id, "--backend", "docker", "--quiet"])
                .env_remove("CLAUDE_BOTTLE_BACKEND")
                .output();
        }
    }
}

/// What the trace line of a cleaner that found another one at work says.
const CLEANERS_MET: &str = "another cleaner is removing container";

/// Two `down`s of one kept bottle at once. Each must exit 0 (or, having found nothing left,
/// say there is no such bottle), and nothing may be left the moment either exits 0. Returns
/// whether the two met (one was refused a removal the other had in progress).
fn two_downs(bottle: &KeptBottle) -> Result<bool, String> {
    let down = || {
        Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args(["down", &bottle.run_id, "--backend", "docker"])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .env(bottle_backends::trace::ENV, "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())
    };
    let mut cleaners = vec![down()?, down()?];
    let mut exits = Vec::new();
    let started = Instant::now();
    while !cleaners.is_empty() {
        let mut index = 0;
        while index < cleaners.len() {
            let Some(status) = cleaners[index].try_wait().map_err(|e| e.to_string())? else {
                index += 1;
                continue;
            };
            // Checked the moment it exits, before the other may finish the job for it.
            let left = leftovers(&bottle.run_id)?;
            let output = cleaners.remove(index).wait_with_output();
            let stderr = output
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            if status.code() == Some(0) && left {
                return Err(format!(
                    "{} is still there when a cleaner exited 0:\n{stderr}",
                    bottle.run_id
                ));
            }
            exits.push((status.code(), stderr));
        }
        if started.elapsed() > Duration::from_secs(60) {
            for mut cleaner in cleaners {
                let _ = cleaner.kill();
                let _ = cleaner.wait();
            }
            return Err(format!("the cleaners did not exit within 60 s: {exits:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let succeeded = exits.iter().filter(|(code, _)| *code == Some(0)).count();
    let benign = |(code, stderr): &(Option<i32>, String)| {
        *code == Some(0) || stderr.contains("no bottle with id")
    };
    if succeeded == 0 || !exits.iter().all(benign) {
        return Err(format!(
            "the cleaners of {} failed: {exits:?}",
            bottle.run_id
        ));
    }
    Ok(exits
        .iter()
        .any(|(_, stderr)| stderr.contains(CLEANERS_MET)))
}

/// One bottle removed by two cleaners at once (two runs reaping the same stale bottle, or a
/// detached cleaner and a later run): the engine refuses a second removal of a container while
/// the first is in progress (409). Both cleaners must succeed, and nothing may be left when
/// either returns. The bottle is a kept one (`up`) so that no other trial's run reaps it
/// first. The two must really meet (a cleaner's trace says it waited for the other); when
/// they happen not to, the trial tries again, up to three bottles.
fn two_cleaners_at_once() -> Result<(), Failed> {
    for _ in 0..3 {
        let bottle = KeptBottle::up()?;
        if two_downs(&bottle)? {
            return Ok(());
        }
    }
    Err("in three tries the two cleaners never met: nothing was tested".into())
}

/// Two runs started together on one engine: distinct run ids and subnets, both contained
/// (exit 0), and nothing of either left.
fn two_runs_at_once() -> Result<(), Failed> {
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args([
                "run",
                "--backend",
                "docker",
                "--wait-teardown",
                "--format",
                "json",
            ])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())
    };
    let (a, b) = (start()?, start()?);
    let mut seen = Vec::new();
    for child in [a, b] {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            format!(
                "no JSON report (exit {:?}): {e}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        if output.status.code() != Some(0) {
            let failing: Vec<String> = report["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["verdict"] != "pass")
                .map(|r| format!("{}: {} ({})", r["id"], r["verdict"], r["detail"]))
                .collect();
            return Err(format!(
                "a concurrent run exited {:?}: {}",
                output.status.code(),
                failing.join("; ")
            )
            .into());
        }
        let run_id = report["run_id"].as_str().unwrap_or_default().to_string();
        let subnets: Vec<String> = ["agent_network", "upstream_network", "lan_network"]
            .iter()
            .map(|n| {
                report["topology"][n]["subnet"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        seen.push((run_id, subnets));
    }
    let (first, second) = (&seen[0], &seen[1]);
    if first.0 == second.0 || first.0.is_empty() {
        return Err(format!("run ids collide or are missing: {seen:?}").into());
    }
    if first.1.iter().any(|s| second.1.contains(s)) {
        return Err(format!("the two runs shared a subnet: {seen:?}").into());
    }
    for (run_id, _) in &seen {
        gone_within(run_id, GONE_WITHIN)?;
    }
    Ok(())
}

/// Removes the test's own network when the trial ends, however it ends.
struct TakenNetwork {
    name: String,
}

impl Drop for TakenNetwork {
    fn drop(&mut self) {
        if let Ok(docker) = bollard::Docker::connect_with_local_defaults() {
            let _ = runtime().block_on(docker.remove_network(&self.name));
        }
    }
}

/// Takes a free random /24 in the range the harness picks from (10.200-250.x.0) with a network
/// of the test's own (not labelled as a run's, so no run reaps it).
fn take_a_subnet() -> Result<(TakenNetwork, Ipv4Addr), String> {
    use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
    let docker = bollard::Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let name = format!("cb-test-taken-{}", std::process::id());
    let mut last = String::new();
    for _ in 0..20 {
        let mut bytes = [0u8; 2];
        bottle_backends::labels::fill_random(&mut bytes);
        let base = Ipv4Addr::new(10, 200 + bytes[0] % 51, bytes[1] % 250, 0);
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{base}/24")),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some([("claude-bottle.test".to_string(), "taken-subnet".to_string())].into()),
            ..Default::default()
        };
        match runtime().block_on(docker.create_network(request)) {
            Ok(_) => return Ok((TakenNetwork { name }, base)),
            Err(error) => last = error.to_string(),
        }
    }
    Err(format!("no free /24 to take: {last}"))
}

/// A subnet the run wants turns out to be taken in the middle of its bring-up (the fault knob
/// puts the first attempt's LAN network on a /24 this test holds, while the other networks are
/// made and the first containers start): the run brings the bottle up again on other subnets,
/// is contained, and leaves nothing behind, of the clashing attempt either.
fn taken_subnet_is_retried() -> Result<(), Failed> {
    let (_taken, base) = take_a_subnet()?;
    let output = trial_run()
        .args(["--format", "json"])
        .env(
            bottle_backends::docker::FAULT_TAKEN_SUBNET_ENV,
            base.to_string(),
        )
        .env("RUST_LOG", "info")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(0) {
        return Err(format!("the run exited {:?}: {stderr}", output.status.code()).into());
    }
    if !stderr.contains("bringing the bottle up on other subnets") {
        return Err(format!("the run did not retry after the clash on {base}/24: {stderr}").into());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("no JSON report: {e}"))?;
    let lan = report["topology"]["lan_network"]["subnet"]
        .as_str()
        .unwrap_or_default();
    if lan.is_empty() || lan == format!("{base}/24") {
        return Err(format!("the LAN network is on {lan:?}, the taken subnet is {base}/24").into());
    }
    let run_id = report["run_id"].as_str().unwrap_or_default();
    if leftovers(run_id)? {
        return Err(format!("{run_id} left objects behind").into());
    }
    Ok(())
}

/// A probe that never finishes is cut off by the exec timeout; the bottle is still torn down.
fn hung_exec_is_cut_off() -> Result<(), Failed> {
    use bottle_harness::run::{self, RunOptions};
    use bottle_harness::select::{AnyBackend, BackendKind};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let options = RunOptions::new(BackendKind::Docker, bottle_harness::BottleConfig::default());
        let run_id = bottle_backends::labels::new_run_id();
        let spec = run::bottle_spec(&options, &run_id).map_err(|e| e.to_string())?;
        let backend = AnyBackend::new(BackendKind::Docker);
        let result = async {
            let bottle = backend.launch(&spec).await.map_err(|e| e.to_string())?;
            let argv = vec![bottle.probe_path.clone(), "idle".to_string()];
            let started = Instant::now();
            let outcome = backend
                .exec_in_agent(&bottle, &argv, Duration::from_millis(800), 4096)
                .await;
            let elapsed = started.elapsed();
            match outcome {
                Err(bottle_backends::BackendError::Timeout { .. })
                    if elapsed < Duration::from_secs(3) =>
                {
                    Ok(())
                }
                other => Err(format!(
                    "expected a timeout within 3 s, got {other:?} after {elapsed:?}"
                )),
            }
        }
        .await;
        backend.teardown(&run_id).await.map_err(|e| e.to_string())?;
        result.map(|()| run_id)
    })
    .and_then(|run_id| {
        if leftovers(&run_id)? {
            return Err(format!("{run_id} left behind"));
        }
        Ok(())
    })
    .map_err(Failed::from)
}

/// A stand-in for the engine's socket that the test can make disappear: every connection is
/// relayed to the real socket until `cut` closes the listener and every relayed connection.
struct EngineProxy {
    path: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl EngineProxy {
    fn start() -> Result<Self, String> {
        use std::os::unix::net::{UnixListener, UnixStream};
        let real = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let path = std::env::temp_dir().join(format!("cb-engine-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let proxy = Self {
            path,
            stop: Default::default(),
            conns: Default::default(),
        };
        let (stop, conns) = (proxy.stop.clone(), proxy.conns.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(upstream) = UnixStream::connect(&real) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), client.try_clone()),
                ];
                if let Ok(mut all) = conns.lock() {
                    all.extend([client, upstream]);
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                }
            }
        });
        Ok(proxy)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine "goes away": no new connections, every open one cut.
    fn cut(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
        if let Ok(all) = self.conns.lock() {
            for conn in all.iter() {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The engine goes away while the probes run: exit 2 naming the phase; the next run (engine
/// back) reaps what was left.
fn engine_lost_mid_run() -> Result<(), Failed> {
    let proxy = EngineProxy::start()?;
    let mut child = trial_run()
        .env("RUST_LOG", "info")
        .env("DOCKER_HOST", proxy.host())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut seen = String::new();
    let mut run_id = None;
    for line in BufReader::new(child.stderr.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        if let Some(id) = run_id_in(&line) {
            run_id = Some(id);
        }
        if line.contains("probing") && !seen.contains("probing") {
            proxy.cut();
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    proxy.cut();
    let code = child.wait().map_err(|e| e.to_string())?.code();
    let run_id = run_id.ok_or_else(|| format!("no run id:\n{seen}"))?;
    if code != Some(2) {
        return Err(format!("exit {code:?} instead of 2:\n{seen}").into());
    }
    if !seen.contains("error: during probe") {
        return Err(format!("the error does not name the phase:\n{seen}").into());
    }
    let next = trial_run()
        .arg("--quiet")
        .output()
        .map_err(|e| e.to_string())?;
    if next.status.code() != Some(0) {
        return Err(format!(
            "the next run failed: {}",
            String::from_utf8_lossy(&next.stderr)
        )
        .into());
    }
    if leftovers(&run_id)? {
        return Err(format!("{run_id} is still there after the next run").into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let availability = runtime().block_on(DockerBackend::new().availability());
    let unavailable = match availability {
        Availability::Available { .. } => None,
        Availability::Unavailable { reason } => {
            eprintln!("faults: docker is unavailable, its trials are ignored: {reason}");
            Some(reason)
        }
    };
    // Without an engine every trial is ignored (shown as skipped) and, run anyway, fails.
    let trial = |name: String, body: fn() -> Result<(), Failed>| {
        let reason = unavailable.clone();
        Trial::test(name, move || match reason {
            Some(reason) => Err(format!("docker unavailable: {reason}").into()),
            None => body(),
        })
        .with_ignored_flag(unavailable.is_some())
    };
    let trials = vec![
        trial("docker::faults::two_runs_at_once".into(), two_runs_at_once),
        trial("docker::faults::sigint_during_prepare".into(), || {
            signal_in_phase("preparing images", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_prepare".into(), || {
            signal_in_phase("preparing images", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_bring_up".into(), || {
            signal_in_phase("bringing up bottle", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_bring_up".into(), || {
            signal_in_phase("bringing up bottle", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_probe".into(), || {
            signal_in_phase("probing", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_probe".into(), || {
            signal_in_phase("probing", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_report".into(), || {
            signal_in_paused_phase("report", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_report".into(), || {
            signal_in_paused_phase("report", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_teardown".into(), || {
            signal_in_paused_phase("teardown", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_teardown".into(), || {
            signal_in_paused_phase("teardown", libc::SIGTERM)
        }),
        trial(
            "docker::faults::killed_run_is_reaped".into(),
            killed_run_is_reaped,
        ),
        trial(
            "docker::faults::two_cleaners_at_once".into(),
            two_cleaners_at_once,
        ),
        trial(
            "docker::faults::hung_exec_is_cut_off".into(),
            hung_exec_is_cut_off,
        ),
        trial(
            "docker::faults::engine_lost_mid_run".into(),
            engine_lost_mid_run,
        ),
        trial(
            "docker::faults::taken_subnet_is_retried".into(),
            taken_subnet_is_retried,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
