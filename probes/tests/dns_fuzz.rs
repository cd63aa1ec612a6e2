//! Property tests of the DNS codec, which reads what a peer sent: a DNS reply inside the
//! agent's reach, a question at the DNS canary. Arbitrary bytes and mutations of valid messages
//! never panic, and what the codec builds it reads back.
//!
//! Failures are persisted to `tests/proptest-regressions/dns_fuzz.txt`, as for the wire parser
//! (`parser_fuzz.rs`): check in the lines proptest appends there.

use std::net::Ipv4Addr;

use bottle_probes::dns;
use bottle_probes::wire::MAX_ANSWERS;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/dns_fuzz.txt"
);

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Everything the codec reads out of `raw`, and a reply to it: none of it may panic.
fn decode_all(raw: &[u8]) {
    if let Some(response) = dns::parse_response(raw) {
        assert!(response.rcode <= 15);
        assert!(response.answers.len() <= MAX_ANSWERS);
    }
    if let Some(question) = dns::parse_question(raw) {
        assert!(question.end <= raw.len());
        let reply = dns::build_reply(raw, &question, Some(Ipv4Addr::LOCALHOST));
        let _ = dns::parse_response(&reply);
        let _ = dns::build_reply(raw, &question, None);
    }
}

/// A name the encoder accepts: 1 to 8 labels of 1 to 63 letters, digits and hyphens.
fn qname() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9-]{1,63}", 1..8).prop_map(|labels| labels.join("."))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..1024)) {
        decode_all(&raw);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        id in any::<u16>(),
        name in qname(),
        answer in proptest::option::of(any::<[u8; 4]>()),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let query = dns::build_query(id, &name).unwrap();
        let question = dns::parse_question(&query).unwrap();
        let mut raw = dns::build_reply(&query, &question, answer.map(Ipv4Addr::from));
        for (index, byte) in flips {
            let at = index.index(raw.len());
            raw[at] = byte;
        }
        let end = cut.index(raw.len() + 1);
        decode_all(&raw[..end]);
        decode_all(&raw);
    }

    #[test]
    fn queries_and_replies_round_trip(
        id in any::<u16>(),
        name in qname(),
        answer in proptest::option::of(any::<[u8; 4]>()),
    ) {
        let query = dns::build_query(id, &name).unwrap();
        let question = dns::parse_question(&query).unwrap();
        prop_assert_eq!(question.id, id);
        prop_assert_eq!(&question.qname, &name);
        prop_assert_eq!(question.qtype, 1);
        prop_assert_eq!(question.end, query.len());
        let answer = answer.map(Ipv4Addr::from);
        let response = dns::parse_response(&dns::build_reply(&query, &question, answer)).unwrap();
        prop_assert_eq!(response.id, id);
        prop_assert_eq!(response.rcode, if answer.is_some() { 0 } else { 3 });
        prop_assert_eq!(response.answers, answer.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn names_the_encoder_refuses_are_none_not_a_panic(name in "[a-z.]{0,80}") {
        // Empty labels (`a..b`, a leading dot, the empty name) cannot be encoded.
        let encodable = name
            .trim_end_matches('.')
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63);
        prop_assert_eq!(dns::build_query(7, &name).is_some(), encodable);
    }
}
