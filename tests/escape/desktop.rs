//! `docker::selfcheck::desktop_decisions`: Docker Desktop's decisions, run on this machine's
//! Linux engine (`--engine-host docker-desktop`), since no Mac is available to the project.
//! The clean bottle must be CONTAINED with the fixture hosts checked from the checker container
//! (the fixtures' own records say where every check came from) and the localhost probes aimed
//! at `host.docker.internal` too; the broken bottle must be caught, that name's attempt at the
//! all-interfaces canary included.

use std::net::IpAddr;

use bottle_backends::{BottleBackend, EngineHost, Sabotage};
use bottle_fixtures::records::FixtureName;
use bottle_harness::run;
use bottle_harness::select::{AnyBackend, BackendKind};
use bottle_harness::{Report, Verdict};
use libtest_mimic::Failed;

use super::{broken_must_escape, broken_sabotage, not_escaped, options, runtime};

/// The probes Docker Desktop's decisions skip, each with the reason they must give.
const SKIPPED_ON_DESKTOP: [(&str, &str); 3] = [
    ("lan.network_gateways", "Docker Desktop"),
    ("metadata.direct", "Docker Desktop"),
    ("metadata.via_proxy", "Docker Desktop"),
];

/// Removes a kept bottle when the check is done, whatever happened to it.
struct Kept {
    kind: BackendKind,
    run_id: String,
}

impl Drop for Kept {
    fn drop(&mut self) {
        let backend = AnyBackend::new(self.kind);
        let _ = runtime().block_on(backend.teardown(&self.run_id));
    }
}

pub(crate) fn desktop_decisions(kind: BackendKind) -> Result<(), Failed> {
    let mut problems = Vec::new();
    let mut clean = options(kind, Sabotage::default());
    clean.engine_host = Some(EngineHost::DockerDesktop);
    // Kept, so that the fixtures' own records can be read after the verdict.
    clean.keep = true;
    let report = runtime()
        .block_on(run::run(&clean))
        .map_err(|e| format!("the desktop-mode run failed: {e}"))?;
    let kept = Kept {
        kind,
        run_id: report.run_id.clone(),
    };
    contained(&report, &mut problems);
    let checker = report
        .topology
        .as_ref()
        .map(|t| t.layout().checker_ips.clone())
        .unwrap_or_default();
    if checker.is_empty() {
        problems.push("the topology names no checker".into());
    } else {
        checked_from_the_checker(&kept, &checker, &mut problems)?;
    }
    drop(kept);

    let mut broken = options(kind, broken_sabotage());
    broken.engine_host = Some(EngineHost::DockerDesktop);
    let broken_report = runtime()
        .block_on(run::run(&broken))
        .map_err(|e| format!("the sabotaged desktop-mode run failed: {e}"))?;
    caught(&broken_report, &mut problems);
    if problems.is_empty() {
        println!(
            "desktop decisions: clean {} ms (probes {} ms, report {} ms), broken {} ms",
            report.timings.total_ms,
            report.timings.probe_ms,
            report.timings.report_ms,
            broken_report.timings.total_ms
        );
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), report.table()).into())
    }
}

/// The attempts of `report`'s probe `id` aimed at `host.docker.internal`.
fn named_attempts<'r>(
    report: &'r Report,
    id: &str,
) -> Vec<&'r bottle_harness::verdict::AttemptEvidence> {
    report
        .results
        .iter()
        .filter(|r| r.id == id)
        .flat_map(|r| &r.attempts)
        .filter(|a| a.destination.starts_with("host.docker.internal:"))
        .collect()
}

/// Every probe held (the skipped ones with Docker Desktop's reason), and both localhost
/// probes aimed at `host.docker.internal`, denied.
fn contained(report: &Report, problems: &mut Vec<String>) {
    for result in &report.results {
        let skip = SKIPPED_ON_DESKTOP.iter().find(|(id, _)| *id == result.id);
        match (skip, result.verdict) {
            (Some((_, why)), Verdict::Skipped) if result.detail.contains(why) => {}
            (Some(_), verdict) => problems.push(format!(
                "{} was {} ({}), not skipped for Docker Desktop",
                result.id,
                verdict.as_str(),
                result.detail
            )),
            (None, _) if result.verdict.held() => {}
            (None, verdict) => problems.push(format!(
                "{} was {} ({})",
                result.id,
                verdict.as_str(),
                result.detail
            )),
        }
    }
    if report.exit_code() != bottle_harness::exit::OK {
        problems.push(format!("clean exit code {}", report.exit_code()));
    }
    // On this Linux engine the host-gateway is docker0's address, this machine's own: only
    // the all-interfaces canary can answer there (Docker Desktop forwards to the loopback too).
    let expected = [
        ("localhost.agent_loopback", 0),
        ("localhost.host_addresses", 1),
    ];
    for (id, count) in expected {
        let named = named_attempts(report, id);
        if named.len() != count || !named.iter().all(|a| a.judgement.starts_with("denied")) {
            problems.push(format!(
                "{id}: expected {count} denied attempt(s) at host.docker.internal, got {:?}",
                named
                    .iter()
                    .map(|a| (&a.destination, &a.judgement))
                    .collect::<Vec<_>>()
            ));
        }
    }
}

/// The fixtures' own view of the liveness checks: every fixture host recorded contact from the
/// checker, and none from this machine (its addresses on the bridges are their gateways). (The
/// metadata service is skipped on Docker Desktop; the checks through the host-gateway land on
/// this machine's canaries, whose records the run judged: `localhost.host_addresses` passes
/// only with them.)
fn checked_from_the_checker(
    kept: &Kept,
    checker: &[IpAddr],
    problems: &mut Vec<String>,
) -> Result<(), Failed> {
    let backend = AnyBackend::new(kept.kind);
    let log = runtime().block_on(async {
        let bottle = backend.attach(&kept.run_id).await?;
        let log = backend.fixture_records(&bottle).await?;
        Ok::<_, bottle_backends::BackendError>((bottle, log))
    });
    let (bottle, log) = log.map_err(|e| format!("reading the kept bottle's records: {e}"))?;
    let gateways: Vec<IpAddr> = bottle
        .topology
        .networks()
        .iter()
        .map(|n| IpAddr::V4(n.gateway))
        .collect();
    for fixture in [
        FixtureName::Public,
        FixtureName::Lan,
        FixtureName::Dns,
        FixtureName::Neighbour,
    ] {
        let at: Vec<_> = log
            .records
            .iter()
            .filter(|r| r.fixture == fixture)
            .collect();
        if !at.iter().any(|r| checker.contains(&r.peer.ip())) {
            problems.push(format!(
                "{fixture:?} recorded nothing from the checker {checker:?}"
            ));
        }
        if let Some(r) = at.iter().find(|r| gateways.contains(&r.peer.ip())) {
            problems.push(format!(
                "{fixture:?} recorded contact from this machine ({}): checks must come from the checker",
                r.peer
            ));
        }
    }
    Ok(())
}

/// The broken bottle is caught: every must-escape probe of its sabotages (but those Docker
/// Desktop skips) escapes, and the agent reached this machine through `host.docker.internal`.
fn caught(report: &Report, problems: &mut Vec<String>) {
    let required = broken_must_escape()
        .into_iter()
        .filter(|id| !SKIPPED_ON_DESKTOP.iter().any(|(skipped, _)| skipped == id));
    problems.extend(not_escaped(report, required, "broken: "));
    let reached = named_attempts(report, "localhost.host_addresses");
    if !reached.iter().any(|a| a.judgement.starts_with("reached")) {
        problems.push(format!(
            "broken: host.docker.internal at the all-interfaces canary was not reached: {:?}",
            reached.iter().map(|a| &a.judgement).collect::<Vec<_>>()
        ));
    }
    if report.exit_code() != bottle_harness::exit::ESCAPE {
        problems.push(format!("broken exit code {}", report.exit_code()));
    }
}
