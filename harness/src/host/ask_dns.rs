//! One DNS question from this machine, answered or not: how the harness switches the allowed
//! name's answer at the DNS canary where it can reach the canary itself (see
//! `run::dns_switch`). The canary's answer decides whether the switch took.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bottle_probes::dns;

/// How long the canary may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);

/// Asks `server` for `qname` (type A) over UDP; its parsed reply, or why there is none.
pub(crate) fn ask_dns_udp(server: SocketAddr, qname: &str) -> Result<dns::Response, String> {
    let query = dns::build_query(0x5357, qname).ok_or("cannot encode the query")?;
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    socket.send(&query).map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 512];
    let n = socket
        .recv(&mut buffer)
        .map_err(|e| format!("no DNS reply from {server}: {e}"))?;
    dns::parse_response(&buffer[..n]).ok_or_else(|| format!("an unreadable reply from {server}"))
}
