//! What a bring-up attempt creates, as data: the planned networks (one per [`NetworkRole`], on
//! the subnets of this attempt) and the planned containers, each built from its required fields
//! with everything optional defaulting to "none", so a plan names only what it sets.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::roles::{ContainerRole, NetworkRole};
use super::subnets::{fault_taken_subnet, random_bases, random_v6_prefix, v6_host};
use crate::spec::{host_in, BottleSpec};
use crate::topology::NetworkInfo;

/// One network of the bottle.
pub(crate) struct PlannedNetwork {
    /// What the network is for; its name is `cb-<run>-<role>`.
    pub(crate) role: NetworkRole,
    pub(crate) name: String,
    pub(crate) base: Ipv4Addr,
    /// `com.docker.network.bridge.inhibit_ipv4`: the host holds no address on the bridge.
    pub(crate) host_block: bool,
    /// An IPv6 /64 (`fdcb:...::/64`, unique local) when the network gets IPv6.
    pub(crate) v6: Option<Ipv6Addr>,
    /// Docker's `internal` flag; only the ip-forward sabotage clears it (agent network).
    pub(crate) internal: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade`; false only for the bundle's published
    /// leg.
    pub(crate) masquerade: bool,
}

impl PlannedNetwork {
    /// An internal IPv4-only network of `role` on the /24 at `base`, without the host block.
    fn new(run_id: &str, role: NetworkRole, base: Ipv4Addr) -> Self {
        Self {
            role,
            name: role.network_name(run_id),
            base,
            host_block: false,
            v6: None,
            internal: true,
            masquerade: true,
        }
    }

    fn masquerade(mut self, masquerade: bool) -> Self {
        self.masquerade = masquerade;
        self
    }

    fn host_block(mut self, host_block: bool) -> Self {
        self.host_block = host_block;
        self
    }

    fn v6(mut self, v6: Option<Ipv6Addr>) -> Self {
        self.v6 = v6;
        self
    }

    fn internal(mut self, internal: bool) -> Self {
        self.internal = internal;
        self
    }

    /// The network as the topology describes it.
    pub(crate) fn info(&self) -> NetworkInfo {
        NetworkInfo {
            name: self.name.clone(),
            subnet: format!("{}/24", self.base),
            gateway: host_in(self.base, 1),
            host_has_gateway: !self.host_block,
            subnet_v6: self.v6.map(|prefix| format!("{prefix}/64")),
            gateway_v6: self.v6.map(|prefix| v6_host(prefix, 1)),
        }
    }
}

/// Plans the bottle's networks (agent, upstream, LAN, the neighbour bottle's agent network, the
/// public host's IPv6 leg, for a container agent the bundle's side network (the metadata network:
/// the LAN host's internal leg, and the metadata fixture's where it can be routed to) and, where
/// the bottle has a checker, the checker's own network)
/// on fresh random subnets. IPv6 goes on the public host's own network and, sabotaged, on the
/// agent network; `with_v6` false leaves it out (an engine that cannot make IPv6 networks), and
/// the IPv6 probes that need it say so.
///
/// The order is the order of the requests, which are sent at once: the engine makes one network
/// at a time (~50 ms each) while the containers whose networks exist already start, so the
/// agent's and the bundle's networks are asked for first and the LAN host's last.
pub(crate) fn plan_networks(
    spec: &BottleSpec,
    host_block: bool,
    with_side_network: bool,
    with_v6: bool,
    attempt: u32,
    publish_bundle: bool,
) -> Vec<PlannedNetwork> {
    let mut bases = random_bases();
    if let (0, Some(taken)) = (attempt, fault_taken_subnet()) {
        bases[2] = taken;
    }
    let v6 = |wanted: bool, index: u16| (with_v6 && wanted).then(|| random_v6_prefix(index));
    let network = |role: NetworkRole, base: Ipv4Addr| PlannedNetwork::new(&spec.run_id, role, base);
    let mut planned = vec![
        network(NetworkRole::Agent, bases[0])
            .host_block(host_block)
            .v6(v6(spec.sabotage.ipv6_host, 0))
            // Docker drops bridged frames leaving an internal network's subnet (bridge
            // netfilter), which would hide a forwarding bundle; see `route_through_bundle`.
            .internal(!spec.sabotage.ip_forward),
        network(NetworkRole::Upstream, bases[1]),
    ];
    if with_side_network {
        // The bundle's side network: the metadata fixture's leg (where it can be routed to)
        // and the LAN host's internal leg. Not `internal`: Docker's internal
        // rules drop bridged frames addressed outside the network's subnet, and
        // 169.254.169.254 is outside every subnet. The host block keeps the host off it, so
        // nothing on it has a way out through this machine.
        planned.push(
            network(NetworkRole::Metadata, bases[4])
                .host_block(true)
                .internal(false),
        );
    }
    planned.extend([
        network(NetworkRole::Neighbour, bases[3]).host_block(true),
        // The public host's IPv6 leg: only it joins this network (and the checker, if any).
        network(NetworkRole::Public6, bases[5]).v6(v6(true, 5)),
        network(NetworkRole::Lan, bases[2]),
    ]);
    if wants_checker(spec) {
        // The checker's own leg, its only one that is not `internal`: its way to the engine's
        // host-gateway (this machine as containers reach it), through which the harness
        // checks that its canaries answer there. Only the checker joins it.
        planned.push(network(NetworkRole::Checker, bases[6]).internal(false));
    }
    if publish_bundle {
        // The bundle's published leg: Docker publishes a port only from a network that is not
        // `internal` (moby/moby#36174), and this machine must hold the bridge's gateway, since
        // what it publishes on its loopback is forwarded to the bundle's address there. It is
        // also the bundle's default route (see `NetworkRole::Published`); without masquerade,
        // nothing the bundle sends that way is translated to an address of this machine. The
        // bundle sends only where the probes ask it to, and they ask for fixtures only.
        planned.push(
            network(NetworkRole::Published, bases[7])
                .internal(false)
                .masquerade(false),
        );
    }
    planned
}

/// A file copied into the agent container before it starts.
#[derive(Clone)]
pub(crate) struct AgentFile {
    pub(crate) dir: &'static str,
    pub(crate) name: &'static str,
    pub(crate) bytes: Arc<Vec<u8>>,
}

/// One container of the bottle. Built with [`PlannedContainer::new`] and the setters below;
/// every field a setter does not touch stays empty (no extra network, sysctl, mount, capability,
/// label or file; not announcing readiness).
pub(crate) struct PlannedContainer {
    pub(crate) role: ContainerRole,
    pub(crate) image: String,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    /// Start the image as it is built (its own `ENTRYPOINT` and `CMD`, left unset at create):
    /// a user's bundle image. `entrypoint` and `cmd` are then unused.
    pub(crate) image_command: bool,
    pub(crate) network: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) aliases: Vec<String>,
    /// The IPv6 address on the first network, when pinned.
    pub(crate) ip_v6: Option<Ipv6Addr>,
    /// Further networks to join before start (API < 1.44 cannot join two at create).
    pub(crate) more: Vec<(String, Ipv4Addr)>,
    /// Further networks joined with a pinned IPv6 address too (the public host's IPv6 leg).
    pub(crate) more_v6: Vec<(String, Ipv4Addr, Ipv6Addr)>,
    /// Namespaced sysctls (the bundle's `net.ipv4.ip_forward`).
    pub(crate) sysctls: Vec<(String, String)>,
    /// Bind mounts (`host:container`), only ever set by a sabotage.
    pub(crate) binds: Vec<String>,
    /// Added capabilities (fixtures that add addresses; NET_ADMIN for the ip-forward routes).
    pub(crate) cap_add: Vec<String>,
    /// Prints `CB-READY` when its listeners are up.
    pub(crate) announces_ready: bool,
    pub(crate) extra_labels: Vec<(String, String)>,
    /// The container's resolver upstream (the DNS canary; the bundle's forwarder, sabotaged).
    pub(crate) dns: Ipv4Addr,
    /// Copied in before it starts.
    pub(crate) files: Vec<AgentFile>,
    /// Set the bundle's route to the metadata service once it runs.
    pub(crate) route_metadata: bool,
    /// `/etc/hosts` entries the engine writes (`name:ip`, or `name:host-gateway`).
    pub(crate) extra_hosts: Vec<String>,
    /// Joins the network namespace of this container (Docker's `--network container:<name>`)
    /// instead of networks of its own: it is created once that container has started, and
    /// `network`, `ip`, `aliases` and `dns` are unused.
    pub(crate) shares_namespace_of: Option<ContainerRole>,
    /// TCP ports published on this machine's loopback, each on a port the engine picks (the
    /// bundle's declared ports in smolvm's desktop mode; `published::read` finds them).
    pub(crate) publish: Vec<u16>,
}

impl PlannedContainer {
    /// A container of `role` running `image` on `network` at `ip`, resolving through `dns`.
    pub(crate) fn new(
        role: ContainerRole,
        image: String,
        network: String,
        ip: Ipv4Addr,
        dns: Ipv4Addr,
    ) -> Self {
        Self {
            role,
            image,
            entrypoint: vec![],
            cmd: vec![],
            image_command: false,
            network,
            ip,
            aliases: vec![],
            ip_v6: None,
            more: vec![],
            more_v6: vec![],
            sysctls: vec![],
            binds: vec![],
            cap_add: vec![],
            announces_ready: false,
            extra_labels: vec![],
            dns,
            files: vec![],
            route_metadata: false,
            extra_hosts: vec![],
            shares_namespace_of: None,
            publish: vec![],
        }
    }

    /// A container of `role` running `image` in the network namespace of `of` (see
    /// [`PlannedContainer::shares_namespace_of`]).
    pub(crate) fn in_namespace_of(role: ContainerRole, image: String, of: ContainerRole) -> Self {
        Self {
            shares_namespace_of: Some(of),
            ..Self::new(
                role,
                image,
                String::new(),
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
            )
        }
    }

    pub(crate) fn publish(mut self, publish: Vec<u16>) -> Self {
        self.publish = publish;
        self
    }

    pub(crate) fn extra_hosts(mut self, extra_hosts: Vec<String>) -> Self {
        self.extra_hosts = extra_hosts;
        self
    }

    pub(crate) fn entrypoint(mut self, entrypoint: Vec<String>) -> Self {
        self.entrypoint = entrypoint;
        self
    }

    pub(crate) fn cmd(mut self, cmd: Vec<String>) -> Self {
        self.cmd = cmd;
        self
    }

    /// Keeps the image's own `ENTRYPOINT` and `CMD`.
    pub(crate) fn image_command(mut self, image_command: bool) -> Self {
        self.image_command = image_command;
        self
    }

    pub(crate) fn aliases(mut self, aliases: Vec<String>) -> Self {
        self.aliases = aliases;
        self
    }

    pub(crate) fn ip_v6(mut self, ip_v6: Option<Ipv6Addr>) -> Self {
        self.ip_v6 = ip_v6;
        self
    }

    /// Further networks (name, address) joined before start.
    pub(crate) fn more(mut self, more: Vec<(String, Ipv4Addr)>) -> Self {
        self.more = more;
        self
    }

    /// Further networks (name, address, IPv6 address) joined before start.
    pub(crate) fn more_v6(mut self, more_v6: Vec<(String, Ipv4Addr, Ipv6Addr)>) -> Self {
        self.more_v6 = more_v6;
        self
    }

    pub(crate) fn sysctl(mut self, key: &str, value: &str) -> Self {
        self.sysctls.push((key.to_string(), value.to_string()));
        self
    }

    pub(crate) fn binds(mut self, binds: Vec<String>) -> Self {
        self.binds = binds;
        self
    }

    pub(crate) fn cap_add(mut self, cap_add: Vec<String>) -> Self {
        self.cap_add = cap_add;
        self
    }

    pub(crate) fn announces_ready(mut self, announces_ready: bool) -> Self {
        self.announces_ready = announces_ready;
        self
    }

    pub(crate) fn label(mut self, key: &str, value: String) -> Self {
        self.extra_labels.push((key.to_string(), value));
        self
    }

    /// Every network the container joins; it is created once they all exist. None for a
    /// container in another's namespace.
    pub(crate) fn networks(&self) -> Vec<&str> {
        if self.shares_namespace_of.is_some() {
            return vec![];
        }
        std::iter::once(self.network.as_str())
            .chain(self.more.iter().map(|(network, _)| network.as_str()))
            .chain(self.more_v6.iter().map(|(network, _, _)| network.as_str()))
            .collect()
    }
}

/// Whether the bottle gets a checker container: only where this machine cannot send to the
/// fixture hosts itself.
pub(crate) fn wants_checker(spec: &BottleSpec) -> bool {
    !spec.engine_host.routes_to_bridges()
}
