//! The `unix_sockets` attempt: is any socket of the host (the container engine's, a desktop
//! session's, an SSH agent's) visible inside the agent? A bind-mounted engine socket is a
//! complete escape that no network rule sees.
//!
//! The search is bounded (depth, entries, time) and checks itself: it first makes a socket of
//! its own in a temporary directory and only trusts a "nothing found" when the search found
//! that one. Every other socket is connected to; one that accepts is reach.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::wire::{AttemptSpec, Observation, Outcome};

/// Where host sockets get mounted in practice, with how deep to look: the root itself only
/// one level (a bind mount at `/docker.sock`), not the whole image.
const ROOTS: &[(&str, usize)] = &[
    ("/var/run", 4),
    ("/run", 4),
    ("/tmp", 3),
    ("/var/tmp", 2),
    ("/var/lib", 2),
    ("/home", 4),
    ("/root", 3),
    ("/mnt", 3),
    ("/opt", 2),
    ("/srv", 2),
    ("/", 0),
];
/// Never descended into: kernel filesystems, not host mounts.
const SKIP: &[&str] = &["/proc", "/sys", "/dev"];
const MAX_ENTRIES: usize = 20_000;
const BUDGET: Duration = Duration::from_millis(1500);

struct Search {
    found: Vec<PathBuf>,
    visited: std::collections::HashSet<PathBuf>,
    entries: usize,
    deadline: Instant,
    cut_short: bool,
}

impl Search {
    fn walk(&mut self, dir: &Path, depth: usize, max_depth: usize) {
        if depth > max_depth || SKIP.iter().any(|s| dir == Path::new(s)) {
            return;
        }
        if !self.visited.insert(dir.to_path_buf()) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            self.entries += 1;
            if self.entries > MAX_ENTRIES || Instant::now() > self.deadline {
                self.cut_short = true;
                return;
            }
            let path = entry.path();
            // lstat, not the directory entry's type: a bind-mounted socket sits on a mount
            // point whose entry says "regular file"; the mount itself is the socket.
            let Ok(kind) = std::fs::symlink_metadata(&path).map(|m| m.file_type()) else {
                continue;
            };
            if kind.is_socket() {
                self.found.push(path);
            } else if kind.is_dir() {
                self.walk(&path, depth + 1, max_depth);
            }
        }
    }
}

/// The scratch directory for the self-check socket: the first writable one.
fn own_socket(nonce: &str) -> Option<(UnixListener, PathBuf)> {
    let tmp = std::env::temp_dir();
    let found = [
        tmp.as_path(),
        Path::new("/tmp"),
        Path::new("/var/tmp"),
        Path::new("/run"),
        Path::new("/"),
    ]
    .into_iter()
    .find_map(|dir| {
        let path = dir.join(format!("cb-{nonce}.sock"));
        UnixListener::bind(&path).ok().map(|l| (l, path))
    });
    found
}

/// Searches the places host sockets get mounted and connects to every socket found.
pub(crate) fn scan(spec: &AttemptSpec) -> Observation {
    scan_roots(spec, ROOTS)
}

fn scan_roots(spec: &AttemptSpec, roots: &[(&str, usize)]) -> Observation {
    let own = own_socket(&spec.nonce);
    let mut search = Search {
        found: Vec::new(),
        visited: Default::default(),
        entries: 0,
        deadline: Instant::now() + BUDGET,
        cut_short: false,
    };
    for (root, max_depth) in roots {
        search.walk(Path::new(root), 0, *max_depth);
    }
    let own_path = own.as_ref().map(|(_, p)| p.clone());
    let saw_own = own_path
        .as_ref()
        .is_some_and(|p| search.found.iter().any(|f| f == p));
    if let Some(path) = &own_path {
        let _ = std::fs::remove_file(path);
    }
    let mut others: Vec<PathBuf> = search
        .found
        .into_iter()
        .filter(|p| Some(p) != own_path.as_ref())
        .collect();
    others.sort();
    others.dedup();
    let (accepted, unclear) = try_connect(&others);
    let mut observation;
    if !accepted.is_empty() {
        observation = Observation::new(&spec.id, Outcome::Connected, 0);
        observation.ack = false;
        observation.note = Some(format!("sockets accepted: {}", list(&accepted)));
    } else if !unclear.is_empty() {
        observation = Observation::new(&spec.id, Outcome::Error, 0);
        observation.note = Some(format!(
            "sockets that could not be judged: {}",
            unclear
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    } else if !saw_own {
        observation = Observation::new(&spec.id, Outcome::Error, 0);
        observation.note = Some(match own_path {
            None => {
                "could not make a socket of its own to check the search; nothing concluded".into()
            }
            Some(_) => "the search did not find its own socket; nothing concluded".into(),
        });
    } else if search.cut_short {
        observation = Observation::new(&spec.id, Outcome::Error, 0);
        observation.note = Some(format!(
            "the search was cut short after {} entries; nothing concluded",
            search.entries
        ));
    } else {
        // Found only dead sockets (or none): nothing on the other side accepts.
        observation = Observation::new(&spec.id, Outcome::Refused, 0);
        let all: Vec<&PathBuf> = others.iter().collect();
        observation.note = Some(if all.is_empty() {
            format!(
                "no foreign unix socket in {} entries; own socket found",
                search.entries
            )
        } else {
            format!("sockets present but none accepted: {}", list(&all))
        });
    }
    observation
}

/// Connects to every socket found: the ones that accepted, and the failures that prove
/// nothing either way (described). Only a socket nobody listens on (ECONNREFUSED) or one gone
/// mid-search (ENOENT) is dead. A datagram or seqpacket socket refuses a stream connect
/// (EPROTOTYPE): it is tried as a datagram socket. Any other failure (EACCES: the agent's user
/// may not use it) proves nothing.
fn try_connect(others: &[PathBuf]) -> (Vec<&PathBuf>, Vec<String>) {
    let mut accepted: Vec<&PathBuf> = Vec::new();
    let mut unclear: Vec<String> = Vec::new();
    for path in others {
        match UnixStream::connect(path) {
            Ok(_) => accepted.push(path),
            Err(error) => match error.raw_os_error() {
                Some(libc::ECONNREFUSED) | Some(libc::ENOENT) => {}
                Some(libc::EPROTOTYPE) => {
                    let datagram = std::os::unix::net::UnixDatagram::unbound()
                        .and_then(|socket| socket.connect(path));
                    match datagram {
                        Ok(()) => accepted.push(path),
                        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
                        Err(e) => unclear.push(format!("{}: {e}", path.display())),
                    }
                }
                _ => unclear.push(format!("{}: {error}", path.display())),
            },
        }
    }
    (accepted, unclear)
}

/// The first eight paths, comma separated, for a note.
fn list(paths: &[&PathBuf]) -> String {
    paths
        .iter()
        .take(8)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listening_socket_and_its_own() {
        let dir = std::env::temp_dir().join(format!("cb-us-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("engine.sock");
        let _ = std::fs::remove_file(&path);
        let _listener = UnixListener::bind(&path).unwrap();
        let spec = AttemptSpec {
            id: "t#0".into(),
            kind: crate::wire::AttemptKind::UnixSockets,
            nonce: "n1".into(),
            timeout_ms: 100,
            stage: crate::wire::Stage::Fixed,
        };
        // This machine has sockets of its own everywhere; search only the test's directory
        // and the top of the temporary directory (where the self-check socket goes).
        let dir_text = dir.display().to_string();
        let tmp = std::env::temp_dir().display().to_string();
        let observation = scan_roots(&spec, &[(&dir_text, 1), (&tmp, 0)]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(observation.outcome(), Outcome::Connected, "{observation:?}");
        assert!(
            observation
                .note
                .as_deref()
                .unwrap_or("")
                .contains("engine.sock"),
            "{observation:?}"
        );
    }
}
