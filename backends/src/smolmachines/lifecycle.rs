//! The smolmachines implementation of [`BottleBackend`]: the bundle and the fixture hosts run in
//! Docker exactly as for the docker backend (shared code and bind rules), the agent runs in a
//! smolvm microVM whose only allowed destination is the bundle.
//!
//! Lifecycle per run, all under a per-run `--state-dir`
//! (`<cache>/claude-bottle/smolmachines/state/<run id>/`), so a run never touches the user's own
//! machines: render the Smolfile, `machine create`, `machine start`, `machine exec` the probe,
//! `machine stop`, `machine delete`, remove the state dir; then the Docker side by label.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bottle_fixtures::records::RecordLog;
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::availability;
use super::cache::{self, cache_dir, CacheOutcome};
use super::cli::{self, CommandRunner, ProcessRunner, Smolvm};
use super::smolfile::{self, Mode, SmolfileSpec};
use super::uid_drop::{self, UidDrop};
use crate::backend::{Availability, BottleBackend, ExecOutput, TeardownReport};
use crate::bundle_health::BundleHealth;
use crate::docker::bring_up;
use crate::docker::placement::AgentPlacement;
use crate::docker::{attach, cleanup, images, records, DockerBackend};
use crate::errors::BackendError;
use crate::labels;
use crate::platform::{Arch, EngineHost, EnginePlatform};
use crate::spec::{BottleSpec, ImageSource};
use crate::topology::{AgentSide, Bottle};
use crate::vantage::Vantage;

/// The machine name of a run's agent.
pub fn machine_name(run_id: &str) -> String {
    format!("cb-{run_id}-agent")
}

/// A run's smolvm state directory.
pub(crate) fn state_dir(run_id: &str) -> PathBuf {
    cache_dir().join("state").join(run_id)
}

/// The backend's name, as reports and errors give it.
const BACKEND_NAME: &str = "smolmachines";

/// The host as a smolvm 1.x virtio-net guest sees it (`host.smolvm.internal`).
pub(crate) const SMOLVM_HOST_GATEWAY: Ipv4Addr = smolfile::GUEST_GATEWAY;

/// The agent outside Docker: a smolvm guest, which reaches the host through its VMM's gateway
/// and resolves through the resolver smolvm gives it (not the harness's).
fn microvm_placement(mode: Mode) -> AgentPlacement {
    AgentPlacement::External {
        side: AgentSide::microvm(BACKEND_NAME, SMOLVM_HOST_GATEWAY),
        // Desktop mode: the bundle's ports published on this machine's loopback, which the
        // guest reaches through its gateway.
        published_via: (mode == Mode::Desktop).then_some(SMOLVM_HOST_GATEWAY),
    }
}

/// Where the probe sits inside the agent image.
const PROBE_PATH: &str = images::BUILTIN_PROBE_PATH;

pub struct SmolBackend {
    docker: DockerBackend,
    runner: Arc<dyn CommandRunner>,
    mode: Mode,
    checked: OnceCell<(Availability, Option<String>, Option<PathBuf>)>,
    /// How smolvm's uid drop is decided: on this machine ([`uid_drop::decide`]), or left alone
    /// (a stand-in CLI).
    decide_uid_drop: fn(&Path) -> UidDrop,
    uid_drop: std::sync::OnceLock<UidDrop>,
}

impl Default for SmolBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl SmolBackend {
    pub fn new() -> Self {
        Self {
            decide_uid_drop: uid_drop::decide,
            ..Self::with_runner(Arc::new(ProcessRunner))
        }
    }

    /// With another command runner (tests record the command plan through a stand-in).
    pub(crate) fn with_runner(runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            docker: DockerBackend::new(),
            runner,
            // `Mode::chosen` was checked when the backend was chosen (`harness::select`).
            mode: Mode::chosen().unwrap_or_else(|_| Mode::for_host()),
            checked: OnceCell::new(),
            decide_uid_drop: |_| UidDrop::Leave,
            uid_drop: std::sync::OnceLock::new(),
        }
    }

    async fn check(&self) -> &(Availability, Option<String>, Option<PathBuf>) {
        self.checked
            .get_or_init(|| async {
                let program = match cli::locate() {
                    Ok(program) => program,
                    Err(reason) => return (Availability::Unavailable { reason }, None, None),
                };
                let runner = self.runner.clone();
                let probe = program.clone();
                let (availability, version) =
                    tokio::task::spawn_blocking(move || availability::check(&probe, runner))
                        .await
                        .unwrap_or_else(|e| {
                            (
                                Availability::Unavailable {
                                    reason: format!("the availability check panicked: {e}"),
                                },
                                None,
                            )
                        });
                let availability = match (availability, self.docker.availability().await) {
                    (
                        Availability::Available { version },
                        Availability::Available { version: engine },
                    ) => Availability::Available {
                        version: format!("{version}; bundle on {engine}"),
                    },
                    (Availability::Available { .. }, Availability::Unavailable { reason }) => {
                        Availability::Unavailable {
                            reason: format!(
                                "the bundle runs in Docker, which is unavailable: {reason}"
                            ),
                        }
                    }
                    (unavailable, _) => unavailable,
                };
                (availability, version, Some(program))
            })
            .await
    }

    /// What this run does about smolvm's uid drop, decided once (and said once when it turns
    /// the drop off).
    fn uid_drop(&self, program: &Path) -> &UidDrop {
        self.uid_drop.get_or_init(|| {
            let decided = (self.decide_uid_drop)(program);
            if let UidDrop::TurnOff(reason) = &decided {
                tracing::warn!("smolmachines: {reason}");
            }
            decided
        })
    }

    async fn smolvm(&self, run_id: &str) -> Result<Smolvm, BackendError> {
        let (availability, _, program) = self.check().await;
        match (availability, program) {
            (Availability::Available { .. }, Some(program)) => Ok(Smolvm::new(
                program.clone(),
                cfg!(target_os = "linux").then(|| state_dir(run_id)),
                self.runner.clone(),
            )
            .with_env(self.uid_drop(program).env())),
            (Availability::Unavailable { reason }, _) => Err(BackendError::Unavailable {
                backend: BACKEND_NAME,
                reason: reason.clone(),
            }),
            _ => Err(BackendError::Unavailable {
                backend: BACKEND_NAME,
                reason: "smolvm not found".into(),
            }),
        }
    }

    /// Saves the agent image into the cache (or finds it there); returns the archive path and
    /// the Docker images the bundle side uses.
    async fn agent_artifact(
        &self,
        docker: &Docker,
        spec: &BottleSpec,
    ) -> Result<(PathBuf, CacheOutcome, images::Images), BackendError> {
        if matches!(spec.agent, ImageSource::User { .. }) {
            return Err(BackendError::Artifact {
                what: "user agent image",
                path: format!("{:?}", spec.agent),
                reason: "the smolmachines backend boots the built-in agent image only; a user agent image needs the probe baked in first".into(),
            });
        }
        let prepared = self.docker.prepared_images(spec).await?;
        let inspected =
            docker
                .inspect_image(&prepared.agent)
                .await
                .map_err(BackendError::engine(format!(
                    "inspecting image {}",
                    prepared.agent
                )))?;
        let id = inspected.id.unwrap_or_default();
        let key = cache::cache_key(&id)?;
        let dir = cache_dir();
        let docker = docker.clone();
        let reference = prepared.agent.clone();
        let handle = tokio::runtime::Handle::current();
        let (artifact, outcome) = tokio::task::spawn_blocking(move || {
            cache::ensure(&dir, &key, |file| {
                handle.block_on(async {
                    use std::io::Write;
                    let mut stream = docker.export_image(&reference);
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk
                            .map_err(BackendError::engine(format!("saving image {reference}")))?;
                        file.write_all(&chunk)
                            .map_err(|source| BackendError::SmolFile {
                                path: reference.clone(),
                                step: "write",
                                source,
                            })?;
                    }
                    Ok(())
                })
            })
        })
        .await
        .map_err(|source| BackendError::Task {
            step: format!("saving the agent image into {}", cache_dir().display()),
            source,
        })??;
        Ok((artifact, outcome, prepared))
    }
}

/// Renders and writes the Smolfile of a run; returns its path.
pub(crate) fn write_smolfile(dir: &Path, spec: &SmolfileSpec) -> Result<PathBuf, BackendError> {
    std::fs::create_dir_all(dir).map_err(|source| BackendError::SmolFile {
        path: dir.display().to_string(),
        step: "create the machine's state dir",
        source,
    })?;
    let path = dir.join("Smolfile");
    std::fs::write(&path, smolfile::render(spec)).map_err(|source| BackendError::SmolFile {
        path: path.display().to_string(),
        step: "write the Smolfile",
        source,
    })?;
    Ok(path)
}

/// The microVM sabotages (`crate::spec::Sabotage::vmm_*`), applied to a correct bottle's
/// Smolfile: a wider allow list, none at all, the VMM's gateway allowed, no DNS filter. A
/// widening keeps what the mode allows (in desktop mode the gateway and the loopback, where the
/// guest reaches pipelock), so the broken bottle still works and only the widening shows.
fn sabotaged(
    mut smolfile: SmolfileSpec,
    sabotage: &crate::spec::Sabotage,
    agent_subnet: &str,
) -> SmolfileSpec {
    let mut cidrs = smolfile.allow_cidrs();
    if sabotage.vmm_allow_subnet {
        cidrs.push(agent_subnet.to_string());
    }
    if sabotage.vmm_allow_all {
        cidrs = vec!["0.0.0.0/0".into()];
    }
    if sabotage.vmm_allow_host_gateway {
        // The gateway, and what smolvm dials behind it: this machine's loopback (smolvm 1.32.2
        // keeps loopback closed unless a static allow names it).
        cidrs.push(format!("{SMOLVM_HOST_GATEWAY}/32"));
        cidrs.push("127.0.0.1/32".into());
    }
    if sabotage.vmm_no_policy {
        cidrs.clear();
        smolfile.allow_hosts.clear();
    }
    if sabotage.vmm_no_dns_filter {
        smolfile.allow_hosts.clear();
    }
    if cidrs != smolfile.allow_cidrs() {
        smolfile.allow_cidrs_instead = Some(cidrs);
    }
    smolfile
}

/// The machine half of launch: create with the rendered Smolfile and the guest's DNS upstream
/// (the bottle's DNS canary, so that whatever smolvm forwards lands on a fixture the harness
/// owns and records, never on a real resolver), then start.
pub fn launch_machine(
    smolvm: &Smolvm,
    run_id: &str,
    smolfile_path: &Path,
    dns_upstream: Ipv4Addr,
) -> Result<String, BackendError> {
    let name = machine_name(run_id);
    smolvm.create(
        &name,
        smolfile_path,
        &[(labels::RUN.to_string(), run_id.to_string())],
        Some(dns_upstream),
    )?;
    start_until_it_happens(smolvm, &name)?;
    Ok(name)
}

/// How many more times a start that never happened is tried.
const START_RETRIES: usize = 2;

/// `machine start`, tried again (at most [`START_RETRIES`] times) only where smolvm's own state
/// shows that the failed start never happened: its error says the boot process exited before
/// the guest's agent was ready, and `machine ls` shows the machine not running. Under
/// emulation a guest's boot sometimes ends there (measured in the KVM lab: 3 of 6 first
/// bring-ups), and the next start of the same machine boots; any other failure stands.
fn start_until_it_happens(smolvm: &Smolvm, name: &str) -> Result<(), BackendError> {
    let mut retries = 0;
    loop {
        match smolvm.start(name) {
            Ok(()) => return Ok(()),
            Err(error) if retries < START_RETRIES && never_started(smolvm, name, &error) => {
                retries += 1;
                tracing::warn!(
                    "smolmachines: {name} did not boot ({error}); smolvm shows it not running, starting it again ({retries} of {START_RETRIES})"
                );
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether a failed start never happened, by smolvm's own word and state.
fn never_started(smolvm: &Smolvm, name: &str, error: &BackendError) -> bool {
    let BackendError::Smolvm { message, .. } = error else {
        return false;
    };
    if !message.contains("before the agent was ready") {
        return false;
    }
    let Ok(listed) = smolvm.list() else {
        return false;
    };
    listed
        .as_array()
        .and_then(|machines| machines.iter().find(|m| m["name"] == name))
        .and_then(|machine| machine["state"].as_str())
        .is_some_and(|state| state != "running")
}

/// The machine half of teardown: stop and delete (missing machines are fine), then the state dir.
pub fn teardown_machine(smolvm: &Smolvm, run_id: &str) -> Result<bool, BackendError> {
    let name = machine_name(run_id);
    let _ = smolvm.stop(&name);
    let existed = match smolvm.delete(&name) {
        Ok(()) => true,
        Err(BackendError::Smolvm { code, .. }) if code == "NOT_FOUND" => false,
        Err(error) => return Err(error),
    };
    if let Some(dir) = &smolvm.state_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(existed)
}

impl BottleBackend for SmolBackend {
    fn name(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn availability(&self) -> Availability {
        self.check().await.0.clone()
    }

    /// The guest runs on this machine's hypervisor, so it has this machine's architecture (an
    /// Apple Silicon Mac runs aarch64 guests); the bundle's Docker engine is asked separately
    /// when the bundle's image is prepared.
    async fn platform(&self) -> Result<EnginePlatform, BackendError> {
        let arch = Arch::host().ok_or_else(|| BackendError::Platform {
            backend: BACKEND_NAME,
            reason: format!(
                "this machine's architecture {} has no in-bottle binaries",
                std::env::consts::ARCH
            ),
        })?;
        let host = self
            .docker
            .platform()
            .await
            .map(|p| p.host)
            .unwrap_or(EngineHost::Local);
        Ok(EnginePlatform { arch, host })
    }

    async fn prepare(&self, spec: &BottleSpec) -> Result<(), BackendError> {
        self.smolvm(&spec.run_id).await?;
        let docker = self.docker.client().await?;
        self.agent_artifact(docker, spec).await.map(|_| ())
    }

    async fn launch(&self, spec: &BottleSpec) -> Result<Bottle, BackendError> {
        let smolvm = self.smolvm(&spec.run_id).await?;
        let docker = self.docker.client().await?;
        let (artifact, _, prepared) = self.agent_artifact(docker, spec).await?;
        let bottle =
            bring_up::launch(docker, spec, &prepared, microvm_placement(self.mode)).await?;
        let smolfile_spec = SmolfileSpec {
            mode: self.mode,
            image: artifact.display().to_string(),
            entrypoint: vec![PROBE_PATH.to_string()],
            cmd: vec!["idle".to_string()],
            bundle_ip: bottle.topology.layout().bundle_ip,
            // Desktop mode: the port published for pipelock on this machine's loopback.
            pipelock_port: bottle.topology.bundle_as_reached().pipelock,
            extra_env: vec![],
            allow_hosts: vec![bottle.topology.layout().bundle_name.clone()],
            allow_cidrs_instead: None,
        };
        let smolfile_spec = sabotaged(
            smolfile_spec,
            &spec.sabotage,
            &bottle.topology.layout().agent_network.subnet,
        );
        let dir = state_dir(&spec.run_id);
        let run_id = spec.run_id.clone();
        let dns_upstream = bottle.topology.layout().dns.ip;
        let name = tokio::task::spawn_blocking(move || {
            let path = write_smolfile(&dir, &smolfile_spec)?;
            launch_machine(&smolvm, &run_id, &path, dns_upstream)
        })
        .await
        .map_err(|source| BackendError::Task {
            step: "starting the smolvm machine".into(),
            source,
        })??;
        Ok(Bottle {
            agent_ref: name,
            probe_path: PROBE_PATH.to_string(),
            ..bottle
        })
    }

    async fn attach(&self, run_id: &str) -> Result<Bottle, BackendError> {
        self.smolvm(run_id).await?;
        let docker = self.docker.client().await?;
        let bottle = attach::attach(docker, run_id, &microvm_placement(self.mode)).await?;
        Ok(Bottle {
            agent_ref: machine_name(run_id),
            probe_path: PROBE_PATH.to_string(),
            ..bottle
        })
    }

    async fn exec_in_agent(
        &self,
        bottle: &Bottle,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        let smolvm = self.smolvm(&bottle.run_id).await?;
        let name = bottle.agent_ref.clone();
        let argv = argv.to_vec();
        let started = Instant::now();
        let output =
            tokio::task::spawn_blocking(move || smolvm.exec(&name, &argv, timeout, max_output))
                .await
                .map_err(|source| BackendError::Task {
                    step: "smolvm exec".into(),
                    source,
                })??;
        Ok(ExecOutput {
            exit_code: output.status.map(i64::from),
            stdout: output.stdout,
            stderr: output.stderr,
            truncated: output.truncated,
            elapsed: started.elapsed(),
        })
    }

    /// The harness's vantage points are containers next to the bundle, in Docker like the
    /// fixtures.
    async fn exec_from(
        &self,
        bottle: &Bottle,
        vantage: Vantage,
        probe_args: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, BackendError> {
        self.docker
            .exec_from(bottle, vantage, probe_args, timeout, max_output)
            .await
    }

    async fn fixture_records(&self, bottle: &Bottle) -> Result<RecordLog, BackendError> {
        let docker = self.docker.client().await?;
        records::collect(docker, bottle).await
    }

    async fn bundle_health(&self, bottle: &Bottle) -> Result<BundleHealth, BackendError> {
        self.docker.bundle_health(bottle).await
    }

    async fn teardown(&self, run_id: &str) -> Result<TeardownReport, BackendError> {
        if state_dir(run_id).exists() {
            if let Ok(smolvm) = self.smolvm(run_id).await {
                let run = run_id.to_string();
                let _ = tokio::task::spawn_blocking(move || teardown_machine(&smolvm, &run)).await;
            }
            let _ = std::fs::remove_dir_all(state_dir(run_id));
        }
        let docker = self.docker.client().await?;
        cleanup::teardown(docker, run_id).await
    }

    async fn forget_images(&self, spec: &BottleSpec) -> Result<usize, BackendError> {
        self.docker.forget_images(spec).await
    }

    async fn list_runs(&self, only_stale: bool) -> Result<Vec<String>, BackendError> {
        let docker = self.docker.client().await?;
        cleanup::list_runs(docker, only_stale).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correct(mode: Mode) -> SmolfileSpec {
        SmolfileSpec {
            mode,
            image: "agent.tar".into(),
            entrypoint: vec![],
            cmd: vec![],
            bundle_ip: Ipv4Addr::new(172, 30, 0, 2),
            pipelock_port: 3128,
            extra_env: vec![],
            allow_hosts: vec!["proxy.example".into()],
            allow_cidrs_instead: None,
        }
    }

    /// Widening the allow list to the agent's subnet keeps what each mode allows: in desktop
    /// mode the gateway and the loopback stay (the guest reaches pipelock there; measured in
    /// the KVM lab, replacing them left the broken bottle's proxy control inconclusive).
    #[test]
    fn the_subnet_sabotage_widens_each_modes_allow_list() {
        let subnet = crate::spec::Sabotage {
            vmm_allow_subnet: true,
            ..Default::default()
        };
        let linux = sabotaged(correct(Mode::Linux), &subnet, "172.30.0.0/24");
        assert_eq!(linux.allow_cidrs(), ["172.30.0.2/32", "172.30.0.0/24"]);
        let desktop = sabotaged(correct(Mode::Desktop), &subnet, "172.30.0.0/24");
        assert_eq!(
            desktop.allow_cidrs(),
            ["100.96.0.1/32", "127.0.0.1/32", "172.30.0.0/24"]
        );
        let all = crate::spec::Sabotage {
            vmm_allow_all: true,
            ..Default::default()
        };
        let all = sabotaged(correct(Mode::Desktop), &all, "172.30.0.0/24");
        assert_eq!(all.allow_cidrs(), ["0.0.0.0/0"]);
        let none = sabotaged(correct(Mode::Linux), &Default::default(), "172.30.0.0/24");
        assert_eq!(none, correct(Mode::Linux));
    }

    /// Desktop mode publishes the bundle's ports on this machine's loopback and the guest
    /// reaches them through its gateway; linux mode reaches the bundle at its own address.
    #[test]
    fn desktop_mode_publishes_the_bundle_behind_the_gateway() {
        assert!(!microvm_placement(Mode::Linux).publishes_bundle());
        let desktop = microvm_placement(Mode::Desktop);
        assert!(desktop.publishes_bundle());
        let ports = vec![crate::topology::PublishedPort {
            bundle: 3128,
            host: 49153,
        }];
        let side = desktop.agent_side(ports.clone());
        let published = side.bundle_published.unwrap();
        assert_eq!(published.via, SMOLVM_HOST_GATEWAY);
        assert_eq!(published.ports, ports);
        assert_eq!(
            microvm_placement(Mode::Linux)
                .agent_side(vec![])
                .bundle_published,
            None
        );
    }
}
