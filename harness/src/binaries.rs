//! Finding the static `bottle-probe` and `bottle-fixture` binaries the images are built from.
//!
//! Cargo puts every binary of the workspace in the same directory (`target/<triple>/<profile>/`);
//! test executables live one level down in `deps/`. So the harness looks next to its own
//! executable and in the parent directory. `CLAUDE_BOTTLE_PROBE_BIN` and
//! `CLAUDE_BOTTLE_FIXTURE_BIN` override the search.

use std::path::{Path, PathBuf};

use crate::errors::HarnessError;

pub(crate) const PROBE_ENV: &str = "CLAUDE_BOTTLE_PROBE_BIN";
pub(crate) const FIXTURE_ENV: &str = "CLAUDE_BOTTLE_FIXTURE_BIN";

fn locate(what: &'static str, file: &str, env: &str) -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError::MissingBinary {
                what,
                reason: format!("{env}={} is not a file", path.display()),
            })
        };
    }
    let exe = std::env::current_exe().map_err(|e| HarnessError::MissingBinary {
        what,
        reason: format!("cannot find the running executable: {e}"),
    })?;
    let mut tried = Vec::new();
    let mut dir: Option<&Path> = exe.parent();
    for _ in 0..2 {
        let Some(current) = dir else { break };
        let candidate = current.join(file);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
        dir = current.parent();
    }
    Err(HarnessError::MissingBinary {
        what,
        reason: format!(
            "not found at {}; run `cargo build --workspace` (or set {env})",
            tried.join(" or ")
        ),
    })
}

/// The probe that runs inside the agent.
pub(crate) fn probe() -> Result<PathBuf, HarnessError> {
    locate("probe", "bottle-probe", PROBE_ENV)
}

/// The fixture binary (bundle stand-in, canaries, DNS canary).
pub(crate) fn fixture() -> Result<PathBuf, HarnessError> {
    locate("fixture", "bottle-fixture", FIXTURE_ENV)
}
