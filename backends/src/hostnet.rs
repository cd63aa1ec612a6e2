//! Facts about this machine's own network stack that bringing a bottle up depends on.

use std::net::Ipv6Addr;
use std::time::Duration;

/// Waits (at most 5 s) until this machine's address `ip` has finished duplicate address
/// detection: a bridge's IPv6 address is unusable ("tentative") for about a second after its
/// first port comes up, and probing before that would miss a host that is about to answer.
pub async fn wait_usable_v6(ip: Ipv6Addr) {
    let wanted = format!("{:032x}", u128::from(ip));
    for poll in 0..100 {
        let text = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
        let usable = text.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.first() == Some(&wanted.as_str())
                && fields
                    .get(4)
                    .and_then(|f| u32::from_str_radix(f, 16).ok())
                    .is_some_and(|flags| flags & 0x48 == 0)
        });
        if usable {
            tracing::debug!("{ip} usable after {} polls", poll);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!("{ip} is still not usable after 5 s (duplicate address detection)");
}
