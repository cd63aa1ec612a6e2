//! `bottle.toml`: the user's agent and bundle images, ports, the proxy test names and timeouts.
//! Every table rejects unknown keys, so a typo is an error naming the key, not a silent default.

use std::path::{Path, PathBuf};

use bottle_backends::Ports;
use bottle_probes::wire::refusal::{body_prefix_ok, header_name_ok};
use bottle_probes::wire::UserRefusal;
use serde::Deserialize;

use crate::errors::HarnessError;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BottleConfig {
    #[serde(default)]
    pub agent: ImageConfig,
    #[serde(default)]
    pub bundle: ImageConfig,
    #[serde(default)]
    pub ports: PortsConfig,
    #[serde(default)]
    pub proxy: ProxyConfig,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
}

/// An image the user provides instead of the built-in one.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// A local image reference (never pulled).
    pub image: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PortsConfig {
    pub pipelock: u16,
    pub git_gate: u16,
    pub supervise: u16,
    pub egress: u16,
}

impl Default for PortsConfig {
    fn default() -> Self {
        let ports = Ports::default();
        Self {
            pipelock: ports.pipelock,
            git_gate: ports.git_gate,
            supervise: ports.supervise,
            egress: ports.egress,
        }
    }
}

impl PortsConfig {
    pub(crate) fn to_ports(&self) -> Ports {
        Ports {
            pipelock: self.pipelock,
            git_gate: self.git_gate,
            supervise: self.supervise,
            egress: self.egress,
        }
    }
}

/// The names the proxy probes use, and how the proxy's own refusal looks. Both names resolve to
/// the public fixture host on the upstream side; a user bundle must allow `allowed_host` and
/// nothing else the suite asks for.
///
/// A refusal is the proxy's answer with `refusal_status`. Where the harness records what the
/// request was aimed at, that status with the target's silence is enough; elsewhere (the
/// bundle's own loopback) the answer must also carry the proxy's signature: pipelock's and
/// Squid's are built in (see `bottle_probes::wire::refusal`), `refusal_header` (a header whose
/// presence marks it) and `refusal_body_prefix` (text its body starts with) name another.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub allowed_host: String,
    pub denied_host: String,
    /// No longer read (an error when set): the SSRF probes run on `allowed_host`, whose answer
    /// the harness switches at its own resolver, after the positive controls showed the proxy
    /// allows it. A separate name could not show that.
    pub allowed_internal_host: Option<String>,
    /// No longer read (an error when set), like `allowed_internal_host`.
    pub rebinding_host: Option<String>,
    /// The status of the proxy's refusals (400..=599).
    pub refusal_status: u16,
    pub refusal_header: Option<String>,
    pub refusal_body_prefix: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            allowed_host: "public.fixture.test".into(),
            denied_host: "blocked.fixture.test".into(),
            allowed_internal_host: None,
            rebinding_host: None,
            refusal_status: 403,
            refusal_header: None,
            refusal_body_prefix: None,
        }
    }
}

impl ProxyConfig {
    /// The user's own refusal signature, as the probe looks for it.
    pub fn user_refusal(&self) -> UserRefusal {
        UserRefusal {
            header: self.refusal_header.clone(),
            body_prefix: self.refusal_body_prefix.clone(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !(400..=599).contains(&self.refusal_status) {
            return Err(format!(
                "proxy.refusal_status = {} is not an error status (400..=599)",
                self.refusal_status
            ));
        }
        if let Some(name) = self
            .refusal_header
            .as_deref()
            .filter(|n| !header_name_ok(n))
        {
            return Err(format!(
                "proxy.refusal_header = {name:?} is not a header name (1 to 64 letters, digits, '-')"
            ));
        }
        if let Some(prefix) = self
            .refusal_body_prefix
            .as_deref()
            .filter(|p| !body_prefix_ok(p))
        {
            return Err(format!(
                "proxy.refusal_body_prefix = {prefix:?} must be 1 to 64 bytes without control characters"
            ));
        }
        Ok(())
    }
}

/// Per-attempt timeouts in milliseconds.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// Derive the deny timeout from the positive controls' round trip (see `run::adaptive_timeout`).
    pub adaptive: bool,
    /// The shortest adaptive deny timeout.
    pub floor_ms: u32,
    /// How long a deny attempt waits before it counts as a timeout: the fixed value, or the
    /// ceiling of the adaptive one.
    pub attempt_ms: u32,
    /// How long a positive control may take.
    pub control_ms: u32,
    /// The budget of the bundle port sweep.
    pub sweep_ms: u32,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            adaptive: true,
            floor_ms: 600,
            attempt_ms: 1500,
            control_ms: 5000,
            sweep_ms: 8000,
        }
    }
}

impl BottleConfig {
    /// Parses config text; `path` is only used in messages.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, HarnessError> {
        let config: BottleConfig =
            toml::from_str(text).map_err(|e| HarnessError::ConfigInvalid {
                path: path.to_path_buf(),
                reason: e.to_string().trim().replace('\n', " "),
            })?;
        config.validate(path)?;
        Ok(config)
    }

    pub(crate) fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::ConfigRead {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Loads `path` if given, else `./bottle.toml` if it exists, else the defaults.
    pub fn discover(path: Option<&Path>) -> Result<Self, HarnessError> {
        match path {
            Some(path) => Self::load(path),
            None => {
                let default = PathBuf::from("bottle.toml");
                if default.exists() {
                    Self::load(&default)
                } else {
                    Ok(Self::default())
                }
            }
        }
    }

    fn validate(&self, path: &Path) -> Result<(), HarnessError> {
        let invalid = |reason: String| HarnessError::ConfigInvalid {
            path: path.to_path_buf(),
            reason,
        };
        let ports = [
            ("ports.pipelock", self.ports.pipelock),
            ("ports.git_gate", self.ports.git_gate),
            ("ports.supervise", self.ports.supervise),
            ("ports.egress", self.ports.egress),
        ];
        for (index, (name, port)) in ports.iter().enumerate() {
            if *port == 0 {
                return Err(invalid(format!(
                    "{name} must be a port between 1 and 65535"
                )));
            }
            if let Some((other, _)) = ports[..index].iter().find(|(_, p)| p == port) {
                return Err(invalid(format!("{name} and {other} are both {port}")));
            }
        }
        for (key, set) in [
            (
                "proxy.allowed_internal_host",
                self.proxy.allowed_internal_host.is_some(),
            ),
            ("proxy.rebinding_host", self.proxy.rebinding_host.is_some()),
        ] {
            if set {
                return Err(invalid(format!(
                    "{key} is no longer read: the SSRF probes now run on proxy.allowed_host, whose answer the harness switches at its own resolver once the positive controls showed the proxy allows it (remove the key)"
                )));
            }
        }
        let names: Vec<(&str, &String)> = vec![
            ("proxy.allowed_host", &self.proxy.allowed_host),
            ("proxy.denied_host", &self.proxy.denied_host),
        ];
        for (index, (name, host)) in names.iter().enumerate() {
            if let Some((other, _)) = names[..index]
                .iter()
                .find(|(_, h)| h.eq_ignore_ascii_case(host))
            {
                return Err(invalid(format!("{other} and {name} are the same name")));
            }
        }
        for (name, host) in names {
            let ok = !host.is_empty()
                && host.len() <= 200
                && host.parse::<std::net::IpAddr>().is_err()
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                return Err(invalid(format!("{name} = {host:?} is not a DNS name")));
            }
        }
        self.proxy.validate().map_err(invalid)?;
        let t = &self.timeouts;
        for (name, value) in [
            ("timeouts.attempt_ms", t.attempt_ms),
            ("timeouts.floor_ms", t.floor_ms),
            ("timeouts.control_ms", t.control_ms),
            ("timeouts.sweep_ms", t.sweep_ms),
        ] {
            if !(100..=120_000).contains(&value) {
                return Err(invalid(format!("{name} = {value} is outside 100..=120000")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BottleConfig, String> {
        BottleConfig::parse(text, Path::new("bottle.toml")).map_err(|e| e.to_string())
    }

    /// The old SSRF names are refused with what replaced them, and the two proxy names may
    /// not be one.
    #[test]
    fn the_old_ssrf_names_are_refused_and_the_proxy_names_checked() {
        for (text, named) in [
            (
                "[proxy]\nallowed_internal_host = \"intra.corp.test\"\n",
                "proxy.allowed_internal_host is no longer read: the SSRF probes now run on proxy.allowed_host",
            ),
            (
                "[proxy]\nrebinding_host = \"flip.corp.test\"\n",
                "proxy.rebinding_host is no longer read",
            ),
            (
                "[proxy]\ndenied_host = \"PUBLIC.fixture.test\"\n",
                "proxy.allowed_host and proxy.denied_host are the same name",
            ),
            (
                "[proxy]\ndenied_host = \"10.0.0.1\"\n",
                "proxy.denied_host = \"10.0.0.1\" is not a DNS name",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(named), "{text}: {error}");
        }
    }

    #[test]
    fn empty_config_gives_the_builtin_defaults() {
        assert_eq!(parse("").unwrap(), BottleConfig::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = parse("[agent]\nimage = \"x\"\nimgae = \"y\"\n").unwrap_err();
        assert!(error.contains("imgae"), "{error}");
        let error = parse("[bundel]\nimage = \"x\"\n").unwrap_err();
        assert!(error.contains("bundel"), "{error}");
    }

    #[test]
    fn user_images_and_ports_are_read() {
        let config = parse("[agent]\nimage = \"me/agent:1\"\n[ports]\npipelock = 8080\n").unwrap();
        assert_eq!(config.agent.image.as_deref(), Some("me/agent:1"));
        assert_eq!(config.ports.pipelock, 8080);
        assert_eq!(config.ports.egress, 9099);
    }

    #[test]
    fn the_proxy_refusal_keys_parse_and_are_checked() {
        assert_eq!(parse("").unwrap().proxy.refusal_status, 403);
        let config = parse(
            "[proxy]\nrefusal_status = 407\nrefusal_header = \"X-Gate-Refused\"\nrefusal_body_prefix = \"Access denied: \"\n",
        )
        .unwrap();
        assert_eq!(config.proxy.refusal_status, 407);
        assert_eq!(
            config.proxy.user_refusal(),
            UserRefusal {
                header: Some("X-Gate-Refused".into()),
                body_prefix: Some("Access denied: ".into()),
            }
        );
        // Unknown keys stay refused, named.
        let error = parse("[proxy]\nrefusal_headers = \"X\"\n").unwrap_err();
        assert!(error.contains("refusal_headers"), "{error}");
        for (text, key) in [
            ("refusal_status = 200", "refusal_status"),
            ("refusal_status = 302", "refusal_status"),
            ("refusal_header = \"X Gate\"", "refusal_header"),
            ("refusal_header = \"\"", "refusal_header"),
            ("refusal_body_prefix = \"\"", "refusal_body_prefix"),
            ("refusal_body_prefix = \"a\\nb\"", "refusal_body_prefix"),
        ] {
            let error = parse(&format!("[proxy]\n{text}\n")).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse("[ports]\npipelock = 9099\n")
            .unwrap_err()
            .contains("ports.egress"));
        assert!(parse("[ports]\ngit_gate = 0\n")
            .unwrap_err()
            .contains("git_gate"));
        assert!(parse("[proxy]\nallowed_host = \"10.0.0.1\"\n")
            .unwrap_err()
            .contains("allowed_host"));
        assert!(parse("[timeouts]\nattempt_ms = 5\n")
            .unwrap_err()
            .contains("attempt_ms"));
    }
}
