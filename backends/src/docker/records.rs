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

/// One container's log as its chunks arrive: bounded by `limit` bytes, read as records at the
/// end (a line split across chunks is whole again by then).
struct LogReader<'c> {
    container: &'c str,
    limit: usize,
    text: Vec<u8>,
}

impl<'c> LogReader<'c> {
    fn new(container: &'c str, limit: usize) -> Self {
        Self {
            container,
            limit,
            text: Vec::new(),
        }
    }

    /// Adds a chunk; past the limit the log is refused, never read in part (its tail could
    /// hold the record that matters).
    fn push(&mut self, chunk: &[u8]) -> Result<(), BackendError> {
        self.text.extend_from_slice(chunk);
        if self.text.len() > self.limit {
            return Err(BackendError::FixtureStart {
                name: self.container.to_string(),
                reason: format!(
                    "recorded more than {} bytes; refusing to read on",
                    self.limit
                ),
            });
        }
        Ok(())
    }

    /// The records and rejected lines, named after the container.
    fn finish(self) -> RecordLog {
        RecordLog::parse(self.container, &String::from_utf8_lossy(&self.text))
    }
}

async fn read_logs(docker: &Docker, container: &str) -> Result<RecordLog, BackendError> {
    let options = LogsOptions {
        follow: false,
        stdout: true,
        stderr: false,
        tail: "all".to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(container, Some(options));
    let mut reader = LogReader::new(container, MAX_LOG_BYTES);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BackendError::engine(format!(
            "reading the records of {container}"
        )))?;
        reader.push(&chunk.into_bytes())?;
    }
    Ok(reader.finish())
}

/// The fixture containers' logs joined, in the bottle's fixture order.
fn join(parts: Vec<RecordLog>) -> RecordLog {
    let mut log = RecordLog::default();
    for part in parts {
        log.extend(part);
    }
    log
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
    Ok(join(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str =
        "CB-SEEN fixture=public event=nonce proto=tcp local=10.210.2.10:80 peer=10.210.2.2:40000 nonce=n0001";
    const QUERY: &str =
        "CB-SEEN fixture=dns event=query proto=udp local=10.210.2.53:53 peer=10.210.1.3:53000 qname=n0002.exfil.fixture.test";

    fn read(container: &str, chunks: &[&[u8]], limit: usize) -> Result<RecordLog, BackendError> {
        let mut reader = LogReader::new(container, limit);
        for chunk in chunks {
            reader.push(chunk)?;
        }
        Ok(reader.finish())
    }

    #[test]
    fn a_record_split_across_chunks_is_read_whole() {
        let text = format!("CB-READY\n{NONCE}\n{QUERY}\n");
        let (head, tail) = text.as_bytes().split_at(text.find("peer=").unwrap());
        let log = read("cb-public", &[head, tail], MAX_LOG_BYTES).unwrap();
        let whole = RecordLog::parse("cb-public", &text);
        assert_eq!(log, whole);
        assert_eq!(log.records.len(), 2);
        assert!(log.rejected.is_empty());
    }

    #[test]
    fn a_bad_line_is_kept_as_rejected_with_its_container() {
        let text = format!("{NONCE}\nCB-SEEN fixture=nowhere event=nonce\n{QUERY}\n");
        let log = read("cb-dns", &[text.as_bytes()], MAX_LOG_BYTES).unwrap();
        assert_eq!(log.records.len(), 2, "{log:?}");
        assert_eq!(log.rejected.len(), 1, "{log:?}");
        assert_eq!(log.rejected[0].source, "cb-dns");
        // A byte that is no UTF-8 is replaced, not a reason to drop the whole log.
        let log = read("cb-dns", &[b"\xff\n", NONCE.as_bytes()], MAX_LOG_BYTES).unwrap();
        assert_eq!(log.records.len(), 1, "{log:?}");
    }

    #[test]
    fn a_log_past_the_limit_is_refused_not_read_in_part() {
        let line = format!("{NONCE}\n");
        let n = line.len();
        // Exactly at the limit: read.
        let log = read("cb-public", &[line.as_bytes()], n).unwrap();
        assert_eq!(log.records.len(), 1);
        // One byte past it, however it arrives: refused, naming the container.
        let joined = format!("{line}x");
        for chunks in [
            vec![line.as_bytes(), b"x".as_slice()],
            vec![joined.as_bytes()],
        ] {
            match read("cb-public", &chunks, n) {
                Err(BackendError::FixtureStart { name, reason }) => {
                    assert_eq!(name, "cb-public");
                    assert_eq!(
                        reason,
                        format!("recorded more than {n} bytes; refusing to read on")
                    );
                }
                other => panic!("a log past the limit was read: {other:?}"),
            }
        }
    }

    #[test]
    fn a_busy_fixtures_log_of_several_mib_is_read_whole() {
        // A fixture flooded by a hostile agent records a lot; what fits under the cap (32 MiB)
        // is read, to its last record.
        let line = format!("{NONCE}\n");
        let flood = line.repeat((8 << 20) / line.len());
        let text = format!("{flood}{QUERY}\n");
        let log = read("cb-public", &[text.as_bytes()], MAX_LOG_BYTES).unwrap();
        assert_eq!(log.records.len(), flood.len() / line.len() + 1);
        assert_eq!(
            log.records.last().unwrap().qname.as_deref(),
            Some("n0002.exfil.fixture.test")
        );
    }

    #[test]
    fn the_containers_logs_are_joined_in_order_with_their_rejected_lines() {
        let public = RecordLog::parse("cb-public", &format!("{NONCE}\nCB-SEEN bad\n"));
        let dns = RecordLog::parse("cb-dns", &format!("{QUERY}\nCB-SEEN worse\n"));
        let log = join(vec![public.clone(), dns.clone()]);
        let mut records = public.records.clone();
        records.extend(dns.records.clone());
        let mut rejected = public.rejected.clone();
        rejected.extend(dns.rejected.clone());
        assert_eq!(log, RecordLog { records, rejected });
        assert_eq!(log.rejected.len(), 2);
        assert_eq!(join(vec![]), RecordLog::default());
    }
}
