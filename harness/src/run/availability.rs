//! Whether the backend can run a bottle here; an unavailable one is the error that exits 3.

use bottle_backends::{Availability, BottleBackend, BottleSpec};

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
/// options' choice, else the engine's, which the backend reports).
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
    spec.engine_host = options.engine_host.unwrap_or(platform.host);
    spec.engine_host_reported = platform.host;
    Ok(spec)
}
