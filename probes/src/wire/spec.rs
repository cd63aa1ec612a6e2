//! Attempt specs: one network action the harness asks the probe for, and its argv token
//! (`id=...;kind=tcp;addr=...;nonce=...;timeout_ms=...`). The decoder is strict so that a harness
//! bug is loud; [`token_ok`] is the closed value syntax the result parser shares.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Serialize;

use super::refusal::{body_prefix_ok, header_name_ok, hex_decode, hex_encode, UserRefusal};
use crate::errors::WireError;

/// One network action the probe performs from inside the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptKind {
    /// TCP connect; on success send `CB-NONCE <nonce>` and wait for `CB-ACK <nonce>`.
    Tcp { addr: SocketAddr },
    /// `GET http://<host>:<port>/cb/<nonce>` through an HTTP proxy; `refusal` is the user's own
    /// refusal signature, looked for besides the built-in ones.
    HttpProxy {
        proxy: SocketAddr,
        host: String,
        port: u16,
        refusal: UserRefusal,
    },
    /// `CONNECT <authority>` through an HTTP proxy, then the nonce through the tunnel.
    ConnectProxy {
        proxy: SocketAddr,
        authority: String,
        refusal: UserRefusal,
    },
    /// `GET http://<authority>/cb/<nonce><after>` with `Host: <host>` through an HTTP proxy:
    /// the spellings a proxy's host matching must see through (userinfo, fragments, case,
    /// percent-encoding, a Host header naming another host). Each value is sent byte for byte;
    /// none may hold a space or a control character (see [`request_text_ok`]).
    HttpRequest {
        proxy: SocketAddr,
        authority: String,
        after: String,
        host: String,
        refusal: UserRefusal,
    },
    /// `CONNECT <authority>` through an HTTP proxy, then a TLS ClientHello naming `sni` and
    /// carrying the nonce (as an ALPN name, see `tls`): domain fronting when `sni` is not the
    /// authority's host.
    ConnectTls {
        proxy: SocketAddr,
        authority: String,
        sni: String,
        refusal: UserRefusal,
    },
    /// A DNS query for `qname` (type A) over UDP to `server`.
    DnsUdp { server: SocketAddr, qname: String },
    /// A DNS query for `qname` (type A) over TCP to `server`.
    DnsTcp { server: SocketAddr, qname: String },
    /// A DNS query for `qname` to the first nameserver of the agent's own `/etc/resolv.conf`.
    Resolver { tcp: bool, qname: String },
    /// TCP connects to every port in `first..=last` of `ip`; reports the ports that accepted.
    Sweep { ip: IpAddr, first: u16, last: u16 },
    /// A UDP datagram `CB-NONCE <nonce>` to `addr`, waiting for `CB-ACK <nonce>` back.
    Udp { addr: SocketAddr },
    /// An ICMP echo request (unprivileged ping socket) carrying the nonce; an echo reply
    /// carrying it back is reach.
    Ping { ip: IpAddr },
    /// TCP to an IPv6 link-local address, tried on every IPv6 interface of the agent (the
    /// scope of a link-local address is an interface the harness cannot name from outside).
    TcpLinkLocal { ip: std::net::Ipv6Addr, port: u16 },
    /// Looks for unix sockets in the agent's filesystem (the engine's socket, the host's
    /// daemons) and connects to each; a socket of its own, made first, proves the search works.
    UnixSockets,
    /// Listens on TCP `port` for the attempt's timeout and reports who connected. It first
    /// connects to itself at `own` (its address on the agent network): the listener provably
    /// accepted from outside its loopback while the harness's dialers were trying.
    Listen { port: u16, own: Ipv4Addr },
}

impl AttemptKind {
    /// Whether the attempt is a request to the bundle's HTTP proxy: pipelock decides it, and
    /// whatever it lets through leaves from the bundle.
    pub fn through_proxy(&self) -> bool {
        self.proxy().is_some()
    }

    /// The proxy a proxy attempt is sent to.
    pub fn proxy(&self) -> Option<SocketAddr> {
        match self {
            AttemptKind::HttpProxy { proxy, .. }
            | AttemptKind::ConnectProxy { proxy, .. }
            | AttemptKind::HttpRequest { proxy, .. }
            | AttemptKind::ConnectTls { proxy, .. } => Some(*proxy),
            _ => None,
        }
    }
}

/// One attempt as the harness asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttemptSpec {
    /// `<probe id>#<index>`; unique within a probe run.
    pub id: String,
    pub kind: AttemptKind,
    /// Sent to the target so that the target's records can be matched to this attempt.
    pub nonce: String,
    /// Connect/answer timeout; for sweeps, the budget of the whole sweep. For an
    /// [`Stage::Adaptive`] attempt run with `--adaptive`, the most it may get.
    pub timeout_ms: u32,
    /// When the attempt runs within the one probe exec, and with which timeout.
    pub stage: Stage,
}

/// When an attempt runs within a probe exec. Positive controls run first; their slowest round
/// trip sets the timeout of the adaptive attempts (`bottle-probe run --adaptive`), which start
/// once every control is done. Fixed attempts (the sweep, proxy denials) start then too and
/// keep their own timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Control,
    #[default]
    Fixed,
    Adaptive,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Control => "control",
            Stage::Fixed => "fixed",
            Stage::Adaptive => "adaptive",
        }
    }
}

/// Whether `text` can go into a request line or a header as it is: 1 to 128 bytes, none of
/// them a space, a control character or DEL (bytes of UTF-8 beyond ASCII may: an IDNA
/// look-alike is sent raw).
pub fn request_text_ok(text: &str) -> bool {
    !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b > b' ' && b != 0x7f)
}

pub(crate) fn token_ok(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-[]#".contains(&b))
}

impl AttemptSpec {
    /// Encodes the spec as one argv token.
    pub fn encode(&self) -> String {
        let mut out = format!("id={};", self.id);
        encode_kind(&self.kind, &mut out).expect("writing to a String cannot fail");
        write!(out, ";nonce={};timeout_ms={}", self.nonce, self.timeout_ms)
            .expect("writing to a String cannot fail");
        if self.stage != Stage::Fixed {
            write!(out, ";stage={}", self.stage.as_str()).expect("writing to a String cannot fail");
        }
        out
    }

    /// Decodes one argv token. Used by `bottle-probe`; strict so that a harness bug is loud.
    pub fn decode(token: &str) -> Result<Self, WireError> {
        let mut fields = Fields::split(token)?;
        let stage = match fields.map.remove("stage") {
            None | Some("fixed") => Stage::Fixed,
            Some("control") => Stage::Control,
            Some("adaptive") => Stage::Adaptive,
            Some(_) => return Err(fields.bad("stage must be control, fixed or adaptive")),
        };
        let id = fields.take("id")?.to_string();
        let kind_name = fields.take("kind")?;
        let nonce = fields.take("nonce")?.to_string();
        let timeout_ms: u32 = fields.parse("timeout_ms", "timeout_ms is not a number")?;
        let kind = decode_kind(kind_name, &mut fields)?;
        if let Some(extra) = fields.map.keys().next() {
            return Err(fields.bad(&format!("unknown field {extra}")));
        }
        Ok(Self {
            id,
            kind,
            nonce,
            timeout_ms,
            stage,
        })
    }

    /// Checks that every value survives the token syntax; the harness calls this before exec.
    pub fn validate(&self) -> Result<(), WireError> {
        Self::decode(&self.encode()).map(|_| ())
    }
}

/// The user refusal signature's spec fields (`;refusal_header=...;refusal_body=<hex>`), when set.
fn refusal_fields(refusal: &UserRefusal) -> String {
    let mut out = String::new();
    if let Some(header) = &refusal.header {
        out.push_str(&format!(";refusal_header={header}"));
    }
    if let Some(prefix) = &refusal.body_prefix {
        out.push_str(&format!(";refusal_body={}", hex_encode(prefix)));
    }
    out
}

/// The user refusal signature of a proxy spec token: both fields optional, each in its syntax.
fn decode_refusal(fields: &mut Fields<'_>) -> Result<UserRefusal, WireError> {
    let header = match fields.map.remove("refusal_header") {
        Some(name) if header_name_ok(name) => Some(name.to_string()),
        Some(_) => return Err(fields.bad("refusal_header is not a header name")),
        None => None,
    };
    let body_prefix = match fields.map.remove("refusal_body") {
        Some(hex) => match hex_decode(hex).filter(|p| body_prefix_ok(p)) {
            Some(prefix) => Some(prefix),
            None => return Err(fields.bad("refusal_body is not a hex-encoded body prefix")),
        },
        None => None,
    };
    Ok(UserRefusal {
        header,
        body_prefix,
    })
}

/// The `key=value` fields of one spec token, taken out one by one as the decoder reads them;
/// whatever is left at the end is an unknown field.
struct Fields<'a> {
    token: &'a str,
    map: BTreeMap<&'a str, &'a str>,
}

impl<'a> Fields<'a> {
    /// Splits the token at `;` and `=`: every value in the token syntax, no field twice.
    fn split(token: &'a str) -> Result<Self, WireError> {
        let mut fields = Self {
            token,
            map: BTreeMap::new(),
        };
        for part in token.split(';') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| fields.bad("field without '='"))?;
            if !token_ok(value) {
                return Err(fields.bad(&format!(
                    "value of {key} has characters outside the token set"
                )));
            }
            if fields.map.insert(key, value).is_some() {
                return Err(fields.bad(&format!("field {key} twice")));
            }
        }
        Ok(fields)
    }

    fn bad(&self, reason: &str) -> WireError {
        WireError::BadSpec {
            spec: self.token.chars().take(200).collect(),
            reason: reason.to_string(),
        }
    }

    fn take(&mut self, key: &str) -> Result<&'a str, WireError> {
        self.map
            .remove(key)
            .ok_or_else(|| self.bad(&format!("no {key}")))
    }

    /// Takes `key` and parses it; `reason` is the error when it does not parse.
    fn parse<T: std::str::FromStr>(&mut self, key: &str, reason: &str) -> Result<T, WireError> {
        let value = self.take(key)?;
        value.parse().map_err(|_| self.bad(reason))
    }

    fn sock(&mut self, key: &str) -> Result<SocketAddr, WireError> {
        self.parse(key, "bad socket address")
    }

    /// Takes a hex-encoded request text (see [`request_text_ok`]).
    fn request_text(&mut self, key: &str) -> Result<String, WireError> {
        let hex = self.take(key)?;
        hex_decode(hex)
            .filter(|text| request_text_ok(text))
            .ok_or_else(|| self.bad(&format!("{key} is not a hex-encoded request text")))
    }
}

/// The kind's fields of an attempt's token (`kind=...;...`), the counterpart of
/// [`decode_kind`]: apart from `encode` so that the token's frame (id, nonce, timeout, stage)
/// reads at a glance.
fn encode_kind(kind: &AttemptKind, out: &mut String) -> std::fmt::Result {
    match kind {
        AttemptKind::Tcp { addr } => write!(out, "kind=tcp;addr={addr}"),
        AttemptKind::HttpProxy {
            proxy,
            host,
            port,
            refusal,
        } => write!(
            out,
            "kind=http_proxy;proxy={proxy};host={host};port={port}{}",
            refusal_fields(refusal)
        ),
        AttemptKind::ConnectProxy {
            proxy,
            authority,
            refusal,
        } => write!(
            out,
            "kind=connect_proxy;proxy={proxy};authority={authority}{}",
            refusal_fields(refusal)
        ),
        AttemptKind::HttpRequest {
            proxy,
            authority,
            after,
            host,
            refusal,
        } => {
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(";after={}", hex_encode(after))
            };
            write!(
                out,
                "kind=http_request;proxy={proxy};authority={};host={}{after}{}",
                hex_encode(authority),
                hex_encode(host),
                refusal_fields(refusal)
            )
        }
        AttemptKind::ConnectTls {
            proxy,
            authority,
            sni,
            refusal,
        } => write!(
            out,
            "kind=connect_tls;proxy={proxy};authority={authority};sni={sni}{}",
            refusal_fields(refusal)
        ),
        AttemptKind::DnsUdp { server, qname } => {
            write!(out, "kind=dns_udp;server={server};qname={qname}")
        }
        AttemptKind::DnsTcp { server, qname } => {
            write!(out, "kind=dns_tcp;server={server};qname={qname}")
        }
        AttemptKind::Resolver { tcp, qname } => {
            let proto = if *tcp { "tcp" } else { "udp" };
            write!(out, "kind=resolver;proto={proto};qname={qname}")
        }
        AttemptKind::Sweep { ip, first, last } => {
            write!(out, "kind=sweep;ip={ip};first={first};last={last}")
        }
        AttemptKind::Udp { addr } => write!(out, "kind=udp;addr={addr}"),
        AttemptKind::Ping { ip } => write!(out, "kind=ping;ip={ip}"),
        AttemptKind::TcpLinkLocal { ip, port } => {
            write!(out, "kind=tcp_link_local;ip={ip};port={port}")
        }
        AttemptKind::UnixSockets => write!(out, "kind=unix_sockets"),
        AttemptKind::Listen { port, own } => write!(out, "kind=listen;port={port};own={own}"),
    }
}

/// The kind-specific fields of a spec token of kind `kind_name`.
fn decode_kind(kind_name: &str, fields: &mut Fields<'_>) -> Result<AttemptKind, WireError> {
    Ok(match kind_name {
        "tcp" => AttemptKind::Tcp {
            addr: fields.sock("addr")?,
        },
        "http_proxy" => AttemptKind::HttpProxy {
            proxy: fields.sock("proxy")?,
            host: fields.take("host")?.to_string(),
            port: fields.parse("port", "bad port")?,
            refusal: decode_refusal(fields)?,
        },
        "connect_proxy" => AttemptKind::ConnectProxy {
            proxy: fields.sock("proxy")?,
            authority: fields.take("authority")?.to_string(),
            refusal: decode_refusal(fields)?,
        },
        "http_request" => AttemptKind::HttpRequest {
            proxy: fields.sock("proxy")?,
            authority: fields.request_text("authority")?,
            host: fields.request_text("host")?,
            after: match fields.map.contains_key("after") {
                true => fields.request_text("after")?,
                false => String::new(),
            },
            refusal: decode_refusal(fields)?,
        },
        "connect_tls" => AttemptKind::ConnectTls {
            proxy: fields.sock("proxy")?,
            authority: fields.take("authority")?.to_string(),
            sni: fields.take("sni")?.to_string(),
            refusal: decode_refusal(fields)?,
        },
        "dns_udp" => AttemptKind::DnsUdp {
            server: fields.sock("server")?,
            qname: fields.take("qname")?.to_string(),
        },
        "dns_tcp" => AttemptKind::DnsTcp {
            server: fields.sock("server")?,
            qname: fields.take("qname")?.to_string(),
        },
        "resolver" => AttemptKind::Resolver {
            tcp: match fields.take("proto")? {
                "tcp" => true,
                "udp" => false,
                _ => return Err(fields.bad("proto must be tcp or udp")),
            },
            qname: fields.take("qname")?.to_string(),
        },
        "sweep" => AttemptKind::Sweep {
            ip: fields.parse("ip", "bad ip")?,
            first: fields.parse("first", "bad first port")?,
            last: fields.parse("last", "bad last port")?,
        },
        "udp" => AttemptKind::Udp {
            addr: fields.sock("addr")?,
        },
        "ping" => AttemptKind::Ping {
            ip: fields.parse("ip", "bad ip")?,
        },
        "tcp_link_local" => AttemptKind::TcpLinkLocal {
            ip: fields.parse("ip", "bad ipv6 address")?,
            port: fields.parse("port", "bad port")?,
        },
        "unix_sockets" => AttemptKind::UnixSockets,
        "listen" => AttemptKind::Listen {
            port: fields.parse("port", "bad port")?,
            own: fields.parse("own", "bad own address")?,
        },
        _ => return Err(fields.bad("unknown kind")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Long: a table of every attempt kind that must round-trip, then of the tokens that must not parse.
    #[test]
    fn specs_round_trip_and_reject_bad_tokens() {
        let specs = [
            AttemptKind::Tcp {
                addr: "10.1.2.3:80".parse().unwrap(),
            },
            AttemptKind::HttpProxy {
                proxy: "10.1.2.2:3128".parse().unwrap(),
                host: "public.fixture.test".into(),
                port: 80,
                refusal: UserRefusal::default(),
            },
            AttemptKind::ConnectProxy {
                proxy: "10.1.2.2:3128".parse().unwrap(),
                authority: "10.9.9.9:443".into(),
                refusal: UserRefusal {
                    header: Some("X-Gate-Refused".into()),
                    body_prefix: Some("denied; by gate=1 ü".into()),
                },
            },
            AttemptKind::DnsUdp {
                server: "10.1.2.53:53".parse().unwrap(),
                qname: "abc.exfil.fixture.test".into(),
            },
            AttemptKind::Resolver {
                tcp: true,
                qname: "bundle".into(),
            },
            AttemptKind::Sweep {
                ip: "10.1.2.2".parse().unwrap(),
                first: 1,
                last: 65535,
            },
            AttemptKind::Tcp {
                addr: "[fdcb::10]:80".parse().unwrap(),
            },
            AttemptKind::Udp {
                addr: "10.1.2.10:7".parse().unwrap(),
            },
            AttemptKind::Ping {
                ip: "10.1.2.10".parse().unwrap(),
            },
            AttemptKind::TcpLinkLocal {
                ip: "fe80::42:aff:fee7:502".parse().unwrap(),
                port: 4000,
            },
            AttemptKind::UnixSockets,
            AttemptKind::Listen {
                port: 4700,
                own: "10.1.2.3".parse().unwrap(),
            },
            AttemptKind::HttpProxy {
                proxy: "10.1.2.2:3128".parse().unwrap(),
                host: "[::ffff:127.0.0.1]".into(),
                port: 9099,
                refusal: UserRefusal {
                    header: None,
                    body_prefix: Some("Access denied".into()),
                },
            },
        ];
        for (i, kind) in specs.into_iter().enumerate() {
            let spec = AttemptSpec {
                id: format!("p.x#{i}"),
                kind,
                nonce: "n0nce".into(),
                timeout_ms: 900,
                stage: Stage::Fixed,
            };
            assert_eq!(AttemptSpec::decode(&spec.encode()).unwrap(), spec);
        }
        for bad in [
            "id=a;kind=tcp;addr=1.2.3.4:80;nonce=x",
            "id=a;kind=tcp;addr=1.2.3.4:80;nonce=x;timeout_ms=1;extra=1",
            "id=a;kind=warp;nonce=x;timeout_ms=1",
            "id=a b;kind=tcp;addr=1.2.3.4:80;nonce=x;timeout_ms=1",
            // A refusal signature only on proxy kinds, and only in its syntax.
            "id=a;kind=tcp;addr=1.2.3.4:80;refusal_header=X;nonce=x;timeout_ms=1",
            "id=a;kind=connect_proxy;proxy=1.2.3.4:80;authority=a:1;refusal_header=X_Y;nonce=x;timeout_ms=1",
            "id=a;kind=connect_proxy;proxy=1.2.3.4:80;authority=a:1;refusal_body=6;nonce=x;timeout_ms=1",
            "id=a;kind=connect_proxy;proxy=1.2.3.4:80;authority=a:1;refusal_body=0a;nonce=x;timeout_ms=1",
            "id=a;kind=connect_proxy;proxy=1.2.3.4:80;authority=a:1;refusal_body=;nonce=x;timeout_ms=1",
            // Request texts are hex of 1 to 128 bytes without spaces or control characters:
            // a CR/LF would let a spec inject headers, a space split the request line.
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=612062;host=61;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=61;host=610d0a;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=;host=61;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=61;host=61;after=;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=61;host=61;after=7f;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=a.test;host=61;nonce=x;timeout_ms=1",
            "id=a;kind=http_request;proxy=1.2.3.4:80;authority=61;nonce=x;timeout_ms=1",
            "id=a;kind=connect_tls;proxy=1.2.3.4:80;authority=a:1;nonce=x;timeout_ms=1",
        ] {
            assert!(AttemptSpec::decode(bad).is_err(), "accepted {bad}");
        }
    }

    /// Every kind at every stage survives encode -> decode unchanged, and `validate` says so;
    /// a value the token syntax cannot carry fails `validate` before any exec. A kind or field
    /// the decoder dropped would run a different attempt than the harness planned.
    // Long: one table of every attempt kind, each encoded at every stage, then the cases
    // validate must refuse.
    #[test]
    fn every_kind_and_stage_round_trips_and_validate_catches_what_cannot() {
        let proxy: SocketAddr = "10.0.0.2:3128".parse().unwrap();
        let signed = UserRefusal {
            header: Some("X-Denied".into()),
            body_prefix: Some("no: ".into()),
        };
        let kinds = [
            AttemptKind::Tcp {
                addr: "10.0.0.9:80".parse().unwrap(),
            },
            AttemptKind::HttpProxy {
                proxy,
                host: "a.test".into(),
                port: 80,
                refusal: signed.clone(),
            },
            AttemptKind::ConnectProxy {
                proxy,
                authority: "a.test:443".into(),
                refusal: UserRefusal::default(),
            },
            AttemptKind::HttpRequest {
                proxy,
                authority: "a.test@b.test".into(),
                after: "#@a.test/".into(),
                host: "b.test".into(),
                refusal: signed.clone(),
            },
            AttemptKind::HttpRequest {
                proxy,
                authority: "b%2Etest:80".into(),
                after: String::new(),
                host: "bl\u{43e}cked.test".into(),
                refusal: UserRefusal::default(),
            },
            AttemptKind::ConnectTls {
                proxy,
                authority: "a.test:443".into(),
                sni: "b.test".into(),
                refusal: signed.clone(),
            },
            AttemptKind::DnsUdp {
                server: "10.0.0.53:53".parse().unwrap(),
                qname: "n.test".into(),
            },
            AttemptKind::DnsTcp {
                server: "10.0.0.53:53".parse().unwrap(),
                qname: "n.test".into(),
            },
            AttemptKind::Resolver {
                tcp: true,
                qname: "n.test".into(),
            },
            AttemptKind::Resolver {
                tcp: false,
                qname: "n.test".into(),
            },
            AttemptKind::Sweep {
                ip: "10.0.0.2".parse().unwrap(),
                first: 1,
                last: 65535,
            },
            AttemptKind::Udp {
                addr: "10.0.0.9:7".parse().unwrap(),
            },
            AttemptKind::Ping {
                ip: "10.0.0.9".parse().unwrap(),
            },
            AttemptKind::TcpLinkLocal {
                ip: "fe80::1".parse().unwrap(),
                port: 22,
            },
            AttemptKind::UnixSockets,
            AttemptKind::Listen {
                port: 4700,
                own: Ipv4Addr::new(10, 0, 0, 3),
            },
        ];
        for kind in kinds {
            for stage in [Stage::Control, Stage::Fixed, Stage::Adaptive] {
                let spec = AttemptSpec {
                    id: "p.x#0".into(),
                    kind: kind.clone(),
                    nonce: "n1".into(),
                    timeout_ms: 900,
                    stage,
                };
                let token = spec.encode();
                assert_eq!(AttemptSpec::decode(&token).as_ref(), Ok(&spec), "{token}");
                assert!(spec.validate().is_ok(), "{token}");
                // The stage is spelled out unless it is the default one.
                assert_eq!(token.contains(";stage="), stage != Stage::Fixed, "{token}");
            }
        }
        let broken = AttemptSpec {
            id: "p.x#0".into(),
            kind: AttemptKind::Resolver {
                tcp: false,
                qname: "a;kind=tcp".into(),
            },
            nonce: "n1".into(),
            timeout_ms: 900,
            stage: Stage::Adaptive,
        };
        assert!(
            broken.validate().is_err(),
            "a ';' inside a value must not pass validate"
        );
        assert!(UserRefusal::default().is_empty());
        assert!(!UserRefusal {
            header: Some("X".into()),
            body_prefix: None
        }
        .is_empty());
        assert!(!UserRefusal {
            header: None,
            body_prefix: Some("x".into())
        }
        .is_empty());
    }

    /// Exactly the four proxy kinds go through the proxy: a direct attempt counted as proxied
    /// would have the bundle's traffic charged to it, a proxied one counted as direct would
    /// lose it.
    #[test]
    fn only_the_proxy_kinds_go_through_the_proxy() {
        let proxy: SocketAddr = "10.0.0.2:3128".parse().unwrap();
        let refusal = UserRefusal::default();
        let through = [
            AttemptKind::HttpProxy {
                proxy,
                host: "a.test".into(),
                port: 80,
                refusal: refusal.clone(),
            },
            AttemptKind::ConnectProxy {
                proxy,
                authority: "a.test:443".into(),
                refusal: refusal.clone(),
            },
            AttemptKind::HttpRequest {
                proxy,
                authority: "a.test".into(),
                after: String::new(),
                host: "a.test".into(),
                refusal: refusal.clone(),
            },
            AttemptKind::ConnectTls {
                proxy,
                authority: "a.test:443".into(),
                sni: "a.test".into(),
                refusal,
            },
        ];
        assert!(through.iter().all(AttemptKind::through_proxy));
        assert!(through.iter().all(|k| k.proxy() == Some(proxy)));
        let direct = [
            AttemptKind::Tcp { addr: proxy },
            AttemptKind::Udp { addr: proxy },
            AttemptKind::DnsUdp {
                server: proxy,
                qname: "a.test".into(),
            },
            AttemptKind::Resolver {
                tcp: false,
                qname: "a.test".into(),
            },
            AttemptKind::UnixSockets,
        ];
        assert!(!direct.iter().any(AttemptKind::through_proxy));
        assert!(direct.iter().all(|k| k.proxy().is_none()));
    }

    /// The request texts' bounds: 1 to 128 bytes; a space, a control byte or DEL would break
    /// the request line or inject a header, bytes beyond ASCII go raw (an IDNA look-alike).
    #[test]
    fn request_texts_are_bounded_and_free_of_spaces_and_controls() {
        for (text, ok) in [
            ("", false),
            ("a", true),
            (&"a".repeat(128) as &str, true),
            (&"a".repeat(129), false),
            ("a b", false),
            ("a\r\nX: 1", false),
            ("a\tb", false),
            ("a\u{7f}", false),
            ("!", true),
            ("bl\u{43e}cked.test", true),
        ] {
            assert_eq!(request_text_ok(text), ok, "{text:?}");
        }
    }
}
