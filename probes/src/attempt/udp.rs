//! The UDP attempt: one datagram with the nonce, and whatever comes back.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::exchange::{ack_line, contains};
use super::ipv6::no_ipv6;
use super::outcome::from_error;
use crate::wire::{AttemptSpec, Observation, Outcome};

/// Sends `CB-NONCE <nonce>` to `addr` and waits for a datagram back.
pub(crate) fn udp(spec: &AttemptSpec, addr: SocketAddr, timeout: Duration) -> Observation {
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
