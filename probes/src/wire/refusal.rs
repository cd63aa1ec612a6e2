//! How a proxy's own refusal is recognised: the [`Signature`]s the probe looks for in a proxy's
//! answer and reports by name (`signed=pipelock_body,pipelock_header`), and the user's own
//! signature ([`UserRefusal`], from `bottle.toml`'s `[proxy]`) that travels to the probe in the
//! attempt spec. The probe only reports what matched; the verdict decides what it proves.
//!
//! The built-in signatures are the real proxies' formats:
//! * pipelock: its forward proxy refuses with `http.Error(w, "blocked: "+reason, status)` (Go's
//!   `http.Error` writes the text plus a newline as `text/plain; charset=utf-8`), CONNECT with
//!   `"CONNECT blocked: "+reason`, and since v2.4 every block path first sets the
//!   `X-Pipelock-Block-Reason` header set (schema v1) through `writeBlockedError`
//!   (luckyPipewrench/pipelock `internal/proxy/forward.go`, `internal/proxy/blockheaders.go`,
//!   `internal/blockreason/blockreason.go`, `docs/specs/block-reason-header.md`).
//! * Squid: every error page it generates carries `X-Squid-Error` (`ERR_ACCESS_DENIED 0` for
//!   an `http_access deny`), measured with Debian's Squid 5.7 (see the field notes).

use serde::{Deserialize, Serialize};

/// A mark in a proxy's answer that says the proxy itself wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signature {
    /// pipelock's body: `blocked: ` (forward requests) or `CONNECT blocked: ` (tunnels).
    PipelockBody,
    /// pipelock's `X-Pipelock-Block-Reason` header (any value).
    PipelockHeader,
    /// Squid's `X-Squid-Error` header (any value).
    SquidHeader,
    /// The header `bottle.toml` names in `[proxy] refusal_header`.
    UserHeader,
    /// The body prefix `bottle.toml` names in `[proxy] refusal_body_prefix`.
    UserBody,
}

impl Signature {
    pub const ALL: [Signature; 5] = [
        Signature::PipelockBody,
        Signature::PipelockHeader,
        Signature::SquidHeader,
        Signature::UserHeader,
        Signature::UserBody,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signature::PipelockBody => "pipelock_body",
            Signature::PipelockHeader => "pipelock_header",
            Signature::SquidHeader => "squid_header",
            Signature::UserHeader => "user_header",
            Signature::UserBody => "user_body",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// pipelock's block-reason header (schema v1).
pub const PIPELOCK_REASON_HEADER: &str = "X-Pipelock-Block-Reason";
/// The body prefixes of pipelock's refusals (forward requests, CONNECT).
pub const PIPELOCK_BODY_PREFIXES: [&str; 2] = ["blocked: ", "CONNECT blocked: "];
/// Squid's error header.
pub const SQUID_ERROR_HEADER: &str = "X-Squid-Error";
/// The longest user body prefix (bytes): the probe reads at most this much of a body for it.
pub const MAX_USER_BODY_PREFIX: usize = 64;
/// The longest user header name.
pub const MAX_USER_HEADER: usize = 64;

/// The user's own refusal signature, checked by the probe besides the built-in ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserRefusal {
    /// A header name (letters, digits, `-`) whose presence marks the proxy's refusal.
    pub header: Option<String>,
    /// Text the proxy's refusal body starts with.
    pub body_prefix: Option<String>,
}

impl UserRefusal {
    pub fn is_empty(&self) -> bool {
        self.header.is_none() && self.body_prefix.is_none()
    }
}

/// Whether `name` may be a user signature header: 1 to 64 letters, digits and `-`.
pub fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_HEADER
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `prefix` may be a user body prefix: 1 to 64 bytes, no control characters.
pub fn body_prefix_ok(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= MAX_USER_BODY_PREFIX
        && !prefix.chars().any(char::is_control)
}

/// Hex of `text`'s bytes: a body prefix in the spec token's closed character set.
pub(crate) fn hex_encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text whose bytes `hex` spells (lower-case hex, UTF-8), if it is that.
pub(crate) fn hex_decode(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The signatures in a proxy answer's header lines (`Name: value`, status line excluded) and
/// body start, in [`Signature::ALL`] order.
pub fn signatures_in<'a>(
    header_lines: impl IntoIterator<Item = &'a str>,
    body: &[u8],
    user: &UserRefusal,
) -> Vec<Signature> {
    let names: Vec<&str> = header_lines
        .into_iter()
        .filter_map(|line| line.split_once(':').map(|(name, _)| name.trim()))
        .collect();
    let has = |wanted: &str| names.iter().any(|n| n.eq_ignore_ascii_case(wanted));
    let mut found = Vec::new();
    if PIPELOCK_BODY_PREFIXES
        .iter()
        .any(|p| body.starts_with(p.as_bytes()))
    {
        found.push(Signature::PipelockBody);
    }
    if has(PIPELOCK_REASON_HEADER) {
        found.push(Signature::PipelockHeader);
    }
    if has(SQUID_ERROR_HEADER) {
        found.push(Signature::SquidHeader);
    }
    if user.header.as_deref().is_some_and(has) {
        found.push(Signature::UserHeader);
    }
    if user
        .body_prefix
        .as_deref()
        .is_some_and(|p| body.starts_with(p.as_bytes()))
    {
        found.push(Signature::UserBody);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_formats_are_recognised() {
        let none = UserRefusal::default();
        let pipelock = [
            "Content-Type: text/plain; charset=utf-8",
            "X-Pipelock-Block-Reason: domain_blocklist",
            "X-Pipelock-Block-Reason-Version: 1",
        ];
        assert_eq!(
            signatures_in(pipelock, b"blocked: domain not allowed\n", &none),
            [Signature::PipelockBody, Signature::PipelockHeader]
        );
        // Older pipelock: the body only; CONNECT's own wording.
        assert_eq!(
            signatures_in([], b"CONNECT blocked: x\n", &none),
            [Signature::PipelockBody]
        );
        assert_eq!(
            signatures_in(["x-squid-error: ERR_ACCESS_DENIED 0"], b"<html>", &none),
            [Signature::SquidHeader]
        );
        // A bare 403 page, or the words somewhere else than the start, is no signature.
        assert!(signatures_in(["Server: x"], b"Forbidden: blocked: no", &none).is_empty());
        assert!(signatures_in(["X-Pipelock-Deny: x"], b"", &none).is_empty());
        let user = UserRefusal {
            header: Some("X-Gate".into()),
            body_prefix: Some("denied by gate".into()),
        };
        assert_eq!(
            signatures_in(["X-GATE: 1"], b"denied by gate: x", &user),
            [Signature::UserHeader, Signature::UserBody]
        );
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        for text in ["blocked: ", "ünï code", "a=b;c d"] {
            assert_eq!(hex_decode(&hex_encode(text)).as_deref(), Some(text));
        }
        for bad in ["6", "zz", "6A", "ff"] {
            assert_eq!(hex_decode(bad), None, "{bad}");
        }
        assert!(header_name_ok("X-Squid-Error") && !header_name_ok("X Gate"));
        assert!(body_prefix_ok("blocked: ") && !body_prefix_ok("a\nb") && !body_prefix_ok(""));
    }
}
