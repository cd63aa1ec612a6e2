//! `up`: bring a bottle up and leave it running (for `probe --bottle ID` and `down ID`).

use bottle_backends::labels::new_run_id;
use bottle_backends::{Bottle, BottleBackend};

use super::availability::{require_available, spec_for_engine};
use super::interrupt::interrupted;
use super::options::RunOptions;
use super::reap::reap_stale;
use crate::errors::HarnessError;
use crate::select::AnyBackend;

/// `up`: brings a bottle up and leaves it running; returns it.
pub async fn up(options: &RunOptions) -> Result<Bottle, HarnessError> {
    let backend = AnyBackend::new(options.backend);
    require_available(&backend).await?;
    reap_stale(&backend).await?;
    let run_id = new_run_id();
    let mut spec = spec_for_engine(&backend, options, &run_id).await?;
    spec.keep = true;
    let launched = tokio::select! {
        launched = backend.launch(&spec) => launched,
        signal = interrupted() => {
            let _ = backend.teardown(&run_id).await;
            return Err(HarnessError::Interrupted(signal));
        }
    };
    match launched {
        Ok(bottle) => Ok(bottle),
        Err(error) => {
            let _ = backend.teardown(&run_id).await;
            Err(error.into())
        }
    }
}
