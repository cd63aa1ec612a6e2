//! Rendering the Smolfile that configures the agent microVM.
//!
//! Only `image`, `entrypoint`, `cmd`, `env` and `[network] allow_cidrs` are written: every other
//! key keeps smolvm's default, so the rendered file says exactly what the bottle relies on.
//!
//! Modes:
//! * **linux** (smolvm ≥ 1.0 on Linux with KVM): the bundle is a Docker container on a bridge
//!   the host can route to; the microVM's virtio-net traffic leaves through the host, and
//!   `allow_cidrs = ["<bundle-ip>/32"]` is its only allowed destination. smolvm adds the host's
//!   first DNS resolver to every non-loopback allow list (a declared gap, see
//!   docs/backends/smolmachines.md). The guest's 127.0.0.1 is the guest itself.
//! * **desktop** (macOS, Docker Desktop): containers' bridge addresses are not routable from the
//!   host, so the bundle's ports are published on the host's loopback and the allow list names
//!   the host side, `127.0.0.1/32`, reached from the guest as `host.smolvm.internal`. TCP allows
//!   carry no ports, so every service on the host's loopback is then open to the agent: the
//!   loopback gap tracked as claude-bottle issue 75 (under smolvm 0.8.0's TSI the same allow list
//!   made the guest's own 127.0.0.1 the host's).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;

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

    /// The mode smolvm runs in on this host.
    pub fn for_host() -> Self {
        if cfg!(target_os = "macos") {
            Mode::Desktop
        } else {
            Mode::Linux
        }
    }

    /// The host name the guest uses for the host side in desktop mode.
    pub(crate) const DESKTOP_HOST: &'static str = "host.smolvm.internal";
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
        match self.mode {
            Mode::Linux => vec![format!("{}/32", self.bundle_ip)],
            Mode::Desktop => vec!["127.0.0.1/32".to_string()],
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

/// A TOML basic string: quotes, backslashes and control characters escaped; other Unicode kept.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_array(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| toml_string(v)).collect();
    format!("[{}]", items.join(", "))
}

/// Renders the Smolfile text.
pub fn render(spec: &SmolfileSpec) -> String {
    let env: Vec<String> = spec.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Rendered by claude-bottle ({} mode). Only what the bottle relies on is set.",
        spec.mode.as_str()
    );
    let _ = writeln!(out, "image = {}", toml_string(&spec.image));
    let _ = writeln!(out, "entrypoint = {}", toml_array(&spec.entrypoint));
    let _ = writeln!(out, "cmd = {}", toml_array(&spec.cmd));
    let _ = writeln!(out, "env = {}", toml_array(&env));
    let _ = writeln!(out);
    let _ = writeln!(out, "[network]");
    let _ = writeln!(out, "allow_cidrs = {}", toml_array(&spec.allow_cidrs()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_string("x\u{1}y\n"), r#""x\u0001y\n""#);
        assert_eq!(toml_string("é = ü"), "\"é = ü\"");
    }
}
