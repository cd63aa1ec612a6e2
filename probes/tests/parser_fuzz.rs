//! Property tests of the probe-output parser, which reads hostile input: arbitrary bytes and
//! mutations of valid output never panic, never yield an observation for an id the harness did
//! not ask for, and a valid output parses back to what was written.
//!
//! Failures are persisted to `tests/proptest-regressions/parser_fuzz.txt` (kept in git): proptest
//! replays every seed in it before generating new cases, so a failure found once, anywhere, is
//! replayed from then on. Check in the lines proptest appends there. Hand-made hostile inputs with
//! pinned results live in `tests/corpus/` (`parser_corpus.rs`).

use bottle_probes::wire::{Observation, Outcome, ProbeOutput, Signature};
use bottle_probes::WireError;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const IDS: &[&str] = &["a.one#0", "a.one#1", "b.two#0"];

/// Where failing cases are saved and replayed from (an absolute path: nextest and cargo test may
/// run the binary from different directories).
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/parser_fuzz.txt"
);

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

fn valid_output(session: &str, outcomes: &[u8]) -> String {
    let mut out = format!("CB2-BEGIN session={session} attempts={}\n", IDS.len());
    for (id, o) in IDS.iter().zip(outcomes) {
        let outcome = [
            Outcome::Refused,
            Outcome::Timeout,
            Outcome::Connected,
            Outcome::Error,
        ][usize::from(*o) % 4];
        let mut observation = Observation::new(id, outcome, u64::from(*o));
        observation.note = Some(format!("note {o} ;=\u{e9}"));
        observation.signed = signatures(*o);
        observation.reason = (o % 3 == 0).then(|| format!("reason {o}"));
        out.push_str(&observation.to_line());
        out.push('\n');
    }
    out.push_str(&format!("CB2-END session={session}\n"));
    out
}

/// The signature set the bits of `o` pick, in the order the probe writes them.
fn signatures(o: u8) -> Vec<Signature> {
    Signature::ALL
        .into_iter()
        .enumerate()
        .filter(|(bit, _)| o & (1 << bit) != 0)
        .map(|(_, s)| s)
        .collect()
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
    #![proptest_config(config())]

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
            prop_assert_eq!(&parsed.observations[*id].signed, &signatures(*o));
        }
    }

    #[test]
    fn lines_for_unknown_ids_reject_the_output(outcomes in proptest::collection::vec(any::<u8>(), 3), id in "[a-z]{1,8}\\.[a-z]{1,8}#[0-9]") {
        prop_assume!(!IDS.contains(&id.as_str()));
        // A well-formed line (space separated): it must be the unknown id that rejects it.
        let raw = valid_output("s1", &outcomes).replace("CB2-END", &format!("CB2 id={id} outcome=refused elapsed_ms=1\nCB2-END"));
        let result = ProbeOutput::parse(raw.as_bytes(), "s1", IDS);
        prop_assert!(matches!(result, Err(WireError::UnknownAttempt { .. })), "{:?}", result);
    }
}

#[test]
fn huge_output_is_refused_without_reading_it_all() {
    let raw = vec![b'A'; bottle_probes::wire::MAX_OUTPUT_BYTES + 1];
    assert!(ProbeOutput::parse(&raw, "s1", IDS).is_err());
}

/// The regressions file is kept (deleting it would silently drop the replayed failures) and
/// holds only proptest's seed lines (`cc <hex>` for the default RNG) and comments.
#[test]
fn regressions_file_is_kept_and_well_formed() {
    let text = std::fs::read_to_string(REGRESSIONS)
        .unwrap_or_else(|e| panic!("{REGRESSIONS} must be kept in git: {e}"));
    assert!(text.starts_with("# Seeds for failure cases proptest has generated"));
    for line in text.lines() {
        let mut seed = line.split('#').next().unwrap_or("").split_whitespace();
        let well_formed = match seed.next() {
            None => true,
            Some("cc" | "xs" | "pt" | "rc") => seed.next().is_some(),
            Some(_) => false,
        };
        assert!(well_formed, "not a proptest seed line: {line:?}");
    }
}
