//! This machine's own addresses, read at run time (they differ between machines): the only
//! non-container addresses the suite ever sends to. Never a router's, never the default gateway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every IPv4 address of this machine except loopback: interfaces, docker0, bridges. These are
/// the only non-container addresses the suite ever sends to. Never the default gateway.
pub(crate) fn host_addresses() -> Vec<Ipv4Addr> {
    let mut addrs: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|iface| match iface.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
            _ => None,
        })
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}

/// This machine's IPv4 networks: each interface address with its netmask (loopback included,
/// it is a network of this machine too).
pub(crate) fn host_subnets_v4() -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let mut subnets: Vec<(Ipv4Addr, Ipv4Addr)> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|iface| match iface.addr {
            if_addrs::IfAddr::V4(v4) => Some((v4.ip, v4.netmask)),
            if_addrs::IfAddr::V6(_) => None,
        })
        .collect();
    subnets.sort_unstable();
    subnets.dedup();
    subnets
}

/// This machine's IPv6 addresses, except loopback: (global and unique-local, link-local).
/// Like the IPv4 list, only this machine's own addresses, never a router's.
pub(crate) fn host_addresses_v6() -> (Vec<Ipv6Addr>, Vec<Ipv6Addr>) {
    let mut routable = Vec::new();
    let mut link_local = Vec::new();
    // /proc/net/if_inet6 lists link-local addresses too (the interface-address crate skips
    // some); it is absent on a kernel without IPv6.
    for ip in listed_v6() {
        {
            if ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4_mapped().is_some() {
                continue;
            }
            if ip.segments()[0] & 0xffc0 == 0xfe80 {
                link_local.push(ip);
            } else {
                routable.push(ip);
            }
        }
    }
    for list in [&mut routable, &mut link_local] {
        list.sort_unstable();
        list.dedup();
    }
    (routable, link_local)
}

/// The three address lists as one, IPv4 first: the addresses a run aims at on this machine.
pub(crate) fn all_host_addresses(
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
    link_local: &[Ipv6Addr],
) -> Vec<IpAddr> {
    v4.iter()
        .map(|ip| IpAddr::V4(*ip))
        .chain(v6.iter().chain(link_local).map(|ip| IpAddr::V6(*ip)))
        .collect()
}

/// This machine's usable IPv6 addresses as `/proc/net/if_inet6` lists them (tentative ones,
/// still in duplicate address detection, left out).
#[cfg(target_os = "linux")]
fn listed_v6() -> Vec<std::net::Ipv6Addr> {
    bottle_probes::sys::proc_net::read::if_inet6()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.is_usable())
        .map(|a| a.address)
        .collect()
}

/// Other hosts have no `/proc`: the interface-address crate's list is all there is.
#[cfg(not(target_os = "linux"))]
fn listed_v6() -> Vec<std::net::Ipv6Addr> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V6(ip) => Some(ip),
            std::net::IpAddr::V4(_) => None,
        })
        .collect()
}
