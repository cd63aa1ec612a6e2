//! Label-based teardown. Everything a run creates carries `claude-bottle.run=<run id>`, so
//! teardown needs no memory of what was made: it removes whatever carries the label.

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
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
        .map(|id| async move {
            match docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                Ok(()) => Ok(()),
                // Already gone (a concurrent teardown): that is what we wanted.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(()),
                Err(source) => Err(BackendError::Engine {
                    step: format!("removing container {id}"),
                    source,
                }),
            }
        });
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
        .map(|id| async move {
            match docker.remove_network(&id).await {
                Ok(()) => Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(()),
                Err(source) => Err(BackendError::Engine {
                    step: format!("removing network {id}"),
                    source,
                }),
            }
        });
    futures_util::future::try_join_all(removals).await?;
    Ok(TeardownReport {
        containers: containers.len(),
        networks: networks.len(),
    })
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
