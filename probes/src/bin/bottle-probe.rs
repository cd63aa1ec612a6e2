//! `bottle-probe`: the static binary that runs inside the agent.
//!
//! * `bottle-probe idle`: the agent container's main process; sleeps until killed.
//! * `bottle-probe run --session S [--sequential] SPEC...`: runs every attempt (concurrently
//!   unless `--sequential`) and prints the CB1 protocol on stdout (see `bottle_probes::wire`).
//!
//! Exit codes: 0 the attempts ran (whatever they saw), 2 bad arguments.

use std::io::Write;
use std::sync::Mutex;

use bottle_probes::attempt;
use bottle_probes::wire::AttemptSpec;

fn usage(message: &str) -> ! {
    eprintln!("bottle-probe: {message}");
    eprintln!("usage: bottle-probe idle | bottle-probe run --session S [--sequential] SPEC...");
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
    if sequential {
        for spec in &specs {
            emit(attempt::run(spec).to_line());
        }
    } else {
        std::thread::scope(|scope| {
            for spec in &specs {
                let emit = &emit;
                scope.spawn(move || emit(attempt::run(spec).to_line()));
            }
        });
    }
    emit(format!("CB1-END session={session}"));
}
