//! `/proc/net/if_inet6`: one IPv6 address a line, no header: the address as 32 hex digits, the
//! interface index, prefix length, scope and flags in hex, then the interface name:
//!
//! ```text
//! fe80000000000000004200fffe0a0b0c 03 40 20 80    eth0
//! ```

use std::net::Ipv6Addr;

/// Duplicate address detection is still running: the address is not usable yet.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// Duplicate address detection failed: the address is never usable.
pub const IFA_F_DADFAILED: u32 = 0x08;

/// One line of the table: the fields the suite decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inet6Address {
    pub address: Ipv6Addr,
    /// The interface index (the scope id of a link-local address on that interface).
    pub index: u32,
    /// The `IFA_F_*` flags.
    pub flags: u32,
    pub interface: String,
}

impl Inet6Address {
    /// Whether the address can be used now: neither tentative nor failed duplicate address
    /// detection.
    pub fn is_usable(&self) -> bool {
        self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
    }
}

/// Parses the table's text, tentative addresses included ([`Inet6Address::is_usable`]); a
/// line whose address, index, flags or name does not parse is skipped.
pub fn parse_if_inet6(text: &str) -> Vec<Inet6Address> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let hex = fields.first()?;
            let index = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let flags = u32::from_str_radix(fields.get(4)?, 16).ok()?;
            let interface = fields.get(5)?.to_string();
            let bits = u128::from_str_radix(hex, 16).ok()?;
            Some(Inet6Address {
                address: Ipv6Addr::from(bits),
                index,
                flags,
                interface,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "00000000000000000000000000000001 01 80 10 80       lo\n\
        fe80000000000000004200fffe0a0b0c 03 40 20 80     eth0\n\
        fdcb0001000200030000000000000010 03 40 00 c0     eth0\n\
        fdcb0001000200030000000000000011 1a 40 00 08     eth1\n\
        nothex 03 40 00 80 eth0\n\
        fe80000000000000004200fffe0a0b0d 03 40\n";

    #[test]
    fn parses_addresses_indexes_flags_and_names() {
        let table = parse_if_inet6(TABLE);
        assert_eq!(table.len(), 4, "{table:?}");
        assert_eq!(table[0].address, Ipv6Addr::LOCALHOST);
        assert_eq!(table[0].interface, "lo");
        assert_eq!(
            table[1],
            Inet6Address {
                address: "fe80::42:ff:fe0a:b0c".parse().unwrap(),
                index: 3,
                flags: 0x80,
                interface: "eth0".into(),
            }
        );
        assert_eq!(table[3].index, 0x1a);
    }

    #[test]
    fn tentative_and_failed_addresses_are_not_usable() {
        let table = parse_if_inet6(TABLE);
        assert!(table[0].is_usable() && table[1].is_usable());
        assert!(!table[2].is_usable(), "tentative (0x40)");
        assert!(
            !table[3].is_usable(),
            "duplicate address detection failed (0x08)"
        );
    }

    #[test]
    fn an_empty_table_has_no_addresses() {
        assert!(parse_if_inet6("").is_empty());
    }
}
