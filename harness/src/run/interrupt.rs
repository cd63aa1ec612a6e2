//! SIGINT and SIGTERM: waiting for one, and the teardown an interrupted run owes, which sweeps
//! again for objects whose create was already in flight.

use std::time::{Duration, Instant};

use bottle_backends::BottleBackend;

use crate::select::AnyBackend;

/// How long an interrupted run keeps sweeping for objects whose create was in flight.
const INTERRUPT_SWEEP_FOR: Duration = Duration::from_secs(5);

/// Waits for SIGINT or SIGTERM; names the signal.
pub(super) async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Tears an interrupted run down. Creates already sent to the engine land after the sweep on a
/// loaded machine: sweep again until two checks in a row find nothing (bounded).
pub(super) async fn teardown_after_interrupt(backend: &AnyBackend, run_id: &str) {
    let _ = backend.teardown(run_id).await;
    let deadline = Instant::now() + INTERRUPT_SWEEP_FOR;
    let mut quiet = 0;
    while quiet < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let left = backend
            .list_runs(false)
            .await
            .map(|runs| runs.iter().any(|r| r == run_id))
            .unwrap_or(true);
        if left {
            let _ = backend.teardown(run_id).await;
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
}
