//! `bottle-escape`: bring a bottle up, run the escape probes inside it, and report.
//!
//! Exit codes: 0 every expectation held; 1 at least one escape; 2 inconclusive results, an
//! unexpected pass, bad input or a harness error; 3 the requested backend is unavailable;
//! 130 interrupted (after teardown).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bottle_harness::report::model::{load_reports, write_file};
use bottle_harness::run::{self, RunOptions};
use bottle_harness::select::{self, BackendKind};
use bottle_harness::{exit, gaps, report, BottleConfig, HarnessError, Report};
use bottle_probes::catalogue::CATALOGUE;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "bottle-escape",
    version,
    about = "Prove that a bottle contains its agent"
)]
struct Cli {
    /// Backends to use (comma list): docker, smolmachines. Default: $CLAUDE_BOTTLE_BACKEND, else docker.
    #[arg(long, global = true)]
    backend: Option<String>,
    /// bottle.toml to read (default: ./bottle.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Never print progress lines, even on a terminal.
    #[arg(long, global = true)]
    quiet: bool,
    /// The bottle's architecture (x86_64, aarch64), when it must not be the engine's (an
    /// x86_64 engine runs aarch64 bottles under qemu-user). Default: $CLAUDE_BOTTLE_ARCH, else
    /// the engine's.
    #[arg(long, global = true)]
    arch: Option<String>,
    /// Where the engine runs relative to this machine (local, docker-desktop), when it must not
    /// be what the engine reports: `docker-desktop` runs Docker Desktop's decisions on a Linux
    /// engine (fixtures checked from a container, localhost probes aimed at
    /// host.docker.internal). Default: $CLAUDE_BOTTLE_ENGINE_HOST, else the engine's own answer.
    #[arg(long, global = true)]
    engine_host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args)]
struct RunArgs {
    /// Leave the bottle up afterwards (remove it with `down ID`).
    #[arg(long)]
    keep: bool,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// One attempt at a time (same timeouts), for comparison.
    #[arg(long)]
    sequential: bool,
    /// Run only these probes (and their positive controls).
    #[arg(long = "probe")]
    probes: Vec<String>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Compare with an earlier JSON report; any regression exits 1.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the Markdown report here (for a PR comment or a CI step summary).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Known gaps file (default: ./known-gaps.toml if present).
    #[arg(long)]
    known_gaps: Option<PathBuf>,
    /// Break the bottle on purpose (comma list; see docs/ci.md). For checking the gate.
    #[arg(long)]
    sabotage: Option<String>,
    /// Wait for the teardown before exiting (default: report first, a detached
    /// `bottle-escape down` removes the bottle right after).
    #[arg(long)]
    wait_teardown: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Up, probe, down, report.
    #[command(after_help = bottle_harness::sabotage::help())]
    Run(RunArgs),
    /// Compare two JSON reports: regressions, fixes, new and removed probes. Exit 1 on a regression.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Write the Markdown report of NEW with the changes here.
        #[arg(long)]
        markdown: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Join reports from several backends or machines into one matrix.
    Merge {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged JSON here (default: stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long)]
        markdown: Option<PathBuf>,
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Measure the suite: a cold run, warm runs and sequential runs, per phase.
    Bench {
        /// Warm and sequential runs each.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Prove the suite catches broken bottles: a kill matrix. Exit 0 only if all are caught.
    Selftest {
        #[arg(long)]
        json: bool,
        /// Run only this case after the clean bottle (repeatable; default: every case).
        #[arg(long = "case", value_name = "SABOTAGE")]
        cases: Vec<String>,
    },
    /// Bring a bottle up, print its id, leave it running.
    Up,
    /// Run the probes against a bottle left up by `up` or `run --keep`.
    Probe {
        #[arg(long)]
        bottle: String,
        #[arg(long)]
        report_json: Option<PathBuf>,
        #[arg(long = "probe")]
        probes: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove a bottle by id, or every bottle with --all.
    Down {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Print the Smolfile the smolmachines backend would render.
    Smolfile {
        /// The bundle's address as the host sees it.
        #[arg(long)]
        bundle_ip: std::net::Ipv4Addr,
        /// linux (the bundle's bridge IP is allowed) or desktop (the host side is allowed).
        #[arg(long, default_value = "linux", value_parser = ["linux", "desktop"])]
        mode: String,
        /// The agent image archive (`docker save`) or rootfs directory.
        #[arg(long, default_value = "<cache>/<key>.tar")]
        image: String,
        /// pipelock's port.
        #[arg(long, default_value_t = 3128)]
        pipelock_port: u16,
    },
    /// Print the smolmachines cache key and artifact path of a Docker image ID.
    CacheKey {
        /// `sha256:<64 hex>` as `docker image inspect --format '{{.Id}}'` prints it.
        image_id: String,
    },
    /// Print the probe catalogue.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn list(format: Format) -> String {
    match format {
        Format::Json => {
            let probes: Vec<_> = CATALOGUE
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "id": p.id,
                        "family": p.family.as_str(),
                        "expect": p.expect.as_str(),
                        "target": p.target,
                        "summary": p.summary,
                        "controls": p.controls,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&probes).expect("catalogue serialises") + "\n"
        }
        Format::Table => {
            let width = CATALOGUE.iter().map(|p| p.id.len()).max().unwrap_or(0);
            let mut out = format!("{:<width$}  {:<6}  TARGET\n", "PROBE", "EXPECT");
            for probe in CATALOGUE {
                out.push_str(&format!(
                    "{:<width$}  {:<6}  {}\n",
                    probe.id,
                    probe.expect.as_str(),
                    probe.target
                ));
            }
            out.push_str(&format!(
                "\n{} probes in {} families\n",
                CATALOGUE.len(),
                bottle_probes::Family::ALL.len()
            ));
            out
        }
    }
}

fn check_probe_ids(ids: &[String]) -> Result<Option<Vec<String>>, HarnessError> {
    if ids.is_empty() {
        return Ok(None);
    }
    for id in ids {
        if bottle_probes::catalogue::find(id).is_none() {
            return Err(HarnessError::ConfigInvalid {
                path: PathBuf::from("--probe"),
                reason: format!("unknown probe {id:?}; `bottle-escape list` shows them"),
            });
        }
    }
    Ok(Some(ids.to_vec()))
}

fn emit(report: &Report, format: Format, json_path: Option<&PathBuf>) -> Result<(), HarnessError> {
    match format {
        Format::Table => print!("{}", report.table()),
        Format::Json => println!("{}", report.to_json()),
    }
    if let Some(path) = json_path {
        report.write_json(path)?;
    }
    Ok(())
}

fn json_path_for(path: Option<&PathBuf>, kind: BackendKind, many: bool) -> Option<PathBuf> {
    let path = path?;
    if !many {
        return Some(path.clone());
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Some(path.with_file_name(format!("{stem}.{}{ext}", kind.as_str())))
}

/// The commands that need neither a backend nor a config: `list`, `smolfile`, `cache-key`.
/// `None` for every other command.
fn offline(command: &Command) -> Result<Option<i32>, HarnessError> {
    match command {
        Command::List { format } => print!("{}", list(*format)),
        Command::Smolfile {
            bundle_ip,
            mode,
            image,
            pipelock_port,
        } => {
            use bottle_backends::smolmachines::smolfile::{
                render, Mode, SmolfileSpec, BUNDLE_NAME,
            };
            let spec = SmolfileSpec {
                mode: Mode::parse(mode).expect("clap restricts the values"),
                image: image.clone(),
                entrypoint: vec!["/bottle-probe".into()],
                cmd: vec!["idle".into()],
                bundle_ip: *bundle_ip,
                pipelock_port: *pipelock_port,
                extra_env: vec![],
                allow_hosts: vec![BUNDLE_NAME.into()],
                allow_cidrs_instead: None,
            };
            print!("{}", render(&spec));
        }
        Command::CacheKey { image_id } => {
            use bottle_backends::smolmachines::cache;
            let key = cache::cache_key(image_id)?;
            println!("key: {key}");
            println!(
                "artifact: {}",
                cache::artifact_path(&cache::cache_dir(), &key).display()
            );
        }
        _ => return Ok(None),
    }
    Ok(Some(exit::OK))
}

/// The bottle's architecture: `--arch`, else the environment's choice.
fn chosen_arch(arch: Option<String>) -> Result<Option<bottle_backends::Arch>, HarnessError> {
    match arch {
        Some(name) => Ok(Some(bottle_backends::Arch::parse(&name).ok_or_else(|| {
            HarnessError::BadSetting(format!(
                "--arch {name:?} is not an architecture the suite has binaries for (x86_64, aarch64)"
            ))
        })?)),
        None => bottle_harness::run::arch_from_env(),
    }
}

async fn run_cli(cli: Cli) -> Result<i32, HarnessError> {
    let Cli {
        backend,
        config,
        quiet,
        arch,
        engine_host,
        command,
    } = cli;
    if let Some(code) = offline(&command)? {
        return Ok(code);
    }
    let arch = chosen_arch(arch)?;
    let engine_host = match engine_host {
        Some(text) => Some(bottle_harness::run::parse_engine_host(
            "--engine-host",
            &text,
        )?),
        None => bottle_harness::run::engine_host_from_env()?,
    };
    let kinds = select::choose(backend.as_deref())?;
    let config = BottleConfig::discover(config.as_deref())?;
    let options_for = |kind: BackendKind| {
        let mut options = RunOptions::new(kind, config.clone());
        options.arch = arch;
        options.engine_host = engine_host;
        if quiet {
            options.progress = false;
        }
        options
    };
    match command {
        Command::List { .. } | Command::Smolfile { .. } | Command::CacheKey { .. } => {
            unreachable!("handled above")
        }
        Command::Run(args) => run_command(args, &kinds, options_for).await,
        Command::Diff {
            old,
            new,
            markdown,
            format,
        } => diff_command(&old, &new, markdown.as_deref(), format),
        Command::Merge {
            reports,
            output,
            markdown,
            junit,
        } => merge_command(&reports, output, markdown, junit),
        Command::Bench { runs, json } => {
            bench_command(options_for(single(&kinds)?), runs, json).await
        }
        Command::Selftest { json, cases } => {
            selftest_command(options_for(single(&kinds)?), &cases, json, quiet).await
        }
        Command::Up => {
            let bottle = run::up(&options_for(single(&kinds)?)).await?;
            println!("{}", bottle.run_id);
            Ok(exit::OK)
        }
        Command::Probe {
            bottle,
            report_json,
            probes,
            format,
        } => {
            let mut options = options_for(single(&kinds)?);
            options.only = check_probe_ids(&probes)?;
            let report = run::probe_existing(&options, &bottle).await?;
            emit(&report, format, report_json.as_ref())?;
            Ok(report.exit_code())
        }
        Command::Down { id, all } => down_command(&kinds, id.as_deref(), all).await,
    }
}

/// `run`: one run per backend, then the baseline diff, JUnit and Markdown over all of them.
async fn run_command(
    args: RunArgs,
    kinds: &[BackendKind],
    options_for: impl Fn(BackendKind) -> RunOptions,
) -> Result<i32, HarnessError> {
    let only = check_probe_ids(&args.probes)?;
    let gap_entries = gaps::discover(args.known_gaps.as_deref(), gaps::Date::today())?;
    let sabotage = match &args.sabotage {
        Some(list) => bottle_harness::sabotage::parse(list)?,
        None => Default::default(),
    };
    let baseline = args.baseline.as_deref().map(load_reports).transpose()?;
    let mut code = exit::OK;
    let mut reports = Vec::new();
    for kind in kinds {
        let mut options = options_for(*kind);
        // Before any bring-up: a sabotage of the built-in bundle cannot break a user bundle.
        bottle_harness::sabotage::check_bundle(&sabotage, options.config.bundle.image.as_deref())?;
        // Nor may one that breaks another kind of agent than this backend's.
        bottle_harness::sabotage::check_agent(&sabotage, options.backend.as_str())?;
        options.keep = args.keep;
        options.sequential = args.sequential;
        options.only = only.clone();
        options.gap_entries = gap_entries.clone();
        options.sabotage = sabotage.clone();
        options.detach_teardown = !args.wait_teardown;
        let this = match run::run(&options).await {
            Ok(report) => {
                let path = json_path_for(args.report_json.as_ref(), *kind, kinds.len() > 1);
                emit(&report, args.format, path.as_ref())?;
                let code = report.exit_code();
                reports.push(report);
                code
            }
            Err(error) if kinds.len() > 1 => {
                eprintln!("bottle-escape: {}: {error}", kind.as_str());
                error.exit_code()
            }
            Err(error) => return Err(error),
        };
        code = code.max(this);
    }
    let changes =
        baseline.map(|old| report::diff(&old, &reports, bottle_probes::catalogue::RENAMED));
    if let Some(changes) = &changes {
        eprint!("{}", changes.text());
        code = code.max(changes.exit_code());
    }
    if let Some(path) = args.junit {
        write_file(&path, &report::junit::render(&reports))?;
    }
    if let Some(path) = args.markdown {
        write_file(&path, &report::markdown::render(&reports, changes.as_ref()))?;
    }
    Ok(code)
}

/// `diff OLD NEW`: exit 1 on a regression.
fn diff_command(
    old: &Path,
    new: &Path,
    markdown: Option<&Path>,
    format: Format,
) -> Result<i32, HarnessError> {
    let old = load_reports(old)?;
    let new = load_reports(new)?;
    let changes = report::diff(&old, &new, bottle_probes::catalogue::RENAMED);
    match format {
        Format::Table => print!("{}", changes.text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&changes).expect("diff serialises")
        ),
    }
    if let Some(path) = markdown {
        write_file(path, &report::markdown::render(&new, Some(&changes)))?;
    }
    Ok(changes.exit_code())
}

/// `merge REPORT...`: one matrix of several backends' or machines' reports.
fn merge_command(
    reports: &[PathBuf],
    output: Option<PathBuf>,
    markdown: Option<PathBuf>,
    junit: Option<PathBuf>,
) -> Result<i32, HarnessError> {
    let mut all = Vec::new();
    for path in reports {
        all.extend(load_reports(path)?);
    }
    let merged = report::Merged::new(all);
    match output {
        Some(path) => write_file(&path, &(merged.to_json() + "\n"))?,
        None => println!("{}", merged.to_json()),
    }
    if let Some(path) = markdown {
        write_file(&path, &report::markdown::render(&merged.reports, None))?;
    }
    if let Some(path) = junit {
        write_file(&path, &report::junit::render(&merged.reports))?;
    }
    Ok(merged.exit_code())
}

/// `bench`: exit 0 only if every run was contained.
async fn bench_command(options: RunOptions, runs: usize, json: bool) -> Result<i32, HarnessError> {
    let result = bottle_harness::bench::bench(&options, runs).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).expect("bench serialises")
        );
    } else {
        print!("{}", result.table());
    }
    Ok(if result.contained_runs == result.total_runs {
        exit::OK
    } else {
        exit::INCONCLUSIVE_OR_ERROR
    })
}

/// `selftest`: exit 0 only if every sabotage was caught. Each line of the matrix is shown on
/// stderr as it is known (unless `--quiet`); the whole matrix goes to stdout at the end.
async fn selftest_command(
    options: RunOptions,
    cases: &[String],
    json: bool,
    quiet: bool,
) -> Result<i32, HarnessError> {
    let cases = bottle_harness::selftest::chosen_cases(cases)?;
    let result = bottle_harness::selftest::run(&options, &cases, |line| {
        if !quiet {
            eprintln!("selftest: {line}");
        }
    })
    .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).expect("selftest serialises")
        );
    } else {
        print!("{}", result.table());
    }
    Ok(if result.ok() { exit::OK } else { exit::ESCAPE })
}

/// `down ID` / `down --all`.
async fn down_command(
    kinds: &[BackendKind],
    id: Option<&str>,
    all: bool,
) -> Result<i32, HarnessError> {
    if id.is_none() && !all {
        return Err(HarnessError::ConfigInvalid {
            path: PathBuf::from("down"),
            reason: "give a bottle id or --all".into(),
        });
    }
    let kind = single(kinds)?;
    for run in run::down(kind, id).await? {
        println!("removed {run}");
    }
    Ok(exit::OK)
}

fn single(kinds: &[BackendKind]) -> Result<BackendKind, HarnessError> {
    match kinds {
        [kind] => Ok(*kind),
        _ => Err(HarnessError::ConfigInvalid {
            path: PathBuf::from("--backend"),
            reason: "this command takes exactly one backend".into(),
        }),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = match runtime.block_on(run_cli(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("bottle-escape: error: {error}");
            error.exit_code()
        }
    };
    drop(runtime);
    std::process::exit(code);
}
