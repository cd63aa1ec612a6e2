//! Known gaps from a TOML file (`--known-gaps PATH`, default `./known-gaps.toml` if present):
//!
//! ```toml
//! [[gap]]
//! probe = "localhost.*"          # a probe id; `*` and `?` globs allowed
//! backend = "smolmachines"
//! reason = "the allow list opens the host's loopback"
//! link = "claude-bottle issue 75"
//! expires = "2027-03-31"        # YYYY-MM-DD; after it the run fails, naming the entry
//! destination = "100.96.0.1:*"  # optional: covers only escapes through these destinations
//! ```
//!
//! An expired entry, an entry whose glob matches no probe, an unknown backend or an unknown key
//! is an error (exit 2): a gap list that silently stops applying would hide escapes.
//!
//! This module is the one home of known gaps: the [`KnownGap`] type the reports carry, the
//! built-in gaps of each backend, the gaps in force for a run ([`in_force`]) and the rule that
//! applies one to a probe's verdict ([`rule`]). It depends on no verdict or report type, so the
//! verdict and the report can both use it without a cycle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errors::HarnessError;
use crate::select::BackendKind;

/// A probe that is known to escape on some backend, with why and where it is tracked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGap {
    pub probe: String,
    pub reason: String,
    pub link: String,
    /// `YYYY-MM-DD` after which the entry fails the run (entries from a known-gaps file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// A glob over attempt destinations: the gap covers only escapes through these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GapFile {
    #[serde(default)]
    gap: Vec<GapEntry>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GapEntry {
    pub probe: String,
    pub backend: String,
    pub reason: String,
    pub link: String,
    pub expires: String,
    /// Optional glob over attempt destinations (`100.96.0.1:*`): only escapes through them.
    #[serde(default)]
    pub destination: Option<String>,
}

/// A calendar date, `YYYY-MM-DD` (a real one: 2026-02-31 is not a date).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(jiff::civil::Date);

impl Date {
    /// Parses `YYYY-MM-DD`; anything else, or a day the month does not have, is `None`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        jiff::civil::Date::strptime("%Y-%m-%d", text.trim())
            .ok()
            .map(Self)
    }

    /// Today in UTC.
    pub fn today() -> Self {
        Self(
            jiff::tz::Offset::UTC
                .to_datetime(jiff::Timestamp::now())
                .date(),
        )
    }
}

/// `*` matches any run of characters, `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn inner(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => inner(&p[1..], t) || (!t.is_empty() && inner(p, &t[1..])),
            (Some('?'), Some(_)) => inner(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => inner(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    inner(&p, &t)
}

/// Parses and checks a gap file against the catalogue and `today`.
pub(crate) fn parse(text: &str, path: &Path, today: Date) -> Result<Vec<GapEntry>, HarnessError> {
    let invalid = |reason: String| HarnessError::ConfigInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let file: GapFile =
        toml::from_str(text).map_err(|e| invalid(e.to_string().trim().replace('\n', " ")))?;
    for entry in &file.gap {
        let name = format!("gap {:?} on {:?}", entry.probe, entry.backend);
        BackendKind::parse(&entry.backend).map_err(|e| invalid(format!("{name}: {e}")))?;
        let expires = Date::parse(&entry.expires).ok_or_else(|| {
            invalid(format!(
                "{name}: expires = {:?} is not YYYY-MM-DD",
                entry.expires
            ))
        })?;
        if expires < today {
            return Err(invalid(format!(
                "{name} expired on {} ({}): fix the gap, or renew the entry with a reason",
                entry.expires, entry.link
            )));
        }
        if !bottle_probes::CATALOGUE
            .iter()
            .any(|p| glob_match(&entry.probe, p.id))
        {
            return Err(invalid(format!(
                "{name} matches no probe (`bottle-escape list` shows them)"
            )));
        }
        if entry.reason.trim().is_empty() || entry.link.trim().is_empty() {
            return Err(invalid(format!("{name} needs a reason and a link")));
        }
    }
    Ok(file.gap)
}

/// Loads `path` if given, else `./known-gaps.toml` if it exists, else nothing.
pub fn discover(path: Option<&Path>, today: Date) -> Result<Vec<GapEntry>, HarnessError> {
    discover_in(Path::new("."), path, today)
}

/// As [`discover`], with the default file looked for in `dir` (so that tests need no `chdir`).
fn discover_in(
    dir: &Path,
    path: Option<&Path>,
    today: Date,
) -> Result<Vec<GapEntry>, HarnessError> {
    let path: PathBuf = match path {
        Some(path) => path.to_path_buf(),
        None => {
            let default = dir.join("known-gaps.toml");
            if !default.exists() {
                return Ok(Vec::new());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::ConfigRead {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    parse(&text, &path, today)
}

/// The gaps in force for `backend`: the entries expanded to probe ids.
pub(crate) fn for_backend(entries: &[GapEntry], backend: BackendKind) -> Vec<KnownGap> {
    let mut gaps = Vec::new();
    for entry in entries.iter().filter(|e| e.backend == backend.as_str()) {
        for probe in bottle_probes::CATALOGUE
            .iter()
            .filter(|p| glob_match(&entry.probe, p.id))
        {
            gaps.push(KnownGap {
                probe: probe.id.to_string(),
                reason: entry.reason.clone(),
                link: entry.link.clone(),
                expires: Some(entry.expires.clone()),
                destination: entry.destination.clone(),
            });
        }
    }
    gaps
}

/// Where the smolvm loopback limitation is tracked.
pub(crate) const LOOPBACK_GAP_LINK: &str = "claude-bottle issue 75";

/// Known gaps per backend. Docker has none: every probe must be contained. smolmachines in the
/// Docker Desktop mode allows the host's loopback (the bundle's ports are published there, and
/// smolvm's TCP allows carry no ports), so every service on the host's loopback is open to the
/// agent: claude-bottle issue 75. The mode is the run's (`Mode::chosen`: the host's, or
/// `CLAUDE_BOTTLE_SMOLVM_MODE`, checked when the backend was chosen).
pub(crate) fn built_in(backend: BackendKind) -> Vec<KnownGap> {
    use bottle_backends::smolmachines::smolfile::Mode;
    built_in_for(backend, Mode::chosen().unwrap_or_else(|_| Mode::for_host()))
}

/// As [`built_in`], for smolvm's `mode` (the host decides it; tests name it).
fn built_in_for(
    backend: BackendKind,
    mode: bottle_backends::smolmachines::smolfile::Mode,
) -> Vec<KnownGap> {
    use bottle_backends::smolmachines::smolfile::Mode;
    match backend {
        BackendKind::Docker => Vec::new(),
        BackendKind::Smolmachines => match mode {
            Mode::Linux => Vec::new(),
            Mode::Desktop => ["localhost.agent_loopback", "localhost.host_addresses"]
                .iter()
                .map(|probe| KnownGap {
                    probe: probe.to_string(),
                    reason: "the desktop-mode allow list (the VMM's gateway and 127.0.0.1/32) opens every service on the host's loopback to the agent".into(),
                    link: LOOPBACK_GAP_LINK.into(),
                    expires: None,
                    // Only the host's loopback through the VMM's gateway (host.smolvm.internal).
                    destination: Some("100.96.0.1:*".into()),
                })
                .collect(),
        },
    }
}

/// The gaps in force for a run on `backend`: the built-in ones, then the user's `entries` for
/// that backend (the order the report lists them in).
pub fn in_force(backend: BackendKind, entries: &[GapEntry]) -> Vec<KnownGap> {
    let mut gaps = built_in(backend);
    gaps.extend(for_backend(entries, backend));
    gaps
}

/// Where a probe stands before the gaps are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Standing<'a> {
    /// It escaped, through these attempts' destinations.
    Escaped { reached: Vec<&'a str> },
    /// Every expectation held.
    Contained,
    /// Anything else (inconclusive, skipped): no gap changes it.
    Other,
}

/// What the gap in force for a probe makes of its standing, with the new detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ruling {
    /// No gap for this probe, or one that does not change this standing.
    Unchanged,
    /// The gap covers the escape: it is a known gap.
    Covered(String),
    /// The escape went (also) outside the destinations the gap covers: still an escape.
    StillEscape(String),
    /// The probe was declared a known gap but is contained: the entry should go.
    DeclaredButContained(String),
}

/// Applies the first gap in `gaps` for `probe` to its `standing` and `detail`. A gap scoped to
/// some destinations covers an escape only if every attempt that reached went to one of them:
/// an escape elsewhere on the same probe is still an escape.
pub(crate) fn rule(gaps: &[KnownGap], probe: &str, standing: &Standing, detail: &str) -> Ruling {
    let Some(gap) = gaps.iter().find(|g| g.probe == probe) else {
        return Ruling::Unchanged;
    };
    match standing {
        Standing::Escaped { reached } => {
            let outside: Vec<&str> = match &gap.destination {
                None => Vec::new(),
                Some(pattern) => reached
                    .iter()
                    .copied()
                    .filter(|d| !glob_match(pattern, d))
                    .collect(),
            };
            if outside.is_empty() {
                Ruling::Covered(format!(
                    "known gap ({}; {}): {detail}",
                    gap.reason, gap.link
                ))
            } else {
                Ruling::StillEscape(format!(
                    "{detail} (outside the known gap, which covers only {}: {})",
                    gap.destination.as_deref().unwrap_or(""),
                    outside.join(", ")
                ))
            }
        }
        Standing::Contained => Ruling::DeclaredButContained(format!(
            "declared a known gap ({}) but contained: remove the entry; {detail}",
            gap.link
        )),
        Standing::Other => Ruling::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date(jiff::civil::date(2026, 11, 29));

    fn parse_at(text: &str, today: Date) -> Result<Vec<GapEntry>, String> {
        parse(text, Path::new("known-gaps.toml"), today).map_err(|e| e.to_string())
    }

    const ENTRY: &str = "[[gap]]\nprobe = \"localhost.*\"\nbackend = \"smolmachines\"\nreason = \"r\"\nlink = \"issue 75\"\nexpires = \"2026-12-31\"\n";

    #[test]
    fn globs_match_probe_ids() {
        assert!(glob_match("localhost.*", "localhost.agent_loopback"));
        assert!(glob_match("dns.resolver_exfil*", "dns.resolver_exfil_tcp"));
        assert!(glob_match("public.direct_http?", "public.direct_https"));
        assert!(!glob_match("public.direct_http?", "public.direct_http"));
        assert!(!glob_match("lan.*", "localhost.agent_loopback"));
        // A star may match nothing, but text that runs out before the pattern does not match.
        assert!(glob_match("proxy.*", "proxy."));
        assert!(!glob_match("proxy.*x", "proxy."));
    }

    /// An entry needs both a reason and a link: a gap nobody can trace is refused.
    #[test]
    fn a_gap_without_a_reason_or_a_link_is_refused() {
        for (from, to) in [
            ("reason = \"r\"", "reason = \" \""),
            ("link = \"issue 75\"", "link = \"\""),
        ] {
            let text = ENTRY.replace(from, to);
            assert!(
                parse_at(&text, TODAY)
                    .unwrap_err()
                    .contains("needs a reason and a link"),
                "{text}"
            );
        }
    }

    /// The gap file is found where it is named, else as ./known-gaps.toml, else there is none.
    #[test]
    fn gap_files_are_discovered() {
        let dir = std::env::temp_dir().join(format!("cb-gaps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(discover_in(&dir, None, TODAY).unwrap().is_empty());
        std::fs::write(dir.join("known-gaps.toml"), ENTRY).unwrap();
        assert_eq!(discover_in(&dir, None, TODAY).unwrap().len(), 1);
        let named = dir.join("other.toml");
        std::fs::write(
            &named,
            format!("{ENTRY}{}", ENTRY.replace("localhost.*", "dns.*")),
        )
        .unwrap();
        assert_eq!(discover_in(&dir, Some(&named), TODAY).unwrap().len(), 2);
        // The CLI's entry point reads a named file wherever the run is.
        assert_eq!(discover(Some(&named), TODAY).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// smolvm's desktop mode opens the host's loopback: the probes that reach it are declared
    /// gaps there, limited to the VMM gateway's destination; nothing is declared elsewhere.
    #[test]
    fn the_built_in_gaps() {
        use bottle_backends::smolmachines::smolfile::Mode;
        let desktop = built_in_for(BackendKind::Smolmachines, Mode::Desktop);
        let probes: Vec<&str> = desktop.iter().map(|g| g.probe.as_str()).collect();
        assert_eq!(
            probes,
            ["localhost.agent_loopback", "localhost.host_addresses"]
        );
        assert!(desktop.iter().all(
            |g| g.destination.as_deref() == Some("100.96.0.1:*") && g.link == LOOPBACK_GAP_LINK
        ));
        assert!(built_in_for(BackendKind::Smolmachines, Mode::Linux).is_empty());
        assert!(built_in_for(BackendKind::Docker, Mode::Desktop).is_empty());
        // The run's mode decides (the host's unless CLAUDE_BOTTLE_SMOLVM_MODE says otherwise):
        // smolvm on a Mac runs in desktop mode.
        let chosen = Mode::chosen().unwrap();
        for backend in [BackendKind::Docker, BackendKind::Smolmachines] {
            assert_eq!(built_in(backend), built_in_for(backend, chosen));
        }
        if cfg!(target_os = "macos") && std::env::var_os(Mode::ENV).is_none() {
            assert_eq!(built_in(BackendKind::Smolmachines), desktop);
        }
    }

    #[test]
    fn entries_expand_per_backend() {
        let entries = parse_at(ENTRY, TODAY).unwrap();
        let gaps = for_backend(&entries, BackendKind::Smolmachines);
        let localhost = bottle_probes::CATALOGUE
            .iter()
            .filter(|p| p.id.starts_with("localhost."))
            .count();
        assert_eq!(gaps.len(), localhost);
        assert!(gaps.iter().all(
            |g| g.probe.starts_with("localhost.") && g.expires.as_deref() == Some("2026-12-31")
        ));
        assert!(for_backend(&entries, BackendKind::Docker).is_empty());
    }

    #[test]
    fn expiry_follows_the_clock() {
        assert!(
            parse_at(ENTRY, Date(jiff::civil::date(2026, 12, 31))).is_ok(),
            "valid on its last day"
        );
        let error = parse_at(ENTRY, Date(jiff::civil::date(2027, 1, 1))).unwrap_err();
        assert!(
            error.contains("expired on 2026-12-31") && error.contains("localhost.*"),
            "{error}"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let unmatched = ENTRY.replace("localhost.*", "nosuch.*");
        assert!(parse_at(&unmatched, TODAY)
            .unwrap_err()
            .contains("matches no probe"));
        let backend = ENTRY.replace("\"smolmachines\"", "\"podman\"");
        assert!(parse_at(&backend, TODAY).unwrap_err().contains("podman"));
        let date = ENTRY.replace("2026-12-31", "next year");
        assert!(parse_at(&date, TODAY).unwrap_err().contains("YYYY-MM-DD"));
        let key = format!("{ENTRY}owner = \"me\"\n");
        assert!(parse_at(&key, TODAY).unwrap_err().contains("owner"));
    }

    #[test]
    fn dates_are_real_calendar_days() {
        assert_eq!(
            Date::parse("2026-02-28"),
            Some(Date(jiff::civil::date(2026, 2, 28)))
        );
        assert_eq!(
            Date::parse(" 2028-02-29\n"),
            Some(Date(jiff::civil::date(2028, 2, 29)))
        );
        for bad in [
            "2026-02-31",
            "2026-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-12",
            "2026-12-31-1",
            "next year",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
        let date = ENTRY.replace("2026-12-31", "2026-02-31");
        assert!(parse_at(&date, TODAY).unwrap_err().contains("YYYY-MM-DD"));
        assert!(Date::parse("1970-01-01").unwrap() < Date::today());
    }

    #[test]
    fn gaps_in_force_are_the_built_in_ones_then_the_files() {
        let entries = parse_at(ENTRY, TODAY).unwrap();
        assert_eq!(in_force(BackendKind::Docker, &entries), Vec::new());
        let smol = in_force(BackendKind::Smolmachines, &entries);
        let built = built_in(BackendKind::Smolmachines);
        assert_eq!(&smol[..built.len()], &built[..]);
        assert_eq!(
            &smol[built.len()..],
            &for_backend(&entries, BackendKind::Smolmachines)[..]
        );
    }

    #[test]
    fn a_gap_covers_escapes_only_through_its_destinations() {
        let gap = |destination: Option<&str>| KnownGap {
            probe: "localhost.host_addresses".into(),
            reason: "r".into(),
            link: "l".into(),
            expires: None,
            destination: destination.map(str::to_string),
        };
        let escaped = Standing::Escaped {
            reached: vec!["100.96.0.1:80", "10.0.0.1:80"],
        };
        let probe = "localhost.host_addresses";
        assert_eq!(
            rule(&[gap(None)], probe, &escaped, "d"),
            Ruling::Covered("known gap (r; l): d".into())
        );
        assert_eq!(
            rule(&[gap(Some("100.96.0.1:*"))], probe, &escaped, "d"),
            Ruling::StillEscape(
                "d (outside the known gap, which covers only 100.96.0.1:*: 10.0.0.1:80)".into()
            )
        );
        assert_eq!(
            rule(&[gap(None)], probe, &Standing::Contained, "d"),
            Ruling::DeclaredButContained(
                "declared a known gap (l) but contained: remove the entry; d".into()
            )
        );
        assert_eq!(
            rule(&[gap(None)], probe, &Standing::Other, "d"),
            Ruling::Unchanged
        );
        assert_eq!(
            rule(&[gap(None)], "lan.fixture_host", &escaped, "d"),
            Ruling::Unchanged
        );
    }
}
