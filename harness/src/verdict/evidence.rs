//! What a verdict is judged from, besides the plan: the probe's output, the targets' records
//! (and the lines that could not be read), the harness's liveness checks, the gaps in force,
//! what the exec did differently from the plan (timeouts it applied, attempts whose address
//! vanished), and the bundle's state after it. The plan itself is never edited after the exec:
//! these fields say what changed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use bottle_fixtures::dns_canary::DnsMode;
use bottle_fixtures::records::RejectedLine;
use bottle_fixtures::Record;
use bottle_probes::wire::ProbeOutput;

use super::bundle::BundleFailure;
use crate::gaps::KnownGap;
use crate::plan::{PlannedAttempt, PlannedProbe};
use crate::target::Target;

/// Everything `evaluate` judges from.
pub struct Evidence<'a> {
    /// The parsed probe output, or why there is none (exec failed, output rejected).
    pub output: Result<&'a ProbeOutput, String>,
    /// Records from every harness-owned target (host canaries and fixture hosts).
    pub records: &'a [Record],
    /// The harness's own liveness check per target: `Ok` when it answered and recorded it.
    pub liveness: &'a BTreeMap<Target, Result<(), String>>,
    /// Known gaps in force for this backend.
    pub known_gaps: &'a [KnownGap],
    /// The nonces of the harness's own liveness checks (their records are expected).
    pub liveness_nonces: &'a [String],
    /// The harness's own ends of its liveness connections: their records are expected even
    /// when the nonce never got through.
    pub liveness_peers: &'a [SocketAddr],
    /// Addresses only the harness's checker holds (the fixture hosts are checked from there
    /// when this machine cannot route to them): every record from them is the harness's own.
    pub liveness_sources: &'a [IpAddr],
    /// The timeout each attempt actually got in the exec, by attempt id, where it differs from the
    /// plan's (today: the adaptive deny attempts get the probe's adaptive timeout). The report shows these.
    pub applied_timeouts_ms: &'a BTreeMap<String, u32>,
    /// Attempts not to judge: their host address vanished during the run (another bottle's bridge went
    /// away), so they prove nothing either way. Judged as if they had not been planned.
    pub vanished_attempts: &'a BTreeSet<String>,
    /// `CB-SEEN` lines the fixtures printed that could not be read: some target's records are
    /// incomplete, so no result may rest on its silence (see `rejected`).
    pub rejected_records: &'a [RejectedLine],
    /// The harness's switches of the allowed name's answer at the DNS canary, one per DNS
    /// mode the SSRF probes' execs ran under, in order (see `ssrf`).
    pub dns_switches: &'a [DnsSwitchRun],
    /// How the bundle did not survive the run, if it did not: no pass may rest on what went
    /// through it (see `bundle`).
    pub bundle_failure: Option<&'a BundleFailure>,
}

/// One switch of the allowed name's answer at the DNS canary, before the exec of the attempts
/// it was made for: the nonce its switch query carried (the canary records it, so the lookups
/// after it are those attempts'), and whether the switch and that exec happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSwitchRun {
    pub mode: DnsMode,
    pub nonce: String,
    /// The ids of the attempts exec'd after it (none for the switches back to `Normal`).
    pub attempts: Vec<String>,
    /// `Err` with why when the switch was not answered or the exec after it failed.
    pub result: Result<(), String>,
}

impl Evidence<'_> {
    /// The attempts of `probe` that are judged: every planned one except the vanished. Every
    /// rule that looks at the plan's attempts goes through here, so a vanished attempt counts
    /// nowhere (not its nonce, not its destination, not in the probe's attempt count).
    pub(crate) fn judged<'p>(
        &'p self,
        probe: &'p PlannedProbe,
    ) -> impl Iterator<Item = &'p PlannedAttempt> + 'p {
        let vanished = self.vanished_attempts;
        probe
            .attempts
            .iter()
            .filter(move |a| !vanished.contains(&a.spec.id))
    }

    /// The timeout `attempt` ran with: the one the exec applied, else the plan's.
    pub fn timeout_ms(&self, attempt: &PlannedAttempt) -> u32 {
        self.applied_timeouts_ms
            .get(&attempt.spec.id)
            .copied()
            .unwrap_or(attempt.spec.timeout_ms)
    }
}
