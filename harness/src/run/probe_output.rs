//! What came back from an exec of the probe, wherever it ran (the agent, a vantage point):
//! its parsed output, or why that output is unusable.

use bottle_backends::ExecOutput;
use bottle_probes::wire::{ProbeOutput, MAX_OUTPUT_BYTES};

/// The exec's result as the probe's parsed output, or why it is unusable.
pub(super) fn interpret(
    output: Result<ExecOutput, bottle_backends::BackendError>,
    session: &str,
    ids: &[&str],
) -> Result<ProbeOutput, String> {
    match output {
        Err(error) => Err(format!("the probe exec failed: {error}")),
        Ok(output) if output.truncated => Err(format!(
            "the probe printed more than {MAX_OUTPUT_BYTES} bytes"
        )),
        Ok(output) if output.exit_code != Some(0) => Err(format!(
            "the probe exited with {:?}: {}",
            output.exit_code,
            String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(300)
                .collect::<String>()
        )),
        Ok(output) => ProbeOutput::parse(&output.stdout, session, ids)
            .map_err(|e| format!("the probe output was rejected: {e}")),
    }
}
