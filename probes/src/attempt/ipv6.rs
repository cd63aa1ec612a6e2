//! What the agent's own IPv6 address table (`/proc/net/if_inet6`) tells the attempts: which
//! interfaces a link-local address can be tried on, and whether a failed connect to IPv6 is a
//! denial because the agent has no IPv6 at all.

use std::io;
use std::net::{IpAddr, Ipv6Addr};

use super::outcome::failed;
use crate::sys::proc_net::{self, Inet6Address};
use crate::wire::{AttemptSpec, Observation, Outcome};

const EADDRNOTAVAIL: i32 = 99;
const EAFNOSUPPORT: i32 = 97;

/// This namespace's usable IPv6 addresses (interface name, index, address) from
/// `/proc/net/if_inet6`, loopback included, tentative ones (duplicate address detection still
/// running) left out; `None` when the file cannot be read at all (nothing can be concluded).
/// Kept for the harness, which lists this machine's addresses with it.
pub fn ipv6_interfaces() -> Option<Vec<(String, u32, Ipv6Addr)>> {
    Some(
        ipv6_addresses(false)?
            .into_iter()
            .map(|a| (a.interface, a.index, a.address))
            .collect(),
    )
}

/// As [`ipv6_interfaces`], with tentative addresses when `tentative` (for naming interfaces,
/// where an address still in duplicate address detection counts: the interface has IPv6).
pub(crate) fn ipv6_addresses(tentative: bool) -> Option<Vec<Inet6Address>> {
    let mut addresses = proc_net::read::if_inet6().ok()?;
    if !tentative {
        addresses.retain(Inet6Address::is_usable);
    }
    Some(addresses)
}

/// A connect to a native IPv6 destination that failed because the agent has no IPv6 address
/// at all (EADDRNOTAVAIL, EAFNOSUPPORT): no packet can have left, which is a denial, but only
/// with the agent's own address table as evidence. With any IPv6 address present the same
/// errno may mean something else, so it stays an error.
pub(crate) fn no_ipv6(spec: &AttemptSpec, ip: IpAddr, error: &io::Error) -> Option<Observation> {
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
    let any_address = proc_net::read::if_inet6_text()
        .ok()?
        .lines()
        .any(|line| !line.trim().is_empty());
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
