//! Backends bring a bottle up, run the probe inside its agent, read the fixtures' records and
//! tear everything down again. The [`BottleBackend`] trait is what the harness programs against;
//! `docker` implements it through bollard, `smolmachines` through the smolvm CLI (with the
//! bundle and fixtures in Docker).

pub mod backend;
pub mod bundle_health;
pub mod docker;
pub mod errors;
pub mod hostnet;
pub mod labels;
pub mod platform;
pub mod proxy_names;
pub mod smolmachines;
pub mod spec;
pub mod topology;
pub mod trace;
pub mod vantage;

pub use backend::{Availability, BottleBackend, ExecOutput, TeardownReport};
pub use bundle_health::BundleHealth;
pub use errors::BackendError;
pub use platform::{Arch, EngineHost, EnginePlatform};
pub use spec::{BottleSpec, ImageSource, Ports, Sabotage};
pub use topology::{
    AgentSide, Bottle, DnsSwitch, EngineView, FixtureHost, Handshake, HostName, Layout,
    NetworkInfo, Topology,
};
pub use vantage::Vantage;
