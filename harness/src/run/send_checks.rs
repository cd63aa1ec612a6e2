//! Sending the harness's liveness checks from where each is sent: this machine's from the
//! harness's own process, each on its own thread; every vantage point's (the checker on the
//! fixture networks, the recorder in the bundle's namespace) as one `bottle-probe run` exec'd
//! there, one attempt per check ([`LivenessCheck::as_attempt`]). All senders run at once, and
//! their results come back in the order of the checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bottle_backends::{Bottle, BottleBackend, Vantage};
use bottle_probes::wire::{ProbeOutput, MAX_OUTPUT_BYTES};
use bottle_probes::AttemptSpec;

use crate::host::{self, CheckFrom, LivenessCheck};
use crate::select::AnyBackend;

/// Slack on top of the checks' own timeout for the exec's round trip to a vantage point.
const VANTAGE_SLACK: Duration = Duration::from_secs(10);

/// Waits until every IPv6 gateway of the bottle's networks is usable: a bridge's IPv6 address
/// is unusable for about a second after its first port comes up (duplicate address
/// detection), and the IPv6 liveness checks go through it.
pub(super) async fn wait_gateways_v6(bottle: &Bottle) {
    futures_util::future::join_all(
        bottle
            .topology
            .networks()
            .iter()
            .filter_map(|n| n.gateway_v6)
            .map(bottle_backends::hostnet::wait_usable_v6),
    )
    .await;
}

/// Sends every check at once. What each returned, in `checks` order, and the harness's own end
/// of every connection and socket this machine's checks opened (a vantage point's checks come
/// from its own addresses).
pub(super) async fn send_checks(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    checks: &[LivenessCheck],
) -> (Vec<Result<(), String>>, Vec<SocketAddr>) {
    let here: Vec<&LivenessCheck> = checks
        .iter()
        .filter(|c| c.from == CheckFrom::ThisMachine)
        .collect();
    let mut at: BTreeMap<Vantage, Vec<&LivenessCheck>> = BTreeMap::new();
    for check in checks {
        if let Some(vantage) = check.from.vantage() {
            at.entry(vantage).or_default().push(check);
        }
    }
    let from_vantages = futures_util::future::join_all(at.iter().map(|(vantage, list)| async {
        let sent = send_from(backend, bottle, session, *vantage, list).await;
        (CheckFrom::At(*vantage), sent)
    }));
    let ((sent_here, peers), sent_there) = tokio::join!(send_from_here(here), from_vantages);
    let mut by_sender: BTreeMap<CheckFrom, Vec<Result<(), String>>> =
        sent_there.into_iter().collect();
    by_sender.insert(CheckFrom::ThisMachine, sent_here);
    (in_check_order(checks, by_sender), peers)
}

/// The senders' results back in `checks` order (each sender's are in the order its checks came
/// in); a check its sender did not answer for fails.
fn in_check_order(
    checks: &[LivenessCheck],
    by_sender: BTreeMap<CheckFrom, Vec<Result<(), String>>>,
) -> Vec<Result<(), String>> {
    let mut by_sender: BTreeMap<CheckFrom, std::vec::IntoIter<Result<(), String>>> = by_sender
        .into_iter()
        .map(|(from, sent)| (from, sent.into_iter()))
        .collect();
    checks
        .iter()
        .map(|c| {
            by_sender
                .get_mut(&c.from)
                .and_then(Iterator::next)
                .unwrap_or_else(|| Err("the check was not sent".into()))
        })
        .collect()
}

/// This machine's checks, each from its own thread.
async fn send_from_here(checks: Vec<&LivenessCheck>) -> (Vec<Result<(), String>>, Vec<SocketAddr>) {
    let own_ends = Arc::new(Mutex::new(Vec::new()));
    let sent = {
        let checks: Vec<LivenessCheck> = checks.into_iter().cloned().collect();
        let own_ends = own_ends.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = checks
                    .iter()
                    .map(|check| {
                        let own_ends = &own_ends;
                        scope.spawn(move || host::send_liveness(check, own_ends))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("liveness check panicked".into()))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await
        .unwrap_or_default()
    };
    let peers = own_ends.lock().map(|e| e.clone()).unwrap_or_default();
    (sent, peers)
}

/// The checks of one vantage point, as one `bottle-probe run` there: one attempt per check,
/// all at once.
async fn send_from(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    vantage: Vantage,
    checks: &[&LivenessCheck],
) -> Vec<Result<(), String>> {
    if checks.is_empty() {
        return Vec::new();
    }
    let attempts = vantage_attempts(checks);
    let ids: Vec<&str> = attempts.iter().map(|a| a.id.as_str()).collect();
    let mut args = vec!["run".to_string(), "--session".into(), session.to_string()];
    args.extend(attempts.iter().map(AttemptSpec::encode));
    let budget = attempts
        .iter()
        .map(|a| u64::from(a.timeout_ms))
        .max()
        .unwrap_or(0);
    let output = backend
        .exec_from(
            bottle,
            vantage,
            &args,
            Duration::from_millis(budget) + VANTAGE_SLACK,
            MAX_OUTPUT_BYTES + 1,
        )
        .await;
    bottle_backends::trace::step(&format!("report: the checks at {vantage} done"));
    vantage_results(
        vantage,
        checks,
        &attempts,
        super::probe_output::interpret(output, session, &ids),
    )
}

/// One probe attempt per check of a vantage point, `liveness#<index>` in order.
fn vantage_attempts(checks: &[&LivenessCheck]) -> Vec<AttemptSpec> {
    checks
        .iter()
        .enumerate()
        .map(|(index, check)| check.as_attempt(format!("liveness#{index}")))
        .collect()
}

/// Each check's result from the vantage point's probe output: its own observation decides
/// ([`LivenessCheck::answered_in`]); no usable output, or no observation, fails it with why.
fn vantage_results(
    vantage: Vantage,
    checks: &[&LivenessCheck],
    attempts: &[AttemptSpec],
    output: Result<ProbeOutput, String>,
) -> Vec<Result<(), String>> {
    checks
        .iter()
        .zip(attempts)
        .map(|(check, attempt)| match &output {
            Ok(output) => match output.observations.get(&attempt.id) {
                Some(observation) => check.answered_in(observation),
                None => Err(format!(
                    "the probe at {vantage} reported nothing for this check"
                )),
            },
            Err(why) => Err(format!("checked from {vantage}: {why}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Target;

    fn check(nonce: &str, kind: host::CheckKind) -> LivenessCheck {
        LivenessCheck {
            target: Target::Public,
            addr: "10.210.3.10:80".parse().unwrap(),
            nonce: nonce.into(),
            kind,
            from: CheckFrom::At(Vantage::Checker),
        }
    }

    /// The vantage point's output decides each check by its own observation; an output that
    /// is missing, or an observation that is, fails the check with why, never passes it.
    #[test]
    fn each_vantage_check_stands_on_its_own_observation() {
        use bottle_probes::wire::{Observation, Outcome};
        let checks = [
            check("l1", host::CheckKind::Tcp),
            check("l2", host::CheckKind::Tcp),
            check("l3", host::CheckKind::DnsUdp),
        ];
        let refs: Vec<&LivenessCheck> = checks.iter().collect();
        let attempts = vantage_attempts(&refs);
        assert_eq!(
            attempts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["liveness#0", "liveness#1", "liveness#2"]
        );
        let mut acked = Observation::new("liveness#0", Outcome::Connected, 2);
        acked.ack = true;
        let unacked = Observation::new("liveness#1", Outcome::Connected, 2);
        let output = ProbeOutput {
            observations: [acked, unacked]
                .into_iter()
                .map(|o| (o.id.clone(), o))
                .collect(),
        };
        let checker = Vantage::Checker;
        let results = vantage_results(checker, &refs, &attempts, Ok(output));
        assert_eq!(results[0], Ok(()));
        assert!(results[1]
            .as_ref()
            .unwrap_err()
            .contains("no acknowledgement at the checker"));
        assert!(results[2]
            .as_ref()
            .unwrap_err()
            .contains("the probe at the checker reported nothing"));
        let failed = vantage_results(
            checker,
            &refs,
            &attempts,
            Err("the probe exec failed: gone".into()),
        );
        assert!(failed.iter().all(|r| r
            .as_ref()
            .unwrap_err()
            .contains("the probe exec failed: gone")));
        assert_eq!(failed.len(), 3);
    }

    /// Each check gets its own sender's answer, in order, whichever way the senders' checks
    /// are interleaved; a check whose sender said nothing fails.
    #[test]
    fn results_come_back_in_the_order_of_the_checks() {
        let from = |nonce: &str, from: CheckFrom| LivenessCheck {
            from,
            ..check(nonce, host::CheckKind::Tcp)
        };
        let (here, checker, bundle) = (
            CheckFrom::ThisMachine,
            CheckFrom::At(Vantage::Checker),
            CheckFrom::At(Vantage::BundleNamespace),
        );
        let checks = [
            from("h1", here),
            from("t1", checker),
            from("b1", bundle),
            from("h2", here),
            from("t2", checker),
            from("b2", bundle),
        ];
        let by_sender = BTreeMap::from([
            (here, vec![Ok(()), Err("h2".to_string())]),
            (checker, vec![Err("t1".to_string())]),
            (bundle, vec![Err("b1".to_string()), Ok(())]),
        ]);
        assert_eq!(
            in_check_order(&checks, by_sender),
            [
                Ok(()),
                Err("t1".to_string()),
                Err("b1".to_string()),
                Err("h2".to_string()),
                Err("the check was not sent".to_string()),
                Ok(()),
            ]
        );
    }
}
