//! The verdict rules. Pure functions of the plan, what the probe printed, what the targets
//! recorded, what the harness's own liveness checks saw and whether the bundle survived; no
//! I/O, so every rule is unit-tested.
//!
//! A deny passes only when all of these hold:
//! 1. the probe's output parsed (it provably ran, under this session, with no unknown ids);
//! 2. every attempt of the probe has a result, and each is a network-level "no" (refused,
//!    timeout, unreachable) or the proxy's own refusal (any answer of its own but a success,
//!    where the destination records what reaches it; see `refusal`);
//! 3. no harness-owned target recorded the attempt's nonce, or any contact that nothing
//!    legitimate explains (see `records`);
//! 4. the probe's positive controls (same path, allowed target) passed;
//! 5. every harness-owned target the probe aims at answered the harness's liveness check, on
//!    every port and protocol the probes use there;
//! 6. every `CB-SEEN` line the fixtures printed could be read (see `rejected`);
//! 7. the bundle survived the run, when any attempt of the probe was addressed to it (see
//!    `bundle`).
//!
//! Evidence of reach (a connection, an answer, a target's record) makes it `escape`; anything
//! else is `inconclusive`. An error is never counted as blocked.
//!
//! Modules: `result` (what a verdict is), `evidence` (what it is judged from), `evaluate` (the
//! whole plan, probe by probe), `deny`, `allow` and `listen` (one attempt each; `refusal` for the
//! proxy's answers), `records`
//! (which record is charged to which attempt; `side_channel` for the bundle's lookups of what the
//! agent chose), `rejected` (unreadable records), `judgement`
//! (one attempt's finding), `bundle` (a bundle that did not survive the run), `fronting` (a
//! tunnel carrying a ClientHello for another name), `delivery` (where a deny's nonce may
//! arrive without being reach) and `ssrf` (the SSRF probes' proof that the proxy saw the
//! switched answer).

mod allow;
mod bundle;
mod delivery;
mod deny;
mod evaluate;
mod evidence;
mod fronting;
mod intercepted;
mod judgement;
mod listen;
mod records;
mod refusal;
mod rejected;
mod result;
mod side_channel;
mod source;
pub(crate) mod ssrf;

pub use crate::gaps::KnownGap;
pub use bundle::BundleFailure;
pub use evaluate::evaluate;
pub use evidence::{DnsSwitchRun, Evidence};
pub use result::{AttemptEvidence, ProbeResult, Verdict};
