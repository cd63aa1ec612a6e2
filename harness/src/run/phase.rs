//! The phases of a run, named once: the progress lines say which phase a run is in, the fault
//! hook pauses at the start of one (by the name below), and an error says which phase it
//! happened in (`during <name>`; `HarnessError::InPhase` carries the name, as `errors` sits
//! below `run` and must not depend on it).

use std::fmt;

/// A phase of a run, in the order a run goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Removing bottles of earlier runs whose harness process is gone.
    Reap,
    /// Preparing the images.
    Prepare,
    /// Bringing the bottle up.
    BringUp,
    /// The probe exec inside the agent.
    Probe,
    /// Liveness checks, records, verdicts: from the end of the exec to the report.
    Report,
    /// Removing the bottle.
    Teardown,
}

impl Phase {
    /// The phase's name: in error messages, and what the fault hook's variable names.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Reap => "reaping stale bottles",
            Phase::Prepare => "prepare",
            Phase::BringUp => "bring-up",
            Phase::Probe => "probe",
            Phase::Report => "report",
            Phase::Teardown => "teardown",
        }
    }

    /// What a progress line says while the run is in this phase.
    pub(crate) fn doing(self) -> &'static str {
        match self {
            Phase::Reap => "reaping stale bottles",
            Phase::Prepare => "preparing images",
            Phase::BringUp => "bringing up bottle",
            Phase::Probe => "probing",
            Phase::Report => "reporting",
            Phase::Teardown => "tearing down",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A progress line: always traced, and printed on stderr when `enabled`.
pub(crate) fn progress(enabled: bool, message: &str) {
    tracing::info!("{message}");
    if enabled {
        eprintln!("bottle-escape: {message}");
    }
}
