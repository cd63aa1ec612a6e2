//! Vantage points: the places besides the agent where the harness runs the suite's probe
//! binary, for its own checks of targets this machine cannot reach by itself. One value names
//! the place; `BottleBackend::exec_from` runs the probe there.

use std::fmt;

/// Where a harness-side exec of the probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vantage {
    /// The harness's checker container on the fixture networks, where this machine cannot
    /// route to the bottle's bridges (Docker Desktop; `Topology::checker_ips`).
    Checker,
    /// Inside the bundle's network namespace (the recorder on its loopback,
    /// `Topology::bundle_loopback_port`): the only place its loopback can be reached from.
    BundleLoopback,
}

impl Vantage {
    /// The place as reports and errors name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Vantage::Checker => "the checker",
            Vantage::BundleLoopback => "the bundle's namespace",
        }
    }
}

impl fmt::Display for Vantage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
