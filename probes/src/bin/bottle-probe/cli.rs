//! The `bottle-probe` command line and the schedule of one probe run: controls first, then the
//! fixed and adaptive attempts, the sweeps last. Each result line is printed as soon as its
//! attempt is done.

use std::io::{Stdout, Write};
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
        "usage: bottle-probe idle | bottle-probe wait-tcp DEADLINE_MS ADDR... | bottle-probe run --session S [--sequential] [--adaptive F,FLOOR,CEIL] [--trace] SPEC..."
    );
    std::process::exit(2);
}

/// The arguments of `bottle-probe run`.
struct Args {
    session: String,
    sequential: bool,
    adaptive: Option<Adaptive>,
    trace: bool,
    specs: Vec<AttemptSpec>,
}

/// Parses argv; `idle` never returns, bad arguments exit 2.
fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("idle") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Some("run") => {}
        Some("wait-tcp") => super::wait::main(args.collect()),
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
    Args {
        session,
        sequential,
        adaptive,
        trace,
        specs,
    }
}

/// Where lines go: protocol lines on stdout, one at a time, and trace steps on stderr.
struct Output {
    stdout: Mutex<Stdout>,
    origin: Instant,
    trace: bool,
}

impl Output {
    fn emit(&self, line: String) {
        let mut out = self.stdout.lock().expect("stdout lock");
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn step(&self, what: &str) {
        if self.trace {
            eprintln!("probe-trace: +{} {what}", self.origin.elapsed().as_millis());
        }
    }

    /// One attempt, its line printed as soon as it is done.
    fn run_and_emit(&self, spec: &AttemptSpec) {
        let observation = attempt::run(spec);
        self.step(&format!("{} {}", spec.id, observation.outcome().as_str()));
        self.emit(observation.to_line());
    }
}

/// The adaptive attempts with the timeout the controls' round trip sets (their own timeout
/// without `--adaptive`).
fn with_timeout(
    adaptive: Option<Adaptive>,
    specs: &[&AttemptSpec],
    observations: &[Observation],
) -> Vec<AttemptSpec> {
    let timeout = adaptive.map(|a| a.timeout_ms(control_rtt_ms(observations)));
    specs
        .iter()
        .map(|spec| AttemptSpec {
            timeout_ms: timeout.unwrap_or(spec.timeout_ms),
            ..(*spec).clone()
        })
        .collect()
}

pub(crate) fn main() {
    let args = parse_args();
    let out = Output {
        stdout: Mutex::new(std::io::stdout()),
        origin: Instant::now(),
        trace: args.trace,
    };
    out.emit(format!(
        "CB2-BEGIN session={} attempts={}",
        args.session,
        args.specs.len()
    ));
    let (controls, rest): (Vec<&AttemptSpec>, Vec<&AttemptSpec>) =
        args.specs.iter().partition(|s| s.stage == Stage::Control);
    let (adaptive_specs, fixed): (Vec<&AttemptSpec>, Vec<&AttemptSpec>) =
        rest.into_iter().partition(|s| s.stage == Stage::Adaptive);
    if args.sequential {
        let observations: Vec<Observation> = controls.iter().map(|s| attempt::run(s)).collect();
        for observation in &observations {
            out.emit(observation.to_line());
        }
        let adaptive = with_timeout(args.adaptive, &adaptive_specs, &observations);
        for spec in fixed.iter().copied().chain(&adaptive) {
            out.emit(attempt::run(spec).to_line());
        }
    } else {
        concurrent(&out, &controls, &fixed, |observations| {
            with_timeout(args.adaptive, &adaptive_specs, observations)
        });
    }
    out.emit(format!("CB2-END session={}", args.session));
}

/// The concurrent schedule: the controls side by side, then every other attempt, the sweeps
/// once the others run. `adaptive` gives the adaptive attempts for the controls' observations.
fn concurrent(
    out: &Output,
    controls: &[&AttemptSpec],
    fixed: &[&AttemptSpec],
    adaptive: impl Fn(&[Observation]) -> Vec<AttemptSpec>,
) {
    let begun = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let running: Vec<_> = controls
            .iter()
            .map(|spec| scope.spawn(move || attempt::run(spec)))
            .collect();
        let observations: Vec<Observation> = running
            .into_iter()
            .zip(controls)
            .map(|(handle, spec)| {
                handle.join().unwrap_or_else(|_| {
                    let mut o = Observation::new(&spec.id, bottle_probes::Outcome::Error, 0);
                    o.note = Some("the attempt panicked".into());
                    o
                })
            })
            .collect();
        out.step(&format!(
            "controls done, round trip {:?} ms",
            control_rtt_ms(&observations)
        ));
        for observation in &observations {
            out.emit(observation.to_line());
        }
        // Everything else starts now: a sweep running next to the controls would load
        // the machine and inflate their round trip (measured: 30-60 ms instead of 5).
        // The sweeps start last, once every other attempt's thread runs: 64 workers
        // connecting flat out starve threads not yet scheduled, and attempts that
        // started only when the sweep ended doubled the phase (measured: +0.6 s).
        let (sweeps, light): (Vec<AttemptSpec>, Vec<AttemptSpec>) = fixed
            .iter()
            .map(|spec| (*spec).clone())
            .chain(adaptive(&observations))
            .partition(|spec| matches!(spec.kind, AttemptKind::Sweep { .. }));
        let begun = &begun;
        let light_count = light.len();
        for spec in light {
            scope.spawn(move || {
                begun.fetch_add(1, Ordering::SeqCst);
                out.run_and_emit(&spec);
            });
        }
        let holding_since = Instant::now();
        while begun.load(Ordering::SeqCst) < light_count && holding_since.elapsed() < SWEEP_HOLD {
            std::thread::sleep(Duration::from_millis(1));
        }
        out.step(&format!(
            "sweeps start, {} of {light_count} other attempts running",
            begun.load(Ordering::SeqCst)
        ));
        for spec in sweeps {
            scope.spawn(move || out.run_and_emit(&spec));
        }
    });
}
