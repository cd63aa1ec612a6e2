//! Picking the bottle's subnets: random /24s in 10.200.0.0 - 10.250.255.0 clear of this
//! machine's own routes, random unique-local IPv6 /64s, the fault knob that makes a bring-up
//! meet a taken subnet, and recognising the engine's answer when a subnet is taken.

use bottle_probes::sys::proc_net;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::labels;

/// Subnet picks before giving up (each /24 triple is random in 10.200.0.0 - 10.250.255.0).
pub(crate) const SUBNET_ATTEMPTS: u32 = 12;

/// A random unique-local /64 prefix for one run's network `index`: `fdcb:RRRR:RRRR:index::`.
/// Unique local addresses are never routed outside a site, and `fdcb::/16` is this harness's.
pub(crate) fn random_v6_prefix(index: u16) -> Ipv6Addr {
    let mut bytes = [0u8; 4];
    labels::fill_random(&mut bytes);
    Ipv6Addr::new(
        0xfdcb,
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]]),
        index,
        0,
        0,
        0,
        0,
    )
}

/// The address `host` inside a /64 prefix.
pub(crate) fn v6_host(prefix: Ipv6Addr, host: u16) -> Ipv6Addr {
    let mut segments = prefix.segments();
    segments[7] = host;
    Ipv6Addr::from(segments)
}

/// The IPv4 routes of this machine (destination, mask), default route excluded.
fn host_routes() -> Vec<(u32, u32)> {
    parse_routes(&std::fs::read_to_string(ROUTE_TABLE).unwrap_or_default())
}

/// This machine's routes that are not Docker's own bridges (`br-<id>`, `docker0`): the real
/// networks a test knob must stay clear of, while the network a test took for it is allowed.
fn routes_outside_docker() -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string(ROUTE_TABLE).unwrap_or_default();
    proc_net::parse_routes(&text)
        .iter()
        .filter(|r| !r.is_default())
        .filter(|r| !r.interface.starts_with("br-") && !r.interface.starts_with("docker0"))
        .map(as_pair)
        .collect()
}

/// Where Linux lists its IPv4 routes (absent elsewhere: then no route is known to avoid).
const ROUTE_TABLE: &str = "/proc/net/route";

/// The routes of a `/proc/net/route` text as (destination, mask), default route excluded.
fn parse_routes(text: &str) -> Vec<(u32, u32)> {
    proc_net::parse_routes(text)
        .iter()
        .filter(|r| !r.is_default())
        .map(as_pair)
        .collect()
}

fn as_pair(route: &proc_net::Route) -> (u32, u32) {
    (u32::from(route.destination), u32::from(route.mask))
}

/// Whether a /24 overlaps a route this machine already has (a real LAN, a VPN): the bottle's
/// networks must never shadow, or be confused with, addresses that are not the harness's.
fn overlaps_host_route(base: Ipv4Addr, routes: &[(u32, u32)]) -> bool {
    let net = u32::from(base);
    let mask24 = 0xffff_ff00u32;
    routes
        .iter()
        .any(|(dest, mask)| (net & mask) == (dest & mask) || (dest & mask24) == net)
}

/// Eight consecutive random /24 bases, none overlapping a route of this machine (after 64 tries,
/// the last pick stands; the engine then refuses what clashes and the bring-up retries).
pub(crate) fn random_bases() -> [Ipv4Addr; 8] {
    let routes = host_routes();
    let mut candidate = [Ipv4Addr::UNSPECIFIED; 8];
    for _ in 0..64 {
        let mut bytes = [0u8; 2];
        labels::fill_random(&mut bytes);
        let second = 200 + bytes[0] % 51;
        let third = bytes[1] % 248;
        candidate =
            [0, 1, 2, 3, 4, 5, 6, 7].map(|offset| Ipv4Addr::new(10, second, third + offset, 0));
        if !candidate
            .iter()
            .any(|base| overlaps_host_route(*base, &routes))
        {
            break;
        }
    }
    candidate
}

/// Fault injection for the tests (`harness/tests/faults.rs`): `CLAUDE_BOTTLE_FAULT_TAKEN_SUBNET=
/// <a.b.c.0>` puts the first bring-up attempt's LAN network on that /24, which the test has
/// taken with a network of its own, so that a subnet clash in the middle of a bring-up (other
/// networks made, containers starting) and its retry are exercised. A malformed value is
/// ignored with a warning; the knob only ever makes a run retry.
pub const FAULT_TAKEN_SUBNET_ENV: &str = "CLAUDE_BOTTLE_FAULT_TAKEN_SUBNET";

/// The /24 the fault knob asks for, when it is set to one the harness could have picked itself.
pub(crate) fn fault_taken_subnet() -> Option<Ipv4Addr> {
    let value = std::env::var(FAULT_TAKEN_SUBNET_ENV).ok()?;
    match value.trim().parse::<Ipv4Addr>() {
        Ok(base)
            if in_harness_range(base) && !overlaps_host_route(base, &routes_outside_docker()) =>
        {
            Some(base)
        }
        _ => {
            tracing::warn!(
                "{FAULT_TAKEN_SUBNET_ENV}={value:?} is not a 10.200-250.x.0 base clear of this \
                 machine's own (non-Docker) routes; ignored"
            );
            None
        }
    }
}

/// A /24 base the harness itself would pick (see `random_bases`).
fn in_harness_range(base: Ipv4Addr) -> bool {
    let [a, b, c, d] = base.octets();
    a == 10 && (200..=250).contains(&b) && c < 255 && d == 0
}

/// The status the engine answers a taken subnet with: libnetwork's errors of that kind are
/// "forbidden" errors, which the API maps to 403.
const CLASH_STATUS: u16 = 403;

/// The messages libnetwork gives a taken subnet (Docker 20.10 and later):
/// `ipamapi.ErrPoolOverlap` (another network's IPAM pool holds the range; what a second
/// `docker network create --subnet` of the same /24 gets here: 403, "Pool overlaps with other one
/// on this address space", or "invalid pool request: Pool overlaps ..." on newer engines), and
/// the bridge driver's own conflict check ("... conflicts with network ...: networks have
/// overlapping IPv4" / "IPv6").
const CLASH_MESSAGES: [&str; 2] = [
    "Pool overlaps with other one on this address space",
    "networks have overlapping IPv",
];

/// Whether the engine refused a network because its subnet is taken (by another bottle, another
/// run or the user's own network), so that the bring-up may retry on other subnets.
///
/// By status code AND message: the engine gives no error kind of its own for this (its error
/// body is `{"message": ...}` only), and 403 alone also covers refusals a retry cannot cure
/// (a predefined network's name, an operation a driver forbids), which must fail the run.
pub(crate) fn is_subnet_clash(error: &bollard::errors::Error) -> bool {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            *status_code == CLASH_STATUS
                && CLASH_MESSAGES.iter().any(|known| message.contains(known))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fault knob may only move a network to a subnet the harness could have picked itself,
    /// never onto one of this machine's (or anyone's) real networks.
    #[test]
    fn the_fault_knob_stays_in_the_harness_range() {
        for _ in 0..200 {
            assert!(random_bases().iter().all(|base| in_harness_range(*base)));
        }
        for outside in [
            Ipv4Addr::new(192, 168, 1, 0),
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(10, 251, 1, 0),
            Ipv4Addr::new(10, 220, 255, 0),
            Ipv4Addr::new(10, 220, 5, 128),
            Ipv4Addr::new(169, 254, 169, 0),
        ] {
            assert!(!in_harness_range(outside), "{outside}");
        }
    }

    #[test]
    fn subnets_overlapping_host_routes_are_avoided() {
        let route =
            |a: [u8; 4], m: [u8; 4]| (u32::from(Ipv4Addr::from(a)), u32::from(Ipv4Addr::from(m)));
        let routes = [
            route([10, 200, 0, 0], [255, 255, 0, 0]),
            route([172, 17, 0, 0], [255, 255, 0, 0]),
        ];
        assert!(overlaps_host_route(Ipv4Addr::new(10, 200, 7, 0), &routes));
        assert!(!overlaps_host_route(Ipv4Addr::new(10, 201, 7, 0), &routes));
        // A narrower route inside the /24 counts too.
        let narrow = [route([10, 220, 5, 128], [255, 255, 255, 128])];
        assert!(overlaps_host_route(Ipv4Addr::new(10, 220, 5, 0), &narrow));
        // The kernel's format, read as it prints it: the default route is skipped.
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            [route([172, 17, 0, 0], [255, 255, 0, 0])]
        );
    }

    fn server_error(status_code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    /// A taken subnet is what the engine says about one (status and message, as measured on
    /// 20.10 and as newer engines word it); anything else fails the run instead of retrying.
    #[test]
    fn a_subnet_clash_is_recognised_by_status_and_message() {
        for taken in [
            "Pool overlaps with other one on this address space",
            "invalid pool request: Pool overlaps with other one on this address space",
            "cannot create network 0123 (br-0123): conflicts with network 4567 (br-4567): \
             networks have overlapping IPv4",
        ] {
            assert!(is_subnet_clash(&server_error(403, taken)), "{taken}");
        }
        for other in [
            server_error(500, "Pool overlaps with other one on this address space"),
            server_error(409, "network with name cb-x-lan already exists"),
            server_error(
                403,
                "operation is not permitted on predefined bridge network",
            ),
            server_error(403, "overlap"),
            bollard::errors::Error::RequestTimeoutError,
        ] {
            assert!(!is_subnet_clash(&other), "{other:?}");
        }
    }
}
