//! The text protocol between the harness and `bottle-probe`.
//!
//! The harness passes attempts on argv (no stdin is ever attached to an exec), one token per
//! attempt: `id=...;kind=tcp;addr=10.0.0.2:80;nonce=...;timeout_ms=800`. The probe answers on
//! stdout with one line per attempt between a BEGIN and an END line that carry the session
//! nonce the harness chose:
//!
//! ```text
//! CB1-BEGIN session=3f2a attempts=2
//! CB1 id=lan.fixture_host#0 outcome=timeout elapsed_ms=800
//! CB1 id=proxy.allowed#0 outcome=http elapsed_ms=12 status=200 ack=1
//! CB1-END session=3f2a
//! ```
//!
//! Everything the probe prints is hostile input: an agent that controls the sandbox controls this
//! text. [`ProbeOutput::parse`] is therefore strict: bounded size and line length, a closed set of
//! fields with closed value syntax, no unknown or duplicate attempt ids, and a BEGIN/END pair with
//! the right session. Any violation rejects the whole output, which the harness turns into
//! `inconclusive` (never `pass`). A probe that lies within the syntax is caught by the target-side
//! evidence the harness collects itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::errors::WireError;

/// Protocol tag on every line; bump it when the line format changes.
pub const PROTOCOL: &str = "CB1";
/// The most stdout the harness accepts from one probe run.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;
/// The longest single line the harness accepts.
pub const MAX_LINE_BYTES: usize = 4096;
/// The most ports a sweep result may list as open.
pub const MAX_OPEN_PORTS: usize = 128;
/// The most addresses a DNS answer may list.
pub const MAX_ANSWERS: usize = 16;

/// One network action the probe performs from inside the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptKind {
    /// TCP connect; on success send `CB-NONCE <nonce>` and wait for `CB-ACK <nonce>`.
    Tcp { addr: SocketAddr },
    /// `GET http://<host>:<port>/cb/<nonce>` through an HTTP proxy.
    HttpProxy {
        proxy: SocketAddr,
        host: String,
        port: u16,
    },
    /// `CONNECT <authority>` through an HTTP proxy, then the nonce through the tunnel.
    ConnectProxy {
        proxy: SocketAddr,
        authority: String,
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

fn token_ok(value: &str) -> bool {
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
        match &self.kind {
            AttemptKind::Tcp { addr } => write!(out, "kind=tcp;addr={addr}"),
            AttemptKind::HttpProxy { proxy, host, port } => {
                write!(out, "kind=http_proxy;proxy={proxy};host={host};port={port}")
            }
            AttemptKind::ConnectProxy { proxy, authority } => {
                write!(
                    out,
                    "kind=connect_proxy;proxy={proxy};authority={authority}"
                )
            }
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
        .expect("writing to a String cannot fail");
        write!(out, ";nonce={};timeout_ms={}", self.nonce, self.timeout_ms)
            .expect("writing to a String cannot fail");
        if self.stage != Stage::Fixed {
            write!(out, ";stage={}", self.stage.as_str()).expect("writing to a String cannot fail");
        }
        out
    }

    /// Decodes one argv token. Used by `bottle-probe`; strict so that a harness bug is loud.
    pub fn decode(token: &str) -> Result<Self, WireError> {
        let bad = |reason: &str| WireError::BadSpec {
            spec: token.chars().take(200).collect(),
            reason: reason.to_string(),
        };
        let mut fields = BTreeMap::new();
        for part in token.split(';') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad("field without '='"))?;
            if !token_ok(value) {
                return Err(bad(&format!(
                    "value of {key} has characters outside the token set"
                )));
            }
            if fields.insert(key, value).is_some() {
                return Err(bad(&format!("field {key} twice")));
            }
        }
        let stage = match fields.remove("stage") {
            None | Some("fixed") => Stage::Fixed,
            Some("control") => Stage::Control,
            Some("adaptive") => Stage::Adaptive,
            Some(_) => return Err(bad("stage must be control, fixed or adaptive")),
        };
        let mut take = |key: &str| fields.remove(key).ok_or_else(|| bad(&format!("no {key}")));
        let id = take("id")?.to_string();
        let kind_name = take("kind")?;
        let nonce = take("nonce")?.to_string();
        let timeout_ms: u32 = take("timeout_ms")?
            .parse()
            .map_err(|_| bad("timeout_ms is not a number"))?;

        let sock = |v: &str| {
            v.parse::<SocketAddr>()
                .map_err(|_| bad("bad socket address"))
        };
        let kind = match kind_name {
            "tcp" => AttemptKind::Tcp {
                addr: sock(take("addr")?)?,
            },
            "http_proxy" => AttemptKind::HttpProxy {
                proxy: sock(take("proxy")?)?,
                host: take("host")?.to_string(),
                port: take("port")?.parse().map_err(|_| bad("bad port"))?,
            },
            "connect_proxy" => AttemptKind::ConnectProxy {
                proxy: sock(take("proxy")?)?,
                authority: take("authority")?.to_string(),
            },
            "dns_udp" => AttemptKind::DnsUdp {
                server: sock(take("server")?)?,
                qname: take("qname")?.to_string(),
            },
            "dns_tcp" => AttemptKind::DnsTcp {
                server: sock(take("server")?)?,
                qname: take("qname")?.to_string(),
            },
            "resolver" => AttemptKind::Resolver {
                tcp: match take("proto")? {
                    "tcp" => true,
                    "udp" => false,
                    _ => return Err(bad("proto must be tcp or udp")),
                },
                qname: take("qname")?.to_string(),
            },
            "sweep" => AttemptKind::Sweep {
                ip: take("ip")?.parse().map_err(|_| bad("bad ip"))?,
                first: take("first")?.parse().map_err(|_| bad("bad first port"))?,
                last: take("last")?.parse().map_err(|_| bad("bad last port"))?,
            },
            "udp" => AttemptKind::Udp {
                addr: sock(take("addr")?)?,
            },
            "ping" => AttemptKind::Ping {
                ip: take("ip")?.parse().map_err(|_| bad("bad ip"))?,
            },
            "tcp_link_local" => AttemptKind::TcpLinkLocal {
                ip: take("ip")?.parse().map_err(|_| bad("bad ipv6 address"))?,
                port: take("port")?.parse().map_err(|_| bad("bad port"))?,
            },
            "unix_sockets" => AttemptKind::UnixSockets,
            "listen" => AttemptKind::Listen {
                port: take("port")?.parse().map_err(|_| bad("bad port"))?,
                own: take("own")?.parse().map_err(|_| bad("bad own address"))?,
            },
            _ => return Err(bad("unknown kind")),
        };
        if let Some(extra) = fields.keys().next() {
            return Err(bad(&format!("unknown field {extra}")));
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

/// What one attempt saw, as the probe classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A TCP connection was established.
    Connected,
    /// An HTTP response came back (from a proxy); see `status`.
    Http,
    /// A DNS response came back; see `rcode` and `answers`.
    Answered,
    /// A sweep finished; see `open` and `scanned`.
    Swept,
    /// The peer actively refused (TCP RST, or ICMP port unreachable for UDP).
    Refused,
    /// Nothing came back within the timeout.
    Timeout,
    /// The network said no route (EHOSTUNREACH, ENETUNREACH).
    Unreachable,
    /// Any other failure; see `errno` and `note`. Never evidence of containment.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Http => "http",
            Outcome::Answered => "answered",
            Outcome::Swept => "swept",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Error => "error",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "connected" => Outcome::Connected,
            "http" => Outcome::Http,
            "answered" => Outcome::Answered,
            "swept" => Outcome::Swept,
            "refused" => Outcome::Refused,
            "timeout" => Outcome::Timeout,
            "unreachable" => Outcome::Unreachable,
            "error" => Outcome::Error,
            _ => return None,
        })
    }

    /// Whether this outcome is a network-level "no": the only outcomes a deny may rest on.
    pub fn is_network_denial(self) -> bool {
        matches!(
            self,
            Outcome::Refused | Outcome::Timeout | Outcome::Unreachable
        )
    }
}

/// One result line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Observation {
    pub id: String,
    pub outcome: Option<Outcome>,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// The target echoed this attempt's nonce.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ack: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The reason in pipelock's `X-Pipelock-Deny` header, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When a listener was open, in milliseconds since the Unix epoch (first, last): the
    /// window in which a dialer's try must fall to count as somebody having tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<(u64, u64)>,
}

impl Observation {
    pub fn new(id: &str, outcome: Outcome, elapsed_ms: u64) -> Self {
        Self {
            id: id.to_string(),
            outcome: Some(outcome),
            elapsed_ms,
            ..Self::default()
        }
    }

    /// The outcome; parsed observations always have one.
    pub fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Error)
    }

    /// Renders the result line (without newline).
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "{PROTOCOL} id={} outcome={} elapsed_ms={}",
            self.id,
            self.outcome().as_str(),
            self.elapsed_ms
        );
        let w = &mut line;
        if let Some(errno) = self.errno {
            let _ = write!(w, " errno={errno}");
        }
        if self.ack {
            w.push_str(" ack=1");
        }
        if let Some(status) = self.status {
            let _ = write!(w, " status={status}");
        }
        if let Some(deny) = &self.deny {
            let _ = write!(w, " deny={}", percent_encode(deny));
        }
        if let Some(rcode) = self.rcode {
            let _ = write!(w, " rcode={rcode}");
        }
        if !self.answers.is_empty() {
            let list: Vec<String> = self.answers.iter().map(|a| a.to_string()).collect();
            let _ = write!(w, " answers={}", list.join(","));
        }
        if !self.open.is_empty() {
            let list: Vec<String> = self.open.iter().map(|p| p.to_string()).collect();
            let _ = write!(w, " open={}", list.join(","));
        }
        if let Some(scanned) = self.scanned {
            let _ = write!(w, " scanned={scanned}");
        }
        if let Some(filtered) = self.filtered {
            let _ = write!(w, " filtered={filtered}");
        }
        if let Some(note) = &self.note {
            let _ = write!(w, " note={}", percent_encode(note));
        }
        if let Some((open, close)) = self.window {
            let _ = write!(w, " window={open}-{close}");
        }
        line
    }
}

/// Percent-encodes everything outside `[A-Za-z0-9._-]`, so a value never contains a space.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes().take(1024) {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"._-".contains(&b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

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
                "CB1-BEGIN" => {
                    if begun || ended {
                        return Err(garbage());
                    }
                    let fields = parse_fields(line_no, rest, &["session", "attempts"])?;
                    check_session(&fields, session)?;
                    begun = true;
                }
                "CB1-END" => {
                    if !begun || ended {
                        return Err(garbage());
                    }
                    let fields = parse_fields(line_no, rest, &["session"])?;
                    check_session(&fields, session)?;
                    ended = true;
                }
                "CB1" => {
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
    "deny",
    "rcode",
    "answers",
    "open",
    "scanned",
    "filtered",
    "note",
    "window",
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
        match key.as_str() {
            "errno" => observation.errno = Some(parse_num(value).ok_or_else(|| bad(key, value))?),
            "ack" => {
                observation.ack = match value.as_str() {
                    "1" => true,
                    "0" => false,
                    _ => return Err(bad(key, value)),
                }
            }
            "status" => {
                let status: u16 = parse_num(value).ok_or_else(|| bad(key, value))?;
                if !(100..=599).contains(&status) {
                    return Err(bad(key, value));
                }
                observation.status = Some(status);
            }
            "deny" => {
                observation.deny = Some(percent_decode(value).ok_or_else(|| bad(key, value))?)
            }
            "rcode" => {
                let rcode: u8 = parse_num(value).ok_or_else(|| bad(key, value))?;
                if rcode > 15 {
                    return Err(bad(key, value));
                }
                observation.rcode = Some(rcode);
            }
            "answers" => {
                observation.answers = parse_list(value, MAX_ANSWERS, |v| v.parse().ok())
                    .ok_or_else(|| bad(key, value))?
            }
            "open" => {
                observation.open =
                    parse_list(value, MAX_OPEN_PORTS, parse_num).ok_or_else(|| bad(key, value))?
            }
            "scanned" => {
                observation.scanned = Some(parse_num(value).ok_or_else(|| bad(key, value))?)
            }
            "filtered" => {
                observation.filtered = Some(parse_num(value).ok_or_else(|| bad(key, value))?)
            }
            "note" => {
                observation.note = Some(percent_decode(value).ok_or_else(|| bad(key, value))?)
            }
            "window" => {
                observation.window = Some(parse_window(value).ok_or_else(|| bad(key, value))?)
            }
            _ => {}
        }
    }
    Ok(observation)
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
        let mut out = String::from("CB1-BEGIN session=s1 attempts=2\n");
        let mut a = Observation::new("a#0", Outcome::Refused, 3);
        a.errno = Some(111);
        out.push_str(&a.to_line());
        out.push('\n');
        let mut b = Observation::new("b#0", Outcome::Http, 12);
        b.status = Some(403);
        b.deny = Some("host not allowed".into());
        b.note = Some("weird = text; ünïcode".into());
        b.window = Some((1_790_000_000_000, 1_790_000_000_600));
        out.push_str(&b.to_line());
        out.push_str("\nCB1-END session=s1\n");
        out.into_bytes()
    }

    #[test]
    fn round_trips_observations() {
        let parsed = ProbeOutput::parse(&sample(), "s1", &["a#0", "b#0"]).unwrap();
        assert_eq!(parsed.observations["a#0"].outcome(), Outcome::Refused);
        assert_eq!(parsed.observations["a#0"].errno, Some(111));
        let b = &parsed.observations["b#0"];
        assert_eq!(b.status, Some(403));
        assert_eq!(b.deny.as_deref(), Some("host not allowed"));
        assert_eq!(b.note.as_deref(), Some("weird = text; ünïcode"));
        assert_eq!(b.window, Some((1_790_000_000_000, 1_790_000_000_600)));
    }

    #[test]
    fn rejects_unknown_attempt_ids() {
        let err = ProbeOutput::parse(&sample(), "s1", &["a#0"]).unwrap_err();
        assert!(matches!(err, WireError::UnknownAttempt { .. }), "{err}");
    }

    #[test]
    fn rejects_duplicates_garbage_and_missing_end() {
        let text = "CB1-BEGIN session=s attempts=1\nCB1 id=a#0 outcome=refused elapsed_ms=1\nCB1 id=a#0 outcome=connected elapsed_ms=1\nCB1-END session=s\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::DuplicateAttempt { .. })
        ));
        let text = "CB1-BEGIN session=s attempts=1\nall blocked, trust me\nCB1-END session=s\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::Garbage { .. })
        ));
        let text = "CB1-BEGIN session=s attempts=1\nCB1 id=a#0 outcome=refused elapsed_ms=1\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::MissingEnd { .. })
        ));
        let text = "CB1-BEGIN session=other attempts=1\nCB1-END session=other\n";
        assert!(matches!(
            ProbeOutput::parse(text.as_bytes(), "s", &["a#0"]),
            Err(WireError::WrongSession { .. })
        ));
    }

    #[test]
    fn rejects_bad_values_and_unknown_fields() {
        for line in [
            "CB1 id=a#0 outcome=blocked elapsed_ms=1",
            "CB1 id=a#0 outcome=refused elapsed_ms=-1",
            "CB1 id=a#0 outcome=refused elapsed_ms=+1",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 verdict=pass",
            "CB1 id=a#0 outcome=http elapsed_ms=1 status=1000",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 ack=yes",
            "CB1 id=a#0 outcome=refused",
            "CB1 id=a#0 outcome=refused elapsed_ms=1  ",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 window=2-1",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 window=1",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 window=-1",
            "CB1 id=a#0 outcome=refused elapsed_ms=1 window=1-+2",
        ] {
            let text = format!("CB1-BEGIN session=s attempts=1\n{line}\nCB1-END session=s\n");
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
            "CB1-BEGIN session=s attempts=1\n{}\n",
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
            },
            AttemptKind::ConnectProxy {
                proxy: "10.1.2.2:3128".parse().unwrap(),
                authority: "10.9.9.9:443".into(),
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
            },
        ];
        for (i, kind) in specs.into_iter().enumerate() {
            let spec = AttemptSpec {
                id: format!("p.x#{i}"),
                kind,
                nonce: "n0nce".into(),
                timeout_ms: 900,
                stage: crate::wire::Stage::Fixed,
            };
            assert_eq!(AttemptSpec::decode(&spec.encode()).unwrap(), spec);
        }
        for bad in [
            "id=a;kind=tcp;addr=1.2.3.4:80;nonce=x",
            "id=a;kind=tcp;addr=1.2.3.4:80;nonce=x;timeout_ms=1;extra=1",
            "id=a;kind=warp;nonce=x;timeout_ms=1",
            "id=a b;kind=tcp;addr=1.2.3.4:80;nonce=x;timeout_ms=1",
        ] {
            assert!(AttemptSpec::decode(bad).is_err(), "accepted {bad}");
        }
    }
}
