//! Low-level pieces that the probe, the fixtures, the backends and the harness all need, in
//! the lowest crate so that there is one copy of each:
//!
//! * [`proc_net`]: parsers of `/proc/net/route` and `/proc/net/if_inet6` (pure, every
//!   platform) and their readers (Linux only).
//! * [`dns_tcp`]: the two-byte length framing of DNS over TCP.
//! * [`random`]: random bytes from the operating system, failing loudly (nonces are evidence:
//!   a guessable one would let injected contact look explained).

pub mod dns_tcp;
pub mod proc_net;
pub mod random;
