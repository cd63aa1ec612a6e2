//! What to run ([`RunOptions`]) and the bottle spec a run asks the backend for.

use std::io::IsTerminal;

use bottle_backends::{BottleSpec, ImageSource, Sabotage};

use crate::binaries;
use crate::config::BottleConfig;
use crate::errors::HarnessError;
use crate::report::Report;
use crate::select::BackendKind;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub backend: BackendKind,
    pub config: BottleConfig,
    pub keep: bool,
    pub sequential: bool,
    pub only: Option<Vec<String>>,
    pub sabotage: Sabotage,
    /// Entries of a known-gaps file, applied on top of the built-in gaps.
    pub gap_entries: Vec<crate::gaps::GapEntry>,
    /// Print progress lines on stderr (a terminal, or asked for).
    pub progress: bool,
    /// Hand the teardown to a detached `bottle-escape down` process so the verdict does not wait
    /// for it (the CLI's default). If that process dies, the next run reaps the bottle.
    pub detach_teardown: bool,
    /// Called with the report as soon as it is known, before the teardown (which `run` still
    /// awaits unless it is detached): lets a caller that waits for the teardown hand the
    /// verdicts on early (the escape tests share one run across processes this way).
    pub on_report: Option<ReportHook>,
}

/// A callback for [`RunOptions::on_report`].
#[derive(Clone)]
pub struct ReportHook(pub std::sync::Arc<dyn Fn(&Report) + Send + Sync>);

impl std::fmt::Debug for ReportHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportHook")
    }
}

impl RunOptions {
    pub fn new(backend: BackendKind, config: BottleConfig) -> Self {
        Self {
            backend,
            config,
            keep: false,
            sequential: false,
            only: None,
            sabotage: Sabotage::default(),
            gap_entries: Vec::new(),
            progress: std::io::stderr().is_terminal(),
            detach_teardown: false,
            on_report: None,
        }
    }
}

/// Builds the bottle spec from the config and the located binaries.
pub fn bottle_spec(options: &RunOptions, run_id: &str) -> Result<BottleSpec, HarnessError> {
    let probe = binaries::probe()?;
    let fixture = binaries::fixture()?;
    let config = &options.config;
    Ok(BottleSpec {
        run_id: run_id.to_string(),
        agent: match &config.agent.image {
            Some(reference) => ImageSource::User {
                reference: reference.clone(),
            },
            None => ImageSource::Builtin {
                binary: probe.clone(),
            },
        },
        bundle: match &config.bundle.image {
            Some(reference) => ImageSource::User {
                reference: reference.clone(),
            },
            None => ImageSource::Builtin {
                binary: fixture.clone(),
            },
        },
        fixture_binary: fixture,
        probe_binary: probe,
        ports: config.ports.to_ports(),
        allowed_host: config.proxy.allowed_host.clone(),
        denied_host: config.proxy.denied_host.clone(),
        sabotage: options.sabotage.clone(),
        keep: options.keep,
    })
}
