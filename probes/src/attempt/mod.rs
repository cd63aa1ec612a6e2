//! What `bottle-probe` does for each attempt kind, inside the agent. Linux only as a whole
//! (`/proc`, ping sockets, the sweep's non-blocking connect): the crate root switches this
//! module off elsewhere, so that the catalogue and the wire format build on every platform.
//!
//! * `dispatch`: runs one attempt of any kind ([`run`]).
//! * `outcome`: the narrow classification of failures into outcomes.
//! * `exchange`: deadlines, bounded reads and the nonce/ack lines the attempts share.
//! * `tcp`, `udp`, `http`, `dns`, `icmp`, `listen`: one module per kind of traffic.
//! * `ipv6`: what the agent's IPv6 address table says (link-local scopes, no IPv6 at all).
//! * `sweep`: the port sweep, each port in as few system calls as the kernel allows.
//! * `unix_sockets`: the search for host sockets visible inside the agent.

mod dispatch;
mod dns;
mod exchange;
mod http;
mod icmp;
mod ipv6;
mod listen;
mod outcome;
mod settle;
mod sweep;
mod tcp;
mod udp;
mod unix_sockets;

pub use dispatch::run;
pub use ipv6::ipv6_interfaces;
