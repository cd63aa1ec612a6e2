//! Step timings for finding where a run's time goes: with `CLAUDE_BOTTLE_TRACE=1`, every traced
//! step prints `trace: +<ms> <step>` to stderr, measured from the first traced step of the
//! process. Off by default, and then it costs one environment lookup per process.

use std::sync::OnceLock;
use std::time::Instant;

/// The environment variable that turns the step trace on.
pub const ENV: &str = "CLAUDE_BOTTLE_TRACE";

fn origin() -> Option<Instant> {
    static ORIGIN: OnceLock<Option<Instant>> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        std::env::var_os(ENV)
            .filter(|v| !v.is_empty() && v != "0")
            .map(|_| Instant::now())
    })
}

/// Whether the step trace is on (for passing it on to the probe inside the agent).
pub fn enabled() -> bool {
    origin().is_some()
}

/// Prints `step` with the milliseconds since the first traced step, when tracing is on.
pub fn step(step: &str) {
    if let Some(origin) = origin() {
        eprintln!("trace: +{} {step}", origin.elapsed().as_millis());
    }
}
