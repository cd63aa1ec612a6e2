//! Telling a relay's reset from an open port. A VMM's user-space stack (smolvm's virtio-net
//! relay) completes the guest's handshake itself, then connects onward, and resets the guest's
//! connection when that onward connect fails, about one round trip plus up to 100 ms later
//! (its poll loop's idle timeout; smol-machines/smolvm `crates/smolvm-network/src/tcp_relay.rs`,
//! `stack.rs` `DEFAULT_IDLE_TIMEOUT_MS`). A completed handshake is therefore watched for a
//! while: a reset before any byte is reported apart, anything else is open. Under emulation
//! the relay lags, so the watch stretches to several times the slowest reset seen so far.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shortest watch: longer than the relay's idle timeout plus a round trip on a bridge.
pub(crate) const SETTLE_MIN: Duration = Duration::from_millis(400);
/// The longest watch, whatever the resets seen so far.
pub(crate) const SETTLE_MAX: Duration = Duration::from_secs(3);
/// How many times the slowest reset seen a port is watched.
const SETTLE_FACTOR: u32 = 4;

/// The watch of a sweep, shared by its workers: [`SETTLE_MIN`], or [`SETTLE_FACTOR`] times the
/// slowest reset seen so far, at most [`SETTLE_MAX`].
#[derive(Default)]
pub(crate) struct SettleClock {
    slowest_reset_us: AtomicU64,
}

impl SettleClock {
    pub(crate) fn current(&self) -> Duration {
        let slowest = Duration::from_micros(self.slowest_reset_us.load(Ordering::Relaxed));
        (slowest * SETTLE_FACTOR).clamp(SETTLE_MIN, SETTLE_MAX)
    }

    /// A port was reset `after` its handshake.
    pub(crate) fn saw_reset(&self, after: Duration) {
        let micros = u64::try_from(after.as_micros()).unwrap_or(u64::MAX);
        self.slowest_reset_us.fetch_max(micros, Ordering::Relaxed);
    }
}

/// What a connected socket showed within its watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Held (or a byte came, or an orderly close, or an error that is not a reset): open.
    Held,
    /// Reset before any byte, this long after the watch began.
    Reset(Duration),
}

/// Watches a connected socket for `wait`: only a reset before any byte is [`Settled::Reset`],
/// so nothing but a reset may ever make a completed handshake read as anything but open.
pub(crate) fn settle(socket: &OwnedFd, wait: Duration) -> Settled {
    let start = Instant::now();
    let deadline = start + wait;
    let mut pollfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
        if ready > 0 {
            break;
        }
        let interrupted =
            ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
        if !interrupted || Instant::now() >= deadline {
            return Settled::Held;
        }
    }
    let mut byte = [0u8; 1];
    // SAFETY: a one-byte buffer of our own; MSG_PEEK leaves the stream as it is.
    let read = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if read < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECONNRESET) {
        Settled::Reset(start.elapsed())
    } else {
        Settled::Held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watch starts at its floor, stretches with the slowest reset, and stops at its cap.
    #[test]
    fn the_watch_stretches_with_the_slowest_reset() {
        let clock = SettleClock::default();
        assert_eq!(clock.current(), SETTLE_MIN);
        clock.saw_reset(Duration::from_millis(50));
        assert_eq!(clock.current(), SETTLE_MIN);
        clock.saw_reset(Duration::from_millis(300));
        assert_eq!(clock.current(), Duration::from_millis(1200));
        clock.saw_reset(Duration::from_millis(100));
        assert_eq!(clock.current(), Duration::from_millis(1200));
        clock.saw_reset(Duration::from_secs(5));
        assert_eq!(clock.current(), SETTLE_MAX);
    }
}
