//! The connection to the engine and the `BottleBackend` implementation, which delegates each
//! step to its own module.

use std::time::Duration;

use bollard::Docker;
use bottle_fixtures::records::RecordLog;
use tokio::sync::OnceCell;

use crate::backend::{Availability, BottleBackend, ExecOutput, TeardownReport};
use crate::bundle_health::BundleHealth;
use crate::errors::BackendError;
use crate::platform::EnginePlatform;
use crate::spec::BottleSpec;
use crate::topology::Bottle;
use crate::vantage::Vantage;

/// How long the first contact with the engine may take before the backend counts as
/// unavailable. A missing socket fails at once; a hung engine must not hang the harness.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The docker backend. Connects lazily: listing the catalogue never needs an engine.
#[derive(Default)]
pub struct DockerBackend {
    docker: OnceCell<Result<(Docker, String), String>>,
    /// The images found or built by the last `prepare`, for the spec they were made for, so
    /// that `launch` does not read and hash the binaries a second time.
    prepared: std::sync::Mutex<Option<(BottleSpec, super::images::Images)>>,
    /// The engine's architecture and kind, read once from `GET /info`.
    platform: OnceCell<Result<EnginePlatform, String>>,
}

impl DockerBackend {
    pub fn new() -> Self {
        Self::default()
    }

    async fn connect() -> Result<(Docker, String), String> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let docker = Docker::connect_with_defaults()
            .map_err(|e| format!("cannot connect to the Docker engine at {host}: {e}"))?;
        let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let docker = docker.negotiate_version().await?;
            let version = docker.version().await?;
            Ok::<_, bollard::errors::Error>((docker, version))
        })
        .await
        .map_err(|_| {
            format!(
                "the Docker engine at {host} did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("the Docker engine at {host} is not usable: {e}"))?;
        let (docker, version) = negotiated;
        let description = format!(
            "docker engine {} (API {})",
            version.version.unwrap_or_else(|| "unknown".into()),
            version.api_version.unwrap_or_else(|| "unknown".into())
        );
        Ok((docker, description))
    }

    /// The images for `spec`: those of the last `prepare` when made for the same binaries and
    /// still on the engine, else found or built now.
    pub(crate) async fn prepared_images(
        &self,
        spec: &BottleSpec,
    ) -> Result<super::images::Images, BackendError> {
        let docker = self.client().await?;
        let same_inputs = |earlier: &BottleSpec| {
            earlier.agent == spec.agent
                && earlier.bundle == spec.bundle
                && earlier.fixture_binary == spec.fixture_binary
                && earlier.probe_binary == spec.probe_binary
        };
        let cached = self.prepared.lock().ok().and_then(|memo| {
            memo.as_ref()
                .filter(|(s, _)| same_inputs(s))
                .map(|(_, i)| i.clone())
        });
        if let Some(images) = cached {
            if super::images::all_exist(docker, &images).await? {
                return Ok(images);
            }
        }
        let images = super::images::prepare(docker, spec).await?;
        if let Ok(mut memo) = self.prepared.lock() {
            *memo = Some((spec.clone(), images.clone()));
        }
        Ok(images)
    }

    /// Reads the platform from the engine's `GET /info` (bounded like the first contact).
    async fn read_platform(&self) -> Result<EnginePlatform, String> {
        let docker = self.client().await.map_err(|e| e.to_string())?;
        let info = tokio::time::timeout(CONNECT_TIMEOUT, docker.info())
            .await
            .map_err(|_| {
                format!(
                    "the Docker engine did not answer GET /info within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("the Docker engine refused GET /info: {e}"))?;
        EnginePlatform::from_info(
            info.architecture.as_deref(),
            info.operating_system.as_deref(),
        )
    }

    /// The connected client, or `Unavailable` with the reason.
    pub(crate) async fn client(&self) -> Result<&Docker, BackendError> {
        match self.docker.get_or_init(Self::connect).await {
            Ok((docker, _)) => Ok(docker),
            Err(reason) => Err(BackendError::Unavailable {
                backend: "docker",
                reason: reason.clone(),
            }),
        }
    }
}

impl BottleBackend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn availability(&self) -> Availability {
        match self.docker.get_or_init(Self::connect).await {
            Ok((_, version)) => Availability::Available {
                version: version.clone(),
            },
            Err(reason) => Availability::Unavailable {
                reason: reason.clone(),
            },
        }
    }

    async fn platform(&self) -> Result<EnginePlatform, BackendError> {
        self.platform
            .get_or_init(|| self.read_platform())
            .await
            .clone()
            .map_err(|reason| BackendError::Platform {
                backend: "docker",
                reason,
            })
    }

    async fn prepare(&self, spec: &BottleSpec) -> Result<(), BackendError> {
        self.prepared_images(spec).await.map(|_| ())
    }

    async fn launch(&self, spec: &BottleSpec) -> Result<Bottle, BackendError> {
        let images = self.prepared_images(spec).await?;
        let docker = self.client().await?;
        super::bring_up::launch(
            docker,
            spec,
            &images,
            super::placement::AgentPlacement::Container,
        )
        .await
    }

    async fn attach(&self, run_id: &str) -> Result<Bottle, BackendError> {
        let docker = self.client().await?;
        super::attach::attach(docker, run_id, &super::placement::AgentPlacement::Container).await
    }

    async fn exec_in_agent(
        &self,
        bottle: &Bottle,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        let docker = self.client().await?;
        super::exec::exec(docker, &bottle.agent_ref, argv, timeout, max_output).await
    }

    async fn exec_from(
        &self,
        bottle: &Bottle,
        vantage: Vantage,
        probe_args: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        let docker = self.client().await?;
        super::vantage::exec_from(docker, bottle, vantage, probe_args, timeout, max_output).await
    }

    async fn fixture_records(&self, bottle: &Bottle) -> Result<RecordLog, BackendError> {
        let docker = self.client().await?;
        super::records::collect(docker, bottle).await
    }

    async fn bundle_health(&self, bottle: &Bottle) -> Result<BundleHealth, BackendError> {
        let docker = self.client().await?;
        super::bundle_state::bundle_health(docker, &bottle.run_id).await
    }

    async fn teardown(&self, run_id: &str) -> Result<TeardownReport, BackendError> {
        let docker = self.client().await?;
        super::cleanup::teardown(docker, run_id).await
    }

    async fn forget_images(&self, spec: &BottleSpec) -> Result<usize, BackendError> {
        let docker = self.client().await?;
        if let Ok(mut memo) = self.prepared.lock() {
            *memo = None;
        }
        super::images::forget(docker, spec).await
    }

    async fn list_runs(&self, only_stale: bool) -> Result<Vec<String>, BackendError> {
        let docker = self.client().await?;
        super::cleanup::list_runs(docker, only_stale).await
    }
}
