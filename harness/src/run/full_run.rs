//! `run`: one run of the escape suite. Reap stale bottles, prepare images, bring the bottle up,
//! run the probe phase, report, tear down. Teardown happens on success, on error, on
//! SIGINT/SIGTERM (the run future is dropped and the bottle removed by its label) and on panic
//! (a drop guard).

use std::time::Instant;

use bottle_backends::labels::new_run_id;
use bottle_backends::{Bottle, BottleBackend};

use super::availability::{require_available, spec_for_engine};
use super::cleaner::spawn_cleaner;
use super::guard::TeardownGuard;
use super::interrupt::{interrupted, teardown_after_interrupt};
use super::options::RunOptions;
use super::phase::{progress, Phase};
use super::probe_phase::probe_bottle;
use super::reap::reap_stale;
use crate::errors::HarnessError;
use crate::report::assemble::Assembly;
use crate::report::{Report, Timings};
use crate::select::AnyBackend;

/// `run`: up, probe, down, report. Interrupts tear down and return `Interrupted`.
pub async fn run(options: &RunOptions) -> Result<Report, HarnessError> {
    let run_id = new_run_id();
    let backend = AnyBackend::new(options.backend);
    let mut guard = TeardownGuard {
        kind: options.backend,
        run_id: run_id.clone(),
        armed: !options.keep,
    };
    let result = tokio::select! {
        result = run_inner(&backend, options, &run_id) => result,
        signal = interrupted() => {
            progress(true, &format!("{signal}: {} {run_id}", Phase::Teardown.doing()));
            teardown_after_interrupt(&backend, &run_id).await;
            Err(HarnessError::Interrupted(signal))
        }
    };
    guard.armed = false;
    result
}

/// A bottle that is up, and what bringing it up took.
struct BroughtUp {
    bottle: Bottle,
    backend_version: String,
    prepare_ms: u64,
    bring_up_ms: u64,
}

async fn run_inner(
    backend: &AnyBackend,
    options: &RunOptions,
    run_id: &str,
) -> Result<Report, HarnessError> {
    let started = Instant::now();
    let up = bring_up(backend, options, run_id).await?;
    let outcome = probe_bottle(backend, &up.bottle, options)
        .await
        .map_err(in_phase(Phase::Probe))
        .map(|probe| {
            Report::assemble(Assembly {
                backend: backend.name(),
                backend_version: up.backend_version.clone(),
                run_id: &up.bottle.run_id,
                topology: &up.bottle.topology,
                kept: options.keep,
                known_gaps: probe.known_gaps,
                bundle: probe.bundle,
                results: probe.results,
                timings: Timings {
                    prepare_ms: up.prepare_ms,
                    bring_up_ms: up.bring_up_ms,
                    ..probe.timings
                },
            })
        });
    if let (Ok(report), Some(hook)) = (&outcome, &options.on_report) {
        (hook.0)(report);
    }
    let teardown_started = Instant::now();
    let teardown_result = tear_down(backend, options, run_id).await;
    let teardown_ms = teardown_started.elapsed().as_millis() as u64;
    // The probe's failure is the one to report; a failed teardown after it is secondary (the
    // next run reaps what is left).
    let mut report = outcome?;
    teardown_result?;
    report.add_teardown_timings(teardown_ms, started.elapsed().as_millis() as u64);
    Ok(report)
}

/// Checks the backend, reaps stale bottles, prepares the images and brings the bottle up. A
/// bottle whose bring-up failed is torn down here.
async fn bring_up(
    backend: &AnyBackend,
    options: &RunOptions,
    run_id: &str,
) -> Result<BroughtUp, HarnessError> {
    let show = options.progress;
    bottle_backends::trace::step("run: checking the backend");
    let backend_version = require_available(backend).await?;
    bottle_backends::trace::step("run: reaping stale bottles");
    let reaped = reap_stale(backend).await.map_err(in_phase(Phase::Reap))?;
    if !reaped.is_empty() {
        progress(
            true,
            &format!("reaped stale bottles: {}", reaped.join(", ")),
        );
    }
    let spec = spec_for_engine(backend, options, run_id).await?;
    progress(show, Phase::Prepare.doing());
    bottle_backends::trace::step("run: preparing images");
    let prepare_started = Instant::now();
    backend
        .prepare(&spec)
        .await
        .map_err(|e| in_phase(Phase::Prepare)(e.into()))?;
    let prepare_ms = prepare_started.elapsed().as_millis() as u64;
    progress(show, &format!("{} {run_id}", Phase::BringUp.doing()));
    let up_started = Instant::now();
    let bottle = match backend.launch(&spec).await {
        Ok(bottle) => bottle,
        Err(error) => {
            let _ = backend.teardown(run_id).await;
            return Err(in_phase(Phase::BringUp)(error.into()));
        }
    };
    Ok(BroughtUp {
        bottle,
        backend_version,
        prepare_ms,
        bring_up_ms: up_started.elapsed().as_millis() as u64,
    })
}

/// The teardown at the end of a run: handed to a detached cleaner when asked (and possible),
/// awaited otherwise, skipped for a kept bottle.
async fn tear_down(
    backend: &AnyBackend,
    options: &RunOptions,
    run_id: &str,
) -> Result<(), HarnessError> {
    let show = options.progress;
    super::fault_hook::pause_at(Phase::Teardown).await;
    if !options.keep && options.detach_teardown && spawn_cleaner(options.backend, run_id) {
        progress(
            show,
            &format!("teardown of {run_id} continues in the background"),
        );
        Ok(())
    } else if !options.keep {
        progress(show, Phase::Teardown.doing());
        backend
            .teardown(run_id)
            .await
            .map(|_| ())
            .map_err(|e| in_phase(Phase::Teardown)(e.into()))
    } else {
        progress(
            true,
            &format!("kept bottle {run_id}; remove it with `bottle-escape down {run_id}`"),
        );
        Ok(())
    }
}

/// Wraps an error with the phase it happened in (exit codes are kept).
fn in_phase(phase: Phase) -> impl Fn(HarnessError) -> HarnessError {
    move |error| match error {
        // Unavailability and interrupts keep their own meaning and exit codes.
        HarnessError::Backend(ref e) if e.is_unavailable() => error,
        HarnessError::Interrupted(_) | HarnessError::InPhase { .. } => error,
        other => HarnessError::InPhase {
            phase: phase.name(),
            source: Box::new(other),
        },
    }
}
