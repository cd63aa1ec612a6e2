//! `/proc/net/route`: one IPv4 route a line after a header line, addresses as 8 hex digits in
//! the kernel's (little-endian) byte order:
//!
//! ```text
//! Iface  Destination Gateway  Flags RefCnt Use Metric Mask     MTU Window IRTT
//! br-1a2b 0005D20A   00000000 0001  0      0   0      00FFFFFF 0   0      0
//! ```

use std::net::Ipv4Addr;

/// One line of the routing table: the fields the suite decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The interface the route goes out through (`eth0`, `br-1a2b3c4d5e6f`, `docker0`).
    pub interface: String,
    /// The destination network, as the table states it (already masked).
    pub destination: Ipv4Addr,
    pub mask: Ipv4Addr,
}

impl Route {
    /// Whether this is a default route (mask 0): it covers every address, so it says nothing
    /// about which networks this machine is on.
    pub fn is_default(&self) -> bool {
        self.mask.is_unspecified()
    }

    /// Whether `ip` lies in this route's destination network.
    pub fn covers(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask) == u32::from(self.destination)
    }
}

/// Parses the table's text: the header line is skipped, and so is any line whose interface,
/// destination or mask does not parse. Default routes are kept ([`Route::is_default`]).
pub fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(Route {
                interface: fields.first()?.to_string(),
                destination: kernel_hex(fields.get(1)?)?,
                mask: kernel_hex(fields.get(7)?)?,
            })
        })
        .collect()
}

/// An address as the table prints it: hex of the address's bytes read as a little-endian u32.
fn kernel_hex(text: &str) -> Option<Ipv4Addr> {
    let value = u32::from_str_radix(text, 16).ok()?;
    Some(Ipv4Addr::from(value.to_le_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        br-1a2b\t0005D20A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        broken\tnothex\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        short\t0005D20A\n";

    #[test]
    fn parses_routes_in_kernel_byte_order_and_skips_bad_lines() {
        let routes = parse_routes(TABLE);
        assert_eq!(routes.len(), 3, "{routes:?}");
        assert!(routes[0].is_default());
        assert_eq!(routes[0].interface, "eth0");
        assert_eq!(
            routes[1],
            Route {
                interface: "br-1a2b".into(),
                destination: Ipv4Addr::new(10, 210, 5, 0),
                mask: Ipv4Addr::new(255, 255, 255, 0),
            }
        );
        assert_eq!(routes[2].destination, Ipv4Addr::new(172, 17, 0, 0));
        assert_eq!(routes[2].mask, Ipv4Addr::new(255, 255, 0, 0));
    }

    #[test]
    fn a_route_covers_its_network_only() {
        let routes = parse_routes(TABLE);
        assert!(routes[1].covers(Ipv4Addr::new(10, 210, 5, 3)));
        assert!(!routes[1].covers(Ipv4Addr::new(10, 210, 6, 3)));
        // A default route covers everything; callers that want real networks skip it.
        assert!(routes[0].covers(Ipv4Addr::new(192, 0, 2, 7)));
    }

    #[test]
    fn an_empty_or_header_only_table_has_no_routes() {
        assert!(parse_routes("").is_empty());
        assert!(parse_routes(TABLE.lines().next().unwrap()).is_empty());
    }
}
