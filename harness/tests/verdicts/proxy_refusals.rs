//! The proxy's refusals as real proxies give them: every destination records what reaches it,
//! so any answer of the proxy's own that is not a success is a deny where the destination saw
//! nothing (its refusal status, a parser's 400, a gateway error), with the control passed and
//! the destination alive; the status and the signature only name which refusal it was. Where
//! the harness records nothing (a bottle without the recorder on the bundle's loopback), only
//! the refusal status with the proxy's signature counts.

use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Observation, Signature};

use bottle_harness::target::Target;

use super::scenario::{assert_only, builder, make_plan_for, record, Scenario};

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

/// A bottle without the recorder on the bundle's loopback (a plan made against such a
/// topology): the loopback spellings aim at the bundle's egress, which a user's bundle does not
/// record.
fn without_the_recorder() -> Scenario {
    let mut s = Scenario::contained();
    let topology = builder().layout(|l| l.bundle_loopback_port = None).build();
    s.plan = make_plan_for(&topology);
    s
}

#[test]
fn where_nothing_records_the_destination_only_a_signed_refusal_counts() {
    let mut s = without_the_recorder();
    assert_only(&s.judge(), &[]);
    for status in [403, 400, 404, 502] {
        let o = s
            .observations
            .get_mut("proxy.loopback_spellings#2")
            .unwrap();
        o.status = Some(status);
        o.signed.clear();
        assert_only(
            &s.judge(),
            &[("proxy.loopback_spellings", Verdict::Inconclusive)],
        );
        assert!(
            s.detail("proxy.loopback_spellings")
                .contains("without the proxy's refusal signature"),
            "{}",
            s.detail("proxy.loopback_spellings")
        );
    }
}

/// Where nothing records the destination, the refusal status with any signature the probe
/// knows counts: pipelock's body or header alone, Squid's header, the user's header or body.
#[test]
fn a_signed_refusal_passes_pipelocks_body_or_header_alone_or_squids() {
    for signed in [
        vec![Signature::PipelockBody],
        vec![Signature::PipelockHeader],
        vec![Signature::SquidHeader],
        vec![Signature::UserHeader],
        vec![Signature::UserBody],
    ] {
        let mut s = without_the_recorder();
        each(&mut s, "proxy.loopback_spellings", |o| {
            o.signed = signed.clone();
            o.reason = Some("ERR_ACCESS_DENIED 0".into());
        });
        assert_only(&s.judge(), &[]);
    }
}

/// Any answer of the proxy's own that is not a success is a refusal when the recorder on the
/// bundle's loopback saw nothing (Apache's parser answers `400` for `127.1` itself): the
/// record decides, not the status or the body.
#[test]
fn any_refusal_is_a_deny_where_the_recorder_on_the_bundles_loopback_saw_nothing() {
    for status in [400, 404, 502, 301, 403] {
        let mut s = Scenario::contained();
        each(&mut s, "proxy.loopback_spellings", |o| {
            o.status = Some(status);
            o.signed.clear();
            o.reason = None;
        });
        assert_only(&s.judge(), &[]);
        assert!(
            s.detail("proxy.loopback_spellings")
                .contains("controls passed; targets alive and saw nothing"),
            "{status}: {}",
            s.detail("proxy.loopback_spellings")
        );
    }
}

/// What reached the recorder decides whatever the proxy answered: its nonce, or a connection
/// nobody explains, from the proxy's own loopback address.
#[test]
fn the_recorders_record_is_reach_whatever_the_proxy_answered() {
    let mut s = Scenario::contained();
    let nonce = s.plan.probe("proxy.loopback_spellings").unwrap().attempts[3]
        .spec
        .nonce
        .clone();
    s.records.push(record(
        FixtureName::BundleLoopback,
        "127.0.0.2:39099",
        "127.0.0.1:51234",
        Some(&nonce),
        None,
    ));
    assert_only(&s.judge(), &[("proxy.loopback_spellings", Verdict::Escape)]);
    assert!(s
        .detail("proxy.loopback_spellings")
        .contains("bundle-loopback recorded this attempt's nonce"));

    let mut s = Scenario::contained();
    s.records.push(record(
        FixtureName::BundleLoopback,
        "127.0.0.1:39099",
        "127.0.0.1:51235",
        None,
        None,
    ));
    assert_only(&s.judge(), &[("proxy.loopback_spellings", Verdict::Escape)]);
}

/// A recorder that did not answer its liveness check (from inside the bundle's namespace)
/// makes the silence there prove nothing.
#[test]
fn a_dead_recorder_makes_the_loopback_spellings_inconclusive() {
    let mut s = Scenario::contained();
    s.liveness.insert(
        Target::BundleLoopback,
        Err("127.0.0.1:39099 (Tcp): refused".into()),
    );
    assert_only(
        &s.judge(),
        &[("proxy.loopback_spellings", Verdict::Inconclusive)],
    );
    assert!(s
        .detail("proxy.loopback_spellings")
        .contains("recorder on the bundle's loopback failed"));
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

/// The configured refusal status names the proxy's refusals in the details; it does not
/// decide them: another status from the proxy is a refusal too where the destination recorded
/// nothing, and said to be another one.
#[test]
fn the_configured_refusal_status_only_names_the_refusal() {
    let mut s = Scenario::contained();
    s.plan.refusal_status = 407;
    assert_only(&s.judge(), &[]);
    let said = s.detail("proxy.denied_host");
    let attempt = s.first_judgement("proxy.denied_host");
    assert!(
        attempt.contains("answered 403 itself, with its signature (not its refusal status 407)"),
        "{attempt} / {said}"
    );
    each(&mut s, "proxy.denied_host", |o| o.status = Some(407));
    let attempt = s.first_judgement("proxy.denied_host");
    assert!(
        attempt.contains("the proxy refused (407, with its signature)"),
        "{attempt}"
    );
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
