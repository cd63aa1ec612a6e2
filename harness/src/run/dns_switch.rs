//! Switching the allowed name's answer at the DNS canary between the probe execs (the SSRF
//! probes, see `bottle_fixtures::dns_canary::DnsMode`): one query for the switch name, which
//! carries the bottle's secret and a fresh nonce, sent from where the harness reaches the
//! canary (this machine, or the checker where this machine cannot route to the bridges). The
//! canary answers a switch it took with NOERROR and no address; anything else is a failure,
//! and the probes that needed it are judged unclear (`verdict::ssrf`).

use std::net::SocketAddr;
use std::time::Duration;

use bottle_backends::{Bottle, BottleBackend, Vantage};
use bottle_fixtures::dns_canary::{switch_qname, DnsMode};
use bottle_probes::wire::{Outcome, ProbeOutput, Stage, MAX_OUTPUT_BYTES};
use bottle_probes::{AttemptKind, AttemptSpec};

use crate::host;
use crate::select::AnyBackend;
use crate::verdict::DnsSwitchRun;

/// How long the canary may take to answer the switch (as a liveness check).
const SWITCH_TIMEOUT: Duration = Duration::from_secs(4);
/// Slack on top of it for an exec's round trip to the checker.
const EXEC_SLACK: Duration = Duration::from_secs(10);

/// Sets the switched name's `mode` for the attempts `for_attempts` (by id); what the verdicts
/// need to know of it.
pub(super) async fn switch(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    mode: DnsMode,
    for_attempts: &[String],
    nonce: String,
) -> DnsSwitchRun {
    let result = send(backend, bottle, session, mode, &nonce).await;
    bottle_backends::trace::step(&format!("probes: DNS switch to {}", mode.as_str()));
    DnsSwitchRun {
        mode,
        nonce,
        attempts: for_attempts.to_vec(),
        result,
    }
}

async fn send(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    mode: DnsMode,
    nonce: &str,
) -> Result<(), String> {
    let topology = &bottle.topology;
    let switch = topology
        .layout()
        .dns_switch
        .as_ref()
        .ok_or("the bottle has no DNS switch")?;
    let server = SocketAddr::new(topology.layout().dns.ip.into(), 53);
    let qname = switch_qname(nonce, mode, &switch.secret);
    let rcode = if topology.layout().engine_host.routes_to_bridges() {
        tokio::task::spawn_blocking(move || host::ask_dns_udp(server, &qname))
            .await
            .map_err(|e| format!("the switch query's thread failed: {e}"))??
            .rcode
    } else {
        from_checker(backend, bottle, session, server, qname, nonce).await?
    };
    if rcode != 0 {
        return Err(format!(
            "the DNS canary refused the switch to {} (rcode {rcode})",
            mode.as_str()
        ));
    }
    Ok(())
}

/// The switch query as one probe attempt in the checker; the reply's rcode.
async fn from_checker(
    backend: &AnyBackend,
    bottle: &Bottle,
    session: &str,
    server: SocketAddr,
    qname: String,
    nonce: &str,
) -> Result<u8, String> {
    let attempt = AttemptSpec {
        id: "dns-switch".into(),
        kind: AttemptKind::DnsUdp { server, qname },
        nonce: nonce.to_string(),
        timeout_ms: SWITCH_TIMEOUT.as_millis() as u32,
        stage: Stage::Fixed,
    };
    let args = vec![
        "run".to_string(),
        "--session".into(),
        session.to_string(),
        attempt.encode(),
    ];
    let output = backend
        .exec_from(
            bottle,
            Vantage::Checker,
            &args,
            SWITCH_TIMEOUT + EXEC_SLACK,
            MAX_OUTPUT_BYTES + 1,
        )
        .await;
    let output: ProbeOutput = super::probe_output::interpret(output, session, &[&attempt.id])?;
    let observation = output
        .observations
        .get(&attempt.id)
        .ok_or("the checker's probe reported nothing for the switch")?;
    match (observation.outcome(), observation.rcode) {
        (Outcome::Answered, Some(rcode)) => Ok(rcode),
        (outcome, _) => Err(format!(
            "no answer to the switch at the checker: {}",
            outcome.as_str()
        )),
    }
}
