//! What to run ([`RunOptions`]) and the bottle spec a run asks the backend for.

use std::io::IsTerminal;

use bottle_backends::{Arch, BottleSpec, EngineHost, EnginePlatform, ImageSource, Sabotage};

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
    /// The bottle's architecture when it must not be the engine's (`--arch`; an x86_64 engine
    /// runs aarch64 bottles under qemu-user through binfmt_misc). Defaults from
    /// `CLAUDE_BOTTLE_ARCH` ([`ARCH_ENV`]).
    pub arch: Option<Arch>,
    /// Where the engine runs relative to this machine when it must not be what the engine
    /// reports (`--engine-host`). `docker-desktop` on a Linux engine runs Docker Desktop's
    /// decisions there: the fixture hosts checked from the checker container, the localhost
    /// probes aimed at `host.docker.internal`, the gateways skipped. Defaults from
    /// `CLAUDE_BOTTLE_ENGINE_HOST` ([`ENGINE_HOST_ENV`]).
    pub engine_host: Option<EngineHost>,
}

/// Names where the engine runs for every run of this process (`local`, `docker-desktop`).
pub const ENGINE_HOST_ENV: &str = "CLAUDE_BOTTLE_ENGINE_HOST";

/// Parses an `--engine-host` / `CLAUDE_BOTTLE_ENGINE_HOST` value; `what` names where it came from.
pub fn parse_engine_host(what: &str, text: &str) -> Result<EngineHost, HarnessError> {
    EngineHost::parse(text).ok_or_else(|| {
        HarnessError::BadSetting(format!(
            "{what} {text:?} is not where an engine can run (local, docker-desktop)"
        ))
    })
}

/// Where `CLAUDE_BOTTLE_ENGINE_HOST` says the engine runs; an unknown value is an error naming it.
pub fn engine_host_from_env() -> Result<Option<EngineHost>, HarnessError> {
    match std::env::var(ENGINE_HOST_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            parse_engine_host(&format!("{ENGINE_HOST_ENV}="), &text).map(Some)
        }
        _ => Ok(None),
    }
}

/// Names the bottle's architecture for every run of this process (`x86_64`, `aarch64`).
pub const ARCH_ENV: &str = "CLAUDE_BOTTLE_ARCH";

/// The architecture `CLAUDE_BOTTLE_ARCH` names; an unknown name is an error naming it.
pub fn arch_from_env() -> Result<Option<Arch>, HarnessError> {
    match std::env::var(ARCH_ENV) {
        Ok(text) if !text.trim().is_empty() => Arch::parse(&text).map(Some).ok_or_else(|| {
            HarnessError::BadSetting(format!(
                "{ARCH_ENV}={text:?} is not an architecture the suite has binaries for (x86_64, aarch64)"
            ))
        }),
        _ => Ok(None),
    }
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
            arch: None,
            engine_host: None,
        }
    }
}

/// Builds the bottle spec from the config and the located binaries, for the architecture
/// `options.arch` names, else this machine's (the engine's when it runs here; the run paths ask
/// the engine and use [`bottle_spec_for`]).
pub fn bottle_spec(options: &RunOptions, run_id: &str) -> Result<BottleSpec, HarnessError> {
    let arch = options
        .arch
        .or_else(Arch::host)
        .ok_or_else(|| HarnessError::MissingBinary {
            what: "probe",
            reason: format!(
                "this machine's architecture {} has none (use --arch)",
                std::env::consts::ARCH
            ),
        })?;
    bottle_spec_for(options, run_id, arch)
}

/// The bottle's architecture: the one the options name (`--arch`, `CLAUDE_BOTTLE_ARCH`),
/// else the engine's.
pub(crate) fn bottle_arch(options: &RunOptions, engine: &EnginePlatform) -> Arch {
    options.arch.unwrap_or(engine.arch)
}

/// As [`bottle_spec`], for a bottle of `arch`.
pub fn bottle_spec_for(
    options: &RunOptions,
    run_id: &str,
    arch: Arch,
) -> Result<BottleSpec, HarnessError> {
    let config = &options.config;
    // A sabotage of the built-in bundle must not silently do nothing to a user bundle.
    crate::sabotage::check_bundle(&options.sabotage, config.bundle.image.as_deref())?;
    crate::sabotage::check_agent(&options.sabotage, options.backend.as_str())?;
    let probe = binaries::probe(arch)?;
    let fixture = binaries::fixture(arch)?;
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
        arch,
        engine_host: EngineHost::default(),
        engine_host_reported: EngineHost::default(),
        ports: config.ports.to_ports(),
        allowed_host: config.proxy.allowed_host.clone(),
        denied_host: config.proxy.denied_host.clone(),
        dns_switch_secret: bottle_probes::sys::random::hex(8).map_err(|source| {
            HarnessError::Random {
                what: "DNS switch secret",
                source,
            }
        })?,
        sabotage: options.sabotage.clone(),
        keep: options.keep,
    })
}
