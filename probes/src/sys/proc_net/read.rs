//! Reads the live tables of this machine (of the network namespace the process runs in).
//! Linux only: the files do not exist elsewhere.

use std::io;

use super::{parse_if_inet6, parse_routes, Inet6Address, Route};

/// Where the kernel shows the IPv4 routing table.
pub const ROUTE: &str = "/proc/net/route";
/// Where the kernel shows the IPv6 addresses.
pub const IF_INET6: &str = "/proc/net/if_inet6";

/// The text of [`IF_INET6`]; empty when the file is absent, which is a kernel without IPv6
/// (no address at all), not a failure.
pub fn if_inet6_text() -> io::Result<String> {
    match std::fs::read_to_string(IF_INET6) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        read => read,
    }
}

/// This namespace's IPv6 addresses, loopback and tentative ones included; none when the
/// kernel has no IPv6.
pub fn if_inet6() -> io::Result<Vec<Inet6Address>> {
    if_inet6_text().map(|text| parse_if_inet6(&text))
}

/// This namespace's IPv4 routes, default routes included.
pub fn routes() -> io::Result<Vec<Route>> {
    std::fs::read_to_string(ROUTE).map(|text| parse_routes(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_routing_table_and_loopback_reads_as_usable() {
        // Every Linux network namespace has the route file; it may hold no route but the header.
        assert!(routes().is_ok());
        let addresses = if_inet6().expect("if_inet6 reads (empty without IPv6)");
        if let Some(lo) = addresses.iter().find(|a| a.interface == "lo") {
            assert_eq!(lo.address, std::net::Ipv6Addr::LOCALHOST);
            assert!(lo.is_usable());
        }
    }
}
