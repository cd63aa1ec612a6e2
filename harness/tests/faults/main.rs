//! Faults: SIGINT and SIGTERM in each phase of `bottle-escape run` leave nothing behind and exit
//! 130; a bottle left by a killed run is reaped by the next run. A `harness = false` target so
//! that, without a Docker engine, its trials show as ignored with the reason instead of failing.
//!
//! Prepare, bring-up and probe last long enough to be hit by a signal sent on seeing their log
//! line. Report (~60 ms) and teardown are held open by the fault hook
//! (`bottle_harness::fault_hook`, `CLAUDE_BOTTLE_FAULT_PAUSE=<phase>:<ms>`) instead, and those
//! trials prove the signal landed inside the pause.
//!
//! One module per concern: `run` (the run command and the leftovers checks every trial
//! shares), `signals`, `reaping` (a killed run), `concurrency` (two runs, two cleaners),
//! `engine` (hung exec, engine lost) and `subnet` (a taken subnet). This file only lists the
//! trials.

mod concurrency;
mod engine;
mod reaping;
mod run;
mod signals;
mod subnet;

use bottle_backends::docker::DockerBackend;
use bottle_backends::{Availability, BottleBackend};
use libtest_mimic::{Arguments, Failed, Trial};

use concurrency::{two_cleaners_at_once, two_runs_at_once};
use engine::{engine_lost_mid_run, hung_exec_is_cut_off};
use reaping::killed_run_is_reaped;
use run::runtime;
use signals::{signal_in_paused_phase, signal_in_phase};
use subnet::taken_subnet_is_retried;

fn main() {
    let args = Arguments::from_args();
    let availability = runtime().block_on(DockerBackend::new().availability());
    let unavailable = match availability {
        Availability::Available { .. } => None,
        Availability::Unavailable { reason } => {
            eprintln!("faults: docker is unavailable, its trials are ignored: {reason}");
            Some(reason)
        }
    };
    // Without an engine every trial is ignored (shown as skipped) and, run anyway, fails.
    let trial = |name: String, body: fn() -> Result<(), Failed>| {
        let reason = unavailable.clone();
        Trial::test(name, move || match reason {
            Some(reason) => Err(format!("docker unavailable: {reason}").into()),
            None => body(),
        })
        .with_ignored_flag(unavailable.is_some())
    };
    let trials = vec![
        trial("docker::faults::two_runs_at_once".into(), two_runs_at_once),
        trial("docker::faults::sigint_during_prepare".into(), || {
            signal_in_phase("preparing images", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_prepare".into(), || {
            signal_in_phase("preparing images", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_bring_up".into(), || {
            signal_in_phase("bringing up bottle", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_bring_up".into(), || {
            signal_in_phase("bringing up bottle", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_probe".into(), || {
            signal_in_phase("probing", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_probe".into(), || {
            signal_in_phase("probing", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_report".into(), || {
            signal_in_paused_phase("report", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_report".into(), || {
            signal_in_paused_phase("report", libc::SIGTERM)
        }),
        trial("docker::faults::sigint_during_teardown".into(), || {
            signal_in_paused_phase("teardown", libc::SIGINT)
        }),
        trial("docker::faults::sigterm_during_teardown".into(), || {
            signal_in_paused_phase("teardown", libc::SIGTERM)
        }),
        trial(
            "docker::faults::killed_run_is_reaped".into(),
            killed_run_is_reaped,
        ),
        trial(
            "docker::faults::two_cleaners_at_once".into(),
            two_cleaners_at_once,
        ),
        trial(
            "docker::faults::hung_exec_is_cut_off".into(),
            hung_exec_is_cut_off,
        ),
        trial(
            "docker::faults::engine_lost_mid_run".into(),
            engine_lost_mid_run,
        ),
        trial(
            "docker::faults::taken_subnet_is_retried".into(),
            taken_subnet_is_retried,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
