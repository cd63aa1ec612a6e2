//! The killed-run trial: a run killed outright (SIGKILL, no teardown of its own) leaves its
//! bottle behind, and the next run reaps it.

use libtest_mimic::Failed;

use crate::run::{leftovers, trial_run};
use crate::signals::interrupt_at;

/// A run SIGKILLed while probing; once the next run has started its bottle must be gone.
pub(crate) fn killed_run_is_reaped() -> Result<(), Failed> {
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
