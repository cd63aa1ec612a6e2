//! What `bottle-probe` does for each attempt kind. Blocking std networking on one thread per
//! attempt: the binary must be small, static and free of an async runtime, and every attempt is
//! bounded by its own timeout.
//!
//! Classification is deliberately narrow: only ECONNREFUSED, a timeout, and EHOSTUNREACH /
//! ENETUNREACH are network denials. Anything else (EMFILE, EACCES, a parse failure) is `error`,
//! which the harness never counts as contained.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns;
use crate::timing::unix_ms;
use crate::wire::{AttemptKind, AttemptSpec, Observation, Outcome};

const EHOSTUNREACH: i32 = 113;
const ENETUNREACH: i32 = 101;
const EADDRNOTAVAIL: i32 = 99;
const EAFNOSUPPORT: i32 = 97;
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// Runs one attempt and classifies what happened.
pub fn run(spec: &AttemptSpec) -> Observation {
    let started = Instant::now();
    let timeout = Duration::from_millis(u64::from(spec.timeout_ms.max(1)));
    let mut observation = match &spec.kind {
        AttemptKind::Tcp { addr } => tcp(spec, *addr, timeout),
        AttemptKind::HttpProxy { proxy, host, port } => {
            let request = format!(
                "GET http://{host}:{port}/cb/{nonce} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n",
                nonce = spec.nonce
            );
            http_via_proxy(spec, *proxy, &request, false, timeout)
        }
        AttemptKind::ConnectProxy { proxy, authority } => {
            let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
            http_via_proxy(spec, *proxy, &request, true, timeout)
        }
        AttemptKind::DnsUdp { server, qname } => dns_udp(spec, *server, qname, timeout),
        AttemptKind::DnsTcp { server, qname } => dns_tcp(spec, *server, qname, timeout),
        AttemptKind::Resolver { tcp, qname } => match configured_resolver() {
            Ok(server) => {
                let mut observation = if *tcp {
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
        },
        AttemptKind::Sweep { ip, first, last } => {
            crate::sweep::run(spec, *ip, *first, *last, timeout)
        }
        AttemptKind::Udp { addr } => udp(spec, *addr, timeout),
        AttemptKind::Ping { ip } => ping(spec, *ip, timeout),
        AttemptKind::TcpLinkLocal { ip, port } => tcp_link_local(spec, *ip, *port, timeout),
        AttemptKind::UnixSockets => crate::unix_sockets::scan(spec),
        AttemptKind::Listen { port, own } => listen(spec, *port, *own, timeout),
    };
    observation.elapsed_ms = started.elapsed().as_millis() as u64;
    observation
}

pub(crate) fn failed(
    spec: &AttemptSpec,
    outcome: Outcome,
    errno: Option<i32>,
    note: String,
) -> Observation {
    let mut observation = Observation::new(&spec.id, outcome, 0);
    observation.errno = errno;
    observation.note = Some(note);
    observation
}

/// Maps an I/O error to an outcome; only three kinds count as the network saying no.
pub fn classify(error: &io::Error) -> Outcome {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout,
        _ => match error.raw_os_error() {
            Some(EHOSTUNREACH) | Some(ENETUNREACH) => Outcome::Unreachable,
            _ => Outcome::Error,
        },
    }
}

fn from_error(spec: &AttemptSpec, stage: &str, error: &io::Error) -> Observation {
    failed(
        spec,
        classify(error),
        error.raw_os_error(),
        format!("{stage}: {error}"),
    )
}

pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50))
}

/// Reads until EOF, `stop` says the buffer is complete, the cap, or the deadline.
fn read_bounded(
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn ack_line(nonce: &str) -> Vec<u8> {
    format!("CB-ACK {nonce}").into_bytes()
}

fn tcp(spec: &AttemptSpec, addr: SocketAddr, timeout: Duration) -> Observation {
    let deadline = Instant::now() + timeout;
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(error) => {
            return no_ipv6(spec, addr.ip(), &error)
                .unwrap_or_else(|| from_error(spec, "connect", &error))
        }
    };
    let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
    let _ = stream.set_write_timeout(Some(remaining(deadline)));
    if stream
        .write_all(format!("CB-NONCE {}\n", spec.nonce).as_bytes())
        .is_ok()
    {
        let ack = ack_line(&spec.nonce);
        let reply = read_bounded(&mut stream, deadline, |buf| contains(buf, &ack));
        observation.ack = contains(&reply, &ack);
    }
    observation
}

/// IPv6 address flags (`/proc/net/if_inet6`, 5th column): not usable yet / never usable.
const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_DADFAILED: u32 = 0x08;

/// This namespace's usable IPv6 addresses (interface name, index, address) from
/// `/proc/net/if_inet6`, loopback included, tentative ones (duplicate address detection still
/// running) left out; `None` when the file cannot be read at all (nothing can be concluded).
pub fn ipv6_interfaces() -> Option<Vec<(String, u32, std::net::Ipv6Addr)>> {
    ipv6_addresses(false)
}

/// As [`ipv6_interfaces`], with tentative addresses when `tentative` (for naming interfaces,
/// where an address still in duplicate address detection counts: the interface has IPv6).
fn ipv6_addresses(tentative: bool) -> Option<Vec<(String, u32, std::net::Ipv6Addr)>> {
    let text = match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(text) => text,
        // The file is absent when the kernel has no IPv6 at all.
        Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
        Err(_) => return None,
    };
    Some(
        text.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let hex = fields.first()?;
                let index = u32::from_str_radix(fields.get(1)?, 16).ok()?;
                let flags = u32::from_str_radix(fields.get(4)?, 16).ok()?;
                if !tentative && flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0 {
                    return None;
                }
                let name = fields.get(5)?.to_string();
                let bits = u128::from_str_radix(hex, 16).ok()?;
                Some((name, index, std::net::Ipv6Addr::from(bits)))
            })
            .collect(),
    )
}

/// A connect to a native IPv6 destination that failed because the agent has no IPv6 address
/// at all (EADDRNOTAVAIL, EAFNOSUPPORT): no packet can have left, which is a denial, but only
/// with the agent's own address table as evidence. With any IPv6 address present the same
/// errno may mean something else, so it stays an error.
fn no_ipv6(spec: &AttemptSpec, ip: IpAddr, error: &io::Error) -> Option<Observation> {
    let IpAddr::V6(v6) = ip else { return None };
    if v6.to_ipv4_mapped().is_some() {
        return None;
    }
    let errno = error.raw_os_error()?;
    if errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT {
        return None;
    }
    // Every line counts here, tentative addresses too: an address still in duplicate address
    // detection is IPv6 the agent is about to have.
    let any_address = match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(text) => text.lines().any(|line| !line.trim().is_empty()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(_) => return None,
    };
    (!any_address).then(|| {
        failed(
            spec,
            Outcome::Unreachable,
            Some(errno),
            format!(
                "connect: {error}; the agent has no IPv6 address (/proc/net/if_inet6 is empty)"
            ),
        )
    })
}

fn tcp_link_local(
    spec: &AttemptSpec,
    ip: std::net::Ipv6Addr,
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
        .filter(|(name, _, _)| name != "lo")
        .map(|(name, index, _)| (name, index))
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
        let addr = SocketAddr::V6(std::net::SocketAddrV6::new(ip, port, 0, *index));
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

/// The inbound probe: accept whatever arrives on `port` until the deadline. Any peer other than
/// the agent itself is reach (the note names it); only the self-check arriving is a denial;
/// no self-check means the listener proved nothing.
fn listen(
    spec: &AttemptSpec,
    port: u16,
    own: std::net::Ipv4Addr,
    timeout: Duration,
) -> Observation {
    use std::net::TcpListener;
    // Dual-stack where the agent has IPv6 (dialled over IPv6 too), IPv4 otherwise.
    let listener = TcpListener::bind(SocketAddr::new(
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        port,
    ))
    .or_else(|_| TcpListener::bind(SocketAddr::new(IpAddr::V4([0, 0, 0, 0].into()), port)));
    let listener = match listener.and_then(|l| l.set_nonblocking(true).map(|()| l)) {
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
    let nonce = spec.nonce.clone();
    // The self-check retries until shortly before the window closes: on a loaded machine its
    // thread may start late, and one failed try must not void the whole probe.
    let self_check = std::thread::spawn(move || {
        let target = SocketAddr::new(own.into(), port);
        let give_up = deadline - Duration::from_millis(100).min(timeout / 4);
        loop {
            let tried = TcpStream::connect_timeout(&target, remaining(give_up))
                .and_then(|mut s| s.write_all(format!("CB-NONCE self-{nonce}\n").as_bytes()));
            if tried.is_ok() || Instant::now() >= give_up {
                return tried;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut foreign = Vec::new();
    let mut saw_self = false;
    let mut take = |peer: SocketAddr| {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if peer.ip() == IpAddr::V4(own) {
            saw_self = true;
        } else if !peer.ip().is_loopback() {
            foreign.push(peer);
        }
    };
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((_, peer)) => take(peer),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let window = Some((opened, unix_ms()));
    let self_sent = matches!(self_check.join(), Ok(Ok(())));
    // Connections the kernel completed before the deadline wait in the backlog: drain them
    // (bounded), so a late self-check or a late dialer is still counted.
    for _ in 0..256 {
        match listener.accept() {
            Ok((_, peer)) => take(peer),
            Err(_) => break,
        }
    }
    if !foreign.is_empty() {
        let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
        let peers: Vec<String> = foreign.iter().take(8).map(ToString::to_string).collect();
        observation.note = Some(format!("inbound connections from {}", peers.join(",")));
        observation.window = window;
        return observation;
    }
    if saw_self && self_sent {
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

fn udp(spec: &AttemptSpec, addr: SocketAddr, timeout: Duration) -> Observation {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let ack = ack_line(&spec.nonce);
    let result = (|| {
        let socket = UdpSocket::bind(bind)?;
        socket.connect(addr)?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send(format!("CB-NONCE {}\n", spec.nonce).as_bytes())?;
        let mut buffer = [0u8; 512];
        let n = socket.recv(&mut buffer)?;
        Ok::<_, io::Error>(buffer[..n].to_vec())
    })();
    match result {
        Ok(reply) => {
            // Any datagram back is reach; the ack says it was the fixture.
            let mut observation = Observation::new(&spec.id, Outcome::Connected, 0);
            observation.ack = contains(&reply, &ack);
            observation.note = Some("a datagram came back".into());
            observation
        }
        Err(error) => no_ipv6(spec, addr.ip(), &error)
            .unwrap_or_else(|| from_error(spec, "udp exchange", &error)),
    }
}

/// ICMP echo through an unprivileged ping socket (`SOCK_DGRAM`, `IPPROTO_ICMP`): the kernel
/// fills in the identifier and checksum. The fd is wrapped in a `UdpSocket`, whose connect,
/// send, recv and timeouts are plain socket calls that work on it unchanged.
fn ping(spec: &AttemptSpec, ip: IpAddr, timeout: Duration) -> Observation {
    use std::os::fd::FromRawFd;
    let IpAddr::V4(_) = ip else {
        return failed(
            spec,
            Outcome::Error,
            None,
            "ICMPv6 echo is not implemented".into(),
        );
    };
    // SAFETY: plain socket(2); the fd is owned by the UdpSocket from here on.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return failed(
            spec,
            Outcome::Error,
            error.raw_os_error(),
            format!("ICMP socket: {error} (net.ipv4.ping_group_range forbids ping sockets?)"),
        );
    }
    // SAFETY: fd is a fresh, valid socket that nothing else owns.
    let socket = unsafe { UdpSocket::from_raw_fd(fd) };
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

fn http_via_proxy(
    spec: &AttemptSpec,
    proxy: SocketAddr,
    request: &str,
    tunnel: bool,
    timeout: Duration,
) -> Observation {
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
        let outcome = if response.is_empty() {
            Outcome::Timeout
        } else {
            Outcome::Error
        };
        return failed(
            spec,
            outcome,
            None,
            "no complete HTTP response head from the proxy".into(),
        );
    };
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| {
            let mut parts = line.split(' ');
            let version = parts.next()?;
            if !version.starts_with("HTTP/1.") {
                return None;
            }
            parts.next()?.parse::<u16>().ok()
        })
        .filter(|status| (100..=599).contains(status));
    let Some(status) = status else {
        return failed(
            spec,
            Outcome::Error,
            None,
            "malformed HTTP status line from the proxy".into(),
        );
    };
    let mut observation = Observation::new(&spec.id, Outcome::Http, 0);
    observation.status = Some(status);
    observation.deny = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("x-pipelock-deny")
            .then(|| value.trim().chars().take(80).collect())
    });
    if tunnel && status == 200 {
        let _ = stream.write_all(format!("CB-NONCE {}\n", spec.nonce).as_bytes());
        response = response.split_off(head_end + 4);
        if !contains(&response, &ack) {
            response.extend(read_bounded(&mut stream, deadline, |buf| {
                contains(buf, &ack)
            }));
        }
        observation.ack = contains(&response, &ack);
    } else {
        observation.ack = contains(&response[head_end..], &ack);
    }
    observation
}

fn query_id(nonce: &str) -> u16 {
    nonce
        .bytes()
        .fold(0x9e37u16, |acc, b| acc.rotate_left(5) ^ u16::from(b))
}

fn answered(spec: &AttemptSpec, reply: &[u8], id: u16) -> Observation {
    match dns::parse_response(reply) {
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

fn dns_udp(spec: &AttemptSpec, server: SocketAddr, qname: &str, timeout: Duration) -> Observation {
    let id = query_id(&spec.nonce);
    let Some(query) = dns::build_query(id, qname) else {
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

fn dns_tcp(spec: &AttemptSpec, server: SocketAddr, qname: &str, timeout: Duration) -> Observation {
    let deadline = Instant::now() + timeout;
    let id = query_id(&spec.nonce);
    let Some(query) = dns::build_query(id, qname) else {
        return failed(spec, Outcome::Error, None, format!("cannot encode {qname}"));
    };
    let mut stream = match TcpStream::connect_timeout(&server, timeout) {
        Ok(stream) => stream,
        Err(error) => return from_error(spec, "connect", &error),
    };
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    let _ = stream.set_write_timeout(Some(remaining(deadline)));
    if let Err(error) = stream.write_all(&framed) {
        return failed(
            spec,
            Outcome::Error,
            error.raw_os_error(),
            format!("send query: {error}"),
        );
    }
    let reply = read_bounded(&mut stream, deadline, |buf| {
        buf.len() >= 2 && buf.len() >= 2 + usize::from(u16::from_be_bytes([buf[0], buf[1]]))
    });
    if reply.len() < 2 {
        // A TCP connection was made: never report it as a timeout, which would read as a denial.
        return failed(
            spec,
            Outcome::Connected,
            None,
            "connected, but no DNS reply".into(),
        );
    }
    let len = usize::from(u16::from_be_bytes([reply[0], reply[1]]));
    match reply.get(2..2 + len) {
        Some(message) => answered(spec, message, id),
        None => failed(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn spec(kind: AttemptKind) -> AttemptSpec {
        AttemptSpec {
            id: "t#0".into(),
            kind,
            nonce: "nonce1".into(),
            timeout_ms: 1000,
            stage: crate::wire::Stage::Fixed,
        }
    }

    #[test]
    fn tcp_connect_with_ack_and_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"CB-NONCE nonce1\n");
            conn.write_all(b"CB-ACK nonce1\n").unwrap();
        });
        let observation = run(&spec(AttemptKind::Tcp { addr }));
        server.join().unwrap();
        assert_eq!(observation.outcome(), Outcome::Connected);
        assert!(observation.ack);

        // The listener is gone: the same port now refuses.
        let observation = run(&spec(AttemptKind::Tcp { addr }));
        assert_eq!(observation.outcome(), Outcome::Refused, "{observation:?}");
    }

    #[test]
    fn a_silent_peer_is_connected_without_ack() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = spec(AttemptKind::Tcp { addr });
        s.timeout_ms = 200;
        let observation = run(&s);
        assert_eq!(observation.outcome(), Outcome::Connected);
        assert!(!observation.ack);
        drop(listener);
    }

    #[test]
    fn a_listener_reports_its_self_check_and_nothing_else() {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut s = spec(AttemptKind::Listen {
            port,
            own: "127.0.0.1".parse().unwrap(),
        });
        s.timeout_ms = 300;
        let before = unix_ms();
        let observation = run(&s);
        assert_eq!(observation.outcome(), Outcome::Refused, "{observation:?}");
        // The window it reports is the listening time, on this machine's clock.
        let (open, close) = observation.window.expect("a window");
        assert!(before <= open && close <= unix_ms(), "{observation:?}");
        assert!(close - open >= 300, "{observation:?}");
        assert!(observation
            .note
            .unwrap()
            .contains("only its own connection"));
    }

    #[test]
    fn sweep_finds_exactly_the_open_ports() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        let first = port.saturating_sub(20).max(1);
        let last = port.saturating_add(20);
        let observation = run(&spec(AttemptKind::Sweep {
            ip: "127.0.0.1".parse().unwrap(),
            first,
            last,
        }));
        assert_eq!(observation.outcome(), Outcome::Swept);
        assert!(observation.open.contains(&port), "{observation:?}");
        assert_eq!(observation.scanned, Some(u32::from(last - first) + 1));
    }
}
