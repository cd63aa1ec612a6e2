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
//! architecture. The targets normally arrive by themselves: `rust-toolchain.toml` lists them,
//! and rustup adds a listed target the first time cargo runs in the workspace.
//!
//! Why this script watches the toolchain's `lib/rustlib`: a target appearing (rustup adding it)
//! or disappearing changes what this script would build, but none of the workspace's files.
//! Cargo reruns a build script only when a watched path changes, so without it the binaries of a
//! target added after the first build would never be built. The directory holds one
//! subdirectory per installed target and rustup's `components` list, both rewritten when a
//! target is added or removed; nothing in it changes on an ordinary build, so an unchanged
//! workspace still reruns nothing.

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
    let rustlib = rustlib_dir();
    if let Some(rustlib) = &rustlib {
        println!("cargo:rerun-if-changed={}", rustlib.display());
    }
    let target_dir = in_bottle_dir(&workspace);
    println!(
        "cargo:rustc-env=CLAUDE_BOTTLE_IN_BOTTLE_DIR={}",
        target_dir.display()
    );
    if std::env::var_os("CLAUDE_BOTTLE_SKIP_IN_BOTTLE_BUILD").is_some() {
        return;
    }
    let wanted = wanted_targets(rustlib.as_deref());
    if !wanted.is_empty() {
        build(&workspace, &target_dir, &wanted);
    }
}

/// The bottle targets whose standard library is installed; a warning names each one that is not.
fn wanted_targets(rustlib: Option<&Path>) -> Vec<&'static str> {
    let installed = rustlib.map(installed_targets).unwrap_or_default();
    TARGETS
        .iter()
        .map(|(_, triple)| *triple)
        .filter(|triple| {
            let ok = installed.iter().any(|t| t == triple);
            if !ok {
                println!("cargo:warning=in-bottle binaries for {triple} not built: its standard library is not installed; `rustup target add {triple}` adds it (rustup adds it by itself unless its auto-install is off), and the next cargo build builds them");
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

/// `lib/rustlib` of the active toolchain's sysroot (`$RUSTC --print sysroot`): one directory per
/// installed target. `None` when rustc cannot say; then no target counts as installed.
fn rustlib_dir() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let rustlib = Path::new(&sysroot).join("lib").join("rustlib");
    rustlib.is_dir().then_some(rustlib)
}

/// The targets whose standard library is installed under `rustlib`.
fn installed_targets(rustlib: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(rustlib) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("lib").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}
