//! Every way a backend can fail, each naming the step and the object involved so that the
//! harness can print one line a human can act on.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackendError {
    /// The backend cannot run on this machine (no engine, no hypervisor). Exit code 3.
    #[error("backend {backend} is unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The engine runs on a platform the suite cannot serve (an architecture without in-bottle
    /// binaries), or would not say which. Exit code 2.
    #[error("{backend}: cannot tell or serve the engine's platform: {reason}")]
    Platform {
        backend: &'static str,
        reason: String,
    },
    /// The engine answered with an error while doing `step`.
    #[error("docker engine error while {step}: {source}")]
    Engine {
        step: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A step did not finish in time.
    #[error("{step} did not finish within {seconds:.1} s")]
    Timeout { step: String, seconds: f64 },
    /// A binary the images are built from is missing or unreadable.
    #[error("cannot read {what} at {path}: {reason}")]
    Artifact {
        what: &'static str,
        path: String,
        reason: String,
    },
    /// A binary the images are built from cannot be read.
    #[error("cannot read {what} at {path}: {source} (build the workspace first: cargo build --workspace)")]
    ArtifactUnreadable {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A fixture or bundle container exited or never said it was ready.
    #[error("fixture {name} failed to start: {reason}")]
    FixtureStart { name: String, reason: String },
    /// A user's bundle did not accept connections on a declared port, from the agent's
    /// network, within the readiness bound. Exit code 2.
    #[error("the bundle image {image} never opened port {port} ({addr}) to the agent network within {seconds:.1} s ({last}){state}")]
    BundleNotReady {
        image: String,
        port: u16,
        addr: String,
        seconds: f64,
        /// The last connect error seen.
        last: String,
        /// The bundle's state and last log lines, when it is not running (empty otherwise).
        state: String,
    },
    /// No bottle with this id exists (for `probe --bottle` and `down`).
    #[error("no bottle with id {0:?} on this engine")]
    NoSuchBottle(String),
    /// Every subnet tried overlapped an existing network.
    #[error(
        "could not find a free /24 for the bottle's networks after {attempts} attempts: {last}"
    )]
    NoFreeSubnet { attempts: u32, last: String },
    /// smolvm refused a step; `code` is its stable `--error-format json` code.
    #[error("smolvm failed while {step}: {code}: {message}")]
    Smolvm {
        step: String,
        code: String,
        message: String,
    },
    /// A cached artifact is not what it must be.
    #[error("smolmachines cache {path}: {reason}")]
    Cache { path: String, reason: String },
    /// A file of the smolmachines backend's own (a cached artifact, a machine's state, its
    /// Smolfile) could not be written or read.
    #[error("smolmachines: cannot {step} {path}: {source}")]
    SmolFile {
        path: String,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A program the backend runs on this machine could not be started for `step`.
    #[error("{name}: {step}: cannot run {program}: {source}")]
    Spawn {
        name: String,
        step: String,
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A blocking task the backend ran on its own thread panicked or was cancelled.
    #[error("{step}: the task failed: {source}")]
    Task {
        step: String,
        #[source]
        source: tokio::task::JoinError,
    },
    /// The harness's checker container (see `Layout::checker_ips`) is missing or could not
    /// tell where the engine's host-gateway leads.
    #[error("bottle {run_id}: the checker: {reason}")]
    Checker { run_id: String, reason: String },
    /// A vantage point of the harness's (see `crate::Vantage`) is missing from the bottle.
    #[error("bottle {run_id}: {vantage}: {reason}")]
    Vantage {
        run_id: String,
        vantage: crate::Vantage,
        reason: String,
    },
    /// The topology label on a bottle's bundle is not a layout this harness can read.
    #[error("bottle {run_id}: the topology label is unreadable: {source}")]
    UnreadableLabel {
        run_id: String,
        #[source]
        source: serde_json::Error,
    },
    /// Labels on an object the harness made are missing or do not match the engine.
    #[error("bottle {run_id}: {reason}")]
    Corrupt { run_id: String, reason: String },
}

impl BackendError {
    pub(crate) fn engine(step: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let step = step.into();
        move |source| BackendError::Engine { step, source }
    }

    /// True when the error means "this backend cannot be used here" rather than a failed run.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable { .. })
    }
}
