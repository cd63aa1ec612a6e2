//! The adaptive deny timeout: derived from the positive controls' round trip, applied by the
//! probe itself inside the one exec (see `bottle_probes::timing`).

use bottle_probes::timing::Adaptive;

use crate::config::TimeoutConfig;

/// How many control round trips a deny attempt waits before it counts as a timeout.
pub(crate) const RTT_FACTOR: u64 = 20;

/// The timeout of the deny attempts: `RTT_FACTOR` times the slowest positive control, at least
/// `floor_ms`, at most `attempt_ms`; `attempt_ms` when no control answered (the controls have
/// failed, so every deny is inconclusive anyway). A timeout that is too short cannot produce a
/// false pass: a deny also needs the target's silence, and a reached target records the contact.
pub(crate) fn adaptive_timeout(control_rtt_ms: Option<u64>, timeouts: &TimeoutConfig) -> u32 {
    adaptive_of(timeouts).map_or(timeouts.attempt_ms, |a| a.timeout_ms(control_rtt_ms))
}

/// The probe's `--adaptive` setting for these timeouts (`None`: adaptive timeouts are off).
pub(super) fn adaptive_of(timeouts: &TimeoutConfig) -> Option<Adaptive> {
    timeouts.adaptive.then_some(Adaptive {
        factor: RTT_FACTOR,
        floor_ms: timeouts.floor_ms,
        ceiling_ms: timeouts.attempt_ms,
    })
}
