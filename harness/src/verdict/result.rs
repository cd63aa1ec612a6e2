//! What a verdict is: the verdict kinds, and the per-probe and per-attempt results the reports
//! carry (their JSON shape is the report schema, docs/report-schema.md).

use bottle_probes::wire::Observation;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Escape,
    Inconclusive,
    KnownGap,
    UnexpectedPass,
    /// Not run on this machine, with the reason (a target the harness cannot own safely here).
    /// Shown in every report; never counted as a pass.
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::Escape,
        Verdict::Inconclusive,
        Verdict::KnownGap,
        Verdict::UnexpectedPass,
        Verdict::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Escape => "escape",
            Verdict::Inconclusive => "inconclusive",
            Verdict::KnownGap => "known_gap",
            Verdict::UnexpectedPass => "unexpected_pass",
            Verdict::Skipped => "skipped",
        }
    }

    /// Whether the expectation held (the suite may exit 0). A skip does not fail a run: it is
    /// reported with its reason (and as skipped in JUnit), like a known gap.
    pub fn held(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::KnownGap | Verdict::Skipped)
    }
}

/// What one attempt showed, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptEvidence {
    pub id: String,
    pub destination: String,
    pub nonce: String,
    /// What the probe reported (absent when it reported nothing for this attempt).
    pub observation: Option<Observation>,
    /// Records on harness-owned targets that point at this attempt.
    pub target_saw: Vec<String>,
    pub judgement: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub id: String,
    pub family: String,
    pub expect: String,
    pub observed: String,
    pub verdict: Verdict,
    pub elapsed_ms: u64,
    pub detail: String,
    #[serde(default)]
    pub attempts: Vec<AttemptEvidence>,
}

/// The `observed` summary of a probe: each outcome (with its HTTP status) and how often, and
/// how many attempts a target saw.
pub(super) fn summarise_observed(attempts: &[AttemptEvidence]) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for attempt in attempts {
        let key = match &attempt.observation {
            None => "missing".to_string(),
            Some(o) => {
                let mut key = o.outcome().as_str().to_string();
                if let Some(status) = o.status {
                    key.push_str(&format!(" {status}"));
                }
                key
            }
        };
        *counts.entry(key).or_default() += 1;
        if !attempt.target_saw.is_empty() {
            *counts.entry("target saw it".into()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(key, n)| if n == 1 { key } else { format!("{key} x{n}") })
        .collect::<Vec<_>>()
        .join(", ")
}
