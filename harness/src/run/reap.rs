//! Reaping: removing bottles whose harness process is gone, before a run brings its own up.

use bottle_backends::BottleBackend;

use super::cleaner::cleaner_alive;
use crate::errors::HarnessError;
use crate::select::AnyBackend;

/// Removes bottles whose harness process is gone (killed runs, or runs whose detached cleaner
/// is still at work). Best effort: a bottle that cannot be removed now is reported and left for
/// the next run; it never fails this one. Returns the run ids removed.
pub(super) async fn reap_stale(backend: &AnyBackend) -> Result<Vec<String>, HarnessError> {
    let stale: Vec<String> = backend
        .list_runs(true)
        .await?
        .into_iter()
        .filter(|run_id| !cleaner_alive(run_id))
        .collect();
    let results =
        futures_util::future::join_all(stale.iter().map(|run_id| backend.teardown(run_id))).await;
    let mut reaped = Vec::new();
    for (run_id, result) in stale.into_iter().zip(results) {
        match result {
            Ok(_) => reaped.push(run_id),
            Err(error) => {
                eprintln!("bottle-escape: could not reap stale bottle {run_id} yet: {error}")
            }
        }
    }
    Ok(reaped)
}
