//! The ICMP attempt: an echo request carrying the nonce through an unprivileged ping socket
//! (`SOCK_DGRAM`, `IPPROTO_ICMP`); an echo reply carrying it back is reach.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::exchange::{contains, remaining};
use super::outcome::{failed, from_error};
use crate::wire::{AttemptSpec, Observation, Outcome};

/// ICMP echo through a ping socket: the kernel fills in the identifier and checksum. The
/// socket is used as a `UdpSocket`, whose connect, send, recv and timeouts are plain socket
/// calls that work on it unchanged.
pub(crate) fn ping(spec: &AttemptSpec, ip: IpAddr, timeout: Duration) -> Observation {
    let IpAddr::V4(_) = ip else {
        return failed(
            spec,
            Outcome::Error,
            None,
            "ICMPv6 echo is not implemented".into(),
        );
    };
    let socket = match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(socket) => UdpSocket::from(socket),
        Err(error) => {
            return failed(
                spec,
                Outcome::Error,
                error.raw_os_error(),
                format!("ICMP socket: {error} (net.ipv4.ping_group_range forbids ping sockets?)"),
            )
        }
    };
    let payload = format!("CB-NONCE {}", spec.nonce);
    let mut packet = vec![8u8, 0, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(payload.as_bytes());
    let result = (|| {
        socket.connect(SocketAddr::new(ip, 0))?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send(&packet)?;
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 1500];
        loop {
            socket.set_read_timeout(Some(remaining(deadline)))?;
            let n = socket.recv(&mut buffer)?;
            // Echo reply (type 0) carrying our payload; anything else is read past.
            if n >= 8 && buffer[0] == 0 && contains(&buffer[8..n], payload.as_bytes()) {
                return Ok::<_, io::Error>(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
        }
    })();
    match result {
        Ok(()) => {
            let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
            observation.ack = true;
            observation.note = Some("echo reply with the nonce".into());
            observation
        }
        Err(error) => from_error(spec, "icmp echo", &error),
    }
}
