//! A fault-injection hook for the fault tests (`harness/tests/faults.rs`): pause a run at the
//! start of a [`Phase`], so that a test can deliver SIGINT/SIGTERM *inside* a phase that is
//! otherwise too short to hit by reacting to a log line (the report phase takes about 60 ms).
//!
//! `CLAUDE_BOTTLE_FAULT_PAUSE=<phase>:<ms>` (`<phase>` is the phase's `Phase::name`) makes
//! `pause_at(<phase>)` log `fault hook: pausing <ms> ms at <phase>` (tracing, info), sleep `ms`
//! milliseconds (capped at `MAX_PAUSE_MS`) and then log `fault hook: resumed at <phase>`. The
//! sleep is a tokio sleep, so it is cancelled like any other work of the phase when `run::run`
//! drops the run on a signal: a test that sees the pause line and never the resume line knows
//! its signal landed in the phase.
//!
//! Unset, empty, naming another phase, or malformed (logged as a warning), it does nothing. The
//! hook only ever delays a run; it cannot change what a run observes or concludes.
//!
//! Phases with a hook: `report` (start of the targets-and-verdicts step of the probe phase,
//! `run::probe_phase`, after the probe exec) and `teardown` (start of the teardown step of
//! `run::run`, before the bottle is removed or handed to the detached cleaner).

use std::time::Duration;

use super::phase::Phase;

/// The environment variable naming the phase and the pause: `<phase>:<ms>`.
pub const ENV: &str = "CLAUDE_BOTTLE_FAULT_PAUSE";

/// The longest pause the hook takes, whatever the variable says.
pub(crate) const MAX_PAUSE_MS: u64 = 10_000;

/// The pause `value` (the variable's content) asks for at `phase`: `None` when it names another
/// phase; `Err` when it is malformed.
pub(crate) fn requested_pause(value: &str, phase: Phase) -> Result<Option<u64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let (named, ms) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("{ENV}={value:?} is not <phase>:<ms>"))?;
    let ms: u64 = ms
        .trim()
        .parse()
        .map_err(|_| format!("{ENV}={value:?}: {ms:?} is not a number of milliseconds"))?;
    Ok((named.trim() == phase.name()).then_some(ms.min(MAX_PAUSE_MS)))
}

/// Pauses at the start of `phase` if [`ENV`] asks for it; see the module documentation.
pub(crate) async fn pause_at(phase: Phase) {
    let Ok(value) = std::env::var(ENV) else {
        return;
    };
    match requested_pause(&value, phase) {
        Ok(Some(ms)) => {
            tracing::info!("fault hook: pausing {ms} ms at {phase}");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            tracing::info!("fault hook: resumed at {phase}");
        }
        Ok(None) => {}
        Err(why) => tracing::warn!("fault hook ignored: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phase_and_caps_the_pause() {
        assert_eq!(requested_pause("report:250", Phase::Report), Ok(Some(250)));
        assert_eq!(
            requested_pause(" teardown:5 ", Phase::Teardown),
            Ok(Some(5))
        );
        assert_eq!(requested_pause("report:250", Phase::Teardown), Ok(None));
        assert_eq!(requested_pause("", Phase::Report), Ok(None));
        assert_eq!(
            requested_pause("report:99999999", Phase::Report),
            Ok(Some(MAX_PAUSE_MS))
        );
        assert!(requested_pause("report", Phase::Report).is_err());
        assert!(requested_pause("report:-1", Phase::Report).is_err());
        assert!(requested_pause("report:1s", Phase::Report).is_err());
    }
}
