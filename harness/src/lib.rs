//! The escape-suite runner: configuration, the plan of attempts, verdicts, reports, and the
//! orchestration of a run on a backend. The `bottle-escape` binary and the `escape` test target
//! are thin layers over [`run`].

pub mod bench;
pub mod binaries;
pub mod config;
pub mod errors;
pub mod gaps;
pub mod host;
pub mod plan;
pub mod report;
pub mod run;
pub mod sabotage;
pub mod select;
pub mod selftest;
pub mod target;
pub mod verdict;

pub use config::BottleConfig;
pub use errors::{exit, HarnessError};
pub use report::Report;
/// The old home of [`run`], kept so `bottle_harness::suite::...` paths still work.
pub use run as suite;
/// The fault hook's old home, kept so `bottle_harness::fault_hook::ENV` still works.
pub use run::fault_hook;
pub use run::RunOptions;
pub use select::{AnyBackend, BackendKind};
pub use verdict::{ProbeResult, Verdict};
