//! Driving the smolvm CLI. Every invocation goes through a [`CommandRunner`], so the exact
//! command plan (argv sequence) can be recorded by a stand-in and snapshot-tested, and the real
//! runner is the only place that spawns processes.
//!
//! Failures are read as `--error-format json` (`{"error":{"code":"...","message":"..."}}` on
//! stderr) and become [`BackendError::Smolvm`] with smolvm's stable code.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::errors::BackendError;

/// The environment variable naming the smolvm binary.
pub(crate) const SMOLVM_ENV: &str = "SMOLVM";

/// What one invocation produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when the process was killed at the timeout.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

/// Runs a program. Implementations: [`ProcessRunner`] (real) and [`RecordingRunner`] (tests).
pub trait CommandRunner: Send + Sync {
    /// Runs `program` with `args`, and `env` added to this process's environment.
    fn run(
        &self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        timeout: Duration,
        max_output: usize,
    ) -> CommandOutput;
}

/// Spawns the process, reads its output on threads (bounded), kills it at the timeout.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessRunner;

fn read_bounded(mut reader: impl Read, max: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut truncated = false;
    loop {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = max.saturating_sub(out.len());
                if n > room {
                    truncated = true;
                }
                out.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    (out, truncated)
}

impl CommandRunner for ProcessRunner {
    fn run(
        &self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        timeout: Duration,
        max_output: usize,
    ) -> CommandOutput {
        let spawned = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                return CommandOutput {
                    status: Some(127),
                    stderr: format!("cannot run {}: {error}", program.display()).into_bytes(),
                    ..CommandOutput::default()
                }
            }
        };
        let stdout = child
            .stdout
            .take()
            .map(|s| std::thread::spawn(move || read_bounded(s, max_output)));
        let stderr = child
            .stderr
            .take()
            .map(|s| std::thread::spawn(move || read_bounded(s, 64 * 1024)));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if started.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break None,
            }
        };
        let (stdout, truncated) = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
        let (stderr, _) = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        CommandOutput {
            status,
            stdout,
            stderr,
            truncated,
        }
    }
}

/// A stand-in for the CLI: records every argv and answers from a script of canned outputs
/// (matched by the first argument after the global options that starts with a verb).
#[derive(Clone, Default)]
pub struct RecordingRunner {
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    answers: Arc<Mutex<Vec<(String, CommandOutput, bool)>>>,
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers calls whose argv contains `word` with `output` (first match wins).
    pub fn answer(&self, word: &str, output: CommandOutput) {
        self.answers
            .lock()
            .expect("answers")
            .push((word.to_string(), output, false));
    }

    /// Answers the next call whose argv contains `word` with `output`, once.
    pub fn answer_once(&self, word: &str, output: CommandOutput) {
        self.answers
            .lock()
            .expect("answers")
            .push((word.to_string(), output, true));
    }

    pub fn recorded(&self) -> Vec<Vec<String>> {
        self.calls.lock().expect("calls").clone()
    }
}

impl CommandRunner for RecordingRunner {
    /// Records `KEY=VALUE` for each of `env` (none usually), the program's name and `args`.
    fn run(
        &self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        _timeout: Duration,
        _max_output: usize,
    ) -> CommandOutput {
        let mut argv: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        argv.push(
            program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        argv.extend(args.iter().cloned());
        self.calls.lock().expect("calls").push(argv);
        let mut answers = self.answers.lock().expect("answers");
        let found = answers
            .iter()
            .position(|(word, _, _)| args.iter().any(|a| a == word));
        match found {
            Some(at) if answers[at].2 => answers.remove(at).1,
            Some(at) => answers[at].1.clone(),
            None => CommandOutput {
                status: Some(0),
                ..CommandOutput::default()
            },
        }
    }
}

/// Finds smolvm: `$SMOLVM`, then `smolvm` on `PATH`.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(SMOLVM_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{SMOLVM_ENV}={} is not a file", path.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("smolvm"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!("smolvm not found (set {SMOLVM_ENV} or put smolvm on PATH; on Linux: pip install smolmachines)")
        })
}

/// The smolvm CLI bound to one state directory.
#[derive(Clone)]
pub struct Smolvm {
    pub program: PathBuf,
    /// `--state-dir` (Linux): a run never touches the user's own machines.
    pub state_dir: Option<PathBuf>,
    runner: Arc<dyn CommandRunner>,
    /// Added to smolvm's environment (`uid_drop`).
    env: Vec<(String, String)>,
}

/// How long a non-booting smolvm command may take.
const QUICK: Duration = Duration::from_secs(30);
/// How long `machine start` may take. smolvm stops a guest that makes no boot progress for
/// 30 s itself; what takes long is the first start in a state dir, which unpacks smolvm's disk
/// template first: 220-430 s under software emulation in the KVM lab (docs/kvm-lab.md), where
/// 60 s made every smoke test fail as "unavailable".
const START: Duration = Duration::from_secs(900);

impl Smolvm {
    pub fn new(
        program: PathBuf,
        state_dir: Option<PathBuf>,
        runner: Arc<dyn CommandRunner>,
    ) -> Self {
        Self {
            program,
            state_dir,
            runner,
            env: vec![],
        }
    }

    /// The same CLI, run with `env` added to its environment.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    fn machine_args(&self, verb: &str) -> Vec<String> {
        let mut args = vec!["machine".to_string(), verb.to_string()];
        if let Some(dir) = &self.state_dir {
            args.push("--state-dir".into());
            args.push(dir.display().to_string());
        }
        args.push("--error-format".into());
        args.push("json".into());
        args
    }

    fn call(
        &self,
        step: &str,
        args: Vec<String>,
        timeout: Duration,
        max_output: usize,
    ) -> Result<CommandOutput, BackendError> {
        let output = self
            .runner
            .run(&self.program, &args, &self.env, timeout, max_output);
        match output.status {
            Some(0) => Ok(output),
            None => Err(BackendError::Timeout {
                step: format!("smolvm {step}"),
                seconds: timeout.as_secs_f64(),
            }),
            Some(_) => Err(parse_error(step, &output.stderr)),
        }
    }

    /// `smolvm --version`, e.g. `smolvm 1.32.2`.
    pub fn version(&self) -> Result<String, BackendError> {
        let output = self.call(
            "reporting its version",
            vec!["--version".into()],
            QUICK,
            4096,
        )?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .map(str::trim)
            .find(|line| line.starts_with("smolvm "))
            .map(str::to_string)
            .ok_or_else(|| BackendError::Smolvm {
                step: "reporting its version".into(),
                code: "UNEXPECTED_OUTPUT".into(),
                message: text.chars().take(200).collect(),
            })
    }

    /// `machine create --name N [--label K=V]... [--dns IP] -s SMOLFILE` (validates without
    /// booting). `--dns` is the upstream smolvm forwards the guest's DNS to (the Smolfile has no
    /// key for it; without it smolvm forwards to this machine's own resolver).
    pub fn create(
        &self,
        name: &str,
        smolfile: &Path,
        labels: &[(String, String)],
        dns: Option<Ipv4Addr>,
    ) -> Result<(), BackendError> {
        let mut args = self.machine_args("create");
        args.extend(["--name".to_string(), name.to_string()]);
        for (key, value) in labels {
            args.extend(["--label".to_string(), format!("{key}={value}")]);
        }
        if let Some(dns) = dns {
            args.extend(["--dns".to_string(), dns.to_string()]);
        }
        args.extend(["-s".to_string(), smolfile.display().to_string()]);
        self.call(&format!("creating machine {name}"), args, QUICK, 64 * 1024)
            .map(|_| ())
    }

    /// `machine create --name N` with no image: a bare machine for the boot smoke test.
    pub(crate) fn create_bare(&self, name: &str) -> Result<(), BackendError> {
        let mut args = self.machine_args("create");
        args.extend(["--name".to_string(), name.to_string()]);
        self.call(&format!("creating machine {name}"), args, QUICK, 64 * 1024)
            .map(|_| ())
    }

    pub(crate) fn start(&self, name: &str) -> Result<(), BackendError> {
        let mut args = self.machine_args("start");
        args.extend(["--name".to_string(), name.to_string()]);
        self.call(&format!("starting machine {name}"), args, START, 64 * 1024)
            .map(|_| ())
    }

    /// `machine exec --name N --timeout Ts -- ARGV...`; a failing command is not an error here
    /// (its status and output are the caller's evidence).
    pub fn exec(
        &self,
        name: &str,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<CommandOutput, BackendError> {
        let mut args = self.machine_args("exec");
        args.extend([
            "--name".to_string(),
            name.to_string(),
            "--timeout".to_string(),
            format!("{}s", timeout.as_secs().max(1)),
            "--".to_string(),
        ]);
        args.extend(argv.iter().cloned());
        let output = self.runner.run(
            &self.program,
            &args,
            &self.env,
            timeout + Duration::from_secs(5),
            max_output,
        );
        if output.status.is_none() {
            return Err(BackendError::Timeout {
                step: format!("the probe exec in machine {name}"),
                seconds: timeout.as_secs_f64(),
            });
        }
        Ok(output)
    }

    pub(crate) fn stop(&self, name: &str) -> Result<(), BackendError> {
        let mut args = self.machine_args("stop");
        args.extend(["--name".to_string(), name.to_string()]);
        self.call(&format!("stopping machine {name}"), args, QUICK, 64 * 1024)
            .map(|_| ())
    }

    pub fn delete(&self, name: &str) -> Result<(), BackendError> {
        let mut args = self.machine_args("delete");
        args.extend([
            "--name".to_string(),
            name.to_string(),
            "--force".to_string(),
        ]);
        self.call(&format!("deleting machine {name}"), args, QUICK, 64 * 1024)
            .map(|_| ())
    }

    /// `machine ls --json`: the parsed records.
    pub fn list(&self) -> Result<serde_json::Value, BackendError> {
        let mut args = self.machine_args("ls");
        args.push("--json".into());
        let output = self.call("listing machines", args, QUICK, 4 * 1024 * 1024)?;
        serde_json::from_slice(&output.stdout).map_err(|e| BackendError::Smolvm {
            step: "listing machines".into(),
            code: "UNEXPECTED_OUTPUT".into(),
            message: e.to_string(),
        })
    }
}

/// Reads smolvm's `--error-format json` line; anything else becomes `UNSTRUCTURED`.
pub(crate) fn parse_error(step: &str, stderr: &[u8]) -> BackendError {
    let text = String::from_utf8_lossy(stderr);
    for line in text.lines().rev() {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) {
            if let (Some(code), Some(message)) = (
                value["error"]["code"].as_str(),
                value["error"]["message"].as_str(),
            ) {
                return BackendError::Smolvm {
                    step: step.to_string(),
                    code: code.to_string(),
                    message: message.chars().take(600).collect(),
                };
            }
        }
    }
    BackendError::Smolvm {
        step: step.to_string(),
        code: "UNSTRUCTURED".into(),
        message: text.trim().chars().take(600).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_become_typed_errors() {
        let stderr = b"note: something\n{\"error\":{\"code\":\"CONFIG_ERROR\",\"message\":\"unknown field `x`\"}}\n";
        match parse_error("creating", stderr) {
            BackendError::Smolvm { code, message, .. } => {
                assert_eq!(code, "CONFIG_ERROR");
                assert!(message.contains("unknown field"));
            }
            other => panic!("{other:?}"),
        }
        match parse_error("creating", b"segfault") {
            BackendError::Smolvm { code, .. } => assert_eq!(code, "UNSTRUCTURED"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_process_runner_times_out_and_caps_output() {
        let out = ProcessRunner.run(
            Path::new("/bin/sh"),
            &["-c".into(), "yes | head -c 100000".into()],
            &[],
            Duration::from_secs(10),
            1000,
        );
        assert_eq!(out.status, Some(0));
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.truncated);
        let started = Instant::now();
        let out = ProcessRunner.run(
            Path::new("/bin/sh"),
            &["-c".into(), "exec sleep 5".into()],
            &[],
            Duration::from_millis(200),
            10,
        );
        assert_eq!(out.status, None);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
