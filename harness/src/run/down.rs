//! `down ID` / `down --all`: remove bottles by id, holding the cleaner marker while it works so
//! that a concurrent run's reaper leaves the bottle to it.

use bottle_backends::BottleBackend;

use super::availability::require_available;
use super::cleaner::cleaner_marker;
use crate::errors::HarnessError;
use crate::select::{AnyBackend, BackendKind};

/// `down ID` / `down --all`: returns the run ids removed.
pub async fn down(kind: BackendKind, run_id: Option<&str>) -> Result<Vec<String>, HarnessError> {
    let backend = AnyBackend::new(kind);
    require_available(&backend).await?;
    let runs = match run_id {
        Some(id) => vec![id.to_string()],
        None => backend.list_runs(false).await?,
    };
    for run in &runs {
        let marker = cleaner_marker(run);
        let _ = std::fs::write(&marker, std::process::id().to_string());
        let removed = backend.teardown(run).await;
        let _ = std::fs::remove_file(&marker);
        let removed = removed?;
        if run_id.is_some() && removed.containers == 0 && removed.networks == 0 {
            return Err(bottle_backends::BackendError::NoSuchBottle(run.clone()).into());
        }
    }
    Ok(runs)
}
