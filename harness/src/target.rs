//! The harness-owned targets: what an attempt aims at and whose liveness a verdict may depend on.
//! Shared by the plan (each attempt names its target), the host side (liveness checks per
//! target) and the verdicts, so it lives in none of them.

/// A harness-owned target whose liveness a verdict may depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    HostLoopback,
    HostAllInterfaces,
    Public,
    Lan,
    Dns,
    /// The bundle's own listeners (egress, undeclared ports); alive when the proxy control passes.
    Bundle,
    /// The harness's recorder on every loopback address of the bundle's namespace.
    BundleLoopback,
    /// A second bottle's bundle.
    Neighbour,
    /// The cloud-metadata fixture (169.254.169.254 inside the bottle's world).
    Metadata,
}

impl Target {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Target::HostLoopback => "host loopback canary",
            Target::HostAllInterfaces => "host all-interfaces canary",
            Target::Public => "public fixture host",
            Target::Lan => "LAN fixture host",
            Target::Dns => "DNS canary",
            Target::Bundle => "bundle",
            Target::BundleLoopback => "recorder on the bundle's loopback",
            Target::Neighbour => "neighbour bottle's bundle",
            Target::Metadata => "metadata fixture",
        }
    }
}
