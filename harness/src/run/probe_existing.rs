//! `probe --bottle ID`: the probe phase against a bottle left up by `up` or `run --keep`.

use std::time::Instant;

use bottle_backends::BottleBackend;

use super::availability::require_available;
use super::options::RunOptions;
use super::probe_phase::probe_bottle;
use crate::errors::HarnessError;
use crate::report::assemble::Assembly;
use crate::report::{Report, Timings};
use crate::select::AnyBackend;

/// `probe --bottle ID`: the probe phase against a bottle left up by `up`.
pub async fn probe_existing(options: &RunOptions, run_id: &str) -> Result<Report, HarnessError> {
    let backend = AnyBackend::new(options.backend);
    let backend_version = require_available(&backend).await?;
    let bottle = backend.attach(run_id).await?;
    let started = Instant::now();
    let probe = probe_bottle(&backend, &bottle, options).await?;
    Ok(Report::assemble(Assembly {
        backend: backend.name(),
        backend_version,
        run_id: &bottle.run_id,
        topology: &bottle.topology,
        kept: true,
        known_gaps: probe.known_gaps,
        bundle: probe.bundle,
        results: probe.results,
        timings: Timings {
            total_ms: started.elapsed().as_millis() as u64,
            ..probe.timings
        },
    }))
}
