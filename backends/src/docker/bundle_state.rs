//! Reading the bundle container's state from the engine (status, exit code, restart count) and,
//! when it did not survive, its last log lines: the evidence a report gives for a bundle that
//! exited or restarted during a run, or never opened its ports.

use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::roles::ContainerRole;
use crate::bundle_health::BundleHealth;
use crate::errors::BackendError;

/// How many of its last log lines a failed bundle's report carries.
const LOG_LINES: usize = 8;

/// The bundle of run `run_id`, as the engine reports it now.
pub(crate) async fn bundle_health(
    docker: &Docker,
    run_id: &str,
) -> Result<BundleHealth, BackendError> {
    let name = ContainerRole::Bundle.container_name(run_id);
    let inspected = docker
        .inspect_container(&name, None)
        .await
        .map_err(BackendError::engine(format!("inspecting {name}")))?;
    let state = inspected.state.unwrap_or_default();
    let mut health = BundleHealth {
        image: inspected.config.and_then(|c| c.image).unwrap_or_default(),
        status: state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        exit_code: state.exit_code,
        restart_count: inspected.restart_count.unwrap_or(0),
        oom_killed: state.oom_killed.unwrap_or(false),
        log_tail: Vec::new(),
    };
    if health.failure().is_some() {
        health.log_tail = log_tail(docker, &name).await;
    }
    Ok(health)
}

/// The container's last log lines (stdout and stderr); empty when the engine gives none.
pub(crate) async fn log_tail(docker: &Docker, name: &str) -> Vec<String> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "60".to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(options));
    let mut text = String::new();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if text.len() > 16 * 1024 {
                break;
            }
        }
    };
    // A log stream without follow ends by itself; the bound only guards a stuck engine.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), read).await;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    last_words(&lines)
        .into_iter()
        .map(|l| l.chars().take(300).collect())
        .collect()
}

/// The last [`LOG_LINES`] lines, after the last few that say why a process died (a daemon's
/// shutdown chatter often buries its `FATAL` or `Assertion` line).
fn last_words<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let tail = &lines[lines.len().saturating_sub(LOG_LINES)..];
    let head = &lines[..lines.len() - tail.len()];
    let dying = |l: &&str| {
        let l = l.to_ascii_lowercase();
        ["fatal", "assert", "panic", "abort", "segment", "error"]
            .iter()
            .any(|w| l.contains(w))
    };
    let mut why: Vec<&str> = head.iter().copied().filter(dying).collect();
    let why = why.split_off(why.len().saturating_sub(3));
    why.into_iter().chain(tail.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_that_say_why_come_before_the_tail() {
        let mut lines = vec!["start", "squid: Assertion `false' failed.", "FATAL: dying"];
        lines.extend(std::iter::repeat_n("chatter", 10));
        let words = last_words(&lines);
        assert_eq!(
            &words[..2],
            ["squid: Assertion `false' failed.", "FATAL: dying"]
        );
        assert_eq!(words.len(), 2 + LOG_LINES);
        assert_eq!(last_words(&["a", "b"]), ["a", "b"]);
    }
}
