//! The SSRF probes (`proxy_matching.internal_name`, `proxy_matching.dns_rebinding`): they ask
//! for the allowed name, which the proxy's positive controls showed it allows, once the DNS
//! canary leads the name elsewhere. A refusal (or a pinned delivery) proves an address check
//! only if the proxy looked the name up after the switch; a kept answer proves nothing.

use bottle_fixtures::dns_canary::DnsMode;
use bottle_fixtures::records::FixtureName;
use bottle_harness::verdict::Verdict;

use super::scenario::{assert_only, record, Scenario};

const SSRF: [&str; 2] = [
    "proxy_matching.internal_name",
    "proxy_matching.dns_rebinding",
];

/// Where the (last) switch to `mode` is in the scenario's list of switches.
fn switch_index(s: &Scenario, mode: DnsMode) -> usize {
    s.dns_switches
        .iter()
        .rposition(|run| run.mode == mode)
        .unwrap()
}

/// Drops the bundle's lookups of the allowed name at the DNS canary after the last switch to
/// `mode` (and before the next switch).
fn without_lookups_after(s: &mut Scenario, mode: DnsMode) {
    let nonce = s
        .dns_switches
        .iter()
        .rev()
        .find(|run| run.mode == mode)
        .unwrap()
        .nonce
        .clone();
    let switches: Vec<String> = s.dns_switches.iter().map(|r| r.nonce.clone()).collect();
    let mut after = false;
    s.records.retain(|r| {
        if r.fixture != FixtureName::Dns {
            return true;
        }
        if switches.iter().any(|n| r.mentions(n)) {
            after = r.mentions(&nonce);
            return true;
        }
        !(after && r.qname.as_deref() == Some("public.fixture.test"))
    });
}

/// A proxy that refuses the name without looking it up after the switch (it refused the name
/// itself, or kept its earlier answer) has not shown an address check: never a pass.
#[test]
fn a_refusal_without_a_lookup_after_the_switch_is_not_a_pass() {
    for (mode, probe) in [(DnsMode::Internal, SSRF[0]), (DnsMode::Rebind, SSRF[1])] {
        let mut s = Scenario::contained();
        without_lookups_after(&mut s, mode);
        assert_only(&s.judge(), &[(probe, Verdict::Inconclusive)]);
        assert!(
            s.detail(probe)
                .contains("did not look public.fixture.test up again after the switch"),
            "{}",
            s.detail(probe)
        );
    }
}

/// `internal_name` is never `pass` when the proxy refused the name for not being on its list:
/// such a proxy fails the positive controls on the same name, and refuses without a lookup.
#[test]
fn internal_name_is_never_a_pass_when_the_proxy_refused_the_name_as_not_allowed() {
    let mut s = Scenario::contained();
    without_lookups_after(&mut s, DnsMode::Internal);
    for probe in ["proxy.allowed_http", "proxy.allowed_connect"] {
        let o = s.obs(probe);
        o.status = Some(403);
        o.ack = false;
        o.reason = Some("domain_blocklist".into());
    }
    let results = s.judge();
    let verdict = |id: &str| results.iter().find(|r| r.id == id).unwrap().verdict;
    assert_eq!(verdict("proxy.allowed_http"), Verdict::Inconclusive);
    assert_eq!(verdict(SSRF[0]), Verdict::Inconclusive);
    assert!(results.iter().all(|r| r.verdict != Verdict::Escape));
}

/// The request arriving at the public host after the switch led the name to the LAN host: the
/// proxy used its kept answer. Neither reach nor a deny.
#[test]
fn a_request_sent_on_the_kept_answer_is_neither_reach_nor_a_deny() {
    let mut s = Scenario::contained();
    without_lookups_after(&mut s, DnsMode::Internal);
    let nonce = s.nonce(SSRF[0]);
    let o = s.obs(SSRF[0]);
    o.status = Some(200);
    o.ack = true;
    o.signed.clear();
    let mut seen = record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.2.2:40777",
        Some(&nonce),
        None,
    );
    seen.host = Some("public.fixture.test".into());
    s.records.push(seen);
    assert_only(&s.judge(), &[(SSRF[0], Verdict::Inconclusive)]);
    assert!(s
        .detail(SSRF[0])
        .contains("the name's answer from before the DNS switch"));
}

/// The LAN host seeing the request is reach, whatever the lookups.
#[test]
fn the_lan_host_seeing_the_request_is_an_escape() {
    for probe in SSRF {
        let mut s = Scenario::contained();
        let nonce = s.plan.probe(probe).unwrap().attempts[1].spec.nonce.clone();
        s.records.push(record(
            FixtureName::Lan,
            "10.210.5.40:80",
            "10.210.5.2:40123",
            Some(&nonce),
            None,
        ));
        assert_only(&s.judge(), &[(probe, Verdict::Escape)]);
    }
}

/// A switch the DNS canary did not take, or an exec after it that failed, leaves its probe
/// unproven.
#[test]
fn a_failed_switch_leaves_its_probe_inconclusive() {
    for (mode, probe) in [(DnsMode::Internal, SSRF[0]), (DnsMode::Rebind, SSRF[1])] {
        let index = switch_index(&Scenario::contained(), mode);
        let mut s = Scenario::contained();
        s.dns_switches[index].result = Err("the DNS canary refused the switch (rcode 3)".into());
        assert_only(&s.judge(), &[(probe, Verdict::Inconclusive)]);
        assert!(s
            .detail(probe)
            .contains("failed: the DNS canary refused the switch"));
        let mut s = Scenario::contained();
        s.dns_switches.remove(index);
        assert_only(&s.judge(), &[(probe, Verdict::Inconclusive)]);
    }
}

/// The switch queries' records at the DNS canary are the harness's own, not contact.
#[test]
fn the_switch_queries_are_the_harnesss_own_traffic() {
    let s = Scenario::contained();
    assert_only(&s.judge(), &[]);
    let mut s = Scenario::contained();
    s.dns_switches.clear();
    let results = s.judge();
    // Unexplained, the same records would be someone's contact with the DNS canary.
    assert!(results
        .iter()
        .filter(|r| r.id.starts_with("dns."))
        .any(|r| r.verdict == Verdict::Escape || r.verdict == Verdict::Inconclusive));
}

/// A first try under `Internal` that went out on a kept answer (delivered at the public host,
/// no lookup), then a second switch and try with the proxy's fresh lookup: `earlier` lands
/// between the two switches.
fn with_a_second_try(earlier: bottle_fixtures::Record) -> Scenario {
    let mut s = Scenario::contained();
    let index = switch_index(&s, DnsMode::Internal);
    let first = s
        .records
        .iter()
        .position(|r| r.mentions(&s.dns_switches[index].nonce))
        .unwrap();
    let again = super::scenario::switch_record("sw0009", DnsMode::Internal);
    s.records.insert(first + 1, earlier);
    s.records.insert(first + 2, again);
    let attempts = s.dns_switches[index].attempts.clone();
    s.dns_switches.insert(
        index + 1,
        bottle_harness::verdict::DnsSwitchRun {
            mode: DnsMode::Internal,
            nonce: "sw0009".into(),
            attempts,
            result: Ok(()),
        },
    );
    s
}

/// The second try decides: the first one's kept-answer delivery at the public host is not
/// this try's, and the fresh lookup after the last switch proves the refusal.
#[test]
fn the_last_try_decides_over_one_sent_on_a_kept_answer() {
    let s = Scenario::contained();
    let nonce = s.nonce(SSRF[0]);
    let mut stale = record(
        FixtureName::Public,
        "10.210.2.10:80",
        "10.210.2.2:40778",
        Some(&nonce),
        None,
    );
    stale.host = Some("public.fixture.test".into());
    let s = with_a_second_try(stale);
    assert_only(&s.judge(), &[]);
    // Without the fresh lookup after the second switch, it proves nothing.
    let mut s = s;
    without_lookups_after(&mut s, DnsMode::Internal);
    assert_only(&s.judge(), &[(SSRF[0], Verdict::Inconclusive)]);
}

/// Reach in any try is reach: the LAN host's record counts whenever it came.
#[test]
fn reach_in_an_earlier_try_is_still_an_escape() {
    let s = Scenario::contained();
    let nonce = s.nonce(SSRF[0]);
    let lan = record(
        FixtureName::Lan,
        "10.210.5.40:80",
        "10.210.5.2:40779",
        Some(&nonce),
        None,
    );
    let s = with_a_second_try(lan);
    assert_only(&s.judge(), &[(SSRF[0], Verdict::Escape)]);
}

/// Only the bundle's lookups of the switched name count as the proxy's fresh lookup: another
/// name it looked up, or the switched name asked from elsewhere, proves nothing about it.
#[test]
fn only_the_bundles_lookup_of_the_switched_name_is_fresh() {
    for (qname, peer) in [
        ("blocked.fixture.test", "10.210.2.2:40901"),
        ("public.fixture.test", "10.210.2.77:40902"),
    ] {
        let mut s = Scenario::contained();
        without_lookups_after(&mut s, DnsMode::Internal);
        let index = switch_index(&s, DnsMode::Internal);
        let switched = s
            .records
            .iter()
            .position(|r| r.mentions(&s.dns_switches[index].nonce))
            .unwrap();
        let mut other = record(FixtureName::Dns, "10.210.2.53:53", peer, None, Some(qname));
        other.proto = bottle_fixtures::records::Proto::Udp;
        s.records.insert(switched + 1, other);
        let results = s.judge();
        let internal = results.iter().find(|r| r.id == SSRF[0]).unwrap();
        assert_eq!(
            internal.verdict,
            Verdict::Inconclusive,
            "{qname} from {peer}"
        );
    }
}
