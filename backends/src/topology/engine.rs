//! What only the running engine can say about a bottle: whether it is Docker Desktop, and
//! where its names for this machine lead. Read when the bottle is launched and read again at
//! every attach, never taken from the topology label (a label is the harness's plan; an
//! engine's answer is not something a plan can promise).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::platform::EngineHost;

/// The engine's own facts about a running bottle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineView {
    /// What the engine itself reported (the layout's `engine_host` may be overridden): only an
    /// engine that says it is Docker Desktop is trusted to lead `host.docker.internal` to this
    /// machine through its own network stack; elsewhere that address must be one of this
    /// machine's.
    #[serde(default, rename = "engine_host_reported")]
    pub reported: EngineHost,
    /// Names the engine gives its containers for this machine, with the address each leads to
    /// (Docker Desktop's `host.docker.internal`), read from the checker's `/etc/hosts` where the
    /// engine wrote what `host-gateway` is; the localhost probes also aim there. Empty without
    /// a checker.
    #[serde(
        default,
        rename = "engine_host_names",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub host_names: Vec<HostName>,
}

/// A name and the address it leads to, as the engine resolves it for its containers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostName {
    pub name: String,
    pub ip: IpAddr,
}
