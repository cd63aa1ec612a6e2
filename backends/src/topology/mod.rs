//! What a bottle looks like once it is up, in three typed parts: what the harness planned
//! ([`Layout`], the only part stored in the label), what the engine says ([`EngineView`]) and
//! the agent's side ([`AgentSide`]), assembled once into a [`Topology`].

mod agent;
mod bottle;
mod engine;
mod layout;

pub use agent::{AgentSide, Handshake, PublishedBundle, PublishedPort};
pub use bottle::{Bottle, BundleAsReached, Topology};
pub use engine::{EngineView, HostName};
pub use layout::{DnsSwitch, FixtureHost, Layout, NetworkInfo};
