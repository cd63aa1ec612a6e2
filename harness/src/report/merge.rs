//! Several reports (backends, machines) joined into one file and one probes-by-backends matrix.

use serde::{Deserialize, Serialize};

use super::model::{now_rfc3339, Report, SCHEMA_VERSION};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    pub schema_version: u32,
    pub generated_at: String,
    pub reports: Vec<Report>,
}

impl Merged {
    pub fn new(reports: Vec<Report>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            generated_at: now_rfc3339(),
            reports,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialise")
    }

    /// The worst exit code of the parts.
    pub fn exit_code(&self) -> i32 {
        self.reports
            .iter()
            .map(Report::exit_code)
            .max()
            .unwrap_or(crate::errors::exit::INCONCLUSIVE_OR_ERROR)
    }
}

/// Column labels: the backend (with "desktop mode" where the agent reached the bundle through
/// ports published on the host's loopback, smolvm's desktop mode), qualified by machine when
/// that label comes from several reports.
pub(crate) fn columns(reports: &[Report]) -> Vec<String> {
    let labels: Vec<String> = reports.iter().map(backend_label).collect();
    reports
        .iter()
        .zip(&labels)
        .map(|(r, label)| {
            if labels.iter().filter(|other| *other == label).count() > 1 {
                format!("{label} @ {}", r.machine)
            } else {
                label.clone()
            }
        })
        .collect()
}

/// The backend as a column names it: its name, and the mode its topology shows.
fn backend_label(report: &Report) -> String {
    let desktop = report
        .topology
        .as_ref()
        .is_some_and(|t| t.agent().bundle_published.is_some());
    if desktop {
        format!("{} (desktop mode)", report.backend)
    } else {
        report.backend.clone()
    }
}

/// Row labels: catalogue order first, then ids the catalogue does not know (older reports).
pub(crate) fn rows(reports: &[Report]) -> Vec<String> {
    let mut rows: Vec<String> = bottle_probes::CATALOGUE
        .iter()
        .map(|p| p.id.to_string())
        .filter(|id| {
            reports
                .iter()
                .any(|r| r.results.iter().any(|x| &x.id == id))
        })
        .collect();
    for report in reports {
        for result in &report.results {
            if !rows.contains(&result.id) {
                rows.push(result.id.clone());
            }
        }
    }
    rows
}
