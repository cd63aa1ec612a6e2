//! The kernel's network tables under `/proc/net`, as text: pure parsers that compile and test
//! on every platform, and readers of the live files that exist on Linux only.
//!
//! * [`route`]: `/proc/net/route`, the IPv4 routing table.
//! * [`if_inet6`]: `/proc/net/if_inet6`, the IPv6 addresses with their interfaces and flags.
//! * [`read`]: reads both from this machine (or this network namespace).

pub mod if_inet6;
#[cfg(target_os = "linux")]
pub mod read;
pub mod route;

pub use if_inet6::{parse_if_inet6, Inet6Address};
pub use route::{parse_routes, Route};
