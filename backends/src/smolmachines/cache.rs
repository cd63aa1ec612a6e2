//! The smolmachines image cache: the agent image as a `docker save` archive, which smolvm 1.x
//! boots directly (no registry hop), named by a key derived from the Docker image ID.
//!
//! Layout under `$XDG_CACHE_HOME/claude-bottle/smolmachines/` (default
//! `~/.cache/claude-bottle/smolmachines/`):
//! * `<key>.tar`: the archive;
//! * `<key>.tar.sha256`: `<sha256 hex> <size>` of the archive, written after it is complete.
//!
//! An artifact counts as present only when its sidecar exists and matches the file's size and
//! digest, and the archive holds a `manifest.json`: a truncated or corrupt file is rebuilt.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::BackendError;

/// The cache directory: `$XDG_CACHE_HOME/claude-bottle/smolmachines`, else
/// `~/.cache/claude-bottle/smolmachines`.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// [`cache_dir`] from explicit values of `XDG_CACHE_HOME` and `HOME` (an empty value counts as
/// unset, as the XDG spec says).
pub fn cache_dir_from(
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let base = xdg_cache_home
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            home.filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("claude-bottle-cache"));
    base.join("claude-bottle").join("smolmachines")
}

/// The cache key of a Docker image ID (`sha256:<64 hex>`): its first 16 hex digits.
pub fn cache_key(image_id: &str) -> Result<String, BackendError> {
    let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(BackendError::Cache {
            path: image_id.to_string(),
            reason: "not a Docker image ID (sha256:<64 hex digits>)".into(),
        });
    }
    Ok(hex[..16].to_ascii_lowercase())
}

/// Where the artifact for `key` lives.
pub fn artifact_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.tar"))
}

fn sidecar_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// What `ensure` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cache", rename_all = "snake_case")]
pub enum CacheOutcome {
    /// A valid artifact was there: nothing was saved.
    Hit,
    /// No artifact: saved.
    Built,
    /// An artifact was there but invalid (the reason): saved again.
    Rebuilt { reason: String },
}

fn digest_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

fn has_manifest(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut archive = tar::Archive::new(file);
    let Ok(entries) = archive.entries() else {
        return false;
    };
    let mut found = false;
    for entry in entries {
        let Ok(entry) = entry else { return false };
        if entry
            .path()
            .map(|p| p == Path::new("manifest.json"))
            .unwrap_or(false)
        {
            found = true;
        }
    }
    found
}

/// Checks an artifact; `Err` says why it is not usable.
pub fn verify(artifact: &Path) -> Result<(), String> {
    if !artifact.exists() {
        return Err("missing".into());
    }
    let sidecar = std::fs::read_to_string(sidecar_path(artifact))
        .map_err(|_| "no checksum sidecar (an interrupted save)".to_string())?;
    let mut parts = sidecar.split_whitespace();
    let (Some(want_hex), Some(want_size)) = (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return Err("unreadable checksum sidecar".into());
    };
    let (hex, size) = digest_file(artifact).map_err(|e| format!("unreadable: {e}"))?;
    if size != want_size {
        return Err(format!("size {size} instead of {want_size} (truncated?)"));
    }
    if hex != want_hex {
        return Err("checksum mismatch (corrupt)".into());
    }
    if !has_manifest(artifact) {
        return Err("not a docker save archive (no manifest.json)".into());
    }
    Ok(())
}

/// Makes sure a valid artifact for `key` exists, calling `save` to write a fresh one into the
/// given file when needed. Writes go to a temporary name and are renamed into place, so a
/// crash never leaves a half-written artifact under the real name.
pub fn ensure(
    dir: &Path,
    key: &str,
    save: impl FnOnce(&mut std::fs::File) -> Result<(), BackendError>,
) -> Result<(PathBuf, CacheOutcome), BackendError> {
    let artifact = artifact_path(dir, key);
    let cache_error = |reason: String| BackendError::Cache {
        path: artifact.display().to_string(),
        reason,
    };
    let io_error = |step: &'static str| {
        let path = artifact.display().to_string();
        move |source| BackendError::SmolFile { path, step, source }
    };
    let outcome = match verify(&artifact) {
        Ok(()) => return Ok((artifact, CacheOutcome::Hit)),
        Err(reason) if reason == "missing" => CacheOutcome::Built,
        Err(reason) => CacheOutcome::Rebuilt { reason },
    };
    std::fs::create_dir_all(dir).map_err(io_error("create the cache dir"))?;
    let _ = std::fs::remove_file(sidecar_path(&artifact));
    let temp = dir.join(format!(".{key}.tar.{}.partial", std::process::id()));
    let mut file = std::fs::File::create(&temp).map_err(io_error("create"))?;
    let saved = save(&mut file).and_then(|()| {
        file.flush()
            .and_then(|()| file.sync_all())
            .map_err(io_error("write"))
    });
    drop(file);
    if let Err(error) = saved {
        let _ = std::fs::remove_file(&temp);
        return Err(error);
    }
    std::fs::rename(&temp, &artifact).map_err(io_error("rename into place"))?;
    let (hex, size) = digest_file(&artifact).map_err(io_error("digest"))?;
    std::fs::write(sidecar_path(&artifact), format!("{hex} {size}\n"))
        .map_err(io_error("write the checksum"))?;
    verify(&artifact)
        .map_err(|reason| cache_error(format!("the saved image is not usable: {reason}")))?;
    Ok((artifact, outcome))
}
