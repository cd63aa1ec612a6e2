//! Baselines: what changed between an old and a new set of reports, per backend and probe.
//!
//! * regression: contained before (`pass`, `known_gap`), not now (`escape`, `inconclusive`,
//!   `unexpected_pass`); a *new* probe that is not contained counts as a regression too, so
//!   adding an escaping probe cannot slip through;
//! * fix: not contained before, contained now;
//! * changed: another verdict change (e.g. `escape` → `inconclusive`);
//! * new / removed probes (also whole backends).
//!
//! Renamed probes are followed through a rename table (old id → new id) before comparing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::model::Report;
use crate::verdict::Verdict;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub backend: String,
    pub probe: String,
    pub old: Option<Verdict>,
    pub new: Option<Verdict>,
    /// The old id when the probe was renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// The new result's detail (or the old one for removed probes).
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub regressions: Vec<Change>,
    pub fixes: Vec<Change>,
    pub changed: Vec<Change>,
    pub new_probes: Vec<Change>,
    pub removed_probes: Vec<Change>,
    pub unchanged: usize,
}

fn held(verdict: Option<Verdict>) -> bool {
    verdict.is_some_and(Verdict::held)
}

fn name(verdict: Option<Verdict>) -> &'static str {
    verdict.map(Verdict::as_str).unwrap_or("absent")
}

/// Compares reports; `renames` maps old probe ids to new ones.
pub fn diff(old: &[Report], new: &[Report], renames: &[(&str, &str)]) -> Diff {
    let rename = |id: &str| {
        renames
            .iter()
            .find(|(from, _)| *from == id)
            .map(|(_, to)| to.to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let mut before: BTreeMap<(String, String), (Verdict, String, String)> = BTreeMap::new();
    for report in old {
        for result in &report.results {
            before.insert(
                (report.backend.clone(), rename(&result.id)),
                (result.verdict, result.id.clone(), result.detail.clone()),
            );
        }
    }
    let mut diff = Diff::default();
    for report in new {
        for result in &report.results {
            let key = (report.backend.clone(), result.id.clone());
            let previous = before.remove(&key);
            let change = Change {
                backend: report.backend.clone(),
                probe: result.id.clone(),
                old: previous.as_ref().map(|p| p.0),
                new: Some(result.verdict),
                renamed_from: previous
                    .as_ref()
                    .filter(|p| p.1 != result.id)
                    .map(|p| p.1.clone()),
                detail: result.detail.clone(),
            };
            match previous {
                None => diff.new_probes.push(change),
                Some((verdict, ..)) if verdict == result.verdict => diff.unchanged += 1,
                Some((verdict, ..)) if held(Some(verdict)) && !result.verdict.held() => {
                    diff.regressions.push(change)
                }
                Some((verdict, ..)) if !held(Some(verdict)) && result.verdict.held() => {
                    diff.fixes.push(change)
                }
                Some(_) => diff.changed.push(change),
            }
        }
    }
    for ((backend, probe), (verdict, _, detail)) in before {
        diff.removed_probes.push(Change {
            backend,
            probe,
            old: Some(verdict),
            new: None,
            renamed_from: None,
            detail,
        });
    }
    diff
}

impl Diff {
    /// New probes that are not contained, which count as regressions.
    pub(crate) fn failing_new_probes(&self) -> impl Iterator<Item = &Change> {
        self.new_probes.iter().filter(|c| !held(c.new))
    }

    pub fn has_regressions(&self) -> bool {
        !self.regressions.is_empty() || self.failing_new_probes().next().is_some()
    }

    /// 1 on any regression, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.has_regressions() {
            crate::errors::exit::ESCAPE
        } else {
            crate::errors::exit::OK
        }
    }

    fn line(change: &Change) -> String {
        let renamed = change
            .renamed_from
            .as_ref()
            .map(|old| format!(" (renamed from {old})"))
            .unwrap_or_default();
        format!(
            "{}::{}{renamed}: {} -> {}: {}",
            change.backend,
            change.probe,
            name(change.old),
            name(change.new),
            change.detail
        )
    }

    /// Plain text, one section per kind of change.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let sections: [(&str, Vec<&Change>); 5] = [
            (
                "REGRESSIONS",
                self.regressions
                    .iter()
                    .chain(self.failing_new_probes())
                    .collect(),
            ),
            ("fixes", self.fixes.iter().collect()),
            ("other changes", self.changed.iter().collect()),
            ("new probes", self.new_probes.iter().collect()),
            ("removed probes", self.removed_probes.iter().collect()),
        ];
        for (title, changes) in sections {
            if changes.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title} ({}):", changes.len());
            for change in changes {
                let _ = writeln!(out, "  {}", Self::line(change));
            }
        }
        let _ = writeln!(
            out,
            "{} regression(s), {} fix(es), {} unchanged",
            self.regressions.len() + self.failing_new_probes().count(),
            self.fixes.len(),
            self.unchanged
        );
        out
    }
}
