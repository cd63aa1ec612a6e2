//! Building test images without a registry: a root filesystem in a directory (host binaries
//! with the libraries `ldd` lists, busybox applets, `/etc` files), then `tar | docker import`.
//! Images are tagged by a hash of their inputs and carry `claude-bottle.cache=1`, like the
//! harness's own cached images, so an unchanged image is reused and never left nameless.
//! Field notes (docs/bring-your-own.md): Debian's binaries need their loader and libraries,
//! `libnss_files`/`libnss_dns` (not in `ldd`'s list, loaded by name lookups), and
//! `/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A root filesystem being assembled, and what its image is built from.
pub struct Rootfs {
    dir: PathBuf,
    /// Everything that decides the image's content, hashed into its tag.
    inputs: DefaultHasher,
    /// `docker import --change` lines (ENTRYPOINT, CMD, USER, ...).
    changes: Vec<String>,
}

/// Runs a command, failing with its stderr.
fn run(command: &mut Command) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The shared libraries `ldd` lists for `binaries` (absolute paths, the loader included).
fn libraries(binaries: &[&str]) -> Result<Vec<String>, String> {
    let listed = run(Command::new("ldd").args(binaries))?;
    let mut libs: Vec<String> = listed
        .split_whitespace()
        .filter(|word| word.starts_with('/') && !word.ends_with(':'))
        .map(str::to_string)
        .collect();
    libs.sort();
    libs.dedup();
    Ok(libs)
}

impl Rootfs {
    /// An empty root in a fresh directory under `scratch`, with `/tmp` and `/etc`.
    pub fn new(scratch: &Path, name: &str) -> Result<Self, String> {
        let dir = scratch.join(format!("rootfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["etc", "tmp", "bin"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{sub}: {e}"))?;
        }
        run(Command::new("chmod").arg("1777").arg(dir.join("tmp")))?;
        let mut inputs = DefaultHasher::new();
        name.hash(&mut inputs);
        Ok(Self {
            dir,
            inputs,
            changes: Vec::new(),
        })
    }

    /// Copies the host's `source` (symlinks followed, directories whole) to `target` in the root.
    pub fn copy(&mut self, source: &str, target: &str) -> Result<(), String> {
        let to = self.dir.join(target.trim_start_matches('/'));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        run(Command::new("cp").arg("-rL").arg(source).arg(&to))?;
        source.hash(&mut self.inputs);
        target.hash(&mut self.inputs);
        if let Ok(meta) = std::fs::metadata(source) {
            meta.len().hash(&mut self.inputs);
            meta.modified().ok().hash(&mut self.inputs);
        }
        Ok(())
    }

    /// Copies host binaries to the same paths, with every library `ldd` lists for them and
    /// the name-service modules a lookup loads by name.
    pub fn binaries(&mut self, binaries: &[&str]) -> Result<(), String> {
        self.binaries_loading(binaries, &[])
    }

    /// [`Rootfs::binaries`], plus `loaded`: libraries of the same directory as the C library
    /// that something loads by name at run time (`dlopen`), which `ldd` cannot list. Each of
    /// them must exist on this machine.
    pub fn binaries_loading(&mut self, binaries: &[&str], loaded: &[&str]) -> Result<(), String> {
        for binary in binaries {
            self.copy(binary, binary)?;
        }
        let libs = libraries(binaries)?;
        for lib in &libs {
            self.copy(lib, lib)?;
        }
        let multiarch = libs
            .iter()
            .find(|lib| lib.contains("/libc.so"))
            .or(libs.first())
            .and_then(|lib| Path::new(lib).parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for nss in ["libnss_files.so.2", "libnss_dns.so.2"] {
            let path = format!("{multiarch}/{nss}");
            if Path::new(&path).exists() {
                self.copy(&path, &path)?;
            }
        }
        for name in loaded {
            let path = format!("{multiarch}/{name}");
            if !Path::new(&path).exists() {
                return Err(format!("{path} is not installed (needed by {binaries:?})"));
            }
            self.copy(&path, &path)?;
        }
        Ok(())
    }

    /// busybox (static) at `/bin/busybox`, with each applet of `applets` linked in `/bin`.
    pub fn busybox(&mut self, applets: &[&str]) -> Result<(), String> {
        self.copy(BUSYBOX, "/bin/busybox")?;
        for applet in applets {
            std::os::unix::fs::symlink("busybox", self.dir.join("bin").join(applet))
                .map_err(|e| format!("linking {applet}: {e}"))?;
            applet.hash(&mut self.inputs);
        }
        Ok(())
    }

    /// Writes `text` to `path` in the root with `mode`.
    pub fn file(&mut self, path: &str, text: &str, mode: u32) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let to = self.dir.join(path.trim_start_matches('/'));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&to, text).map_err(|e| format!("{path}: {e}"))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{path}: {e}"))?;
        (path, text, mode).hash(&mut self.inputs);
        Ok(())
    }

    /// A directory owned by `uid:gid` (where a daemon that drops root writes).
    pub fn owned_dir(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), String> {
        let to = self.dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&to).map_err(|e| format!("{path}: {e}"))?;
        std::os::unix::fs::chown(&to, Some(uid), Some(gid)).map_err(|e| format!("{path}: {e}"))?;
        (path, uid, gid).hash(&mut self.inputs);
        Ok(())
    }

    /// A Dockerfile instruction `docker import --change` accepts (`ENTRYPOINT [...]`, `USER 1000`).
    pub fn change(&mut self, change: &str) {
        change.hash(&mut self.inputs);
        self.changes.push(change.to_string());
    }

    /// Imports the root as `claude-bottle/test-<name>:<hash>` unless that image exists, and
    /// removes the directory. Returns the image reference.
    pub fn import(mut self, name: &str) -> Result<String, String> {
        self.change(&format!("LABEL {CACHE_LABEL}=1"));
        let reference = format!("claude-bottle/test-{name}:{:016x}", self.inputs.finish());
        let exists = Command::new("docker")
            .args(["image", "inspect", &reference])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let imported = if exists {
            Ok(())
        } else {
            self.tar_import(&reference)
        };
        let _ = std::fs::remove_dir_all(&self.dir);
        imported.map(|()| reference)
    }

    fn tar_import(&self, reference: &str) -> Result<(), String> {
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&self.dir)
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let mut import = Command::new("docker");
        import.arg("import");
        for change in &self.changes {
            import.arg("--change").arg(change);
        }
        let stdin = tar.stdout.take().ok_or("tar gave no stdout")?;
        let imported = run(import.args(["-", reference]).stdin(stdin));
        let tarred = tar.wait().map_err(|e| format!("tar: {e}"))?;
        imported?;
        if !tarred.success() {
            return Err(format!("tar of {} failed", self.dir.display()));
        }
        Ok(())
    }
}

/// Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";
/// The label of the harness's cached images (`bottle_backends::labels::CACHE`).
const CACHE_LABEL: &str = "claude-bottle.cache";
