//! The ICMP attempt: an echo request carrying the nonce through an unprivileged ping socket
//! (`SOCK_DGRAM`, `IPPROTO_ICMP`), or a raw ICMP socket where ping sockets are forbidden and the
//! probe may open a raw one; an echo reply carrying it back is reach.
//!
//! Why both: a kernel whose `net.ipv4.ping_group_range` leaves out the probe's group refuses
//! ping sockets to root and everyone (EACCES; `ping_init_sock` in net/ipv4/ping.c checks only
//! the group range). Docker widens the range in every container; a smolvm guest keeps the
//! kernel's default "1 0", which admits nobody (net/ipv4/af_inet.c, `inet_init_net`), while its
//! root holds CAP_NET_RAW, as busybox `ping` uses.

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
    let (socket, raw) = match open_socket() {
        Ok(opened) => opened,
        Err(error) => {
            return failed(
                spec,
                Outcome::Error,
                error.raw_os_error(),
                format!("ICMP socket: {error} (net.ipv4.ping_group_range forbids ping sockets, and a raw socket needs CAP_NET_RAW)"),
            )
        }
    };
    let payload = format!("CB-NONCE {}", spec.nonce);
    let packet = echo_request(payload.as_bytes(), raw);
    let result = (|| {
        socket.connect(SocketAddr::new(ip, 0))?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send(&packet)?;
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 1500];
        loop {
            socket.set_read_timeout(Some(remaining(deadline)))?;
            let n = socket.recv(&mut buffer)?;
            // A raw socket hands over the IPv4 header too.
            let start = if raw { header_length(&buffer[..n]) } else { 0 };
            let icmp = &buffer[start.min(n)..n];
            // Echo reply (type 0) carrying our payload; anything else is read past.
            if icmp.len() >= 8 && icmp[0] == 0 && contains(&icmp[8..], payload.as_bytes()) {
                return Ok::<_, io::Error>(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
        }
    })();
    let how = if raw { "raw socket" } else { "ping socket" };
    match result {
        Ok(()) => {
            let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
            observation.ack = true;
            observation.note = Some(format!("echo reply with the nonce ({how})"));
            observation
        }
        Err(error) => from_error(spec, &format!("icmp echo ({how})"), &error),
    }
}

/// A ping socket, else (EACCES or EPERM: the group range forbids it) a raw ICMP socket; true
/// when raw.
fn open_socket() -> io::Result<(UdpSocket, bool)> {
    match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(socket) => Ok((UdpSocket::from(socket), false)),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
                .map(|socket| (UdpSocket::from(socket), true))
                .map_err(|_| error)
        }
        Err(error) => Err(error),
    }
}

/// The echo request: a ping socket's kernel fills in the identifier and the checksum; a raw
/// socket sends the bytes as they are, so they carry both.
fn echo_request(payload: &[u8], raw: bool) -> Vec<u8> {
    let mut packet = vec![8u8, 0, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(payload);
    if raw {
        let identifier = (std::process::id() as u16).to_be_bytes();
        packet[4..6].copy_from_slice(&identifier);
        let sum = checksum(&packet).to_be_bytes();
        packet[2..4].copy_from_slice(&sum);
    }
    packet
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The length of the IPv4 header that starts `packet` (IHL words of four bytes).
fn header_length(packet: &[u8]) -> usize {
    packet.first().map_or(0, |b| usize::from(b & 0x0f) * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's own example sums to 0xddf2; a packet with its checksum in place sums to 0.
    #[test]
    fn the_checksum_is_rfc_1071s() {
        let example = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&example), !0xddf2);
        let packet = echo_request(b"CB-NONCE n1", true);
        assert_eq!(checksum(&packet), 0);
        assert_eq!(&echo_request(b"x", false)[2..4], [0, 0]);
    }

    /// An echo to this machine's loopback comes back with the nonce, through a ping socket or,
    /// where the group range forbids those (this machine's "1 0"), a raw one as root.
    #[test]
    fn an_echo_to_loopback_comes_back() {
        let spec = AttemptSpec {
            id: "icmp#0".into(),
            kind: crate::wire::AttemptKind::Ping {
                ip: [127, 0, 0, 1].into(),
            },
            nonce: "n1".into(),
            timeout_ms: 1000,
            stage: crate::wire::Stage::Fixed,
        };
        let opened = open_socket();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if opened.is_err() && !root {
            eprintln!("neither a ping socket nor a raw one may be opened here: nothing to try");
            return;
        }
        let seen = ping(&spec, [127, 0, 0, 1].into(), Duration::from_secs(1));
        assert_eq!(
            (seen.outcome(), seen.ack),
            (Outcome::Connected, true),
            "{seen:?}"
        );
    }

    #[test]
    fn the_ipv4_header_length_is_read_from_ihl() {
        assert_eq!(header_length(&[0x45, 0]), 20);
        assert_eq!(header_length(&[0x46]), 24);
        assert_eq!(header_length(&[]), 0);
    }
}
