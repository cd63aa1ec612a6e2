//! The concurrency trials: two runs at once on one engine (distinct ids and subnets, both
//! contained) and two cleaners removing one bottle at once (both succeed, nothing left).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Failed;

use crate::run::{gone_within, leftovers, GONE_WITHIN};

/// A kept bottle (`up`) of a trial: removed when the trial ends, however it ends, because no
/// later run reaps a kept bottle.
struct KeptBottle {
    run_id: String,
}

impl KeptBottle {
    fn up() -> Result<Self, String> {
        let up = Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args(["up", "--backend", "docker"])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .output()
            .map_err(|e| e.to_string())?;
        let run_id = String::from_utf8_lossy(&up.stdout).trim().to_string();
        if up.status.code() != Some(0) || !run_id.starts_with("cb") {
            return Err(format!(
                "up exited {:?} with {run_id:?}: {}",
                up.status.code(),
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Ok(Self { run_id })
    }
}

impl Drop for KeptBottle {
    fn drop(&mut self) {
        for _ in 0..5 {
            if !leftovers(&self.run_id).unwrap_or(true) {
                return;
            }
            let _ = Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
                .args(["down", &self.run_id, "--backend", "docker", "--quiet"])
                .env_remove("CLAUDE_BOTTLE_BACKEND")
                .output();
        }
    }
}

/// What the trace line of a cleaner that found another one at work says.
const CLEANERS_MET: &str = "another cleaner is removing container";

/// Two `down`s of one kept bottle at once. Each must exit 0 (or, having found nothing left,
/// say there is no such bottle), and nothing may be left the moment either exits 0. Returns
/// whether the two met (one was refused a removal the other had in progress).
fn two_downs(bottle: &KeptBottle) -> Result<bool, String> {
    let down = || {
        Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args(["down", &bottle.run_id, "--backend", "docker"])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .env(bottle_backends::trace::ENV, "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())
    };
    let mut cleaners = vec![down()?, down()?];
    let mut exits = Vec::new();
    let started = Instant::now();
    while !cleaners.is_empty() {
        let mut index = 0;
        while index < cleaners.len() {
            let Some(status) = cleaners[index].try_wait().map_err(|e| e.to_string())? else {
                index += 1;
                continue;
            };
            // Checked the moment it exits, before the other may finish the job for it.
            let left = leftovers(&bottle.run_id)?;
            let output = cleaners.remove(index).wait_with_output();
            let stderr = output
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            if status.code() == Some(0) && left {
                return Err(format!(
                    "{} is still there when a cleaner exited 0:\n{stderr}",
                    bottle.run_id
                ));
            }
            exits.push((status.code(), stderr));
        }
        if started.elapsed() > Duration::from_secs(60) {
            for mut cleaner in cleaners {
                let _ = cleaner.kill();
                let _ = cleaner.wait();
            }
            return Err(format!("the cleaners did not exit within 60 s: {exits:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let succeeded = exits.iter().filter(|(code, _)| *code == Some(0)).count();
    let benign = |(code, stderr): &(Option<i32>, String)| {
        *code == Some(0) || stderr.contains("no bottle with id")
    };
    if succeeded == 0 || !exits.iter().all(benign) {
        return Err(format!(
            "the cleaners of {} failed: {exits:?}",
            bottle.run_id
        ));
    }
    Ok(exits
        .iter()
        .any(|(_, stderr)| stderr.contains(CLEANERS_MET)))
}

/// One bottle removed by two cleaners at once (two runs reaping the same stale bottle, or a
/// detached cleaner and a later run): the engine refuses a second removal of a container while
/// the first is in progress (409). Both cleaners must succeed, and nothing may be left when
/// either returns. The bottle is a kept one (`up`) so that no other trial's run reaps it
/// first. The two must really meet (a cleaner's trace says it waited for the other); when
/// they happen not to, the trial tries again, up to three bottles.
pub(crate) fn two_cleaners_at_once() -> Result<(), Failed> {
    for _ in 0..3 {
        let bottle = KeptBottle::up()?;
        if two_downs(&bottle)? {
            return Ok(());
        }
    }
    Err("in three tries the two cleaners never met: nothing was tested".into())
}

/// Two runs started together on one engine: distinct run ids and subnets, both contained
/// (exit 0), and nothing of either left.
pub(crate) fn two_runs_at_once() -> Result<(), Failed> {
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
            .args([
                "run",
                "--backend",
                "docker",
                "--wait-teardown",
                "--format",
                "json",
            ])
            .env_remove("CLAUDE_BOTTLE_BACKEND")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())
    };
    let (a, b) = (start()?, start()?);
    let mut seen = Vec::new();
    for child in [a, b] {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            format!(
                "no JSON report (exit {:?}): {e}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        if output.status.code() != Some(0) {
            let failing: Vec<String> = report["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["verdict"] != "pass")
                .map(|r| format!("{}: {} ({})", r["id"], r["verdict"], r["detail"]))
                .collect();
            return Err(format!(
                "a concurrent run exited {:?}: {}",
                output.status.code(),
                failing.join("; ")
            )
            .into());
        }
        let run_id = report["run_id"].as_str().unwrap_or_default().to_string();
        let subnets: Vec<String> = ["agent_network", "upstream_network", "lan_network"]
            .iter()
            .map(|n| {
                report["topology"][n]["subnet"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        seen.push((run_id, subnets));
    }
    let (first, second) = (&seen[0], &seen[1]);
    if first.0 == second.0 || first.0.is_empty() {
        return Err(format!("run ids collide or are missing: {seen:?}").into());
    }
    if first.1.iter().any(|s| second.1.contains(s)) {
        return Err(format!("the two runs shared a subnet: {seen:?}").into());
    }
    for (run_id, _) in &seen {
        gone_within(run_id, GONE_WITHIN)?;
    }
    Ok(())
}
