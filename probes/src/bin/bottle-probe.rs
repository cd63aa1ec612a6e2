//! `bottle-probe`: the static binary that runs inside the agent.
//!
//! * `bottle-probe idle`: the agent container's main process; sleeps until killed.
//! * `bottle-probe run --session S [--sequential] [--adaptive FACTOR,FLOOR,CEILING] [--trace] SPEC...`:
//!   runs every attempt (concurrently unless `--sequential`) and prints the CB1 protocol on
//!   stdout (see `bottle_probes::wire`). The positive controls (`stage=control`) run first;
//!   when they are done, the fixed attempts start with their own timeouts and the adaptive ones
//!   with the timeout the controls' round trip sets (`bottle_probes::timing`), so one exec does
//!   what would otherwise take two. `--trace` prints step timings on stderr
//!   (`probe-trace: +<ms> <step>`; the harness passes it under `CLAUDE_BOTTLE_TRACE=1`).
//!
//! Exit codes: 0 the attempts ran (whatever they saw), 2 bad arguments.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bottle_probes::attempt;
use bottle_probes::timing::{control_rtt_ms, Adaptive};
use bottle_probes::wire::{AttemptKind, AttemptSpec, Observation, Stage};

/// How long the sweeps wait at most for every other attempt's thread to be running.
const SWEEP_HOLD: Duration = Duration::from_millis(250);

fn usage(message: &str) -> ! {
    eprintln!("bottle-probe: {message}");
    eprintln!(
        "usage: bottle-probe idle | bottle-probe run --session S [--sequential] [--adaptive F,FLOOR,CEIL] [--trace] SPEC..."
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("idle") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Some("run") => {}
        _ => usage("expected a subcommand"),
    }
    let mut session = None;
    let mut sequential = false;
    let mut adaptive = None;
    let mut trace = false;
    let mut specs = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--session" => {
                session = Some(
                    args.next()
                        .unwrap_or_else(|| usage("--session needs a value")),
                )
            }
            "--sequential" => sequential = true,
            "--trace" => trace = true,
            "--adaptive" => {
                let value = args.next().unwrap_or_default();
                adaptive = Some(
                    Adaptive::decode(&value)
                        .unwrap_or_else(|| usage("--adaptive needs FACTOR,FLOOR,CEILING")),
                );
            }
            _ => specs.push(AttemptSpec::decode(&arg).unwrap_or_else(|e| usage(&e.to_string()))),
        }
    }
    let session = session.unwrap_or_else(|| usage("--session is required"));
    let stdout = Mutex::new(std::io::stdout());
    let emit = |line: String| {
        let mut out = stdout.lock().expect("stdout lock");
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let origin = Instant::now();
    let step = |what: &str| {
        if trace {
            eprintln!("probe-trace: +{} {what}", origin.elapsed().as_millis());
        }
    };
    // One attempt, its line printed as soon as it is done.
    let run_and_emit = |spec: &AttemptSpec| {
        let observation = attempt::run(spec);
        step(&format!("{} {}", spec.id, observation.outcome().as_str()));
        emit(observation.to_line());
    };
    emit(format!(
        "CB1-BEGIN session={session} attempts={}",
        specs.len()
    ));
    let (controls, rest): (Vec<&AttemptSpec>, Vec<&AttemptSpec>) =
        specs.iter().partition(|s| s.stage == Stage::Control);
    let (adaptive_specs, fixed): (Vec<&AttemptSpec>, Vec<&AttemptSpec>) =
        rest.into_iter().partition(|s| s.stage == Stage::Adaptive);
    // The adaptive attempts' timeout, once the controls' round trip is known.
    let with_timeout = |observations: &[Observation]| -> Vec<AttemptSpec> {
        let timeout = adaptive.map(|a| a.timeout_ms(control_rtt_ms(observations)));
        adaptive_specs
            .iter()
            .map(|spec| AttemptSpec {
                timeout_ms: timeout.unwrap_or(spec.timeout_ms),
                ..(*spec).clone()
            })
            .collect()
    };
    if sequential {
        let observations: Vec<Observation> = controls.iter().map(|s| attempt::run(s)).collect();
        for observation in &observations {
            emit(observation.to_line());
        }
        for spec in fixed.iter().copied().chain(&with_timeout(&observations)) {
            emit(attempt::run(spec).to_line());
        }
    } else {
        let begun = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let run_and_emit = &run_and_emit;
            let running: Vec<_> = controls
                .iter()
                .map(|spec| scope.spawn(move || attempt::run(spec)))
                .collect();
            let observations: Vec<Observation> = running
                .into_iter()
                .zip(&controls)
                .map(|(handle, spec)| {
                    handle.join().unwrap_or_else(|_| {
                        let mut o = Observation::new(&spec.id, bottle_probes::Outcome::Error, 0);
                        o.note = Some("the attempt panicked".into());
                        o
                    })
                })
                .collect();
            step(&format!(
                "controls done, round trip {:?} ms",
                control_rtt_ms(&observations)
            ));
            for observation in &observations {
                emit(observation.to_line());
            }
            // Everything else starts now: a sweep running next to the controls would load
            // the machine and inflate their round trip (measured: 30-60 ms instead of 5).
            // The sweeps start last, once every other attempt's thread runs: 64 workers
            // connecting flat out starve threads not yet scheduled, and attempts that
            // started only when the sweep ended doubled the phase (measured: +0.6 s).
            let (sweeps, light): (Vec<AttemptSpec>, Vec<AttemptSpec>) = fixed
                .iter()
                .map(|spec| (*spec).clone())
                .chain(with_timeout(&observations))
                .partition(|spec| matches!(spec.kind, AttemptKind::Sweep { .. }));
            let begun = &begun;
            let light_count = light.len();
            for spec in light {
                scope.spawn(move || {
                    begun.fetch_add(1, Ordering::SeqCst);
                    run_and_emit(&spec);
                });
            }
            let holding_since = Instant::now();
            while begun.load(Ordering::SeqCst) < light_count && holding_since.elapsed() < SWEEP_HOLD
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            step(&format!(
                "sweeps start, {} of {light_count} other attempts running",
                begun.load(Ordering::SeqCst)
            ));
            for spec in sweeps {
                scope.spawn(move || run_and_emit(&spec));
            }
        });
    }
    emit(format!("CB1-END session={session}"));
}
