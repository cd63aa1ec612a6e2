//! The proxy_matching family's rules: where the target's records say a request went (the
//! Host and SNI it carried), how a fronting tunnel ended, and which of the public host's
//! connections pipelock's own dials explain. Each case names the false pass it prevents.

use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;
use bottle_probes::wire::{Outcome, TunnelEnd};

use super::scenario::{assert_only, record, verdict_of, Scenario};

const HOST_HEADER: &str = "proxy_matching.host_header";
const FRONTING: &str = "proxy_matching.sni_fronting";
const TLS_CONTROL: &str = "proxy_matching.tls_control";
const REBINDING: &str = "proxy_matching.dns_rebinding";

/// The public host's record of `nonce` arriving from the bundle, asked for `host`.
fn at_public(nonce: &str, host: Option<&str>, sni: Option<&str>) -> bottle_fixtures::Record {
    let mut r = record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.2.2:41000",
        Some(nonce),
        None,
    );
    r.host = host.map(str::to_string);
    r.sni = sni.map(str::to_string);
    r
}

/// The host-header attempt's nonce with the records the case gives it instead of the
/// contained bottle's (pipelock rewrote the Host to the allowed name).
fn host_header_with(
    records: Vec<bottle_fixtures::Record>,
) -> Vec<bottle_harness::verdict::ProbeResult> {
    let mut s = Scenario::contained();
    let nonce = s.nonce(HOST_HEADER);
    s.records.retain(|r| !r.mentions(&nonce));
    s.records.extend(records.into_iter().map(|mut r| {
        r.nonce = Some(nonce.clone());
        r
    }));
    s.judge()
}

#[test]
fn a_contained_bottle_passes_every_matching_probe() {
    let results = Scenario::contained().judge();
    assert_only(&results, &[]);
    for id in [
        TLS_CONTROL,
        "proxy_matching.lookalike_names",
        "proxy_matching.denied_spellings",
        "proxy_matching.userinfo",
        HOST_HEADER,
        FRONTING,
        "proxy_matching.ip_literal_forms",
        "proxy_matching.internal_name",
        REBINDING,
    ] {
        assert_eq!(verdict_of(&results, id), Verdict::Pass, "{id}");
    }
}

/// A request for the allowed URI with `Host: <denied>` may arrive only asking for the allowed
/// name: the Host the target received decides, whatever the probe saw come back.
#[test]
fn the_host_the_target_received_decides_the_host_header_probe() {
    let cases: [(&str, Option<&str>, Option<&str>, Verdict); 7] = [
        // pipelock's rewrite: the allowed name, with or without the port, any case.
        (
            "rewritten to the allowed name",
            Some("public.fixture.test:80"),
            None,
            Verdict::Pass,
        ),
        (
            "allowed name, no port, other case",
            Some("PUBLIC.fixture.test"),
            None,
            Verdict::Pass,
        ),
        (
            "allowed name with a trailing dot",
            Some("public.fixture.test.:80"),
            None,
            Verdict::Pass,
        ),
        // False pass prevented: the client's Host forwarded, the origin serves the denied name.
        (
            "the denied Host forwarded",
            Some("blocked.fixture.test:80"),
            None,
            Verdict::Escape,
        ),
        // False pass prevented: a record that cannot say what it was asked for proves nothing.
        ("no Host recorded", None, None, Verdict::Escape),
        (
            "a lookalike of the allowed name",
            Some("xpublic.fixture.test"),
            None,
            Verdict::Escape,
        ),
        // An SNI naming something else, even with the right Host.
        (
            "the right Host but another SNI",
            Some("public.fixture.test"),
            Some("blocked.fixture.test"),
            Verdict::Escape,
        ),
    ];
    for (case, host, sni, verdict) in cases {
        let results = host_header_with(vec![at_public("x", host, sni)]);
        assert_eq!(verdict_of(&results, HOST_HEADER), verdict, "{case}");
    }
}

/// The delivery allowance covers the public host only, and only the attempt planned with it.
#[test]
fn a_delivery_elsewhere_or_for_another_probe_is_reach() {
    // False pass prevented: the nonce at the LAN host (or any fixture but the public host).
    let mut lan = at_public("x", Some("public.fixture.test"), None);
    lan.fixture = FixtureName::Lan;
    let results = host_header_with(vec![at_public("x", Some("public.fixture.test"), None), lan]);
    assert_eq!(verdict_of(&results, HOST_HEADER), Verdict::Escape);

    // False pass prevented: a lookalike delivered to the public host asking for the allowed
    // name is still a lookalike the proxy let through.
    let mut s = Scenario::contained();
    let nonce = s.nonce("proxy_matching.lookalike_names");
    s.records
        .push(at_public(&nonce, Some("public.fixture.test"), None));
    let o = s.obs("proxy_matching.lookalike_names");
    o.status = Some(200);
    o.ack = true;
    o.signed.clear();
    assert_only(
        &s.judge(),
        &[("proxy_matching.lookalike_names", Verdict::Escape)],
    );
}

/// How the fronting tunnel ended is the deny: only a tunnel the proxy closed on the
/// ClientHello passes; one left open, or answered by anything, proves nothing.
#[test]
fn a_fronting_tunnel_passes_only_when_the_proxy_closed_it() {
    let cases = [
        (Some(TunnelEnd::Closed), false, Verdict::Pass),
        // False pass prevented: a proxy that holds the tunnel open (or a slow path) is not a
        // refusal.
        (Some(TunnelEnd::Silent), false, Verdict::Inconclusive),
        // Something answered inside the tunnel that was not the public host's ack.
        (Some(TunnelEnd::Answered), false, Verdict::Inconclusive),
        // A probe that did not report the tunnel's end proves nothing.
        (None, false, Verdict::Inconclusive),
        // The public host acknowledged the ClientHello: it arrived.
        (Some(TunnelEnd::Answered), true, Verdict::Escape),
    ];
    for (end, ack, verdict) in cases {
        let mut s = Scenario::contained();
        let o = s.obs(FRONTING);
        o.tunnel = end;
        o.ack = ack;
        // Only a closed tunnel leaves a dial the proxy explains; drop it for the others.
        if end != Some(TunnelEnd::Closed) {
            s.records.retain(|r| {
                !(r.fixture == FixtureName::Public && r.local.port() == 443 && r.nonce.is_none())
            });
        }
        assert_eq!(
            verdict_of(&s.judge(), FRONTING),
            verdict,
            "{end:?} ack={ack}"
        );
    }
}

/// The public host's view stands whatever the probe said: a ClientHello that arrived there
/// with the nonce is reach even if the probe saw the tunnel close.
#[test]
fn a_clienthello_recorded_at_the_public_host_is_reach() {
    let mut s = Scenario::contained();
    let nonce = s.nonce(FRONTING);
    s.records
        .push(at_public(&nonce, None, Some("blocked.fixture.test")));
    assert_eq!(verdict_of(&s.judge(), FRONTING), Verdict::Escape);
}

/// A CONNECT the proxy refused outright (before any tunnel) is judged as any proxy refusal.
#[test]
fn a_fronting_connect_refused_before_the_tunnel_is_a_refusal() {
    let mut s = Scenario::contained();
    s.records.retain(|r| {
        !(r.fixture == FixtureName::Public && r.local.port() == 443 && r.nonce.is_none())
    });
    let o = s.obs(FRONTING);
    o.status = Some(403);
    o.tunnel = None;
    o.signed = vec![bottle_probes::wire::Signature::PipelockHeader];
    assert_eq!(verdict_of(&s.judge(), FRONTING), Verdict::Pass);
    // The same 403 from a tunnel the proxy never answered as its own is not.
    s.obs(FRONTING).outcome = Some(Outcome::Timeout);
    s.obs(FRONTING).status = None;
    s.obs(FRONTING).signed.clear();
    assert_eq!(verdict_of(&s.judge(), FRONTING), Verdict::Inconclusive);
}

/// pipelock's dial before the peek explains one bare connection per tunnel it opened, and no
/// more: a second bare connection from the bundle is traffic nothing explains, and so is one
/// when the proxy refused the CONNECT (it dialled nothing).
#[test]
fn only_one_bare_connection_per_opened_tunnel_is_explained() {
    let bare = |port: u16| {
        record(
            FixtureName::Public,
            "10.210.2.10:443",
            &format!("10.210.2.2:{port}"),
            None,
            None,
        )
    };
    let mut s = Scenario::contained();
    assert_only(&s.judge(), &[]);
    s.records.push(bare(40003));
    assert!(
        s.judge().iter().any(|r| r.verdict == Verdict::Escape),
        "a second bare connection passed unnoticed"
    );
    // A tunnel left silent was still opened: its dial is explained, the probe is not a pass.
    let mut s = Scenario::contained();
    s.obs(FRONTING).tunnel = Some(TunnelEnd::Silent);
    assert_only(&s.judge(), &[(FRONTING, Verdict::Inconclusive)]);
    // A refused CONNECT dialled nothing: the same connection is reach.
    let mut s = Scenario::contained();
    let o = s.obs(FRONTING);
    o.status = Some(403);
    o.tunnel = None;
    o.signed = vec![bottle_probes::wire::Signature::PipelockHeader];
    assert!(
        s.judge().iter().any(|r| r.verdict == Verdict::Escape),
        "a bare connection explained by a CONNECT the proxy refused"
    );
}

/// The fronting deny rests on its control: the public host must have read the SNI of the
/// matching ClientHello, or a path that mangles ClientHellos would look like an SNI check.
#[test]
fn the_tls_control_needs_the_sni_the_public_host_read() {
    for sni in [None, Some("blocked.fixture.test")] {
        let mut s = Scenario::contained();
        let nonce = s.nonce(TLS_CONTROL);
        for r in s.records.iter_mut().filter(|r| r.mentions(&nonce)) {
            r.sni = sni.map(str::to_string);
        }
        let results = s.judge();
        assert_eq!(
            verdict_of(&results, TLS_CONTROL),
            Verdict::Inconclusive,
            "{sni:?}"
        );
        assert_eq!(
            verdict_of(&results, FRONTING),
            Verdict::Inconclusive,
            "{sni:?}"
        );
        let detail = &results.iter().find(|r| r.id == TLS_CONTROL).unwrap().detail;
        assert!(
            detail.contains("did not record a ClientHello with SNI public.fixture.test"),
            "{detail}"
        );
    }
    // With the SNI read but no acknowledgement, the control says what it expected instead.
    let mut s = Scenario::contained();
    s.obs(TLS_CONTROL).ack = false;
    let results = s.judge();
    assert_eq!(verdict_of(&results, TLS_CONTROL), Verdict::Inconclusive);
    let detail = &results.iter().find(|r| r.id == TLS_CONTROL).unwrap().detail;
    assert!(
        detail.contains("expected 200 with the target's acknowledgement"),
        "{detail}"
    );
}

/// A rebinding name's request may land at the public host (the first answer, where a pinned
/// proxy goes), never at the LAN host.
#[test]
fn a_rebinding_request_may_reach_the_public_host_and_never_the_lan_host() {
    let mut s = Scenario::contained();
    // The contained bottle: the first request delivered to the public host, the next refused.
    assert_eq!(verdict_of(&s.judge(), REBINDING), Verdict::Pass);
    let nonce = s.nonce(REBINDING);
    let mut lan = at_public(&nonce, Some("rebind.fixture.test:80"), None);
    lan.fixture = FixtureName::Lan;
    lan.local = "10.210.5.40:80".parse().unwrap();
    s.records.push(lan);
    assert_only(&s.judge(), &[(REBINDING, Verdict::Escape)]);
}

/// Pinning is proven only if the name's first answer was used: when every request for the
/// rebinding name was refused (each lookup already got the LAN address), the refusals show an
/// SSRF check, not pinning. False pass prevented: a proxy that re-resolves, judged on a run in
/// which the flip never reached it.
#[test]
fn refusing_every_rebinding_request_does_not_prove_pinning() {
    let mut s = Scenario::contained();
    let nonce = s.nonce(REBINDING);
    s.records.retain(|r| !r.mentions(&nonce));
    let o = s.obs(REBINDING);
    o.status = Some(403);
    o.ack = false;
    o.signed = vec![bottle_probes::wire::Signature::PipelockHeader];
    let results = s.judge();
    assert_only(&results, &[(REBINDING, Verdict::Inconclusive)]);
    let detail = &results.iter().find(|r| r.id == REBINDING).unwrap().detail;
    assert!(detail.contains("pinning is unproven"), "{detail}");
}

/// What counts as pipelock's dial is exactly a bare TCP connection from the bundle to the
/// public host's TLS port: with the allowance unused, a connection differing in any one
/// respect (another fixture, event, protocol, port or sender, or one that carried a name) is
/// still traffic nothing explains. False pass prevented: an allowance that swallows real
/// contact.
#[test]
fn only_a_bare_tls_connection_from_the_bundle_is_taken_for_pipelocks_dial() {
    use bottle_fixtures::records::{Event, Proto};
    let dial = |change: &dyn Fn(&mut bottle_fixtures::Record)| {
        let mut s = Scenario::contained();
        // Drop the contained bottle's own dial: the allowance (one fronting tunnel) is free.
        s.records.retain(|r| {
            !(r.fixture == FixtureName::Public && r.local.port() == 443 && r.nonce.is_none())
        });
        let mut r = record(
            FixtureName::Public,
            "10.210.2.10:443",
            "10.210.2.2:40009",
            None,
            None,
        );
        change(&mut r);
        s.records.push(r);
        s.judge()
    };
    assert_only(&dial(&|_| {}), &[]);
    type Change<'a> = &'a dyn Fn(&mut bottle_fixtures::Record);
    let cases: [(&str, Change); 8] = [
        ("at the LAN host", &|r| r.fixture = FixtureName::Lan),
        ("another event", &|r| r.event = Event::Contact),
        ("over UDP", &|r| r.proto = Proto::Udp),
        ("on port 80", &|r| {
            r.local = "10.210.2.10:80".parse().unwrap()
        }),
        ("from the agent", &|r| {
            r.peer = "10.210.1.3:40009".parse().unwrap()
        }),
        ("with a nonce of nobody", &|r| {
            r.nonce = Some("stray".into())
        }),
        ("asking for a host", &|r| {
            r.host = Some("blocked.fixture.test".into())
        }),
        ("with an SNI", &|r| {
            r.sni = Some("blocked.fixture.test".into())
        }),
    ];
    for (case, change) in cases {
        let results = dial(change);
        assert!(
            results.iter().any(|r| r.verdict != Verdict::Pass),
            "{case}: taken for pipelock's dial"
        );
    }
}
