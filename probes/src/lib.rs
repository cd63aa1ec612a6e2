//! The probe side of claude-bottle.
//!
//! * [`catalogue`]: every probe the suite knows, with its family, target and expectation.
//! * [`wire`]: the text protocol between the harness and `bottle-probe` (attempt specs on argv,
//!   result lines on stdout) and its strict parser; the probe's output is hostile input.
//! * [`attempt`]: what `bottle-probe` does for each attempt kind (std only, no async), so the
//!   binary stays small and static.
//! * [`sweep`]: the port sweep, each port in as few system calls as the kernel allows.
//! * [`timing`]: the adaptive timeout of the deny attempts (shared with the harness).
//! * [`dns`]: the minimal DNS message codec the attempts and the DNS canary share.

pub mod attempt;
pub mod catalogue;
pub mod dns;
pub mod errors;
pub mod sweep;
pub mod timing;
pub mod unix_sockets;
pub mod wire;

pub use catalogue::{Expect, Family, ProbeSpec, CATALOGUE};
pub use errors::WireError;
pub use wire::{AttemptKind, AttemptSpec, Observation, Outcome, ProbeOutput};
