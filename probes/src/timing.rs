//! The adaptive timeout, shared by `bottle-probe` (which applies it inside the one exec) and the
//! harness (which reports it): a deny attempt waits `factor` times the slowest round trip of the
//! positive controls that answered, at least `floor` ms and at most `ceiling` ms; `ceiling` when
//! no control answered (the controls failed, so every deny is inconclusive anyway).

use crate::wire::{Observation, Outcome};

/// How the timeout of the adaptive attempts is derived (`bottle-probe run --adaptive F,FLOOR,CEIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    pub factor: u64,
    pub floor_ms: u32,
    pub ceiling_ms: u32,
}

impl Adaptive {
    /// The timeout for a control round trip of `rtt_ms` (`None`: no control answered).
    pub fn timeout_ms(&self, rtt_ms: Option<u64>) -> u32 {
        match rtt_ms {
            Some(rtt) => rtt.saturating_mul(self.factor).clamp(
                u64::from(self.floor_ms.min(self.ceiling_ms)),
                u64::from(self.ceiling_ms),
            ) as u32,
            None => self.ceiling_ms,
        }
    }

    /// The argument form, `FACTOR,FLOOR,CEILING`.
    pub fn encode(&self) -> String {
        format!("{},{},{}", self.factor, self.floor_ms, self.ceiling_ms)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(',');
        let adaptive = Self {
            factor: parts.next()?.parse().ok()?,
            floor_ms: parts.next()?.parse().ok()?,
            ceiling_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(adaptive)
    }
}

/// How far a port sweep may run past its budget while it makes progress. At the budget the
/// sweep projects its end from its rate so far: one that would finish within this many budgets
/// goes on to the end (with a quarter of its elapsed time to spare); one that would not stops
/// there, as it always did. A slow machine then still sweeps every port (measured in the KVM
/// lab, under software emulation: a container agent with compiles beside it, 6306 of 65535
/// ports in the 8 s budget; a smolvm guest, whose every port waits for the VMM relay's reset,
/// 1286-3853 on one emulated CPU), and a hopeless sweep (a filtered address) costs no more
/// than before.
pub const SWEEP_STRETCH: u64 = 64;

/// The longest a sweep with a budget of `budget_ms` runs.
pub fn sweep_ceiling_ms(budget_ms: u32) -> u64 {
    u64::from(budget_ms).saturating_mul(SWEEP_STRETCH)
}

/// When a sweep stops, in ms from its start, decided at its budget `budget_ms` once
/// `elapsed_ms` have passed and `done` of `total` ports are swept: the projected end with a
/// quarter to spare, if that is within [`sweep_ceiling_ms`]; else the budget.
pub fn sweep_end_ms(budget_ms: u32, elapsed_ms: u64, done: u64, total: u64) -> u64 {
    let budget = u64::from(budget_ms);
    if done >= total {
        return budget;
    }
    let projected = elapsed_ms
        .saturating_mul(total)
        .checked_div(done)
        .unwrap_or(u64::MAX);
    let with_spare = projected.saturating_add(projected / 4);
    if projected <= sweep_ceiling_ms(budget_ms) {
        with_spare.min(sweep_ceiling_ms(budget_ms)).max(budget)
    } else {
        budget
    }
}

/// Milliseconds since the Unix epoch on this machine's clock, which every container shares:
/// the agent's listener window and the fixture hosts' dialer tries compare on it.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The slowest round trip among controls that got through (connected, answered, HTTP).
pub fn control_rtt_ms<'a>(controls: impl IntoIterator<Item = &'a Observation>) -> Option<u64> {
    controls
        .into_iter()
        .filter(|o| {
            matches!(
                o.outcome(),
                Outcome::Http | Outcome::Answered | Outcome::Connected
            )
        })
        .map(|o| o.elapsed_ms)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_goes_on_only_when_it_would_finish_within_the_stretch() {
        // The lab's measured rate: 6306 ports in 8 s, about 83 s for all of them.
        let end = sweep_end_ms(8000, 8000, 6306, 65535);
        assert!((83_000..=104_000).contains(&end), "{end}");
        assert!(end <= sweep_ceiling_ms(8000));
        // The lab's smolvm guest behind the relay: 3093 ports in 8 s, about 170 s for all.
        let end = sweep_end_ms(8000, 8000, 3093, 65535);
        assert!((169_000..=212_000).contains(&end), "{end}");
        // The same guest on a loaded lab: 1286 ports in 8 s, about 410 s for all.
        let end = sweep_end_ms(8000, 8000, 1286, 65535);
        assert!((407_000..=512_000).contains(&end), "{end}");
        // Too slow to finish within 64 budgets: it stops at the budget.
        assert_eq!(sweep_end_ms(8000, 8000, 900, 65535), 8000);
        // Nothing swept at all (every port filtered so far): no projection, the budget.
        assert_eq!(sweep_end_ms(8000, 8000, 0, 65535), 8000);
        // Nearly done: the spare is capped by the ceiling, and never below the budget.
        assert_eq!(sweep_end_ms(8000, 8000, 65534, 65535), 10_000);
        assert_eq!(sweep_end_ms(8000, 100, 65000, 65535), 8000);
        // Just within the stretch: the spare stops at the ceiling.
        assert_eq!(sweep_end_ms(1000, 1000, 1024, 65535), 64_000);
        assert_eq!(sweep_ceiling_ms(u32::MAX), u64::from(u32::MAX) * 64);
    }

    #[test]
    fn clamps_between_floor_and_ceiling_and_falls_back_to_the_ceiling() {
        let a = Adaptive {
            factor: 20,
            floor_ms: 600,
            ceiling_ms: 1500,
        };
        assert_eq!(a.timeout_ms(Some(5)), 600);
        assert_eq!(a.timeout_ms(Some(50)), 1000);
        assert_eq!(a.timeout_ms(Some(500)), 1500);
        assert_eq!(a.timeout_ms(None), 1500);
        assert_eq!(Adaptive::decode(&a.encode()), Some(a));
        assert_eq!(Adaptive::decode("20,600"), None);
        assert_eq!(Adaptive::decode("20,600,1500,1"), None);
        assert_eq!(Adaptive::decode("x,600,1500"), None);
    }

    #[test]
    fn only_controls_that_got_through_set_the_round_trip() {
        let got = Observation::new("a#0", Outcome::Http, 7);
        let failed = Observation::new("b#0", Outcome::Timeout, 5000);
        assert_eq!(control_rtt_ms([&got, &failed]), Some(7));
        assert_eq!(control_rtt_ms([&failed]), None);
    }
}
