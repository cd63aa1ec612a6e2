//! The verdict rules, case by case, on a hand-made topology: no engine needed. Each case starts
//! from the output of a contained bottle (every probe passes) and changes one thing.
//!
//! `scenario` builds the contained bottle; the other modules hold the cases, by where the
//! evidence comes from.

#[path = "../common/mod.rs"]
mod common;

mod attribution;
mod bundle;
mod charging;
mod contracts;
mod controls;
mod deny_outcomes;
mod details;
mod inbound;
mod listener;
mod matching;
mod probe_side;
mod proxy_refusals;
mod relay;
mod scenario;
mod ssrf;
mod target_side;
