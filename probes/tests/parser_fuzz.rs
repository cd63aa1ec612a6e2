//! Property tests of the probe-output parser, which reads hostile input: arbitrary bytes and
//! mutations of valid output never panic, never yield an observation for an id the harness did
//! not ask for, and a valid output parses back to what was written.

use bottle_probes::wire::{Observation, Outcome, ProbeOutput};
use proptest::prelude::*;

const IDS: &[&str] = &["a.one#0", "a.one#1", "b.two#0"];

fn valid_output(session: &str, outcomes: &[u8]) -> String {
    let mut out = format!("CB1-BEGIN session={session} attempts={}\n", IDS.len());
    for (id, o) in IDS.iter().zip(outcomes) {
        let outcome = [
            Outcome::Refused,
            Outcome::Timeout,
            Outcome::Connected,
            Outcome::Error,
        ][usize::from(*o) % 4];
        let mut observation = Observation::new(id, outcome, u64::from(*o));
        observation.note = Some(format!("note {o} ;=\u{e9}"));
        out.push_str(&observation.to_line());
        out.push('\n');
    }
    out.push_str(&format!("CB1-END session={session}\n"));
    out
}

fn check(raw: &[u8]) {
    if let Ok(parsed) = ProbeOutput::parse(raw, "s1", IDS) {
        assert!(parsed.observations.len() <= IDS.len());
        assert!(parsed
            .observations
            .keys()
            .all(|id| IDS.contains(&id.as_str())));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&raw);
    }

    #[test]
    fn mutated_valid_output_never_panics(
        outcomes in proptest::collection::vec(any::<u8>(), 3),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut raw = valid_output("s1", &outcomes).into_bytes();
        for (index, byte) in flips {
            let at = index.index(raw.len());
            raw[at] = byte;
        }
        let end = cut.index(raw.len() + 1);
        check(&raw[..end]);
        check(&raw);
    }

    #[test]
    fn valid_output_round_trips(outcomes in proptest::collection::vec(any::<u8>(), 3)) {
        let raw = valid_output("s1", &outcomes);
        let parsed = ProbeOutput::parse(raw.as_bytes(), "s1", IDS).unwrap();
        prop_assert_eq!(parsed.observations.len(), 3);
        for (id, o) in IDS.iter().zip(&outcomes) {
            prop_assert_eq!(parsed.observations[*id].elapsed_ms, u64::from(*o));
        }
    }

    #[test]
    fn lines_for_unknown_ids_reject_the_output(outcomes in proptest::collection::vec(any::<u8>(), 3), id in "[a-z]{1,8}\\.[a-z]{1,8}#[0-9]") {
        prop_assume!(!IDS.contains(&id.as_str()));
        let raw = valid_output("s1", &outcomes).replace("CB1-END", &format!("CB1 id={id};outcome=refused;elapsed_ms=1\nCB1-END"));
        prop_assert!(ProbeOutput::parse(raw.as_bytes(), "s1", IDS).is_err());
    }
}

#[test]
fn huge_output_is_refused_without_reading_it_all() {
    let raw = vec![b'A'; bottle_probes::wire::MAX_OUTPUT_BYTES + 1];
    assert!(ProbeOutput::parse(&raw, "s1", IDS).is_err());
}
