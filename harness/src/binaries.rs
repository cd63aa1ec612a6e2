//! Finding the static `bottle-probe` and `bottle-fixture` binaries the images are built from,
//! for the bottle's architecture.
//!
//! They are static Linux executables built by `harness/build.rs` (musl, rust-lld) into
//! `target/in-bottle/<arch>-unknown-linux-musl/release/`, one pair per architecture whose Rust
//! target is installed (`rust-toolchain.toml` lists both targets, so rustup adds them, and the
//! build script reruns when one appears); the build script tells this crate the directory. Host
//! code is native, so these are never the binaries next to the harness's own executable.
//! `CLAUDE_BOTTLE_PROBE_BIN` and `CLAUDE_BOTTLE_FIXTURE_BIN` override the search (for any
//! architecture: the caller vouches for what they name).

use std::path::{Path, PathBuf};

use bottle_backends::Arch;

use crate::errors::HarnessError;

pub(crate) const PROBE_ENV: &str = "CLAUDE_BOTTLE_PROBE_BIN";
pub(crate) const FIXTURE_ENV: &str = "CLAUDE_BOTTLE_FIXTURE_BIN";

/// Where harness/build.rs put the in-bottle binaries.
const IN_BOTTLE_DIR: &str = env!("CLAUDE_BOTTLE_IN_BOTTLE_DIR");

/// The path the build puts `file` at for `arch`, under `dir`.
fn built_path(dir: &Path, arch: Arch, file: &str) -> PathBuf {
    dir.join(arch.musl_target()).join("release").join(file)
}

/// The command that builds the in-bottle binaries for `arch`, for error messages.
pub fn build_command(arch: Arch) -> String {
    format!(
        "rustup target add {} && cargo build -p bottle-harness",
        arch.musl_target()
    )
}

fn locate(what: &'static str, file: &str, env: &str, arch: Arch) -> Result<PathBuf, HarnessError> {
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
    let candidate = built_path(Path::new(IN_BOTTLE_DIR), arch, file);
    if candidate.is_file() {
        return Ok(candidate);
    }
    Err(HarnessError::MissingBinary {
        what,
        reason: format!(
            "no {arch} build at {}; `{}` builds it (or set {env}). rust-toolchain.toml lists {}, so rustup adds it by itself unless its auto-install is off (RUSTUP_AUTO_INSTALL=0) or another toolchain is forced (+toolchain, RUSTUP_TOOLCHAIN)",
            candidate.display(),
            build_command(arch),
            arch.musl_target()
        ),
    })
}

/// The probe that runs inside the agent, for a bottle of `arch`.
pub(crate) fn probe(arch: Arch) -> Result<PathBuf, HarnessError> {
    locate("probe", "bottle-probe", PROBE_ENV, arch)
}

/// The fixture binary (bundle stand-in, canaries, DNS canary), for a bottle of `arch`.
pub(crate) fn fixture(arch: Arch) -> Result<PathBuf, HarnessError> {
    locate("fixture", "bottle-fixture", FIXTURE_ENV, arch)
}

/// Whether both in-bottle binaries exist for `arch` (tests decide at list time with it).
pub fn available(arch: Arch) -> bool {
    probe(arch).is_ok() && fixture(arch).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_layout_and_the_missing_binary_message() {
        let path = built_path(Path::new("/t/in-bottle"), Arch::Aarch64, "bottle-probe");
        assert_eq!(
            path,
            Path::new("/t/in-bottle/aarch64-unknown-linux-musl/release/bottle-probe")
        );
        assert_eq!(
            build_command(Arch::X86_64),
            "rustup target add x86_64-unknown-linux-musl && cargo build -p bottle-harness"
        );
    }
}
