//! `bottle-probe` as the harness runs it: argv in, CB2 protocol out. (Having an integration test
//! here also makes `cargo test`/`cargo nextest run` build the binary, which the escape suite
//! puts into the agent image.)

// Drives the probe binary, which runs its attempts on Linux only.
#![cfg(target_os = "linux")]

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

/// One exec does both stages: the adaptive attempt gets the timeout the control's round trip
/// sets (here the floor, 100 ms, instead of its own 2000 ms), and starts after the control.
#[test]
fn adaptive_attempts_get_the_timeout_the_controls_set() {
    use bottle_probes::timing::Adaptive;
    use bottle_probes::wire::Stage;
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    // A peer that hangs up at once, so the control's round trip is short.
    let peer = open.try_clone().unwrap();
    std::thread::spawn(move || {
        for conn in peer.incoming() {
            drop(conn);
        }
    });
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let specs = [
        AttemptSpec {
            id: "c.open#0".into(),
            kind: AttemptKind::Tcp {
                addr: open.local_addr().unwrap(),
            },
            nonce: "ctl001".into(),
            timeout_ms: 2000,
            stage: Stage::Control,
        },
        AttemptSpec {
            id: "d.listen#0".into(),
            kind: AttemptKind::Listen {
                port,
                own: "127.0.0.1".parse().unwrap(),
            },
            nonce: "den001".into(),
            timeout_ms: 2000,
            stage: Stage::Adaptive,
        },
    ];
    let adaptive = Adaptive {
        factor: 20,
        floor_ms: 100,
        ceiling_ms: 2000,
    };
    let run = |with_adaptive: bool| {
        let mut args = vec!["run".to_string(), "--session".into(), "s2".into()];
        if with_adaptive {
            args.extend(["--adaptive".to_string(), adaptive.encode()]);
        }
        args.extend(specs.iter().map(AttemptSpec::encode));
        let output = probe(&args);
        assert_eq!(output.status.code(), Some(0));
        ProbeOutput::parse(&output.stdout, "s2", &["c.open#0", "d.listen#0"]).unwrap()
    };
    let parsed = run(true);
    let control = &parsed.observations["c.open#0"];
    assert_eq!(control.outcome(), Outcome::Connected);
    let expected = adaptive.timeout_ms(Some(control.elapsed_ms));
    let (open_ms, close_ms) = parsed.observations["d.listen#0"].window.expect("a window");
    let listened = close_ms - open_ms;
    assert!(
        listened >= u64::from(expected) && listened < 1000,
        "listened {listened} ms, expected about {expected}"
    );
    // Without --adaptive the attempt keeps its own timeout.
    let (open_ms, close_ms) = run(false).observations["d.listen#0"]
        .window
        .expect("a window");
    assert!(close_ms - open_ms >= 2000, "{}", close_ms - open_ms);
}

/// The port sweep starts only once every other attempt's thread runs: started first, its 64
/// workers starved the threads not yet scheduled, and those attempts began only when the sweep
/// was over (measured in the agent: the probe phase went from 0.6 s to 1.2 s). `--trace` says
/// how many were running when the sweeps started.
#[test]
fn the_sweep_starts_after_every_other_attempt_runs() {
    use bottle_probes::wire::Stage;
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let mut specs: Vec<AttemptSpec> = (0..8)
        .map(|i| AttemptSpec {
            id: format!("t.closed#{i}"),
            kind: AttemptKind::Tcp { addr: closed_addr },
            nonce: format!("cl{i:04}"),
            timeout_ms: 500,
            stage: if i % 2 == 0 {
                Stage::Fixed
            } else {
                Stage::Adaptive
            },
        })
        .collect();
    // The sweep comes first on the command line, as the harness's plan puts it.
    specs.insert(
        0,
        AttemptSpec {
            id: "t.sweep#0".into(),
            kind: AttemptKind::Sweep {
                ip: "127.0.0.1".parse().unwrap(),
                first: 1,
                last: 2000,
            },
            nonce: "sw0001".into(),
            timeout_ms: 5000,
            stage: Stage::Fixed,
        },
    );
    let mut args = vec![
        "run".to_string(),
        "--session".into(),
        "s3".into(),
        "--trace".into(),
    ];
    args.extend(specs.iter().map(AttemptSpec::encode));
    let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    // The hold is bounded (250 ms), so on a machine too loaded to schedule eight threads in
    // that time the sweep starts anyway; one run of three must show them all running.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let output = probe(&args);
        assert_eq!(output.status.code(), Some(0));
        let parsed = ProbeOutput::parse(&output.stdout, "s3", &ids).unwrap();
        assert_eq!(parsed.observations["t.sweep#0"].outcome(), Outcome::Swept);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let start = stderr
            .lines()
            .find(|line| line.contains("sweeps start"))
            .unwrap_or_else(|| panic!("no sweep start in the trace: {stderr}"))
            .to_string();
        if start.ends_with("sweeps start, 8 of 8 other attempts running") {
            return;
        }
        seen.push(start);
    }
    panic!("the sweep never waited for the other attempts: {seen:?}");
}
