//! Whether the backend can run a bottle here; an unavailable one is the error that exits 3.

use bottle_backends::{Availability, BottleBackend, BottleSpec, EngineHost};

use super::emulation;
use super::options::{bottle_arch, bottle_spec_for, RunOptions};

use crate::errors::HarnessError;
use crate::select::AnyBackend;

/// Checks availability; `Unavailable` becomes the error that exits 3.
pub(crate) async fn require_available(backend: &AnyBackend) -> Result<String, HarnessError> {
    match backend.availability().await {
        Availability::Available { version } => Ok(version),
        Availability::Unavailable { reason } => Err(HarnessError::Backend(
            bottle_backends::BackendError::Unavailable {
                backend: backend.name(),
                reason,
            },
        )),
    }
}

/// The bottle spec for this engine: the in-bottle binaries of the bottle's architecture (the
/// options' choice, else the engine's, which the backend reports). A bottle of another
/// architecture that this machine's kernel would not run is refused here, before anything is
/// created (see `emulation`).
pub(crate) async fn spec_for_engine(
    backend: &AnyBackend,
    options: &RunOptions,
    run_id: &str,
) -> Result<BottleSpec, HarnessError> {
    let platform = backend.platform().await?;
    let arch = bottle_arch(options, &platform);
    bottle_backends::trace::step(&format!(
        "run: {arch} bottle on a {} engine ({:?})",
        platform.arch, platform.host
    ));
    let mut spec = bottle_spec_for(options, run_id, arch)?;
    emulation::require_runnable(
        arch,
        platform.arch,
        &[&spec.probe_binary, &spec.fixture_binary],
        emulation::engine_binfmt(platform.host, cfg!(target_os = "linux")),
    )?;
    spec.engine_host = engine_host(options.engine_host, platform.host)?;
    spec.engine_host_reported = platform.host;
    Ok(spec)
}

/// Where the run treats the engine as running: the override (`--engine-host`), else what the
/// engine reported. An engine that reports Docker Desktop is never treated as local: this
/// machine's checks would then go to bridge addresses it cannot route to, and leave by its
/// default route to a network that is not the harness's.
pub(crate) fn engine_host(
    requested: Option<EngineHost>,
    reported: EngineHost,
) -> Result<EngineHost, HarnessError> {
    match (requested, reported) {
        (Some(EngineHost::Local), EngineHost::DockerDesktop) => Err(HarnessError::BadSetting(
            "--engine-host local on an engine that reports Docker Desktop: this machine cannot route to its bridges, so the harness will not send its checks there".into(),
        )),
        (Some(requested), _) => Ok(requested),
        (None, reported) => Ok(reported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_desktop_is_never_treated_as_local() {
        use EngineHost::{DockerDesktop, Local};
        assert_eq!(engine_host(None, Local).unwrap(), Local);
        assert_eq!(engine_host(None, DockerDesktop).unwrap(), DockerDesktop);
        assert_eq!(
            engine_host(Some(DockerDesktop), Local).unwrap(),
            DockerDesktop
        );
        assert_eq!(
            engine_host(Some(DockerDesktop), DockerDesktop).unwrap(),
            DockerDesktop
        );
        assert_eq!(engine_host(Some(Local), Local).unwrap(), Local);
        let refused = engine_host(Some(Local), DockerDesktop)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("Docker Desktop"), "{refused}");
    }
}
