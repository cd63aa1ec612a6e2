//! The probe side of claude-bottle.
//!
//! * [`catalogue`]: every probe the suite knows, with its family, target, expectation and the
//!   likely cause of an escape.
//! * [`wire`]: the text protocol between the harness and `bottle-probe` (attempt specs on argv,
//!   result lines on stdout) and its strict parser; the probe's output is hostile input.
//! * `attempt` (Linux only): what `bottle-probe` does for each attempt kind (std only, no
//!   async), so the binary stays small and static; the port sweep and the unix socket search
//!   live there too.
//! * [`timing`]: the adaptive timeout of the deny attempts (shared with the harness).
//! * [`dns`]: the minimal DNS message codec the attempts and the DNS canary share.
//! * [`tls`]: the minimal TLS ClientHello codec (SNI and a nonce in ALPN) the attempts, the
//!   canary and the bundle stand-in share.
//! * [`sys`]: the low-level pieces every crate of the workspace shares (`/proc/net` parsers,
//!   DNS-over-TCP framing, random bytes).
//!
//! Everything but `attempt` builds on every platform: the harness and the report need the
//! catalogue and the wire format wherever they run.

#[cfg(target_os = "linux")]
pub mod attempt;
pub mod catalogue;
pub mod dns;
pub mod errors;
pub mod sys;
pub mod timing;
pub mod tls;
pub mod wire;

pub use catalogue::{Expect, Family, ProbeSpec, CATALOGUE};
pub use errors::{RandomError, WireError};
pub use wire::{AttemptKind, AttemptSpec, Observation, Outcome, ProbeOutput};
