//! The probe exec, the first step of the probe phase: every attempt of the plan in one exec
//! inside the agent (positive controls first, whose round trip sets the timeout of the adaptive
//! deny attempts), while this machine dials the agent's inbound listener; then, for the SSRF
//! probes, one exec per DNS mode, each after the harness switched the allowed name's answer at
//! the DNS canary (`dns_switch`), and the name switched back. What the execs gave the attempts
//! travels on in [`ExecOutcome`]; the plan is never edited.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bottle_backends::{Bottle, BottleBackend};
use bottle_probes::timing::{sweep_ceiling_ms, Adaptive};
use bottle_probes::wire::{ProbeOutput, Stage, MAX_OUTPUT_BYTES};
use bottle_probes::{AttemptKind, AttemptSpec};

use bottle_fixtures::dns_canary::DnsMode;
use bottle_fixtures::records::FixtureName;

use super::adaptive::{adaptive_of, adaptive_timeout};
use super::dns_switch;
use super::options::RunOptions;
use super::phase::{progress, Phase};
use crate::host::{HostCanaries, HostDialer};
use crate::plan::Plan;
use crate::select::AnyBackend;
use crate::verdict::DnsSwitchRun;

/// Slack on top of the longest attempt for the exec round trip.
const EXEC_SLACK: Duration = Duration::from_secs(10);

/// What the probe exec gave and how it ran.
pub(crate) struct ExecOutcome {
    /// The parsed probe output, or why there is none (exec failed, output rejected).
    pub output: Result<ProbeOutput, String>,
    /// The slowest positive control's round trip, as the probe measured it.
    pub control_rtt_ms: Option<u64>,
    /// The timeout the adaptive deny attempts ran with (derived from `control_rtt_ms`).
    pub deny_timeout_ms: u32,
    /// The timeout each attempt actually got, by attempt id, where it differs from the plan's.
    pub applied_timeouts_ms: BTreeMap<String, u32>,
    /// The longest single attempt, as the probe measured it.
    pub longest_attempt_ms: u64,
    /// Wall time of the execs (with the dialer), ms.
    pub probe_ms: u64,
    /// The DNS switches made for the SSRF probes' execs, in order (the last one back to the
    /// name's public answer).
    pub dns_switches: Vec<DnsSwitchRun>,
}

/// Runs the plan's attempts in one exec. The sweep and the proxy denials start after the
/// controls too but keep their own timeouts (the plan's: a proxy deny waits for pipelock's 403
/// as long as a control would).
pub(crate) async fn execute(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    canaries: &HostCanaries,
    options: &RunOptions,
    mut nonce: impl FnMut() -> String,
) -> ExecOutcome {
    let timeouts = &options.config.timeouts;
    let adaptive = adaptive_of(timeouts);
    let attempts: Vec<&AttemptSpec> = plan
        .probes_under(None)
        .flat_map(|p| p.attempts.iter().map(|a| &a.spec))
        .collect();
    let dns_runs = plan.dns_runs();
    announce(options.progress, attempts.len(), dns_runs.len());
    let execs_started = Instant::now();
    // A bottle left up by an earlier run may still have the name switched: its public answer
    // first, which the positive controls need.
    let reset = if dns_runs.is_empty() {
        None
    } else {
        Some(to_the_public_answer(backend, bottle, plan, nonce()).await)
    };
    let dialing = HostDialer::start(&bottle.topology, canaries);
    let output = run_probe_exec(
        backend,
        bottle,
        &plan.session,
        &attempts,
        options.sequential,
        adaptive,
    )
    .await;
    drop(dialing);
    bottle_backends::trace::step("probes: done");
    let (output, dns_switches) = under_dns_runs(
        backend,
        bottle,
        plan,
        options.sequential,
        output,
        &mut nonce,
    )
    .await;
    let dns_switches = reset.into_iter().chain(dns_switches).collect();
    let control_rtt_ms = control_rtt_ms(&output, &attempts);
    let deny_timeout_ms = adaptive_timeout(control_rtt_ms, timeouts);
    let longest_attempt_ms = longest_attempt_ms(&output);
    ExecOutcome {
        output,
        control_rtt_ms,
        deny_timeout_ms,
        applied_timeouts_ms: applied_timeouts(&attempts, deny_timeout_ms),
        longest_attempt_ms,
        probe_ms: execs_started.elapsed().as_millis() as u64,
        dns_switches,
    }
}

/// Says what the probe phase is about to run: apart from `execute` so that the exec's steps
/// read without the wording of its progress line.
fn announce(shown: bool, attempts: usize, dns_runs: usize) {
    progress(
        shown,
        &format!(
            "{}: {attempts} attempts in one exec (positive controls first){}",
            Phase::Probe.doing(),
            if dns_runs == 0 {
                String::new()
            } else {
                format!(", then one exec per DNS switch ({dns_runs})")
            }
        ),
    );
}

/// The slowest positive control's round trip in `output`, which sets the deny timeout (none
/// without output or controls): one of the figures `execute` derives after the execs.
fn control_rtt_ms(output: &Result<ProbeOutput, String>, attempts: &[&AttemptSpec]) -> Option<u64> {
    output.as_ref().ok().and_then(|output| {
        bottle_probes::timing::control_rtt_ms(
            attempts
                .iter()
                .filter(|a| a.stage == Stage::Control)
                .filter_map(|a| output.observations.get(&a.id)),
        )
    })
}

/// The longest single attempt in `output` (0 without output): the other figure `execute`
/// derives after the execs, for the report's timings.
fn longest_attempt_ms(output: &Result<ProbeOutput, String>) -> u64 {
    output
        .as_ref()
        .map(|output| {
            output
                .observations
                .values()
                .map(|o| o.elapsed_ms)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// How many times the attempts of one DNS run are exec'd at most: once, and once more when the
/// proxy answered from a kept answer (see [`went_out_on_a_kept_answer`]).
const TRIES_PER_RUN: usize = 2;

/// How long before the second try: a cache that keeps answers for a second (Squid with
/// `negative_dns_ttl 1 second`) has let go of it by then with a second to spare (Squid's clock
/// counts whole seconds, so it keeps an answer up to 2 s).
const KEPT_ANSWER_WAIT: Duration = Duration::from_secs(3);

/// The execs of the SSRF probes' attempts, each run after its own switch of the name's answer
/// (`Plan::dns_runs`), their observations joined to the main exec's; then the name's public
/// answer again. A switch that failed leaves its attempts unsent, and an exec that failed its
/// attempts without observations: both say why in their switch's result. A try that went out
/// on a kept answer is made once more after [`KEPT_ANSWER_WAIT`], its observations replacing
/// the first's.
async fn under_dns_runs(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    sequential: bool,
    mut output: Result<ProbeOutput, String>,
    nonce: &mut impl FnMut() -> String,
) -> (Result<ProbeOutput, String>, Vec<DnsSwitchRun>) {
    let dns_runs = plan.dns_runs();
    if dns_runs.is_empty() {
        return (output, Vec::new());
    }
    let mut runs = Vec::new();
    for dns_run in dns_runs {
        let mode = dns_run.mode;
        let attempts: Vec<&AttemptSpec> = dns_run.attempts.iter().map(|a| &a.spec).collect();
        let ids: Vec<String> = attempts.iter().map(|a| a.id.clone()).collect();
        for tried in 1..=TRIES_PER_RUN {
            let mut run =
                dns_switch::switch(backend, bottle, &plan.session, mode, &ids, nonce()).await;
            let mut answered = None;
            if run.result.is_ok() {
                match run_probe_exec(backend, bottle, &plan.session, &attempts, sequential, None)
                    .await
                {
                    Ok(under) => answered = Some(under),
                    Err(why) => run.result = Err(format!("the exec after it failed: {why}")),
                }
            }
            let switch_nonce = run.nonce.clone();
            runs.push(run);
            let Some(under) = answered else { break };
            let again = tried < TRIES_PER_RUN
                && went_out_on_a_kept_answer(
                    backend,
                    bottle,
                    plan,
                    (&attempts, &under),
                    &switch_nonce,
                    &runs,
                )
                .await;
            if let Ok(main) = &mut output {
                main.observations.extend(under.observations);
            }
            if !again {
                break;
            }
            bottle_backends::trace::step(&format!(
                "probes: {} went out on a kept answer; once more",
                mode.as_str()
            ));
            tokio::time::sleep(KEPT_ANSWER_WAIT).await;
        }
    }
    runs.push(to_the_public_answer(backend, bottle, plan, nonce()).await);
    (output, runs)
}

/// Switches the name back to its public answer, for no attempt (before the main exec and
/// after the SSRF probes' execs).
async fn to_the_public_answer(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    nonce: String,
) -> DnsSwitchRun {
    dns_switch::switch(backend, bottle, &plan.session, DnsMode::Normal, &[], nonce).await
}

/// Whether an exec under a DNS mode went out on the answer the proxy had kept from before the
/// switch: requests let through (a success or a tunnel; a refusal needs no second try), every
/// one of them recorded at the public host (the name's answer from before), while the DNS
/// canary recorded no lookup of the name after the switch. Anything else is this try's own
/// evidence and stands: a request let through that the public host did not record is not
/// replaced by a second try.
async fn went_out_on_a_kept_answer(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    (attempts, under): (&[&AttemptSpec], &ProbeOutput),
    switch_nonce: &str,
    switches: &[DnsSwitchRun],
) -> bool {
    let let_through: Vec<&str> = attempts
        .iter()
        .filter(|a| {
            under.observations.get(&a.id).is_some_and(|o| {
                o.outcome() == bottle_probes::wire::Outcome::Connected
                    || o.status.is_some_and(|s| (200..300).contains(&s))
            })
        })
        .map(|a| a.nonce.as_str())
        .collect();
    if let_through.is_empty() {
        return false;
    }
    let Ok(log) = backend.fixture_records(bottle).await else {
        return false;
    };
    let at_public = |nonce: &str| {
        log.records
            .iter()
            .any(|r| r.fixture == FixtureName::Public && r.mentions(nonce))
    };
    let_through.iter().all(|nonce| at_public(nonce))
        && crate::verdict::ssrf::fresh_lookups(&log.records, switch_nonce, switches, plan) == 0
}

/// What the probe gave the attempts where it differs from the plan: the adaptive attempts run
/// with the deny timeout the controls' round trip set.
fn applied_timeouts(attempts: &[&AttemptSpec], deny_timeout_ms: u32) -> BTreeMap<String, u32> {
    attempts
        .iter()
        .filter(|a| a.stage == Stage::Adaptive && a.timeout_ms != deny_timeout_ms)
        .map(|a| (a.id.clone(), deny_timeout_ms))
        .collect()
}

/// The probe's exec with `attempts`; the parsed output or why not.
async fn run_probe_exec(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    attempts: &[&AttemptSpec],
    sequential: bool,
    adaptive: Option<Adaptive>,
) -> Result<ProbeOutput, String> {
    if attempts.is_empty() {
        return Ok(ProbeOutput::default());
    }
    let traced = bottle_backends::trace::enabled();
    let argv = probe_argv(bottle, session, attempts, sequential, adaptive, traced);
    let timeout = Duration::from_millis(exec_budget_ms(attempts, sequential)) + EXEC_SLACK;
    let ids: Vec<&str> = attempts.iter().map(|a| a.id.as_str()).collect();
    let output = backend
        .exec_in_agent(bottle, &argv, timeout, MAX_OUTPUT_BYTES + 1)
        .await;
    if let (true, Ok(output)) = (traced, &output) {
        // The probe's own step timings, relative to its start.
        for line in String::from_utf8_lossy(&output.stderr).lines() {
            if line.starts_with("probe-trace: ") {
                eprintln!("{line}");
            }
        }
    }
    super::probe_output::interpret(output, session, &ids)
}

/// `bottle-probe run --session S [--sequential] [--adaptive A] [--trace] ATTEMPT...`
fn probe_argv(
    bottle: &Bottle,
    session: &str,
    attempts: &[&AttemptSpec],
    sequential: bool,
    adaptive: Option<Adaptive>,
    traced: bool,
) -> Vec<String> {
    let mut argv = vec![
        bottle.probe_path.clone(),
        "run".to_string(),
        "--session".to_string(),
        session.to_string(),
    ];
    if sequential {
        argv.push("--sequential".into());
    }
    if let Some(adaptive) = adaptive {
        argv.extend(["--adaptive".to_string(), adaptive.encode()]);
    }
    if traced {
        argv.push("--trace".into());
    }
    argv.extend(attempts.iter().map(|a| a.encode()));
    argv
}

/// The longest one attempt can take: its timeout, or for a sweep the stretch past its budget
/// a slow machine may need (`timing::SWEEP_STRETCH`).
fn longest_ms(attempt: &AttemptSpec) -> u64 {
    match attempt.kind {
        AttemptKind::Sweep { .. } => sweep_ceiling_ms(attempt.timeout_ms),
        _ => u64::from(attempt.timeout_ms),
    }
}

/// The longest the probe can take: one after the other, or the controls and then the
/// adaptive attempts (at their ceiling) and the fixed ones side by side.
fn exec_budget_ms(attempts: &[&AttemptSpec], sequential: bool) -> u64 {
    let longest = |stage: Stage| {
        attempts
            .iter()
            .filter(|a| a.stage == stage)
            .map(|a| longest_ms(a))
            .max()
            .unwrap_or(0)
    };
    if sequential {
        attempts.iter().map(|a| longest_ms(a)).sum()
    } else {
        longest(Stage::Control) + longest(Stage::Fixed).max(longest(Stage::Adaptive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, stage: Stage, timeout_ms: u32) -> AttemptSpec {
        AttemptSpec {
            id: id.into(),
            kind: AttemptKind::UnixSockets,
            nonce: "n".into(),
            timeout_ms,
            stage,
        }
    }

    #[test]
    fn only_adaptive_attempts_get_the_deny_timeout_and_the_budget_covers_the_stages() {
        let specs = [
            spec("control", Stage::Control, 5000),
            spec("sweep", Stage::Fixed, 8000),
            spec("deny", Stage::Adaptive, 1500),
            spec("deny-at-it", Stage::Adaptive, 700),
        ];
        let attempts: Vec<&AttemptSpec> = specs.iter().collect();
        let applied = applied_timeouts(&attempts, 700);
        assert_eq!(applied, BTreeMap::from([("deny".to_string(), 700)]));
        // The controls, then the longer of the fixed and the adaptive stage (at its ceiling).
        assert_eq!(exec_budget_ms(&attempts, false), 5000 + 8000);
        assert_eq!(exec_budget_ms(&attempts, true), 5000 + 8000 + 1500 + 700);
        // A sweep may run past its budget while it makes progress: the exec waits for that.
        let mut sweep = spec("sweep", Stage::Fixed, 8000);
        sweep.kind = AttemptKind::Sweep {
            ip: "10.0.0.2".parse().unwrap(),
            first: 1,
            last: 65535,
        };
        let with_sweep = [&specs[0], &sweep];
        assert_eq!(exec_budget_ms(&with_sweep, false), 5000 + 8000 * 64);
        assert_eq!(exec_budget_ms(&with_sweep, true), 5000 + 8000 * 64);
    }
}
