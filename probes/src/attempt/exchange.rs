//! The bounded exchange every stream attempt shares: deadlines, capped reads, and the
//! `CB-NONCE` / `CB-ACK` lines a fixture answers with.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::wire::StreamEnd;

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
    read_with_end(stream, deadline, stop).0
}

/// [`read_bounded`], and how the stream ended: answered when any byte came back, else closed
/// (FIN), reset, or silent (the deadline, or any other read error, which proves no end).
pub(crate) fn read_with_end(
    stream: &mut TcpStream,
    deadline: Instant,
    stop: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, StreamEnd) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    let mut end = StreamEnd::Silent;
    while buffer.len() < MAX_RESPONSE_BYTES && !stop(&buffer) {
        if stream.set_read_timeout(Some(remaining(deadline))).is_err() || Instant::now() >= deadline
        {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                end = StreamEnd::Closed;
                break;
            }
            Err(error) => {
                if is_reset(&error) {
                    end = StreamEnd::Reset;
                }
                break;
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n.min(MAX_RESPONSE_BYTES - buffer.len())]),
        }
    }
    if !buffer.is_empty() {
        end = StreamEnd::Answered;
    }
    (buffer, end)
}

/// Whether an I/O error is the peer's reset: ECONNRESET on a read, EPIPE (or ECONNRESET) on a
/// write into a connection the peer already reset.
pub(crate) fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Whether `needle` (non-empty) occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The acknowledgement a fixture sends back for `nonce`.
pub(crate) fn ack_line(nonce: &str) -> Vec<u8> {
    format!("CB-ACK {nonce}").into_bytes()
}

/// Test peers: makes `stream` end with a reset (SO_LINGER 0) instead of a FIN when it is
/// dropped, as a relay that gives up on its onward connect ends the guest's connection.
#[cfg(test)]
pub(crate) fn reset_when_dropped(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a linger struct of its own size.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER");
}
