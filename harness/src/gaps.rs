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

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::errors::HarnessError;
use crate::select::BackendKind;
use crate::verdict::KnownGap;

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

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// Today in UTC.
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (year, month, day) = crate::report::model::civil_from_days((secs / 86_400) as i64);
        Self { year, month, day }
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
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
pub fn parse(text: &str, path: &Path, today: Date) -> Result<Vec<GapEntry>, HarnessError> {
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
    let path: PathBuf = match path {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from("known-gaps.toml");
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
pub fn for_backend(entries: &[GapEntry], backend: BackendKind) -> Vec<KnownGap> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 11,
        day: 29,
    };

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
            parse_at(
                ENTRY,
                Date {
                    year: 2026,
                    month: 12,
                    day: 31
                }
            )
            .is_ok(),
            "valid on its last day"
        );
        let error = parse_at(
            ENTRY,
            Date {
                year: 2027,
                month: 1,
                day: 1,
            },
        )
        .unwrap_err();
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
}
