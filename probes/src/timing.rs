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
