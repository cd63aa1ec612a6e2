//! Whether smolmachines bottles can run here.
//!
//! A cheap check first (smolvm found and answering; a hypervisor: macOS, or `/dev/kvm` that is
//! not the paravirtualised `kvm_pvm`, on which guests never boot), then a boot smoke test bounded
//! in time (a bare machine in a throwaway state dir is started, stopped and deleted). The smoke
//! test's result is cached per smolvm version and kernel release, so the answer is quick after
//! the first time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cache::cache_dir;
use super::cli::{CommandRunner, Smolvm};
use super::uid_drop::{self, UidDrop};
use crate::backend::Availability;
use crate::labels;

/// The cached result of a boot smoke test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SmokeResult {
    pub(crate) smolvm: String,
    pub(crate) kernel: String,
    pub(crate) boots: bool,
    pub(crate) reason: String,
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::consts::OS.to_string())
}

fn smoke_cache_path(dir: &Path, version: &str, kernel: &str, uid_drop: &UidDrop) -> PathBuf {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    // A start without the uid drop is another experiment: its result is kept apart.
    let drop = match uid_drop {
        UidDrop::Leave => "",
        UidDrop::TurnOff(_) => "-no-uid-drop",
    };
    dir.join(format!(
        "boot-smoke-{}-{}{drop}.json",
        safe(version),
        safe(kernel)
    ))
}

/// The hypervisor check; `Err` is the reason guests cannot boot.
pub(crate) fn hypervisor_check(sys_module: &Path, dev_kvm: &Path) -> Result<(), String> {
    if cfg!(target_os = "macos") {
        return Ok(());
    }
    if !dev_kvm.exists() {
        return Err(format!(
            "{} does not exist: no hardware virtualisation for microVMs",
            dev_kvm.display()
        ));
    }
    if sys_module.join("kvm_pvm").exists() {
        return Err(
            "the host's KVM is kvm_pvm (paravirtualised KVM inside a VM): smolvm guests do not boot on it (measured: `machine start` fails)"
                .into(),
        );
    }
    Ok(())
}

/// Starts and deletes a bare machine in a throwaway state dir.
fn smoke_test(
    program: &Path,
    runner: Arc<dyn CommandRunner>,
    uid_drop: &UidDrop,
) -> Result<(), String> {
    let state = std::env::temp_dir().join(format!("claude-bottle-smoke-{}", labels::new_run_id()));
    let smolvm =
        Smolvm::new(program.to_path_buf(), Some(state.clone()), runner).with_env(uid_drop.env());
    let name = "cb-smoke";
    let result = smolvm
        .create_bare(name)
        .and_then(|()| smolvm.start(name))
        .map_err(|e| explain(&e.to_string()));
    let _ = smolvm.stop(name);
    let _ = smolvm.delete(name);
    let _ = std::fs::remove_dir_all(&state);
    result
}

/// A failed start's message, with what it means where smolvm's own words are cryptic: the VM
/// process runs as the unprivileged uid of smolvm's uid drop (`uid_drop`) when started as root.
pub(crate) fn explain(error: &str) -> String {
    let hint = if error.contains("KvmOpen") {
        Some("the VM process could not open /dev/kvm")
    } else if error.contains("libkrun") && error.contains("not found") {
        Some("the VM process could not load libkrun/libkrunfw")
    } else {
        None
    };
    match hint {
        Some(hint) => format!(
            "{error} ({hint}: started as root, smolvm runs each VM as an unprivileged uid unless {}=off; see docs/backends/smolmachines.md)",
            uid_drop::UID_DROP_ENV
        ),
        None => error.to_string(),
    }
}

/// Where the check looks and keeps its cache; [`check`] uses this machine's.
pub struct Environment<'a> {
    pub sys_module: &'a Path,
    pub dev_kvm: &'a Path,
    pub cache_dir: &'a Path,
    pub kernel: String,
    /// What smolvm's uid drop needs here ([`uid_drop::decide`]).
    pub uid_drop: UidDrop,
}

/// The full check on this machine.
pub(crate) fn check(
    program: &Path,
    runner: Arc<dyn CommandRunner>,
) -> (Availability, Option<String>) {
    let cache = cache_dir();
    check_in(
        program,
        runner,
        &Environment {
            sys_module: Path::new("/sys/module"),
            dev_kvm: Path::new("/dev/kvm"),
            cache_dir: &cache,
            kernel: kernel_release(),
            uid_drop: uid_drop::decide(program),
        },
    )
}

/// The full check against an explicit environment (tests use a stand-in CLI and a temp dir).
pub fn check_in(
    program: &Path,
    runner: Arc<dyn CommandRunner>,
    env: &Environment,
) -> (Availability, Option<String>) {
    let smolvm = Smolvm::new(program.to_path_buf(), None, runner.clone());
    let version = match smolvm.version() {
        Ok(version) => version,
        Err(error) => {
            return (
                Availability::Unavailable {
                    reason: format!("{} does not answer --version: {error}", program.display()),
                },
                None,
            )
        }
    };
    if let Err(reason) = hypervisor_check(env.sys_module, env.dev_kvm) {
        return (
            Availability::Unavailable {
                reason: format!("{version}: {reason}"),
            },
            Some(version),
        );
    }
    let kernel = env.kernel.clone();
    let cache = smoke_cache_path(env.cache_dir, &version, &kernel, &env.uid_drop);
    let cached: Option<SmokeResult> = std::fs::read(&cache)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|r: &SmokeResult| r.smolvm == version && r.kernel == kernel);
    let result = cached.unwrap_or_else(|| {
        let outcome = smoke_test(program, runner, &env.uid_drop);
        let result = SmokeResult {
            smolvm: version.clone(),
            kernel: kernel.clone(),
            boots: outcome.is_ok(),
            reason: outcome.err().unwrap_or_default(),
        };
        if let Some(dir) = cache.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(
            &cache,
            serde_json::to_vec_pretty(&result).unwrap_or_default(),
        );
        result
    });
    if result.boots {
        (
            Availability::Available {
                version: version.clone(),
            },
            Some(version),
        )
    } else {
        (
            Availability::Unavailable {
                reason: format!(
                    "{version}: a guest did not boot on kernel {} (cached in {}): {}",
                    result.kernel,
                    cache.display(),
                    result.reason
                ),
            },
            Some(version),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_pvm_and_missing_kvm_are_refused() {
        let dir = std::env::temp_dir().join(format!("cb-hv-{}", std::process::id()));
        let modules = dir.join("module");
        std::fs::create_dir_all(modules.join("kvm")).unwrap();
        let kvm = dir.join("kvm-device");
        std::fs::write(&kvm, "").unwrap();
        assert_eq!(hypervisor_check(&modules, &kvm), Ok(()));
        assert!(hypervisor_check(&modules, &dir.join("missing"))
            .unwrap_err()
            .contains("does not exist"));
        std::fs::create_dir_all(modules.join("kvm_pvm")).unwrap();
        assert!(hypervisor_check(&modules, &kvm)
            .unwrap_err()
            .contains("kvm_pvm"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
