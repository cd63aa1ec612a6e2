//! Running the probe inside the agent. The exec stream has no timeout of its own (the client's
//! covers headers only), so the whole exchange runs under one; output past the cap is dropped and
//! flagged, because everything the agent prints is hostile input.

use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::{Stream, StreamExt};

use crate::backend::ExecOutput;
use crate::errors::BackendError;

pub(crate) async fn exec(
    docker: &Docker,
    container: &str,
    argv: &[String],
    timeout: Duration,
    max_output: usize,
) -> Result<ExecOutput, BackendError> {
    exec_with(docker, container, argv, timeout, max_output).await
}

/// An exec that must exit 0 (the sabotages' setup steps). Not `--privileged`: engines inside
/// restricted environments refuse to apply the full capability set; the containers that need
/// a capability get it at create instead.
pub(crate) async fn exec_checked(
    docker: &Docker,
    container: &str,
    argv: &[String],
    timeout: Duration,
) -> Result<(), BackendError> {
    let output = exec_with(docker, container, argv, timeout, 16 * 1024).await?;
    if output.exit_code == Some(0) {
        return Ok(());
    }
    Err(BackendError::FixtureStart {
        name: container.to_string(),
        reason: format!(
            "{} exited {:?}: {}",
            argv.join(" "),
            output.exit_code,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

async fn exec_with(
    docker: &Docker,
    container: &str,
    argv: &[String],
    timeout: Duration,
    max_output: usize,
) -> Result<ExecOutput, BackendError> {
    let started = Instant::now();
    let run = async {
        let created = docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    attach_stdin: Some(false),
                    tty: Some(false),
                    cmd: Some(argv.to_vec()),
                    env: Some(vec![]),
                    ..Default::default()
                },
            )
            .await
            .map_err(BackendError::engine(format!(
                "creating an exec in {container}"
            )))?;
        crate::trace::step("exec: created");
        let mut output = ExecOutput::default();
        match docker
            .start_exec(&created.id, None)
            .await
            .map_err(BackendError::engine(format!(
                "starting the exec in {container}"
            )))? {
            StartExecResults::Attached {
                output: mut stream, ..
            } => {
                crate::trace::step("exec: started");
                read_attached(&mut stream, container, max_output, &mut output).await?;
            }
            StartExecResults::Detached => {}
        }
        crate::trace::step("exec: output ended");
        let inspected = docker
            .inspect_exec(&created.id)
            .await
            .map_err(BackendError::engine(format!(
                "reading the exec's exit code in {container}"
            )))?;
        output.exit_code = inspected.exit_code;
        Ok::<_, BackendError>(output)
    };
    let mut output =
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| BackendError::Timeout {
                step: format!("the probe exec in {container}"),
                seconds: timeout.as_secs_f64(),
            })??;
    output.elapsed = started.elapsed();
    Ok(output)
}

/// Appends an attached exec's stdout and stderr to `output`, each capped at `max_output`
/// (what does not fit is dropped and `truncated` set).
async fn read_attached(
    stream: &mut (impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin),
    container: &str,
    max_output: usize,
    output: &mut ExecOutput,
) -> Result<(), BackendError> {
    let mut first = true;
    while let Some(chunk) = stream.next().await {
        if std::mem::take(&mut first) {
            crate::trace::step("exec: first output");
        }
        let chunk = chunk.map_err(BackendError::engine(format!(
            "reading exec output from {container}"
        )))?;
        let (target, bytes) = match chunk {
            LogOutput::StdOut { message } => (&mut output.stdout, message),
            LogOutput::StdErr { message } => (&mut output.stderr, message),
            _ => continue,
        };
        let room = max_output.saturating_sub(target.len());
        if bytes.len() > room {
            output.truncated = true;
        }
        target.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
    Ok(())
}
