//! Hand-made topologies and host sides shared by the tests that pin what a run asks of the
//! bottle (`plans.rs`) and of the targets (`liveness.rs`).

#![allow(dead_code)]

use std::net::Ipv4Addr;

use bottle_backends::{FixtureHost, NetworkInfo, Ports, Topology};
use bottle_harness::plan::HostSide;

pub fn net(name: &str, third: u8, host_has_gateway: bool, v6: bool) -> NetworkInfo {
    NetworkInfo {
        name: name.into(),
        subnet: format!("10.210.{third}.0/24"),
        gateway: Ipv4Addr::new(10, 210, third, 1),
        host_has_gateway,
        subnet_v6: v6.then(|| format!("fdcb:1:2:{third}::/64")),
        gateway_v6: v6.then(|| format!("fdcb:1:2:{third}::1").parse().unwrap()),
    }
}

/// A Docker bottle with every optional part: neighbour, metadata, inbound dialers, IPv6.
pub fn full_topology() -> Topology {
    Topology {
        backend: "docker".into(),
        run_id: "cbplan".into(),
        agent_network: net("cb-p-agent", 1, false, true),
        upstream_network: net("cb-p-upstream", 2, true, false),
        lan_network: net("cb-p-lan", 3, true, false),
        agent_ip: Ipv4Addr::new(10, 210, 1, 3),
        agent_extra_ips: vec![Ipv4Addr::new(10, 210, 2, 3)],
        bundle_ip: Ipv4Addr::new(10, 210, 1, 2),
        bundle_upstream_ip: Ipv4Addr::new(10, 210, 2, 2),
        bundle_name: "bundle".into(),
        ports: Ports::default(),
        public: FixtureHost {
            name: "public".into(),
            ip: Ipv4Addr::new(10, 210, 2, 10),
            ports: vec![80, 443],
        },
        lan: FixtureHost {
            name: "lan".into(),
            ip: Ipv4Addr::new(10, 210, 3, 10),
            ports: vec![80, 22, 443],
        },
        dns: FixtureHost {
            name: "dns".into(),
            ip: Ipv4Addr::new(10, 210, 2, 53),
            ports: vec![53],
        },
        allowed_host: "public.fixture.test".into(),
        denied_host: "blocked.fixture.test".into(),
        dns_switch: Some(bottle_backends::DnsSwitch {
            name: "public.fixture.test".into(),
            secret: "5ec4e7".into(),
        }),
        lan_internal_ip: Some(Ipv4Addr::new(10, 210, 5, 40)),
        engine_host: Default::default(),
        engine_host_reported: Default::default(),
        checker_ips: vec![],
        checker_network: None,
        bundle_loopback_port: Some(bottle_backends::spec::hosts::BUNDLE_LOOPBACK_PORT),
        engine_host_names: vec![],
        sabotaged: false,
        resolver_owned: true,
        guest_host_gateway: None,
        agent_resolver: Some("127.0.0.11:53".parse().unwrap()),
        public_v6: Some("fdcb:1:2:6::a".parse().unwrap()),
        public_v6_network: None,
        neighbour: Some(FixtureHost {
            name: "neighbour".into(),
            ip: Ipv4Addr::new(10, 210, 4, 2),
            ports: vec![3128, 9099],
        }),
        neighbour_network: Some(net("cb-p-neighbour", 4, false, false)),
        neighbour_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 20)),
        metadata: Some(FixtureHost {
            name: "metadata".into(),
            ip: Ipv4Addr::new(169, 254, 169, 254),
            ports: vec![80],
        }),
        metadata_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 30)),
        metadata_leg_ip: Some(Ipv4Addr::new(10, 210, 5, 30)),
        metadata_network: Some(net("cb-p-metadata", 5, false, false)),
        metadata_unavailable: None,
        inbound_port: Some(4700),
        agent_ip_v6: Some("fdcb:1:2:1::3".parse().unwrap()),
    }
}

/// A microVM bottle: the host through the VMM's gateway, no neighbour, no metadata fixture, no
/// dialers, no IPv6, a resolver the harness does not own.
pub fn microvm_topology() -> Topology {
    let mut t = full_topology();
    t.backend = "smolmachines".into();
    t.agent_network = net("cb-p-agent", 1, false, false);
    t.agent_extra_ips = vec![];
    t.guest_host_gateway = Some(Ipv4Addr::new(100, 96, 0, 1));
    t.resolver_owned = false;
    t.agent_resolver = None;
    t.public_v6 = None;
    t.neighbour = None;
    t.neighbour_network = None;
    t.neighbour_upstream_ip = None;
    t.metadata = None;
    t.metadata_upstream_ip = None;
    t.metadata_leg_ip = None;
    t.metadata_network = None;
    t.lan_internal_ip = None;
    t.metadata_unavailable = Some("the VMM has no metadata leg".into());
    t.inbound_port = None;
    t.agent_ip_v6 = None;
    t
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
