//! The probe phase against a running bottle, as one straight pipeline of typed steps: the
//! plan ([`plan::build`]), the exec ([`execute`] -> `ExecOutcome`), the targets' side
//! ([`observe_targets`] -> `TargetView`), the bundle's state and the verdicts ([`judge`], the
//! bundle's failure among their evidence). Each step only reads what the earlier ones
//! produced; the plan is never edited after it is built.

use std::time::Instant;

use bottle_backends::{Bottle, BottleBackend, BundleHealth};

use super::exec::execute;
use super::judge::judge;
use super::options::RunOptions;
use super::phase::{progress, Phase};
use super::target_view::observe_targets;
use crate::errors::HarnessError;
use crate::host::{self, HostCanaries};
use crate::plan::{self, HostSide};
use crate::report::Timings;
use crate::select::AnyBackend;
use crate::verdict::{BundleFailure, KnownGap, ProbeResult};

/// What the probe phase found, for the report.
pub(crate) struct ProbePhase {
    pub results: Vec<ProbeResult>,
    /// The known gaps in force for this backend.
    pub known_gaps: Vec<KnownGap>,
    /// The bundle's state after the probes (`unknown` when the engine could not say).
    pub bundle: BundleHealth,
    /// The probe phase's timings (control round trip, deny timeout, longest attempt, probe and
    /// report phases); the run adds its own.
    pub timings: Timings,
}

/// The probe phase against a running bottle (`run`, and `probe --bottle ID`).
pub(crate) async fn probe_bottle(
    backend: &AnyBackend,
    bottle: &Bottle,
    options: &RunOptions,
) -> Result<ProbePhase, HarnessError> {
    let canaries = HostCanaries::start()?;
    let host_side = host_side(&canaries);
    let checked_addresses = host::all_host_addresses(
        &host_side.addresses,
        &host_side.addresses_v6,
        &host_side.link_local_v6,
    );
    let plan = plan::build(
        &bottle.topology,
        &host_side,
        &options.config.timeouts,
        &options.config.proxy,
        options.only.as_deref(),
        nonce,
    );
    let exec = execute(backend, bottle, &plan, &canaries, options, nonce).await;
    let report_started = Instant::now();
    super::fault_hook::pause_at(Phase::Report).await;
    let view = observe_targets(
        backend,
        bottle,
        &plan,
        &canaries,
        &host_side,
        &checked_addresses,
        nonce,
    )
    .await?;
    let bundle = bundle_after_probes(backend, bottle).await;
    let known_gaps = crate::gaps::in_force(options.backend, &options.gap_entries);
    let bundle_failure = BundleFailure::of(&bundle);
    let results = judge(&plan, &exec, &view, &known_gaps, bundle_failure.as_ref());
    if let Some(failure) = &bundle_failure {
        progress(
            true,
            &format!("the bundle did not survive the run: {failure}"),
        );
    }
    let timings = Timings {
        control_rtt_ms: exec.control_rtt_ms,
        probe_ms: exec.probe_ms,
        report_ms: report_started.elapsed().as_millis() as u64,
        deny_timeout_ms: exec.deny_timeout_ms,
        longest_attempt_ms: exec.longest_attempt_ms,
        ..Timings::default()
    };
    Ok(ProbePhase {
        results,
        known_gaps,
        bundle,
        timings,
    })
}

/// The bundle's state after the probes and the targets' checks. An engine that cannot say is
/// a failure too (`unknown`): what went through the bundle is then never a pass.
async fn bundle_after_probes(backend: &AnyBackend, bottle: &Bottle) -> BundleHealth {
    backend
        .bundle_health(bottle)
        .await
        .unwrap_or_else(|error| BundleHealth {
            status: format!("unknown ({error})"),
            ..BundleHealth::default()
        })
}

/// What the plan needs to know about this machine, with its canaries running.
fn host_side(canaries: &HostCanaries) -> HostSide {
    let (addresses_v6, link_local_v6) = if canaries.all_interfaces_v6 {
        host::host_addresses_v6()
    } else {
        (Vec::new(), Vec::new())
    };
    HostSide {
        loopback_canary: canaries.loopback,
        loopback_canary_v6: canaries.loopback_v6,
        all_interfaces_port: canaries.all_interfaces_port,
        addresses: host::host_addresses(),
        addresses_v6,
        link_local_v6,
        all_interfaces_v6: canaries.all_interfaces_v6,
        icmp_recorder: canaries.icmp_recorder,
        subnets_v4: host::host_subnets_v4(),
    }
}

/// A fresh random nonce (16 hex digits) for an attempt, a liveness check or the session.
fn nonce() -> String {
    let mut bytes = [0u8; 8];
    bottle_probes::sys::random::must_fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
