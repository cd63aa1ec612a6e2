//! Errors of the harness library. Each maps to one of the documented exit codes.

use std::path::PathBuf;

use bottle_backends::{Arch, BackendError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HarnessError {
    #[error("cannot read config {path}: {reason}")]
    ConfigRead { path: PathBuf, reason: String },
    /// Includes the offending key: the toml error names unknown fields and their position.
    #[error("invalid config {path}: {reason}")]
    ConfigInvalid { path: PathBuf, reason: String },
    /// A bad setting outside bottle.toml (an environment variable, a flag's value).
    #[error("{0}")]
    BadSetting(String),
    #[error("unknown backend {name:?}; known backends: {known}")]
    UnknownBackend { name: String, known: String },
    #[error("cannot find the {what} binary: {reason}")]
    MissingBinary { what: &'static str, reason: String },
    /// The bottle's architecture is not the engine's, and the engine's kernel (this machine's)
    /// would not run its binaries in a container: refused before anything is created.
    #[error("cannot run {bottle} bottles on this {engine} engine: {missing}; {remedy}")]
    ForeignArch {
        bottle: Arch,
        engine: Arch,
        missing: String,
        remedy: String,
    },
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// The operating system's random source failed (the bottle's secrets are drawn from it).
    #[error("cannot draw the bottle's {what}: {source}")]
    Random {
        what: &'static str,
        #[source]
        source: bottle_probes::errors::RandomError,
    },
    #[error("cannot start the host canaries: {0}")]
    HostCanary(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("interrupted by {0}; the bottle was torn down")]
    Interrupted(&'static str),
    /// A failure during a named phase of a run (prepare, bring-up, probe, teardown).
    #[error("during {phase}: {source}")]
    InPhase {
        phase: &'static str,
        #[source]
        source: Box<HarnessError>,
    },
}

/// Exit codes of `bottle-escape` (documented in the README).
pub mod exit {
    /// Every expectation held.
    pub const OK: i32 = 0;
    /// At least one escape.
    pub const ESCAPE: i32 = 1;
    /// Inconclusive results, an unexpected pass, bad input, or a harness error.
    pub const INCONCLUSIVE_OR_ERROR: i32 = 2;
    /// The requested backend is unavailable here.
    pub const UNAVAILABLE: i32 = 3;
    /// Interrupted (SIGINT/SIGTERM) after cleaning up: 128 + SIGINT, as shells expect.
    pub const INTERRUPTED: i32 = 130;
}

impl HarnessError {
    pub fn exit_code(&self) -> i32 {
        match self {
            HarnessError::Backend(error) if error.is_unavailable() => exit::UNAVAILABLE,
            HarnessError::Interrupted(_) => exit::INTERRUPTED,
            HarnessError::InPhase { source, .. } => source.exit_code(),
            _ => exit::INCONCLUSIVE_OR_ERROR,
        }
    }
}
