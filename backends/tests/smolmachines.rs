//! The smolmachines backend without a booting guest: the rendered Smolfile (snapshots, and
//! conformance with the `smolfile` crate; the real smolvm's is `smolvm_conformance.rs`), cache keys and paths, the image
//! cache's hit / miss / recovery, and the exact smolvm command plan recorded through a stand-in.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bottle_backends::smolmachines::cache::{self, CacheOutcome};
use bottle_backends::smolmachines::cli::{CommandOutput, RecordingRunner, Smolvm};
use bottle_backends::smolmachines::lifecycle::{launch_machine, machine_name, teardown_machine};
use bottle_backends::smolmachines::smolfile::render;
use bottle_backends::BackendError;

mod support;
use support::{assert_parses_back, cases, fake_docker_save, temp_dir};

#[test]
fn smolfiles_render_as_snapshotted() {
    for (name, spec) in cases() {
        insta::assert_snapshot!(name, render(&spec));
    }
}

#[test]
fn smolfiles_parse_back_with_the_smolfile_crate() {
    for (name, spec) in cases() {
        assert_parses_back(name, &spec, &render(&spec));
    }
}

#[test]
fn cache_keys_and_paths() {
    let id = "sha256:9C0B3FA3D8CC5c1f0e2d4b6a8f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5c7b9a1f3e";
    let key = cache::cache_key(id).unwrap();
    let xdg = cache::cache_dir_from(Some("/xdg/cache".into()), Some("/home/user".into()));
    let home = cache::cache_dir_from(None, Some("/home/user".into()));
    let empty_xdg = cache::cache_dir_from(Some("".into()), Some("/home/user".into()));
    let report = format!(
        "key: {key}\nxdg: {}\nhome: {}\nempty XDG_CACHE_HOME: {}\nunprefixed id: {}\n",
        cache::artifact_path(&xdg, &key).display(),
        cache::artifact_path(&home, &key).display(),
        cache::artifact_path(&empty_xdg, &key).display(),
        cache::cache_key(&id["sha256:".len()..]).unwrap(),
    );
    insta::assert_snapshot!("cache_keys_and_paths", report);
    for bad in [
        "",
        "sha256:abc",
        "sha256:zz0b3fa3d8cc5c1f0e2d4b6a8f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5c7b9a1f3e",
        "claude-bottle/agent:1",
    ] {
        assert!(cache::cache_key(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn the_cache_hits_misses_after_a_change_and_recovers_from_corruption() {
    let dir = temp_dir("cache");
    let saves = std::cell::Cell::new(0);
    let save = |payload: &'static [u8]| {
        let saves = &saves;
        move |file: &mut std::fs::File| {
            saves.set(saves.get() + 1);
            fake_docker_save(file, payload);
            Ok::<(), BackendError>(())
        }
    };
    let key_a = cache::cache_key(&format!("sha256:{}", "a".repeat(64))).unwrap();
    let key_b = cache::cache_key(&format!("sha256:{}", "b".repeat(64))).unwrap();
    let (path, outcome) = cache::ensure(&dir, &key_a, save(b"one")).unwrap();
    assert_eq!(outcome, CacheOutcome::Built);
    let (_, outcome) = cache::ensure(&dir, &key_a, save(b"one")).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(saves.get(), 1, "a hit saves nothing");
    // A changed image has a new ID, hence a new key: a miss.
    let (path_b, outcome) = cache::ensure(&dir, &key_b, save(b"two")).unwrap();
    assert_eq!(outcome, CacheOutcome::Built);
    assert_ne!(path, path_b);
    // Truncated: detected and rebuilt.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (_, outcome) = cache::ensure(&dir, &key_a, save(b"one")).unwrap();
    assert!(
        matches!(outcome, CacheOutcome::Rebuilt { ref reason } if reason.contains("truncated")),
        "{outcome:?}"
    );
    // Same size, flipped byte: detected and rebuilt.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (_, outcome) = cache::ensure(&dir, &key_a, save(b"one")).unwrap();
    assert!(
        matches!(outcome, CacheOutcome::Rebuilt { ref reason } if reason.contains("corrupt")),
        "{outcome:?}"
    );
    // An interrupted save (no sidecar) is not trusted either.
    std::fs::remove_file(format!("{}.sha256", path.display())).unwrap();
    let (_, outcome) = cache::ensure(&dir, &key_a, save(b"one")).unwrap();
    assert!(
        matches!(outcome, CacheOutcome::Rebuilt { .. }),
        "{outcome:?}"
    );
    assert_eq!(cache::verify(&path), Ok(()));
    // A failing save leaves nothing under the real name.
    let key_c = cache::cache_key(&format!("sha256:{}", "c".repeat(64))).unwrap();
    let failed = cache::ensure(&dir, &key_c, |_| {
        Err(BackendError::Cache {
            path: "x".into(),
            reason: "boom".into(),
        })
    });
    assert!(failed.is_err());
    assert!(!cache::artifact_path(&dir, &key_c).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_smolvm_command_plan() {
    let runner = RecordingRunner::new();
    runner.answer(
        "--version",
        CommandOutput {
            status: Some(0),
            stdout: b"smolvm 1.32.2\n".to_vec(),
            ..CommandOutput::default()
        },
    );
    let run_id = "cb0123456789";
    let state = PathBuf::from("/cache/claude-bottle/smolmachines/state").join(run_id);
    let smolvm = Smolvm::new(
        PathBuf::from("/usr/bin/smolvm"),
        Some(state.clone()),
        Arc::new(runner.clone()),
    );
    let mut plan = String::new();
    let mut phase = |title: &str, runner: &RecordingRunner, from: usize| -> usize {
        let calls = runner.recorded();
        plan.push_str(&format!("# {title}\n"));
        for call in &calls[from..] {
            plan.push_str(&call.join(" "));
            plan.push('\n');
        }
        calls.len()
    };
    assert_eq!(smolvm.version().unwrap(), "smolvm 1.32.2");
    let mark = phase(
        "prepare (the image is saved by Docker into the cache; smolvm is only asked its version)",
        &runner,
        0,
    );
    let name = launch_machine(
        &smolvm,
        run_id,
        &state.join("Smolfile"),
        Ipv4Addr::new(10, 213, 9, 53),
    )
    .unwrap();
    assert_eq!(name, machine_name(run_id));
    let mark = phase("launch", &runner, mark);
    smolvm
        .exec(
            &name,
            &[
                "/bottle-probe".into(),
                "run".into(),
                "--session".into(),
                "s".into(),
                "id=x#0;kind=tcp;addr=10.0.0.2:80;nonce=n;timeout_ms=1500".into(),
            ],
            Duration::from_secs(12),
            1024,
        )
        .unwrap();
    let mark = phase("exec", &runner, mark);
    assert!(teardown_machine(&smolvm, run_id).unwrap());
    phase("teardown", &runner, mark);
    insta::assert_snapshot!("smolvm_command_plan", plan);
}

#[test]
fn typed_errors_from_the_stand_in() {
    let runner = RecordingRunner::new();
    runner.answer(
        "delete",
        CommandOutput {
            status: Some(1),
            stderr: br#"{"error":{"code":"NOT_FOUND","message":"machine not found"}}"#.to_vec(),
            ..CommandOutput::default()
        },
    );
    let smolvm = Smolvm::new(
        PathBuf::from("smolvm"),
        Some(temp_dir("typed")),
        Arc::new(runner),
    );
    // Deleting a machine that is already gone is a clean teardown, not an error.
    assert!(!teardown_machine(&smolvm, "cbgone").unwrap());
    assert!(
        !Path::new(&smolvm.state_dir.clone().unwrap()).exists(),
        "the state dir is removed"
    );
}

/// The availability check against a stand-in smolvm: the boot smoke test runs once per smolvm
/// version and kernel, its failure is the reason, and the cached answer is reused.
#[test]
// Long: one scenario in steps (cached failure, new kernel, kvm_pvm), each on the cache the last left.
fn availability_smoke_test_is_run_once_and_cached() {
    use bottle_backends::smolmachines::availability::{check_in, Environment};
    use bottle_backends::smolmachines::uid_drop::UidDrop;
    use bottle_backends::Availability;
    let dir = temp_dir("avail");
    let kvm = dir.join("kvm");
    std::fs::write(&kvm, "").unwrap();
    std::fs::create_dir_all(dir.join("module/kvm_intel")).unwrap();
    let runner = smolvm_9_9_9();
    fail_start(&runner, "no boot progress for 30 seconds");
    let env = Environment {
        sys_module: &dir.join("module"),
        dev_kvm: &kvm,
        cache_dir: &dir.join("cache"),
        kernel: "6.1.0-test".into(),
        uid_drop: UidDrop::Leave,
    };
    let starts = |r: &RecordingRunner| {
        r.recorded()
            .iter()
            .filter(|c| c.iter().any(|a| a == "start"))
            .count()
    };
    let (first, version) = check_in(Path::new("/usr/bin/smolvm"), Arc::new(runner.clone()), &env);
    assert_eq!(version.as_deref(), Some("smolvm 9.9.9"));
    match &first {
        Availability::Unavailable { reason } => {
            assert!(reason.contains("no boot progress"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(starts(&runner), 1);
    // The smoke test ran in a throwaway state dir and cleaned up after itself.
    let calls = runner.recorded();
    assert!(calls.iter().any(|c| c.iter().any(|a| a == "delete")));
    let (second, _) = check_in(Path::new("/usr/bin/smolvm"), Arc::new(runner.clone()), &env);
    assert_eq!(second, first, "the cached answer is reused");
    assert_eq!(starts(&runner), 1, "no second boot attempt");
    // Another kernel means another smoke test; a booting guest makes the backend available.
    let booting = smolvm_9_9_9();
    let env2 = Environment {
        kernel: "6.2.0-test".into(),
        ..env
    };
    let (third, _) = check_in(
        Path::new("/usr/bin/smolvm"),
        Arc::new(booting.clone()),
        &env2,
    );
    assert_eq!(
        third,
        Availability::Available {
            version: "smolvm 9.9.9".into()
        }
    );
    assert_eq!(starts(&booting), 1);
    // kvm_pvm is refused before any boot attempt.
    std::fs::create_dir_all(dir.join("module/kvm_pvm")).unwrap();
    let pvm = smolvm_9_9_9();
    let env3 = Environment {
        kernel: "6.3.0-test".into(),
        ..env2
    };
    let (fourth, _) = check_in(Path::new("/usr/bin/smolvm"), Arc::new(pvm.clone()), &env3);
    assert!(
        matches!(fourth, Availability::Unavailable { ref reason } if reason.contains("kvm_pvm"))
    );
    assert_eq!(starts(&pvm), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run as root where the VM's unprivileged uid cannot start a guest, the smoke test (like every
/// smolvm call of the run) runs with the uid drop off; its result is cached apart from a test
/// with the drop, and smolvm's cryptic `KvmOpen` is explained.
#[test]
fn the_uid_drop_decision_reaches_smolvm_and_its_failure_is_explained() {
    use bottle_backends::smolmachines::availability::{check_in, Environment};
    use bottle_backends::smolmachines::uid_drop::UidDrop;
    use bottle_backends::Availability;
    let dir = temp_dir("uid-drop");
    let kvm = dir.join("kvm");
    std::fs::write(&kvm, "").unwrap();
    std::fs::create_dir_all(dir.join("module/kvm_amd")).unwrap();
    let runner = smolvm_9_9_9();
    fail_start(&runner, "KvmOpen(Error(13))");
    let with_drop = Environment {
        sys_module: &dir.join("module"),
        dev_kvm: &kvm,
        cache_dir: &dir.join("cache"),
        kernel: "6.1.0-test".into(),
        uid_drop: UidDrop::Leave,
    };
    let (first, _) = check_in(
        Path::new("/usr/bin/smolvm"),
        Arc::new(runner.clone()),
        &with_drop,
    );
    match &first {
        Availability::Unavailable { reason } => {
            assert!(reason.contains("KvmOpen"), "{reason}");
            assert!(reason.contains("could not open /dev/kvm"), "{reason}");
            assert!(reason.contains("SMOLVM_VM_UID_DROP"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let started_with = |env: &str| {
        runner
            .recorded()
            .iter()
            .filter(|c| c.iter().any(|a| a == "start"))
            .filter(|c| c.first().map(String::as_str) == Some(env))
            .count()
    };
    assert_eq!(
        started_with("smolvm"),
        1,
        "no environment added: {:?}",
        runner.recorded()
    );
    let without_drop = Environment {
        uid_drop: UidDrop::TurnOff("the test's reason".into()),
        ..with_drop
    };
    check_in(
        Path::new("/usr/bin/smolvm"),
        Arc::new(runner.clone()),
        &without_drop,
    );
    assert_eq!(
        started_with("SMOLVM_VM_UID_DROP=off"),
        1,
        "a new smoke test, with the drop off: {:?}",
        runner.recorded()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stand-in smolvm that says it is version 9.9.9 and does everything else (so far).
fn smolvm_9_9_9() -> RecordingRunner {
    let runner = RecordingRunner::new();
    runner.answer(
        "--version",
        CommandOutput {
            status: Some(0),
            stdout: b"smolvm 9.9.9\n".to_vec(),
            ..CommandOutput::default()
        },
    );
    runner
}

/// Makes `runner`'s `machine start` fail with smolvm's JSON error carrying `message`.
fn fail_start(runner: &RecordingRunner, message: &str) {
    runner.answer(
        "start",
        CommandOutput {
            status: Some(1),
            stderr: format!(r#"{{"error":{{"code":"SMOLVM_ERROR","message":"{message}"}}}}"#)
                .into_bytes(),
            ..CommandOutput::default()
        },
    );
}

/// A stand-in smolvm whose first `machine start` ends with `message` and whose `machine ls`
/// shows the machine in `state`; the command plan's `start` calls after `launch_machine`.
fn starts_after_a_failed_boot(message: &str, state: &str) -> (Result<String, String>, usize) {
    let runner = RecordingRunner::new();
    runner.answer_once(
        "start",
        CommandOutput {
            status: Some(1),
            stderr: format!(r#"{{"error":{{"code":"SMOLVM_ERROR","message":"{message}"}}}}"#)
                .into_bytes(),
            ..CommandOutput::default()
        },
    );
    runner.answer(
        "ls",
        CommandOutput {
            status: Some(0),
            stdout: format!(r#"[{{"name":"cb-cbretry-agent","state":"{state}"}}]"#).into_bytes(),
            ..CommandOutput::default()
        },
    );
    let smolvm = Smolvm::new(
        PathBuf::from("/usr/bin/smolvm"),
        Some(PathBuf::from("/cache/state/cbretry")),
        Arc::new(runner.clone()),
    );
    let launched = launch_machine(
        &smolvm,
        "cbretry",
        Path::new("/cache/state/cbretry/Smolfile"),
        Ipv4Addr::new(10, 213, 9, 53),
    )
    .map_err(|e| e.to_string());
    let starts = runner
        .recorded()
        .iter()
        .filter(|argv| argv.iter().any(|a| a == "start"))
        .count();
    (launched, starts)
}

/// A start is tried again only where smolvm's own state shows it never happened: the boot
/// process exited before the agent was ready and the machine is not running. Any other
/// failure, or a machine smolvm shows running, stands.
#[test]
fn only_a_start_that_never_happened_is_tried_again() {
    let boot = "agent operation failed: start machine: boot process exited (code 0) before the agent was ready";
    let (launched, starts) = starts_after_a_failed_boot(boot, "stopped");
    assert_eq!((launched.as_deref(), starts), (Ok("cb-cbretry-agent"), 2));

    let (launched, starts) = starts_after_a_failed_boot(boot, "running");
    assert!(launched.is_err());
    assert_eq!(starts, 1);

    let (launched, starts) = starts_after_a_failed_boot("no space left on device", "stopped");
    assert!(launched.unwrap_err().contains("no space left"));
    assert_eq!(starts, 1);
}
