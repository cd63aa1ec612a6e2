//! The one builder of hand-made topologies for the tests: a contained Docker bottle on
//! 10.210.0.0/16 with every optional part, which a test edits (its layout, the engine's view,
//! the agent's side) before it is assembled, the way a backend assembles a real one.

use std::net::Ipv4Addr;

use bottle_backends::{
    AgentSide, DnsSwitch, EngineView, FixtureHost, Layout, NetworkInfo, Ports, Topology,
};

/// A network `10.210.<third>.0/24` with its gateway at `.1` (and `fdcb:1:2:<third>::/64` with
/// IPv6).
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

fn fixture(name: &str, ip: Ipv4Addr, ports: Vec<u16>) -> FixtureHost {
    FixtureHost {
        name: name.into(),
        ip,
        ports,
    }
}

/// A topology under construction.
pub struct TopologyBuilder {
    layout: Layout,
    engine: EngineView,
    agent: AgentSide,
}

impl TopologyBuilder {
    /// A contained Docker bottle with run id `run_id` and networks named `<prefix>-agent`...:
    /// neighbour, metadata fixture, the LAN host's internal leg, the DNS switch, the inbound
    /// dialers and the public host's IPv6 address; the agent without IPv6 or further addresses.
    pub fn docker(run_id: &str, prefix: &str) -> Self {
        let network = |role: &str, third, host_has_gateway| {
            net(&format!("{prefix}-{role}"), third, host_has_gateway, false)
        };
        let layout = Layout {
            run_id: run_id.into(),
            agent_network: network("agent", 1, false),
            upstream_network: network("upstream", 2, true),
            lan_network: network("lan", 3, true),
            agent_ip: Ipv4Addr::new(10, 210, 1, 3),
            agent_extra_ips: vec![],
            bundle_ip: Ipv4Addr::new(10, 210, 1, 2),
            bundle_upstream_ip: Ipv4Addr::new(10, 210, 2, 2),
            bundle_name: "bundle".into(),
            ports: Ports::default(),
            public: fixture("public", Ipv4Addr::new(10, 210, 2, 10), vec![80, 443]),
            lan: fixture("lan", Ipv4Addr::new(10, 210, 3, 10), vec![80, 22, 443]),
            dns: fixture("dns", Ipv4Addr::new(10, 210, 2, 53), vec![53]),
            allowed_host: "public.fixture.test".into(),
            denied_host: "blocked.fixture.test".into(),
            dns_switch: Some(DnsSwitch {
                name: "public.fixture.test".into(),
                secret: "5ec4e7".into(),
            }),
            lan_internal_ip: Some(Ipv4Addr::new(10, 210, 5, 40)),
            engine_host: Default::default(),
            checker_ips: vec![],
            checker_network: None,
            bundle_loopback_port: Some(bottle_backends::spec::hosts::BUNDLE_LOOPBACK_PORT),
            sabotaged: false,
            public_v6: Some("fdcb:1:2:6::a".parse().unwrap()),
            public_v6_network: None,
            neighbour: Some(fixture(
                "neighbour",
                Ipv4Addr::new(10, 210, 4, 2),
                vec![3128, 9099],
            )),
            neighbour_network: Some(network("neighbour", 4, false)),
            neighbour_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 20)),
            metadata: Some(fixture(
                "metadata",
                Ipv4Addr::new(169, 254, 169, 254),
                vec![80],
            )),
            metadata_upstream_ip: Some(Ipv4Addr::new(10, 210, 2, 30)),
            metadata_leg_ip: Some(Ipv4Addr::new(10, 210, 5, 30)),
            metadata_network: Some(network("metadata", 5, false)),
            metadata_unavailable: None,
            inbound_port: Some(4700),
            agent_ip_v6: None,
            published_network: None,
            bundle_published_ip: None,
            bundle_via: None,
        };
        Self {
            layout,
            engine: EngineView::default(),
            agent: AgentSide::container(),
        }
    }

    /// A copy of `topology`'s parts, to edit into another.
    pub fn from(topology: &Topology) -> Self {
        Self {
            layout: topology.layout().clone(),
            engine: topology.engine().clone(),
            agent: topology.agent().clone(),
        }
    }

    /// Edits what the harness planned.
    pub fn layout(mut self, edit: impl FnOnce(&mut Layout)) -> Self {
        edit(&mut self.layout);
        self
    }

    /// Edits what the engine says.
    pub fn engine(mut self, edit: impl FnOnce(&mut EngineView)) -> Self {
        edit(&mut self.engine);
        self
    }

    /// Edits the agent's side.
    pub fn agent(mut self, edit: impl FnOnce(&mut AgentSide)) -> Self {
        edit(&mut self.agent);
        self
    }

    /// Under Docker Desktop: the layout's engine host and the engine's own report.
    pub fn docker_desktop(self) -> Self {
        self.layout(|l| l.engine_host = bottle_backends::EngineHost::DockerDesktop)
    }

    pub fn build(self) -> Topology {
        Topology::assemble(self.layout, self.engine, self.agent)
    }
}
