//! Conformance with the real smolvm CLI (`machine create` in a throwaway state dir accepts
//! every snapshotted Smolfile, and `machine ls --json` shows what was rendered), as its own
//! libtest-mimic target so that availability is decided at list time: without a smolvm on this
//! machine the trial is listed as ignored with the reason on stderr (never passed); under CI
//! (`CI=true`) it is required and fails with that reason. `.ci/run` installs smolvm (PyPI wheel
//! `smolmachines`); `SMOLVM` or `smolvm` on `PATH` names it.

use std::net::Ipv4Addr;
use std::sync::Arc;

use bottle_backends::smolmachines::cli::{self, ProcessRunner, Smolvm};
use bottle_backends::smolmachines::smolfile::render;
use bottle_backends::BackendError;
use libtest_mimic::{Arguments, Failed, Trial};

mod support;
use support::{assert_parses_back, cases, fake_docker_save, temp_dir};

/// Conformance with the real smolvm: `machine create` in a throwaway state dir accepts every
/// snapshotted Smolfile, and `machine ls --json` shows what was rendered. `.ci/run` installs
/// smolvm (PyPI wheel `smolmachines`); without it the trial is ignored at list time (required
/// under CI).
fn smolfiles_are_accepted_by_the_real_smolvm(program: std::path::PathBuf) -> Result<(), Failed> {
    let dir = temp_dir("conformance");
    let archive = dir.join("agent.tar");
    fake_docker_save(&mut std::fs::File::create(&archive).unwrap(), b"layer");
    let smolvm = Smolvm::new(program, Some(dir.join("state")), Arc::new(ProcessRunner));
    let version = smolvm.version().unwrap();
    assert!(version.starts_with("smolvm 1."), "{version}");
    for (index, (name, mut spec)) in cases().into_iter().enumerate() {
        // Same rendering, pointing at an archive that exists here.
        spec.image = archive.display().to_string();
        let text = render(&spec);
        assert_parses_back(name, &spec, &text);
        let smolfile_path = dir.join(format!("{name}.Smolfile"));
        std::fs::write(&smolfile_path, &text).unwrap();
        let machine = format!("conf{index}");
        smolvm
            .create(
                &machine,
                &smolfile_path,
                &[("claude-bottle.run".into(), "conformance".into())],
                Some(Ipv4Addr::new(10, 213, 9, 53)),
            )
            .unwrap_or_else(|e| panic!("{name}: smolvm refused the Smolfile: {e}"));
        let listed = smolvm.list().unwrap();
        let record = listed
            .as_array()
            .and_then(|machines| machines.iter().find(|m| m["name"] == machine.as_str()))
            .unwrap_or_else(|| panic!("{name}: machine not listed: {listed}"));
        let strings = |key: &str| -> Vec<String> {
            record[key]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: {key} missing in {record}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(strings("allowed_cidrs"), spec.allow_cidrs(), "{name}");
        assert_eq!(strings("entrypoint"), spec.entrypoint, "{name}");
        assert_eq!(strings("cmd"), spec.cmd, "{name}");
        assert_eq!(
            record["labels"]["claude-bottle.run"], "conformance",
            "{name}"
        );
        smolvm.delete(&machine).unwrap();
    }
    // A key smolvm does not know is refused with a typed error naming it.
    let bad = dir.join("bad.Smolfile");
    std::fs::write(
        &bad,
        format!("image = \"{}\"\nallow_cidrs = []\n", archive.display()),
    )
    .unwrap();
    match smolvm.create("confbad", &bad, &[], None) {
        Err(BackendError::Smolvm { code, message, .. }) => {
            assert_eq!(code, "CONFIG_ERROR");
            assert!(message.contains("allow_cidrs"), "{message}");
        }
        other => panic!("expected a typed CONFIG_ERROR, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

/// Whether CI runs the tests: a missing smolvm then fails the trial instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn main() {
    let args = Arguments::from_args();
    let located = cli::locate().map_err(|e| e.to_string());
    let ci = in_ci();
    if let (Err(reason), false) = (&located, ci) {
        eprintln!("smolvm_conformance: no smolvm here, its trial is ignored: {reason}");
    }
    let ignored = located.is_err() && !ci;
    let trial = Trial::test(
        "smolvm::smolfiles_are_accepted_by_the_real_smolvm",
        move || match located {
            Ok(program) => smolfiles_are_accepted_by_the_real_smolvm(program),
            // Under CI it is required; elsewhere it runs only when asked for (--run-ignored).
            Err(reason) if ci => Err(format!("smolvm is required here (CI=true): {reason}").into()),
            Err(reason) => Err(format!("smolvm is not here: {reason}").into()),
        },
    )
    .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit();
}
