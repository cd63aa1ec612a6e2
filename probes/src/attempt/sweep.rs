//! The port sweep: every TCP port of one address, from inside the agent.
//!
//! A sweep is ~65 000 connection attempts, and on a virtualised two-core machine each system
//! call is dear, so each worker tries its ports on one reused non-blocking socket: the first
//! `connect` sends the SYN, and on a local bridge or loopback the peer's RST (or SYN-ACK) has
//! been through the kernel's network stack by the time it returns; a second `connect` reads the
//! answer, and a refused socket is ready for the next port. A refused port costs two calls
//! where std's `connect_timeout` needs seven (socket, two `ioctl`s, connect, poll, getsockopt,
//! close). Only a port still pending (an open port on a slower path, or a filtered one) waits
//! in `poll` for the per-port timeout. Classification is the same as for every other attempt:
//! refused, timed out and unreachable are denials; anything else is a local error, which leaves
//! the port unscanned and the sweep inconclusive, never contained.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::exchange::remaining;
use super::outcome::{classify, failed};
use super::settle::{settle, SettleClock, Settled};
use crate::timing::sweep_end_ms;
use crate::wire::limits::MAX_OPEN_PORTS;
use crate::wire::{AttemptSpec, Observation, Outcome};

/// What one port of a sweep answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortState {
    /// The handshake completed and the connection held (or answered, or was closed in order)
    /// through the settle time: something listens there.
    Open,
    /// The handshake completed and the connection was reset before any byte, within the settle
    /// time. Through a kernel's stack, a listener that hung up (reach); through a VMM's relay
    /// that completes the guest's handshake before it connects onward (smolvm), the relay's
    /// refusal. The verdict decides which, from the agent side; the sweep only reports it.
    Reset,
    /// A denial: refused, timed out, or unreachable ([`Outcome`] of the port).
    Closed(Outcome),
    /// A local failure that says nothing about the path (EMFILE, ENOBUFS, ...).
    LocalError(i32),
}

/// Per-port connect timeout inside a sweep; the sweep's own timeout bounds the whole sweep.
/// Long enough that a handshake is never given up while a slow relay is still answering it:
/// smolvm keeps a relay entry for a handshake the guest gave up on (its SYN-RECEIVED socket
/// goes back to listening on the guest's reset) and never frees it, so a sweep that gave up
/// on a few hundred slow handshakes filled its 512-entry table, after which every new
/// connection is refused outright (measured in the KVM lab with 250 ms: 549 given up, then
/// 29 746 ports refused). A filtered port holds its worker this long; a sweep of a filtered
/// address stops at its budget either way.
const SWEEP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Workers trying ports side by side. Refused ports cost CPU only, but a filtered port holds
/// its worker for the per-port timeout, and behind a relay every port holds it until the
/// relay's reset, so there are enough to keep going past those; and few enough that the
/// connections they hold stay well inside smolvm's relay table (512 by default).
const SWEEP_WORKERS: usize = 128;
/// The most ports held open through the sweep that are dialled again, with the settle time the
/// sweep ended with, before they count as open: behind a lagging relay the first ports held
/// were watched for a shorter time than the relay took to reset.
const RECHECK_MAX: usize = 64;

/// Sweeps ports `first..=last` of `ip` within `budget`: which answered, how many were tried,
/// how many were silent or unreachable, and whether any failed locally (noted).
pub(crate) fn run(
    spec: &AttemptSpec,
    ip: IpAddr,
    first: u16,
    last: u16,
    budget: Duration,
) -> Observation {
    if first == 0 || first > last {
        return failed(
            spec,
            Outcome::Error,
            None,
            format!("bad port range {first}-{last}"),
        );
    }
    let shared = Arc::new(Shared {
        clock: SweepClock {
            start: Instant::now(),
            budget,
            total: u64::from(last - first) + 1,
            decided: OnceLock::new(),
        },
        next: AtomicU32::new(u32::from(first)),
        last,
        ip,
        scanned: AtomicU32::new(0),
        filtered: AtomicU32::new(0),
        errors: AtomicUsize::new(0),
        open: Mutex::new(Vec::new()),
        reset: Mutex::new(Vec::new()),
        silent: Mutex::new(Vec::new()),
        settle: SettleClock::default(),
    });
    let workers: Vec<_> = (0..SWEEP_WORKERS)
        .map(|_| {
            let shared = shared.clone();
            std::thread::spawn(move || shared.work())
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let open = shared.open.lock().expect("sweep lock").clone();
    let mut reset = shared.reset.lock().expect("sweep lock").clone();
    let (mut open, reset_again) = recheck(ip, open, shared.settle.current());
    reset.extend(reset_again);
    // A port that timed out behind a slow relay gets its one more try too: what answers now
    // moves to open or reset; only more reach or more evidence can come of it.
    let silent = shared.silent.lock().expect("sweep lock").clone();
    let (answered_open, answered_reset) = recheck_silent(ip, silent, shared.settle.current());
    let moved = (answered_open.len() + answered_reset.len()) as u32;
    open.extend(answered_open);
    reset.extend(answered_reset);
    open.sort_unstable();
    reset.sort_unstable();
    let (scanned, filtered, errors) = (
        shared.scanned.load(Ordering::Relaxed),
        shared
            .filtered
            .load(Ordering::Relaxed)
            .saturating_sub(moved),
        shared.errors.load(Ordering::Relaxed),
    );
    observation_of(spec, open, reset, scanned, filtered, errors)
}

/// What a sweep's workers share: the clocks, the next port, the counts and the ports found.
struct Shared {
    clock: SweepClock,
    next: AtomicU32,
    last: u16,
    ip: IpAddr,
    scanned: AtomicU32,
    filtered: AtomicU32,
    errors: AtomicUsize,
    open: Mutex<Vec<u16>>,
    reset: Mutex<Vec<u16>>,
    /// The ports that timed out (not unreachable), for their one more try.
    silent: Mutex<Vec<u16>>,
    settle: SettleClock,
}

impl Shared {
    /// One worker: the next port, until the ports or the time run out.
    fn work(&self) {
        let mut trier = PortTrier::default();
        loop {
            let now = Instant::now();
            let deadline = self.clock.deadline(now, &self.scanned);
            if now >= deadline {
                break;
            }
            let port = self.next.fetch_add(1, Ordering::Relaxed);
            if port > u32::from(self.last) {
                break;
            }
            let addr = SocketAddr::new(self.ip, port as u16);
            let connect_timeout = SWEEP_CONNECT_TIMEOUT.min(remaining(deadline));
            trier.settle = self.settle.current();
            let state = trier.try_port(addr, connect_timeout);
            if let Some(after) = trier.last_reset.take() {
                self.settle.saw_reset(after);
            }
            match state {
                PortState::Open => self.open.lock().expect("sweep lock").push(port as u16),
                PortState::Reset => self.reset.lock().expect("sweep lock").push(port as u16),
                PortState::Closed(Outcome::Refused) => {}
                PortState::Closed(outcome) => {
                    if outcome == Outcome::Timeout {
                        self.silent.lock().expect("sweep lock").push(port as u16);
                    }
                    self.filtered.fetch_add(1, Ordering::Relaxed);
                }
                PortState::LocalError(_) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            self.scanned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The sweep's observation: the open ports (sorted; at most [`MAX_OPEN_PORTS`], noted when
/// more), the ports reset right after their handshake (how many, and the first
/// [`MAX_OPEN_PORTS`] of them), how many were swept and how many silent or unreachable, and
/// the local errors.
fn observation_of(
    spec: &AttemptSpec,
    mut open: Vec<u16>,
    mut reset: Vec<u16>,
    scanned: u32,
    filtered: u32,
    error_count: usize,
) -> Observation {
    let mut observation = Observation::new(&spec.id, Outcome::Swept, 0);
    observation.scanned = Some(scanned);
    observation.filtered = Some(filtered);
    if !reset.is_empty() {
        observation.dropped = Some(u32::try_from(reset.len()).unwrap_or(u32::MAX));
        reset.truncate(MAX_OPEN_PORTS);
        observation.dropped_ports = reset;
    }
    if open.len() > MAX_OPEN_PORTS {
        observation.note = Some(format!("{} open ports, list truncated", open.len()));
        open.truncate(MAX_OPEN_PORTS);
    }
    if error_count > 0 {
        observation.note = Some(format!("{error_count} ports failed with local errors"));
    }
    observation.open = open;
    observation
}

/// Dials the ports held open through the sweep once more (at most [`RECHECK_MAX`], side by
/// side), watching each for `settle`: a port the relay now resets moves to the reset ports;
/// anything else (held again, refused, silent) leaves it open, its first answer. More held
/// ports than that are all left open: reach, never containment.
fn recheck(ip: IpAddr, open: Vec<u16>, settle: Duration) -> (Vec<u16>, Vec<u16>) {
    if open.is_empty() || open.len() > RECHECK_MAX {
        return (open, Vec::new());
    }
    let checks: Vec<_> = open
        .into_iter()
        .map(|port| {
            std::thread::spawn(move || {
                let mut trier = PortTrier {
                    settle,
                    ..PortTrier::default()
                };
                let state = trier.try_port(SocketAddr::new(ip, port), SWEEP_CONNECT_TIMEOUT);
                (port, state)
            })
        })
        .collect();
    let (mut still_open, mut reset) = (Vec::new(), Vec::new());
    for check in checks {
        match check.join() {
            Ok((port, PortState::Reset)) => reset.push(port),
            Ok((port, _)) => still_open.push(port),
            // A check that died answers nothing: its port stays open (its first answer).
            Err(_) => {}
        }
    }
    (still_open, reset)
}

/// Dials the ports that timed out once more (at most [`RECHECK_MAX`], side by side): those
/// that now complete a handshake come back as open or reset; the rest stay filtered. More
/// than that are left filtered.
fn recheck_silent(ip: IpAddr, silent: Vec<u16>, settle: Duration) -> (Vec<u16>, Vec<u16>) {
    if silent.is_empty() || silent.len() > RECHECK_MAX {
        return (Vec::new(), Vec::new());
    }
    let checks: Vec<_> = silent
        .into_iter()
        .map(|port| {
            std::thread::spawn(move || {
                let mut trier = PortTrier {
                    settle,
                    ..PortTrier::default()
                };
                (
                    port,
                    trier.try_port(SocketAddr::new(ip, port), SWEEP_CONNECT_TIMEOUT),
                )
            })
        })
        .collect();
    let (mut open, mut reset) = (Vec::new(), Vec::new());
    for (port, state) in checks.into_iter().filter_map(|c| c.join().ok()) {
        match state {
            PortState::Open => open.push(port),
            PortState::Reset => reset.push(port),
            _ => {}
        }
    }
    (open, reset)
}

/// When the sweep stops: at its budget, or later if, at the budget, its rate so far says it
/// would finish within the stretch (`timing::sweep_end_ms`). Decided once, by the first worker
/// that reaches the budget.
struct SweepClock {
    start: Instant,
    budget: Duration,
    total: u64,
    decided: OnceLock<Instant>,
}

impl SweepClock {
    /// The sweep's deadline as seen at `now` (one clock read per port, the caller's).
    fn deadline(&self, now: Instant, scanned: &AtomicU32) -> Instant {
        let at_budget = self.start + self.budget;
        if now < at_budget {
            return at_budget;
        }
        *self.decided.get_or_init(|| {
            let budget_ms = u32::try_from(self.budget.as_millis()).unwrap_or(u32::MAX);
            let elapsed_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            let done = u64::from(scanned.load(Ordering::Relaxed));
            let end = sweep_end_ms(budget_ms, elapsed_ms, done, self.total);
            self.start + Duration::from_millis(end)
        })
    }
}

/// Tries ports one after another on one reused socket: two `connect` calls per refused port
/// and no socket to make or close. Linux reports a finished non-blocking connect on the next
/// `connect` of the same socket: `ECONNREFUSED` (or another error) when it failed, success (0)
/// when the handshake completed (`EISCONN` if asked yet again), `EALREADY` while it is
/// pending; and a socket whose connect failed goes back to unconnected, ready for the next
/// port. A port is dialled once and its first answer is final: a second dial can fail where the
/// first succeeded (a full accept queue, a one-shot listener), so an answer this code does not
/// expect is a local error for that port, never a reason to dial it again.
pub(crate) struct PortTrier {
    socket: Option<OwnedFd>,
    /// How long a completed handshake is watched for a reset (see `settle`).
    pub(crate) settle: Duration,
    /// How long after its handshake the last port tried was reset, if it was.
    pub(crate) last_reset: Option<Duration>,
    /// How many ports were tried on a socket kept from the port before (for the tests).
    reuses: u32,
    /// How many ports got an answer this code does not expect (for the tests).
    unexpected: u32,
}

impl Default for PortTrier {
    fn default() -> Self {
        Self {
            socket: None,
            settle: super::settle::SETTLE_MIN,
            last_reset: None,
            reuses: 0,
            unexpected: 0,
        }
    }
}

/// What a `connect` call on the trier's socket said.
enum Dial {
    Connected,
    Failed(Option<i32>),
}

fn dial(socket: &OwnedFd, addr: &SocketAddr) -> Dial {
    match connect(socket, addr) {
        Ok(()) => Dial::Connected,
        Err(error) => Dial::Failed(error.raw_os_error()),
    }
}

impl PortTrier {
    /// Tries one TCP port: connected, refused, silent for `timeout`, unreachable, or a local
    /// error.
    pub(crate) fn try_port(&mut self, addr: SocketAddr, timeout: Duration) -> PortState {
        let socket = match self.socket.take() {
            Some(socket) => {
                self.reuses += 1;
                socket
            }
            None => match nonblocking_socket(&addr) {
                Ok(socket) => socket,
                Err(error) => return local_error(&error),
            },
        };
        // The first call sends the SYN; on a local bridge the answer is usually in by the time
        // it returns, and the second call reads it.
        let mut answer = dial(&socket, &addr);
        if matches!(answer, Dial::Failed(Some(libc::EINPROGRESS))) {
            answer = dial(&socket, &addr);
        }
        if matches!(answer, Dial::Failed(Some(libc::EALREADY))) {
            answer = match wait_writable(&socket, timeout) {
                Ok(true) => dial(&socket, &addr),
                Ok(false) => return PortState::Closed(Outcome::Timeout),
                Err(error) => return local_error(&error),
            };
        }
        match answer {
            // Connected (0), or already connected when asked again (EISCONN); the socket is
            // closed when it drops here, after the settle.
            Dial::Connected | Dial::Failed(Some(libc::EISCONN)) => {
                match settle(&socket, self.settle) {
                    Settled::Held => PortState::Open,
                    Settled::Reset(after) => {
                        self.last_reset = Some(after);
                        PortState::Reset
                    }
                }
            }
            // Connected and reset before this call asked: only an established connection is
            // reset (a reset answering the SYN is ECONNREFUSED), so the handshake completed.
            Dial::Failed(Some(libc::ECONNRESET)) => {
                self.last_reset = Some(Duration::ZERO);
                PortState::Reset
            }
            Dial::Failed(Some(libc::ECONNREFUSED)) => {
                // The failed connect left the socket unconnected: reuse it.
                self.socket = Some(socket);
                PortState::Closed(Outcome::Refused)
            }
            Dial::Failed(Some(
                code @ (libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ETIMEDOUT),
            )) => state_of(&io::Error::from_raw_os_error(code)),
            Dial::Failed(code) => {
                self.unexpected += 1;
                PortState::LocalError(code.unwrap_or(0))
            }
        }
    }
}

fn state_of(error: &io::Error) -> PortState {
    match classify(error) {
        outcome @ (Outcome::Refused | Outcome::Timeout | Outcome::Unreachable) => {
            PortState::Closed(outcome)
        }
        _ => local_error(error),
    }
}

fn local_error(error: &io::Error) -> PortState {
    PortState::LocalError(error.raw_os_error().unwrap_or(0))
}

fn nonblocking_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: a plain socket(2) call; the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn connect(socket: &OwnedFd, addr: &SocketAddr) -> io::Result<()> {
    // SAFETY: the sockaddr structs are plain old data, fully initialised below, and passed with
    // their own size.
    let result = unsafe {
        match addr {
            SocketAddr::V4(v4) => {
                let mut raw: libc::sockaddr_in = std::mem::zeroed();
                raw.sin_family = libc::AF_INET as libc::sa_family_t;
                raw.sin_port = v4.port().to_be();
                raw.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                libc::connect(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            SocketAddr::V6(v6) => {
                let mut raw: libc::sockaddr_in6 = std::mem::zeroed();
                raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                raw.sin6_port = v6.port().to_be();
                raw.sin6_addr.s6_addr = v6.ip().octets();
                raw.sin6_flowinfo = v6.flowinfo();
                raw.sin6_scope_id = v6.scope_id();
                libc::connect(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the socket became writable within `timeout` (false: it did not).
fn wait_writable(socket: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
        match ready {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    /// The reference: a fresh socket and std's `connect_timeout` per port, classified as every
    /// other attempt is (the sweep's way before it reused sockets).
    fn fresh_socket(addr: SocketAddr, timeout: Duration) -> PortState {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => PortState::Open,
            Err(error) => state_of(&error),
        }
    }

    #[test]
    fn an_open_port_is_open_and_a_closed_one_refused() {
        let (listeners, first, _) = listeners_below_the_ephemeral_range();
        // Nobody listens on a port we could bind a moment ago (below the ephemeral range, no
        // connection of ours can take it either).
        let closed_addr: SocketAddr = ([127, 0, 0, 1], first + 20).into();
        drop(TcpListener::bind(closed_addr).expect("a free port in the window"));
        let timeout = Duration::from_millis(250);
        let mut trier = PortTrier::default();
        for listener in &listeners {
            let addr = listener.local_addr().unwrap();
            assert_eq!(fresh_socket(addr, timeout), PortState::Open);
            assert_eq!(trier.try_port(addr, timeout), PortState::Open);
        }
        assert_eq!(
            fresh_socket(closed_addr, timeout),
            PortState::Closed(Outcome::Refused)
        );
        assert_eq!(
            trier.try_port(closed_addr, timeout),
            PortState::Closed(Outcome::Refused)
        );
        assert_eq!(trier.unexpected, 0);
    }

    /// A listener whose accept queue holds one connection (backlog 0) and that accepts none.
    fn listener_with_one_slot() -> TcpListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: listen(2) again on a listening socket only changes its backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        listener
    }

    /// A port is dialled once: the first handshake fills the only slot of the accept queue, so
    /// a second dial of the same port would be dropped and read as a timeout. An open port must
    /// read as open.
    #[test]
    fn an_open_port_is_dialled_once() {
        let listener = listener_with_one_slot();
        let mut trier = PortTrier::default();
        assert_eq!(
            trier.try_port(listener.local_addr().unwrap(), Duration::from_millis(300)),
            PortState::Open
        );
        assert_eq!(trier.unexpected, 0);
    }

    /// A port that drops the SYN (a full accept queue) times out, on a fresh socket and on a
    /// reused one, and the timed-out socket is not reused.
    #[test]
    fn a_dropped_syn_times_out() {
        let listener = listener_with_one_slot();
        let addr = listener.local_addr().unwrap();
        let _filler = std::net::TcpStream::connect(addr).unwrap();
        let timeout = Duration::from_millis(100);
        assert_eq!(
            fresh_socket(addr, timeout),
            PortState::Closed(Outcome::Timeout)
        );
        let (_listeners, first, _) = listeners_below_the_ephemeral_range();
        let closed_addr: SocketAddr = ([127, 0, 0, 1], first + 20).into();
        let mut trier = PortTrier::default();
        assert_eq!(
            trier.try_port(closed_addr, timeout),
            PortState::Closed(Outcome::Refused)
        );
        assert_eq!(
            trier.try_port(addr, timeout),
            PortState::Closed(Outcome::Timeout)
        );
        assert!(trier.socket.is_none(), "a pending socket was kept");
        assert_eq!((trier.reuses, trier.unexpected), (1, 0));
    }

    /// Three listeners in a window of 61 ports below the kernel's ephemeral range. Within the
    /// ephemeral range a fresh socket can connect to itself on loopback (its source port picked
    /// equal to the port it dials), which reads as open; below it no source port ever lands.
    fn listeners_below_the_ephemeral_range() -> (Vec<TcpListener>, u16, u16) {
        let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse().ok())
            .unwrap_or(32768);
        let top = ephemeral_low.saturating_sub(61);
        for base in (top.saturating_sub(10_000).max(1024)..top).step_by(97) {
            let wanted = [base + 10, base + 30, base + 50];
            let bound: Result<Vec<TcpListener>, _> = wanted
                .iter()
                .map(|port| TcpListener::bind(("127.0.0.1", *port)))
                .collect();
            if let Ok(listeners) = bound {
                return (listeners, base, base + 60);
            }
        }
        panic!("no free window of ports below {ephemeral_low}");
    }

    /// One reused socket across refused, open and refused ports again answers exactly as a
    /// fresh socket per port does ([`fresh_socket`]), and it is really reused.
    #[test]
    fn a_reused_socket_answers_as_fresh_ones_do() {
        let (listeners, first, last) = listeners_below_the_ephemeral_range();
        let open: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let timeout = Duration::from_millis(250);
        let mut trier = PortTrier::default();
        for port in first..=last {
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let fresh = fresh_socket(addr, timeout);
            let reused = trier.try_port(addr, timeout);
            assert_eq!(reused, fresh, "port {port}, ours {open:?}");
            if open.contains(&port) {
                assert_eq!(reused, PortState::Open, "port {port}");
            }
        }
        assert_eq!(trier.unexpected, 0, "ports got unexpected answers");
        assert!(
            trier.reuses >= u32::from(last - first) / 2,
            "only {} of {} ports reused the socket",
            trier.reuses,
            last - first + 1
        );
    }

    /// A listener on 127.0.0.1 whose accepting thread ends each connection as `end` says:
    /// `Some(true)` resets it (SO_LINGER 0), `Some(false)` closes it in order, `None` holds it.
    fn ending_listener(end: Option<bool>) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            match end {
                Some(true) => {
                    crate::attempt::exchange::reset_when_dropped(&stream);
                    drop(stream);
                }
                Some(false) => drop(stream),
                None => {
                    std::thread::sleep(crate::attempt::settle::SETTLE_MIN * 2);
                    drop(stream);
                }
            }
        });
        (addr, handle)
    }

    /// A handshake followed by a reset before any byte (what smolvm's relay does when its onward
    /// connect fails) is told apart; a held connection and an orderly close are open, since only
    /// a reset may make a completed handshake read as anything but open.
    #[test]
    fn a_reset_after_the_handshake_is_told_from_an_open_port() {
        for (end, want) in [
            (Some(true), PortState::Reset),
            (Some(false), PortState::Open),
            (None, PortState::Open),
        ] {
            let (addr, accepted) = ending_listener(end);
            let mut trier = PortTrier::default();
            assert_eq!(
                trier.try_port(addr, Duration::from_millis(500)),
                want,
                "{end:?}"
            );
            accepted.join().unwrap();
        }
    }

    /// A port held through the sweep and reset when dialled again (a relay that lagged behind
    /// the first watch) moves to the reset ports; a port held again stays open.
    #[test]
    fn a_held_port_reset_on_the_recheck_moves_to_the_reset_ports() {
        let (held_then_reset, first) = ending_listener(Some(true));
        let (held, second) = ending_listener(None);
        let ip = held_then_reset.ip();
        let (open, reset) = recheck(
            ip,
            vec![held_then_reset.port(), held.port()],
            Duration::from_millis(300),
        );
        assert_eq!(
            (open, reset),
            (vec![held.port()], vec![held_then_reset.port()])
        );
        first.join().unwrap();
        second.join().unwrap();
        let many: Vec<u16> = (1..=(RECHECK_MAX as u16 + 1)).collect();
        assert_eq!(
            recheck(ip, many.clone(), Duration::from_millis(1)),
            (many, vec![])
        );
    }

    fn sweep_spec() -> AttemptSpec {
        AttemptSpec {
            id: "sweep#0".into(),
            kind: crate::wire::AttemptKind::Sweep {
                ip: [127, 0, 0, 1].into(),
                first: 1,
                last: 65535,
            },
            nonce: "n1".into(),
            timeout_ms: 100,
            stage: crate::wire::Stage::Fixed,
        }
    }

    /// The sweep lists reset ports apart from open ones, with their count.
    #[test]
    fn a_sweep_reports_reset_ports_apart() {
        let observation =
            observation_of(&sweep_spec(), vec![3128], (1..=200).collect(), 65535, 0, 0);
        assert_eq!(observation.open, [3128]);
        assert_eq!(observation.dropped, Some(200));
        assert_eq!(observation.dropped_ports.len(), MAX_OPEN_PORTS);
        assert_eq!(observation.dropped_ports[0], 1);
        let none = observation_of(&sweep_spec(), vec![], vec![], 1, 0, 0);
        assert_eq!((none.dropped, none.dropped_ports.len()), (None, 0));
    }

    #[test]
    fn ipv6_loopback_is_tried_too() {
        let Ok(open) = TcpListener::bind("[::1]:0") else {
            return; // no IPv6 loopback on this machine: nothing to try
        };
        let mut trier = PortTrier::default();
        assert_eq!(
            trier.try_port(open.local_addr().unwrap(), Duration::from_millis(250)),
            PortState::Open
        );
    }
}
