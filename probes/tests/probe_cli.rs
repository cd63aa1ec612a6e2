//! `bottle-probe` as the harness runs it: argv in, CB1 protocol out. (Having an integration test
//! here also makes `cargo test`/`cargo nextest run` build the binary, which the escape suite
//! puts into the agent image.)

use std::net::TcpListener;
use std::process::Command;

use bottle_probes::wire::{AttemptKind, AttemptSpec, Outcome, ProbeOutput};

fn probe(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bottle-probe"))
        .args(args)
        .output()
        .expect("bottle-probe runs")
}

#[test]
fn runs_attempts_and_prints_the_protocol() {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let specs = [
        AttemptSpec {
            id: "t.open#0".into(),
            kind: AttemptKind::Tcp {
                addr: open.local_addr().unwrap(),
            },
            nonce: "abc123".into(),
            timeout_ms: 500,
            stage: bottle_probes::wire::Stage::Fixed,
        },
        AttemptSpec {
            id: "t.closed#0".into(),
            kind: AttemptKind::Tcp { addr: closed_addr },
            nonce: "def456".into(),
            timeout_ms: 500,
            stage: bottle_probes::wire::Stage::Fixed,
        },
    ];
    let mut args = vec!["run".to_string(), "--session".into(), "s1".into()];
    args.extend(specs.iter().map(AttemptSpec::encode));
    let output = probe(&args);
    assert_eq!(output.status.code(), Some(0));
    let parsed = ProbeOutput::parse(&output.stdout, "s1", &["t.open#0", "t.closed#0"]).unwrap();
    assert_eq!(
        parsed.observations["t.open#0"].outcome(),
        Outcome::Connected
    );
    assert_eq!(
        parsed.observations["t.closed#0"].outcome(),
        Outcome::Refused
    );
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(probe(&[]).status.code(), Some(2));
    assert_eq!(probe(&["run".into()]).status.code(), Some(2));
    let output = probe(&[
        "run".into(),
        "--session".into(),
        "s".into(),
        "id=x;kind=nope".into(),
    ]);
    assert_eq!(output.status.code(), Some(2));
}
