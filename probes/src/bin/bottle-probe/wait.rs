//! `bottle-probe wait-tcp`: waits, from inside the agent, until every given TCP address accepts
//! a connection (a user's bundle is a black box that says nothing when it is ready, and the
//! agent's network is the one the probes use). Each address is retried every 10 ms until it
//! accepts once or the deadline passes; nothing is sent on an accepted connection.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one connect may take: the bundle is on the agent's own bridge.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// The pause between two tries at a closed port.
const RETRY: Duration = Duration::from_millis(10);

/// `wait-tcp DEADLINE_MS ADDR...`: exits 0 when every address accepted, 1 when one did not in
/// time, 2 on bad arguments.
pub(crate) fn main(args: Vec<String>) -> ! {
    let bad = |message: &str| -> ! {
        eprintln!("bottle-probe wait-tcp: {message}");
        std::process::exit(2);
    };
    let Some((deadline, addrs)) = args.split_first() else {
        bad("expected DEADLINE_MS ADDR...")
    };
    let deadline: u64 = deadline
        .parse()
        .unwrap_or_else(|_| bad("DEADLINE_MS must be a number"));
    let addrs: Vec<SocketAddr> = addrs
        .iter()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| bad(&format!("bad address {a:?}")))
        })
        .collect();
    if addrs.is_empty() {
        bad("no address to wait for");
    }
    let started = Instant::now();
    let until = started + Duration::from_millis(deadline);
    let mut all_open = true;
    for addr in addrs {
        match wait_one(addr, until) {
            Ok(()) => println!("CB-OPEN {addr} {}", started.elapsed().as_millis()),
            Err(last) => {
                all_open = false;
                println!("CB-CLOSED {addr} {last}");
            }
        }
    }
    std::process::exit(if all_open { 0 } else { 1 });
}

/// Connects to `addr` until it accepts or `until` passes; the error is the last refusal.
fn wait_one(addr: SocketAddr, until: Instant) -> Result<(), String> {
    loop {
        let error = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => error.to_string().replace(char::is_whitespace, "_"),
        };
        if Instant::now() + RETRY >= until {
            return Err(error);
        }
        std::thread::sleep(RETRY);
    }
}
