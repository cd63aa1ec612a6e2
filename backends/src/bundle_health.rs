//! The bundle's state as the engine reports it after the probes: a user's bundle is a black box,
//! and one that exited or restarted while the probes ran makes every result that went through
//! it meaningless (a refused connection to a dead proxy is not a refusal by the proxy).

use serde::{Deserialize, Serialize};

/// The bundle container's state, read from the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHealth {
    /// The image it runs (the user's reference, or the built-in one).
    pub image: String,
    /// The engine's state word: `running`, `exited`, `restarting`, ...
    pub status: String,
    /// The exit code of its last run, when it is not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// How often the engine restarted it.
    pub restart_count: i64,
    /// Whether the kernel's OOM killer ended it.
    #[serde(default)]
    pub oom_killed: bool,
    /// Its last log lines (stdout and stderr), when it did not survive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
}

impl BundleHealth {
    /// What went wrong, in one line, or None when it ran throughout.
    pub fn failure(&self) -> Option<String> {
        if self.status == "running" && self.restart_count == 0 {
            return None;
        }
        let mut what = format!("the bundle ({}) is {}", self.image, self.status);
        if let Some(code) = self.exit_code.filter(|_| self.status != "running") {
            what.push_str(&format!(", exit code {code}"));
        }
        if self.oom_killed {
            what.push_str(", killed for lack of memory");
        }
        if self.restart_count > 0 {
            what.push_str(&format!(", restarted {} time(s)", self.restart_count));
        }
        if !self.log_tail.is_empty() {
            what.push_str(&format!("; last log lines: {}", self.log_tail.join(" | ")));
        }
        Some(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> BundleHealth {
        BundleHealth {
            image: "my/squid".into(),
            status: "running".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_bundle_that_ran_throughout_is_no_failure() {
        assert_eq!(running().failure(), None);
    }

    #[test]
    fn an_exit_or_a_restart_is_a_failure() {
        let exited = BundleHealth {
            status: "exited".into(),
            exit_code: Some(139),
            log_tail: vec!["FATAL: assertion failed".into()],
            ..running()
        };
        let text = exited.failure().unwrap();
        assert!(text.contains("exited, exit code 139"), "{text}");
        assert!(text.contains("FATAL: assertion failed"), "{text}");
        let restarted = BundleHealth {
            restart_count: 2,
            ..running()
        };
        assert!(restarted.failure().unwrap().contains("restarted 2"));
    }
}
