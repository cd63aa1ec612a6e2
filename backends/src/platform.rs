//! What kind of machine runs the bottle: the architecture its in-bottle binaries must be built
//! for, and whether the engine shares this machine's network stack.
//!
//! Why it matters: the probe and fixture binaries are static Linux executables, one per
//! architecture, so an aarch64 engine (Apple Silicon, an arm64 CI runner) needs the aarch64 pair;
//! and on Docker Desktop the engine runs in a VM, so "this machine" (where the harness and its
//! host canaries run) is not the engine's host: its addresses, bridges and `/proc` are not the
//! ones the containers sit behind. Both facts come from the engine's own `GET /info`
//! (`Architecture`, `OperatingSystem`); the decisions are pure functions of it, unit-tested on
//! recorded answers in `backends/tests/engine-info/`.

use serde::{Deserialize, Serialize};

/// A bottle architecture: the in-bottle binaries exist for these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The name the suite uses (`x86_64`, `aarch64`): Rust's and the Linux kernel's.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The Rust target the in-bottle binaries are built for (static, musl, linked by rust-lld).
    pub fn musl_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Parses the names engines and users give: Docker's `Architecture` is the kernel's
    /// (`x86_64`, `aarch64`); OCI platforms say `amd64`, `arm64`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" | "x86-64" => Some(Arch::X86_64),
            "aarch64" | "arm64" | "arm64/v8" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// This machine's architecture, when it is one of the suite's.
    pub fn host() -> Option<Self> {
        Self::parse(std::env::consts::ARCH)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the engine runs relative to this machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineHost {
    /// A Linux engine on this machine: its bridges and addresses are this machine's.
    #[default]
    Local,
    /// Docker Desktop: the engine runs in a Linux VM; containers reach this machine as
    /// `host.docker.internal` and the VM as `gateway.docker.internal`, and this machine cannot
    /// route to the containers' bridge addresses (Docker's documentation, "Networking" of
    /// Docker Desktop; not measured here: there is no Mac on this project's machines).
    DockerDesktop,
}

impl EngineHost {
    /// Whether this machine can send to the containers' bridge addresses. Where it cannot
    /// (Docker Desktop), the harness checks the fixture hosts from a container of its own on
    /// their networks (the docker backend's checker), and learns from there where the name
    /// `host.docker.internal` leads.
    pub fn routes_to_bridges(self) -> bool {
        self == EngineHost::Local
    }

    /// Parses `local` / `docker-desktop` (the `--engine-host` override).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "local" => Some(EngineHost::Local),
            "docker-desktop" => Some(EngineHost::DockerDesktop),
            _ => None,
        }
    }
}

/// The engine facts a bottle depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnginePlatform {
    pub arch: Arch,
    pub host: EngineHost,
}

impl EnginePlatform {
    /// Reads the facts from the engine's `GET /info` fields. An architecture the suite has no
    /// binaries for is an error naming it (the harness turns it into exit 2).
    pub fn from_info(
        architecture: Option<&str>,
        operating_system: Option<&str>,
    ) -> Result<Self, String> {
        let named = architecture.unwrap_or("");
        let arch = Arch::parse(named).ok_or_else(|| {
            format!(
                "the engine reports architecture {named:?}; the suite's in-bottle binaries exist for {}",
                Arch::ALL.map(Arch::as_str).join(" and ")
            )
        })?;
        let host = if operating_system.is_some_and(|os| os.trim() == "Docker Desktop") {
            EngineHost::DockerDesktop
        } else {
            EngineHost::Local
        };
        Ok(Self { arch, host })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_architectures() {
        for arch in Arch::ALL {
            assert_eq!(Arch::parse(arch.as_str()), Some(arch));
            assert!(arch.musl_target().starts_with(arch.as_str()));
        }
        assert_eq!(Arch::parse("amd64"), Some(Arch::X86_64));
        assert_eq!(Arch::parse("ARM64"), Some(Arch::Aarch64));
        assert_eq!(Arch::parse("riscv64"), None);
        assert_eq!(Arch::parse(""), None);
    }

    #[test]
    fn only_a_local_engine_routes_to_bridges() {
        assert!(EngineHost::Local.routes_to_bridges());
        assert!(!EngineHost::DockerDesktop.routes_to_bridges());
        assert_eq!(
            EngineHost::parse("docker-desktop"),
            Some(EngineHost::DockerDesktop)
        );
        assert_eq!(EngineHost::parse(" local"), Some(EngineHost::Local));
        assert_eq!(EngineHost::parse("desktop"), None);
    }

    #[test]
    fn an_unknown_architecture_is_an_error_naming_it() {
        let error = EnginePlatform::from_info(Some("s390x"), Some("Ubuntu 24.04")).unwrap_err();
        assert!(error.contains("\"s390x\""), "{error}");
        assert!(EnginePlatform::from_info(None, None).is_err());
    }
}
