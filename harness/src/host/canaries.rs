//! The canaries on this machine: listeners that record every contact, so that an attempt aimed
//! at this machine has a target-side view, plus the ICMP recorder when this process may open one.

use bottle_fixtures::records::FixtureName;
use std::net::SocketAddr;

use bottle_fixtures::canary::Canary;
use bottle_fixtures::RecordSink;

use crate::errors::HarnessError;

/// The canaries on this machine: one on 127.0.0.1, one on ::1 (when this machine has IPv6),
/// and one on every interface (dual-stack `[::]` when possible, so IPv4 and IPv6 reach it).
pub struct HostCanaries {
    pub sink: RecordSink,
    pub loopback: SocketAddr,
    pub loopback_v6: Option<SocketAddr>,
    pub all_interfaces_port: u16,
    /// Whether the all-interfaces canary also listens on IPv6.
    pub all_interfaces_v6: bool,
    /// Whether echo requests to this machine are recorded (a raw socket: root only). Without
    /// it a ping to this machine that times out has no target-side view, so none is planned.
    pub icmp_recorder: bool,
}

impl HostCanaries {
    pub(crate) fn start() -> Result<Self, HarnessError> {
        let sink = RecordSink::default();
        let fail = |e: bottle_fixtures::FixtureError| HarnessError::HostCanary(e.to_string());
        let loopback = Canary::start(
            FixtureName::HostLoopback,
            "127.0.0.1:0".parse().expect("literal"),
            sink.clone(),
        )
        .map_err(fail)?;
        // Same fixture name: a record there is the host's loopback, whichever family.
        let loopback_v6 = Canary::start(
            FixtureName::HostLoopback,
            "[::1]:0".parse().expect("literal"),
            sink.clone(),
        )
        .ok()
        .map(|c| c.addr);
        let (all, all_interfaces_v6) = match Canary::start(
            FixtureName::HostAll,
            "[::]:0".parse().expect("literal"),
            sink.clone(),
        ) {
            Ok(canary) => (canary, true),
            Err(_) => (
                Canary::start(
                    FixtureName::HostAll,
                    "0.0.0.0:0".parse().expect("literal"),
                    sink.clone(),
                )
                .map_err(fail)?,
                false,
            ),
        };
        let icmp_recorder = start_icmp_recorder(&sink);
        Ok(Self {
            sink,
            loopback: loopback.addr,
            loopback_v6,
            all_interfaces_port: all.addr.port(),
            all_interfaces_v6,
            icmp_recorder,
        })
    }
}

/// Records echo requests to this machine (a raw ICMP socket, Linux only), keeping only those
/// carrying a probe's nonce: anything on this machine may ping it. Whether it runs decides
/// whether pings at this machine are planned (without a target-side view they prove nothing).
#[cfg(target_os = "linux")]
fn start_icmp_recorder(sink: &RecordSink) -> bool {
    bottle_fixtures::icmp::start_with(FixtureName::HostAll, sink.clone(), true).is_ok()
}

/// Elsewhere there is no raw-socket recorder: pings at this machine are not planned.
#[cfg(not(target_os = "linux"))]
fn start_icmp_recorder(_sink: &RecordSink) -> bool {
    false
}
