//! The taken-subnet trial: a /24 the run picked turns out to be taken mid bring-up, and the run
//! brings the bottle up again on other subnets, contained, leaving nothing behind.

use std::net::Ipv4Addr;

use libtest_mimic::Failed;

use crate::run::{leftovers, runtime, trial_run};

/// Removes the test's own network when the trial ends, however it ends.
struct TakenNetwork {
    name: String,
}

impl Drop for TakenNetwork {
    fn drop(&mut self) {
        if let Ok(docker) = bollard::Docker::connect_with_local_defaults() {
            let _ = runtime().block_on(docker.remove_network(&self.name));
        }
    }
}

/// Takes a free random /24 in the range the harness picks from (10.200-250.x.0) with a network
/// of the test's own (not labelled as a run's, so no run reaps it).
fn take_a_subnet() -> Result<(TakenNetwork, Ipv4Addr), String> {
    use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
    let docker = bollard::Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let name = format!("cb-test-taken-{}", std::process::id());
    let mut last = String::new();
    for _ in 0..20 {
        let mut bytes = [0u8; 2];
        bottle_backends::labels::fill_random(&mut bytes);
        let base = Ipv4Addr::new(10, 200 + bytes[0] % 51, bytes[1] % 250, 0);
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{base}/24")),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some([("claude-bottle.test".to_string(), "taken-subnet".to_string())].into()),
            ..Default::default()
        };
        match runtime().block_on(docker.create_network(request)) {
            Ok(_) => return Ok((TakenNetwork { name }, base)),
            Err(error) => last = error.to_string(),
        }
    }
    Err(format!("no free /24 to take: {last}"))
}

/// A subnet the run wants turns out to be taken in the middle of its bring-up (the fault knob
/// puts the first attempt's LAN network on a /24 this test holds, while the other networks are
/// made and the first containers start): the run brings the bottle up again on other subnets,
/// is contained, and leaves nothing behind, of the clashing attempt either.
pub(crate) fn taken_subnet_is_retried() -> Result<(), Failed> {
    let (_taken, base) = take_a_subnet()?;
    let output = trial_run()
        .args(["--format", "json"])
        .env(
            bottle_backends::docker::FAULT_TAKEN_SUBNET_ENV,
            base.to_string(),
        )
        .env("RUST_LOG", "info")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(0) {
        return Err(format!("the run exited {:?}: {stderr}", output.status.code()).into());
    }
    if !stderr.contains("bringing the bottle up on other subnets") {
        return Err(format!("the run did not retry after the clash on {base}/24: {stderr}").into());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("no JSON report: {e}"))?;
    let lan = report["topology"]["lan_network"]["subnet"]
        .as_str()
        .unwrap_or_default();
    if lan.is_empty() || lan == format!("{base}/24") {
        return Err(format!("the LAN network is on {lan:?}, the taken subnet is {base}/24").into());
    }
    let run_id = report["run_id"].as_str().unwrap_or_default();
    if leftovers(run_id)? {
        return Err(format!("{run_id} left objects behind").into());
    }
    Ok(())
}
