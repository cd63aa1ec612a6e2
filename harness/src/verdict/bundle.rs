//! What a bundle that did not survive the run does to the verdicts. A bundle that exited or
//! restarted while the probes ran answered some attempts and not others, and a refused
//! connection to a dead proxy is no refusal by the proxy: every probe with an attempt addressed
//! to the bundle (through it as a proxy, to one of its ports, a sweep or a ping of it) loses a
//! `pass` to `inconclusive`, with the bundle's state in the detail. Escapes stay: what reached
//! a target did so whatever the bundle did afterwards. The failure is evidence like any other
//! ([`BundleFailure`] in `Evidence`), and `evaluate` applies the rule where it makes each
//! probe's verdict, last: a known gap's ruling and lost records (`rejected`) come first.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use bottle_backends::BundleHealth;
use bottle_probes::wire::AttemptKind;

use super::result::{ProbeResult, Verdict};
use crate::plan::{Plan, PlannedProbe};

/// How the bundle did not survive the run (it exited or restarted, or the engine could not
/// say), in the words of [`BundleHealth::failure`], which are what it displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFailure(String);

impl BundleFailure {
    /// The failure `health` shows, or None when the bundle ran throughout.
    pub fn of(health: &BundleHealth) -> Option<Self> {
        health.failure().map(Self)
    }

    /// A failure told in `words` (one line, as [`BundleHealth::failure`] tells one).
    pub fn new(words: impl Into<String>) -> Self {
        Self(words.into())
    }
}

impl fmt::Display for BundleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `kind` is addressed to the bundle at `bundle` (its address on the agent network).
fn addressed_to(kind: &AttemptKind, bundle: Ipv4Addr) -> bool {
    let bundle = IpAddr::V4(bundle);
    match kind {
        kind if kind.through_proxy() => kind.proxy().is_some_and(|p| p.ip() == bundle),
        AttemptKind::Tcp { addr } | AttemptKind::Udp { addr } => addr.ip() == bundle,
        AttemptKind::Sweep { ip, .. } | AttemptKind::Ping { ip } => *ip == bundle,
        _ => false,
    }
}

/// Whether any attempt of `probe` depended on the bundle.
pub(crate) fn depends_on_bundle(probe: &PlannedProbe, bundle: Ipv4Addr) -> bool {
    probe
        .attempts
        .iter()
        .any(|a| addressed_to(&a.spec.kind, bundle))
}

/// Turns `result`, `probe`'s, into `inconclusive` when it is a pass, the bundle failed and
/// the probe depended on it, saying why.
pub(super) fn apply(
    result: &mut ProbeResult,
    probe: &PlannedProbe,
    plan: &Plan,
    failure: Option<&BundleFailure>,
) {
    let Some(failure) = failure else {
        return;
    };
    if result.verdict == Verdict::Pass
        && (depends_on_bundle(probe, plan.bundle_ip)
            || depends_on_bundle(probe, plan.bundle_reached_ip))
    {
        result.verdict = Verdict::Inconclusive;
        result.detail = format!(
            "{failure}; this probe went through the bundle, so its pass proves nothing (was: {})",
            result.detail
        );
    }
}
