//! The built-in known gaps per backend and the gaps in force for a run (built-in first, then the
//! user's entries for the backend).

use crate::gaps::GapEntry;
use crate::select::BackendKind;
use crate::verdict::KnownGap;

/// Where the smolvm loopback limitation is tracked.
pub(crate) const LOOPBACK_GAP_LINK: &str = "claude-bottle issue 75";

/// Known gaps per backend. Docker has none: every probe must be contained. smolmachines in the
/// Docker Desktop mode allows the host's loopback (the bundle's ports are published there, and
/// smolvm's TCP allows carry no ports), so every service on the host's loopback is open to the
/// agent: claude-bottle issue 75.
pub(crate) fn known_gaps(backend: BackendKind) -> Vec<KnownGap> {
    use bottle_backends::smolmachines::smolfile::Mode;
    match backend {
        BackendKind::Docker => Vec::new(),
        BackendKind::Smolmachines => match Mode::for_host() {
            Mode::Linux => Vec::new(),
            Mode::Desktop => ["localhost.agent_loopback", "localhost.host_addresses"]
                .iter()
                .map(|probe| KnownGap {
                    probe: probe.to_string(),
                    reason: "the desktop-mode allow list 127.0.0.1/32 opens every service on the host's loopback to the agent".into(),
                    link: LOOPBACK_GAP_LINK.into(),
                    expires: None,
                    // Only the host's loopback through the VMM's gateway (host.smolvm.internal).
                    destination: Some("100.96.0.1:*".into()),
                })
                .collect(),
        },
    }
}

/// The gaps in force for a run on `backend`: the built-in ones, then the user's entries for it.
pub(super) fn gaps_in_force(backend: BackendKind, entries: &[GapEntry]) -> Vec<KnownGap> {
    let mut gaps = known_gaps(backend);
    gaps.extend(crate::gaps::for_backend(entries, backend));
    gaps
}
