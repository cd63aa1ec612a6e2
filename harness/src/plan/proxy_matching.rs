//! The proxy_matching family: pipelock's own decisions, each attempt aimed at a fixture that
//! records what it was asked for. The allowed name, the denied name and every lookalike and
//! spelling resolve to the public host (the DNS canary's zone, see `bottle_backends::
//! proxy_names`), so a request let through leaves its nonce there with the Host header, the
//! request target or the SNI it carried. The SSRF probes ask for the allowed name once the
//! DNS canary leads it to the LAN host's internal address, which must see nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bottle_backends::proxy_names;
use bottle_fixtures::dns_canary::DnsMode;
use bottle_probes::wire::{AttemptKind, UserRefusal};

use super::attempts::Attempts;
use super::inputs::{no_plan, Inputs};
use super::model::Delivery;
use crate::target::Target;

pub(super) fn plan(a: &mut Attempts, i: &Inputs) {
    match a.spec().id {
        "proxy_matching.tls_control" | "proxy_matching.sni_fronting" => tls_names(a, i),
        "proxy_matching.userinfo" | "proxy_matching.host_header" => confusions(a, i),
        "proxy_matching.internal_name" | "proxy_matching.dns_rebinding" => ssrf(a, i),
        _ => spellings(a, i),
    }
}

/// The TLS pair: the allowed name in the CONNECT and in the SNI (the control), or the denied
/// one in the SNI (fronting).
fn tls_names(a: &mut Attempts, i: &Inputs) {
    let t = i.topology.layout();
    let pipelock = i.pipelock();
    let refusal = i.proxy.user_refusal();
    match a.spec().id {
        "proxy_matching.tls_control" => {
            let authority = format!("{}:443", t.allowed_host);
            a.add(
                tls(pipelock, &authority, &t.allowed_host, refusal),
                Some(Target::Public),
                format!(
                    "CONNECT {authority} + ClientHello SNI {} via {pipelock}",
                    t.allowed_host
                ),
            );
        }
        "proxy_matching.sni_fronting" => {
            let authority = format!("{}:443", t.allowed_host);
            a.add(
                tls(pipelock, &authority, &t.denied_host, refusal),
                Some(Target::Public),
                format!(
                    "CONNECT {authority} + ClientHello SNI {} via {pipelock}",
                    t.denied_host
                ),
            );
        }
        other => no_plan(other),
    }
}

/// One name for the proxy, another for the destination: in the userinfo or a fragment, or in
/// the Host header.
fn confusions(a: &mut Attempts, i: &Inputs) {
    let t = i.topology.layout();
    let pipelock = i.pipelock();
    let refusal = i.proxy.user_refusal();
    match a.spec().id {
        "proxy_matching.userinfo" => {
            let (allowed, denied) = (&t.allowed_host, &t.denied_host);
            let userinfo = format!("{allowed}@{denied}");
            a.add(
                request(pipelock, &userinfo, "", denied, &refusal),
                Some(Target::Public),
                format!("http://{userinfo}/ via {pipelock}"),
            );
            let fragment = format!("#@{allowed}/");
            a.add(
                request(pipelock, denied, &fragment, denied, &refusal),
                Some(Target::Public),
                format!("http://{denied}/{fragment} via {pipelock}"),
            );
        }
        "proxy_matching.host_header" => {
            let (allowed, denied) = (&t.allowed_host, &t.denied_host);
            a.add_delivered(
                request(pipelock, allowed, "", denied, &refusal),
                Target::Public,
                format!("http://{allowed}/ with Host: {denied} via {pipelock}"),
                Delivery::AtPublicAs(allowed.clone()),
            );
        }
        other => no_plan(other),
    }
}

/// Other spellings of the names and the public host's address: lookalikes of the allowed name,
/// spellings of the denied one, and the address's literal forms.
fn spellings(a: &mut Attempts, i: &Inputs) {
    let t = i.topology.layout();
    let pipelock = i.pipelock();
    let refusal = i.proxy.user_refusal();
    match a.spec().id {
        "proxy_matching.lookalike_names" => {
            for name in proxy_names::lookalikes(&t.allowed_host) {
                for connect in [false, true] {
                    let (kind, destination) = by_name(pipelock, &name, connect, 443, &refusal);
                    a.add(kind, Some(Target::Public), destination);
                }
            }
        }
        "proxy_matching.denied_spellings" => {
            for spelling in proxy_names::denied_spellings(&t.denied_host) {
                a.add(
                    request(pipelock, &spelling.authority, "", &spelling.host, &refusal),
                    Some(Target::Public),
                    format!(
                        "http://{}/ ({}) via {pipelock}",
                        spelling.authority, spelling.what
                    ),
                );
            }
        }
        "proxy_matching.ip_literal_forms" => {
            let v6 = t.public_v6.map(|ip| format!("[{ip}]"));
            for (what, literal) in ip_forms(t.public.ip)
                .into_iter()
                .chain(v6.map(|l| ("its IPv6 address", l)))
            {
                for connect in [false, true] {
                    let (kind, destination) = by_name(pipelock, &literal, connect, 443, &refusal);
                    a.add(
                        kind,
                        Some(Target::Public),
                        format!("{destination} ({what})"),
                    );
                }
            }
        }
        other => no_plan(other),
    }
}

/// The SSRF probes ask for the allowed name itself (its positive controls showed the proxy
/// allows it), in execs of their own after every other attempt, while the DNS canary leads it
/// to the LAN host's internal address (`dns_mode`).
fn ssrf(a: &mut Attempts, i: &Inputs) {
    let t = i.topology.layout();
    let pipelock = i.pipelock();
    let refusal = i.proxy.user_refusal();
    match a.spec().id {
        "proxy_matching.internal_name" => {
            let name = &t.allowed_host;
            for connect in [false, true] {
                let (kind, destination) =
                    by_name(pipelock, name, connect, SSRF_TUNNEL_PORT, &refusal);
                a.add_delivered(kind, Target::Lan, destination, Delivery::StaleAtPublic);
            }
        }
        "proxy_matching.dns_rebinding" => {
            let name = &t.allowed_host;
            // The first lookup after the switch is the public host: a pinned proxy may deliver
            // there; only the LAN host must never see the nonce.
            for connect in [false, true] {
                let (kind, destination) =
                    by_name(pipelock, name, connect, SSRF_TUNNEL_PORT, &refusal);
                a.add_delivered(kind, Target::Lan, destination, Delivery::AtPublic);
            }
        }
        other => no_plan(other),
    }
}

/// The DNS canary's mode an SSRF probe's exec runs under (see `PlannedProbe::dns_mode`).
pub(super) fn dns_mode(id: &str) -> Option<DnsMode> {
    match id {
        "proxy_matching.internal_name" => Some(DnsMode::Internal),
        "proxy_matching.dns_rebinding" => Some(DnsMode::Rebind),
        _ => None,
    }
}

/// Why an SSRF probe of this family has nothing to send on this bottle, if it has not.
pub(super) fn skipped(id: &str, t: &bottle_backends::Topology) -> Option<String> {
    dns_mode(id)?;
    if t.layout().dns_switch.is_none() {
        return Some(
            "the harness cannot switch the allowed name's answer at the bundle's resolver on this bottle, so no name the proxy allows can be led to an internal address"
                .into(),
        );
    }
    if t.layout().lan_internal_ip.is_none() {
        return Some(
            "the LAN host has no address the bundle can reach on this bottle (no side network), so a proxy without the check could not show it"
                .into(),
        );
    }
    None
}

/// The spellings of an IPv4 address that `inet_aton` accepts, and its IPv4-mapped IPv6 form.
pub fn ip_forms(ip: Ipv4Addr) -> Vec<(&'static str, String)> {
    let [a, b, c, d] = ip.octets();
    let n = u32::from(ip);
    vec![
        ("dotted", ip.to_string()),
        ("decimal", n.to_string()),
        ("hex", format!("0x{n:08x}")),
        ("octal", format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}")),
        (
            "IPv4-mapped IPv6",
            format!("[{}]", IpAddr::V6(ip.to_ipv6_mapped())),
        ),
    ]
}

/// The port the SSRF probes' tunnels ask for: the one the positive control's tunnel asks for
/// (`proxy.allowed_connect`), so that only the address the name leads to differs from what the
/// proxy already let through, never its port policy (Apache refuses `CONNECT` to 80 by
/// default, after its lookup); the LAN host listens there too, so a proxy without the check
/// provably gets there rather than failing to connect.
const SSRF_TUNNEL_PORT: u16 = 443;

/// `GET http://<host>/` (through `HttpProxy`, Host header the same) or `CONNECT <host>:<port>`.
fn by_name(
    pipelock: SocketAddr,
    host: &str,
    connect: bool,
    tunnel_port: u16,
    refusal: &UserRefusal,
) -> (AttemptKind, String) {
    if connect {
        let authority = format!("{host}:{tunnel_port}");
        let destination = format!("CONNECT {authority} via {pipelock}");
        let kind = AttemptKind::ConnectProxy {
            proxy: pipelock,
            authority,
            refusal: refusal.clone(),
        };
        (kind, destination)
    } else {
        let destination = format!("http://{host}/ via {pipelock}");
        let kind = AttemptKind::HttpProxy {
            proxy: pipelock,
            host: host.to_string(),
            port: 80,
            refusal: refusal.clone(),
        };
        (kind, destination)
    }
}

fn request(
    pipelock: SocketAddr,
    authority: &str,
    after: &str,
    host: &str,
    refusal: &UserRefusal,
) -> AttemptKind {
    AttemptKind::HttpRequest {
        proxy: pipelock,
        authority: authority.to_string(),
        after: after.to_string(),
        host: host.to_string(),
        refusal: refusal.clone(),
    }
}

fn tls(pipelock: SocketAddr, authority: &str, sni: &str, refusal: UserRefusal) -> AttemptKind {
    AttemptKind::ConnectTls {
        proxy: pipelock,
        authority: authority.to_string(),
        sni: sni.to_string(),
        refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form is one `inet_aton` (and Rust's parser, for the dotted and IPv6 ones) reads
    /// back as the same address: a form that named another host would prove nothing.
    #[test]
    fn ip_forms_spell_the_same_address() {
        let ip = Ipv4Addr::new(10, 201, 7, 10);
        let forms = ip_forms(ip);
        let text: Vec<&str> = forms.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(
            text,
            [
                "10.201.7.10",
                "180946698",
                "0x0ac9070a",
                "012.0311.07.012",
                "[::ffff:10.201.7.10]",
            ]
        );
        assert_eq!(text[0].parse::<Ipv4Addr>().unwrap(), ip);
        assert_eq!(text[1].parse::<u32>().unwrap(), u32::from(ip));
        assert_eq!(
            u32::from_str_radix(&text[2][2..], 16).unwrap(),
            u32::from(ip)
        );
        let octets: Vec<u8> = text[3]
            .split('.')
            .map(|o| u8::from_str_radix(o, 8).unwrap())
            .collect();
        assert_eq!(octets, ip.octets());
        let v6: std::net::Ipv6Addr = text[4].trim_matches(['[', ']']).parse().unwrap();
        assert_eq!(v6.to_ipv4_mapped(), Some(ip));
    }
}
