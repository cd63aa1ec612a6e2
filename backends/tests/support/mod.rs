//! What the smolmachines test targets share: the snapshotted Smolfile cases, the check that a
//! rendered Smolfile says what was meant, throwaway directories and a fake `docker save`.
#![allow(dead_code)] // each test target uses part of it

use std::net::Ipv4Addr;
use std::path::PathBuf;

use bottle_backends::smolmachines::smolfile::{self as smolfile_spec, Mode, SmolfileSpec};

pub const ARCHIVE: &str = "/home/user/.cache/claude-bottle/smolmachines/0123456789abcdef.tar";

/// Every snapshotted Smolfile, by name.
pub fn cases() -> Vec<(&'static str, SmolfileSpec)> {
    let base = SmolfileSpec {
        mode: Mode::Linux,
        image: ARCHIVE.into(),
        entrypoint: vec!["/bottle-probe".into()],
        cmd: vec!["idle".into()],
        bundle_ip: Ipv4Addr::new(10, 213, 7, 2),
        pipelock_port: 3128,
        extra_env: vec![],
        allow_hosts: vec!["bundle".into()],
        allow_cidrs_instead: None,
    };
    vec![
        ("smolfile_linux", base.clone()),
        (
            "smolfile_desktop",
            SmolfileSpec {
                mode: Mode::Desktop,
                ..base.clone()
            },
        ),
        (
            "smolfile_awkward_values",
            SmolfileSpec {
                image: "/tmp/dir with spaces/\"quoted\" image.tar".into(),
                entrypoint: vec!["/opt/agent bin/run".into(), "--flag=a=b".into()],
                cmd: vec![
                    "say \"hi\"".into(),
                    "back\\slash".into(),
                    "tab\there".into(),
                ],
                extra_env: vec![
                    ("QUOTES".into(), "she said \"no\"".into()),
                    ("EQUALS".into(), "a=b=c".into()),
                    ("SPACES".into(), "  leading and trailing  ".into()),
                    ("UNICODE".into(), "ünïcødé ✓ 日本".into()),
                    ("EMPTY".into(), String::new()),
                ],
                ..base
            },
        ),
    ]
}

/// Checks a rendered Smolfile against what was meant, through the `smolfile` crate smolvm uses.
pub fn assert_parses_back(name: &str, spec: &SmolfileSpec, text: &str) {
    let parsed =
        smolfile::parse(text).unwrap_or_else(|e| panic!("{name}: smolfile crate refused it: {e}"));
    assert_eq!(parsed.image.as_deref(), Some(spec.image.as_str()), "{name}");
    assert_eq!(parsed.entrypoint, spec.entrypoint, "{name}");
    assert_eq!(parsed.cmd, spec.cmd, "{name}");
    let env: Vec<String> = spec.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(parsed.env, env, "{name}");
    assert_eq!(
        (parsed.cpus, parsed.memory),
        (
            Some(smolfile_spec::AGENT_CPUS),
            Some(smolfile_spec::AGENT_MEMORY_MIB)
        ),
        "{name}: the agent's size"
    );
    let network = parsed.network.expect("a [network] table");
    assert_eq!(network.allow_cidrs, spec.allow_cidrs(), "{name}");
    assert_eq!(
        network.allow_hosts, spec.allow_hosts,
        "{name}: the DNS filter"
    );
    assert!(network.deny_cidrs.is_empty(), "{name}: nothing else is set");
    assert_eq!(
        parsed.net_backend, None,
        "{name}: the backend is smolvm's choice"
    );
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cb-smol-{tag}-{}",
        bottle_backends::labels::new_run_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small but well-formed `docker save` archive.
pub fn fake_docker_save(file: &mut impl std::io::Write, payload: &[u8]) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        (
            "config.json",
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .as_slice(),
        ),
        ("layer/layer.tar", payload),
        (
            "manifest.json",
            br#"[{"Config":"config.json","RepoTags":["cb/fake:1"],"Layers":["layer/layer.tar"]}]"#
                .as_slice(),
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    file.write_all(&builder.into_inner().unwrap()).unwrap();
}
