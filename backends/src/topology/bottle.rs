//! A running bottle: its [`Topology`], assembled once from the three kinds of fact (planned,
//! the engine's, the agent's side) and never written afterwards, and the [`Bottle`] handle the
//! backends hand the harness.

use serde::{Deserialize, Serialize};

use super::agent::AgentSide;
use super::engine::EngineView;
use super::layout::{Layout, NetworkInfo};

/// Everything the probes are planned against. Serialised flat (one object with every field)
/// into reports; only the layout goes into the label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    #[serde(flatten)]
    layout: Layout,
    #[serde(flatten)]
    engine: EngineView,
    #[serde(flatten)]
    agent: AgentSide,
}

impl Topology {
    /// The one place a topology is made: a backend calls it once the bottle runs (or was found
    /// again), with the engine's facts read then.
    pub fn assemble(layout: Layout, engine: EngineView, agent: AgentSide) -> Self {
        Self {
            layout,
            engine,
            agent,
        }
    }

    /// What the harness planned.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What the engine says.
    pub fn engine(&self) -> &EngineView {
        &self.engine
    }

    /// The agent's side.
    pub fn agent(&self) -> &AgentSide {
        &self.agent
    }

    /// Every network the bottle owns (the neighbour's too).
    pub fn networks(&self) -> Vec<&NetworkInfo> {
        self.layout.networks()
    }
}

/// A handle to a running bottle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bottle {
    pub run_id: String,
    pub topology: Topology,
    /// The agent container (docker) or machine (smolmachines) to exec in.
    pub agent_ref: String,
    /// Where the probe binary lives inside the agent.
    pub probe_path: String,
    /// Containers holding fixture records, by fixture name.
    pub fixture_refs: Vec<(String, String)>,
}
