//! Running the escape suite on a backend: `run` (up, probe, down, report), `up`, `down`, and
//! `probe --bottle ID` against a bottle left up. The probe phase is a one-way pipeline
//! (plan -> exec -> target view -> judge -> report), see `probe_phase`.

mod adaptive;
mod availability;
mod cleaner;
mod dns_switch;
mod down;
mod emulation;
mod exec;
pub mod fault_hook;
mod full_run;
mod guard;
mod interrupt;
mod judge;
mod options;
mod phase;
mod probe_existing;
mod probe_output;
mod probe_phase;
mod reap;
mod records;
mod send_checks;
mod target_view;
mod up;
mod vanished;

pub(crate) use availability::{require_available, spec_for_engine};
pub use down::down;
pub use full_run::run;
pub use options::{
    arch_from_env, bottle_spec, bottle_spec_for, engine_host_from_env, parse_engine_host,
    ReportHook, RunOptions, ARCH_ENV, ENGINE_HOST_ENV,
};
pub use phase::Phase;
pub use probe_existing::probe_existing;
pub use up::up;
