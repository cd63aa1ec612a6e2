//! Rendering the Smolfile that configures the agent microVM.
//!
//! Only `image`, `entrypoint`, `cmd`, `env`, `cpus`, `memory` and `[network] allow_cidrs`,
//! `allow_hosts` are written: every other key keeps smolvm's default, so the rendered file says
//! exactly what the bottle relies on.
//!
//! `cpus` and `memory` size the agent for the probe (one process, a sweep's threads), not
//! smolvm's default 4 CPUs and 8 GiB: on a small host (a CI runner, the KVM lab's two emulated
//! cores and 8 GiB) the default asks for the whole machine.
//!
//! `allow_hosts` is the DNS filter: smolvm answers the guest's DNS itself (UDP/53 to any
//! address, TCP/53 to its gateway) and, with no `allow_hosts`, forwards *every* name to its
//! upstream, a channel out of the bottle under any CIDR-only policy. With it, only the listed
//! names (and their subdomains) are forwarded; every other name gets NXDOMAIN from smolvm and
//! never leaves (smol-machines/smolvm `crates/smolvm-network/src/stack.rs`, `dns.rs`). The
//! bottle lists only the bundle's name, whose answer (the bundle's address) smolvm learns as
//! allowed, which it already is.
//!
//! Modes:
//! * **linux** (smolvm ≥ 1.0 on Linux with KVM): the bundle is a Docker container on a bridge
//!   the host can route to; the microVM's virtio-net traffic leaves through the host, and
//!   `allow_cidrs = ["<bundle-ip>/32"]` is its only allowed destination (smolvm's widening by
//!   the host's resolver, `ensure_dns_in_cidrs`, is for TSI only, which 1.32.2 refuses with a
//!   policy; see docs/backends/smolmachines.md). The guest's 127.0.0.1 is the guest itself.
//! * **desktop** (macOS, Docker Desktop): containers' bridge addresses are not routable from the
//!   host, so the bundle's ports are published on the host's loopback and the allow list names
//!   the host side, `127.0.0.1/32`, reached from the guest as `host.smolvm.internal`. TCP allows
//!   carry no ports, so every service on the host's loopback is then open to the agent: the
//!   loopback gap tracked as claude-bottle issue 75 (under smolvm 0.8.0's TSI the same allow list
//!   made the guest's own 127.0.0.1 the host's).

use std::net::Ipv4Addr;

use serde::Serialize;

/// The agent microVM's virtual CPUs (`cpus`).
pub const AGENT_CPUS: u8 = 2;
/// The agent microVM's memory in MiB (`memory`).
pub const AGENT_MEMORY_MIB: u32 = 1024;

/// The bundle's name as the bottle's DNS knows it (its container alias, the resolver controls'
/// name): the one name the Smolfile's DNS filter lets through.
pub const BUNDLE_NAME: &str = "bundle";

/// The guest's gateway under smolvm 1.x's virtio-net stack, the address smolvm answers
/// `host.smolvm.internal` with; its relay dials this machine's loopback for it.
pub const GUEST_GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 1);

/// How the microVM reaches the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Linux,
    Desktop,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "linux" => Some(Mode::Linux),
            "desktop" => Some(Mode::Desktop),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Linux => "linux",
            Mode::Desktop => "desktop",
        }
    }

    /// The mode smolvm runs in on this host by default.
    pub fn for_host() -> Self {
        if cfg!(target_os = "macos") {
            Mode::Desktop
        } else {
            Mode::Linux
        }
    }

    /// The host name the guest uses for the host side in desktop mode.
    pub(crate) const DESKTOP_HOST: &'static str = "host.smolvm.internal";

    /// The environment variable that chooses the mode for a run (`linux`, `desktop`); unset,
    /// the host's own ([`Mode::for_host`]). The KVM lab runs desktop mode on Linux with it.
    pub const ENV: &'static str = "CLAUDE_BOTTLE_SMOLVM_MODE";

    /// The mode of this run: [`Mode::ENV`] if set, else the host's; a value that names no mode
    /// is an error naming it.
    pub fn chosen() -> Result<Self, String> {
        match std::env::var(Self::ENV) {
            Ok(value) if !value.trim().is_empty() => Self::parse(value.trim()).ok_or_else(|| {
                format!(
                    "{}={value:?} names no smolvm mode (linux, desktop)",
                    Self::ENV
                )
            }),
            _ => Ok(Self::for_host()),
        }
    }
}

/// What goes into a Smolfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmolfileSpec {
    pub mode: Mode,
    /// A `docker save` archive (path) or an unpacked rootfs directory.
    pub image: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// The bundle's address as the host sees it (linux mode).
    pub bundle_ip: Ipv4Addr,
    /// pipelock's port (on the bundle in linux mode, published on the host in desktop mode).
    pub pipelock_port: u16,
    /// Extra environment, after the proxy variables.
    pub extra_env: Vec<(String, String)>,
    /// The only names smolvm forwards to its upstream resolver (`[network] allow_hosts`).
    pub allow_hosts: Vec<String>,
    /// An allow list in place of the mode's own (a sabotage widens it; empty: no policy).
    pub allow_cidrs_instead: Option<Vec<String>>,
}

impl SmolfileSpec {
    /// The proxy URL the agent's tools should use.
    pub(crate) fn proxy_url(&self) -> String {
        match self.mode {
            Mode::Linux => format!("http://{}:{}", self.bundle_ip, self.pipelock_port),
            Mode::Desktop => format!("http://{}:{}", Mode::DESKTOP_HOST, self.pipelock_port),
        }
    }

    /// The only destinations the microVM may reach.
    pub fn allow_cidrs(&self) -> Vec<String> {
        if let Some(cidrs) = &self.allow_cidrs_instead {
            return cidrs.clone();
        }
        match self.mode {
            Mode::Linux => vec![format!("{}/32", self.bundle_ip)],
            // What the guest dials (the gateway, which smolvm's egress check sees) and what
            // smolvm dials behind it (this machine's loopback, closed unless a static allow
            // names it): measured with smolvm 1.32.2 in the KVM lab, where the gateway alone
            // or the loopback alone reaches nothing there.
            Mode::Desktop => vec![format!("{GUEST_GATEWAY}/32"), "127.0.0.1/32".to_string()],
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let proxy = self.proxy_url();
        let mut env: Vec<(String, String)> =
            ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
                .iter()
                .map(|name| (name.to_string(), proxy.clone()))
                .collect();
        env.push(("NO_PROXY".into(), String::new()));
        env.push(("no_proxy".into(), String::new()));
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// The Smolfile as smolvm reads it: only the keys the bottle relies on, in smolvm's own names
/// (its `Smolfile` format: top-level `image`, `entrypoint`, `cmd`, `env`; `[network]
/// allow_cidrs`). Serialised by `toml`, so quoting and escaping are the serialiser's job.
#[derive(Serialize)]
struct Smolfile<'a> {
    image: &'a str,
    entrypoint: &'a [String],
    cmd: &'a [String],
    /// `NAME=value` entries, as smolvm's `env` key takes them.
    env: Vec<String>,
    cpus: u8,
    /// MiB.
    memory: u32,
    /// Only with no policy: smolvm would otherwise pick TSI, whose guest sockets are the
    /// host's (no user-space stack, no DNS interception).
    #[serde(skip_serializing_if = "Option::is_none")]
    net: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    net_backend: Option<&'static str>,
    network: Network,
}

#[derive(Serialize)]
struct Network {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow_cidrs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow_hosts: Vec<String>,
}

/// Renders the Smolfile text: a comment naming the mode, then the typed document.
pub fn render(spec: &SmolfileSpec) -> String {
    let document = Smolfile {
        image: &spec.image,
        entrypoint: &spec.entrypoint,
        cmd: &spec.cmd,
        env: spec.env().iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cpus: AGENT_CPUS,
        memory: AGENT_MEMORY_MIB,
        net: spec.allow_cidrs().is_empty().then_some(true),
        net_backend: spec.allow_cidrs().is_empty().then_some("virtio-net"),
        network: Network {
            allow_cidrs: spec.allow_cidrs(),
            allow_hosts: spec.allow_hosts.clone(),
        },
    };
    // Strings, string arrays and one table of them: nothing here the serialiser can refuse.
    let body = toml::to_string(&document).expect("a Smolfile of strings always serialises");
    format!(
        "# Rendered by claude-bottle ({} mode). Only what the bottle relies on is set.\n{body}",
        spec.mode.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes, backslashes, control characters and other Unicode survive the round trip through
    /// a TOML parser unchanged (the escaping the serialiser chose is its business).
    #[test]
    fn strings_with_quotes_backslashes_and_controls_parse_back_unchanged() {
        let awkward = [r#"a"b\c"#, "x\u{1}y\n", "é = ü", "it's", "'both\" kinds'"];
        let spec = SmolfileSpec {
            mode: Mode::Linux,
            image: awkward[0].into(),
            entrypoint: awkward.iter().map(|s| s.to_string()).collect(),
            cmd: awkward.iter().rev().map(|s| s.to_string()).collect(),
            bundle_ip: Ipv4Addr::new(10, 0, 0, 2),
            pipelock_port: 3128,
            extra_env: vec![("AWKWARD".into(), awkward[1].into())],
            allow_hosts: vec![],
            allow_cidrs_instead: None,
        };
        let parsed: toml::Table = toml::from_str(&render(&spec)).unwrap();
        let strings = |key: &str| -> Vec<String> {
            parsed[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(parsed["image"].as_str(), Some(awkward[0]));
        assert_eq!(strings("entrypoint"), spec.entrypoint);
        assert_eq!(strings("cmd"), spec.cmd);
        assert_eq!(
            strings("env").last().map(String::as_str),
            Some("AWKWARD=x\u{1}y\n")
        );
    }
}
