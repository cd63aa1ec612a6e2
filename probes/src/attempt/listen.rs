//! The inbound attempt: a listener in the agent, and who connects to it while the harness's
//! dialers try. It checks itself with a connection of its own, so that silence means something.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::exchange::remaining;
use super::outcome::failed;
use crate::timing::unix_ms;
use crate::wire::{AttemptSpec, Observation, Outcome};

/// The inbound probe: accept whatever arrives on `port` until the deadline. Any peer other than
/// the agent itself is reach (the note names it); only the self-check arriving is a denial;
/// no self-check means the listener proved nothing.
pub(crate) fn listen(
    spec: &AttemptSpec,
    port: u16,
    own: Ipv4Addr,
    timeout: Duration,
) -> Observation {
    let listener = match bind(port) {
        Ok(listener) => listener,
        Err(error) => {
            return failed(
                spec,
                Outcome::Error,
                error.raw_os_error(),
                format!("listen on {port}: {error}"),
            )
        }
    };
    // The listener is up from here, for the whole timeout however late this thread got to
    // run (a starved thread must not shrink the window): dialers' tries are judged against it.
    let deadline = Instant::now() + timeout;
    let opened = unix_ms();
    let self_check = spawn_self_check(
        SocketAddr::new(own.into(), port),
        &spec.nonce,
        deadline,
        timeout,
    );
    let mut heard = Heard {
        own,
        foreign: Vec::new(),
        saw_self: false,
    };
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((_, peer)) => heard.take(peer),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let window = Some((opened, unix_ms()));
    let self_sent = matches!(self_check.join(), Ok(Ok(())));
    // Connections the kernel completed before the deadline wait in the backlog: drain them
    // (bounded), so a late self-check or a late dialer is still counted.
    for _ in 0..256 {
        match listener.accept() {
            Ok((_, peer)) => heard.take(peer),
            Err(_) => break,
        }
    }
    if !heard.foreign.is_empty() {
        let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
        let peers: Vec<String> = heard
            .foreign
            .iter()
            .take(8)
            .map(ToString::to_string)
            .collect();
        observation.note = Some(format!("inbound connections from {}", peers.join(",")));
        observation.window = window;
        return observation;
    }
    if heard.saw_self && self_sent {
        let mut observation = Observation::new(&spec.id, Outcome::Refused, 0);
        observation.note = Some(format!(
            "listened {} ms on {port}; only its own connection from {own} arrived",
            timeout.as_millis()
        ));
        observation.window = window;
        return observation;
    }
    failed(
        spec,
        Outcome::Error,
        None,
        format!(
            "the self-check connection to {own}:{port} never arrived; the listener proves nothing"
        ),
    )
}

/// A non-blocking listener on `port`: dual-stack where the agent has IPv6 (dialled over IPv6
/// too), IPv4 otherwise.
fn bind(port: u16) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
        .or_else(|_| TcpListener::bind(SocketAddr::new(IpAddr::V4([0, 0, 0, 0].into()), port)));
    listener.and_then(|l| l.set_nonblocking(true).map(|()| l))
}

/// Who connected to the listener: the agent itself (`own`, the self-check), or anybody else
/// but loopback.
struct Heard {
    own: Ipv4Addr,
    foreign: Vec<SocketAddr>,
    saw_self: bool,
}

impl Heard {
    fn take(&mut self, peer: SocketAddr) {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if peer.ip() == IpAddr::V4(self.own) {
            self.saw_self = true;
        } else if !peer.ip().is_loopback() {
            self.foreign.push(peer);
        }
    }
}

/// The self-check: connects to the listener at `target` (the agent's own address) and sends a
/// nonce line. It retries until shortly before the window closes: on a loaded machine its
/// thread may start late, and one failed try must not void the whole probe.
fn spawn_self_check(
    target: SocketAddr,
    nonce: &str,
    deadline: Instant,
    timeout: Duration,
) -> JoinHandle<io::Result<()>> {
    let nonce = nonce.to_string();
    std::thread::spawn(move || {
        let give_up = deadline - Duration::from_millis(100).min(timeout / 4);
        loop {
            let tried = TcpStream::connect_timeout(&target, remaining(give_up))
                .and_then(|mut s| s.write_all(format!("CB-NONCE self-{nonce}\n").as_bytes()));
            if tried.is_ok() || Instant::now() >= give_up {
                return tried;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}
