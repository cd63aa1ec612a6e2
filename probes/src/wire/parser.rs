//! The strict parser of a whole probe output: bounded size and line length, a closed set of
//! fields with closed value syntax, no unknown or duplicate attempt ids, and a BEGIN/END pair
//! with the right session. Any violation rejects the whole output.

use std::collections::BTreeMap;

use serde::Serialize;

use super::limits::{MAX_ANSWERS, MAX_LINE_BYTES, MAX_OPEN_PORTS, MAX_OUTPUT_BYTES};
use super::observation::{Observation, Outcome, StreamEnd, TunnelEnd};
use super::percent::percent_decode;
use super::refusal::Signature;
use super::spec::token_ok;
use crate::errors::WireError;

/// A complete, validated probe output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProbeOutput {
    pub observations: BTreeMap<String, Observation>,
}

impl ProbeOutput {
    /// Parses the probe's stdout. `expected_ids` are the attempt ids the harness sent; a
    /// missing id is allowed here (the verdict for it becomes inconclusive), an unknown or
    /// repeated one rejects the whole output.
    pub fn parse(raw: &[u8], session: &str, expected_ids: &[&str]) -> Result<Self, WireError> {
        if raw.len() > MAX_OUTPUT_BYTES {
            return Err(WireError::OutputTooLarge {
                limit: MAX_OUTPUT_BYTES,
            });
        }
        let text = std::str::from_utf8(raw).map_err(|_| WireError::NotUtf8)?;
        let mut begun = false;
        let mut ended = false;
        let mut observations = BTreeMap::new();
        for (index, line) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.len() > MAX_LINE_BYTES {
                return Err(WireError::LineTooLong {
                    line: line_no,
                    limit: MAX_LINE_BYTES,
                });
            }
            if line.is_empty() {
                continue;
            }
            let garbage = || WireError::Garbage {
                line: line_no,
                excerpt: line.chars().take(80).collect(),
            };
            let (tag, rest) = line.split_once(' ').ok_or_else(garbage)?;
            match tag {
                "CB2-BEGIN" => {
                    if begun || ended {
                        return Err(garbage());
                    }
                    let fields = parse_fields(line_no, rest, &["session", "attempts"])?;
                    check_session(&fields, session)?;
                    begun = true;
                }
                "CB2-END" => {
                    if !begun || ended {
                        return Err(garbage());
                    }
                    let fields = parse_fields(line_no, rest, &["session"])?;
                    check_session(&fields, session)?;
                    ended = true;
                }
                "CB2" => {
                    if !begun || ended {
                        return Err(garbage());
                    }
                    let observation = parse_observation(line_no, rest)?;
                    if !expected_ids.contains(&observation.id.as_str()) {
                        return Err(WireError::UnknownAttempt {
                            id: observation.id.chars().take(80).collect(),
                        });
                    }
                    if observations.contains_key(&observation.id) {
                        return Err(WireError::DuplicateAttempt { id: observation.id });
                    }
                    observations.insert(observation.id.clone(), observation);
                }
                _ => return Err(garbage()),
            }
        }
        if !begun {
            return Err(WireError::MissingBegin {
                session: session.to_string(),
            });
        }
        if !ended {
            return Err(WireError::MissingEnd {
                session: session.to_string(),
            });
        }
        Ok(Self { observations })
    }
}

fn check_session(fields: &BTreeMap<String, String>, session: &str) -> Result<(), WireError> {
    let found = fields.get("session").map(String::as_str).unwrap_or("");
    if found != session {
        return Err(WireError::WrongSession {
            expected: session.to_string(),
            found: found.chars().take(80).collect(),
        });
    }
    Ok(())
}

fn parse_fields(
    line: usize,
    rest: &str,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, WireError> {
    let mut fields = BTreeMap::new();
    for part in rest.split(' ') {
        let (key, value) = part.split_once('=').ok_or_else(|| WireError::Garbage {
            line,
            excerpt: part.chars().take(80).collect(),
        })?;
        if !allowed.contains(&key) {
            return Err(WireError::UnknownField {
                line,
                key: key.chars().take(40).collect(),
            });
        }
        if fields.insert(key.to_string(), value.to_string()).is_some() {
            return Err(WireError::DuplicateField {
                line,
                key: key.to_string(),
            });
        }
    }
    Ok(fields)
}

const OBSERVATION_FIELDS: &[&str] = &[
    "id",
    "outcome",
    "elapsed_ms",
    "errno",
    "ack",
    "status",
    "signed",
    "reason",
    "rcode",
    "answers",
    "open",
    "scanned",
    "filtered",
    "dropped",
    "dropped_ports",
    "note",
    "window",
    "tunnel",
    "end",
];

fn parse_observation(line: usize, rest: &str) -> Result<Observation, WireError> {
    let fields = parse_fields(line, rest, OBSERVATION_FIELDS)?;
    let bad = |key: &str, value: &str| WireError::BadValue {
        line,
        key: key.to_string(),
        value: value.chars().take(80).collect(),
    };
    let get = |key: &'static str| {
        fields
            .get(key)
            .map(String::as_str)
            .ok_or(WireError::MissingField { line, key })
    };
    let id = get("id")?;
    if !token_ok(id) {
        return Err(bad("id", id));
    }
    let outcome_text = get("outcome")?;
    let outcome = Outcome::parse(outcome_text).ok_or_else(|| bad("outcome", outcome_text))?;
    let elapsed_text = get("elapsed_ms")?;
    let elapsed_ms: u64 = parse_num(elapsed_text).ok_or_else(|| bad("elapsed_ms", elapsed_text))?;
    let mut observation = Observation::new(id, outcome, elapsed_ms);
    for (key, value) in &fields {
        read_field(&mut observation, key, value).map_err(|()| bad(key, value))?;
    }
    Ok(observation)
}

/// Reads one optional field of a result line into `observation`; Err when its value is outside
/// the contract (the caller names the key and the value).
fn read_field(observation: &mut Observation, key: &str, value: &str) -> Result<(), ()> {
    match key {
        "errno" => observation.errno = Some(parse_num(value).ok_or(())?),
        "ack" => {
            observation.ack = match value {
                "1" => true,
                "0" => false,
                _ => return Err(()),
            }
        }
        "status" => {
            let status: u16 = parse_num(value).ok_or(())?;
            if !(100..=599).contains(&status) {
                return Err(());
            }
            observation.status = Some(status);
        }
        "signed" => observation.signed = parse_signatures(value).ok_or(())?,
        "reason" => observation.reason = Some(percent_decode(value).ok_or(())?),
        "rcode" => {
            let rcode: u8 = parse_num(value).ok_or(())?;
            if rcode > 15 {
                return Err(());
            }
            observation.rcode = Some(rcode);
        }
        "answers" => {
            observation.answers = parse_list(value, MAX_ANSWERS, |v| v.parse().ok()).ok_or(())?
        }
        "open" => observation.open = parse_list(value, MAX_OPEN_PORTS, parse_num).ok_or(())?,
        "scanned" => observation.scanned = Some(parse_num(value).ok_or(())?),
        "filtered" => observation.filtered = Some(parse_num(value).ok_or(())?),
        "dropped" => observation.dropped = Some(parse_num(value).ok_or(())?),
        "dropped_ports" => {
            observation.dropped_ports = parse_list(value, MAX_OPEN_PORTS, parse_num).ok_or(())?
        }
        "note" => observation.note = Some(percent_decode(value).ok_or(())?),
        "window" => observation.window = Some(parse_window(value).ok_or(())?),
        "tunnel" => observation.tunnel = Some(TunnelEnd::parse(value).ok_or(())?),
        "end" => observation.end = Some(StreamEnd::parse(value).ok_or(())?),
        _ => {}
    }
    Ok(())
}

/// Parses a list of signature names: each known, none twice, in `Signature::ALL` order (the
/// order the probe writes), so one set has one spelling.
fn parse_signatures(value: &str) -> Option<Vec<Signature>> {
    let list = parse_list(value, Signature::ALL.len(), Signature::parse)?;
    list.windows(2).all(|w| w[0] < w[1]).then_some(list)
}

/// Parses `<first>-<last>` (milliseconds since the epoch, digits only, first <= last).
fn parse_window(value: &str) -> Option<(u64, u64)> {
    let (first, last) = value.split_once('-')?;
    let ms = |text: &str| {
        (!text.is_empty() && text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    let (first, last) = (ms(first)?, ms(last)?);
    (first <= last).then_some((first, last))
}

/// Parses a decimal number made of ASCII digits only (no sign, no `+`, at most 10 digits).
fn parse_num<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_list<T>(text: &str, max: usize, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > max {
        return None;
    }
    parts.into_iter().map(item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = String::from("CB2-BEGIN session=s1 attempts=2\n");
        let mut a = Observation::new("a#0", Outcome::Refused, 3);
        a.errno = Some(111);
        out.push_str(&a.to_line());
        out.push('\n');
        let mut b = Observation::new("b#0", Outcome::Http, 12);
        b.status = Some(403);
        b.signed = vec![Signature::PipelockBody, Signature::SquidHeader];
        b.reason = Some("domain_blocklist".into());
        b.note = Some("weird = text; ünïcode".into());
        b.window = Some((1_790_000_000_000, 1_790_000_000_600));
        b.tunnel = Some(TunnelEnd::Closed);
        b.end = Some(StreamEnd::Reset);
        b.dropped = Some(65000);
        b.dropped_ports = vec![1, 2, 65535];
        out.push_str(&b.to_line());
        out.push_str("\nCB2-END session=s1\n");
        out.into_bytes()
    }

    #[test]
    fn round_trips_observations() {
        let parsed = ProbeOutput::parse(&sample(), "s1", &["a#0", "b#0"]).unwrap();
        assert_eq!(parsed.observations["a#0"].outcome(), Outcome::Refused);
        assert_eq!(parsed.observations["a#0"].errno, Some(111));
        let b = &parsed.observations["b#0"];
        assert_eq!(b.status, Some(403));
        assert_eq!(b.signed, [Signature::PipelockBody, Signature::SquidHeader]);
        assert_eq!(b.reason.as_deref(), Some("domain_blocklist"));
        assert_eq!(b.note.as_deref(), Some("weird = text; ünïcode"));
        assert_eq!(b.window, Some((1_790_000_000_000, 1_790_000_000_600)));
        assert_eq!(b.tunnel, Some(TunnelEnd::Closed));
        assert_eq!(parsed.observations["a#0"].tunnel, None);
        assert_eq!(b.end, Some(StreamEnd::Reset));
        assert_eq!(b.dropped, Some(65000));
        assert_eq!(b.dropped_ports, [1, 2, 65535]);
        assert_eq!(parsed.observations["a#0"].end, None);
    }

    /// A stream end or a dropped-port list outside the contract is garbage, never a default.
    #[test]
    fn rejects_unknown_stream_ends_and_bad_dropped_ports() {
        let line = |extra: &str| {
            format!("CB2-BEGIN session=s attempts=1\nCB2 id=a#0 outcome=connected elapsed_ms=1 {extra}\nCB2-END session=s\n")
        };
        for extra in [
            "end=refused",
            "end=",
            "dropped=-1",
            "dropped_ports=70000",
            "dropped_ports=1,,2",
        ] {
            assert!(
                ProbeOutput::parse(line(extra).as_bytes(), "s", &["a#0"]).is_err(),
                "{extra}"
            );
        }
        let many: Vec<String> = (1..=(MAX_OPEN_PORTS as u16 + 1))
            .map(|p| p.to_string())
            .collect();
        let too_many = format!("dropped_ports={}", many.join(","));
        assert!(ProbeOutput::parse(line(&too_many).as_bytes(), "s", &["a#0"]).is_err());
        for end in ["answered", "closed", "reset", "silent"] {
            let parsed =
                ProbeOutput::parse(line(&format!("end={end}")).as_bytes(), "s", &["a#0"]).unwrap();
            assert_eq!(
                parsed.observations["a#0"].end.map(StreamEnd::as_str),
                Some(end)
            );
        }
    }

    /// A tunnel's end is one of three words: "closed" is what a deny on domain fronting may
    /// rest on, so no other spelling may come to mean it.
    #[test]
    fn a_tunnel_end_is_one_of_three_words() {
        for end in [TunnelEnd::Answered, TunnelEnd::Closed, TunnelEnd::Silent] {
            assert_eq!(TunnelEnd::parse(end.as_str()), Some(end));
            let line = format!(
                "CB2-BEGIN session=s attempts=1\nCB2 id=a#0 outcome=http elapsed_ms=1 status=200 tunnel={}\nCB2-END session=s\n",
                end.as_str()
            );
            let parsed = ProbeOutput::parse(line.as_bytes(), "s", &["a#0"]).unwrap();
            assert_eq!(parsed.observations["a#0"].tunnel, Some(end));
        }
        for bad in ["", "Closed", "close", "closed,silent", "1"] {
            assert_eq!(TunnelEnd::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_unknown_attempt_ids() {
        let err = ProbeOutput::parse(&sample(), "s1", &["a#0"]).unwrap_err();
        assert!(matches!(err, WireError::UnknownAttempt { .. }), "{err}");
    }

    #[test]
    fn rejects_duplicates_garbage_and_missing_end() {
        let text = "CB2-BEGIN session=s attempts=1\nCB2 id=a#0 outcome=refused elapsed_ms=1\nCB2 id=a#0 outcome=connected elapsed_ms=1\nCB2-END session=s\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::DuplicateAttempt { .. })
        ));
        let text = "CB2-BEGIN session=s attempts=1\nall blocked, trust me\nCB2-END session=s\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::Garbage { .. })
        ));
        let text = "CB2-BEGIN session=s attempts=1\nCB2 id=a#0 outcome=refused elapsed_ms=1\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::MissingEnd { .. })
        ));
        let text = "CB2-BEGIN session=other attempts=1\nCB2-END session=other\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::WrongSession { .. })
        ));
    }

    #[test]
    fn rejects_bad_values_and_unknown_fields() {
        for line in [
            "CB2 id=a#0 outcome=blocked elapsed_ms=1",
            "CB2 id=a#0 outcome=refused elapsed_ms=-1",
            "CB2 id=a#0 outcome=refused elapsed_ms=+1",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 verdict=pass",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=1000",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 ack=yes",
            "CB2 id=a#0 outcome=refused",
            "CB2 id=a#0 outcome=refused elapsed_ms=1  ",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 window=2-1",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 window=1",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 window=-1",
            "CB2 id=a#0 outcome=refused elapsed_ms=1 window=1-+2",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=200 tunnel=reset",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=200 tunnel=",
            // The old invented marker is no field; signatures are a closed, ordered set.
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 deny=host-not-allowed",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 signed=pipelock",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 signed=squid_header,squid_header",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 signed=squid_header,pipelock_body",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 signed=",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 signed=user_header,",
            "CB2 id=a#0 outcome=http elapsed_ms=1 status=403 reason=a%2",
        ] {
            let text = format!("CB2-BEGIN session=s attempts=1\n{line}\nCB2-END session=s\n");
            assert!(
                ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]).is_err(),
                "accepted {line:?}"
            );
        }
    }

    #[test]
    fn rejects_oversized_output_and_lines() {
        let big = vec![b'x'; MAX_OUTPUT_BYTES + 1];
        assert!(matches!(
            ProbeOutput::parse(&big, "s", &[]),
            Err(WireError::OutputTooLarge { .. })
        ));
        let long = format!(
            "CB2-BEGIN session=s attempts=1\n{}\n",
            "y".repeat(MAX_LINE_BYTES + 1)
        );
        assert!(matches!(
            ProbeOutput::parse(long.as_bytes(), "s", &[]),
            Err(WireError::LineTooLong { .. })
        ));
        assert!(matches!(
            ProbeOutput::parse(&[0xff, 0xfe], "s", &[]),
            Err(WireError::NotUtf8)
        ));
    }

    /// One BEGIN only, before anything else: a second BEGIN (a replayed or spliced output) and
    /// a BEGIN after the END reject the whole output.
    #[test]
    fn a_second_begin_or_a_begin_after_the_end_is_rejected() {
        let one = "CB2 id=a#0 outcome=refused elapsed_ms=1\n";
        let begin = "CB2-BEGIN session=s attempts=1\n";
        let end = "CB2-END session=s\n";
        let ok = format!("{begin}{one}{end}");
        assert!(ProbeOutput::parse(ok.as_bytes(), "s", &["a#0"]).is_ok());
        let twice = format!("{begin}{begin}{one}{end}");
        assert!(ProbeOutput::parse(twice.as_bytes(), "s", &["a#0"]).is_err());
        let after = format!("{begin}{one}{end}{begin}");
        assert!(ProbeOutput::parse(after.as_bytes(), "s", &["a#0"]).is_err());
    }

    /// Every field the verdict reads is read, with its bounds: a field dropped by the parser
    /// (an rcode, a sweep's scanned/filtered counts, a false ack) would leave the verdict
    /// judging a default instead of what the probe saw.
    #[test]
    fn every_judged_field_is_read_within_its_bounds() {
        let parse_one = |fields: &str| {
            let text = format!(
                "CB2-BEGIN session=s attempts=1\nCB2 id=a#0 outcome=answered elapsed_ms=1 {fields}\nCB2-END session=s\n"
            );
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"])
                .map(|output| output.observations["a#0"].clone())
        };
        let seen = parse_one("rcode=15 scanned=65535 filtered=7 ack=0").unwrap();
        assert_eq!(seen.rcode, Some(15));
        assert_eq!(seen.scanned, Some(65535));
        assert_eq!(seen.filtered, Some(7));
        assert!(!seen.ack);
        assert_eq!(parse_one("rcode=0").unwrap().rcode, Some(0));
        assert!(parse_one("rcode=16").is_err(), "an rcode is 4 bits");
        assert!(parse_one("ack=1").unwrap().ack);
        assert!(parse_one("ack=yes").is_err());
    }

    /// Numbers are ASCII digits only, 1 to 10 of them: no sign, no empty value, no more digits
    /// than fit the widest field.
    #[test]
    fn numbers_are_one_to_ten_digits() {
        assert_eq!(parse_num::<u64>("4294967295"), Some(4_294_967_295));
        assert_eq!(parse_num::<u64>("12345678901"), None);
        assert_eq!(parse_num::<u64>(""), None);
        assert_eq!(parse_num::<u64>("+1"), None);
        assert_eq!(parse_num::<u64>("7"), Some(7));
    }
}
