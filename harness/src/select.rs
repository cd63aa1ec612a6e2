//! Which backends a run uses: `--backend` on the command line, else `CLAUDE_BOTTLE_BACKEND`
//! (a comma list), else docker. [`AnyBackend`] dispatches over the closed set of backends.

use std::time::Duration;

use bottle_backends::docker::DockerBackend;
use bottle_backends::smolmachines::SmolBackend;
use bottle_backends::{
    Availability, BackendError, Bottle, BottleBackend, BottleSpec, ExecOutput, TeardownReport,
};
use bottle_backends::{BundleHealth, EnginePlatform, Vantage};
use bottle_fixtures::records::RecordLog;

use crate::errors::HarnessError;

pub const BACKEND_ENV: &str = "CLAUDE_BOTTLE_BACKEND";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackendKind {
    Docker,
    Smolmachines,
}

impl BackendKind {
    pub const ALL: [BackendKind; 2] = [BackendKind::Docker, BackendKind::Smolmachines];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Smolmachines => "smolmachines",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self, HarnessError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name.trim())
            .ok_or_else(|| HarnessError::UnknownBackend {
                name: name.trim().to_string(),
                known: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

/// Parses a comma list of backend names, keeping order and dropping repeats.
pub fn parse_list(list: &str) -> Result<Vec<BackendKind>, HarnessError> {
    let mut kinds = Vec::new();
    for name in list.split(',').filter(|n| !n.trim().is_empty()) {
        let kind = BackendKind::parse(name)?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// The backends to use: the explicit list if given, else the environment, else docker.
/// When smolmachines is among them, its mode (`CLAUDE_BOTTLE_SMOLVM_MODE`) must name one.
pub fn choose(explicit: Option<&str>) -> Result<Vec<BackendKind>, HarnessError> {
    let from_env = std::env::var(BACKEND_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let kinds = match explicit.map(str::to_string).or(from_env) {
        Some(list) => parse_list(&list)?,
        None => vec![],
    };
    let kinds = if kinds.is_empty() {
        vec![BackendKind::Docker]
    } else {
        kinds
    };
    if kinds.contains(&BackendKind::Smolmachines) {
        bottle_backends::smolmachines::smolfile::Mode::chosen()
            .map_err(HarnessError::BadSetting)?;
    }
    Ok(kinds)
}

/// A backend of any kind.
pub enum AnyBackend {
    Docker(DockerBackend),
    Smolmachines(SmolBackend),
}

impl AnyBackend {
    pub fn new(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Docker => AnyBackend::Docker(DockerBackend::new()),
            BackendKind::Smolmachines => AnyBackend::Smolmachines(SmolBackend::new()),
        }
    }
}

impl BottleBackend for AnyBackend {
    fn name(&self) -> &'static str {
        match self {
            AnyBackend::Docker(b) => b.name(),
            AnyBackend::Smolmachines(b) => b.name(),
        }
    }

    async fn availability(&self) -> Availability {
        match self {
            AnyBackend::Docker(b) => b.availability().await,
            AnyBackend::Smolmachines(b) => b.availability().await,
        }
    }

    async fn platform(&self) -> Result<EnginePlatform, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.platform().await,
            AnyBackend::Smolmachines(b) => b.platform().await,
        }
    }

    async fn prepare(&self, spec: &BottleSpec) -> Result<(), BackendError> {
        match self {
            AnyBackend::Docker(b) => b.prepare(spec).await,
            AnyBackend::Smolmachines(b) => b.prepare(spec).await,
        }
    }

    async fn launch(&self, spec: &BottleSpec) -> Result<Bottle, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.launch(spec).await,
            AnyBackend::Smolmachines(b) => b.launch(spec).await,
        }
    }

    async fn attach(&self, run_id: &str) -> Result<Bottle, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.attach(run_id).await,
            AnyBackend::Smolmachines(b) => b.attach(run_id).await,
        }
    }

    async fn exec_in_agent(
        &self,
        bottle: &Bottle,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.exec_in_agent(bottle, argv, timeout, max_output).await,
            AnyBackend::Smolmachines(b) => b.exec_in_agent(bottle, argv, timeout, max_output).await,
        }
    }

    async fn exec_from(
        &self,
        bottle: &Bottle,
        vantage: Vantage,
        probe_args: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        match self {
            AnyBackend::Docker(b) => {
                b.exec_from(bottle, vantage, probe_args, timeout, max_output)
                    .await
            }
            AnyBackend::Smolmachines(b) => {
                b.exec_from(bottle, vantage, probe_args, timeout, max_output)
                    .await
            }
        }
    }

    async fn fixture_records(&self, bottle: &Bottle) -> Result<RecordLog, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.fixture_records(bottle).await,
            AnyBackend::Smolmachines(b) => b.fixture_records(bottle).await,
        }
    }

    async fn bundle_health(&self, bottle: &Bottle) -> Result<BundleHealth, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.bundle_health(bottle).await,
            AnyBackend::Smolmachines(b) => b.bundle_health(bottle).await,
        }
    }

    async fn teardown(&self, run_id: &str) -> Result<TeardownReport, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.teardown(run_id).await,
            AnyBackend::Smolmachines(b) => b.teardown(run_id).await,
        }
    }

    async fn forget_images(&self, spec: &BottleSpec) -> Result<usize, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.forget_images(spec).await,
            AnyBackend::Smolmachines(b) => b.forget_images(spec).await,
        }
    }

    async fn list_runs(&self, only_stale: bool) -> Result<Vec<String>, BackendError> {
        match self {
            AnyBackend::Docker(b) => b.list_runs(only_stale).await,
            AnyBackend::Smolmachines(b) => b.list_runs(only_stale).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_without_repeats() {
        assert_eq!(
            parse_list("smolmachines, docker,docker").unwrap(),
            [BackendKind::Smolmachines, BackendKind::Docker]
        );
        assert!(parse_list("docker,podman")
            .unwrap_err()
            .to_string()
            .contains("podman"));
        assert_eq!(choose(Some("docker")).unwrap(), [BackendKind::Docker]);
    }
}
