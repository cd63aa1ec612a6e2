//! Every report format for a fixed result set (snapshots), the JUnit through a real XML parser,
//! and baseline diffs and merges, including renamed probes and transitions to and from
//! `inconclusive`.

mod common;

use bottle_harness::report::{self, diff, junit, markdown, Merged, Report};
use bottle_harness::verdict::{AttemptEvidence, KnownGap, ProbeResult, Verdict};
use bottle_probes::wire::{Observation, Outcome};

fn result(id: &str, verdict: Verdict) -> ProbeResult {
    let family = id.split('.').next().unwrap().to_string();
    let expect = if id.contains("allowed") || id.contains("control") {
        "allow"
    } else {
        "deny"
    };
    let (observed, detail, attempts) = match verdict {
        Verdict::Escape => (
            "connected, target saw it".to_string(),
            "10.210.2.10:80: public recorded this attempt's nonce".to_string(),
            vec![AttemptEvidence {
                id: format!("{id}#0"),
                destination: "10.210.2.10:80".into(),
                nonce: "0011223344556677".into(),
                observation: Some(Observation::new(&format!("{id}#0"), Outcome::Connected, 3)),
                target_saw: vec!["CB-SEEN fixture=public event=nonce proto=tcp local=10.210.2.10:80 peer=10.210.2.4:40000 nonce=0011223344556677".into()],
                judgement: "reached: public recorded this attempt's nonce".into(),
            }],
        ),
        Verdict::Inconclusive => ("error".to_string(), "10.210.3.10:80: unclear: error errno=13 is not a network denial <&>".to_string(), vec![]),
        Verdict::KnownGap => ("connected".to_string(), "known gap (r; claude-bottle issue 75): connected".to_string(), vec![]),
        Verdict::UnexpectedPass => ("timeout".to_string(), "declared a known gap but contained".to_string(), vec![]),
        Verdict::Pass => ("timeout".to_string(), "1 attempt(s) denied; controls passed; targets alive and saw nothing".to_string(), vec![]),
        Verdict::Skipped => (String::new(), "no metadata fixture on this bottle: needs root".to_string(), vec![]),
    };
    ProbeResult {
        id: id.to_string(),
        family,
        expect: expect.to_string(),
        observed,
        verdict,
        elapsed_ms: 1500,
        detail,
        attempts,
    }
}

fn fixed_report(backend: &str, verdicts: &[(&str, Verdict)]) -> Report {
    let mut report = Report::new(
        backend,
        "docker engine 20.10.24 (API 1.41)",
        "cbfixed00001",
        verdicts.iter().map(|(id, v)| result(id, *v)).collect(),
    );
    report.generated_at = "2026-11-29T02:00:00Z".into();
    report.machine = "ci-runner-1".into();
    report.harness_version = "0.1.0".into();
    report.timings.total_ms = 4200;
    if verdicts.iter().any(|(_, v)| *v == Verdict::KnownGap) {
        report.known_gaps = vec![KnownGap {
            probe: "localhost.agent_loopback".into(),
            reason: "the desktop-mode allow list opens the host's loopback".into(),
            link: "claude-bottle issue 75".into(),
            expires: Some("2027-06-30".into()),
            destination: None,
        }];
    }
    report
}

fn clean() -> Report {
    fixed_report(
        "docker",
        &[
            ("localhost.agent_loopback", Verdict::Pass),
            ("public.direct_http", Verdict::Pass),
            ("lan.fixture_host", Verdict::Pass),
            ("proxy.allowed_http", Verdict::Pass),
        ],
    )
}

fn broken() -> Report {
    fixed_report(
        "docker",
        &[
            ("localhost.agent_loopback", Verdict::Pass),
            ("public.direct_http", Verdict::Escape),
            ("lan.fixture_host", Verdict::Inconclusive),
            ("proxy.allowed_http", Verdict::Pass),
        ],
    )
}

fn smol() -> Report {
    let mut report = fixed_report(
        "smolmachines",
        &[
            ("localhost.agent_loopback", Verdict::KnownGap),
            ("public.direct_http", Verdict::Pass),
            ("lan.fixture_host", Verdict::Pass),
            ("proxy.allowed_http", Verdict::Pass),
        ],
    );
    report.backend_version = "smolvm 1.32.2; bundle on docker engine 20.10.24 (API 1.41)".into();
    report
}

#[test]
fn json_report_snapshot_and_round_trip() {
    let report = broken();
    insta::assert_snapshot!("report_json", report.to_json());
    let dir = std::env::temp_dir().join(format!("cb-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.json");
    report.write_json(&path).unwrap();
    assert_eq!(report::model::load_reports(&path).unwrap(), vec![report]);
    std::fs::write(&path, r#"{"schema_version": 99, "results": []}"#).unwrap();
    let error = report::model::load_reports(&path).unwrap_err().to_string();
    assert!(error.contains("schema_version 99"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!("report_table", broken().table());
}

#[test]
fn junit_snapshot_and_parse() {
    let reports = [broken(), smol()];
    let xml = junit::render(&reports);
    insta::assert_snapshot!("report_junit", xml);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("8"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("1"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 8);
    let escaped = cases
        .iter()
        .find(|c| {
            c.attribute("classname") == Some("docker.public")
                && c.attribute("name") == Some("public.direct_http")
        })
        .unwrap();
    let failure = escaped
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert_eq!(failure.attribute("type"), Some("escape"));
    let text = failure.text().unwrap();
    assert!(
        text.contains("public.direct_http") && text.contains("target saw"),
        "{text}"
    );
    let inconclusive = cases
        .iter()
        .find(|c| {
            c.attribute("name") == Some("lan.fixture_host")
                && c.attribute("classname") == Some("docker.lan")
        })
        .unwrap();
    let error = inconclusive
        .children()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert!(
        error.attribute("message").unwrap().contains("<&>"),
        "escaped text round-trips"
    );
}

#[test]
fn markdown_snapshot() {
    let old = [clean()];
    let new = [broken(), smol()];
    let changes = diff(&old, &new, &[]);
    let text = markdown::render(&new, Some(&changes));
    insta::assert_snapshot!("report_markdown", text);
    let matrix = text
        .find("| probe | docker | smolmachines |")
        .expect("matrix");
    let escapes = text.find("## Escapes").expect("escapes section");
    let gaps = text.find("## Known gaps in force").expect("gaps section");
    assert!(
        matrix < escapes && escapes < gaps,
        "matrix first, escapes before gaps"
    );
    assert!(text.contains("likely cause: the agent has a route out"));
}

#[test]
fn diff_finds_regressions_fixes_and_inconclusive_transitions() {
    let changes = diff(&[clean()], &[broken()], &[]);
    let regressed: Vec<&str> = changes
        .regressions
        .iter()
        .map(|c| c.probe.as_str())
        .collect();
    assert_eq!(
        regressed,
        ["public.direct_http", "lan.fixture_host"],
        "escape and inconclusive are both regressions"
    );
    assert_eq!(changes.exit_code(), 1);
    assert_eq!(changes.unchanged, 2);
    insta::assert_snapshot!("diff_text", changes.text());

    let back = diff(&[broken()], &[clean()], &[]);
    assert_eq!(
        back.fixes.len(),
        2,
        "inconclusive -> pass and escape -> pass are fixes"
    );
    assert!(back.regressions.is_empty());
    assert_eq!(back.exit_code(), 0);

    let mut worse = broken();
    worse.results[1].verdict = Verdict::Inconclusive;
    let sideways = diff(&[broken()], &[worse], &[]);
    assert_eq!(
        sideways.changed.len(),
        1,
        "escape -> inconclusive is a change, not a fix"
    );
    assert_eq!(sideways.exit_code(), 0);
}

#[test]
fn diff_follows_renames_and_reports_new_and_removed_probes() {
    let mut old = clean();
    old.results[1].id = "public.direct".into();
    let new = clean();
    let changes = diff(
        &[old.clone()],
        std::slice::from_ref(&new),
        &[("public.direct", "public.direct_http")],
    );
    assert!(
        changes.new_probes.is_empty() && changes.removed_probes.is_empty(),
        "{changes:?}"
    );
    assert_eq!(changes.unchanged, 4);
    let without_rename = diff(&[old], &[new], &[]);
    assert_eq!(without_rename.new_probes.len(), 1);
    assert_eq!(without_rename.removed_probes.len(), 1);
    assert_eq!(
        without_rename.exit_code(),
        0,
        "a new probe that passes is not a regression"
    );

    let mut added = clean();
    added
        .results
        .push(result("dns.direct_udp", Verdict::Escape));
    let changes = diff(&[clean()], &[added], &[]);
    assert!(
        changes.has_regressions(),
        "a new probe that escapes is a regression"
    );

    let mut renamed_and_broken = broken();
    renamed_and_broken.results[1].id = "public.direct_http_v2".into();
    let changes = diff(
        &[clean()],
        &[renamed_and_broken],
        &[("public.direct_http", "public.direct_http_v2")],
    );
    let regression = changes
        .regressions
        .iter()
        .find(|c| c.probe == "public.direct_http_v2")
        .unwrap();
    assert_eq!(
        regression.renamed_from.as_deref(),
        Some("public.direct_http")
    );
}

/// smolvm's linux and desktop modes get columns of their own: the topology says which (the
/// agent reached the bundle's published ports), not the machine.
#[test]
fn merge_names_smolvms_desktop_mode() {
    use bottle_backends::topology::PublishedBundle;
    let mut linux = smol();
    linux.topology = Some(common::microvm_topology());
    let mut desktop = smol();
    desktop.topology = Some(
        common::TopologyBuilder::from(&common::microvm_topology())
            .agent(|a| {
                a.bundle_published = Some(PublishedBundle {
                    via: "100.96.0.1".parse().unwrap(),
                    ports: vec![],
                })
            })
            .build(),
    );
    let text = markdown::render(&[clean(), linux, desktop], None);
    assert!(
        text.contains("| probe | docker | smolmachines | smolmachines (desktop mode) |"),
        "{text}"
    );
}

#[test]
fn merge_builds_one_matrix_from_backends_and_machines() {
    let mut other_machine = clean();
    other_machine.machine = "ci-runner-2".into();
    let merged = Merged::new(vec![broken(), smol(), other_machine]);
    assert_eq!(merged.exit_code(), 1, "the worst part decides");
    let text = markdown::render(&merged.reports, None);
    assert!(
        text.contains("| probe | docker @ ci-runner-1 | smolmachines | docker @ ci-runner-2 |"),
        "{text}"
    );
    let dir = std::env::temp_dir().join(format!("cb-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("merged.json");
    std::fs::write(&path, merged.to_json()).unwrap();
    let loaded = report::model::load_reports(&path).unwrap();
    assert_eq!(loaded.len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
