//! The TCP attempts: a connect with the nonce exchange, to an address or to an IPv6
//! link-local address on each of the agent's interfaces.

use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::time::{Duration, Instant};

use super::exchange::{ack_line, contains, read_bounded, remaining};
use super::ipv6::{ipv6_addresses, no_ipv6};
use super::outcome::{failed, from_error};
use crate::wire::{AttemptSpec, Observation, Outcome};

/// Connects, sends `CB-NONCE <nonce>` and waits for the `CB-ACK` back.
pub(crate) fn tcp(spec: &AttemptSpec, addr: SocketAddr, timeout: Duration) -> Observation {
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
