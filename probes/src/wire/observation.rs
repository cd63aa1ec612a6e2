//! What one attempt saw: the [`Outcome`] classes and the [`Observation`] the probe prints as
//! one `CB2` result line.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::limits::PROTOCOL;
use super::percent::percent_encode;
use super::refusal::Signature;

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

    pub(crate) fn parse(text: &str) -> Option<Self> {
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

/// How a tunnel through the proxy ended after the probe's first bytes went in (a TLS
/// ClientHello): what tells a proxy that closed the tunnel on what it saw from one that let
/// the bytes through, since a `200 Connection established` came before either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelEnd {
    /// Bytes came back through the tunnel (see `ack` for whether they were the target's).
    Answered,
    /// The tunnel was closed (end of stream or reset) before anything came back.
    Closed,
    /// The tunnel stayed open and nothing came back before the deadline.
    Silent,
}

impl TunnelEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelEnd::Answered => "answered",
            TunnelEnd::Closed => "closed",
            TunnelEnd::Silent => "silent",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "answered" => TunnelEnd::Answered,
            "closed" => TunnelEnd::Closed,
            "silent" => TunnelEnd::Silent,
            _ => return None,
        })
    }
}

/// How a plain TCP connection ended after the probe's first bytes went in (the nonce line, a
/// DNS query): what tells a target that answered from a network stack that completed the
/// handshake itself and then gave up. A VMM's user-space stack (smolvm's virtio-net relay)
/// accepts the guest's SYN before it connects onward, and resets the guest's connection when the
/// onward connect is refused or its policy denies the destination: "connected" alone is then
/// not reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEnd {
    /// Bytes came back (see `ack` for whether they were the target's).
    Answered,
    /// An orderly end of stream (FIN) before any byte came back.
    Closed,
    /// A reset (ECONNRESET, or EPIPE on the write) before any byte came back.
    Reset,
    /// The connection stayed open and nothing came back before the deadline.
    Silent,
}

impl StreamEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEnd::Answered => "answered",
            StreamEnd::Closed => "closed",
            StreamEnd::Reset => "reset",
            StreamEnd::Silent => "silent",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "answered" => StreamEnd::Answered,
            "closed" => StreamEnd::Closed,
            "reset" => StreamEnd::Reset,
            "silent" => StreamEnd::Silent,
            _ => return None,
        })
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
    /// The proxy's own signatures found in its answer (see `refusal`), in `Signature::ALL`
    /// order: what says the proxy itself refused, rather than whatever it forwarded to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signed: Vec<Signature>,
    /// The refusal's reason in the proxy's own words (pipelock's `X-Pipelock-Block-Reason`,
    /// Squid's `X-Squid-Error`), for the report only: never judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
    /// A sweep's ports whose handshake completed and that were then reset or closed before any
    /// byte, within the settle time (how many; [`Observation::dropped_ports`] lists the first
    /// ones). Through a kernel's stack that is a listener that hung up: reach. Through a VMM's
    /// relay it is the relay's refusal of an onward connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u32>,
    /// The first dropped ports, sorted, at most `MAX_OPEN_PORTS`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_ports: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When a listener was open, in milliseconds since the Unix epoch (first, last): the
    /// window in which a dialer's try must fall to count as somebody having tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<(u64, u64)>,
    /// How a tunnel ended after the probe's ClientHello (`connect_tls` attempts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelEnd>,
    /// How a plain TCP connection ended after the probe's first bytes (`tcp`,
    /// `tcp_link_local` and `dns_tcp` attempts that connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<StreamEnd>,
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
        if !self.signed.is_empty() {
            let list: Vec<&str> = self.signed.iter().map(|s| s.as_str()).collect();
            let _ = write!(w, " signed={}", list.join(","));
        }
        if let Some(reason) = &self.reason {
            let _ = write!(w, " reason={}", percent_encode(reason));
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
        if let Some(dropped) = self.dropped {
            let _ = write!(w, " dropped={dropped}");
        }
        if !self.dropped_ports.is_empty() {
            let list: Vec<String> = self.dropped_ports.iter().map(|p| p.to_string()).collect();
            let _ = write!(w, " dropped_ports={}", list.join(","));
        }
        if let Some(note) = &self.note {
            let _ = write!(w, " note={}", percent_encode(note));
        }
        if let Some((open, close)) = self.window {
            let _ = write!(w, " window={open}-{close}");
        }
        if let Some(tunnel) = self.tunnel {
            let _ = write!(w, " tunnel={}", tunnel.as_str());
        }
        if let Some(end) = self.end {
            let _ = write!(w, " end={}", end.as_str());
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one predicate a deny may rest on: only refused, timeout and unreachable are a
    /// network-level "no". An error (any other errno) is never one: counting it would be the
    /// textbook false pass, "any error counted as blocked"; nor is anything that answered.
    #[test]
    fn only_refused_timeout_and_unreachable_are_denials() {
        let all = [
            (Outcome::Connected, false),
            (Outcome::Http, false),
            (Outcome::Answered, false),
            (Outcome::Swept, false),
            (Outcome::Refused, true),
            (Outcome::Timeout, true),
            (Outcome::Unreachable, true),
            (Outcome::Error, false),
        ];
        for (outcome, denial) in all {
            assert_eq!(outcome.is_network_denial(), denial, "{}", outcome.as_str());
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("blocked"), None);
    }
}
