//! The suite against real bundles and real images, through `bottle.toml`: Debian's Squid and
//! Debian's Apache httpd as the bundle (a strict allowlist must be contained, one allowing
//! every host caught; Squid's strict allowlist also with its refusal signature switched off,
//! to show the evidence alone decides), an agent image with a non-root `USER` and its own
//! `ENTRYPOINT`, a bundle that exits mid-run, a bundle that never opens a declared port. Every
//! image is built here from host binaries (`docker import` of a root filesystem; nothing is
//! pulled).
//!
//! Without a Docker engine, the trials are marked ignored at list time with the reason printed
//! on stderr. Without the tools a trial's images are made of (busybox, Squid, Apache), that
//! trial is marked ignored too, unless CI is running the tests (`CI=true`): `.ci/run` installs
//! all of them, so there they fail instead.

#[path = "real_bundles/apache.rs"]
mod apache;
#[path = "real_bundles/images.rs"]
mod images;
#[path = "real_bundles/rootfs.rs"]
mod rootfs;
#[path = "real_bundles/trials.rs"]
mod trials;

use bottle_backends::{Availability, BottleBackend};
use bottle_harness::select::{AnyBackend, BackendKind};
use libtest_mimic::{Arguments, Failed, Trial};
use trials::Needs;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether CI is running the tests (see tests/escape.rs).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A trial's body.
type TrialBody = fn() -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let engine = match runtime().block_on(AnyBackend::new(BackendKind::Docker).availability()) {
        Availability::Available { .. } => None,
        Availability::Unavailable { reason } => Some(format!("docker is unavailable: {reason}")),
    };
    if let Some(reason) = &engine {
        eprintln!("real_bundles: the trials cannot run here: {reason}");
    }
    let named: [(&str, TrialBody, Needs); 9] = [
        (
            "docker::real_bundle::squid_strict",
            trials::squid_strict,
            Needs::Squid,
        ),
        (
            "docker::real_bundle::squid_strict_unsigned",
            trials::squid_strict_unsigned,
            Needs::Squid,
        ),
        (
            "docker::real_bundle::squid_reverse",
            trials::squid_reverse,
            Needs::Squid,
        ),
        (
            "docker::real_bundle::squid_open",
            trials::squid_open,
            Needs::Squid,
        ),
        (
            "docker::real_bundle::apache_strict",
            trials::apache_strict,
            Needs::Apache,
        ),
        (
            "docker::real_bundle::apache_open",
            trials::apache_open,
            Needs::Apache,
        ),
        (
            "docker::real_bundle::nonroot_agent",
            trials::nonroot_agent,
            Needs::Busybox,
        ),
        (
            "docker::real_bundle::bundle_exits_mid_run",
            trials::bundle_exits,
            Needs::Squid,
        ),
        (
            "docker::real_bundle::bundle_never_ready",
            trials::bundle_never_ready,
            Needs::Busybox,
        ),
    ];
    let mut told = Vec::new();
    let trials = named
        .into_iter()
        .map(|(name, body, needs)| {
            let tools = trials::prerequisites(needs).err();
            if let Some(reason) = tools
                .as_ref()
                .filter(|r| engine.is_none() && !told.contains(*r))
            {
                eprintln!("real_bundles: some trials cannot run here: {reason}");
                told.push(reason.clone());
            }
            // A missing engine skips (like every docker trial); missing tools skip only outside CI.
            let ignored = engine.is_some() || (tools.is_some() && !in_ci());
            let reason = engine.clone().or(tools);
            Trial::test(name, move || match reason {
                Some(reason) => Err(reason.into()),
                None => body(),
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
