//! Label-based teardown. Everything a run creates carries `claude-bottle.run=<run id>`, so
//! teardown needs no memory of what was made: it removes whatever carries the label.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use bollard::Docker;

use crate::backend::TeardownReport;
use crate::errors::BackendError;
use crate::labels;

fn label_filter(value: String) -> Option<HashMap<String, Vec<String>>> {
    Some(HashMap::from([("label".to_string(), vec![value])]))
}

pub(crate) async fn teardown(
    docker: &Docker,
    run_id: &str,
) -> Result<TeardownReport, BackendError> {
    let filter = format!("{}={run_id}", labels::RUN);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: label_filter(filter.clone()),
            ..Default::default()
        }))
        .await
        .map_err(BackendError::engine(format!(
            "listing the containers of {run_id}"
        )))?;
    let removals = containers
        .iter()
        .filter_map(|c| c.id.clone())
        .map(|id| remove_container(docker, id));
    futures_util::future::try_join_all(removals).await?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: label_filter(filter),
        }))
        .await
        .map_err(BackendError::engine(format!(
            "listing the networks of {run_id}"
        )))?;
    let removals = networks
        .iter()
        .filter_map(|n| n.id.clone())
        .map(|id| remove_network(docker, id));
    futures_util::future::try_join_all(removals).await?;
    Ok(TeardownReport {
        containers: containers.len(),
        networks: networks.len(),
    })
}

/// How long a removal waits for another cleaner's removal of the same object. Two cleaners
/// meet whenever two processes tear one bottle down: two runs reaping the same stale bottle,
/// or a detached cleaner and a later run. A container removal can take ~4 s (Docker's embedded
/// DNS holds it while it forwards queries), far longer on a loaded machine.
const OTHER_CLEANER_WAIT: Duration = Duration::from_secs(30);

/// How often a cleaner looks again while another one removes the object.
const OTHER_CLEANER_POLL: Duration = Duration::from_millis(100);

fn status_of(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Removes one container, forced. Gone already (404) is success. A conflict (409) with `force`
/// means another cleaner's removal is in progress: the engine refuses a second one, so this
/// asks again every [`OTHER_CLEANER_POLL`] until the container is gone, because the caller
/// removes the networks next and a container still being removed holds their endpoints. Asking
/// again (rather than only looking) also takes over when the other removal fails and leaves
/// the container behind (the engine then marks it dead and accepts a new removal).
async fn remove_container(docker: &Docker, id: String) -> Result<(), BackendError> {
    let started = Instant::now();
    let mut waited_for_another = false;
    loop {
        let removal = docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
        let source = match removal {
            Ok(()) => return Ok(()),
            Err(error) if status_of(&error) == Some(404) => return Ok(()),
            Err(error) => error,
        };
        if status_of(&source) != Some(409) {
            return Err(BackendError::Engine {
                step: format!("removing container {id}"),
                source,
            });
        }
        if started.elapsed() >= OTHER_CLEANER_WAIT {
            return Err(BackendError::Engine {
                step: format!(
                    "removing container {id} (still refused after {} s)",
                    OTHER_CLEANER_WAIT.as_secs()
                ),
                source,
            });
        }
        if !waited_for_another {
            waited_for_another = true;
            crate::trace::step(&format!(
                "teardown: another cleaner is removing container {id}; waiting"
            ));
        }
        tokio::time::sleep(OTHER_CLEANER_POLL).await;
    }
}

/// Removes one network. Gone already (404) is success, and so is any refusal after which the
/// network turns out to be gone (another cleaner removed it first; the engine's answer to the
/// loser of that race varies). Any other refusal is returned at once: "has active endpoints"
/// means a container of the run appeared after the listing (a create that was in flight), and
/// the caller's next sweep removes it first.
async fn remove_network(docker: &Docker, id: String) -> Result<(), BackendError> {
    let source = match docker.remove_network(&id).await {
        Ok(()) => return Ok(()),
        Err(error) if status_of(&error) == Some(404) => return Ok(()),
        Err(error) => error,
    };
    match docker
        .inspect_network(&id, None::<InspectNetworkOptions>)
        .await
    {
        Err(error) if status_of(&error) == Some(404) => Ok(()),
        _ => Err(BackendError::Engine {
            step: format!("removing network {id}"),
            source,
        }),
    }
}

/// Run ids present on the engine; with `only_stale`, those whose harness process is gone.
pub(crate) async fn list_runs(
    docker: &Docker,
    only_stale: bool,
) -> Result<Vec<String>, BackendError> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: label_filter(labels::RUN.to_string()),
            ..Default::default()
        }))
        .await
        .map_err(BackendError::engine("listing bottles"))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: label_filter(labels::RUN.to_string()),
        }))
        .await
        .map_err(BackendError::engine("listing bottle networks"))?;
    let mut runs = BTreeSet::new();
    let label_sets = containers
        .into_iter()
        .filter_map(|c| c.labels)
        .chain(networks.into_iter().filter_map(|n| n.labels));
    for object_labels in label_sets {
        if only_stale && !labels::is_stale(&object_labels) {
            continue;
        }
        if let Some(run) = object_labels.get(labels::RUN) {
            runs.insert(run.clone());
        }
    }
    Ok(runs.into_iter().collect())
}
