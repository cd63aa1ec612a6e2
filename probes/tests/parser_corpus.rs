//! A kept corpus of hostile probe outputs (`tests/corpus/`), replayed through
//! [`ProbeOutput::parse`] with the result each one must give, written in `tests/corpus/MANIFEST`.
//! Inputs bigger than the parser's caps are generated here instead of being stored.
//!
//! For every input: the parser does not panic; whatever it accepts holds observations only for
//! ids the harness asked for (checked with several id sets) and only for the session the output
//! names; an accepted observation survives re-rendering; and the result is exactly the expected
//! one (ok with these observations, or this error variant at this line and field).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bottle_probes::wire::{Observation, ProbeOutput, MAX_LINE_BYTES, MAX_OUTPUT_BYTES};
use bottle_probes::WireError;

const SESSION: &str = "s1";
const IDS: &[&str] = &["a.one#0", "a.one#1", "b.two#0"];
/// The most bytes of a note or refusal reason `Observation::to_line` renders.
const RENDER_CAP: usize = 1024;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The variant of `error`, with its line and field where it has them: `BadValue@2:note`.
/// Exhaustive on purpose: a new variant must be given a spelling here.
fn describe(error: &WireError) -> String {
    match error {
        WireError::OutputTooLarge { .. } => "OutputTooLarge".into(),
        WireError::LineTooLong { line, .. } => format!("LineTooLong@{line}"),
        WireError::NotUtf8 => "NotUtf8".into(),
        WireError::Garbage { line, .. } => format!("Garbage@{line}"),
        WireError::UnknownField { line, key } => format!("UnknownField@{line}:{key}"),
        WireError::DuplicateField { line, key } => format!("DuplicateField@{line}:{key}"),
        WireError::MissingField { line, key } => format!("MissingField@{line}:{key}"),
        WireError::BadValue { line, key, .. } => format!("BadValue@{line}:{key}"),
        WireError::UnknownAttempt { .. } => "UnknownAttempt".into(),
        WireError::DuplicateAttempt { .. } => "DuplicateAttempt".into(),
        WireError::MissingBegin { .. } => "MissingBegin".into(),
        WireError::MissingEnd { .. } => "MissingEnd".into(),
        WireError::WrongSession { .. } => "WrongSession".into(),
        WireError::BadSpec { .. } => "BadSpec".into(),
    }
}

/// A parse result in the manifest's spelling.
fn spell(result: &Result<ProbeOutput, WireError>) -> String {
    match result {
        Ok(output) if output.observations.is_empty() => "ok -".into(),
        Ok(output) => {
            let list: Vec<String> = output
                .observations
                .iter()
                .map(|(id, o)| {
                    let ack = if o.ack { "+ack" } else { "" };
                    format!("{id}={}{ack}", o.outcome().as_str())
                })
                .collect();
            format!("ok {}", list.join(","))
        }
        Err(error) => format!("err {}", describe(error)),
    }
}

/// Parses `raw` with the corpus's session and ids and checks every invariant that holds for any
/// input; returns the result in the manifest's spelling, or what went wrong.
fn replay(raw: &[u8]) -> Result<String, String> {
    let outcome = std::panic::catch_unwind(|| {
        let result = ProbeOutput::parse(raw, SESSION, IDS);
        // Bounded: no observation for an id the harness did not ask for, whichever ids it asked.
        for asked in [IDS, &IDS[..1], &IDS[1..], &[]] {
            if let Ok(output) = ProbeOutput::parse(raw, SESSION, asked) {
                if let Some(id) = output
                    .observations
                    .keys()
                    .find(|id| !asked.contains(&id.as_str()))
                {
                    return Err(format!("observation for {id:?}, asked only for {asked:?}"));
                }
            }
        }
        // No output is accepted for a session it does not name.
        if let Ok(output) = ProbeOutput::parse(raw, "another-session", IDS) {
            let ids: Vec<&String> = output.observations.keys().collect();
            return Err(format!("accepted under another session: {ids:?}"));
        }
        // What was accepted survives re-rendering. `percent_encode` keeps the first 1024 bytes of
        // a note or refusal reason (the probe's own cap) while the parser accepts up to the line
        // cap, so longer values are left out of this check.
        if let Ok(output) = &result {
            let renderable = |o: &&Observation| {
                [&o.note, &o.reason]
                    .iter()
                    .all(|v| v.as_ref().is_none_or(|v| v.len() <= RENDER_CAP))
            };
            for observation in output.observations.values().filter(renderable) {
                let text = format!(
                    "CB2-BEGIN session={SESSION} attempts=1\n{}\nCB2-END session={SESSION}\n",
                    observation.to_line()
                );
                let again = ProbeOutput::parse(text.as_bytes(), SESSION, IDS)
                    .map_err(|e| format!("{} does not re-parse: {e}", observation.id))?;
                if again.observations.get(&observation.id) != Some(observation) {
                    return Err(format!("{} changed when re-rendered", observation.id));
                }
            }
        }
        Ok(spell(&result))
    });
    outcome.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("the parser panicked: {why}"))
    })
}

fn manifest() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST")).expect("MANIFEST");
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (file, expected) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("MANIFEST line without an expectation: {line:?}"));
        let expected = expected.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            entries.insert(file.to_string(), expected).is_none(),
            "MANIFEST names {file} twice"
        );
    }
    entries
}

#[test]
fn every_corpus_file_gives_its_expected_result() {
    let expected = manifest();
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus")
        .map(|entry| entry.expect("dir entry").file_name().into_string().unwrap())
        .filter(|name| name != "MANIFEST")
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus lost files: {files:?}");
    let mut failures = Vec::new();
    for name in &files {
        let Some(want) = expected.get(name) else {
            failures.push(format!("{name}: not in MANIFEST"));
            continue;
        };
        let raw = std::fs::read(corpus_dir().join(name)).expect("corpus file");
        match replay(&raw) {
            Ok(got) if &got == want => {}
            Ok(got) => failures.push(format!("{name}: expected `{want}`, got `{got}`")),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    for name in expected.keys().filter(|name| !files.contains(name)) {
        failures.push(format!("{name}: in MANIFEST but not in tests/corpus"));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A valid output of the three attempts, without its END line.
fn valid_head() -> String {
    format!(
        "CB2-BEGIN session={SESSION} attempts=3\n\
         CB2 id=a.one#0 outcome=refused elapsed_ms=3 errno=111\n\
         CB2 id=a.one#1 outcome=timeout elapsed_ms=800\n\
         CB2 id=b.two#0 outcome=http elapsed_ms=12 status=403\n"
    )
}

fn end() -> String {
    format!("CB2-END session={SESSION}\n")
}

/// An observation line of `a.one#0` padded with a note to exactly `len` bytes (no newline).
fn line_of(len: usize) -> String {
    let head = "CB2 id=a.one#0 outcome=refused elapsed_ms=1 note=";
    assert!(len > head.len());
    format!("{head}{}", "x".repeat(len - head.len()))
}

/// The inputs too big to keep as files, with the result each must give.
// Long because it is a table: one entry per generated input, each beside its expected result.
fn generated() -> Vec<(&'static str, Vec<u8>, String)> {
    let all = "ok a.one#0=refused,a.one#1=timeout,b.two#0=http".to_string();
    let padded_to = |size: usize| {
        // Blank lines are skipped, so padding before END keeps the output valid.
        let mut text = valid_head();
        text.push_str(&"\n".repeat(size - text.len() - end().len()));
        text.push_str(&end());
        assert_eq!(text.len(), size);
        text.into_bytes()
    };
    let begin = format!("CB2-BEGIN session={SESSION} attempts=1\n");
    let mut many_unknown = begin.clone();
    let mut n = 0;
    while many_unknown.len() < MAX_OUTPUT_BYTES - 100 {
        many_unknown.push_str(&format!("CB2 id=x.y#{n} outcome=connected elapsed_ms=1\n"));
        n += 1;
    }
    let mut many_duplicates = begin.clone();
    while many_duplicates.len() < MAX_OUTPUT_BYTES - 100 {
        many_duplicates.push_str("CB2 id=a.one#0 outcome=refused elapsed_ms=1\n");
    }
    let open = |n: usize| (1..=n).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
    vec![
        (
            "output_exactly_at_cap",
            padded_to(MAX_OUTPUT_BYTES),
            all.clone(),
        ),
        (
            "output_one_byte_over_cap",
            padded_to(MAX_OUTPUT_BYTES + 1),
            "err OutputTooLarge".into(),
        ),
        (
            "output_of_8_mib",
            valid_head()
                .repeat(8 * 1024 * 1024 / valid_head().len())
                .into_bytes(),
            "err OutputTooLarge".into(),
        ),
        (
            "one_line_of_512_kib_without_newline",
            vec![b'A'; MAX_OUTPUT_BYTES],
            "err LineTooLong@1".into(),
        ),
        (
            "line_exactly_at_cap",
            format!("{begin}{}\n{}", line_of(MAX_LINE_BYTES), end()).into_bytes(),
            "ok a.one#0=refused".into(),
        ),
        (
            // The CR of a CRLF is not counted.
            "line_at_cap_with_crlf",
            format!("{begin}{}\r\n{}", line_of(MAX_LINE_BYTES), end()).into_bytes(),
            "ok a.one#0=refused".into(),
        ),
        (
            "line_one_byte_over_cap",
            format!("{begin}{}\n{}", line_of(MAX_LINE_BYTES + 1), end()).into_bytes(),
            "err LineTooLong@2".into(),
        ),
        (
            "line_over_cap_without_begin",
            line_of(MAX_LINE_BYTES * 4).into_bytes(),
            "err LineTooLong@1".into(),
        ),
        (
            "thousands_of_unknown_ids",
            (many_unknown + &end()).into_bytes(),
            "err UnknownAttempt".into(),
        ),
        (
            "thousands_of_duplicates",
            (many_duplicates + &end()).into_bytes(),
            "err DuplicateAttempt".into(),
        ),
        (
            "open_ports_at_cap",
            format!(
                "{begin}CB2 id=b.two#0 outcome=swept elapsed_ms=1 scanned=65535 open={}\n{}",
                open(128),
                end()
            )
            .into_bytes(),
            "ok b.two#0=swept".into(),
        ),
        (
            "open_ports_over_cap",
            format!(
                "{begin}CB2 id=b.two#0 outcome=swept elapsed_ms=1 scanned=65535 open={}\n{}",
                open(129),
                end()
            )
            .into_bytes(),
            "err BadValue@2:open".into(),
        ),
        (
            "invalid_utf8_at_the_end_of_a_full_output",
            {
                let mut raw = padded_to(MAX_OUTPUT_BYTES - 1);
                raw.push(0xC3);
                raw
            },
            "err NotUtf8".into(),
        ),
    ]
}

#[test]
fn generated_oversized_inputs_give_their_expected_result() {
    let mut failures = Vec::new();
    for (name, raw, want) in generated() {
        match replay(&raw) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{name}: expected `{want}`, got `{got}`")),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
