//! The bounded exchange every stream attempt shares: deadlines, capped reads, and the
//! `CB-NONCE` / `CB-ACK` lines a fixture answers with.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The most bytes an attempt reads back from any peer.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// The time left until `deadline`, never less than 50 ms (a socket timeout of zero would mean
/// "no timeout").
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50))
}

/// Reads until EOF, `stop` says the buffer is complete, the cap, or the deadline.
pub(crate) fn read_bounded(
    stream: &mut TcpStream,
    deadline: Instant,
    stop: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    while buffer.len() < MAX_RESPONSE_BYTES && !stop(&buffer) {
        if stream.set_read_timeout(Some(remaining(deadline))).is_err() || Instant::now() >= deadline
        {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n.min(MAX_RESPONSE_BYTES - buffer.len())]),
        }
    }
    buffer
}

/// Whether `needle` (non-empty) occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The acknowledgement a fixture sends back for `nonce`.
pub(crate) fn ack_line(nonce: &str) -> Vec<u8> {
    format!("CB-ACK {nonce}").into_bytes()
}
