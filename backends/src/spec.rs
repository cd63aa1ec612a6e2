//! What a bottle should look like, independent of the backend that brings it up.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::platform::{Arch, EngineHost};

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ImageSource {
    /// Built locally from one of our static binaries (the default): nothing is pulled.
    Builtin { binary: PathBuf },
    /// An image the user already has on the engine, named in `bottle.toml`. For the agent, the
    /// probe binary is copied into the container before it starts; for the bundle, the user's
    /// image must serve pipelock, git-gate and supervise on the configured ports.
    User { reference: String },
}

/// The bundle's service ports (pipelock, git-gate and supervise on 0.0.0.0; egress on the
/// bundle's loopback only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub pipelock: u16,
    pub git_gate: u16,
    pub supervise: u16,
    pub egress: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            pipelock: 3128,
            git_gate: 9418,
            supervise: 9100,
            egress: 9099,
        }
    }
}

impl Ports {
    /// The ports that may answer on the bundle's agent-side address.
    pub fn declared(&self) -> Vec<u16> {
        let mut ports = vec![self.pipelock, self.git_gate, self.supervise];
        ports.sort_unstable();
        ports
    }
}

/// Deliberate breakage, for the tests (and later the self-test) that prove the suite notices.
/// A correct bottle has every field false / empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sabotage {
    /// The agent is also attached to the upstream network, next to the public host.
    pub agent_on_upstream: bool,
    /// The agent network gets a host-side gateway address (no `inhibit_ipv4`).
    pub no_host_block: bool,
    /// egress listens on 0.0.0.0 instead of the bundle's loopback.
    pub egress_all_interfaces: bool,
    /// The bundle opens one more listener on this port.
    pub extra_bundle_listener: Option<u16>,
    /// pipelock lets every host through.
    pub pipelock_allow_all: bool,
    /// pipelock lets CONNECT to IP literals through.
    pub pipelock_allow_ip_literals: bool,
    /// The bundle runs a DNS forwarder to the outside resolver and the agent resolves through it.
    #[serde(default)]
    pub resolver_forwards: bool,
    /// Every fixture (pipelock and the canaries) delays its replies by this many ms: a slow
    /// path, for proving that a too-short timeout never passes.
    #[serde(default)]
    pub slow_fixtures_ms: Option<u32>,
    /// The agent network gets IPv6, so the host holds an address on it (the bridge's IPv6
    /// gateway): the host block then covers IPv4 only.
    #[serde(default)]
    pub ipv6_host: bool,
    /// The agent is also attached to a second bottle's agent network.
    #[serde(default)]
    pub neighbour_reachable: bool,
    /// IP forwarding on in the dual-homed bundle, the agent routed through it (and the
    /// upstream hosts routing back through it).
    #[serde(default)]
    pub ip_forward: bool,
    /// The engine's unix socket is bind-mounted into the agent.
    #[serde(default)]
    pub engine_socket: bool,
    /// pipelock's allowlist matches any host that ends with an allowed name.
    #[serde(default)]
    pub pipelock_match_suffix: bool,
    /// pipelock's allowlist matches any host that contains an allowed name.
    #[serde(default)]
    pub pipelock_match_substring: bool,
    /// pipelock takes a URL's userinfo for its host.
    #[serde(default)]
    pub pipelock_userinfo_as_host: bool,
    /// pipelock keeps the client's Host header and routes by it.
    #[serde(default)]
    pub pipelock_route_by_host_header: bool,
    /// pipelock does not compare a tunnel's TLS SNI with its CONNECT authority.
    #[serde(default)]
    pub pipelock_no_sni_check: bool,
    /// pipelock does not check the addresses allowed names resolve to.
    #[serde(default)]
    pub pipelock_no_ssrf_check: bool,
    /// pipelock checks one lookup's address and lets egress resolve the name again.
    #[serde(default)]
    pub pipelock_no_pinning: bool,
    /// A microVM agent's allow list also holds the agent network's whole subnet (linux mode:
    /// not the bundle alone; desktop mode: beside the gateway and the loopback).
    #[serde(default)]
    pub vmm_allow_subnet: bool,
    /// A microVM agent's allow list is `0.0.0.0/0`.
    #[serde(default)]
    pub vmm_allow_all: bool,
    /// A microVM agent's network is on with no egress policy at all (its user-space stack kept).
    #[serde(default)]
    pub vmm_no_policy: bool,
    /// A microVM agent's allow list also holds its VMM's gateway (the host's side).
    #[serde(default)]
    pub vmm_allow_host_gateway: bool,
    /// A microVM agent's VMM forwards every name its guest asks (no DNS filter).
    #[serde(default)]
    pub vmm_no_dns_filter: bool,
}

impl Sabotage {
    pub fn is_clean(&self) -> bool {
        *self == Sabotage::default()
    }
}

/// Everything a backend needs to bring one bottle up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BottleSpec {
    pub run_id: String,
    /// The agent image; the built-in one runs `bottle-probe idle`.
    pub agent: ImageSource,
    /// The bundle image; the built-in one is `bottle-fixture bundle`.
    pub bundle: ImageSource,
    /// The fixture hosts' image source (always built-in: `bottle-fixture`).
    pub fixture_binary: PathBuf,
    /// The probe binary, copied into user-provided agent images.
    pub probe_binary: PathBuf,
    /// The architecture both binaries are built for (the bottle's): images are tagged with it.
    pub arch: Arch,
    /// Where the engine runs relative to this machine (from the engine's `GET /info`); the
    /// topology carries it so that the plan knows which of "this machine's" targets exist.
    #[serde(default)]
    pub engine_host: EngineHost,
    /// What the engine itself reported, when `engine_host` was set otherwise (`--engine-host`,
    /// which runs Docker Desktop's decisions on a Linux engine).
    #[serde(default)]
    pub engine_host_reported: EngineHost,
    pub ports: Ports,
    /// The name pipelock allows (the DNS canary answers it with the public fixture host).
    pub allowed_host: String,
    /// A name pipelock must refuse (the DNS canary answers it with the public fixture host).
    pub denied_host: String,
    /// The secret the harness's switch queries carry at the DNS canary (random per run, a DNS
    /// label): between its probe execs the harness switches `allowed_host`'s answer to the LAN
    /// host's internal address and to a rebinding one (the SSRF probes), and only a query
    /// carrying this switches it.
    #[serde(default)]
    pub dns_switch_secret: String,
    pub sabotage: Sabotage,
    /// Leave the bottle up after the run (`--keep`, `up`); never reaped as stale.
    pub keep: bool,
}

/// Host parts of the pinned addresses inside each /24 the bottle owns.
pub mod hosts {
    /// The bundle, on the agent network and on the upstream network.
    pub(crate) const BUNDLE: u8 = 2;
    /// The agent, on the agent network.
    pub(crate) const AGENT: u8 = 3;
    /// The agent's second address when sabotaged onto the upstream network.
    pub(crate) const AGENT_UPSTREAM: u8 = 4;
    /// The public fixture host, on the upstream network.
    pub(crate) const PUBLIC: u8 = 10;
    /// The DNS canary, on the upstream network.
    pub(crate) const DNS: u8 = 53;
    /// The LAN fixture host, on the LAN network.
    pub(crate) const LAN: u8 = 10;
    /// The neighbour bottle's bundle on the upstream network (on its own agent network it is
    /// `BUNDLE`).
    pub(crate) const NEIGHBOUR_UPSTREAM: u8 = 20;
    /// The metadata fixture on the upstream network (it also holds 169.254.169.254).
    pub(crate) const METADATA_UPSTREAM: u8 = 30;
    /// The agent's address on the neighbour's network when sabotaged onto it.
    pub(crate) const AGENT_NEIGHBOUR: u8 = 5;
    /// The agent's inbound listener port (the inbound probe), dialled by the fixture hosts.
    pub(crate) const INBOUND_PORT: u16 = 4700;
    /// The LAN host's address on the bundle's side network (where the SSRF probes' name leads).
    pub(crate) const LAN_INTERNAL: u8 = 40;
    /// The harness's checker container, on the upstream, LAN and public IPv6 networks (only
    /// when the engine is not on this machine, see `ContainerRole::Checker`).
    pub(crate) const CHECKER: u8 = 60;
    /// The host address of the upstream network that nothing is ever given: the IP literal
    /// `proxy.dns_side_channel` asks the proxy for, so that even an open proxy contacts nothing
    /// real, and whose reverse lookup names this run's network only.
    pub const NEVER_ASSIGNED: u8 = 199;
    /// UDP echo port of the public and LAN fixture hosts.
    pub const UDP_ECHO_PORT: u16 = 7;
    /// The port of the harness's recorder on every loopback address of the bundle's network
    /// namespace (`proxy.loopback_spellings` aims there): far from the bundle's service ports
    /// and from the ports a user's bundle commonly keeps on its loopback.
    pub const BUNDLE_LOOPBACK_PORT: u16 = 39099;
}

/// The address `host` inside the /24 whose network address is `base`.
pub(crate) fn host_in(base: Ipv4Addr, host: u8) -> Ipv4Addr {
    let [a, b, c, _] = base.octets();
    Ipv4Addr::new(a, b, c, host)
}
