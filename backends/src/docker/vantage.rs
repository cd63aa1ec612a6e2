//! The docker backend's vantage points (`crate::Vantage`): which container of the bottle each
//! one is, and running the probe there. Both are the fixture image with the probe copied in at
//! `images::USER_PROBE_PATH` (see `layout::checker` and `layout::recorder`).

use std::time::Duration;

use bollard::Docker;

use super::roles::ContainerRole;
use crate::backend::ExecOutput;
use crate::errors::BackendError;
use crate::topology::Bottle;
use crate::vantage::Vantage;

/// Runs the probe with `probe_args` at `vantage`; an error when the bottle has no such place.
pub(crate) async fn exec_from(
    docker: &Docker,
    bottle: &Bottle,
    vantage: Vantage,
    probe_args: &[String],
    timeout: Duration,
    max_output: usize,
) -> Result<ExecOutput, BackendError> {
    let name = container_of(bottle, vantage)?;
    let argv: Vec<String> = std::iter::once(super::images::USER_PROBE_PATH.to_string())
        .chain(probe_args.iter().cloned())
        .collect();
    super::exec::exec(docker, &name, &argv, timeout, max_output).await
}

/// The container that is `vantage` in `bottle`, or why the bottle has none.
pub(crate) fn container_of(bottle: &Bottle, vantage: Vantage) -> Result<String, BackendError> {
    let missing = |reason: &str| BackendError::Vantage {
        run_id: bottle.run_id.clone(),
        vantage,
        reason: reason.into(),
    };
    let role = match vantage {
        Vantage::Checker if bottle.topology.checker_ips.is_empty() => return Err(missing(
            "the bottle has none (its engine is on this machine, which checks the fixtures itself)",
        )),
        Vantage::Checker => ContainerRole::Checker,
        Vantage::BundleLoopback if bottle.topology.bundle_loopback_port.is_none() => {
            return Err(missing(
                "the bottle has no recorder on the bundle's loopback",
            ))
        }
        Vantage::BundleLoopback => ContainerRole::Recorder,
    };
    Ok(role.container_name(&bottle.run_id))
}
