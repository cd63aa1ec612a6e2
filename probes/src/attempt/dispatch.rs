//! Runs one attempt: picks the module for its kind and measures how long it took. Blocking std
//! networking on one thread per attempt: the binary must be small, static and free of an async
//! runtime, and every attempt is bounded by its own timeout.

use std::time::{Duration, Instant};

use super::{dns, http, icmp, listen, sweep, tcp, udp, unix_sockets};
use crate::wire::{AttemptKind, AttemptSpec, Observation};

/// Runs one attempt and classifies what happened.
pub fn run(spec: &AttemptSpec) -> Observation {
    let started = Instant::now();
    let timeout = Duration::from_millis(u64::from(spec.timeout_ms.max(1)));
    let mut observation = match &spec.kind {
        AttemptKind::Tcp { addr } => tcp::tcp(spec, *addr, timeout),
        AttemptKind::HttpProxy {
            proxy,
            host,
            port,
            refusal,
        } => http::http_get(spec, *proxy, host, *port, refusal, timeout),
        AttemptKind::ConnectProxy {
            proxy,
            authority,
            refusal,
        } => http::connect_tunnel(spec, *proxy, authority, refusal, timeout),
        AttemptKind::HttpRequest {
            proxy,
            authority,
            after,
            host,
            refusal,
        } => http::http_request(spec, *proxy, (authority, after, host), refusal, timeout),
        AttemptKind::ConnectTls {
            proxy,
            authority,
            sni,
            refusal,
        } => http::connect_tls(spec, *proxy, authority, sni, refusal, timeout),
        AttemptKind::DnsUdp { server, qname } => dns::dns_udp(spec, *server, qname, timeout),
        AttemptKind::DnsTcp { server, qname } => dns::dns_tcp(spec, *server, qname, timeout),
        AttemptKind::Resolver { tcp, qname } => dns::resolver(spec, *tcp, qname, timeout),
        AttemptKind::Sweep { ip, first, last } => sweep::run(spec, *ip, *first, *last, timeout),
        AttemptKind::Udp { addr } => udp::udp(spec, *addr, timeout),
        AttemptKind::Ping { ip } => icmp::ping(spec, *ip, timeout),
        AttemptKind::TcpLinkLocal { ip, port } => tcp::tcp_link_local(spec, *ip, *port, timeout),
        AttemptKind::UnixSockets => unix_sockets::scan(spec),
        AttemptKind::Listen { port, own } => listen::listen(spec, *port, *own, timeout),
    };
    observation.elapsed_ms = started.elapsed().as_millis() as u64;
    observation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::unix_ms;
    use crate::wire::Outcome;
    use std::io::{Read, Write};
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
