//! Vantage points: the places besides the agent where the harness runs the suite's probe
//! binary, for its own checks of targets this machine cannot reach by itself. One value names
//! the place; `BottleBackend::exec_from` runs the probe there.

use std::fmt;

/// Where a harness-side exec of the probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vantage {
    /// The harness's checker container on the fixture networks, where this machine cannot
    /// route to the bottle's bridges (Docker Desktop; `Layout::checker_ips`).
    Checker,
    /// Inside the bundle's network namespace (the recorder's container, which shares it,
    /// `Layout::bundle_loopback_port`): the only place the bundle's loopback can be reached
    /// from, and where what the bundle reaches is reached from (the LAN host's internal leg, the
    /// metadata service through the bundle's route).
    BundleNamespace,
}

impl Vantage {
    /// The place as reports and errors name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Vantage::Checker => "the checker",
            Vantage::BundleNamespace => "the bundle's namespace",
        }
    }
}

impl fmt::Display for Vantage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
