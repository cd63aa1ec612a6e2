//! Reading what the targets recorded: the fixtures' logs and this machine's canaries', until
//! every liveness check a target answered shows in them.

use std::collections::BTreeSet;
use std::time::Duration;

use bottle_backends::{Bottle, BottleBackend};
use bottle_fixtures::records::{Proto, RejectedLine};
use bottle_fixtures::Record;

use crate::errors::HarnessError;
use crate::host::{HostCanaries, LivenessCheck};
use crate::plan::Plan;
use crate::select::AnyBackend;

/// Reads of the fixtures' records until every answered liveness check shows (see
/// [`read_records`]).
const RECORD_ROUNDS: usize = 6;
const RECORD_RETRY: Duration = Duration::from_millis(200);

/// The fixtures' records and this machine's canaries'. A container's log reaches the engine
/// asynchronously: a check the target answered (it records before it answers) may not be in
/// the log yet on a loaded machine. Read again, briefly, until every answered check shows; what
/// is still missing is judged as missing.
pub(super) async fn read_records(
    backend: &AnyBackend,
    bottle: &Bottle,
    plan: &Plan,
    canaries: &HostCanaries,
    checks: &[LivenessCheck],
    sent: &[Result<(), String>],
    vanished_attempts: &BTreeSet<String>,
) -> Result<(Vec<Record>, Vec<RejectedLine>), HarnessError> {
    let answered: Vec<&str> = checks
        .iter()
        .zip(sent)
        .filter(|(_, result)| result.is_ok())
        .map(|(check, _)| check.nonce.as_str())
        .collect();
    // The nonces of this run: its attempts (those still judged) and its checks.
    let run_nonces: Vec<&str> = plan
        .probes
        .iter()
        .flat_map(|p| &p.attempts)
        .filter(|a| !vanished_attempts.contains(&a.spec.id))
        .map(|a| a.spec.nonce.as_str())
        .chain(checks.iter().map(|c| c.nonce.as_str()))
        .collect();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for round in 0..RECORD_ROUNDS {
        let log = backend.fixture_records(bottle).await?;
        (records, rejected) = (log.records, log.rejected);
        // This machine's ICMP recorder sees every echo request to any of its addresses,
        // other runs' probes included (a sabotaged bottle next door pings this machine too):
        // only a ping carrying one of this run's nonces is this run's evidence.
        records.extend(
            canaries
                .sink
                .snapshot()
                .into_iter()
                .filter(|r| r.proto != Proto::Icmp || run_nonces.iter().any(|n| r.mentions(n))),
        );
        let complete = answered
            .iter()
            .all(|nonce| records.iter().any(|r| r.mentions(nonce)));
        if complete || round + 1 == RECORD_ROUNDS {
            break;
        }
        tokio::time::sleep(RECORD_RETRY).await;
    }
    Ok((records, rejected))
}
