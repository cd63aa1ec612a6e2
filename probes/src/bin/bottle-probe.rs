//! `bottle-probe`: the static binary that runs inside the agent.
//!
//! * `bottle-probe idle`: the agent container's main process; sleeps until killed.
//! * `bottle-probe run --session S [--sequential] [--adaptive FACTOR,FLOOR,CEILING] SPEC...`:
//!   runs every attempt (concurrently unless `--sequential`) and prints the CB1 protocol on
//!   stdout (see `bottle_probes::wire`). The positive controls (`stage=control`) run first;
//!   when they are done, the fixed attempts start with their own timeouts and the adaptive ones
//!   with the timeout the controls' round trip sets (`bottle_probes::timing`), so one exec does
//!   what would otherwise take two.
//!
//! Exit codes: 0 the attempts ran (whatever they saw), 2 bad arguments.

use std::io::Write;
use std::sync::Mutex;

use bottle_probes::attempt;
use bottle_probes::timing::{control_rtt_ms, Adaptive};
use bottle_probes::wire::{AttemptSpec, Observation, Stage};

fn usage(message: &str) -> ! {
    eprintln!("bottle-probe: {message}");
    eprintln!(
        "usage: bottle-probe idle | bottle-probe run --session S [--sequential] [--adaptive F,FLOOR,CEIL] SPEC..."
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
        std::thread::scope(|scope| {
            let emit = &emit;
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
            for observation in &observations {
                emit(observation.to_line());
            }
            // Everything else starts now: a sweep running next to the controls would load
            // the machine and inflate their round trip (measured: 30-60 ms instead of 5).
            for spec in &fixed {
                scope.spawn(move || emit(attempt::run(spec).to_line()));
            }
            for spec in with_timeout(&observations) {
                scope.spawn(move || emit(attempt::run(&spec).to_line()));
            }
        });
    }
    emit(format!("CB1-END session={session}"));
}
