//! Builds the in-bottle binaries (`bottle-probe`, `bottle-fixture`) as static Linux executables
//! for every bottle architecture whose Rust target is installed, so that the README's commands
//! (`cargo run -p bottle-harness ...`, `cargo nextest run`) need no separate build step on Linux
//! and macOS alike.
//!
//! Why a nested cargo: the host code builds natively (no forced target), but the binaries copied
//! into the agent and fixture images must be static Linux executables for the *bottle's*
//! architecture, which cargo cannot express as a dependency. They are built with musl and
//! `rust-lld` (linker set in `.cargo/config.toml`), which needs no C cross toolchain, into their
//! own target directory (`target/in-bottle`, so the outer build's lock is never contended).
//! A missing target is not an error here: the harness reports it at run time, naming the
//! command that adds it (`rustup target add ...`), and only when a bottle needs that
//! architecture.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bottle architectures and their Rust targets.
const TARGETS: [(&str, &str); 2] = [
    ("x86_64", "x86_64-unknown-linux-musl"),
    ("aarch64", "aarch64-unknown-linux-musl"),
];

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let workspace = manifest
        .parent()
        .expect("the harness sits in the workspace")
        .to_path_buf();
    for watched in [
        "probes/src",
        "probes/Cargo.toml",
        "fixtures/src",
        "fixtures/Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=CLAUDE_BOTTLE_SKIP_IN_BOTTLE_BUILD");
    let target_dir = in_bottle_dir(&workspace);
    println!(
        "cargo:rustc-env=CLAUDE_BOTTLE_IN_BOTTLE_DIR={}",
        target_dir.display()
    );
    if std::env::var_os("CLAUDE_BOTTLE_SKIP_IN_BOTTLE_BUILD").is_some() {
        return;
    }
    let wanted = wanted_targets();
    if !wanted.is_empty() {
        build(&workspace, &target_dir, &wanted);
    }
}

/// The bottle targets whose standard library is installed; a warning names each one that is not.
fn wanted_targets() -> Vec<&'static str> {
    let installed = installed_targets();
    TARGETS
        .iter()
        .map(|(_, triple)| *triple)
        .filter(|triple| {
            let ok = installed.iter().any(|t| t == triple);
            if !ok {
                println!("cargo:warning=in-bottle binaries for {triple} not built: `rustup target add {triple}` adds the target");
            }
            ok
        })
        .collect()
}

/// Runs the nested `cargo build` of the in-bottle binaries for `targets`.
fn build(workspace: &Path, target_dir: &Path, targets: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "bottle-probes",
            "-p",
            "bottle-fixtures",
            "--bins",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for triple in targets {
        command.args(["--target", triple]);
    }
    // What cargo sets for this build script must not leak into the nested build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("building the in-bottle binaries failed ({status}); the command: cargo build --release -p bottle-probes -p bottle-fixtures --bins --target {}", targets.join(" --target ")),
        Err(e) => panic!("cannot run cargo to build the in-bottle binaries: {e}"),
    }
}

/// `target/in-bottle` next to the workspace's target directory (`CARGO_TARGET_DIR` honoured).
fn in_bottle_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("in-bottle"),
        None => workspace.join("target").join("in-bottle"),
    }
}

/// The targets whose standard library is installed in the active toolchain.
fn installed_targets() -> Vec<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(sysroot) = sysroot else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(Path::new(&sysroot).join("lib/rustlib")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("lib").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}
