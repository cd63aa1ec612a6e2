//! Reports of a run: the JSON model (versioned, see docs/report-schema.md), the terminal table,
//! JUnit XML, Markdown, baselines (diff) and merged matrices.

pub(crate) mod assemble;
pub mod diff;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod model;

pub use diff::{diff, Diff};
pub use merge::Merged;
pub use model::{Report, Timings};
