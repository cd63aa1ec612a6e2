//! The run the fault trials start and how they see what it left: the `bottle-escape run`
//! command with the trials' one probe, the run id read from its log, and the engine asked for
//! objects still labelled with a run id. Shared by every trial module.

use std::process::Command;
use std::time::{Duration, Instant};

use bottle_backends::docker::DockerBackend;
use bottle_backends::BottleBackend;

/// A runtime for the blocking trials' few engine calls.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Run ids with any object left on the engine.
pub(crate) fn leftovers(run_id: &str) -> Result<bool, String> {
    runtime()
        .block_on(DockerBackend::new().list_runs(false))
        .map(|runs| runs.iter().any(|r| r == run_id))
        .map_err(|e| e.to_string())
}

/// The run id a log line names, if it is the bring-up or teardown line of a run.
pub(crate) fn run_id_in(line: &str) -> Option<String> {
    ["bringing up bottle ", "tearing down "]
        .iter()
        .find_map(|marker| line.split(marker).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|id| id.starts_with("cb"))
        .map(str::to_string)
}

/// The probes of the fault trials, which test signal handling and cleanup, not the catalogue:
/// one that holds the probe phase open for a deny timeout (so a signal sent when probing starts
/// lands inside it) and sends no DNS queries (Docker's embedded DNS holds the agent's removal
/// until the queries it forwards time out, up to 4 s). `two_runs_at_once` runs everything.
const TRIAL_PROBES: &str = "inbound.agent_listener";

/// `bottle-escape run` on docker with [`TRIAL_PROBES`], awaiting its teardown.
pub(crate) fn trial_run() -> Command {
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

/// How long a paused-phase trial waits for the run's objects to disappear after it exited.
pub(crate) const GONE_WITHIN: Duration = Duration::from_secs(15);

/// Polls until nothing labelled with `run_id` is left; how long that took.
pub(crate) fn gone_within(run_id: &str, limit: Duration) -> Result<Duration, String> {
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
