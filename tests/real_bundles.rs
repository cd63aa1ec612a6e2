//! The suite against real bundles and real images, through `bottle.toml`: Debian's Squid as the
//! bundle (a strict allowlist must be contained, one allowing every host caught), an agent image
//! with a non-root `USER` and its own `ENTRYPOINT`, a bundle that exits mid-run, a bundle that
//! never opens a declared port. Every image is built here from host binaries (`docker import`
//! of a root filesystem; nothing is pulled).
//!
//! Without Squid or busybox installed, or without a Docker engine, the trials are marked
//! ignored at list time with the reason printed on stderr; under CI (`CI=true`) a missing
//! Squid or busybox fails them instead, since `.ci/run` installs both.

#[path = "real_bundles/images.rs"]
mod images;
#[path = "real_bundles/rootfs.rs"]
mod rootfs;
#[path = "real_bundles/trials.rs"]
mod trials;

use bottle_backends::{Availability, BottleBackend};
use bottle_harness::select::{AnyBackend, BackendKind};
use libtest_mimic::{Arguments, Failed, Trial};

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
    let tools = trials::prerequisites().err();
    let reason = engine.clone().or(tools.clone());
    if let Some(reason) = &reason {
        eprintln!("real_bundles: the trials cannot run here: {reason}");
    }
    // A missing engine skips (like every docker trial); missing tools skip only outside CI.
    let ignored = engine.is_some() || (tools.is_some() && !in_ci());
    let named: [(&str, TrialBody); 6] = [
        ("docker::real_bundle::squid_strict", trials::squid_strict),
        ("docker::real_bundle::squid_reverse", trials::squid_reverse),
        ("docker::real_bundle::squid_open", trials::squid_open),
        ("docker::real_bundle::nonroot_agent", trials::nonroot_agent),
        (
            "docker::real_bundle::bundle_exits_mid_run",
            trials::bundle_exits,
        ),
        (
            "docker::real_bundle::bundle_never_ready",
            trials::bundle_never_ready,
        ),
    ];
    let trials = named
        .into_iter()
        .map(|(name, body)| {
            let reason = reason.clone();
            Trial::test(name, move || match reason {
                Some(reason) => Err(reason.into()),
                None => body(),
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
