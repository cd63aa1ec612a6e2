//! The side channel through the bundle's resolver (`proxy.dns_side_channel`): what the bundle
//! looked up that the agent chose. A name carrying an attempt's nonce is that attempt's by the
//! nonce, like any record; this module owns the other half, the reverse lookup (PTR) of an IP
//! literal the agent asked the proxy for. Squid's plain `dstdomain` ACL makes that lookup for an
//! IP-literal request the list does not match (`src/acl/DestinationDomain.cc`: `StartLookup`
//! calls `fqdncache_nbgethostbyaddr(dst_addr)` unless the `-n` flag, `lookupBanned`, is set;
//! measured in /work/shared/field-notes.md), and the bundle's resolver forwards it to the DNS
//! canary. Such a lookup is
//! charged to the side channel's IP-literal attempts, whichever proxy probe's literal it names
//! (the agent chose them all), never to the DNS probes the agent sends itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bottle_fixtures::records::FixtureName;
use bottle_fixtures::Record;
use bottle_probes::wire::AttemptKind;

use super::source::{source_of, Source};
use crate::plan::{Plan, PlannedAttempt};
use crate::target::Target;

/// The host an attempt asks the proxy for, as the proxy reads it: an IP literal in any
/// spelling `inet_aton` accepts (the proxies parse hosts with it), brackets stripped.
pub(super) fn literal_of(attempt: &PlannedAttempt) -> Option<IpAddr> {
    let host = match &attempt.spec.kind {
        AttemptKind::HttpProxy { host, .. } => host.as_str(),
        AttemptKind::ConnectProxy { authority, .. } => authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host),
        _ => return None,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .ok()
        .or_else(|| inet_aton(host).map(IpAddr::V4))
}

/// One part of an `inet_aton` address: hex with `0x`, octal with a leading 0, else decimal.
fn aton_part(part: &str) -> Option<u64> {
    if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if part.len() > 1 && part.starts_with('0') {
        u64::from_str_radix(&part[1..], 8).ok()
    } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// An IPv4 address as `inet_aton(3)` reads it: one to four parts, the last filling the bytes
/// left (`127.1`, `0x7f000001`, `2130706433` are all 127.0.0.1).
fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u64> = host.split('.').map(aton_part).collect::<Option<_>>()?;
    let (last, init) = parts.split_last()?;
    if init.len() > 3 || init.iter().any(|p| *p > 255) {
        return None;
    }
    let bits = 8 * (4 - init.len() as u32);
    if *last >> bits != 0 {
        return None;
    }
    let high = init.iter().fold(0u64, |acc, p| (acc << 8) | p);
    Some(Ipv4Addr::from(((high << bits) | last) as u32))
}

/// The name a reverse lookup of `ip` asks for (`d.c.b.a.in-addr.arpa`, nibbles in `ip6.arpa`).
pub(super) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::new();
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
    }
}

/// The IP literal, asked of the proxy by any attempt of the plan, whose reverse lookup `record`
/// is (a query at the DNS canary), if it is one.
pub(super) fn agent_chosen_literal(plan: &Plan, record: &Record) -> Option<IpAddr> {
    if record.fixture != FixtureName::Dns {
        return None;
    }
    let qname = record.qname.as_deref()?.trim_end_matches('.');
    plan.probes
        .iter()
        .flat_map(|p| p.attempts.iter())
        .filter_map(literal_of)
        // A proxy may look `[::ffff:a.b.c.d]` up as the IPv4 address it maps, or as itself.
        .flat_map(|ip| [ip, ip.to_canonical()])
        .find(|ip| reverse_name(*ip).eq_ignore_ascii_case(qname))
}

/// Whether `attempt` is one of the side channel's IP-literal requests: through the proxy, its
/// target the DNS canary, an IP literal asked for.
fn side_channel_literal(attempt: &PlannedAttempt) -> bool {
    attempt.target == Some(Target::Dns) && literal_of(attempt).is_some()
}

/// Whether `record` (which the bundle's upstream leg sent) is charged to `attempt`, a request
/// through the proxy aimed at the DNS canary: the bundle's reverse lookup of an IP literal the
/// agent asked the proxy for, charged to the side channel's IP-literal requests.
pub(super) fn charged(attempt: &PlannedAttempt, record: &Record, plan: &Plan) -> bool {
    side_channel_literal(attempt)
        && source_of(plan, record) == Source::Bundle
        && agent_chosen_literal(plan, record).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_reads_the_spellings_proxies_accept() {
        let lo = Some(Ipv4Addr::LOCALHOST);
        assert_eq!(inet_aton("127.1"), lo);
        assert_eq!(inet_aton("0x7f000001"), lo);
        assert_eq!(inet_aton("2130706433"), lo);
        assert_eq!(inet_aton("0177.0.0.1"), lo);
        assert_eq!(
            inet_aton("10.210.2.199"),
            Some(Ipv4Addr::new(10, 210, 2, 199))
        );
        for name in [
            "localhost",
            "public.fixture.test",
            "",
            "1.2.3.4.5",
            "256.1",
            "1.2.3.256",
            "n0001.leak.fixture.test",
            // A sign is no digit, though Rust's integer parser accepts it.
            "127.0.0.+1",
            "+2130706433",
            "1..2",
            "0x",
        ] {
            assert_eq!(inet_aton(name), None, "{name}");
        }
        // 255 is the largest leading part, and the last part fills the bytes left.
        assert_eq!(inet_aton("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(inet_aton("10.255.1"), Some(Ipv4Addr::new(10, 255, 0, 1)));
        assert_eq!(inet_aton("10.65535"), Some(Ipv4Addr::new(10, 0, 255, 255)));
        assert_eq!(inet_aton("10.65536"), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(inet_aton("1.2.65536"), None);
    }

    #[test]
    fn reverse_names_are_the_ptr_questions() {
        assert_eq!(
            reverse_name("10.210.2.199".parse().unwrap()),
            "199.2.210.10.in-addr.arpa"
        );
        let v6 = reverse_name("::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with(".0.0.ip6.arpa"), "{v6}");
        assert_eq!(v6.split('.').count(), 34);
    }
}
