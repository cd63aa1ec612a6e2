//! Facts about this machine's own network stack that bringing a bottle up depends on.

use std::net::Ipv6Addr;
use std::time::Duration;

/// Waits (at most 5 s) until this machine's address `ip` has finished duplicate address
/// detection: a bridge's IPv6 address is unusable ("tentative") for about a second after its
/// first port comes up, and probing before that would miss a host that is about to answer.
pub async fn wait_usable_v6(ip: Ipv6Addr) {
    for poll in 0..100 {
        let usable = usable_v6(ip);
        if usable {
            tracing::debug!("{ip} usable after {} polls", poll);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!("{ip} is still not usable after 5 s (duplicate address detection)");
}

/// Whether `ip` is one of this machine's addresses and past duplicate address detection.
#[cfg(target_os = "linux")]
fn usable_v6(ip: Ipv6Addr) -> bool {
    bottle_probes::sys::proc_net::read::if_inet6()
        .unwrap_or_default()
        .iter()
        .any(|a| a.address == ip && a.is_usable())
}

/// Elsewhere no address of this machine is ever tentative in a way the harness can see.
#[cfg(not(target_os = "linux"))]
fn usable_v6(_ip: Ipv6Addr) -> bool {
    true
}
