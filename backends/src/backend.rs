//! The trait every backend implements. Native `async fn` in a trait: the harness dispatches over
//! a closed set of backends with an enum, so the trait never needs to be object-safe.

use std::time::Duration;

use bottle_fixtures::records::RecordLog;
use serde::Serialize;

use crate::bundle_health::BundleHealth;
use crate::errors::BackendError;
use crate::platform::EnginePlatform;
use crate::spec::BottleSpec;
use crate::topology::Bottle;
use crate::vantage::Vantage;

/// Whether a backend can run here, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Availability {
    Available {
        /// Engine and tool versions, for reports.
        version: String,
    },
    Unavailable {
        reason: String,
    },
}

/// What an exec inside the agent produced. Output is capped; `truncated` says it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
    pub elapsed: Duration,
}

/// What teardown removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TeardownReport {
    pub containers: usize,
    pub networks: usize,
}

#[allow(async_fn_in_trait)]
pub trait BottleBackend {
    /// `docker`, `smolmachines`.
    fn name(&self) -> &'static str;

    /// A cheap check whether the backend can run here.
    async fn availability(&self) -> Availability;

    /// The architecture bottles run on here and where the engine sits relative to this machine
    /// (the in-bottle binaries are chosen by it). Needs an available backend.
    async fn platform(&self) -> Result<EnginePlatform, BackendError>;

    /// Builds or finds the images the bottle needs (cached by content).
    async fn prepare(&self, spec: &BottleSpec) -> Result<(), BackendError>;

    /// Brings the bottle up: networks, bundle, fixtures, agent. On error, whatever was created
    /// is still labelled and `teardown(run_id)` removes it.
    async fn launch(&self, spec: &BottleSpec) -> Result<Bottle, BackendError>;

    /// Finds a running bottle by run id.
    async fn attach(&self, run_id: &str) -> Result<Bottle, BackendError>;

    /// Runs `argv` inside the agent with a hard timeout and an output cap.
    async fn exec_in_agent(
        &self,
        bottle: &Bottle,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError>;

    /// Runs the suite's probe binary with `probe_args` at `vantage`, a place of the harness's
    /// own in the bottle (its checker, where the bottle has one; its recorder in the bundle's
    /// namespace), with the same bounds as an exec in the agent. A bottle without that place
    /// is an error ([`BackendError::Vantage`]), never a silent success.
    async fn exec_from(
        &self,
        bottle: &Bottle,
        vantage: Vantage,
        probe_args: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError>;

    /// Everything the bottle's fixture hosts recorded so far, and every `CB-SEEN` line that
    /// could not be read (the verdict turns those into inconclusive results, never silence).
    async fn fixture_records(&self, bottle: &Bottle) -> Result<RecordLog, BackendError>;

    /// The bundle's state now (after the probes): whether it still runs, how often it restarted,
    /// and when it did not survive its last log lines.
    async fn bundle_health(&self, bottle: &Bottle) -> Result<BundleHealth, BackendError>;

    /// Removes every object labelled with `run_id`.
    async fn teardown(&self, run_id: &str) -> Result<TeardownReport, BackendError>;

    /// Removes the images `prepare` would reuse, so the next `prepare` starts cold (benchmarks).
    /// Returns how many were removed.
    async fn forget_images(&self, spec: &BottleSpec) -> Result<usize, BackendError>;

    /// Run ids of bottles on this engine (all of them, or only stale ones).
    async fn list_runs(&self, only_stale: bool) -> Result<Vec<String>, BackendError>;
}
