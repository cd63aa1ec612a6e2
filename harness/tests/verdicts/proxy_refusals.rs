//! The proxy's refusals as real proxies give them: a refusal status (403 unless `bottle.toml`
//! says otherwise) is a deny where the harness records the destination and saw nothing there;
//! where it does not (the bundle's own loopback), only a refusal with the proxy's own signature
//! is, and any other answer from there is reach.

use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Observation, Signature};

use super::scenario::{assert_only, record, Scenario};

/// Every attempt of `probe`, changed by `change`.
fn each(s: &mut Scenario, probe: &str, change: impl Fn(&mut Observation)) {
    for (_, o) in s
        .observations
        .iter_mut()
        .filter(|(id, _)| id.starts_with(&format!("{probe}#")))
    {
        change(o);
    }
}

fn detail(s: &Scenario, probe: &str) -> String {
    s.judge()
        .into_iter()
        .find(|r| r.id == probe)
        .map(|r| r.detail)
        .unwrap()
}

#[test]
fn a_bare_403_from_a_destination_the_harness_does_not_record_is_not_a_pass() {
    let mut s = Scenario::contained();
    s.observations
        .get_mut("proxy.loopback_spellings#2")
        .unwrap()
        .signed
        .clear();
    assert_only(
        &s.judge(),
        &[("proxy.loopback_spellings", Verdict::Inconclusive)],
    );
    assert!(
        detail(&s, "proxy.loopback_spellings").contains("without the proxy's signature"),
        "{}",
        detail(&s, "proxy.loopback_spellings")
    );
}

#[test]
fn a_signed_refusal_passes_pipelocks_body_or_header_alone_or_squids() {
    for signed in [
        vec![Signature::PipelockBody],
        vec![Signature::PipelockHeader],
        vec![Signature::SquidHeader],
        vec![Signature::UserHeader],
        vec![Signature::UserBody],
    ] {
        let mut s = Scenario::contained();
        for probe in [
            "proxy.loopback_spellings",
            "proxy.denied_host",
            "proxy.denied_connect",
            "proxy.connect_ip_literal",
            "metadata.via_proxy",
        ] {
            each(&mut s, probe, |o| {
                o.signed = signed.clone();
                o.reason = Some("ERR_ACCESS_DENIED 0".into());
            });
        }
        assert_only(&s.judge(), &[]);
    }
}

#[test]
fn any_other_answer_from_the_bundles_loopback_is_reach() {
    for status in [404, 400, 502, 301] {
        let mut s = Scenario::contained();
        let o = s
            .observations
            .get_mut("proxy.loopback_spellings#5")
            .unwrap();
        o.status = Some(status);
        o.signed.clear();
        o.reason = None;
        assert_only(&s.judge(), &[("proxy.loopback_spellings", Verdict::Escape)]);
        assert!(
            detail(&s, "proxy.loopback_spellings").contains("the proxy forwarded it"),
            "{status}"
        );
    }
    // The proxy's own answer with another status is not reach, and not a refusal either.
    let mut s = Scenario::contained();
    s.observations
        .get_mut("proxy.loopback_spellings#5")
        .unwrap()
        .status = Some(400);
    assert_only(
        &s.judge(),
        &[("proxy.loopback_spellings", Verdict::Inconclusive)],
    );
}

#[test]
fn an_unsigned_403_for_a_recorded_destination_rests_on_the_target_and_the_control() {
    let unsigned = |s: &mut Scenario| {
        for probe in ["proxy.denied_host", "proxy.connect_ip_literal"] {
            each(s, probe, |o| {
                o.signed.clear();
                o.reason = None;
            });
        }
    };
    // Nothing recorded and the control held: a deny.
    let mut s = Scenario::contained();
    unsigned(&mut s);
    assert_only(&s.judge(), &[]);

    // The target recorded the nonce arriving from the bundle: the 403 was the target's own.
    let mut s = Scenario::contained();
    unsigned(&mut s);
    let nonce = s.nonce("proxy.denied_host");
    s.records.push(record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.2.2:40123",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("proxy.denied_host", Verdict::Escape)]);

    // The control on the same path failed: the 403 proves nothing.
    let mut s = Scenario::contained();
    unsigned(&mut s);
    s.obs("proxy.allowed_connect").status = Some(502);
    let results = s.judge();
    let verdict = |id: &str| results.iter().find(|r| r.id == id).unwrap().verdict;
    assert_eq!(verdict("proxy.allowed_connect"), Verdict::Inconclusive);
    assert_eq!(verdict("proxy.connect_ip_literal"), Verdict::Inconclusive);
}

#[test]
fn the_configured_refusal_status_is_the_one_that_counts() {
    let mut s = Scenario::contained();
    s.plan.refusal_status = 407;
    // pipelock's signed 403 is the proxy's answer, but not the refusal this bottle declares.
    let refused = [
        "proxy.denied_host",
        "proxy.denied_connect",
        "proxy.connect_ip_literal",
        "proxy.loopback_spellings",
        "proxy.dns_side_channel",
        "proxy_matching.lookalike_names",
        "proxy_matching.denied_spellings",
        "proxy_matching.userinfo",
        "proxy_matching.ip_literal_forms",
        "proxy_matching.internal_name",
        "proxy_matching.dns_rebinding",
        "metadata.via_proxy",
    ];
    let changed: Vec<(&str, Verdict)> = refused
        .iter()
        .map(|id| (*id, Verdict::Inconclusive))
        .collect();
    assert_only(&s.judge(), &changed);
    for probe in refused {
        each(&mut s, probe, |o| o.status = Some(407));
    }
    assert_only(&s.judge(), &[]);
}

#[test]
fn a_2xx_or_an_acknowledgement_is_reach_even_signed() {
    let mut s = Scenario::contained();
    s.obs("proxy.denied_host").ack = true;
    assert_only(&s.judge(), &[("proxy.denied_host", Verdict::Escape)]);
    let mut s = Scenario::contained();
    s.obs("metadata.via_proxy").status = Some(204);
    assert_only(&s.judge(), &[("metadata.via_proxy", Verdict::Escape)]);
}
