//! The DNS attempts: an A query over UDP or TCP to a given server, or to the agent's own
//! configured resolver (the first `nameserver` of `/etc/resolv.conf`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::exchange::{is_reset, read_with_end, remaining};
use super::outcome::{failed, from_error};
use crate::dns as codec;
use crate::sys::dns_tcp::{self, Unframed};
use crate::wire::{AttemptSpec, Observation, Outcome, StreamEnd};

/// The query to the agent's configured resolver, over TCP when `tcp`; the note names the
/// resolver.
pub(crate) fn resolver(
    spec: &AttemptSpec,
    tcp: bool,
    qname: &str,
    timeout: Duration,
) -> Observation {
    match configured_resolver() {
        Ok(server) => {
            let mut observation = if tcp {
                dns_tcp(spec, server, qname, timeout)
            } else {
                dns_udp(spec, server, qname, timeout)
            };
            let note = format!("resolver {server}");
            observation.note = Some(match observation.note.take() {
                Some(existing) => format!("{note}; {existing}"),
                None => note,
            });
            observation
        }
        Err(message) => failed(spec, Outcome::Error, None, message),
    }
}

/// The query id, derived from the nonce: a reply with another id answers somebody else.
fn query_id(nonce: &str) -> u16 {
    nonce
        .bytes()
        .fold(0x9e37u16, |acc, b| acc.rotate_left(5) ^ u16::from(b))
}

/// The observation of a DNS reply to the query with `id`.
fn answered(spec: &AttemptSpec, reply: &[u8], id: u16) -> Observation {
    match codec::parse_response(reply) {
        Some(response) if response.id == id => {
            let mut observation = Observation::new(&spec.id, Outcome::Answered, 0);
            observation.rcode = Some(response.rcode);
            observation.answers = response.answers;
            observation
        }
        Some(_) => failed(
            spec,
            Outcome::Error,
            None,
            "DNS reply with a foreign id".into(),
        ),
        None => failed(spec, Outcome::Error, None, "malformed DNS reply".into()),
    }
}

pub(crate) fn dns_udp(
    spec: &AttemptSpec,
    server: SocketAddr,
    qname: &str,
    timeout: Duration,
) -> Observation {
    let id = query_id(&spec.nonce);
    let Some(query) = codec::build_query(id, qname) else {
        return failed(spec, Outcome::Error, None, format!("cannot encode {qname}"));
    };
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let result = (|| {
        let socket = UdpSocket::bind(bind)?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send(&query)?;
        let mut buffer = [0u8; 1500];
        let n = socket.recv(&mut buffer)?;
        Ok::<_, io::Error>(buffer[..n].to_vec())
    })();
    match result {
        Ok(reply) => answered(spec, &reply, id),
        Err(error) => from_error(spec, "udp query", &error),
    }
}

pub(crate) fn dns_tcp(
    spec: &AttemptSpec,
    server: SocketAddr,
    qname: &str,
    timeout: Duration,
) -> Observation {
    let deadline = Instant::now() + timeout;
    let id = query_id(&spec.nonce);
    let Some(query) = codec::build_query(id, qname) else {
        return failed(spec, Outcome::Error, None, format!("cannot encode {qname}"));
    };
    let mut stream = match TcpStream::connect_timeout(&server, timeout) {
        Ok(stream) => stream,
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            return super::tcp::reset_at_connect(spec, &error)
        }
        Err(error) => return from_error(spec, "connect", &error),
    };
    let Some(framed) = dns_tcp::frame(&query) else {
        return failed(spec, Outcome::Error, None, format!("cannot encode {qname}"));
    };
    let _ = stream.set_write_timeout(Some(remaining(deadline)));
    if let Err(error) = stream.write_all(&framed) {
        if is_reset(&error) {
            // The connection was made and then reset: say so, never a timeout or an error.
            let mut observation = failed(
                spec,
                Outcome::Connected,
                error.raw_os_error(),
                format!("connected, then reset before the query went out: {error}"),
            );
            observation.end = Some(StreamEnd::Reset);
            return observation;
        }
        return failed(
            spec,
            Outcome::Error,
            error.raw_os_error(),
            format!("send query: {error}"),
        );
    }
    let (reply, end) = read_with_end(&mut stream, deadline, dns_tcp::is_complete);
    match dns_tcp::unframe(&reply) {
        Unframed::Message(message) => answered(spec, message, id),
        // A TCP connection was made: never report it as a timeout, which would read as a denial.
        Unframed::NoLength => {
            let mut observation = failed(
                spec,
                Outcome::Connected,
                None,
                "connected, but no DNS reply".into(),
            );
            observation.end = Some(end);
            observation
        }
        Unframed::Truncated => failed(
            spec,
            Outcome::Error,
            None,
            "truncated DNS reply over TCP".into(),
        ),
    }
}

/// The first `nameserver` of `/etc/resolv.conf`: what the agent's own lookups use.
fn configured_resolver() -> Result<SocketAddr, String> {
    let mut text = String::new();
    std::fs::File::open("/etc/resolv.conf")
        .and_then(|file| file.take(64 * 1024).read_to_string(&mut text))
        .map_err(|error| format!("read /etc/resolv.conf: {error}"))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .find_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .ok_or_else(|| "no nameserver in /etc/resolv.conf".to_string())
}
