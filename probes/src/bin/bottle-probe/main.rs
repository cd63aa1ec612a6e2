//! `bottle-probe`: the static binary that runs inside the agent.
//!
//! * `bottle-probe idle`: the agent container's main process; sleeps until killed.
//! * `bottle-probe run --session S [--sequential] [--adaptive FACTOR,FLOOR,CEILING] [--trace] SPEC...`:
//!   runs every attempt (concurrently unless `--sequential`) and prints the CB2 protocol on
//!   stdout (see `bottle_probes::wire`). The positive controls (`stage=control`) run first;
//!   when they are done, the fixed attempts start with their own timeouts and the adaptive ones
//!   with the timeout the controls' round trip sets (`bottle_probes::timing`), so one exec does
//!   what would otherwise take two. `--trace` prints step timings on stderr
//!   (`probe-trace: +<ms> <step>`; the harness passes it under `CLAUDE_BOTTLE_TRACE=1`).
//!
//! * `bottle-probe wait-tcp DEADLINE_MS ADDR...`: the harness's readiness wait for a user's
//!   bundle, from the agent's own network: connects to every address until each has accepted
//!   once or the deadline passed; prints `CB-OPEN ADDR ms` or `CB-CLOSED ADDR last-error` per
//!   address and exits 0 when all opened, 1 otherwise.
//!
//! Exit codes: 0 the attempts ran (whatever they saw), 2 bad arguments (and, on any platform
//! but Linux, always: the attempts need Linux, and a bottle's agent is a Linux guest).

#[cfg(target_os = "linux")]
mod cli;
#[cfg(target_os = "linux")]
mod wait;

#[cfg(target_os = "linux")]
fn main() {
    cli::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("bottle-probe: Linux only (it runs inside the bottle's Linux agent)");
    std::process::exit(2);
}
