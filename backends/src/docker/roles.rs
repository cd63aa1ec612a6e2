//! The roles of a bottle's containers and networks, and the Docker object names they give
//! (`cb-<run>-<role>`). One enum per kind of object, so that a misspelt role does not compile
//! (it would name an object no step creates, or a label no lookup finds).

use std::fmt;

/// What a container of the bottle is for. Its name is `cb-<run>-<role>`, its hostname the role,
/// and its `claude-bottle.role` label the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContainerRole {
    /// The bundle (pipelock, egress, git-gate, supervise); holds the topology label.
    Bundle,
    /// The public fixture host; also stands for the DNS canary.
    Public,
    /// The LAN fixture host the agent must not reach.
    Lan,
    /// A second bottle's bundle; also stands for the cloud-metadata service.
    Neighbour,
    /// The agent (absent when the agent is a microVM).
    Agent,
    /// The harness's own vantage point on the fixture networks, when this machine cannot
    /// route to them (Docker Desktop): the liveness checks of the fixture hosts are sent from
    /// here, and its `/etc/hosts` says where `host.docker.internal` leads. It listens on
    /// nothing and never joins the agent's network.
    Checker,
    /// The harness's recorder in the bundle's network namespace: a canary on every loopback
    /// address of the bundle (one port, see `spec::hosts::BUNDLE_LOOPBACK_PORT`), so that a
    /// proxy that forwards a request to its own loopback leaves a record whatever it answers.
    /// It listens on nothing the agent can reach; the liveness checks of its port are exec'd
    /// in it (the probe is copied in).
    Recorder,
}

impl ContainerRole {
    /// The containers whose output holds fixture records, in the order they are read. The
    /// public host's container also stands for the DNS canary and the metadata service.
    pub(crate) const RECORD_HOLDERS: [ContainerRole; 5] = [
        ContainerRole::Public,
        ContainerRole::Lan,
        ContainerRole::Bundle,
        ContainerRole::Neighbour,
        ContainerRole::Recorder,
    ];

    /// The role as it appears in names, hostnames and the role label.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            ContainerRole::Bundle => "bundle",
            ContainerRole::Public => "public",
            ContainerRole::Lan => "lan",
            ContainerRole::Neighbour => "neighbour",
            ContainerRole::Agent => "agent",
            ContainerRole::Checker => "checker",
            ContainerRole::Recorder => "recorder",
        }
    }

    /// The container's name in run `run_id`.
    pub(crate) fn container_name(self, run_id: &str) -> String {
        format!("cb-{run_id}-{self}")
    }
}

impl fmt::Display for ContainerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a network of the bottle is for. Its name is `cb-<run>-<role>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NetworkRole {
    /// Agent and bundle only; the host block keeps the host off it.
    Agent,
    /// The bundle's second leg, the public host (and DNS canary), the neighbour's leg.
    Upstream,
    /// Between the bundle and the metadata fixture (only when it can be routed to).
    Metadata,
    /// The neighbour bottle's agent network.
    Neighbour,
    /// The public host's IPv6 leg; only it joins.
    Public6,
    /// The LAN fixture host's network.
    Lan,
    /// The checker's own leg, not `internal` (only when the bottle has a checker).
    Checker,
    /// The bundle's published leg, not `internal` (Docker publishes no port of a container on
    /// internal networks only): only the bundle joins it, and its declared ports are published
    /// on this machine's loopback from it (smolvm's desktop mode only). Its name,
    /// `bundle-published`, sorts before `metadata`, the bundle's other leg that is not
    /// `internal`: Docker gives a container on several networks its external connectivity (its
    /// default route, and the address its published ports are forwarded to) through the first
    /// such network in lexical order of names. Measured on Docker 20.10: named `published`,
    /// the ports were forwarded to the bundle's address on the metadata network, which this
    /// machine holds no address on, and every connection to them was closed at once.
    Published,
}

impl NetworkRole {
    /// The role as it appears in the network's name and in the trace.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            NetworkRole::Agent => "agent",
            NetworkRole::Upstream => "upstream",
            NetworkRole::Metadata => "metadata",
            NetworkRole::Neighbour => "neighbour",
            NetworkRole::Public6 => "public6",
            NetworkRole::Lan => "lan",
            NetworkRole::Checker => "checker",
            NetworkRole::Published => "bundle-published",
        }
    }

    /// The network's name in run `run_id`.
    pub(crate) fn network_name(self, run_id: &str) -> String {
        format!("cb-{run_id}-{self}")
    }
}

impl fmt::Display for NetworkRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are a contract with teardown, `attach` and the user (`docker ps`): they must
    /// stay what they were when roles were strings.
    #[test]
    fn names_are_cb_run_role() {
        assert_eq!(
            ContainerRole::Neighbour.container_name("cb0123456789"),
            "cb-cb0123456789-neighbour"
        );
        assert_eq!(
            NetworkRole::Public6.network_name("cb0123456789"),
            "cb-cb0123456789-public6"
        );
        let containers = [
            ContainerRole::Bundle,
            ContainerRole::Public,
            ContainerRole::Lan,
            ContainerRole::Neighbour,
            ContainerRole::Agent,
            ContainerRole::Checker,
        ];
        assert_eq!(
            containers.map(ContainerRole::as_str),
            ["bundle", "public", "lan", "neighbour", "agent", "checker"]
        );
        let networks = [
            NetworkRole::Agent,
            NetworkRole::Upstream,
            NetworkRole::Metadata,
            NetworkRole::Neighbour,
            NetworkRole::Public6,
            NetworkRole::Lan,
        ];
        assert_eq!(
            networks.map(NetworkRole::as_str),
            [
                "agent",
                "upstream",
                "metadata",
                "neighbour",
                "public6",
                "lan"
            ]
        );
    }

    /// The bundle's published leg must come first among its networks that are not `internal`
    /// in lexical order, or Docker forwards the published ports to its metadata-network address
    /// (which this machine cannot reach).
    #[test]
    fn the_published_leg_sorts_before_the_metadata_leg() {
        let run = "cb0123456789";
        assert!(NetworkRole::Published.network_name(run) < NetworkRole::Metadata.network_name(run));
    }
}
