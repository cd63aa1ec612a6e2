//! Labels put on every Docker object the harness creates, and run ids.
//!
//! `claude-bottle.run=<run id>` is the contract with the user ("everything we made carries this
//! label"); the others let a later run decide whether a leftover bottle is stale.

use std::collections::HashMap;

/// The run id of the bottle the object belongs to.
pub(crate) const RUN: &str = "claude-bottle.run";
/// The pid of the harness process that made the object.
pub(crate) const PID: &str = "claude-bottle.pid";
/// The host name of the machine that made the object (a pid is only meaningful there).
pub(crate) const HOST: &str = "claude-bottle.host";
/// Present (`1`) when the user asked to keep the bottle (`--keep`, `up`): never reaped.
pub(crate) const KEEP: &str = "claude-bottle.keep";
/// The container's role in the bottle: bundle, public, lan, neighbour, agent
/// (`docker::roles::ContainerRole`).
pub(crate) const ROLE: &str = "claude-bottle.role";
/// The bottle's topology as JSON, on the bundle container, so `probe --bottle ID` can find it.
pub(crate) const TOPOLOGY: &str = "claude-bottle.topology";
/// On cached images built by the harness (not tied to a run; kept between runs).
pub(crate) const CACHE: &str = "claude-bottle.cache";

/// A fresh run id: `cb` + 10 hex digits, short enough for object names.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 5];
    fill_random(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("cb{hex}")
}

/// Fills `buf` from the operating system's random source; panics when it fails rather than
/// fall back to a guessable value (run ids and subnets pick from it; see `bottle_probes::sys::random`).
pub fn fill_random(buf: &mut [u8]) {
    bottle_probes::sys::random::must_fill(buf);
}

/// This machine's host name, for the `claude-bottle.host` label (`gethostname`, so that it is
/// right on macOS too, where there is no `/proc`: reaping compares it with a bottle's label).
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "unknown".to_string(),
    }
}

/// The labels every object of run `run_id` carries.
pub(crate) fn run_labels(run_id: &str, keep: bool) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (RUN.to_string(), run_id.to_string()),
        (PID.to_string(), std::process::id().to_string()),
        (HOST.to_string(), host_name()),
    ]);
    if keep {
        labels.insert(KEEP.to_string(), "1".to_string());
    }
    labels
}

/// Whether a process with this pid is alive on this machine.
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let result = unsafe { libc::kill(pid as libc::pid_t, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a bottle with these labels is stale: made on this machine by a process that is gone,
/// and not kept on purpose. Objects from other machines (a shared engine) are left alone.
pub(crate) fn is_stale(labels: &HashMap<String, String>) -> bool {
    if labels.contains_key(KEEP) {
        return false;
    }
    if labels.get(HOST).map(String::as_str) != Some(host_name().as_str()) {
        return false;
    }
    match labels.get(PID).and_then(|pid| pid.parse::<u32>().ok()) {
        Some(pid) => pid != std::process::id() && !pid_alive(pid),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_distinct_and_name_safe() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn staleness_follows_pid_host_and_keep() {
        let mut labels = run_labels("cbx", false);
        assert!(!is_stale(&labels), "our own process is alive");
        labels.insert(PID.to_string(), "999999999".to_string());
        assert!(is_stale(&labels), "a dead pid on this host is stale");
        labels.insert(KEEP.to_string(), "1".to_string());
        assert!(!is_stale(&labels), "kept bottles are never reaped");
        labels.remove(KEEP);
        labels.insert(HOST.to_string(), "another-machine".to_string());
        assert!(!is_stale(&labels), "other machines' bottles are left alone");
    }
}
