//! The HTTP proxy attempts: a `GET` in absolute form, or a `CONNECT` tunnel with the nonce
//! sent through it, and what the proxy's answer says: its status and which of the proxies' own
//! refusal signatures it carries (see `wire::refusal`); the verdict decides what that proves.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::exchange::{ack_line, contains, read_bounded, remaining};
use super::outcome::{failed, from_error};
use crate::tls;
use crate::wire::refusal::{
    signatures_in, MAX_USER_BODY_PREFIX, PIPELOCK_REASON_HEADER, SQUID_ERROR_HEADER,
};
use crate::wire::{AttemptSpec, Observation, Outcome, TunnelEnd, UserRefusal};

/// What goes through a tunnel the proxy opened: the `CB-NONCE` line (the canary answers it) or
/// a TLS ClientHello (the canary reads its SNI and the nonce in its ALPN names).
enum Through {
    NonceLine,
    ClientHello { sni: String },
}

/// `GET http://<host>:<port>/cb/<nonce>` through the proxy at `proxy`, the Host header naming
/// the same authority: `http_request` with nothing spelled differently.
pub(crate) fn http_get(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    host: &str,
    port: u16,
    refusal: &UserRefusal,
    timeout: Duration,
) -> Observation {
    let authority = format!("{host}:{port}");
    http_request(spec, proxy, (&authority, "", &authority), refusal, timeout)
}

/// `GET http://<authority>/cb/<nonce><after>` with `Host: <host>` through the proxy, each
/// text sent as it is (the spec's decoder checked it holds no space or control character).
pub(crate) fn http_request(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    (authority, after, host): (&str, &str, &str),
    refusal: &UserRefusal,
    timeout: Duration,
) -> Observation {
    let request = format!(
        "GET http://{authority}/cb/{nonce}{after} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        nonce = spec.nonce
    );
    http_via_proxy(spec, proxy, &request, None, refusal, timeout)
}

/// `CONNECT <authority>` through the proxy, then a TLS ClientHello naming `sni` with the nonce
/// among its ALPN names; how the tunnel ended afterwards is reported (`tunnel`).
pub(crate) fn connect_tls(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    authority: &str,
    sni: &str,
    refusal: &UserRefusal,
    timeout: Duration,
) -> Observation {
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let through = Through::ClientHello {
        sni: sni.to_string(),
    };
    http_via_proxy(spec, proxy, &request, Some(through), refusal, timeout)
}

/// `CONNECT <authority>` through the proxy at `proxy`, then the nonce through the tunnel.
pub(crate) fn connect_tunnel(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    authority: &str,
    refusal: &UserRefusal,
    timeout: Duration,
) -> Observation {
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    http_via_proxy(
        spec,
        proxy,
        &request,
        Some(Through::NonceLine),
        refusal,
        timeout,
    )
}

/// Sends `request` to the proxy and reads its response head; through a tunnel (`through` and a
/// `200`), the nonce goes on to the target behind it.
fn http_via_proxy(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    request: &str,
    through: Option<Through>,
    refusal: &UserRefusal,
    timeout: Duration,
) -> Observation {
    let tunnel = through.is_some();
    let deadline = Instant::now() + timeout;
    let mut stream = match TcpStream::connect_timeout(&proxy, timeout) {
        Ok(stream) => stream,
        Err(error) => return from_error(spec, "connect to proxy", &error),
    };
    let _ = stream.set_write_timeout(Some(remaining(deadline)));
    if let Err(error) = stream.write_all(request.as_bytes()) {
        return failed(
            spec,
            Outcome::Error,
            error.raw_os_error(),
            format!("send request: {error}"),
        );
    }
    let ack = ack_line(&spec.nonce);
    let head_done = |buf: &[u8]| contains(buf, b"\r\n\r\n");
    let mut response = if tunnel {
        read_bounded(&mut stream, deadline, head_done)
    } else {
        read_bounded(&mut stream, deadline, |buf| contains(buf, &ack))
    };
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return no_head(spec, &response);
    };
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next();
    let header_lines: Vec<&str> = lines.collect();
    let Some(status) = status_line.and_then(status_of) else {
        return failed(
            spec,
            Outcome::Error,
            None,
            "malformed HTTP status line from the proxy".into(),
        );
    };
    let mut observation = Observation::new(&spec.id, Outcome::Http, 0);
    observation.status = Some(status);
    if tunnel && status != 200 {
        read_refusal_body(
            &mut stream,
            deadline,
            &mut response,
            head_end,
            &header_lines,
        );
    }
    let body = &response[(head_end + 4).min(response.len())..];
    observation.signed = signatures_in(header_lines.iter().copied(), body, refusal);
    observation.reason = block_reason(&header_lines);
    if let (Some(through), 200) = (through, status) {
        let answer = response.split_off(head_end + 4);
        through_tunnel(
            &mut stream,
            deadline,
            &ack,
            through,
            spec,
            answer,
            &mut observation,
        );
    } else {
        observation.ack = contains(&response[head_end..], &ack);
    }
    observation
}

/// The attempt's failure when `response` holds no complete head (a timeout when nothing
/// came): apart from `http_via_proxy` so that the exchange reads as its steps.
fn no_head(spec: &AttemptSpec, response: &[u8]) -> Observation {
    let outcome = if response.is_empty() {
        Outcome::Timeout
    } else {
        Outcome::Error
    };
    failed(
        spec,
        outcome,
        None,
        "no complete HTTP response head from the proxy".into(),
    )
}

/// Reads enough of a refused tunnel's body onto `response` (its head ends at `head_end`) to
/// see the refusal's wording; apart from `http_via_proxy` because the wait has a bound of its
/// own. Content-Length bounds the wait: a proxy that keeps the connection open (Go's server
/// does after a refused CONNECT) would otherwise hold the probe until its deadline.
fn read_refusal_body(
    stream: &mut TcpStream,
    deadline: Instant,
    response: &mut Vec<u8>,
    head_end: usize,
    header_lines: &[&str],
) {
    let length = header_lines
        .iter()
        .find_map(|line| header_value(line, "Content-Length"))
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(MAX_USER_BODY_PREFIX);
    let body_want = length.min(MAX_USER_BODY_PREFIX);
    let want = (head_end + 4 + body_want).saturating_sub(response.len());
    if want > 0 {
        let more = read_bounded(stream, deadline, |buf| buf.len() >= want);
        response.extend(more);
    }
}

/// The proxy's block-reason header (pipelock's, else Squid's): one rule for both headers,
/// apart from the exchange it is read in.
fn block_reason(header_lines: &[&str]) -> Option<String> {
    header_lines
        .iter()
        .find_map(|line| header_value(line, PIPELOCK_REASON_HEADER))
        .or_else(|| {
            header_lines
                .iter()
                .find_map(|line| header_value(line, SQUID_ERROR_HEADER))
        })
}

/// Sends `through` into the tunnel the proxy opened (`stream`, until `deadline`) and reads
/// what comes back onto `answer` (what followed the `200`'s head) until `ack`: whether it came,
/// and for a ClientHello how the tunnel ended. Apart from `http_via_proxy`, which is the
/// exchange with the proxy itself.
fn through_tunnel(
    stream: &mut TcpStream,
    deadline: Instant,
    ack: &[u8],
    through: Through,
    spec: &AttemptSpec,
    mut answer: Vec<u8>,
    observation: &mut Observation,
) {
    match through {
        Through::NonceLine => {
            let _ = stream.write_all(format!("CB-NONCE {}\n", spec.nonce).as_bytes());
            if !contains(&answer, ack) {
                answer.extend(read_bounded(stream, deadline, |buf| contains(buf, ack)));
            }
        }
        Through::ClientHello { sni } => {
            let alpn = format!("{}{}", tls::NONCE_ALPN_PREFIX, spec.nonce);
            let _ = stream.write_all(&tls::client_hello(&sni, &[alpn.as_str()]));
            let (more, end) = read_to_end_of_tunnel(stream, deadline, ack);
            answer.extend(more);
            observation.tunnel = Some(if answer.is_empty() {
                end
            } else {
                TunnelEnd::Answered
            });
        }
    }
    observation.ack = contains(&answer, ack);
}

/// Reads what comes back through a tunnel until `ack`, the end of the stream or the deadline,
/// and says which it was (for an empty read: closed or silent).
fn read_to_end_of_tunnel(
    stream: &mut TcpStream,
    deadline: Instant,
    ack: &[u8],
) -> (Vec<u8>, TunnelEnd) {
    use std::io::Read;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    while buffer.len() < 16 * 1024 && !contains(&buffer, ack) {
        if Instant::now() >= deadline || stream.set_read_timeout(Some(remaining(deadline))).is_err()
        {
            return (buffer, TunnelEnd::Silent);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (buffer, TunnelEnd::Closed),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (buffer, TunnelEnd::Silent)
            }
            // A reset is the proxy closing the tunnel too.
            Err(_) => return (buffer, TunnelEnd::Closed),
        }
    }
    (buffer, TunnelEnd::Answered)
}

/// The status of an HTTP/1.x status line, when it is one (100 to 599).
fn status_of(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts
        .next()?
        .parse::<u16>()
        .ok()
        .filter(|status| (100..=599).contains(status))
}

/// The value of header `name` when `line` is that header (at most 80 characters).
fn header_value(line: &str, name: &str) -> Option<String> {
    let (found, value) = line.split_once(':')?;
    found
        .trim()
        .eq_ignore_ascii_case(name)
        .then(|| value.trim().chars().take(80).collect())
}
