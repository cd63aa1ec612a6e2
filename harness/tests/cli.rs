//! `bottle-escape` as a user meets it: the catalogue listing (snapshot), bad input and a missing
//! engine, each with its documented exit code.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bottle_escape(args: &[&str], envs: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_bottle-escape"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("CLAUDE_BOTTLE_BACKEND")
        .output()
        .expect("bottle-escape runs");
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn list_prints_the_catalogue() {
    let (output, _) = bottle_escape(&["list"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(
        "bottle_escape_list",
        String::from_utf8(output.stdout).unwrap()
    );
}

#[test]
fn list_json_has_every_probe() {
    let (output, _) = bottle_escape(&["list", "--format", "json"], &[]);
    let probes: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        probes.as_array().unwrap().len(),
        bottle_probes::CATALOGUE.len()
    );
}

#[test]
fn an_unknown_config_key_is_named_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("cb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bottle.toml");
    std::fs::write(
        &config,
        "[agent]\nimage = \"x\"\n\n[pipelock]\nallow = [\"a\"]\n",
    )
    .unwrap();
    let (output, _) = bottle_escape(&["run", "--config", config.to_str().unwrap()], &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("pipelock"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unknown field"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn no_docker_engine_exits_3_quickly_with_the_reason() {
    let (output, elapsed) = bottle_escape(
        &["run", "--backend", "docker"],
        &[(
            "DOCKER_HOST",
            "unix:///nonexistent/claude-bottle/docker.sock",
        )],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let text = stderr(&output);
    assert!(
        text.contains("docker") && text.contains("/nonexistent/claude-bottle/docker.sock"),
        "{text}"
    );
}

#[test]
fn an_unknown_backend_or_probe_exits_2() {
    let (output, _) = bottle_escape(&["run", "--backend", "podman"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("podman"));
    let (output, _) = bottle_escape(&["run", "--probe", "no.such_probe"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("no.such_probe"));
}

/// A smolvm mode that names none is bad input (exit 2, naming the variable and the modes),
/// before anything is brought up; it is read only when smolmachines is chosen.
#[test]
fn an_unknown_smolvm_mode_exits_2_naming_it() {
    let mode = [("CLAUDE_BOTTLE_SMOLVM_MODE", "windows")];
    let (output, _) = bottle_escape(&["run", "--backend", "smolmachines"], &mode);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("CLAUDE_BOTTLE_SMOLVM_MODE"), "{text}");
    assert!(
        text.contains("windows") && text.contains("desktop"),
        "{text}"
    );
    // Not read for docker: no engine is needed to see it ignored, only that the error is not it.
    let (output, _) = bottle_escape(&["run", "--backend", "docker", "--probe", "no.such"], &mode);
    assert!(
        !stderr(&output).contains("SMOLVM_MODE"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_sabotage_exits_2_naming_the_known_ones() {
    let (output, _) = bottle_escape(&["run", "--sabotage", "no-host-block,nope"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("\"nope\""), "{text}");
    for named in bottle_harness::sabotage::TABLE {
        assert!(text.contains(named.name), "{text}");
    }
}

#[test]
fn a_builtin_bundle_sabotage_with_a_user_bundle_exits_2_naming_it_and_why() {
    let dir = std::env::temp_dir().join(format!("cb-cli-sabotage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bottle.toml");
    std::fs::write(&config, "[bundle]\nimage = \"me/squid:1\"\n").unwrap();
    let config = config.to_str().unwrap();
    let (output, elapsed) = bottle_escape(
        &[
            "run",
            "--config",
            config,
            "--sabotage",
            "no-host-block,pipelock-allow-all",
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("\"pipelock-allow-all\" acts through the built-in bundle")
            && text.contains("me/squid:1")
            && text.contains("allowlist"),
        "{text}"
    );
    // Refused before anything is brought up.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn down_without_an_id_or_all_is_a_usage_error() {
    let (output, _) = bottle_escape(&["down"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn smolmachines_is_unavailable_here_with_the_reason() {
    let no_boot = std::path::Path::new("/sys/module/kvm_pvm").exists()
        || !std::path::Path::new("/dev/kvm").exists();
    let (output, elapsed) = bottle_escape(&["run", "--backend", "smolmachines"], &[]);
    let text = stderr(&output);
    if no_boot {
        assert_eq!(output.status.code(), Some(3), "{text}");
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        assert!(text.contains("smolmachines is unavailable"), "{text}");
        assert!(
            text.contains("kvm") || text.contains("smolvm not found"),
            "{text}"
        );
    } else {
        // Where guests boot, the run is real; it must still end with a documented code.
        assert!(matches!(output.status.code(), Some(0..=3)), "{text}");
    }
}

#[test]
fn smolfile_and_cache_key_commands() {
    let (output, _) = bottle_escape(
        &[
            "smolfile",
            "--bundle-ip",
            "10.9.8.2",
            "--mode",
            "desktop",
            "--image",
            "/x/agent.tar",
        ],
        &[],
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text.contains("allow_cidrs = [\"100.96.0.1/32\", \"127.0.0.1/32\"]"),
        "{text}"
    );
    assert!(text.contains("image = \"/x/agent.tar\""), "{text}");
    let id = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let (output, _) = bottle_escape(&["cache-key", &id], &[("XDG_CACHE_HOME", "/xdg")]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "key: 0123456789abcdef\nartifact: /xdg/claude-bottle/smolmachines/0123456789abcdef.tar\n"
    );
    let (output, _) = bottle_escape(&["cache-key", "not-an-id"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let (output, _) = bottle_escape(&["smolfile", "--bundle-ip", "nope"], &[]);
    assert_eq!(output.status.code(), Some(2));
}
