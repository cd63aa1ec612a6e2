//! Reading what the fixture hosts recorded: their stdout holds one `CB-SEEN` line per event.
//! A `CB-SEEN` line that does not parse is kept as rejected, with the container it came from,
//! never dropped: the verdict must know that some evidence could not be read.

use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use bottle_fixtures::records::RecordLog;
use futures_util::StreamExt;

use crate::errors::BackendError;
use crate::topology::Bottle;

/// Cap on the log bytes read per fixture; a flood past it is reported, not buffered.
const MAX_LOG_BYTES: usize = 32 * 1024 * 1024;

async fn read_logs(docker: &Docker, container: &str) -> Result<RecordLog, BackendError> {
    let options = LogsOptions {
        follow: false,
        stdout: true,
        stderr: false,
        tail: "all".to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(container, Some(options));
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BackendError::engine(format!(
            "reading the records of {container}"
        )))?;
        text.extend_from_slice(&chunk.into_bytes());
        if text.len() > MAX_LOG_BYTES {
            return Err(BackendError::FixtureStart {
                name: container.to_string(),
                reason: format!("recorded more than {MAX_LOG_BYTES} bytes; refusing to read on"),
            });
        }
    }
    Ok(RecordLog::parse(container, &String::from_utf8_lossy(&text)))
}

/// Every fixture container's records and rejected lines, in the bottle's fixture order.
pub(crate) async fn collect(docker: &Docker, bottle: &Bottle) -> Result<RecordLog, BackendError> {
    let all = futures_util::future::try_join_all(
        bottle
            .fixture_refs
            .iter()
            .map(|(_, container)| read_logs(docker, container)),
    )
    .await?;
    let mut log = RecordLog::default();
    for part in all {
        log.extend(part);
    }
    Ok(log)
}
