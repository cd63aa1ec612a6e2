//! The TCP attempts: a connect with the nonce exchange, to an address or to an IPv6
//! link-local address on each of the agent's interfaces.

use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::time::{Duration, Instant};

use super::exchange::{ack_line, contains, is_reset, read_with_end, remaining};
use super::ipv6::{ipv6_addresses, no_ipv6};
use super::outcome::{failed, from_error};
use crate::wire::{AttemptSpec, Observation, Outcome, StreamEnd};

/// Connects, sends `CB-NONCE <nonce>` and waits for the `CB-ACK` back, noting how the stream
/// ended: a relay's handshake followed by its reset reads differently from a target's answer.
pub(crate) fn tcp(spec: &AttemptSpec, addr: SocketAddr, timeout: Duration) -> Observation {
    let deadline = Instant::now() + timeout;
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            return reset_at_connect(spec, &error)
        }
        Err(error) => {
            return no_ipv6(spec, addr.ip(), &error)
                .unwrap_or_else(|| from_error(spec, "connect", &error))
        }
    };
    let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
    let _ = stream.set_write_timeout(Some(remaining(deadline)));
    match stream.write_all(format!("CB-NONCE {}\n", spec.nonce).as_bytes()) {
        Ok(()) => {
            let ack = ack_line(&spec.nonce);
            let (reply, end) = read_with_end(&mut stream, deadline, |buf| contains(buf, &ack));
            observation.ack = contains(&reply, &ack);
            observation.end = Some(end);
        }
        Err(error) if is_reset(&error) => observation.end = Some(StreamEnd::Reset),
        // Any other write failure says nothing about how the peer ended the stream.
        Err(_) => {}
    }
    observation
}

/// A connect that failed with ECONNRESET: the connection was established and reset before the
/// connect returned (a reset answering the SYN is ECONNREFUSED; Linux's `tcp_reset` gives
/// ECONNRESET only past SYN-SENT), as a relay that completes handshakes itself does when its
/// onward connect fails. Connected, and reset before any byte.
pub(crate) fn reset_at_connect(spec: &AttemptSpec, error: &std::io::Error) -> Observation {
    let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
    observation.errno = error.raw_os_error();
    observation.note = Some(format!(
        "connected, then reset before connect returned: {error}"
    ));
    observation.end = Some(StreamEnd::Reset);
    observation
}

/// TCP to a link-local address, tried through every IPv6 interface of the agent but loopback
/// until one is not a denial.
pub(crate) fn tcp_link_local(
    spec: &AttemptSpec,
    ip: Ipv6Addr,
    port: u16,
    timeout: Duration,
) -> Observation {
    let Some(interfaces) = ipv6_addresses(true) else {
        return failed(
            spec,
            Outcome::Error,
            None,
            "cannot read /proc/net/if_inet6".into(),
        );
    };
    let mut scopes: Vec<(String, u32)> = interfaces
        .into_iter()
        .filter(|a| a.interface != "lo")
        .map(|a| (a.interface, a.index))
        .collect();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return failed(
            spec,
            Outcome::Unreachable,
            None,
            "the agent has no IPv6 interface besides loopback (/proc/net/if_inet6)".into(),
        );
    }
    let mut last = None;
    for (name, index) in &scopes {
        let addr = SocketAddr::V6(SocketAddrV6::new(ip, port, 0, *index));
        let mut observation = tcp(spec, addr, timeout);
        observation.note = Some(match observation.note.take() {
            Some(note) => format!("via {name}: {note}"),
            None => format!("via {name}"),
        });
        if !observation.outcome().is_network_denial() {
            return observation;
        }
        last = Some(observation);
    }
    last.expect("at least one interface")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use crate::wire::{AttemptKind, Stage};

    fn spec(addr: SocketAddr) -> AttemptSpec {
        AttemptSpec {
            id: "t#0".into(),
            kind: AttemptKind::Tcp { addr },
            nonce: "n1".into(),
            timeout_ms: 400,
            stage: Stage::Fixed,
        }
    }

    /// How a peer ends the stream after the nonce: `ack` echoes it, `reset` resets (SO_LINGER
    /// 0), `close` closes in order, `hold` keeps it open past the deadline.
    fn peer(how: &'static str) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            let _ = BufReader::new(stream.try_clone().unwrap()).read_line(&mut line);
            match how {
                "ack" => {
                    let nonce = line.trim().trim_start_matches("CB-NONCE ");
                    let _ = stream.write_all(format!("CB-ACK {nonce}\n").as_bytes());
                }
                "reset" => {
                    crate::attempt::exchange::reset_when_dropped(&stream);
                }
                "close" => {}
                _ => std::thread::sleep(Duration::from_millis(700)),
            }
        });
        (addr, handle)
    }

    /// Every connected TCP attempt says how the stream ended, so that a relay's reset after its
    /// own handshake can be told from a target's answer.
    #[test]
    fn a_connected_attempt_says_how_the_stream_ended() {
        for (how, end, ack) in [
            ("ack", StreamEnd::Answered, true),
            ("reset", StreamEnd::Reset, false),
            ("close", StreamEnd::Closed, false),
            ("hold", StreamEnd::Silent, false),
        ] {
            let (addr, handle) = peer(how);
            let seen = tcp(&spec(addr), addr, Duration::from_millis(400));
            assert_eq!(seen.outcome(), Outcome::Connected, "{how}");
            assert_eq!((seen.end, seen.ack), (Some(end), ack), "{how}");
            handle.join().unwrap();
        }
    }
}
