//! Hand-made topologies and host sides shared by the tests that pin what a run asks of the
//! bottle (`plans.rs`) and of the targets (`liveness.rs`).

#![allow(dead_code)]

pub mod topology;

use std::net::Ipv4Addr;

use bottle_backends::{AgentSide, Topology};
use bottle_harness::plan::HostSide;

pub use topology::{net, TopologyBuilder};

/// A Docker bottle with every optional part: neighbour, metadata, inbound dialers, IPv6 (the
/// agent's too, and a further agent address).
pub fn full_topology() -> Topology {
    TopologyBuilder::docker("cbplan", "cb-p")
        .layout(|l| {
            l.agent_network = net("cb-p-agent", 1, false, true);
            l.agent_extra_ips = vec![Ipv4Addr::new(10, 210, 2, 3)];
            l.agent_ip_v6 = Some("fdcb:1:2:1::3".parse().unwrap());
        })
        .build()
}

/// A microVM bottle: the host through the VMM's gateway, no neighbour, no metadata fixture, no
/// dialers, no IPv6, a resolver the harness does not own.
pub fn microvm_topology() -> Topology {
    TopologyBuilder::from(&full_topology())
        .layout(|l| {
            l.agent_network = net("cb-p-agent", 1, false, false);
            l.agent_extra_ips = vec![];
            l.public_v6 = None;
            l.neighbour = None;
            l.neighbour_network = None;
            l.neighbour_upstream_ip = None;
            l.metadata = None;
            l.metadata_upstream_ip = None;
            l.metadata_leg_ip = None;
            l.metadata_network = None;
            l.lan_internal_ip = None;
            l.metadata_unavailable = Some("the VMM has no metadata leg".into());
            l.inbound_port = None;
            l.agent_ip_v6 = None;
        })
        .agent(|a| *a = AgentSide::microvm("smolmachines", Ipv4Addr::new(100, 96, 0, 1)))
        .build()
}

/// This machine with IPv6, link-local addresses and the ICMP recorder.
pub fn full_host() -> HostSide {
    HostSide {
        loopback_canary: "127.0.0.1:41000".parse().unwrap(),
        loopback_canary_v6: Some("[::1]:41002".parse().unwrap()),
        all_interfaces_port: 41001,
        addresses: vec![Ipv4Addr::new(172, 17, 0, 1), Ipv4Addr::new(192, 0, 2, 2)],
        addresses_v6: vec!["fd00::2".parse().unwrap(), "2001:db8::2".parse().unwrap()],
        all_interfaces_v6: true,
        icmp_recorder: true,
        link_local_v6: vec!["fe80::1".parse().unwrap(), "fe80::2".parse().unwrap()],
        subnets_v4: vec![
            (Ipv4Addr::new(172, 17, 0, 1), Ipv4Addr::new(255, 255, 0, 0)),
            (Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(255, 255, 255, 0)),
        ],
    }
}

/// This machine without IPv6 and without the ICMP recorder (not root).
pub fn bare_host() -> HostSide {
    HostSide {
        loopback_canary: "127.0.0.1:41000".parse().unwrap(),
        loopback_canary_v6: None,
        all_interfaces_port: 41001,
        addresses: vec![Ipv4Addr::new(192, 0, 2, 2)],
        addresses_v6: vec![],
        all_interfaces_v6: false,
        icmp_recorder: false,
        link_local_v6: vec![],
        subnets_v4: vec![],
    }
}
