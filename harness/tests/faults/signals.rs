//! The signal trials: SIGINT or SIGTERM sent to `bottle-escape run` in each phase must end it
//! with exit 130 and leave nothing labelled with its run id. Prepare, bring-up and probe are hit
//! on seeing their log line; report and teardown are held open by the fault hook and the trial
//! proves the signal landed inside the pause. Also the interrupt the killed-run trial reuses.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;

use crate::run::{gone_within, leftovers, run_id_in, trial_run, GONE_WITHIN};

/// Starts a run, waits until its stderr (tracing) shows `phase`, sends `signal`; returns the run
/// id, the exit code and the stderr seen.
pub(crate) fn interrupt_at(
    phase: &str,
    signal: i32,
) -> Result<(String, Option<i32>, String), String> {
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

/// Interrupts a run with `signal` on seeing `phase` in its log: exit 130 and nothing left.
pub(crate) fn signal_in_phase(phase: &'static str, signal: i32) -> Result<(), Failed> {
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

/// How long the paused-phase trials hold the phase open: far longer than the interrupt's own
/// teardown (a label sweep, then sweeps every 300 ms until two checks find nothing: 2-5 s on a
/// loaded machine, measured up to 5.2 s), so a run that exits before the pause would have ended
/// was cut off inside it. The hook caps a pause at 10 s.
const PAUSE_MS: u64 = 10_000;

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "another signal",
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
pub(crate) fn signal_in_paused_phase(phase: &'static str, signal: i32) -> Result<(), Failed> {
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
