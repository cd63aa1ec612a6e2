//! The detached cleaner: a `bottle-escape down RUN_ID` process that removes a bottle after the
//! verdict, and the marker file it keeps meanwhile so that reapers leave that bottle to it.

use std::path::PathBuf;

use crate::select::BackendKind;

/// The marker a `down` process keeps while it removes a bottle, so reapers leave that bottle to it.
pub(super) fn cleaner_marker(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("claude-bottle-down-{run_id}.pid"))
}

/// Whether a live `down` process is already removing this bottle.
pub(super) fn cleaner_alive(run_id: &str) -> bool {
    std::fs::read_to_string(cleaner_marker(run_id))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(bottle_backends::labels::pid_alive)
}

/// Starts `bottle-escape down RUN_ID` in its own process group, detached from this one.
/// Returns false when it could not be started (the caller then tears down itself).
pub(super) fn spawn_cleaner(kind: BackendKind, run_id: &str) -> bool {
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
